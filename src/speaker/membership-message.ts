/**
 * Membership wire messages (pure): encoding, HMAC-SHA256 authentication and the anti-replay
 * window. No sockets here; src/speaker/membership.ts moves the bytes. Protocol: docs/speaker-membership.md.
 *
 * Datagram / frame payload layout:
 *   magic "BMM1" (4 bytes) | HMAC-SHA256(secret, magic || body) (32 bytes) | body (UTF-8 JSON)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const MAGIC = Buffer.from('BMM1', 'ascii');
export const MAC_LENGTH = 32;
export const MAX_MESSAGE_BYTES = 60_000;

export type MessageKind = 'heartbeat' | 'join' | 'state' | 'leave';

export interface MemberRecord {
  node: string;
  incarnation: number;
}

export interface MemberMessage {
  kind: MessageKind;
  /** Sender's node name. */
  node: string;
  /** Sender's incarnation: chosen at start, strictly larger on every restart. */
  incarnation: number;
  /** Per-incarnation sequence number, +1 for every message the sender sends (UDP and TCP alike). */
  seq: number;
  /** Sender's clock (ms since epoch) when the message was made. */
  sentAt: number;
  /** For `state` (and `join`): the members the sender currently considers live, itself included. */
  members?: MemberRecord[];
}

export type DecodeResult =
  | { ok: true; message: MemberMessage }
  | { ok: false; reason: 'malformed' | 'badMac'; detail: string };

function mac(secret: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(MAGIC).update(body).digest();
}

export function encodeMessage(message: MemberMessage, secret: Buffer): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([MAGIC, mac(secret, body), body]);
}

function isSafeNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Parse and authenticate one message. The MAC is checked before the body is parsed. */
export function decodeMessage(bytes: Buffer, secret: Buffer): DecodeResult {
  if (bytes.length < MAGIC.length + MAC_LENGTH + 2 || bytes.length > MAX_MESSAGE_BYTES) {
    return { ok: false, reason: 'malformed', detail: `length ${bytes.length}` };
  }
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) return { ok: false, reason: 'malformed', detail: 'bad magic' };
  const got = bytes.subarray(MAGIC.length, MAGIC.length + MAC_LENGTH);
  const body = bytes.subarray(MAGIC.length + MAC_LENGTH);
  if (!timingSafeEqual(got, mac(secret, body))) return { ok: false, reason: 'badMac', detail: 'HMAC mismatch' };
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed', detail: 'body is not JSON' };
  }
  const m = raw as Partial<MemberMessage>;
  if (typeof m !== 'object' || m === null) return { ok: false, reason: 'malformed', detail: 'body is not an object' };
  if (m.kind !== 'heartbeat' && m.kind !== 'join' && m.kind !== 'state' && m.kind !== 'leave') {
    return { ok: false, reason: 'malformed', detail: `unknown kind ${String(m.kind)}` };
  }
  if (typeof m.node !== 'string' || m.node.length === 0 || m.node.length > 253) {
    return { ok: false, reason: 'malformed', detail: 'bad node name' };
  }
  if (!isSafeNonNegInt(m.incarnation) || !isSafeNonNegInt(m.seq) || !isSafeNonNegInt(m.sentAt)) {
    return { ok: false, reason: 'malformed', detail: 'bad incarnation/seq/sentAt' };
  }
  let members: MemberRecord[] | undefined;
  if (m.members !== undefined) {
    if (!Array.isArray(m.members)) return { ok: false, reason: 'malformed', detail: 'members is not a list' };
    members = [];
    for (const r of m.members as unknown[]) {
      const rec = r as Partial<MemberRecord>;
      if (typeof rec !== 'object' || rec === null || typeof rec.node !== 'string' || !isSafeNonNegInt(rec.incarnation)) {
        return { ok: false, reason: 'malformed', detail: 'bad member record' };
      }
      members.push({ node: rec.node, incarnation: rec.incarnation });
    }
  }
  const message: MemberMessage = { kind: m.kind, node: m.node, incarnation: m.incarnation, seq: m.seq, sentAt: m.sentAt };
  if (members) message.members = members;
  return { ok: true, message };
}

/** Anti-replay state for one sender (its latest incarnation): highest seq seen + a 64-wide bitmap below it. */
export interface ReplayWindow {
  incarnation: number;
  highest: number;
  /** Bit i set = seq (highest - i) already seen; bit 0 is `highest` itself. */
  bitmap: bigint;
}

export const REPLAY_WINDOW = 64;

export type FreshnessVerdict =
  | { accept: true; window: ReplayWindow; newIncarnation: boolean }
  | { accept: false; reason: 'replay' | 'staleIncarnation' | 'staleTimestamp' | 'futureTimestamp' };

/**
 * Decide whether an authenticated message is fresh. Rules:
 * - its timestamp must lie within `maxSkewMs` of `now` (both directions);
 * - an incarnation lower than the sender's latest known one is a replay of an earlier life;
 * - a higher incarnation starts a fresh window;
 * - within an incarnation, a seq already seen, or more than REPLAY_WINDOW below the highest, is a
 *   replay (the window tolerates UDP reordering and UDP/TCP interleaving without accepting repeats).
 * Returns the updated window; the caller stores it only when the message is accepted.
 */
export function checkFreshness(
  previous: ReplayWindow | undefined,
  msg: Pick<MemberMessage, 'incarnation' | 'seq' | 'sentAt'>,
  now: number,
  maxSkewMs: number,
): FreshnessVerdict {
  if (msg.sentAt < now - maxSkewMs) return { accept: false, reason: 'staleTimestamp' };
  if (msg.sentAt > now + maxSkewMs) return { accept: false, reason: 'futureTimestamp' };
  if (!previous || msg.incarnation > previous.incarnation) {
    return { accept: true, newIncarnation: true, window: { incarnation: msg.incarnation, highest: msg.seq, bitmap: 1n } };
  }
  if (msg.incarnation < previous.incarnation) return { accept: false, reason: 'staleIncarnation' };
  if (msg.seq > previous.highest) {
    const shift = msg.seq - previous.highest;
    const bitmap = shift >= REPLAY_WINDOW ? 1n : ((previous.bitmap << BigInt(shift)) | 1n) & ((1n << BigInt(REPLAY_WINDOW)) - 1n);
    return { accept: true, newIncarnation: false, window: { incarnation: previous.incarnation, highest: msg.seq, bitmap } };
  }
  const offset = previous.highest - msg.seq;
  if (offset >= REPLAY_WINDOW) return { accept: false, reason: 'replay' };
  const bit = 1n << BigInt(offset);
  if (previous.bitmap & bit) return { accept: false, reason: 'replay' };
  return { accept: true, newIncarnation: false, window: { ...previous, bitmap: previous.bitmap | bit } };
}

/** 4-byte big-endian length prefix for TCP frames. */
export function frame(payload: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(payload.length, 0);
  return Buffer.concat([len, payload]);
}

/** Pull complete frames off the front of `buf`; returns them and the unconsumed rest. Oversized → error. */
export function unframe(buf: Buffer): { frames: Buffer[]; rest: Buffer } | { error: string } {
  const frames: Buffer[] = [];
  let off = 0;
  while (buf.length - off >= 4) {
    const len = buf.readUInt32BE(off);
    if (len > MAX_MESSAGE_BYTES) return { error: `frame of ${len} bytes exceeds ${MAX_MESSAGE_BYTES}` };
    if (buf.length - off - 4 < len) break;
    frames.push(buf.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return { frames, rest: buf.subarray(off) };
}

/** Parse a peer entry: `host`, `host:port`, `[v6]:port` or a bare IPv6 address. */
export function parsePeerAddress(entry: string, defaultPort: number): { host: string; port: number } | undefined {
  const s = entry.trim();
  if (!s) return undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    const port = bracket[2] ? Number(bracket[2]) : defaultPort;
    return port >= 1 && port <= 65535 ? { host: bracket[1]!, port } : undefined;
  }
  const colons = s.split(':').length - 1;
  if (colons === 0) return { host: s, port: defaultPort };
  if (colons === 1) {
    const [host, p] = s.split(':') as [string, string];
    const port = Number(p);
    return host && /^\d+$/.test(p) && port >= 1 && port <= 65535 ? { host, port } : undefined;
  }
  return { host: s, port: defaultPort }; // bare IPv6
}
