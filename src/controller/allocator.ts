/**
 * Service IP allocation (pure: no IO). One Allocator holds the pools and every allocation; the
 * reconciler asks it to decide for one Service at a time and applies the decision.
 *
 * Rules (MetalLB's, so existing Services move over unchanged):
 * - pools in configuration order, first free address; `avoidBuggyIPs` skips IPv4 x.x.x.0 / x.x.x.255;
 * - `manualAssign` pools only on request (pool annotation or a requested IP);
 * - the controlPlaneVIP is never handed out; the ingressVIP only to the ingress Service (which gets it
 *   by default);
 * - sharing: Services with the same allow-shared-ip key may share an IP when no port+protocol
 *   overlaps, and when either uses externalTrafficPolicy Local, only with the same selector;
 * - families per spec.ipFamilies / ipFamilyPolicy; each family may come from its own pool;
 * - stability: an IP the Service already holds (rebuilt from its status) is kept while valid; an IP
 *   that became invalid is reported, never silently replaced, and stays reserved to its Service.
 *
 * Efficiency: per-range "first possibly free" cursors and a map of used addresses; no per-call
 * scan of every address (a /16 with 10 000 Services is the benchmark, bench/allocator.ts).
 */
import { formatIp, parseIp, type Family, type ParsedIp } from '../net/address.js';
import { parsePoolEntry, rangeContains, type IpRange } from '../net/range.js';
import type { AddressPool, IpFamily } from '../config/model.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export interface ServicePort {
  port: number;
  protocol: Protocol;
}

/** What the allocator needs to know about one Service (see service-request.ts for the k8s mapping). */
export interface ServiceRequest {
  /** `namespace/name`. */
  key: string;
  /** spec.ipFamilies (may be empty: IPv4). */
  ipFamilies: IpFamily[];
  ipFamilyPolicy: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  /** Canonical requested addresses (spec.loadBalancerIP or the loadBalancerIPs annotation), at most one per family. */
  requestedIPs: string[];
  /** Pool named by the address-pool annotation. */
  requestedPool?: string;
  /** allow-shared-ip key. */
  sharingKey?: string;
  ports: ServicePort[];
  externalTrafficPolicy: 'Cluster' | 'Local';
  selector: Record<string, string>;
}

export type AllocationFailureReason =
  | 'notInAnyPool'
  | 'notInRequestedPool'
  | 'poolExhausted'
  | 'poolNotFound'
  | 'manualPoolNotRequested'
  | 'noPools'
  | 'sharingIncompatible'
  | 'ipInUse'
  | 'controlPlaneVIP'
  | 'ingressVIPReserved'
  | 'familyUnavailable'
  | 'invalidRequest';

export type AllocationDecision =
  | { ok: true; ips: string[]; pool: string; changed: boolean }
  | { ok: false; reason: AllocationFailureReason; message: string };

export interface AllocatorConfig {
  pools: AddressPool[];
  controlPlaneVIP?: string;
  ingressVIP?: string;
  /** `namespace/name` of the Service that may (and by default does) get the ingressVIP. */
  ingressService?: string;
}

export interface PoolUsage {
  pool: string;
  /** Assignable addresses (buggy .0/.255 and the controlPlaneVIP excluded; the ingressVIP counts). Approximate (float) for huge IPv6 pools. */
  size: number;
  used: number;
  available: number;
}

interface Holder {
  key: string;
  sharingKey?: string;
  ports: ServicePort[];
  externalTrafficPolicy: 'Cluster' | 'Local';
  selector: Record<string, string>;
}

interface IpUse {
  ip: ParsedIp;
  holders: Map<string, Holder>;
}

interface RangeState {
  range: IpRange;
  /** Every offset below this is unavailable (used, reserved or buggy); the first free is at or above. */
  cursor: bigint;
}

interface PoolState {
  pool: AddressPool;
  ranges: RangeState[];
  families: Set<Family>;
}

const FAMILY_NUM: Record<IpFamily, Family> = { IPv4: 4, IPv6: 6 };
const FAMILY_NAME: Record<Family, IpFamily> = { 4: 'IPv4', 6: 'IPv6' };

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}
/** How many x in [first, last] have x mod 256 === low. */
function countLowByte(first: bigint, last: bigint, low: bigint): bigint {
  return floorDiv(last - low, 256n) - floorDiv(first - 1n - low, 256n);
}

function isBuggy(ip: ParsedIp): boolean {
  if (ip.family !== 4) return false;
  const low = ip.value & 0xffn;
  return low === 0n || low === 255n;
}

function portsText(p: ServicePort): string {
  return `${p.port}/${p.protocol}`;
}

function sameSelector(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

export class Allocator {
  private pools: PoolState[] = [];
  private cpVip?: string;
  private ingressVip?: ParsedIp;
  private ingressService?: string;
  /** canonical IP → use */
  private readonly uses = new Map<string, IpUse>();
  /** Service key → canonical IPs it holds */
  private readonly byService = new Map<string, string[]>();
  /** sharing key → canonical IPs having a holder with that key */
  private readonly bySharingKey = new Map<string, Set<string>>();

  constructor(config: AllocatorConfig) {
    this.setConfig(config);
  }

  /** Replace pools and VIPs. Existing allocations stay held; `assign` reports those no longer valid. */
  setConfig(config: AllocatorConfig): void {
    this.pools = config.pools.map((pool) => {
      const ranges: RangeState[] = [];
      for (const entry of pool.addresses) {
        const p = parsePoolEntry(entry);
        if (p.ok) ranges.push({ range: p.range, cursor: 0n });
      }
      return { pool, ranges, families: new Set(ranges.map((r) => r.range.family)) };
    });
    const cp = config.controlPlaneVIP ? parseIp(config.controlPlaneVIP) : undefined;
    this.cpVip = cp ? formatIp(cp) : undefined;
    this.ingressVip = config.ingressVIP ? parseIp(config.ingressVIP) : undefined;
    this.ingressService = config.ingressService;
  }

  /** IPs currently held by a Service. */
  held(key: string): string[] {
    return [...(this.byService.get(key) ?? [])];
  }

  /** The pool containing `ip`, if any. */
  poolOf(ip: string): string | undefined {
    const p = parseIp(ip);
    return p ? this.poolStateOf(p)?.pool.name : undefined;
  }

  /**
   * Decide the IPs of one Service. `current` are the IPs in its status (its live addresses). On
   * success the allocator records the new holding (and frees what the Service no longer uses); on
   * failure nothing changes: whatever the Service held stays reserved to it.
   */
  assign(req: ServiceRequest, current: string[]): AllocationDecision {
    const previous = this.byService.get(req.key) ?? [];
    this.releaseInternal(req.key);
    const d = this.decide(req, current);
    if (!d.ok) {
      this.holdAll(req, previous);
      return d;
    }
    this.holdAll(req, d.ips);
    const before = [...new Set([...previous, ...current.map((c) => canonical(c) ?? c)])].sort().join(',');
    return { ...d, changed: before !== [...d.ips].sort().join(',') };
  }

  /** Forget a Service (deleted, or no longer type LoadBalancer). */
  release(key: string): void {
    this.releaseInternal(key);
  }

  usage(): PoolUsage[] {
    const used = new Map<string, number>();
    for (const [, use] of this.uses) {
      const ps = this.poolStateOf(use.ip);
      if (ps) used.set(ps.pool.name, (used.get(ps.pool.name) ?? 0) + 1);
    }
    return this.pools.map((ps) => {
      let size = 0n;
      for (const { range } of ps.ranges) {
        size += range.last - range.first + 1n;
        if (ps.pool.avoidBuggyIPs && range.family === 4) {
          size -= countLowByte(range.first, range.last, 0n) + countLowByte(range.first, range.last, 255n);
        }
      }
      // The controlPlaneVIP is never assignable (config validation keeps it out of pools anyway).
      const cp = this.cpVip ? parseIp(this.cpVip) : undefined;
      if (cp && ps.ranges.some((r) => rangeContains(r.range, cp)) && !(ps.pool.avoidBuggyIPs && isBuggy(cp))) size -= 1n;
      const u = used.get(ps.pool.name) ?? 0;
      const sz = Number(size);
      return { pool: ps.pool.name, size: sz, used: u, available: Math.max(0, sz - u) };
    });
  }

  /** Number of Services holding at least one IP. */
  serviceCount(): number {
    return this.byService.size;
  }

  // ---------------------------------------------------------------------------------------------

  private decide(req: ServiceRequest, current: string[]): Omit<Extract<AllocationDecision, { ok: true }>, 'changed'> | Extract<AllocationDecision, { ok: false }> {
    const primary: IpFamily = req.ipFamilies[0] ?? 'IPv4';
    const other: IpFamily = primary === 'IPv4' ? 'IPv6' : 'IPv4';
    const families: IpFamily[] = req.ipFamilyPolicy === 'SingleStack' ? [primary] : [primary, other];
    const required = (f: IpFamily) => f === primary || req.ipFamilyPolicy === 'RequireDualStack';

    // Requested IPs.
    const requested = new Map<IpFamily, ParsedIp>();
    for (const r of req.requestedIPs) {
      const p = parseIp(r);
      if (!p) return fail('invalidRequest', `requested IP ${JSON.stringify(r)} is not an IP address`);
      const f = FAMILY_NAME[p.family];
      if (requested.has(f)) return fail('invalidRequest', `more than one ${f} address requested (${req.requestedIPs.join(', ')}); give at most one per family`);
      if (!families.includes(f)) {
        return fail('familyUnavailable', `requested IP ${formatIp(p)} is ${f}, but the Service's ipFamilies allow only ${families.join(', ')}`);
      }
      requested.set(f, p);
    }
    if (req.requestedIPs.length > 0 && req.ipFamilyPolicy === 'RequireDualStack' && requested.size < 2) {
      return fail('invalidRequest', `ipFamilyPolicy RequireDualStack with requested IPs needs one IPv4 and one IPv6 address (got ${req.requestedIPs.join(', ')})`);
    }
    let requestedPool: PoolState | undefined;
    if (req.requestedPool !== undefined) {
      requestedPool = this.pools.find((p) => p.pool.name === req.requestedPool);
      if (!requestedPool) {
        const names = this.pools.map((p) => p.pool.name).join(', ') || 'none';
        return fail('poolNotFound', `pool ${req.requestedPool} does not exist (pools: ${names})`);
      }
    }

    // Current IPs, by family (kept when still valid and not overridden by a request).
    const currentByFamily = new Map<IpFamily, ParsedIp>();
    for (const c of current) {
      const p = parseIp(c);
      if (p && !currentByFamily.has(FAMILY_NAME[p.family])) currentByFamily.set(FAMILY_NAME[p.family], p);
    }
    const explicitRequest = requested.size > 0;

    const ips: string[] = [];
    const poolNames: string[] = [];
    for (const f of families) {
      let chosen: { ip: ParsedIp; pool: PoolState } | undefined;
      const want = requested.get(f) ?? (explicitRequest ? undefined : currentByFamily.get(f));
      const keep = want && !requested.has(f) ? this.checkSpecific(req, want, requestedPool, 'current IP') : undefined;
      if (want && requested.has(f)) {
        const check = this.checkSpecific(req, want, requestedPool, 'requested IP');
        if (!check.ok) return check;
        chosen = { ip: want, pool: check.pool };
      } else if (keep && (keep.ok || keep.reason !== 'notInRequestedPool')) {
        // The current IP stays while valid; one that became invalid is reported, never silently moved.
        // Only an explicit new pool choice (annotation) moves a Service to a new address.
        if (!keep.ok) return keep;
        chosen = { ip: want!, pool: keep.pool };
      } else if (explicitRequest) {
        // Requested IPs given: only those; a non-required family is simply absent.
        if (required(f)) return fail('invalidRequest', `no ${f} address requested for a Service that needs one`);
        continue;
      } else if (req.key === this.ingressService && this.ingressVip && FAMILY_NAME[this.ingressVip.family] === f && !requestedPool) {
        const check = this.checkSpecific(req, this.ingressVip, undefined, 'ingressVIP');
        if (!check.ok) return check;
        chosen = { ip: this.ingressVip, pool: check.pool };
      } else {
        const got = this.allocateFamily(req, FAMILY_NUM[f], requestedPool);
        if (!got.ok) {
          if (required(f)) return got;
          continue;
        }
        chosen = got.value;
      }
      ips.push(formatIp(chosen.ip));
      if (!poolNames.includes(chosen.pool.pool.name)) poolNames.push(chosen.pool.pool.name);
    }
    if (ips.length === 0) return fail('familyUnavailable', `no address family could be allocated for ${families.join('/')}`);
    return { ok: true, ips, pool: poolNames.join(',') };
  }

  /** May `req` have exactly `ip`? */
  private checkSpecific(
    req: ServiceRequest,
    ip: ParsedIp,
    requestedPool: PoolState | undefined,
    what: string,
  ): { ok: true; pool: PoolState } | Extract<AllocationDecision, { ok: false }> {
    const text = formatIp(ip);
    if (text === this.cpVip) {
      return fail('controlPlaneVIP', `${text} is the control-plane VIP and is never given to a Service`);
    }
    if (this.ingressVip && text === formatIp(this.ingressVip) && req.key !== this.ingressService) {
      return fail('ingressVIPReserved', `${text} is the ingressVIP, reserved for Service ${this.ingressService ?? '(the ingress Service)'}`);
    }
    const ps = this.poolStateOf(ip);
    if (!ps) return fail('notInAnyPool', `${text} is not in any pool`);
    if (requestedPool && ps !== requestedPool) {
      return fail('notInRequestedPool', `${what} ${text} is in pool ${ps.pool.name}, not in the requested pool ${requestedPool.pool.name}`);
    }
    const use = this.uses.get(text);
    if (use) {
      const c = compatible(req, use, text);
      if (!c.ok) return c;
    }
    return { ok: true, pool: ps };
  }

  private allocateFamily(
    req: ServiceRequest,
    family: Family,
    requestedPool: PoolState | undefined,
  ): { ok: true; value: { ip: ParsedIp; pool: PoolState } } | Extract<AllocationDecision, { ok: false }> {
    const fname = FAMILY_NAME[family];
    let candidates: PoolState[];
    if (requestedPool) {
      if (!requestedPool.families.has(family)) {
        return fail('familyUnavailable', `pool ${requestedPool.pool.name} has no ${fname} addresses`);
      }
      candidates = [requestedPool];
    } else {
      const withFamily = this.pools.filter((p) => p.families.has(family));
      if (this.pools.length === 0) return fail('noPools', 'no address pools are configured');
      if (withFamily.length === 0) return fail('familyUnavailable', `no pool has ${fname} addresses`);
      candidates = withFamily.filter((p) => !p.pool.manualAssign);
      if (candidates.length === 0) {
        return fail(
          'manualPoolNotRequested',
          `the only ${fname} pools (${withFamily.map((p) => p.pool.name).join(', ')}) are manualAssign; request one with the metallb.io/address-pool annotation or an IP`,
        );
      }
    }
    for (const ps of candidates) {
      // A shared IP with the same key first (that is what the key asks for), then the first free address.
      if (req.sharingKey !== undefined) {
        const shared = this.lowestShareable(req, ps, family);
        if (shared) return { ok: true, value: { ip: shared, pool: ps } };
      }
      const free = this.firstFree(ps, family);
      if (free) return { ok: true, value: { ip: free, pool: ps } };
    }
    const names = candidates.map((p) => p.pool.name);
    return fail(
      'poolExhausted',
      names.length === 1 ? `pool ${names[0]} is exhausted` : `pools ${names.join(', ')} are exhausted`,
    );
  }

  private lowestShareable(req: ServiceRequest, ps: PoolState, family: Family): ParsedIp | undefined {
    const set = this.bySharingKey.get(req.sharingKey!);
    if (!set) return undefined;
    let best: ParsedIp | undefined;
    for (const text of set) {
      const use = this.uses.get(text)!;
      if (use.ip.family !== family || this.poolStateOf(use.ip) !== ps) continue;
      if (!compatible(req, use, text).ok) continue;
      if (!best || use.ip.value < best.value) best = use.ip;
    }
    return best;
  }

  private firstFree(ps: PoolState, family: Family): ParsedIp | undefined {
    for (const rs of ps.ranges) {
      if (rs.range.family !== family) continue;
      const span = rs.range.last - rs.range.first;
      while (rs.cursor <= span) {
        const ip: ParsedIp = { family, value: rs.range.first + rs.cursor };
        if (this.isFree(ps, ip)) return ip; // cursor stays: the address is not held until holdAll
        rs.cursor += 1n;
      }
    }
    return undefined;
  }

  private isFree(ps: PoolState, ip: ParsedIp): boolean {
    if (ps.pool.avoidBuggyIPs && isBuggy(ip)) return false;
    const text = formatIp(ip);
    if (text === this.cpVip) return false;
    if (this.ingressVip && this.ingressVip.family === ip.family && this.ingressVip.value === ip.value) return false;
    return !this.uses.has(text);
  }

  private poolStateOf(ip: ParsedIp): PoolState | undefined {
    return this.pools.find((ps) => ps.ranges.some((r) => rangeContains(r.range, ip)));
  }

  private holdAll(req: ServiceRequest, ips: string[]): void {
    if (ips.length === 0) return;
    const holder: Holder = {
      key: req.key,
      sharingKey: req.sharingKey,
      ports: req.ports,
      externalTrafficPolicy: req.externalTrafficPolicy,
      selector: req.selector,
    };
    for (const text of ips) {
      const ip = parseIp(text);
      if (!ip) continue;
      let use = this.uses.get(text);
      if (!use) {
        use = { ip, holders: new Map() };
        this.uses.set(text, use);
      }
      use.holders.set(req.key, holder);
      if (req.sharingKey !== undefined) {
        let s = this.bySharingKey.get(req.sharingKey);
        if (!s) this.bySharingKey.set(req.sharingKey, (s = new Set()));
        s.add(text);
      }
    }
    this.byService.set(req.key, [...ips]);
  }

  private releaseInternal(key: string): void {
    const ips = this.byService.get(key);
    if (!ips) return;
    this.byService.delete(key);
    for (const text of ips) {
      const use = this.uses.get(text);
      if (!use) continue;
      const holder = use.holders.get(key);
      use.holders.delete(key);
      if (holder?.sharingKey !== undefined && ![...use.holders.values()].some((h) => h.sharingKey === holder.sharingKey)) {
        this.bySharingKey.get(holder.sharingKey)?.delete(text);
      }
      if (use.holders.size > 0) continue;
      this.uses.delete(text);
      // Pull the cursor of the range back so the freed address is found again.
      for (const ps of this.pools) {
        for (const rs of ps.ranges) {
          if (rangeContains(rs.range, use.ip)) {
            const off = use.ip.value - rs.range.first;
            if (off < rs.cursor) rs.cursor = off;
          }
        }
      }
    }
  }
}

function fail(reason: AllocationFailureReason, message: string): Extract<AllocationDecision, { ok: false }> {
  return { ok: false, reason, message };
}

function canonical(s: string): string | undefined {
  const p = parseIp(s);
  return p ? formatIp(p) : undefined;
}

/** Can `req` share `text` with the Services already holding it? */
function compatible(req: ServiceRequest, use: IpUse, text: string): { ok: true } | Extract<AllocationDecision, { ok: false }> {
  for (const h of use.holders.values()) {
    if (h.key === req.key) continue;
    if (req.sharingKey === undefined || h.sharingKey === undefined) {
      return fail('ipInUse', `${text} is already used by Service ${h.key}${h.sharingKey === undefined ? '' : ' (set the same metallb.io/allow-shared-ip key to share it)'}`);
    }
    if (h.sharingKey !== req.sharingKey) {
      return fail('sharingIncompatible', `${text} is shared under key "${h.sharingKey}" by Service ${h.key}, not under "${req.sharingKey}"`);
    }
    for (const p of req.ports) {
      if (h.ports.some((q) => q.port === p.port && q.protocol === p.protocol)) {
        return fail('sharingIncompatible', `port ${portsText(p)} on ${text} is already used by Service ${h.key}`);
      }
    }
    if ((req.externalTrafficPolicy === 'Local' || h.externalTrafficPolicy === 'Local') && !sameSelector(req.selector, h.selector)) {
      return fail('sharingIncompatible', `${text} is used by Service ${h.key}; with externalTrafficPolicy Local, Services sharing an IP need the same selector`);
    }
  }
  return { ok: true };
}
