import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { planForwards, renderRuleset, renderTableRemoval } from '../../../src/lab/service-proxy/ruleset.js';

function svc(name: string, over: Partial<NonNullable<V1Service['spec']>> = {}, ingress: string[] = []): V1Service {
  return {
    metadata: { name, namespace: 'default' },
    spec: { type: 'LoadBalancer', clusterIP: '203.0.113.10', clusterIPs: ['203.0.113.10'], ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }], ...over },
    status: { loadBalancer: { ingress: ingress.map((ip) => ({ ip })) } },
  };
}

function slice(service: string, eps: { ip: string; node: string; ready?: boolean }[], port = 8080, portName = 'http'): V1EndpointSlice {
  return {
    metadata: { name: `${service}-x${eps.length}`, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: eps[0]?.ip.includes(':') ? 'IPv6' : 'IPv4',
    ports: [{ name: portName, port, protocol: 'TCP' }],
    endpoints: eps.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: e.ready === undefined ? {} : { ready: e.ready } })),
  };
}

function nftCheck(script: string): { ok: boolean; err: string } {
  const r = spawnSync('nft', ['-c', '-f', '-'], { input: script, encoding: 'utf8' });
  return { ok: r.status === 0, err: r.stderr };
}

const node = { name: 'lb1' };

describe('service forwarding ruleset (kube-proxy stand-in)', () => {
  it('GIVEN a Cluster-policy LoadBalancer Service with two ready endpoints WHEN planned THEN clusterIP, ingress IP and nodePort forward to both, with masquerade', () => {
    const f = planForwards([svc('web', {}, ['198.51.100.200'])], [slice('web', [{ ip: '198.51.100.21', node: 'lb1' }, { ip: '198.51.100.22', node: 'lb2', ready: true }])], node);
    assert.deepEqual(f.map((x) => [x.kind, x.address ?? '*', x.dport, x.endpoints.length, x.masquerade]), [
      ['clusterIP', '203.0.113.10', 80, 2, true],
      ['loadBalancer', '198.51.100.200', 80, 2, true],
      ['nodePort', '*', 30080, 2, true],
    ]);
  });

  it('GIVEN externalTrafficPolicy Local WHEN planned THEN external traffic goes to local endpoints only, without masquerade; clusterIP still uses all', () => {
    const f = planForwards([svc('web', { externalTrafficPolicy: 'Local' }, ['198.51.100.200'])], [slice('web', [{ ip: '198.51.100.21', node: 'lb1' }, { ip: '198.51.100.22', node: 'lb2' }])], node);
    const lb = f.find((x) => x.kind === 'loadBalancer')!;
    assert.deepEqual(lb.endpoints, [{ address: '198.51.100.21', port: 8080 }]);
    assert.equal(lb.masquerade, false);
    assert.equal(f.find((x) => x.kind === 'clusterIP')!.endpoints.length, 2);
    const other = planForwards([svc('web', { externalTrafficPolicy: 'Local' }, ['198.51.100.200'])], [slice('web', [{ ip: '198.51.100.22', node: 'lb2' }])], { name: 'lb3' });
    assert.deepEqual(other.find((x) => x.kind === 'loadBalancer')!.endpoints, []);
  });

  it('GIVEN not-ready endpoints, other ports and other Services\' slices WHEN planned THEN none of them is used', () => {
    const f = planForwards([svc('web', {}, ['198.51.100.200'])], [
      slice('web', [{ ip: '198.51.100.21', node: 'lb1', ready: false }]),
      slice('web', [{ ip: '198.51.100.23', node: 'lb1' }], 9090, 'metrics'),
      slice('other', [{ ip: '198.51.100.24', node: 'lb1' }]),
    ], node);
    for (const x of f) assert.deepEqual(x.endpoints, [], `${x.kind}`);
  });

  it('GIVEN a dual-stack Service WHEN planned THEN each family forwards to its own endpoints', () => {
    const f = planForwards([svc('web', { clusterIPs: ['203.0.113.10'] }, ['198.51.100.200', '2001:db8:100::200'])],
      [slice('web', [{ ip: '198.51.100.21', node: 'lb1' }]), slice('web', [{ ip: '2001:db8:100::21', node: 'lb1' }])], node);
    const v6 = f.find((x) => x.address === '2001:db8:100::200')!;
    assert.equal(v6.family, 'ip6');
    assert.deepEqual(v6.endpoints, [{ address: '2001:db8:100::21', port: 8080 }]);
  });

  it('GIVEN ClusterIP, NodePort and headless Services WHEN planned THEN only real addresses and allocated nodePorts appear', () => {
    const f = planForwards([
      svc('c', { type: 'ClusterIP', ports: [{ port: 53, protocol: 'UDP' }] }),
      svc('h', { type: 'ClusterIP', clusterIP: 'None', clusterIPs: ['None'] }),
      svc('n', { type: 'NodePort', clusterIP: '203.0.113.11', clusterIPs: ['203.0.113.11'] }, ['198.51.100.209']),
    ], [], node);
    assert.deepEqual(f.map((x) => `${x.service} ${x.kind} ${x.protocol} ${x.address ?? '*'}:${x.dport}`), [
      'default/c clusterIP udp 203.0.113.10:53',
      'default/n clusterIP tcp 203.0.113.11:80',
      'default/n nodePort tcp *:30080',
    ]);
  });

  it('GIVEN Services with and without endpoints WHEN rendered THEN nft accepts the script (nft -c) and it DNATs or rejects as planned', () => {
    const script = renderRuleset(
      [svc('web', {}, ['198.51.100.200', '2001:db8:100::200']), svc('empty', { clusterIP: '203.0.113.12', clusterIPs: ['203.0.113.12'], ports: [{ port: 53, protocol: 'UDP', nodePort: 30053 }] }, ['198.51.100.201'])],
      [slice('web', [{ ip: '198.51.100.21', node: 'lb1' }, { ip: '198.51.100.22', node: 'lb2' }]), slice('web', [{ ip: '2001:db8:100::21', node: 'lb1' }])],
      node,
    );
    const check = nftCheck(script);
    assert.ok(check.ok, `nft -c rejected the ruleset:\n${check.err}\n${script}`);
    assert.match(script, /ip daddr 198\.51\.100\.200 tcp dport 80 jump fwd_\d+/);
    assert.match(script, /meta l4proto tcp dnat ip to numgen random mod 2 map \{ 0 : 198\.51\.100\.21 \. 8080, 1 : 198\.51\.100\.22 \. 8080 \}/);
    assert.match(script, /meta l4proto tcp dnat ip6 to \[2001:db8:100::21\]:8080/);
    assert.match(script, /ip daddr 198\.51\.100\.201 udp dport 53 reject comment/);
    assert.match(script, /fib daddr type local udp dport 30053 reject/);
    assert.match(script, /meta mark & 0x00004000 == 0x00004000 masquerade/);
  });

  it('GIVEN nothing to forward WHEN rendered THEN the (empty) table and the removal script are still valid nft', () => {
    assert.ok(nftCheck(renderRuleset([], [], node)).ok);
    assert.ok(nftCheck(renderTableRemoval()).ok);
  });

  it('GIVEN the same input in another order WHEN rendered THEN the script is identical (no needless reloads)', () => {
    const a = svc('a', {}, ['198.51.100.200']);
    const b = svc('b', { clusterIP: '203.0.113.13', clusterIPs: ['203.0.113.13'] }, ['198.51.100.202']);
    const s1 = slice('a', [{ ip: '198.51.100.21', node: 'lb1' }, { ip: '198.51.100.22', node: 'lb2' }]);
    const s2 = slice('a', [{ ip: '198.51.100.22', node: 'lb2' }, { ip: '198.51.100.21', node: 'lb1' }]);
    assert.equal(renderRuleset([a, b], [s1], node), renderRuleset([b, a], [s2], node));
  });
});
