/**
 * What `bmlb update cluster` may change on a running cluster: a pure comparison of the applied
 * configuration with the desired one, split into allowed and refused field changes.
 *
 * Rules: address pools may be added, never removed; a pool's name and addresses, node k8sIPs,
 * mode, type, the VIPs, the control-plane LB port and localASN are immutable; avoidBuggyIPs,
 * manualAssign, the node lists (adding/removing control-plane and LB nodes, their SSH addresses),
 * loginUser, BGP peers and
 * the bmlb vrrp/speaker tunables and admission mode are mutable; component versions change only
 * through `bmlb upgrade cluster`. The cluster's name/namespace identify it and cannot change.
 */
import type { ClusterConfig, NodeSpec } from './model.js';

export interface FieldChange {
  path: string;
  old: unknown;
  new: unknown;
  kind: 'added' | 'removed' | 'changed';
  reason?: string;
}

export interface UpdateDiff {
  allowed: FieldChange[];
  refused: FieldChange[];
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const IMMUTABLE = 'immutable once the cluster exists; recreate the cluster (bmlb reset cluster, then create cluster) to change it';

export function diffForUpdate(applied: ClusterConfig, desired: ClusterConfig): UpdateDiff {
  const allowed: FieldChange[] = [];
  const refused: FieldChange[] = [];
  const cmp = (path: string, a: unknown, b: unknown, refuseReason?: string) => {
    if (same(a, b)) return;
    const kind = a === undefined ? 'added' : b === undefined ? 'removed' : 'changed';
    const change: FieldChange = { path, old: a, new: b, kind };
    if (refuseReason) refused.push({ ...change, reason: refuseReason });
    else allowed.push(change);
  };
  const a = applied.loadBalancer;
  const d = desired.loadBalancer;

  cmp('metadata.name', applied.name, desired.name, 'the cluster name identifies the cluster; it cannot change');
  cmp('metadata.namespace', applied.namespace, desired.namespace, 'the cluster namespace identifies the cluster; it cannot change');
  cmp('spec.type', applied.clusterType, desired.clusterType, IMMUTABLE);
  cmp('spec.loadBalancer.mode', a.mode, d.mode, IMMUTABLE);
  cmp('spec.loadBalancer.type', a.type, d.type, IMMUTABLE);
  cmp('spec.loadBalancer.ports.controlPlaneLBPort', a.controlPlaneLBPort, d.controlPlaneLBPort, IMMUTABLE);
  cmp('spec.loadBalancer.vips.controlPlaneVIP', a.controlPlaneVIP, d.controlPlaneVIP, IMMUTABLE);
  cmp('spec.loadBalancer.vips.ingressVIP', a.ingressVIP, d.ingressVIP, IMMUTABLE);
  cmp('spec.nodeAccess.loginUser', applied.loginUser, desired.loginUser);

  // Address pools, matched by name.
  const desiredPools = new Map(d.addressPools.map((p, i) => [p.name, { p, i }]));
  a.addressPools.forEach((old, i) => {
    const path = `spec.loadBalancer.addressPools[${i}]`;
    const now = desiredPools.get(old.name);
    if (!now) {
      refused.push({ path, old, new: undefined, kind: 'removed', reason: `address pool "${old.name}" cannot be removed: Services may hold its addresses; pools may only be added` });
      return;
    }
    cmp(`${path}.addresses`, old.addresses, now.p.addresses, `the addresses of pool "${old.name}" are ${IMMUTABLE}; add a new pool for more addresses`);
    cmp(`${path}.avoidBuggyIPs`, old.avoidBuggyIPs, now.p.avoidBuggyIPs);
    cmp(`${path}.manualAssign`, old.manualAssign, now.p.manualAssign);
  });
  const oldNames = new Set(a.addressPools.map((p) => p.name));
  d.addressPools.forEach((p, i) => {
    if (!oldNames.has(p.name)) allowed.push({ path: `spec.loadBalancer.addressPools[${i}]`, old: undefined, new: p, kind: 'added' });
  });

  // Nodes: identified by their cluster address (k8sIP). Nodes may be added and removed (HAProxy
  // backends, keepalived peers and speaker candidates follow); a node keeping its k8sIP may change
  // its SSH address. A node keeping its SSH address but changing its k8sIP is refused: the
  // Kubernetes Node is found by that address.
  const nodes = (path: string, olds: NodeSpec[], news: NodeSpec[]) => {
    const byK8s = new Map(news.map((n, i) => [n.k8sIP, { n, i }]));
    const matchedNew = new Set<number>();
    const unmatchedOld: { o: NodeSpec; i: number }[] = [];
    olds.forEach((o, i) => {
      const n = byK8s.get(o.k8sIP);
      if (!n) { unmatchedOld.push({ o, i }); return; }
      matchedNew.add(n.i);
      cmp(`${path}[${n.i}].address`, o.address, n.n.address);
    });
    for (const { o, i } of unmatchedOld) {
      const j = news.findIndex((n, k) => !matchedNew.has(k) && n.address === o.address);
      if (j >= 0) {
        matchedNew.add(j);
        refused.push({ path: `${path}[${j}].k8sIP`, old: o.k8sIP, new: news[j]!.k8sIP, kind: 'changed', reason: `the k8sIP of node ${o.address} is ${IMMUTABLE}; remove the node and add it again instead` });
      } else {
        allowed.push({ path: `${path}[${i}]`, old: o, new: undefined, kind: 'removed' });
      }
    }
    news.forEach((n, i) => {
      if (!matchedNew.has(i)) allowed.push({ path: `${path}[${i}]`, old: undefined, new: n, kind: 'added' });
    });
  };
  nodes('spec.controlPlane.nodePoolSpec.nodes', applied.controlPlane.nodes, desired.controlPlane.nodes);
  if (a.nodesFromControlPlane !== d.nodesFromControlPlane) {
    cmp('spec.loadBalancer.nodePoolSpec', a.nodesFromControlPlane ? undefined : a.nodes, d.nodesFromControlPlane ? undefined : d.nodes,
      'moving the load balancer between the control-plane nodes and a separate LB node pool needs a new cluster');
  } else if (!a.nodesFromControlPlane) {
    nodes('spec.loadBalancer.nodePoolSpec.nodes', a.nodes, d.nodes);
    if (d.nodes.length === 0) refused.push({ path: 'spec.loadBalancer.nodePoolSpec.nodes', old: a.nodes, new: d.nodes, kind: 'changed', reason: 'at least one LB node must remain' });
  }

  // BGP (mutable peers; localASN is the cluster's identity towards the routers: immutable).
  cmp('spec.loadBalancer.localASN', a.localASN, d.localASN, IMMUTABLE);
  cmp('spec.loadBalancer.bgpPeers', a.bgpPeers, d.bgpPeers);

  // bmlb tunables.
  for (const k of Object.keys({ ...a.bmlb.vrrp, ...d.bmlb.vrrp }) as (keyof typeof a.bmlb.vrrp)[]) {
    cmp(`spec.loadBalancer.bmlb.vrrp.${k}`, a.bmlb.vrrp[k], d.bmlb.vrrp[k]);
  }
  for (const k of Object.keys({ ...a.bmlb.speaker, ...d.bmlb.speaker }) as (keyof typeof a.bmlb.speaker)[]) {
    cmp(`spec.loadBalancer.bmlb.speaker.${k}`, a.bmlb.speaker[k], d.bmlb.speaker[k]);
  }
  cmp('spec.loadBalancer.bmlb.admission', a.bmlb.admission, d.bmlb.admission);
  for (const k of Object.keys({ ...a.bmlb.versions, ...d.bmlb.versions }) as (keyof typeof a.bmlb.versions)[]) {
    cmp(`spec.loadBalancer.bmlb.versions.${k}`, a.bmlb.versions[k], d.bmlb.versions[k], 'use `bmlb upgrade cluster` to change component versions');
  }
  return { allowed, refused };
}
