/**
 * IP addresses as numbers: strict parsing and canonical formatting (RFC 5952 for IPv6).
 * Pure; no DNS, no zone ids, no shorthand IPv4 forms (`10.1`, octal, hex).
 */

export type Family = 4 | 6;

export interface ParsedIp {
  family: Family;
  /** The address as an unsigned integer (32 bits for IPv4, 128 bits for IPv6). */
  value: bigint;
}

export const IPV4_BITS = 32;
export const IPV6_BITS = 128;

export function familyBits(family: Family): number {
  return family === 4 ? IPV4_BITS : IPV6_BITS;
}

export function maxValue(family: Family): bigint {
  return (1n << BigInt(familyBits(family))) - 1n;
}

const DEC_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4Value(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!DEC_OCTET.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseGroups(s: string): number[] | undefined {
  if (s === '') return [];
  const out: number[] = [];
  for (const g of s.split(':')) {
    if (!HEX_GROUP.test(g)) return undefined;
    out.push(parseInt(g, 16));
  }
  return out;
}

function parseIpv6Value(input: string): bigint | undefined {
  let s = input;
  // An embedded IPv4 tail (`::ffff:198.51.100.1`) stands for the last two groups.
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.slice(lastColon + 1).includes('.')) {
    const v4 = parseIpv4Value(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [Number(v4 >> 16n), Number(v4 & 0xffffn)];
    s = s.slice(0, lastColon + 1);
    // `::1.2.3.4` leaves `::`; `a:b:1.2.3.4` leaves `a:b:` -> drop the trailing colon unless it is part of `::`.
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const dbl = s.indexOf('::');
  let groups: number[];
  if (dbl >= 0) {
    if (s.indexOf('::', dbl + 1) >= 0) return undefined;
    const head = parseGroups(s.slice(0, dbl));
    const rest = parseGroups(s.slice(dbl + 2));
    if (!head || !rest) return undefined;
    const missing = 8 - head.length - rest.length - tail.length;
    // `::` stands for at least one group of zeros.
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...rest, ...tail];
  } else {
    const all = parseGroups(s);
    if (!all) return undefined;
    groups = [...all, ...tail];
    if (groups.length !== 8) return undefined;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

/** Parse an IPv4 or IPv6 address strictly; `undefined` for anything else (ranges, CIDRs, names, zones). */
export function parseIp(s: string): ParsedIp | undefined {
  if (typeof s !== 'string' || s.length === 0 || s.length > 45) return undefined;
  if (s.includes(':')) {
    const value = parseIpv6Value(s);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIpv4Value(s);
  return value === undefined ? undefined : { family: 4, value };
}

function formatIpv4Value(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((v >> shift) & 0xffn)).join('.');
}

/** Canonical text: dotted quad for IPv4; RFC 5952 for IPv6 (lower case, longest zero run as `::`). */
export function formatIp(ip: ParsedIp): string {
  if (ip.family === 4) return formatIpv4Value(ip.value);
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // IPv4-mapped addresses keep the dotted tail (RFC 5952 section 5).
  if (ip.value >> 32n === 0xffffn) return `::ffff:${formatIpv4Value(ip.value & 0xffffffffn)}`;
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** True when both strings are addresses and denote the same one (`2001:db8::1` = `2001:DB8:0::1`). */
export function sameIp(a: string, b: string): boolean {
  const pa = parseIp(a);
  const pb = parseIp(b);
  return pa !== undefined && pb !== undefined && pa.family === pb.family && pa.value === pb.value;
}

/** Canonical form of an address string, or `undefined` if it is not one. */
export function canonicalIp(s: string): string | undefined {
  const p = parseIp(s);
  return p ? formatIp(p) : undefined;
}
