/**
 * buildStatusReport: the verdicts of `bmlb status` from gathered facts, story by story.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type StatusFacts, buildStatusReport, formatStatus, table } from '../../../src/status/status-report.js';

function healthyFacts(): StatusFacts {
  return {
    cluster: 'lab',
    api: { kubeconfig: '/ws/lab-kubeconfig', via: 'vip' },
    controlPlaneVIP: '198.51.100.10',
    controlPlaneLBPort: 443,
    ingressVIP: '198.51.100.200',
    pools: [
      { name: 'pool-1', addresses: ['198.51.100.200-198.51.100.239'], avoidBuggyIPs: false, manualAssign: false },
      { name: 'pool-2', addresses: ['198.51.100.240/29'], avoidBuggyIPs: false, manualAssign: true },
    ],
    vipNodes: [
      { address: '198.51.100.21', k8sIP: '198.51.100.21', state: { kind: 'holds', iface: 'eth0' } },
      { address: '198.51.100.22', k8sIP: '198.51.100.22', state: { kind: 'free' } },
    ],
    vipAnswering: true,
    nodes: [
      { name: 'cp1', internalIPs: ['198.51.100.11'] },
      { name: 'lb1', internalIPs: ['198.51.100.21'] },
      { name: 'lb2', internalIPs: ['198.51.100.22'] },
    ],
    services: [
      { namespace: 'web', name: 'b', type: 'LoadBalancer', ips: ['198.51.100.201'], annotations: { 'bmlb.io/announcing-node': 'lb2', 'bmlb.io/address-pool': 'pool-1' }, externalTrafficPolicy: 'Local' },
      { namespace: 'web', name: 'a', type: 'LoadBalancer', ips: ['198.51.100.200'], annotations: { 'bmlb.io/announcing-node': 'lb1' }, externalTrafficPolicy: 'Cluster' },
      { namespace: 'default', name: 'kubernetes', type: 'ClusterIP', ips: [], annotations: {}, externalTrafficPolicy: 'Cluster' },
    ],
    speakerPods: [
      { name: 'bmlb-speaker-x', nodeName: 'lb1', ready: true, restarts: 0 },
      { name: 'bmlb-speaker-y', nodeName: 'lb2', ready: true, restarts: 2 },
    ],
    speakerMetrics: { lb1: { reachable: true, announcedIPs: 1 }, lb2: { reachable: true, announcedIPs: 1 } },
    controller: { found: true, replicas: 1, readyReplicas: 1 },
    announcingAnnotation: 'bmlb.io/announcing-node',
    poolAnnotation: 'bmlb.io/address-pool',
  };
}

describe('bmlb status report', () => {
  it('GIVEN a healthy cluster WHEN the report is built THEN it names the holder, every LB Service sorted, pool usage and speakers, and is healthy', () => {
    const r = buildStatusReport(healthyFacts());
    assert.deepEqual(r.problems, []);
    assert.equal(r.healthy, true);
    assert.equal(r.controlPlaneVIP.holder, 'lb1');
    assert.deepEqual(r.controlPlaneVIP.holders, ['lb1']);
    assert.equal(r.controlPlaneVIP.answering, true);
    assert.deepEqual(
      r.services.map((s) => [`${s.namespace}/${s.name}`, s.ips.join(','), s.pool, s.announcingNode, s.externalTrafficPolicy]),
      [
        ['web/a', '198.51.100.200', 'pool-1', 'lb1', 'Cluster'],
        ['web/b', '198.51.100.201', 'pool-1', 'lb2', 'Local'],
      ],
    );
    assert.deepEqual(r.pools, [
      { name: 'pool-1', size: 40, used: 2, available: 38 },
      { name: 'pool-2', size: 8, used: 0, available: 8 },
    ]);
    assert.deepEqual(
      r.speakers.map((s) => [s.node, s.podReady, s.restarts, s.metricsReachable, s.announcedIPs]),
      [
        ['lb1', true, 0, true, 1],
        ['lb2', true, 2, true, 1],
      ],
    );
    assert.deepEqual(r.controller, { ready: true, readyReplicas: 1, replicas: 1 });
  });

  it('GIVEN no node holds the VIP and nothing answers WHEN built THEN holder is "none" and both are problems', () => {
    const f = healthyFacts();
    f.vipNodes = f.vipNodes.map((n) => ({ ...n, state: { kind: 'free' } }));
    f.vipAnswering = false;
    const r = buildStatusReport(f);
    assert.equal(r.controlPlaneVIP.holder, 'none');
    assert.equal(r.healthy, false);
    assert.ok(r.problems.some((p) => /no LB node holds the control-plane VIP 198\.51\.100\.10/.test(p)), r.problems.join('\n'));
    assert.ok(r.problems.some((p) => /nothing answers on 198\.51\.100\.10:443/.test(p)));
  });

  it('GIVEN two nodes hold the VIP WHEN built THEN it reports a split brain naming both', () => {
    const f = healthyFacts();
    f.vipNodes = f.vipNodes.map((n) => ({ ...n, state: { kind: 'holds', iface: 'eth0' } }));
    const r = buildStatusReport(f);
    assert.deepEqual(r.controlPlaneVIP.holders, ['lb1', 'lb2']);
    assert.ok(r.problems.some((p) => /split brain/.test(p) && /lb1, lb2/.test(p)));
  });

  it('GIVEN an LB node unreachable over SSH WHEN built THEN it is listed with its error and the holder still comes from the others', () => {
    const f = healthyFacts();
    f.vipNodes[1] = { address: '198.51.100.22', k8sIP: '198.51.100.22', state: { kind: 'unreachable', error: 'ECONNREFUSED' } };
    const r = buildStatusReport(f);
    assert.equal(r.controlPlaneVIP.holder, 'lb1');
    assert.deepEqual(r.controlPlaneVIP.unreachableNodes, [{ node: 'lb2', error: 'ECONNREFUSED' }]);
    assert.ok(r.problems.some((p) => p === 'LB node lb2 cannot be reached over SSH: ECONNREFUSED'));
  });

  it('GIVEN a pending Service and one without an announcing node WHEN built THEN each is a problem and the pool comes from the IP when not annotated', () => {
    const f = healthyFacts();
    f.services.push({ namespace: 'x', name: 'pending', type: 'LoadBalancer', ips: [], annotations: {}, externalTrafficPolicy: 'Cluster' });
    f.services.push({ namespace: 'x', name: 'silent', type: 'LoadBalancer', ips: ['198.51.100.241'], annotations: {}, externalTrafficPolicy: 'Cluster' });
    const r = buildStatusReport(f);
    assert.ok(r.problems.includes('Service x/pending has no IP yet (see its Events)'));
    assert.ok(r.problems.includes('Service x/silent (198.51.100.241) is announced by no node'));
    assert.equal(r.services.find((s) => s.name === 'silent')?.pool, 'pool-2');
    assert.equal(r.pools.find((p) => p.name === 'pool-2')?.used, 1);
  });

  it('GIVEN two Services sharing one IP WHEN built THEN the pool counts the address once', () => {
    const f = healthyFacts();
    f.services.push({ namespace: 'web', name: 'a-udp', type: 'LoadBalancer', ips: ['198.51.100.200'], annotations: { 'bmlb.io/announcing-node': 'lb1' }, externalTrafficPolicy: 'Cluster' });
    assert.equal(buildStatusReport(f).pools.find((p) => p.name === 'pool-1')?.used, 2);
  });

  it('GIVEN an LB node without speaker pod, a not-ready speaker and unreachable metrics WHEN built THEN each is named', () => {
    const f = healthyFacts();
    f.vipNodes.push({ address: '198.51.100.23', k8sIP: '198.51.100.23', state: { kind: 'free' } });
    f.nodes.push({ name: 'lb3', internalIPs: ['198.51.100.23'] });
    f.speakerPods[1] = { name: 'bmlb-speaker-y', nodeName: 'lb2', ready: false, restarts: 7 };
    f.speakerMetrics.lb1 = { reachable: false, error: 'ECONNREFUSED' };
    const r = buildStatusReport(f);
    assert.ok(r.problems.includes('no speaker pod on LB node lb3'));
    assert.ok(r.problems.includes('speaker bmlb-speaker-y on lb2 is not ready'));
    assert.ok(r.problems.includes('speaker metrics on lb1 not reachable: ECONNREFUSED'));
    const lb3 = r.speakers.find((s) => s.node === 'lb3');
    assert.deepEqual(lb3, { node: 'lb3', podReady: false, pod: undefined, restarts: 0, metricsReachable: false, announcedIPs: undefined });
  });

  it('GIVEN no controller Deployment, or one with no ready replica WHEN built THEN the controller is not ready', () => {
    const f = healthyFacts();
    f.controller = { found: false, replicas: 0, readyReplicas: 0 };
    assert.ok(buildStatusReport(f).problems.includes('the controller Deployment does not exist'));
    f.controller = { found: true, replicas: 1, readyReplicas: 0 };
    const r = buildStatusReport(f);
    assert.equal(r.controller.ready, false);
    assert.ok(r.problems.includes('the controller is not ready (no ready replica)'));
  });

  it('GIVEN avoidBuggyIPs on a /24 WHEN built THEN the size leaves out .0 and .255', () => {
    const f = healthyFacts();
    f.pools = [{ name: 'big', addresses: ['203.0.113.0/24'], avoidBuggyIPs: true, manualAssign: false }];
    f.services = [];
    assert.deepEqual(buildStatusReport(f).pools, [{ name: 'big', size: 254, used: 0, available: 254 }]);
  });

  it('GIVEN a degraded report WHEN formatted THEN the tables carry the facts and the last lines say DEGRADED with each problem', () => {
    const f = healthyFacts();
    f.vipAnswering = false;
    const lines = formatStatus(buildStatusReport(f));
    const text = lines.join('\n');
    assert.match(text, /^CONTROL-PLANE VIP\s+HOLDER\s+ANSWERING\n198\.51\.100\.10:443\s+lb1\s+no$/m);
    assert.match(text, /^web\/b\s+198\.51\.100\.201\s+pool-1\s+lb2\s+Local$/m);
    assert.match(text, /^pool-1\s+40\s+2\s+38$/m);
    assert.match(text, /^lb2\s+yes\s+2\s+yes\s+1$/m);
    assert.match(text, /DEGRADED \(1 problem\):\n {2}- nothing answers on 198\.51\.100\.10:443$/);
    assert.equal(formatStatus(buildStatusReport(healthyFacts())).at(-1), 'Healthy.');
  });

  it('GIVEN rows of different widths WHEN tabulated THEN columns align and lines carry no trailing spaces', () => {
    assert.deepEqual(table(['A', 'BB'], [['xxx', 'y'], ['z', '']]), ['A    BB', 'xxx  y', 'z']);
  });
});
