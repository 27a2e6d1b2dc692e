import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { diffForUpdate } from '../../../src/config/update-diff.js';
import { describeRefused, invalidatedAllocations, planUpdate } from '../../../src/provision/update/update-plan.js';
import { clone, labCluster } from './fixtures.js';

function svc(name: string, ip: string, annotations: Record<string, string> = {}): V1Service {
  return {
    metadata: { name, namespace: 'default', annotations },
    spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' },
    status: { loadBalancer: { ingress: [{ ip }] } },
  };
}

describe('update plan', () => {
  it('GIVEN a new pool THEN only the speaker config changes (no node files, no labels)', () => {
    const a = labCluster();
    const d = clone(a);
    d.loadBalancer.addressPools.push({ name: 'pool-3', addresses: ['203.0.113.64/28'], avoidBuggyIPs: false, manualAssign: false });
    const diff = diffForUpdate(a, d);
    assert.deepEqual(diff.refused, []);
    const p = planUpdate(a, d, diff);
    assert.deepEqual(Object.keys(p.targets), ['speakerConfig']);
    assert.deepEqual(p.labels, { add: [], remove: [] });
  });

  it('GIVEN a VRRP tunable THEN node files change; a speaker port THEN the objects change too', () => {
    const a = labCluster();
    const d = clone(a);
    d.loadBalancer.bmlb.vrrp.advertIntervalMs = 300;
    d.loadBalancer.bmlb.speaker.metricsPort = 7600;
    const p = planUpdate(a, d, diffForUpdate(a, d));
    assert.deepEqual(p.targets.nodeFiles, ['spec.loadBalancer.bmlb.vrrp.advertIntervalMs']);
    assert.deepEqual(p.targets.clusterObjects, ['spec.loadBalancer.bmlb.speaker.metricsPort']);
    assert.deepEqual(p.targets.speakerConfig, ['spec.loadBalancer.bmlb.speaker.metricsPort']);
  });

  it('GIVEN an LB node removed and one added THEN node files, speaker config and labels change', () => {
    const a = labCluster();
    const d = clone(a);
    d.loadBalancer.nodes = [...d.loadBalancer.nodes.slice(0, 2), { address: '198.51.100.24', k8sIP: '198.51.100.24' }];
    const p = planUpdate(a, d, diffForUpdate(a, d));
    assert.ok(p.targets.nodeFiles?.length);
    assert.ok(p.targets.speakerConfig?.length);
    assert.deepEqual(p.labels, { add: ['198.51.100.24'], remove: [a.loadBalancer.nodes[2]!.k8sIP] });
  });

  it('GIVEN a pool\'s addresses changed THEN refused, described with path, old and new value', () => {
    const a = labCluster();
    const d = clone(a);
    d.loadBalancer.addressPools[0]!.addresses = ['198.51.100.200-198.51.100.250'];
    const lines = describeRefused(diffForUpdate(a, d));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^spec\.loadBalancer\.addressPools\[0\]\.addresses: \["198\.51\.100\.200-198\.51\.100\.239"\] → \["198\.51\.100\.200-198\.51\.100\.250"\]/);
  });

  it('GIVEN avoidBuggyIPs turned on WHEN a Service holds x.x.x.0 THEN it is reported (kept, not moved); other Services are not', () => {
    const a = labCluster();
    a.loadBalancer.addressPools.push({ name: 'zero', addresses: ['203.0.113.0/28'], avoidBuggyIPs: false, manualAssign: false });
    const d = clone(a);
    d.loadBalancer.addressPools[2]!.avoidBuggyIPs = true;
    const services = [svc('zero', '203.0.113.0'), svc('web', '198.51.100.201'), svc('one', '203.0.113.1')];
    const inv = invalidatedAllocations(services, a, d, 'gke-system/istio-ingress');
    assert.deepEqual(inv.map((i) => i.service), ['default/zero']);
    assert.deepEqual(inv[0]!.ips, ['203.0.113.0']);
  });

  it('GIVEN manualAssign turned on WHEN Services hold auto-assigned IPs of that pool THEN those are reported, requested ones are not', () => {
    const a = labCluster();
    const d = clone(a);
    d.loadBalancer.addressPools[0]!.manualAssign = true;
    const inv = invalidatedAllocations([svc('web', '198.51.100.201'), svc('asked', '198.51.100.202', { 'metallb.io/address-pool': 'pool-1' })], a, d, 'gke-system/istio-ingress');
    assert.deepEqual(inv.map((i) => i.service), ['default/web']);
    assert.match(inv[0]!.reason, /manualAssign/);
  });

  it('GIVEN nothing relevant changed THEN nothing is reported', () => {
    const a = labCluster();
    assert.deepEqual(invalidatedAllocations([svc('web', '198.51.100.201')], a, clone(a), 'gke-system/istio-ingress'), []);
  });
});

describe('admission mode change', () => {
  it('GIVEN admission switched from webhook to policy THEN the webhook configuration is stale, the policy objects are not', async () => {
    const { staleGuards } = await import('../../../src/provision/update/update-cluster.js');
    const { guardedManifests } = await import('../../../src/provision/update/ownership-install.js');
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { REPO } = await import('./fixtures.js');
    const ca = readFileSync(join(REPO, 'test', 'fixtures', 'render', 'webhook-ca.pem'), 'utf8');
    const c = labCluster();
    c.loadBalancer.bmlb.admission = 'policy';
    const policy = guardedManifests(c, { installerUsername: 'bmlb-installer', webhookCA: ca }).manifests;
    assert.deepEqual(staleGuards(policy).map((s) => s.ref), ['ValidatingWebhookConfiguration bmlb-config-guard']);
    c.loadBalancer.bmlb.admission = 'webhook';
    const hook = guardedManifests(c, { installerUsername: 'bmlb-installer', webhookCA: ca }).manifests;
    assert.deepEqual(staleGuards(hook).map((s) => s.ref), ['ValidatingAdmissionPolicyBinding bmlb-config-guard', 'ValidatingAdmissionPolicy bmlb-config-guard']);
    c.loadBalancer.bmlb.admission = 'both';
    assert.deepEqual(staleGuards(guardedManifests(c, { installerUsername: 'bmlb-installer', webhookCA: ca }).manifests), []);
  });
});

describe('rolling node updates', () => {
  it('GIVEN three LB nodes, the second holding the VIP THEN the holder is updated last, the others in file order', async () => {
    const { rollOrder } = await import('../../../src/provision/update/node-roll.js');
    const iface = (addrs: string[]) => [{ name: 'eth0', addrs: addrs.map((a) => ({ family: 4, local: a, prefixlen: 24 })) }];
    const facts: any = {
      '198.51.100.21': { interfaces: iface(['198.51.100.21']) },
      '198.51.100.22': { interfaces: iface(['198.51.100.22', '198.51.100.10']) },
      '198.51.100.23': { interfaces: iface(['198.51.100.23']) },
    };
    assert.deepEqual(rollOrder(['198.51.100.21', '198.51.100.22', '198.51.100.23'], facts, '198.51.100.10'), ['198.51.100.21', '198.51.100.23', '198.51.100.22']);
    assert.deepEqual(rollOrder(['198.51.100.21', '198.51.100.23'], facts, '198.51.100.10'), ['198.51.100.21', '198.51.100.23']);
  });
});
