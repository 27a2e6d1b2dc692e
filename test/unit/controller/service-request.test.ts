import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { isManagedService, statusIPs, toServiceRequest } from '../../../src/controller/service-request.js';

function svc(o: { annotations?: Record<string, string>; spec?: V1Service['spec']; status?: V1Service['status'] } = {}): V1Service {
  return {
    metadata: { name: 'web', namespace: 'apps', annotations: o.annotations },
    spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80 }], ...o.spec },
    status: o.status,
  };
}

test('GIVEN Service types and classes WHEN checked THEN only LoadBalancer with no class or bmlb.io/lb is managed', () => {
  assert.equal(isManagedService(svc()), true);
  assert.equal(isManagedService(svc({ spec: { type: 'LoadBalancer', loadBalancerClass: 'bmlb.io/lb' } })), true);
  assert.equal(isManagedService(svc({ spec: { type: 'LoadBalancer', loadBalancerClass: 'example.com/other' } })), false);
  assert.equal(isManagedService(svc({ spec: { type: 'ClusterIP' } })), false);
  assert.equal(isManagedService(svc({ spec: { type: 'NodePort' } })), false);
});

test('GIVEN a plain Service WHEN converted THEN defaults: IPv4 single stack, TCP ports, Cluster policy, no request', () => {
  const r = toServiceRequest(svc());
  assert.deepEqual(r, {
    ok: true,
    request: {
      key: 'apps/web', ipFamilies: [], ipFamilyPolicy: 'SingleStack', requestedIPs: [], ports: [{ port: 80, protocol: 'TCP' }],
      externalTrafficPolicy: 'Cluster', selector: { app: 'web' },
    },
  });
});

test('GIVEN both MetalLB annotation prefixes WHEN converted THEN both are honoured (metallb.io wins when both are set)', () => {
  for (const prefix of ['metallb.io', 'metallb.universe.tf']) {
    const r = toServiceRequest(svc({ annotations: {
      [`${prefix}/loadBalancerIPs`]: '198.51.100.5, 2001:db8:0::5',
      [`${prefix}/address-pool`]: 'pool-2',
      [`${prefix}/allow-shared-ip`]: 'k',
    }, spec: { type: 'LoadBalancer', ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], externalTrafficPolicy: 'Local', ports: [{ port: 53, protocol: 'UDP' }] } }));
    assert.ok(r.ok);
    assert.deepEqual(r.request.requestedIPs, ['198.51.100.5', '2001:db8::5']);
    assert.equal(r.request.requestedPool, 'pool-2');
    assert.equal(r.request.sharingKey, 'k');
    assert.equal(r.request.ipFamilyPolicy, 'RequireDualStack');
    assert.deepEqual(r.request.ipFamilies, ['IPv4', 'IPv6']);
    assert.equal(r.request.externalTrafficPolicy, 'Local');
    assert.deepEqual(r.request.ports, [{ port: 53, protocol: 'UDP' }]);
  }
  const both = toServiceRequest(svc({ annotations: { 'metallb.io/address-pool': 'new', 'metallb.universe.tf/address-pool': 'old' } }));
  assert.ok(both.ok && both.request.requestedPool === 'new');
});

test('GIVEN spec.loadBalancerIP WHEN converted THEN it is the requested IP (canonical)', () => {
  const r = toServiceRequest(svc({ spec: { type: 'LoadBalancer', loadBalancerIP: '2001:DB8::0:9' } }));
  assert.ok(r.ok);
  assert.deepEqual(r.request.requestedIPs, ['2001:db8::9']);
});

test('GIVEN a bad IP in the annotation or spec WHEN converted THEN invalidRequest naming it', () => {
  assert.deepEqual(toServiceRequest(svc({ annotations: { 'metallb.io/loadBalancerIPs': '198.51.100.5,nope' } })), {
    ok: false, reason: 'invalidRequest', message: 'annotation metallb.io/loadBalancerIPs: "nope" is not an IP address',
  });
  assert.deepEqual(toServiceRequest(svc({ spec: { type: 'LoadBalancer', loadBalancerIP: '198.51.100.256' } })), {
    ok: false, reason: 'invalidRequest', message: 'spec.loadBalancerIP "198.51.100.256" is not an IP address',
  });
});

test('GIVEN spec.loadBalancerIP and the annotation disagreeing WHEN converted THEN invalidRequest; agreeing THEN fine', () => {
  const bad = toServiceRequest(svc({ annotations: { 'metallb.io/loadBalancerIPs': '198.51.100.5' }, spec: { type: 'LoadBalancer', loadBalancerIP: '198.51.100.6' } }));
  assert.equal(bad.ok, false);
  const good = toServiceRequest(svc({ annotations: { 'metallb.io/loadBalancerIPs': '198.51.100.5' }, spec: { type: 'LoadBalancer', loadBalancerIP: '198.51.100.5' } }));
  assert.ok(good.ok);
});

test('GIVEN a status with ingress entries WHEN read THEN canonical IPs, hostnames ignored', () => {
  assert.deepEqual(statusIPs(svc({ status: { loadBalancer: { ingress: [{ ip: '198.51.100.5' }, { hostname: 'x.example' }, { ip: '2001:db8:0:0::1' }] } } })), ['198.51.100.5', '2001:db8::1']);
  assert.deepEqual(statusIPs(svc()), []);
});
