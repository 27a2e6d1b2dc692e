import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import type { SpeakerConfig } from '../../../src/config/model.js';
import { rankCandidates } from '../../../src/speaker/election.js';
import {
  diffAnnouncements, lbNodeNames, nodeView, planAnnouncements, readyEndpointNodes, serviceView,
  type NodeView, type PlanInput, type ServiceView,
} from '../../../src/speaker/speaker-plan.js';

const ANN = 'bmlb.io/announcing-node';

const config: SpeakerConfig = {
  apiVersion: 'bmlb.io/v1',
  clusterName: 'lab',
  type: 'layer2',
  controlPlaneVIP: '198.51.100.10',
  addressPools: [
    { name: 'pool-1', addresses: ['198.51.100.200-198.51.100.239'], avoidBuggyIPs: false, manualAssign: false },
    { name: 'pool-v6', addresses: ['2001:db8:100::200-2001:db8:100::2ff'], avoidBuggyIPs: false, manualAssign: false },
  ],
  lbNodes: [
    { address: '198.51.100.21', k8sIP: '198.51.100.21' },
    { address: '198.51.100.22', k8sIP: '198.51.100.22' },
    { address: '198.51.100.23', k8sIP: '198.51.100.23' },
  ],
  speaker: { heartbeatIntervalMs: 50, failureTimeoutMs: 250, garpRepeat: 3, memberPort: 7946, metricsPort: 7472 },
  bgpPeers: [],
};

const nodes: NodeView[] = [
  { name: 'lb1', internalIPs: ['198.51.100.21'] },
  { name: 'lb2', internalIPs: ['198.51.100.22'] },
  { name: 'lb3', internalIPs: ['198.51.100.23'] },
  { name: 'cp1', internalIPs: ['198.51.100.11'] },
];
const ALL = ['lb1', 'lb2', 'lb3'];

const svc = (key: string, ips: string[], policy: 'Cluster' | 'Local' = 'Cluster', announcingNode?: string): ServiceView =>
  ({ key, ips, policy, ...(announcingNode ? { announcingNode } : {}) });

function input(over: Partial<PlanInput>): PlanInput {
  return { config, self: 'lb1', nodes, services: [], readyEndpointNodes: new Map(), liveMembers: ALL, ...over };
}

/** Which node each speaker's plan says announces `ip` (run the plan from every node's view). */
function announcers(over: Partial<PlanInput>, ip: string): string[] {
  return ALL.filter((self) => planAnnouncements(input({ ...over, self })).announce.includes(ip));
}

test('GIVEN three live LB nodes and one Service IP WHEN every speaker plans THEN exactly the first-ranked node announces it', () => {
  const services = [svc('default/web', ['198.51.100.200'])];
  const expected = rankCandidates('198.51.100.200', ALL)[0];
  assert.deepEqual(announcers({ services }, '198.51.100.200'), [expected]);
});

test('GIVEN the winner dies WHEN the live set shrinks THEN the next-ranked node announces and only it', () => {
  const services = [svc('default/web', ['198.51.100.200'])];
  const [first, second] = rankCandidates('198.51.100.200', ALL);
  const live = ALL.filter((n) => n !== first);
  assert.deepEqual(announcers({ services, liveMembers: live }, '198.51.100.200'), [second]);
});

test('GIVEN many Services WHEN planned THEN they spread over the LB nodes', () => {
  const services = Array.from({ length: 30 }, (_, i) => svc(`default/s${i}`, [`198.51.100.${200 + i}`]));
  const per = ALL.map((self) => planAnnouncements(input({ services, self })).announce.length);
  assert.equal(per.reduce((a, b) => a + b, 0), 30, 'every IP has exactly one announcer');
  assert.ok(per.every((n) => n > 0), `spread ${per.join('/')}`);
});

test('GIVEN policy Local with endpoints only on lb3 WHEN planned THEN lb3 announces; with no endpoint nobody does', () => {
  const services = [svc('default/local', ['198.51.100.201'], 'Local')];
  assert.deepEqual(announcers({ services, readyEndpointNodes: new Map([['default/local', ['lb3', 'worker9']]]) }, '198.51.100.201'), ['lb3']);
  assert.deepEqual(announcers({ services, readyEndpointNodes: new Map() }, '198.51.100.201'), []);
  const plan = planAnnouncements(input({ services }));
  assert.deepEqual(plan.ips[0]?.decision, { announce: false, reason: 'noCandidates' });
});

test('GIVEN an IP outside every pool WHEN planned THEN nobody announces it and the reason says so', () => {
  const services = [svc('default/odd', ['198.51.100.9'])];
  assert.deepEqual(announcers({ services }, '198.51.100.9'), []);
  const plan = planAnnouncements(input({ services }));
  assert.deepEqual(plan.ips, [{ ip: '198.51.100.9', services: ['default/odd'], decision: { announce: false, reason: 'notInAnyPool' } }]);
});

test('GIVEN this node is not an LB node WHEN planned THEN it announces nothing', () => {
  const services = [svc('default/web', ['198.51.100.200'])];
  const plan = planAnnouncements(input({ services, self: 'cp1' }));
  assert.equal(plan.selfIsLbNode, false);
  assert.deepEqual(plan.announce, []);
  assert.deepEqual(plan.ips[0]?.decision, { announce: false, reason: 'selfNotLbNode' });
});

test('GIVEN membership reports a node that is not an LB node WHEN planned THEN it is no candidate', () => {
  const services = [svc('default/web', ['198.51.100.200'])];
  const plan = planAnnouncements(input({ services, liveMembers: ['lb1', 'cp1'] }));
  assert.deepEqual(plan.liveLbNodes, ['lb1']);
  assert.deepEqual(plan.announce, ['198.51.100.200']);
});

test('GIVEN a dual-stack Service WHEN planned THEN both its IPs go to the same node', () => {
  const services = [svc('default/dual', ['198.51.100.210', '2001:db8:100::210'])];
  const a4 = announcers({ services }, '198.51.100.210');
  const a6 = announcers({ services }, '2001:db8:100::210');
  assert.equal(a4.length, 1);
  assert.deepEqual(a6, a4);
  assert.deepEqual(a4, [rankCandidates('198.51.100.210', ALL)[0]]);
});

test('GIVEN two Services sharing an IP, one Local WHEN planned THEN one node announces it, one with a ready endpoint', () => {
  const services = [svc('b/http', ['198.51.100.220'], 'Local'), svc('a/dns', ['198.51.100.220'], 'Cluster')];
  const ready = new Map([['b/http', ['lb2']]]);
  assert.deepEqual(announcers({ services, readyEndpointNodes: ready }, '198.51.100.220'), ['lb2']);
  const plan = planAnnouncements(input({ services, readyEndpointNodes: ready }));
  assert.deepEqual(plan.ips.map((p) => p.services), [['a/dns', 'b/http']]);
});

test('GIVEN this node is not live in membership WHEN planned THEN it announces nothing', () => {
  const services = [svc('default/web', ['198.51.100.200'])];
  assert.deepEqual(planAnnouncements(input({ services, liveMembers: ['lb2'] })).announce, []);
});

test('GIVEN announced and planned sets WHEN diffed THEN withdrawals come first and takeovers name the previous node', () => {
  const services = [svc('default/web', ['198.51.100.200'], 'Cluster', 'lb9'), svc('default/new', ['198.51.100.201'])];
  const plan = planAnnouncements(input({ services, liveMembers: ['lb1'] }));
  const changes = diffAnnouncements(['198.51.100.230'], plan, services, 'lb1');
  assert.deepEqual(changes, [
    { kind: 'withdraw', ip: '198.51.100.230' },
    { kind: 'announce', ip: '198.51.100.200', services: ['default/web'], takeoverFrom: 'lb9' },
    { kind: 'announce', ip: '198.51.100.201', services: ['default/new'] },
  ]);
  assert.deepEqual(diffAnnouncements(['198.51.100.200', '198.51.100.201'], plan, services, 'lb1'), []);
});

test('GIVEN Kubernetes objects WHEN viewed THEN only LoadBalancer Services of our class with ingress IPs count', () => {
  const base: V1Service = {
    metadata: { namespace: 'default', name: 'web', annotations: { [ANN]: 'lb2' } },
    spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local' },
    status: { loadBalancer: { ingress: [{ ip: '2001:DB8:100::0200' }, { ip: '198.51.100.200' }] } },
  };
  assert.deepEqual(serviceView(base, ANN), { key: 'default/web', ips: ['2001:db8:100::200', '198.51.100.200'], policy: 'Local', announcingNode: 'lb2' });
  assert.equal(serviceView({ ...base, spec: { type: 'ClusterIP' } }, ANN), undefined);
  assert.equal(serviceView({ ...base, spec: { type: 'LoadBalancer', loadBalancerClass: 'other.io/lb' } }, ANN), undefined);
  assert.ok(serviceView({ ...base, spec: { type: 'LoadBalancer', loadBalancerClass: 'bmlb.io/lb' } }, ANN));
  assert.equal(serviceView({ ...base, status: {} }, ANN), undefined);
});

test('GIVEN Nodes and EndpointSlices WHEN viewed THEN InternalIPs, LB nodes and ready endpoint nodes are read', () => {
  const node: V1Node = { metadata: { name: 'lb1' }, status: { addresses: [{ type: 'Hostname', address: 'lb1' }, { type: 'InternalIP', address: '198.51.100.21' }] } };
  assert.deepEqual(nodeView(node), { name: 'lb1', internalIPs: ['198.51.100.21'] });
  assert.deepEqual(lbNodeNames(config, nodes), ['lb1', 'lb2', 'lb3']);
  const slices: V1EndpointSlice[] = [
    {
      addressType: 'IPv4',
      metadata: { namespace: 'default', name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
      endpoints: [
        { addresses: ['203.0.113.5'], nodeName: 'lb2', conditions: { ready: true } },
        { addresses: ['203.0.113.6'], nodeName: 'lb3', conditions: { ready: false } },
        { addresses: ['203.0.113.7'], nodeName: 'lb1' },
        { addresses: ['203.0.113.8'], nodeName: 'lb3', conditions: { ready: true, terminating: true } },
      ],
    },
  ];
  assert.deepEqual(readyEndpointNodes(slices), new Map([['default/web', ['lb1', 'lb2']]]));
});

test('GIVEN the host\'s interfaces WHEN the one carrying the node\'s InternalIP is looked up THEN it is found by canonical address, never lo', async () => {
  const { interfaceWithAddress } = await import('../../../src/speaker/speaker.js');
  const info = (address: string, family: 'IPv4' | 'IPv6') => ({ address, family, netmask: '', mac: '00:00:00:00:00:00', internal: false, cidr: null }) as never;
  const ifaces = {
    lo: [info('127.0.0.1', 'IPv4'), info('198.51.100.21', 'IPv4')],
    eth0: [info('198.51.100.21', 'IPv4'), info('fe80::1%eth0', 'IPv6')],
    eth1: [info('2001:DB8:100::21', 'IPv6')],
  };
  assert.equal(interfaceWithAddress(ifaces, '198.51.100.21'), 'eth0');
  assert.equal(interfaceWithAddress(ifaces, '2001:db8:100::21'), 'eth1');
  assert.equal(interfaceWithAddress(ifaces, 'fe80::1'), 'eth0');
  assert.equal(interfaceWithAddress(ifaces, '198.51.100.99'), undefined);
});

test('GIVEN an election memo carried across plans WHEN live sets, endpoints and Services change THEN every plan equals the plan without it', async () => {
  const { newElectionMemo } = await import('../../../src/speaker/speaker-plan.js');
  const memo = newElectionMemo();
  const services = Array.from({ length: 40 }, (_, i) => svc(`default/s${i}`, [`198.51.100.${200 + (i % 40)}`], i % 5 === 0 ? 'Local' : 'Cluster'));
  // Consecutive steps share a live set (the memo is reused) or change it (the memo is emptied).
  const lives = [ALL, ALL, ['lb1', 'lb3'], ['lb1', 'lb3'], ['lb1'], ALL, ALL, ['lb1', 'lb2']];
  for (const self of ALL) {
    for (const [step, live] of lives.entries()) {
      const ready = new Map(services.filter((s) => s.policy === 'Local').map((s, i) => [s.key, [ALL[(i + step) % 3] as string]]));
      const subset = services.slice(0, 12 + step * 4);
      const plain = planAnnouncements(input({ services: subset, liveMembers: live, readyEndpointNodes: ready, self }));
      const memoed = planAnnouncements(input({ services: subset, liveMembers: live, readyEndpointNodes: ready, self, memo }));
      assert.deepEqual(memoed, plain, `self ${self} step ${step}`);
    }
  }
  assert.ok(memo.decisions.size > 0);
});
