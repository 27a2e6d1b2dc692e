/**
 * The speaker's pure core: from the speaker configuration, the Services, EndpointSlices, Nodes and
 * the live membership, decide which Service IPs this node announces. No IO; the daemon
 * (speaker.ts) feeds it informer caches and applies the result to the L2 announcer.
 *
 * Rules:
 * - A Service counts when it is `type: LoadBalancer`, its loadBalancerClass is unset or ours, and
 *   its status carries ingress IPs. Only IPs inside one of the configured address pools are ever
 *   announced (an IP outside them is reported, not announced).
 * - LB nodes are the Nodes whose InternalIP is the k8sIP of a configured LB node. A speaker on any
 *   other node announces nothing; only live LB nodes (membership) are candidates.
 * - One decision per "announcement group": a Service's IPs go together (a dual-stack Service is
 *   announced by one node), and Services that share an IP are merged into one group, so one IP is
 *   never announced by two nodes. As in MetalLB, the group is ranked by its first IP (the first
 *   ingress IP of its Service with the smallest namespace/name).
 * - Policy `Local` applies when any Service of the group has externalTrafficPolicy Local; the
 *   candidates are then the live LB nodes with a ready endpoint of every Local Service in the
 *   group. No such node → nobody announces.
 */
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import type { SpeakerConfig } from '../config/model.js';
import { canonicalIp, parseIp } from '../net/address.js';
import { parsePoolEntry, rangeContains, type IpRange } from '../net/range.js';
import { decideAnnouncement, type ElectionDecision, type TrafficPolicy } from './election.js';

/** spec.loadBalancerClass values this speaker serves (besides unset). */
export const LOAD_BALANCER_CLASS = 'bmlb.io/lb';

export interface ServiceView {
  /** namespace/name */
  key: string;
  /** Canonical ingress IPs, in status order, without duplicates. */
  ips: string[];
  policy: TrafficPolicy;
  /** Current value of the announcing-node annotation, if any. */
  announcingNode?: string;
}

export interface NodeView {
  name: string;
  /** Canonical InternalIP addresses. */
  internalIPs: string[];
}

export interface PlanInput {
  config: SpeakerConfig;
  self: string;
  nodes: NodeView[];
  services: ServiceView[];
  /** Service key → names of nodes with a ready endpoint of it. */
  readyEndpointNodes: ReadonlyMap<string, readonly string[]>;
  /** Node names membership reports live (self included when it runs). */
  liveMembers: readonly string[];
  /**
   * Optional memo of election results, owned by the caller and passed again on the next call. It
   * only saves hashing (results are identical with or without it); it is emptied whenever this
   * node or the live LB-node set differs from the previous call.
   */
  memo?: ElectionMemo;
}

export interface ElectionMemo {
  signature: string;
  decisions: Map<string, ElectionDecision>;
}

export function newElectionMemo(): ElectionMemo {
  return { signature: '', decisions: new Map() };
}

export type IpDecision =
  | ElectionDecision
  | { announce: false; reason: 'notInAnyPool' }
  | { announce: false; reason: 'selfNotLbNode' };

export interface IpPlan {
  ip: string;
  /** Services carrying this IP, sorted keys. */
  services: string[];
  /** The pool the IP is in (undefined with reason notInAnyPool). */
  pool?: string;
  decision: IpDecision;
}

export interface SpeakerPlan {
  selfIsLbNode: boolean;
  /** Names of the Nodes that are LB nodes, sorted. */
  lbNodes: string[];
  /** Live LB nodes (membership ∩ LB nodes), sorted. */
  liveLbNodes: string[];
  /** Every known Service IP, sorted. */
  ips: IpPlan[];
  /** The IPs this node must announce, sorted. */
  announce: string[];
}

/** The Service as the plan sees it, or undefined when the speaker has nothing to do with it. */
export function serviceView(svc: V1Service, announcingAnnotation: string): ServiceView | undefined {
  if (svc.spec?.type !== 'LoadBalancer') return undefined;
  const cls = svc.spec.loadBalancerClass;
  if (cls !== undefined && cls !== null && cls !== LOAD_BALANCER_CLASS) return undefined;
  const ips: string[] = [];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    const ip = ing.ip ? canonicalIp(ing.ip) : undefined;
    if (ip && !ips.includes(ip)) ips.push(ip);
  }
  if (ips.length === 0) return undefined;
  const announcing = svc.metadata?.annotations?.[announcingAnnotation];
  return {
    key: `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`,
    ips,
    policy: svc.spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
    ...(announcing ? { announcingNode: announcing } : {}),
  };
}

export function nodeView(node: V1Node): NodeView {
  const internalIPs: string[] = [];
  for (const a of node.status?.addresses ?? []) {
    if (a.type !== 'InternalIP') continue;
    const ip = canonicalIp(a.address);
    if (ip && !internalIPs.includes(ip)) internalIPs.push(ip);
  }
  return { name: node.metadata?.name ?? '', internalIPs };
}

/**
 * Service key → nodes with a ready endpoint, from EndpointSlices (label kubernetes.io/service-name).
 * `ready` unset counts as ready (the API's rule); terminating endpoints never count.
 */
export function readyEndpointNodes(slices: readonly V1EndpointSlice[]): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const key = `${s.metadata?.namespace ?? 'default'}/${svc}`;
    let set = out.get(key);
    if (!set) out.set(key, (set = new Set()));
    for (const ep of s.endpoints ?? []) {
      if (ep.conditions?.ready === false || ep.conditions?.terminating === true) continue;
      if (ep.nodeName) set.add(ep.nodeName);
    }
  }
  return new Map([...out].map(([k, v]) => [k, [...v].sort()]));
}

/** Names of the Nodes whose InternalIP is a configured LB node address (k8sIP). */
export function lbNodeNames(config: SpeakerConfig, nodes: readonly NodeView[]): string[] {
  const wanted = new Set(config.lbNodes.map((n) => canonicalIp(n.k8sIP) ?? n.k8sIP));
  return nodes.filter((n) => n.internalIPs.some((ip) => wanted.has(ip))).map((n) => n.name).sort();
}

function poolRanges(config: SpeakerConfig): { pool: string; range: IpRange }[] {
  const out: { pool: string; range: IpRange }[] = [];
  for (const p of config.addressPools) {
    for (const entry of p.addresses) {
      const r = parsePoolEntry(entry);
      if (r.ok) out.push({ pool: p.name, range: r.range });
    }
  }
  return out;
}

/** Union-find over Services that share an IP. */
function groupServices(services: readonly ServiceView[]): ServiceView[][] {
  const sorted = [...services].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const parent = sorted.map((_, i) => i);
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r] ?? r;
    return r;
  };
  const owner = new Map<string, number>();
  sorted.forEach((s, i) => {
    for (const ip of s.ips) {
      const j = owner.get(ip);
      if (j === undefined) owner.set(ip, i);
      else {
        const a = find(i);
        const b = find(j);
        // keep the smaller index as root: its Service has the smallest key
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  });
  const groups = new Map<number, ServiceView[]>();
  sorted.forEach((s, i) => {
    const r = find(i);
    const g = groups.get(r);
    if (g) g.push(s);
    else groups.set(r, [s]);
  });
  return [...groups.values()];
}

/** Sort key: IPv4 before IPv6, then numeric. */
function ipSortKey(ip: string): bigint {
  const p = parseIp(ip);
  if (!p) return -1n;
  return p.family === 4 ? p.value : (1n << 32n) + p.value;
}

function sortIps<T>(items: T[], ipOf: (t: T) => string): T[] {
  const keyed = items.map((t) => ({ t, k: ipSortKey(ipOf(t)) }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return keyed.map((x) => x.t);
}

export function planAnnouncements(input: PlanInput): SpeakerPlan {
  const lbNodes = lbNodeNames(input.config, input.nodes);
  const lbSet = new Set(lbNodes);
  const selfIsLbNode = lbSet.has(input.self);
  const liveLbNodes = [...new Set(input.liveMembers)].filter((n) => lbSet.has(n)).sort();
  const memo = input.memo;
  if (memo) {
    const signature = `${input.self}|${liveLbNodes.join(',')}`;
    if (memo.signature !== signature || memo.decisions.size > 4 * input.services.length + 1024) {
      memo.signature = signature;
      memo.decisions.clear();
    }
  }
  const ranges = poolRanges(input.config);
  const poolOf = (ip: string): string | undefined => {
    const p = parseIp(ip);
    return p ? ranges.find((r) => rangeContains(r.range, p))?.pool : undefined;
  };

  let ips: IpPlan[] = [];
  for (const group of groupServices(input.services)) {
    const groupIps = [...new Set(group.flatMap((s) => s.ips))];
    const serviceKeysOf = (ip: string): string[] => group.filter((s) => s.ips.includes(ip)).map((s) => s.key).sort();
    const locals = group.filter((s) => s.policy === 'Local');
    const policy: TrafficPolicy = locals.length > 0 ? 'Local' : 'Cluster';
    let ready: string[] = [];
    if (policy === 'Local') {
      const sets = locals.map((s) => new Set(input.readyEndpointNodes.get(s.key) ?? []));
      ready = [...(sets[0] ?? new Set<string>())].filter((n) => sets.every((set) => set.has(n))).sort();
    }
    const rankIp = group[0]?.ips[0] ?? groupIps[0] ?? '';
    let election: IpDecision = { announce: false, reason: 'selfNotLbNode' };
    if (selfIsLbNode) {
      const key = `${rankIp}|${policy}|${ready.join(',')}`;
      let d = memo?.decisions.get(key);
      if (!d) {
        d = decideAnnouncement({ ip: rankIp, self: input.self, liveLbNodes, policy, nodesWithReadyEndpoints: ready });
        memo?.decisions.set(key, d);
      }
      election = d;
    }
    for (const ip of groupIps) {
      const pool = poolOf(ip);
      ips.push({
        ip,
        services: serviceKeysOf(ip),
        ...(pool !== undefined ? { pool } : {}),
        decision: pool === undefined ? { announce: false, reason: 'notInAnyPool' } : election,
      });
    }
  }
  ips = sortIps(ips, (p) => p.ip);
  return {
    selfIsLbNode,
    lbNodes,
    liveLbNodes,
    ips,
    announce: ips.filter((p) => p.decision.announce).map((p) => p.ip),
  };
}

export type AnnouncementChange =
  | { kind: 'announce'; ip: string; services: string[]; takeoverFrom?: string }
  | { kind: 'withdraw'; ip: string };

/**
 * What to change on the announcer to reach `plan` from `current` (announced IPs). An announce is a
 * takeover from another node when one of its Services' annotation names a different node.
 */
export function diffAnnouncements(current: readonly string[], plan: SpeakerPlan, services: readonly ServiceView[], self: string): AnnouncementChange[] {
  const want = new Set(plan.announce);
  const have = new Set(current);
  const byKey = new Map(services.map((s) => [s.key, s]));
  const changes: AnnouncementChange[] = [];
  for (const ip of sortIps([...have], (x) => x)) if (!want.has(ip)) changes.push({ kind: 'withdraw', ip });
  for (const p of plan.ips) {
    if (!p.decision.announce || have.has(p.ip)) continue;
    const previous = p.services.map((k) => byKey.get(k)?.announcingNode).find((n) => n !== undefined && n !== self);
    changes.push({ kind: 'announce', ip: p.ip, services: p.services, ...(previous ? { takeoverFrom: previous } : {}) });
  }
  return changes;
}
