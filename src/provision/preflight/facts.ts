/**
 * What preflight learns from a node, and pure parsers for the raw command output it comes from
 * (`ip -j addr`, `ss -ltnupH`, the sectioned output of the gather script, arping).
 */
import { type Family, type ParsedIp, familyBits, parseIp } from '../../net/address.js';
import type { IpRange } from '../../net/range.js';

export interface IfaceAddr {
  family: Family;
  local: string;
  prefixlen: number;
}

export interface Iface {
  name: string;
  mac?: string;
  up: boolean;
  addrs: IfaceAddr[];
}

export interface Listener {
  proto: 'tcp' | 'udp';
  address: string;
  port: number;
  /** Process names from `ss -p` (e.g. haproxy, node). */
  processes: string[];
}

/** Files whose presence means bmlb already configured this node (a rerun must pass preflight). */
export const BMLB_KEEPALIVED_CONF = '/etc/bmlb/keepalived/keepalived.conf';
export const MANIFEST_DIR = '/etc/kubernetes/manifests';

export const SYSCTLS = [
  'net.ipv4.ip_nonlocal_bind',
  'net.ipv6.ip_nonlocal_bind',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.arp_ignore',
  'net.ipv4.conf.all.arp_announce',
] as const;

export interface NodeFacts {
  address: string;
  k8sIP: string;
  hostname: string;
  interfaces: Iface[];
  sysctls: Record<string, string | undefined>;
  manifestDirPresent: boolean;
  listeners: Listener[];
  /** Text of bmlb's keepalived.conf when present (a VIP inside it is "held by bmlb"). */
  bmlbKeepalivedConf?: string;
  /** Node clock minus local clock, corrected by half the round trip. */
  clockOffsetMs: number;
  /** Tools found on the node (`command -v`). */
  tools: string[];
}

/** Parse `ip -j addr show`. */
export function parseIpAddrJson(text: string): Iface[] {
  const raw: unknown = JSON.parse(text);
  if (!Array.isArray(raw)) throw new Error('ip -j addr: expected a JSON array');
  return raw.map((l: Record<string, unknown>) => {
    const flags = Array.isArray(l.flags) ? (l.flags as string[]) : [];
    const addrs: IfaceAddr[] = [];
    for (const a of Array.isArray(l.addr_info) ? (l.addr_info as Record<string, unknown>[]) : []) {
      if ((a.family !== 'inet' && a.family !== 'inet6') || typeof a.local !== 'string' || typeof a.prefixlen !== 'number') continue;
      addrs.push({ family: a.family === 'inet' ? 4 : 6, local: a.local, prefixlen: a.prefixlen });
    }
    return {
      name: String(l.ifname ?? ''),
      ...(typeof l.address === 'string' ? { mac: l.address.toLowerCase() } : {}),
      up: flags.includes('UP'),
      addrs,
    };
  });
}

/** Parse `ss -ltnupH` (one listening socket per line: netid state recvq sendq local peer [process]). */
export function parseSs(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const proto = f[0];
    if (proto !== 'tcp' && proto !== 'udp') continue;
    const local = f[4] ?? '';
    const colon = local.lastIndexOf(':');
    if (colon < 0) continue;
    let address = local.slice(0, colon).replace(/^\[|\]$/g, '');
    address = address.replace(/%.*$/, '');
    const port = Number(local.slice(colon + 1));
    if (!Number.isInteger(port)) continue;
    const processes = [...line.matchAll(/\("([^"]+)",pid=/g)].map((m) => m[1] ?? '');
    out.push({ proto, address, port, processes });
  }
  return out;
}

/** Split `==name` sections of the gather script's output. */
export function splitSections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let cur: string | undefined;
  let buf: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^==bmlb:([a-z-]+)$/.exec(line);
    if (m) {
      if (cur !== undefined) out.set(cur, buf.join('\n'));
      cur = m[1];
      buf = [];
    } else if (cur !== undefined) buf.push(line);
  }
  if (cur !== undefined) out.set(cur, buf.join('\n'));
  return out;
}

export function parseSysctls(text: string): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const v = line.slice(eq + 1).trim();
    out[line.slice(0, eq).trim()] = v === '' ? undefined : v;
  }
  return out;
}

/** MACs that answered an `arping -D` probe ("Unicast reply from IP [MAC]"). */
export function parseArpingReplies(text: string): string[] {
  return [...new Set([...text.matchAll(/reply from \S+ \[([0-9A-Fa-f:]{17})\]/g)].map((m) => (m[1] ?? '').toLowerCase()))];
}

/** `ip -6 neigh show ADDR` → lladdr when the entry is live (REACHABLE/STALE/DELAY/PROBE). */
export function parseNeighLladdr(text: string): string | undefined {
  const m = /lladdr ([0-9a-f:]{17}).*\b(REACHABLE|STALE|DELAY|PROBE|PERMANENT)\b/i.exec(text);
  return m?.[1]?.toLowerCase();
}

/** The subnet an interface address belongs to. */
export function subnetOf(a: IfaceAddr): IpRange | undefined {
  const ip = parseIp(a.local);
  if (!ip) return undefined;
  const bits = familyBits(ip.family);
  const host = (1n << BigInt(bits - a.prefixlen)) - 1n;
  return { family: ip.family, first: ip.value & ~host, last: (ip.value & ~host) | host };
}

/** The interface (and its address entry) that holds `ip`. */
export function interfaceHolding(ifaces: Iface[], ip: string): { iface: Iface; addr: IfaceAddr } | undefined {
  const want = parseIp(ip);
  if (!want) return undefined;
  for (const iface of ifaces) {
    for (const addr of iface.addrs) {
      const have = parseIp(addr.local);
      if (have && have.family === want.family && have.value === want.value) return { iface, addr };
    }
  }
  return undefined;
}

export function sameValue(a: ParsedIp, b: ParsedIp): boolean {
  return a.family === b.family && a.value === b.value;
}
