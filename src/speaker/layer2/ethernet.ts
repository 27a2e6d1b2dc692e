/**
 * Ethernet framing and the byte forms of addresses (pure). Frames here are what an AF_PACKET
 * SOCK_RAW socket sees: destination MAC, source MAC, ethertype, payload (no FCS; the kernel strips
 * VLAN tags before handing frames over).
 */
import { formatIp, parseIp, type ParsedIp } from '../../net/address.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERNET_HEADER_LENGTH = 14;

export const BROADCAST_MAC: Buffer = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
export const ZERO_MAC: Buffer = Buffer.alloc(6);

export interface EthernetFrame {
  destination: Buffer;
  source: Buffer;
  ethertype: number;
  payload: Buffer;
}

/** `aa:bb:cc:dd:ee:ff` (case-insensitive, `-` accepted) → 6 bytes, or undefined. */
export function parseMac(s: string): Buffer | undefined {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s);
  if (!m) return undefined;
  return Buffer.from(m.slice(1).map((h) => parseInt(h, 16)));
}

/** Lower-case colon form. */
export function formatMac(mac: Buffer): string {
  return [...mac.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function isMulticastMac(mac: Buffer): boolean {
  return ((mac[0] ?? 0) & 1) === 1;
}

export function encodeEthernet(f: EthernetFrame): Buffer {
  const header = Buffer.alloc(ETHERNET_HEADER_LENGTH);
  f.destination.copy(header, 0, 0, 6);
  f.source.copy(header, 6, 0, 6);
  header.writeUInt16BE(f.ethertype, 12);
  return Buffer.concat([header, f.payload]);
}

export function decodeEthernet(frame: Buffer): EthernetFrame | undefined {
  if (frame.length < ETHERNET_HEADER_LENGTH) return undefined;
  return {
    destination: frame.subarray(0, 6),
    source: frame.subarray(6, 12),
    ethertype: frame.readUInt16BE(12),
    payload: frame.subarray(ETHERNET_HEADER_LENGTH),
  };
}

/** Network-order bytes of an address (4 or 16). */
export function ipBytes(ip: ParsedIp): Buffer {
  const n = ip.family === 4 ? 4 : 16;
  const out = Buffer.alloc(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Bytes (4 or 16) → address. */
export function ipFromBytes(b: Buffer): ParsedIp {
  let v = 0n;
  for (const byte of b) v = (v << 8n) | BigInt(byte);
  return { family: b.length === 4 ? 4 : 6, value: v };
}

/** Canonical text of an address given as bytes. */
export function formatIpBytes(b: Buffer): string {
  return formatIp(ipFromBytes(b));
}

/** Bytes of an address given as text; throws TypeError for text that is not an address (a bug in the caller). */
export function ipTextBytes(s: string, family: 4 | 6): Buffer {
  const p = parseIp(s);
  if (!p || p.family !== family) throw new TypeError(`not an IPv${family} address: ${s}`);
  return ipBytes(p);
}
