/**
 * Address ranges as written in `addressPools[].addresses`: a CIDR (`198.51.100.0/28`,
 * `2001:db8::/120`) or an inclusive range `first-last` (no spaces). Pure.
 */
import { type Family, type ParsedIp, familyBits, formatIp, parseIp } from './address.js';

export interface IpRange {
  family: Family;
  first: bigint;
  last: bigint;
}

export type PoolEntryParse =
  | { ok: true; range: IpRange; kind: 'cidr' | 'range' }
  | { ok: false; reason: string };

const PREFIX = /^(0|[1-9][0-9]{0,2})$/;

/** Parse a CIDR `addr/len` (host bits must be zero). */
export function parseCidr(s: string): PoolEntryParse {
  const slash = s.indexOf('/');
  if (slash < 0 || s.indexOf('/', slash + 1) >= 0) return { ok: false, reason: `"${s}" is not a CIDR (address/prefix-length)` };
  const addrText = s.slice(0, slash);
  const lenText = s.slice(slash + 1);
  const ip = parseIp(addrText);
  if (!ip) return { ok: false, reason: `"${addrText}" in "${s}" is not an IPv4 or IPv6 address` };
  const bits = familyBits(ip.family);
  if (!PREFIX.test(lenText) || Number(lenText) > bits) {
    return { ok: false, reason: `prefix length "${lenText}" in "${s}" must be a whole number from 0 to ${bits}` };
  }
  const len = Number(lenText);
  const hostBits = BigInt(bits - len);
  const hostMask = (1n << hostBits) - 1n;
  if ((ip.value & hostMask) !== 0n) {
    const network = formatIp({ family: ip.family, value: ip.value & ~hostMask });
    return { ok: false, reason: `"${s}" has host bits set; the network is ${network}/${len}` };
  }
  return { ok: true, kind: 'cidr', range: { family: ip.family, first: ip.value, last: ip.value | hostMask } };
}

/** Parse one `addresses` entry: a CIDR or a range `first-last` of one family with first ≤ last. */
export function parsePoolEntry(s: string): PoolEntryParse {
  if (typeof s !== 'string') return { ok: false, reason: 'an address entry must be a string' };
  if (s.length === 0) return { ok: false, reason: 'the address entry is empty' };
  if (/\s/.test(s)) return { ok: false, reason: `"${s}" contains spaces; write a CIDR or a range first-last without spaces` };
  if (s.includes('/')) return parseCidr(s);
  const dash = s.indexOf('-');
  if (dash < 0) {
    const single = parseIp(s);
    if (single) {
      const bits = familyBits(single.family);
      return { ok: false, reason: `"${s}" is a single address; write it as ${formatIp(single)}/${bits} or as a range` };
    }
    return { ok: false, reason: `"${s}" is neither a CIDR (198.51.100.0/28) nor a range (198.51.100.10-198.51.100.20)` };
  }
  if (s.indexOf('-', dash + 1) >= 0) return { ok: false, reason: `"${s}" has more than one "-"; a range is first-last` };
  const a = parseIp(s.slice(0, dash));
  const b = parseIp(s.slice(dash + 1));
  if (!a) return { ok: false, reason: `"${s.slice(0, dash)}" (start of "${s}") is not an IPv4 or IPv6 address` };
  if (!b) return { ok: false, reason: `"${s.slice(dash + 1)}" (end of "${s}") is not an IPv4 or IPv6 address` };
  if (a.family !== b.family) return { ok: false, reason: `"${s}" mixes IPv4 and IPv6; both ends must be of one family` };
  if (a.value > b.value) return { ok: false, reason: `"${s}" starts after it ends; write the lower address first` };
  return { ok: true, kind: 'range', range: { family: a.family, first: a.value, last: b.value } };
}

export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

export function rangeContains(r: IpRange, ip: ParsedIp): boolean {
  return r.family === ip.family && r.first <= ip.value && ip.value <= r.last;
}

/** Number of addresses in the range (inclusive). */
export function rangeSize(r: IpRange): bigint {
  return r.last - r.first + 1n;
}

/** `first-last` in canonical form (a single address prints once). */
export function formatRange(r: IpRange): string {
  const f = formatIp({ family: r.family, value: r.first });
  if (r.first === r.last) return f;
  return `${f}-${formatIp({ family: r.family, value: r.last })}`;
}
