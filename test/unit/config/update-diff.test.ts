import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseClusterFile } from '../../../src/config/parse.js';
import { diffForUpdate, type UpdateDiff } from '../../../src/config/update-diff.js';
import type { ClusterConfig } from '../../../src/config/model.js';

const labPath = new URL('../../../cluster-samples/lab.yaml', import.meta.url).pathname;
function lab(): ClusterConfig {
  const r = parseClusterFile(readFileSync(labPath, 'utf8'), labPath);
  assert.ok(r.ok);
  return r.config;
}

type Expect = { allowed?: string[]; refused?: string[]; refusedReason?: RegExp };
interface Row { name: string; change: (c: ClusterConfig) => void; expect: Expect }

const rows: Row[] = [
  { name: 'nothing changes', change: () => {}, expect: { allowed: [], refused: [] } },
  { name: 'a pool is added', change: (c) => { c.loadBalancer.addressPools.push({ name: 'pool-3', addresses: ['198.51.100.248/29'], avoidBuggyIPs: false, manualAssign: false }); }, expect: { allowed: ['spec.loadBalancer.addressPools[2]'], refused: [] } },
  { name: 'a pool is removed', change: (c) => { c.loadBalancer.addressPools.pop(); }, expect: { allowed: [], refused: ['spec.loadBalancer.addressPools[1]'], refusedReason: /cannot be removed/ } },
  { name: 'a pool is renamed', change: (c) => { c.loadBalancer.addressPools[1]!.name = 'pool-x'; }, expect: { allowed: ['spec.loadBalancer.addressPools[1]'], refused: ['spec.loadBalancer.addressPools[1]'] } },
  { name: "a pool's addresses change", change: (c) => { c.loadBalancer.addressPools[0]!.addresses = ['198.51.100.200-198.51.100.230']; }, expect: { allowed: [], refused: ['spec.loadBalancer.addressPools[0].addresses'], refusedReason: /immutable/ } },
  { name: 'avoidBuggyIPs flips', change: (c) => { c.loadBalancer.addressPools[0]!.avoidBuggyIPs = true; }, expect: { allowed: ['spec.loadBalancer.addressPools[0].avoidBuggyIPs'], refused: [] } },
  { name: 'manualAssign flips', change: (c) => { c.loadBalancer.addressPools[1]!.manualAssign = false; }, expect: { allowed: ['spec.loadBalancer.addressPools[1].manualAssign'], refused: [] } },
  { name: 'the mode changes', change: (c) => { c.loadBalancer.mode = 'manual'; }, expect: { allowed: [], refused: ['spec.loadBalancer.mode'] } },
  { name: 'the type changes', change: (c) => { c.loadBalancer.type = 'bgp'; }, expect: { allowed: [], refused: ['spec.loadBalancer.type'] } },
  { name: 'the controlPlaneLBPort changes', change: (c) => { c.loadBalancer.controlPlaneLBPort = 6443; }, expect: { allowed: [], refused: ['spec.loadBalancer.ports.controlPlaneLBPort'] } },
  { name: 'the controlPlaneVIP changes', change: (c) => { c.loadBalancer.controlPlaneVIP = '198.51.100.9'; }, expect: { allowed: [], refused: ['spec.loadBalancer.vips.controlPlaneVIP'] } },
  { name: 'the ingressVIP changes', change: (c) => { c.loadBalancer.ingressVIP = '198.51.100.201'; }, expect: { allowed: [], refused: ['spec.loadBalancer.vips.ingressVIP'] } },
  { name: 'the ingressVIP is removed', change: (c) => { delete c.loadBalancer.ingressVIP; }, expect: { allowed: [], refused: ['spec.loadBalancer.vips.ingressVIP'] } },
  { name: 'the cluster type changes', change: (c) => { c.clusterType = 'standalone'; }, expect: { allowed: [], refused: ['spec.type'] } },
  { name: 'the cluster is renamed', change: (c) => { c.name = 'other'; }, expect: { allowed: [], refused: ['metadata.name'] } },
  { name: 'the namespace changes', change: (c) => { c.namespace = 'cluster-other'; }, expect: { allowed: [], refused: ['metadata.namespace'] } },
  { name: 'an LB node is added', change: (c) => { c.loadBalancer.nodes.push({ address: '198.51.100.24', k8sIP: '198.51.100.24' }); }, expect: { allowed: ['spec.loadBalancer.nodePoolSpec.nodes[3]'], refused: [] } },
  { name: 'an LB node is removed', change: (c) => { c.loadBalancer.nodes.splice(1, 1); }, expect: { allowed: ['spec.loadBalancer.nodePoolSpec.nodes[1]'], refused: [] } },
  { name: 'every LB node is removed', change: (c) => { c.loadBalancer.nodes = []; }, expect: { refused: ['spec.loadBalancer.nodePoolSpec.nodes'] } },
  { name: "an LB node's SSH address changes (k8sIP kept)", change: (c) => { c.loadBalancer.nodes[0] = { address: '203.0.113.21', k8sIP: '198.51.100.21' }; }, expect: { allowed: ['spec.loadBalancer.nodePoolSpec.nodes[0].address'], refused: [] } },
  { name: "an LB node's k8sIP changes (address kept)", change: (c) => { c.loadBalancer.nodes[0] = { address: '198.51.100.21', k8sIP: '203.0.113.21' }; }, expect: { allowed: [], refused: ['spec.loadBalancer.nodePoolSpec.nodes[0].k8sIP'], refusedReason: /k8sIP/ } },
  { name: 'a control-plane node is added', change: (c) => { c.controlPlane.nodes.push({ address: '198.51.100.12', k8sIP: '198.51.100.12' }); }, expect: { allowed: ['spec.controlPlane.nodePoolSpec.nodes[1]'], refused: [] } },
  { name: "a control-plane node's k8sIP changes", change: (c) => { c.controlPlane.nodes[0]!.k8sIP = '203.0.113.11'; }, expect: { allowed: [], refused: ['spec.controlPlane.nodePoolSpec.nodes[0].k8sIP'] } },
  { name: 'the LB moves to the control plane', change: (c) => { c.loadBalancer.nodesFromControlPlane = true; c.loadBalancer.nodes = c.controlPlane.nodes.map((n) => ({ ...n })); }, expect: { allowed: [], refused: ['spec.loadBalancer.nodePoolSpec'] } },
  { name: 'loginUser changes', change: (c) => { c.loginUser = 'admin'; }, expect: { allowed: ['spec.nodeAccess.loginUser'], refused: [] } },
  { name: 'localASN changes', change: (c) => { c.loadBalancer.localASN = 65002; }, expect: { allowed: [], refused: ['spec.loadBalancer.localASN'] } },
  { name: 'BGP peers change', change: (c) => { c.loadBalancer.bgpPeers = [{ ip: '198.51.100.4', asn: 65000, controlPlaneNodes: [] }]; }, expect: { allowed: ['spec.loadBalancer.bgpPeers'], refused: [] } },
  ...(['advertIntervalMs', 'virtualRouterId', 'garpMasterRepeat'] as const).map((k): Row => ({ name: `vrrp.${k} changes`, change: (c) => { c.loadBalancer.bmlb.vrrp[k] += 10; }, expect: { allowed: [`spec.loadBalancer.bmlb.vrrp.${k}`], refused: [] } })),
  { name: 'vrrp.unicast flips', change: (c) => { c.loadBalancer.bmlb.vrrp.unicast = true; }, expect: { allowed: ['spec.loadBalancer.bmlb.vrrp.unicast'], refused: [] } },
  ...(['heartbeatIntervalMs', 'failureTimeoutMs', 'garpRepeat', 'memberPort', 'metricsPort'] as const).map((k): Row => ({ name: `speaker.${k} changes`, change: (c) => { c.loadBalancer.bmlb.speaker[k] += 1; }, expect: { allowed: [`spec.loadBalancer.bmlb.speaker.${k}`], refused: [] } })),
  { name: 'admission changes', change: (c) => { c.loadBalancer.bmlb.admission = 'both'; }, expect: { allowed: ['spec.loadBalancer.bmlb.admission'], refused: [] } },
  ...(['keepalived', 'haproxy', 'bmlb'] as const).map((k): Row => ({ name: `versions.${k} changes`, change: (c) => { c.loadBalancer.bmlb.versions[k] = '9.9.9'; }, expect: { allowed: [], refused: [`spec.loadBalancer.bmlb.versions.${k}`], refusedReason: /bmlb upgrade cluster/ } })),
];

for (const row of rows) {
  test(`GIVEN an applied cluster WHEN ${row.name} THEN diffForUpdate sorts the change correctly`, () => {
    const applied = lab();
    const desired = lab();
    row.change(desired);
    const d: UpdateDiff = diffForUpdate(applied, desired);
    if (row.expect.allowed) assert.deepEqual(d.allowed.map((c) => c.path).sort(), [...row.expect.allowed].sort(), 'allowed');
    if (row.expect.refused) assert.deepEqual(d.refused.map((c) => c.path).sort(), [...row.expect.refused].sort(), 'refused');
    for (const r of d.refused) assert.ok(r.reason && r.reason.length > 0, `refused ${r.path} has no reason`);
    if (row.expect.refusedReason) assert.ok(d.refused.some((r) => row.expect.refusedReason!.test(r.reason ?? '')), JSON.stringify(d.refused));
    // Applied is never modified.
    assert.deepEqual(applied, lab());
  });
}

test('GIVEN a change WHEN diffed THEN old and new values and the kind are reported', () => {
  const applied = lab();
  const desired = lab();
  desired.loadBalancer.bmlb.vrrp.advertIntervalMs = 100;
  const d = diffForUpdate(applied, desired);
  assert.deepEqual(d.allowed, [{ path: 'spec.loadBalancer.bmlb.vrrp.advertIntervalMs', old: 200, new: 100, kind: 'changed' }]);
});
