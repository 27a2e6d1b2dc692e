/**
 * `bmlb status`: the report built from facts gathered elsewhere (API objects, SSH `ip -j addr`,
 * a TCP connect to the VIP, the speakers' /metrics). Pure: no IO, so every verdict is table-tested.
 */
import type { AddressPool } from '../config/model.js';
import { Allocator } from '../controller/allocator.js';
import { canonicalIp, parseIp } from '../net/address.js';
import { parsePoolEntry, rangeContains } from '../net/range.js';

export interface ServiceFact {
  namespace: string;
  name: string;
  type: string;
  ips: string[];
  annotations: Record<string, string>;
  externalTrafficPolicy: 'Cluster' | 'Local';
}

export interface NodeFact {
  name: string;
  internalIPs: string[];
}

export interface SpeakerPodFact {
  name: string;
  nodeName?: string;
  ready: boolean;
  restarts: number;
}

export type MetricsFact = { reachable: true; announcedIPs: number | undefined } | { reachable: false; error: string };

export interface VipNodeFact {
  /** SSH address of the LB node. */
  address: string;
  k8sIP: string;
  /** `holds`: the VIP is on one of its interfaces (name given). */
  state: { kind: 'holds'; iface: string } | { kind: 'free' } | { kind: 'unreachable'; error: string };
}

export interface StatusFacts {
  cluster: string;
  api: { kubeconfig: string; via: 'vip' | 'given' };
  controlPlaneVIP: string;
  controlPlaneLBPort: number;
  ingressVIP?: string;
  pools: AddressPool[];
  vipNodes: VipNodeFact[];
  vipAnswering: boolean;
  nodes: NodeFact[];
  services: ServiceFact[];
  speakerPods: SpeakerPodFact[];
  /** By Kubernetes node name. */
  speakerMetrics: Record<string, MetricsFact>;
  controller: { found: boolean; replicas: number; readyReplicas: number };
  announcingAnnotation: string;
  poolAnnotation: string;
}

export interface ServiceStatus {
  namespace: string;
  name: string;
  ips: string[];
  pool: string | undefined;
  announcingNode: string | undefined;
  externalTrafficPolicy: 'Cluster' | 'Local';
}

export interface PoolStatus {
  name: string;
  size: number;
  used: number;
  available: number;
}

export interface SpeakerStatus {
  node: string;
  /** false also when the LB node has no speaker pod at all (`pod` undefined). */
  podReady: boolean;
  pod: string | undefined;
  restarts: number;
  metricsReachable: boolean;
  announcedIPs: number | undefined;
}

export interface StatusReport {
  cluster: string;
  /** True when nothing below is degraded. */
  healthy: boolean;
  /** One sentence per degraded item; empty when healthy. */
  problems: string[];
  api: { kubeconfig: string; via: 'vip' | 'given' };
  controlPlaneVIP: {
    address: string;
    port: number;
    /** Node name (or SSH address when no Node matches) holding the VIP, or "none". */
    holder: string;
    /** Every node that holds it (more than one is a split brain). */
    holders: string[];
    answering: boolean;
    unreachableNodes: { node: string; error: string }[];
  };
  services: ServiceStatus[];
  pools: PoolStatus[];
  speakers: SpeakerStatus[];
  controller: { ready: boolean; readyReplicas: number; replicas: number };
}

function poolOf(pools: AddressPool[], ip: string): string | undefined {
  const p = parseIp(ip);
  if (!p) return undefined;
  for (const pool of pools) {
    for (const e of pool.addresses) {
      const r = parsePoolEntry(e);
      if (r.ok && rangeContains(r.range, p)) return pool.name;
    }
  }
  return undefined;
}

function nodeNameFor(nodes: NodeFact[], k8sIP: string): string | undefined {
  const want = canonicalIp(k8sIP);
  return nodes.find((n) => n.internalIPs.some((ip) => canonicalIp(ip) === want))?.name;
}

export function buildStatusReport(f: StatusFacts): StatusReport {
  const problems: string[] = [];
  const vipLabel = `${f.controlPlaneVIP}:${f.controlPlaneLBPort}`;

  // Control-plane VIP.
  const label = (n: VipNodeFact): string => nodeNameFor(f.nodes, n.k8sIP) ?? n.address;
  const holders = f.vipNodes.filter((n) => n.state.kind === 'holds').map(label);
  const unreachableNodes = f.vipNodes.flatMap((n) => (n.state.kind === 'unreachable' ? [{ node: label(n), error: n.state.error }] : []));
  if (holders.length === 0) {
    problems.push(unreachableNodes.length ? `no reachable LB node holds the control-plane VIP ${f.controlPlaneVIP}` : `no LB node holds the control-plane VIP ${f.controlPlaneVIP}`);
  }
  if (holders.length > 1) problems.push(`the control-plane VIP ${f.controlPlaneVIP} is on ${holders.length} nodes at once (${holders.join(', ')}): split brain`);
  for (const u of unreachableNodes) problems.push(`LB node ${u.node} cannot be reached over SSH: ${u.error}`);
  if (!f.vipAnswering) problems.push(`nothing answers on ${vipLabel}`);

  // Services of type LoadBalancer.
  const lbServices = f.services.filter((s) => s.type === 'LoadBalancer').sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  const services: ServiceStatus[] = lbServices.map((s) => {
    const annotated = s.annotations[f.poolAnnotation];
    const pool = annotated ?? s.ips.map((ip) => poolOf(f.pools, ip)).find((p) => p !== undefined);
    return {
      namespace: s.namespace,
      name: s.name,
      ips: s.ips,
      pool,
      announcingNode: s.annotations[f.announcingAnnotation] || undefined,
      externalTrafficPolicy: s.externalTrafficPolicy,
    };
  });
  for (const s of services) {
    if (s.ips.length === 0) problems.push(`Service ${s.namespace}/${s.name} has no IP yet (see its Events)`);
    else if (!s.announcingNode) problems.push(`Service ${s.namespace}/${s.name} (${s.ips.join(', ')}) is announced by no node`);
  }

  // Pools: sizes as the allocator counts them; used = distinct Service IPs inside each pool.
  const sizes = new Allocator({ pools: f.pools, controlPlaneVIP: f.controlPlaneVIP, ...(f.ingressVIP ? { ingressVIP: f.ingressVIP } : {}) }).usage();
  const usedIps = new Map<string, Set<string>>();
  for (const s of services) {
    for (const ip of s.ips) {
      const p = poolOf(f.pools, ip);
      if (!p) continue;
      const set = usedIps.get(p) ?? new Set<string>();
      set.add(canonicalIp(ip) ?? ip);
      usedIps.set(p, set);
    }
  }
  const pools: PoolStatus[] = sizes.map((u) => {
    const used = usedIps.get(u.pool)?.size ?? 0;
    return { name: u.pool, size: u.size, used, available: Math.max(0, u.size - used) };
  });

  // Speakers: one row per LB node (pods on other nodes are listed too, they should not exist).
  const lbNodeNames = f.vipNodes.map((n) => nodeNameFor(f.nodes, n.k8sIP) ?? n.address);
  const rowNodes = [...new Set([...lbNodeNames, ...f.speakerPods.map((p) => p.nodeName).filter((n): n is string => !!n)])];
  const speakers: SpeakerStatus[] = rowNodes.map((node) => {
    const pod = f.speakerPods.find((p) => p.nodeName === node);
    const m = f.speakerMetrics[node];
    return {
      node,
      podReady: pod?.ready ?? false,
      pod: pod?.name,
      restarts: pod?.restarts ?? 0,
      metricsReachable: m?.reachable ?? false,
      announcedIPs: m?.reachable ? m.announcedIPs : undefined,
    };
  });
  for (const s of speakers) {
    if (!s.pod) problems.push(`no speaker pod on LB node ${s.node}`);
    else if (!s.podReady) problems.push(`speaker ${s.pod} on ${s.node} is not ready`);
    else if (!s.metricsReachable) {
      const m = f.speakerMetrics[s.node];
      problems.push(`speaker metrics on ${s.node} not reachable${m && !m.reachable ? `: ${m.error}` : ''}`);
    }
    if (!lbNodeNames.includes(s.node)) problems.push(`a speaker runs on ${s.node}, which is not an LB node`);
  }

  const ready = f.controller.found && f.controller.readyReplicas >= 1;
  if (!f.controller.found) problems.push('the controller Deployment does not exist');
  else if (!ready) problems.push('the controller is not ready (no ready replica)');

  return {
    cluster: f.cluster,
    healthy: problems.length === 0,
    problems,
    api: f.api,
    controlPlaneVIP: {
      address: f.controlPlaneVIP,
      port: f.controlPlaneLBPort,
      holder: holders[0] ?? 'none',
      holders,
      answering: f.vipAnswering,
      unreachableNodes,
    },
    services,
    pools,
    speakers,
    controller: { ready, readyReplicas: f.controller.readyReplicas, replicas: f.controller.replicas },
  };
}

/** Left-aligned columns separated by two spaces. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The human rendering: a few compact tables, then the verdict. */
export function formatStatus(r: StatusReport): string[] {
  const out: string[] = [];
  const v = r.controlPlaneVIP;
  out.push(`Cluster ${r.cluster} (API via ${r.api.via === 'vip' ? 'the control-plane VIP' : r.api.kubeconfig})`);
  out.push('');
  out.push(...table(['CONTROL-PLANE VIP', 'HOLDER', 'ANSWERING'], [[`${v.address}:${v.port}`, v.holders.length > 1 ? v.holders.join(',') : v.holder, v.answering ? 'yes' : 'no']]));
  out.push('');
  if (r.services.length === 0) out.push('No Services of type LoadBalancer.');
  else {
    out.push(
      ...table(
        ['SERVICE', 'IP', 'POOL', 'ANNOUNCED BY', 'TRAFFIC POLICY'],
        r.services.map((s) => [`${s.namespace}/${s.name}`, s.ips.join(',') || '<pending>', s.pool ?? '-', s.announcingNode ?? '-', s.externalTrafficPolicy]),
      ),
    );
  }
  out.push('');
  out.push(...table(['POOL', 'SIZE', 'USED', 'AVAILABLE'], r.pools.map((p) => [p.name, String(p.size), String(p.used), String(p.available)])));
  out.push('');
  out.push(
    ...table(
      ['SPEAKER NODE', 'READY', 'RESTARTS', 'METRICS', 'ANNOUNCED IPS'],
      r.speakers.map((s) => [s.node, s.pod ? (s.podReady ? 'yes' : 'no') : 'no pod', String(s.restarts), s.metricsReachable ? 'yes' : 'no', s.announcedIPs === undefined ? '-' : String(s.announcedIPs)]),
    ),
  );
  out.push('');
  out.push(`Controller: ${r.controller.ready ? 'ready' : 'NOT ready'} (${r.controller.readyReplicas}/${r.controller.replicas} replicas ready)`);
  out.push('');
  if (r.healthy) out.push('Healthy.');
  else {
    out.push(`DEGRADED (${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}):`);
    for (const p of r.problems) out.push(`  - ${p}`);
  }
  return out;
}
