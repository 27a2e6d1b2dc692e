/**
 * Cross-field rules of the cluster file (the DESIGN.md table and issue 2): addresses, VIPs,
 * pools, node roles, BGP fields and bmlb tunables. Works on the raw document data defensively
 * (it runs even when the structure has errors) so every error is reported at once.
 */
import { formatIp, parseIp, type ParsedIp } from '../net/address.js';
import { parsePoolEntry, rangeContains, rangesOverlap, type IpRange } from '../net/range.js';
import { DEFAULT_CONTROL_PLANE_LB_PORT, DEFAULT_SPEAKER, MIN_HEARTBEATS_PER_TIMEOUT } from './defaults.js';
import type { ConfigError, ConfigErrorCode } from './issues.js';
import { isPlaceholder } from './structure.js';
import { formatPath, type PathSegment, type SourceDocument } from './yaml-source.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
function get(v: unknown, ...path: PathSegment[]): unknown {
  let cur = v;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

/** DNS label (RFC 1123), as Kubernetes requires for names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const VERSION = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/;

/** Where a value sits: document + path inside it + the prefix its paths are shown with. */
interface Site {
  doc: SourceDocument;
  path: PathSegment[];
  prefix: string;
}

type Role = 'controlPlane' | 'lb' | 'worker';
interface NodeRef {
  role: Role;
  /** Which node (role + index, or pool name + index) for grouping address and k8sIP. */
  id: string;
  field: 'address' | 'k8sIP';
  text: string;
  ip: ParsedIp;
  site: Site;
}

export interface WorkerPoolInput {
  doc: SourceDocument;
  prefix: string;
}

class Reporter {
  readonly errors: ConfigError[] = [];
  add(code: ConfigErrorCode, site: Site, message: string, suggestion: string, values?: unknown[], at: 'key' | 'value' = 'value'): void {
    this.errors.push({ code, path: formatPath(site.path, site.prefix), ...site.doc.locate(site.path, at), message, suggestion, ...(values ? { values } : {}) });
  }
}

function pathText(site: Site): string {
  return formatPath(site.path, site.prefix);
}

/** Parse an address field; report InvalidAddress (placeholders were reported already). */
function addressAt(r: Reporter, site: Site, value: unknown, what: string): ParsedIp | undefined {
  if (typeof value !== 'string' || isPlaceholder(value)) return undefined;
  const ip = parseIp(value);
  if (!ip) {
    r.add('InvalidAddress', site, `${pathText(site)} "${value}" is not an IPv4 or IPv6 address`, `Write ${what} as one address, e.g. 198.51.100.10 or 2001:db8::10.`, [value]);
  }
  return ip;
}

function collectNodes(r: Reporter, list: unknown, role: Role, idPrefix: string, base: Site): NodeRef[] {
  const out: NodeRef[] = [];
  arr(list).forEach((node, i) => {
    for (const field of ['address', 'k8sIP'] as const) {
      const v = get(node, field);
      if (v === undefined) continue;
      const site = { ...base, path: [...base.path, i, field] };
      const ip = addressAt(r, site, v, `the node's ${field}`);
      if (ip) out.push({ role, id: `${idPrefix}[${i}]`, field, text: v as string, ip, site });
    }
  });
  return out;
}

const ROLE_TEXT: Record<Role, string> = { controlPlane: 'a control-plane node', lb: 'an LB node', worker: 'a NodePool node' };

function checkNodeRoles(r: Reporter, nodes: NodeRef[]): void {
  const reported = new Set<string>();
  for (let j = 0; j < nodes.length; j++) {
    const b = nodes[j]!;
    for (let i = 0; i < j; i++) {
      const a = nodes[i]!;
      if (a.id === b.id || a.ip.family !== b.ip.family || a.ip.value !== b.ip.value) continue;
      if (reported.has(b.id)) break;
      reported.add(b.id);
      const ip = formatIp(b.ip);
      const lb = a.role === 'lb' ? a : b.role === 'lb' ? b : undefined;
      const other = lb === a ? b : a;
      if (lb && other.role === 'controlPlane') {
        r.add('LbNodeAlsoControlPlane', lb.site, `LB node ${ip} (${pathText(lb.site)}) is also a control-plane node (${pathText(other.site)})`,
          'Remove it from loadBalancer.nodePoolSpec (to run the load balancer on the control-plane nodes, delete loadBalancer.nodePoolSpec entirely), or use a different machine.', [ip]);
      } else if (lb && other.role === 'worker') {
        r.add('LbNodeAlsoWorker', lb.site, `LB node ${ip} (${pathText(lb.site)}) is also listed in a NodePool (${pathText(other.site)})`,
          'List each machine in one pool only: remove it from the NodePool or from loadBalancer.nodePoolSpec.', [ip]);
      } else {
        r.add('DuplicateNodeAddress', b.site, `${ip} at ${pathText(b.site)} is already used by ${ROLE_TEXT[a.role]} (${pathText(a.site)})`,
          'Every node needs its own address; correct the duplicate.', [ip]);
      }
      break;
    }
  }
}

interface PoolEntry {
  pool: string;
  range: IpRange;
  text: string;
  site: Site;
}

export interface SemanticInput {
  cluster: SourceDocument;
  clusterPrefix: string;
  namespaceDoc?: { doc: SourceDocument; prefix: string };
  workerPools: WorkerPoolInput[];
}

/** Run every cross-field rule; returns the errors found (empty when the file is valid). */
export function validateSemantics(input: SemanticInput): ConfigError[] {
  const r = new Reporter();
  const c = input.cluster.data;
  const at = (...path: PathSegment[]): Site => ({ doc: input.cluster, path, prefix: input.clusterPrefix });
  const lbPath = ['spec', 'loadBalancer'];
  const lb = get(c, 'spec', 'loadBalancer');

  // Names and namespaces.
  const name = get(c, 'metadata', 'name');
  const namespace = get(c, 'metadata', 'namespace');
  if (typeof name === 'string' && !isPlaceholder(name) && !DNS_LABEL.test(name)) {
    r.add('InvalidName', at('metadata', 'name'), `cluster name "${name}" is not a DNS label`, 'Use lower-case letters, digits and "-" (at most 63, starting and ending with a letter or digit).', [name]);
  }
  if (input.namespaceDoc && typeof namespace === 'string') {
    const nsName = get(input.namespaceDoc.doc.data, 'metadata', 'name');
    if (typeof nsName === 'string' && nsName !== namespace) {
      r.add('NamespaceMismatch', { doc: input.namespaceDoc.doc, path: ['metadata', 'name'], prefix: input.namespaceDoc.prefix },
        `the Namespace document is "${nsName}" but the Cluster is in namespace "${namespace}"`, `Make both "${namespace}" (GDCV uses cluster-NAME).`, [nsName, namespace]);
    }
  }

  // Nodes.
  const nodes: NodeRef[] = [];
  nodes.push(...collectNodes(r, get(c, 'spec', 'controlPlane', 'nodePoolSpec', 'nodes'), 'controlPlane', 'cp', at('spec', 'controlPlane', 'nodePoolSpec', 'nodes')));
  nodes.push(...collectNodes(r, get(lb, 'nodePoolSpec', 'nodes'), 'lb', 'lb', at(...lbPath, 'nodePoolSpec', 'nodes')));
  input.workerPools.forEach((wp, k) => {
    const site: Site = { doc: wp.doc, path: ['spec', 'nodes'], prefix: wp.prefix };
    nodes.push(...collectNodes(r, get(wp.doc.data, 'spec', 'nodes'), 'worker', `np${k}`, site));
    const clusterName = get(wp.doc.data, 'spec', 'clusterName');
    if (typeof clusterName === 'string' && typeof name === 'string' && clusterName !== name) {
      r.add('NodePoolClusterMismatch', { doc: wp.doc, path: ['spec', 'clusterName'], prefix: wp.prefix },
        `NodePool clusterName "${clusterName}" does not match the Cluster "${name}"`, `Set spec.clusterName to "${name}".`, [clusterName, name]);
    }
    const npNs = get(wp.doc.data, 'metadata', 'namespace');
    if (typeof npNs === 'string' && typeof namespace === 'string' && npNs !== namespace) {
      r.add('NamespaceMismatch', { doc: wp.doc, path: ['metadata', 'namespace'], prefix: wp.prefix },
        `NodePool namespace "${npNs}" differs from the Cluster namespace "${namespace}"`, `Set metadata.namespace to "${namespace}".`, [npNs, namespace]);
    }
  });
  checkNodeRoles(r, nodes);

  // VIPs.
  const vip = (key: 'controlPlaneVIP' | 'ingressVIP'): ParsedIp | undefined => {
    const v = get(lb, 'vips', key);
    const site = at(...lbPath, 'vips', key);
    if (typeof v !== 'string' || isPlaceholder(v)) return undefined;
    const asRange = parsePoolEntry(v);
    if (asRange.ok) {
      r.add('VipIsRange', site, `${key} "${v}" is a ${asRange.kind === 'cidr' ? 'CIDR' : 'range'}; a VIP is one address`, `Write ${key} as a single address, e.g. ${formatIp({ family: asRange.range.family, value: asRange.range.first })}.`, [v]);
      return undefined;
    }
    return addressAt(r, site, v, key);
  };
  const cpVip = vip('controlPlaneVIP');
  const ingressVip = vip('ingressVIP');
  for (const [key, ip] of [['controlPlaneVIP', cpVip], ['ingressVIP', ingressVip]] as const) {
    if (!ip) continue;
    const clash = nodes.find((n) => n.ip.family === ip.family && n.ip.value === ip.value);
    if (clash) {
      r.add('VipIsNodeAddress', at(...lbPath, 'vips', key), `${key} ${formatIp(ip)} is the ${clash.field} of ${ROLE_TEXT[clash.role]} (${pathText(clash.site)})`,
        `Pick an unused address on the nodes' subnet for ${key}; a VIP must not belong to any machine.`, [formatIp(ip)]);
    }
  }
  if (cpVip && ingressVip && cpVip.family === ingressVip.family && cpVip.value === ingressVip.value) {
    r.add('VipsEqual', at(...lbPath, 'vips', 'ingressVIP'), `ingressVIP and controlPlaneVIP are both ${formatIp(cpVip)}`, 'Give the ingress its own address from an address pool.', [formatIp(cpVip)]);
  }
  const clusterType = get(c, 'spec', 'type');
  if (clusterType === 'admin' && get(lb, 'vips', 'ingressVIP') !== undefined) {
    r.add('IngressVipOnAdminCluster', at(...lbPath, 'vips', 'ingressVIP'), 'an admin cluster runs no ingress, so it takes no ingressVIP',
      'Remove vips.ingressVIP, or change spec.type to hybrid, standalone or user.', [get(lb, 'vips', 'ingressVIP')], 'key');
  }

  // Address pools.
  const entries: PoolEntry[] = [];
  let poolErrors = false;
  const seenNames = new Map<string, Site>();
  arr(get(lb, 'addressPools')).forEach((pool, p) => {
    const poolName = get(pool, 'name');
    const label = typeof poolName === 'string' ? poolName : `#${p}`;
    if (typeof poolName === 'string' && !isPlaceholder(poolName)) {
      const site = at(...lbPath, 'addressPools', p, 'name');
      if (!DNS_LABEL.test(poolName)) {
        r.add('InvalidName', site, `pool name "${poolName}" is not a DNS label`, 'Use lower-case letters, digits and "-" (at most 63, starting and ending with a letter or digit).', [poolName]);
      }
      const first = seenNames.get(poolName);
      if (first) r.add('DuplicatePoolName', site, `pool name "${poolName}" is already used by ${pathText(first)}`, 'Give every address pool its own name.', [poolName]);
      else seenNames.set(poolName, site);
    }
    if (!Array.isArray(get(pool, 'addresses'))) poolErrors = true;
    arr(get(pool, 'addresses')).forEach((a, k) => {
      if (typeof a !== 'string' || isPlaceholder(a)) { poolErrors = true; return; }
      const site = at(...lbPath, 'addressPools', p, 'addresses', k);
      const parsed = parsePoolEntry(a);
      if (!parsed.ok) {
        poolErrors = true;
        r.add('InvalidPoolAddress', site, `${pathText(site)}: ${parsed.reason}`, 'Write a CIDR like 198.51.100.0/28 or a range like 198.51.100.10-198.51.100.20 (no spaces).', [a]);
        return;
      }
      const clash = entries.find((e) => rangesOverlap(e.range, parsed.range));
      if (clash) {
        r.add('PoolOverlap', site, `${a} (pool "${label}") overlaps ${clash.text} (pool "${clash.pool}", ${pathText(clash.site)})`,
          'Make every address belong to one pool entry only: shrink or remove one of the two.', [a, clash.text]);
      }
      entries.push({ pool: label, range: parsed.range, text: a, site });
    });
  });
  const poolOf = (ip: ParsedIp) => entries.find((e) => rangeContains(e.range, ip));
  if (cpVip) {
    const e = poolOf(cpVip);
    if (e) {
      r.add('VipInPool', at(...lbPath, 'vips', 'controlPlaneVIP'), `controlPlaneVIP ${formatIp(cpVip)} is inside address pool "${e.pool}" (${e.text})`,
        'Pick a controlPlaneVIP outside every address pool, or shrink the pool, so no Service can be given the API server address.', [formatIp(cpVip), e.text]);
    }
  }
  if (ingressVip && !poolErrors && !poolOf(ingressVip)) {
    r.add('IngressVipNotInPool', at(...lbPath, 'vips', 'ingressVIP'), `ingressVIP ${formatIp(ingressVip)} is not inside any address pool`,
      'Add the ingressVIP to an address pool (or pick an address from one).', [formatIp(ingressVip)]);
  }
  for (const n of nodes) {
    const e = poolOf(n.ip);
    if (e) {
      r.add('PoolContainsNodeAddress', e.site, `pool "${e.pool}" entry ${e.text} contains ${formatIp(n.ip)}, the ${n.field} of ${ROLE_TEXT[n.role]} (${pathText(n.site)})`,
        'Keep node addresses out of address pools, or Services would be given a machine\'s address.', [e.text, formatIp(n.ip)]);
    }
  }

  // Cluster network: pools and VIPs must not overlap pod or Service CIDRs.
  for (const kind of ['pods', 'services'] as const) {
    arr(get(c, 'spec', 'clusterNetwork', kind, 'cidrBlocks')).forEach((b, k) => {
      if (typeof b !== 'string' || isPlaceholder(b)) return;
      const site = at('spec', 'clusterNetwork', kind, 'cidrBlocks', k);
      const parsed = parsePoolEntry(b);
      if (!parsed.ok || parsed.kind !== 'cidr') {
        r.add('InvalidAddress', site, `${pathText(site)} "${b}" is not a CIDR${parsed.ok ? '' : `: ${parsed.reason}`}`, 'Write a CIDR like 192.168.0.0/16.', [b]);
        return;
      }
      for (const e of entries) {
        if (rangesOverlap(e.range, parsed.range)) {
          r.add('ClusterNetworkOverlap', e.site, `pool "${e.pool}" entry ${e.text} overlaps the ${kind} CIDR ${b}`, `Use addresses outside the cluster's ${kind} CIDR for the pool.`, [e.text, b]);
        }
      }
      for (const [key, ip] of [['controlPlaneVIP', cpVip]] as const) {
        if (ip && rangeContains(parsed.range, ip)) {
          r.add('ClusterNetworkOverlap', at(...lbPath, 'vips', key), `${key} ${formatIp(ip)} is inside the ${kind} CIDR ${b}`, `Pick a ${key} on the nodes' network, outside the ${kind} CIDR.`, [formatIp(ip), b]);
        }
      }
    });
  }

  // BGP.
  const mode = get(lb, 'mode');
  const type = get(lb, 'type');
  if (type === 'bgp') {
    if (mode === 'manual') {
      r.add('BgpRequiresBundled', at(...lbPath, 'type'), 'type: bgp needs mode: bundled (a manual load balancer announces nothing)', 'Set loadBalancer.mode to bundled, or remove loadBalancer.type.', [type, mode]);
    }
    if (get(lb, 'localASN') === undefined) {
      r.add('BgpFieldsMissing', at(...lbPath, 'localASN'), 'type: bgp needs loadBalancer.localASN', 'Add loadBalancer.localASN (the cluster\'s autonomous system number, e.g. 65001).');
    }
    if (arr(get(lb, 'bgpPeers')).length === 0) {
      r.add('BgpFieldsMissing', at(...lbPath, 'bgpPeers'), 'type: bgp needs at least one entry in loadBalancer.bgpPeers', 'Add loadBalancer.bgpPeers with the ip and asn of each router.');
    }
  }
  const cpAddresses = nodes.filter((n) => n.role === 'controlPlane');
  arr(get(lb, 'bgpPeers')).forEach((peer, p) => {
    addressAt(r, at(...lbPath, 'bgpPeers', p, 'ip'), get(peer, 'ip'), 'the peer ip');
    arr(get(peer, 'controlPlaneNodes')).forEach((n, k) => {
      const site = at(...lbPath, 'bgpPeers', p, 'controlPlaneNodes', k);
      const ip = addressAt(r, site, n, 'a control-plane node address');
      if (ip && !cpAddresses.some((x) => x.ip.family === ip.family && x.ip.value === ip.value)) {
        r.add('BgpPeerNodeUnknown', site, `${formatIp(ip)} is not a control-plane node address`, 'List addresses from spec.controlPlane.nodePoolSpec.nodes.', [formatIp(ip)]);
      }
    });
  });

  // bmlb tunables.
  const bm = get(lb, 'bmlb');
  const advert = num(get(bm, 'vrrp', 'advertIntervalMs'));
  if (advert !== undefined && advert >= 10 && advert <= 25500 && advert % 10 !== 0) {
    r.add('AdvertIntervalStep', at(...lbPath, 'bmlb', 'vrrp', 'advertIntervalMs'), `advertIntervalMs ${advert} is not a multiple of 10 (keepalived counts in centiseconds)`,
      `Use ${Math.round(advert / 10) * 10}.`, [advert]);
  }
  const hb = num(get(bm, 'speaker', 'heartbeatIntervalMs')) ?? DEFAULT_SPEAKER.heartbeatIntervalMs;
  const ft = num(get(bm, 'speaker', 'failureTimeoutMs')) ?? DEFAULT_SPEAKER.failureTimeoutMs;
  if (ft < MIN_HEARTBEATS_PER_TIMEOUT * hb) {
    const explicit = get(bm, 'speaker', 'failureTimeoutMs') !== undefined;
    r.add('FailureTimeoutTooShort', at(...lbPath, 'bmlb', 'speaker', explicit ? 'failureTimeoutMs' : 'heartbeatIntervalMs'),
      `failureTimeoutMs ${ft} is shorter than ${MIN_HEARTBEATS_PER_TIMEOUT} heartbeats of ${hb} ms; one lost packet would fail a live node over`,
      `Set failureTimeoutMs to at least ${MIN_HEARTBEATS_PER_TIMEOUT * hb}, or lower heartbeatIntervalMs.`, [ft, hb]);
  }
  const ports: [string, number, Site][] = [];
  const lbPort = num(get(lb, 'ports', 'controlPlaneLBPort')) ?? DEFAULT_CONTROL_PLANE_LB_PORT;
  ports.push(['controlPlaneLBPort', lbPort, at(...lbPath, 'ports', 'controlPlaneLBPort')]);
  ports.push(['memberPort', num(get(bm, 'speaker', 'memberPort')) ?? DEFAULT_SPEAKER.memberPort, at(...lbPath, 'bmlb', 'speaker', 'memberPort')]);
  ports.push(['metricsPort', num(get(bm, 'speaker', 'metricsPort')) ?? DEFAULT_SPEAKER.metricsPort, at(...lbPath, 'bmlb', 'speaker', 'metricsPort')]);
  for (let j = 1; j < ports.length; j++) {
    for (let i = 0; i < j; i++) {
      if (ports[i]![1] === ports[j]![1]) {
        r.add('PortConflict', ports[j]![2], `${ports[j]![0]} ${ports[j]![1]} is also the ${ports[i]![0]}; both listen on the LB nodes`, `Choose a different ${ports[j]![0]}.`, [ports[j]![1]]);
      }
    }
  }
  const versions = get(bm, 'versions');
  if (isObj(versions)) {
    for (const [k, v] of Object.entries(versions)) {
      if (typeof v === 'string' && !isPlaceholder(v) && !VERSION.test(v)) {
        r.add('InvalidVersion', at(...lbPath, 'bmlb', 'versions', k), `version "${v}" of ${k} is not a version string`, 'Write a version like 2.2.7 (letters, digits, ".", "-", "+", "_").', [v]);
      }
    }
  }
  return r.errors;
}

