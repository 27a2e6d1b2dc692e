/**
 * Speaker membership: the LB nodes' speakers detect each other over UDP (heartbeats) with a TCP
 * join / fallback probe on the same port, independent of the Kubernetes API. Every message is
 * authenticated (HMAC-SHA256 with the per-cluster secret) and replay-checked; see
 * src/speaker/membership-message.ts for the pure part and docs/speaker-membership.md for the protocol.
 */
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { createServer, connect, isIPv6, type Server, type Socket } from 'node:net';
import { UserError } from '../errors.js';
import {
  checkFreshness,
  decodeMessage,
  encodeMessage,
  frame,
  parsePeerAddress,
  unframe,
  type MemberMessage,
  type MessageKind,
  type ReplayWindow,
} from './membership-message.js';

export interface MembershipOptions {
  nodeName: string;
  /** Address to bind UDP and TCP on (e.g. the node's k8sIP, or 0.0.0.0 / ::). */
  bindAddress: string;
  /** UDP and TCP port (7946 by default in the cluster). 0 picks a free port (tests). */
  port: number;
  /** Peer addresses: `ip` (uses `port`), `ip:port`, `[v6]:port`. The node's own address may be included; it is skipped. */
  peers: string[];
  /** The per-cluster secret (Secret bmlb-system/bmlb-memberlist, key `secretkey`). */
  secret: Buffer;
  heartbeatIntervalMs: number;
  failureTimeoutMs: number;
  log?: (line: string) => void;
  /** Wall clock, ms since epoch, for message timestamps. When given (tests) it also drives liveness
   *  ages, which otherwise use a monotonic clock. */
  clock?: () => number;
  /** Monotonic clock (ms) for liveness ages. Default: `clock` when given, else performance.now(). */
  monotonicClock?: () => number;
  /** Accept message timestamps within this distance of our clock. Default 30 000 ms. */
  maxClockSkewMs?: number;
  /** Override the incarnation (default: derived from the clock at start, so a restart is always newer). */
  incarnation?: number;
}

export interface MembershipStats {
  members: number;
  sent: number;
  received: number;
  droppedAuth: number;
  droppedReplay: number;
  droppedStale: number;
  droppedMalformed: number;
  tcpProbes: number;
}

export interface Membership {
  /** Node names considered live, self included, sorted. */
  live(): string[];
  on(event: 'change', cb: (live: string[]) => void): void;
  /** Replace the peer address list (live config change). */
  setPeers(addresses: string[]): void;
  stats(): MembershipStats;
  /** The port actually bound (useful with port 0). */
  localPort(): number;
  /** Stop. With `leave: true`, first tell the peers we are going (they drop us at once). */
  close(opts?: { leave?: boolean }): Promise<void>;
}

interface MemberState {
  incarnation: number;
  lastSeen: number;
}

interface PeerState {
  host: string;
  port: number;
  /** Last time an accepted message came from this address (UDP source or TCP probe reply). */
  lastHeard: number;
  lastProbe: number;
  probing: boolean;
}

function peerKey(host: string, port: number): string {
  const h = host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
  return isIPv6(h) ? `[${h}]:${port}` : `${h}:${port}`;
}

async function bindBoth(bindAddress: string, port: number): Promise<{ udp: UdpSocket; tcp: Server; port: number }> {
  const type = isIPv6(bindAddress) ? 'udp6' : 'udp4';
  let lastErr: unknown;
  for (let attempt = 0; attempt < (port === 0 ? 8 : 1); attempt++) {
    const tcp = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: bindAddress, port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      lastErr = e;
      tcp.close();
      continue;
    }
    const bound = (tcp.address() as { port: number }).port;
    const udp = createSocket({ type, reuseAddr: false });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: bindAddress, port: bound, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      return { udp, tcp, port: bound };
    } catch (e) {
      lastErr = e;
      udp.close();
      await new Promise<void>((r) => tcp.close(() => r()));
    }
  }
  const msg = lastErr instanceof Error ? lastErr.message : String(lastErr);
  throw new UserError(`membership cannot bind ${bindAddress}:${port} (UDP and TCP): ${msg}`, {
    code: 'MembershipBindFailed',
    suggestions: [
      `Make sure nothing else uses port ${port} (UDP and TCP) on ${bindAddress}.`,
      'Check that the bind address is one of the node\'s own addresses.',
    ],
    cause: lastErr,
  });
}

export async function startMembership(opts: MembershipOptions): Promise<Membership> {
  if (opts.secret.length < 16) {
    throw new UserError(`membership secret is ${opts.secret.length} bytes; at least 16 are needed`, {
      code: 'MemberSecretTooShort',
      suggestions: ['Recreate Secret bmlb-system/bmlb-memberlist with a random `secretkey` of 32 bytes or more.'],
    });
  }
  if (!(opts.heartbeatIntervalMs > 0) || !(opts.failureTimeoutMs > opts.heartbeatIntervalMs)) {
    throw new UserError(
      `membership timers invalid: heartbeatIntervalMs ${opts.heartbeatIntervalMs}, failureTimeoutMs ${opts.failureTimeoutMs}`,
      { code: 'MembershipTimersInvalid', suggestions: ['Use a heartbeat interval > 0 and a failure timeout larger than it (e.g. 50 and 250).'] },
    );
  }
  const clock = opts.clock ?? Date.now;
  // Liveness ages use a monotonic clock, so a wall-clock step (NTP) can neither kill nor freeze
  // members; message timestamps use the wall clock (they are compared across nodes).
  const mono = opts.monotonicClock ?? opts.clock ?? (() => performance.now());
  const log = opts.log ?? (() => {});
  const maxSkew = opts.maxClockSkewMs ?? 30_000;
  const self = opts.nodeName;
  const incarnation = opts.incarnation ?? clock() * 1000 + Math.floor(Math.random() * 1000);
  let seq = 0;

  const { udp, tcp, port } = await bindBoth(opts.bindAddress, opts.port);
  const ownKeys = new Set([peerKey(opts.bindAddress, port), peerKey('127.0.0.1', port), peerKey('::1', port)]);
  const udpFamily = isIPv6(opts.bindAddress) ? 6 : 4;

  const members = new Map<string, MemberState>();
  const windows = new Map<string, ReplayWindow>();
  /** node → incarnation that sent `leave` (its later messages are stragglers, not a return). */
  const left = new Map<string, number>();
  const peers = new Map<string, PeerState>();
  const listeners: ((live: string[]) => void)[] = [];
  const openSockets = new Set<Socket>();
  const stats: MembershipStats = {
    members: 1, sent: 0, received: 0, droppedAuth: 0, droppedReplay: 0, droppedStale: 0, droppedMalformed: 0, tcpProbes: 0,
  };
  let closed = false;
  let lastLive = [self];

  const live = (): string[] => [self, ...members.keys()].sort();

  function emitIfChanged(): void {
    const now = live();
    if (now.length === lastLive.length && now.every((n, i) => n === lastLive[i])) return;
    lastLive = now;
    log(`membership: live ${now.join(',')}`);
    for (const cb of listeners) {
      try {
        cb(now);
      } catch (e) {
        log(`membership: change listener failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  function makeMessage(kind: MessageKind): Buffer {
    seq += 1;
    const m: MemberMessage = { kind, node: self, incarnation, seq, sentAt: clock() };
    if (kind === 'join' || kind === 'state') {
      m.members = [{ node: self, incarnation }, ...[...members].map(([node, s]) => ({ node, incarnation: s.incarnation }))];
    }
    return encodeMessage(m, opts.secret);
  }

  /** Authenticate + freshness-check + apply. Returns the message when accepted. */
  function accept(bytes: Buffer, via: string): MemberMessage | undefined {
    const d = decodeMessage(bytes, opts.secret);
    if (!d.ok) {
      if (d.reason === 'badMac') stats.droppedAuth += 1;
      else stats.droppedMalformed += 1;
      log(`membership: dropped message from ${via}: ${d.reason} (${d.detail})`);
      return undefined;
    }
    const m = d.message;
    if (m.node === self) return undefined; // our own datagram looped back, or a peer list that includes us
    if (m.kind !== 'leave' && left.get(m.node) === m.incarnation) return undefined; // late message from a life that said goodbye
    const v = checkFreshness(windows.get(m.node), m, clock(), maxSkew);
    const now = mono();
    if (!v.accept) {
      if (v.reason === 'replay' || v.reason === 'staleIncarnation') stats.droppedReplay += 1;
      else stats.droppedStale += 1;
      log(`membership: dropped ${m.kind} from ${m.node} via ${via}: ${v.reason}`);
      return undefined;
    }
    windows.set(m.node, v.window);
    stats.received += 1;
    if (m.kind === 'leave') {
      left.set(m.node, m.incarnation);
      if (members.delete(m.node)) log(`membership: ${m.node} left`);
    } else {
      members.set(m.node, { incarnation: m.incarnation, lastSeen: now });
    }
    emitIfChanged();
    return m;
  }

  udp.on('message', (bytes: Buffer, rinfo: RemoteInfo) => {
    const key = peerKey(rinfo.address, rinfo.port);
    const m = accept(bytes, key);
    const p = peers.get(key);
    if (m && p) p.lastHeard = mono();
  });
  udp.on('error', (e) => log(`membership: UDP error: ${e.message}`));

  tcp.on('connection', (sock) => {
    openSockets.add(sock);
    sock.setTimeout(Math.max(1000, opts.failureTimeoutMs * 4));
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const u = unframe(buf);
      if ('error' in u) {
        stats.droppedMalformed += 1;
        sock.destroy();
        return;
      }
      buf = u.rest;
      const first = u.frames[0];
      if (!first) return;
      const m = accept(first, `tcp ${sock.remoteAddress ?? '?'}`);
      if (!m || m.kind === 'leave' || m.kind === 'state') {
        sock.end();
        return;
      }
      stats.sent += 1;
      sock.end(frame(makeMessage('state')));
    });
    sock.on('timeout', () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => openSockets.delete(sock));
  });
  tcp.on('error', (e) => log(`membership: TCP error: ${e.message}`));

  /** TCP join/probe: send `join` with our state, expect the peer's `state` back. */
  function probe(p: PeerState): void {
    if (p.probing || closed) return;
    p.probing = true;
    p.lastProbe = mono();
    stats.tcpProbes += 1;
    const sock = connect({ host: p.host, port: p.port });
    openSockets.add(sock);
    sock.setTimeout(Math.max(500, opts.failureTimeoutMs * 2));
    let buf: Buffer = Buffer.alloc(0);
    sock.on('connect', () => {
      stats.sent += 1;
      sock.write(frame(makeMessage('join')));
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const u = unframe(buf);
      if ('error' in u) {
        stats.droppedMalformed += 1;
        sock.destroy();
        return;
      }
      buf = u.rest;
      const first = u.frames[0];
      if (!first) return;
      const m = accept(first, `tcp ${p.host}:${p.port}`);
      if (m) p.lastHeard = mono();
      sock.end();
    });
    sock.on('timeout', () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      openSockets.delete(sock);
      p.probing = false;
    });
  }

  function send(p: PeerState, bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      const fam = isIPv6(p.host) ? 6 : 4;
      if (fam !== udpFamily && udpFamily === 4) return resolve();
      stats.sent += 1;
      udp.send(bytes, p.port, p.host, (err) => {
        if (err) log(`membership: send to ${p.host}:${p.port} failed: ${err.message}`);
        resolve();
      });
    });
  }

  function setPeers(addresses: string[]): void {
    const next = new Map<string, PeerState>();
    for (const a of addresses) {
      const parsed = parsePeerAddress(a, port);
      if (!parsed) {
        log(`membership: ignoring peer entry ${JSON.stringify(a)}`);
        continue;
      }
      const key = peerKey(parsed.host, parsed.port);
      if (ownKeys.has(key)) continue;
      next.set(key, peers.get(key) ?? { ...parsed, lastHeard: -Infinity, lastProbe: -Infinity, probing: false });
    }
    const added = [...next.keys()].filter((k) => !peers.has(k));
    peers.clear();
    for (const [k, v] of next) peers.set(k, v);
    for (const k of added) probe(peers.get(k)!); // join new peers at once
  }

  function expire(): void {
    if (closed) return;
    const now = mono();
    for (const [node, s] of members) {
      if (now - s.lastSeen > opts.failureTimeoutMs) {
        members.delete(node);
        log(`membership: ${node} silent for ${Math.round(now - s.lastSeen)} ms, declared dead`);
      }
    }
    emitIfChanged();
  }

  function tick(): void {
    if (closed) return;
    const now = mono();
    expire();
    const beat = makeMessage('heartbeat');
    const half = opts.failureTimeoutMs / 2;
    for (const p of peers.values()) {
      void send(p, beat);
      const silent = now - p.lastHeard;
      // UDP silent: probe over TCP, often while it may be a UDP-only problem, then back off.
      const every = silent > opts.failureTimeoutMs * 4 ? Math.max(1000, half) : half;
      if (silent > half && now - p.lastProbe >= every) probe(p);
    }
  }

  setPeers(opts.peers);
  const timer = setInterval(tick, opts.heartbeatIntervalMs);
  timer.unref?.();
  // Death is checked more often than heartbeats are sent, so it is declared close to failureTimeoutMs
  // after the last heartbeat rather than up to one more interval later.
  const expiryTimer = setInterval(expire, Math.min(50, Math.max(5, Math.floor(opts.heartbeatIntervalMs / 5))));
  expiryTimer.unref?.();
  tick();

  return {
    live,
    on(event, cb) {
      if (event === 'change') listeners.push(cb);
    },
    setPeers,
    stats: () => ({ ...stats, members: live().length }),
    localPort: () => port,
    async close(closeOpts) {
      if (closed) return;
      if (closeOpts?.leave) {
        const bye = makeMessage('leave');
        await Promise.all([...peers.values()].map((p) => send(p, bye)));
      }
      closed = true;
      clearInterval(timer);
      clearInterval(expiryTimer);
      for (const s of openSockets) s.destroy();
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => tcp.close(() => r())),
      ]);
    },
  };
}
