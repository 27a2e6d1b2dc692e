import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Allocator, type AllocationDecision, type AllocatorConfig, type ServiceRequest } from '../../../src/controller/allocator.js';
import type { AddressPool } from '../../../src/config/model.js';

function pool(name: string, addresses: string[], opts: Partial<AddressPool> = {}): AddressPool {
  return { name, addresses, avoidBuggyIPs: false, manualAssign: false, ...opts };
}
function svc(key: string, o: Partial<ServiceRequest> = {}): ServiceRequest {
  return {
    key, ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', requestedIPs: [],
    ports: [{ port: 80, protocol: 'TCP' }], externalTrafficPolicy: 'Cluster', selector: { app: key }, ...o,
  };
}
const ok = (ips: string[], p: string) => ({ ok: true, ips, pool: p });
function strip(d: AllocationDecision): unknown {
  if (!d.ok) return { ok: false, reason: d.reason, message: d.message };
  return { ok: true, ips: d.ips, pool: d.pool };
}

interface Story {
  name: string;
  config: AllocatorConfig;
  /** Services allocated first (each must succeed), in order; `current` = their status IPs. */
  given?: { req: ServiceRequest; current?: string[] }[];
  when: ServiceRequest;
  current?: string[];
  then: unknown;
}

const lab: AllocatorConfig = {
  pools: [
    pool('pool-1', ['198.51.100.200-198.51.100.239']),
    pool('pool-2', ['198.51.100.240/29'], { manualAssign: true }),
  ],
  controlPlaneVIP: '198.51.100.10',
  ingressVIP: '198.51.100.200',
  ingressService: 'gke-system/istio-ingress',
};

const stories: Story[] = [
  { name: 'GIVEN the lab pools WHEN a plain Service arrives THEN it gets the first free pool-1 address after the ingressVIP',
    config: lab, when: svc('default/a'), then: ok(['198.51.100.201'], 'pool-1') },
  { name: 'GIVEN the lab pools WHEN the ingress Service arrives THEN it gets the ingressVIP',
    config: lab, when: svc('gke-system/istio-ingress'), then: ok(['198.51.100.200'], 'pool-1') },
  { name: 'GIVEN one Service holds .201 WHEN another arrives THEN it gets .202',
    config: lab, given: [{ req: svc('default/a') }], when: svc('default/b'), then: ok(['198.51.100.202'], 'pool-1') },
  { name: 'GIVEN pools in order WHEN the first is full THEN the second (non-manual) is used',
    config: { pools: [pool('p1', ['198.51.100.1/32']), pool('p2', ['198.51.100.2/32'])] },
    given: [{ req: svc('default/a') }], when: svc('default/b'), then: ok(['198.51.100.2'], 'p2') },
  { name: 'GIVEN a single one-address pool in use WHEN another Service arrives THEN "pool p1 is exhausted"',
    config: { pools: [pool('p1', ['198.51.100.1/32'])] }, given: [{ req: svc('default/a') }], when: svc('default/b'),
    then: { ok: false, reason: 'poolExhausted', message: 'pool p1 is exhausted' } },
  { name: 'GIVEN two full pools WHEN another Service arrives THEN both are named exhausted',
    config: { pools: [pool('p1', ['198.51.100.1/32']), pool('p2', ['198.51.100.2/32'])] },
    given: [{ req: svc('default/a') }, { req: svc('default/b') }], when: svc('default/c'),
    then: { ok: false, reason: 'poolExhausted', message: 'pools p1, p2 are exhausted' } },
  { name: 'GIVEN avoidBuggyIPs WHEN allocating from a /24 THEN .0 is skipped',
    config: { pools: [pool('p', ['198.51.100.0/24'], { avoidBuggyIPs: true })] }, when: svc('default/a'), then: ok(['198.51.100.1'], 'p') },
  { name: 'GIVEN avoidBuggyIPs and only .255 and .0 left WHEN allocating THEN exhausted',
    config: { pools: [pool('p', ['198.51.100.255-198.51.101.0'], { avoidBuggyIPs: true })] }, when: svc('default/a'),
    then: { ok: false, reason: 'poolExhausted', message: 'pool p is exhausted' } },
  { name: 'GIVEN no avoidBuggyIPs WHEN allocating from a /24 THEN .0 is handed out',
    config: { pools: [pool('p', ['198.51.100.0/24'])] }, when: svc('default/a'), then: ok(['198.51.100.0'], 'p') },
  { name: 'GIVEN avoidBuggyIPs on an IPv6 pool WHEN allocating THEN ::0 and ::ff are not special',
    config: { pools: [pool('p', ['2001:db8::ff-2001:db8::100'], { avoidBuggyIPs: true })] },
    when: svc('default/a', { ipFamilies: ['IPv6'] }), then: ok(['2001:db8::ff'], 'p') },
  { name: 'GIVEN a pool containing the controlPlaneVIP WHEN allocating THEN the VIP is skipped',
    config: { pools: [pool('p', ['198.51.100.10-198.51.100.11'])], controlPlaneVIP: '198.51.100.10' },
    when: svc('default/a'), then: ok(['198.51.100.11'], 'p') },
  { name: 'GIVEN a Service requesting the controlPlaneVIP WHEN allocating THEN refused',
    config: lab, when: svc('default/a', { requestedIPs: ['198.51.100.10'] }),
    then: { ok: false, reason: 'controlPlaneVIP', message: '198.51.100.10 is the control-plane VIP and is never given to a Service' } },
  { name: 'GIVEN a Service requesting the ingressVIP WHEN it is not the ingress Service THEN refused',
    config: lab, when: svc('default/a', { requestedIPs: ['198.51.100.200'] }),
    then: { ok: false, reason: 'ingressVIPReserved', message: '198.51.100.200 is the ingressVIP, reserved for Service gke-system/istio-ingress' } },
  { name: 'GIVEN a request for 198.51.100.9 WHEN no pool contains it THEN "198.51.100.9 is not in any pool"',
    config: lab, when: svc('default/a', { requestedIPs: ['198.51.100.9'] }),
    then: { ok: false, reason: 'notInAnyPool', message: '198.51.100.9 is not in any pool' } },
  { name: 'GIVEN a manualAssign pool WHEN a Service requests an IP in it THEN granted',
    config: lab, when: svc('default/a', { requestedIPs: ['198.51.100.242'] }), then: ok(['198.51.100.242'], 'pool-2') },
  { name: 'GIVEN a manualAssign pool WHEN a Service names it in the pool annotation THEN its first address',
    config: lab, when: svc('default/a', { requestedPool: 'pool-2' }), then: ok(['198.51.100.240'], 'pool-2') },
  { name: 'GIVEN only a manualAssign pool WHEN a Service asks for nothing THEN manualPoolNotRequested',
    config: { pools: [pool('m', ['198.51.100.240/29'], { manualAssign: true })] }, when: svc('default/a'),
    then: { ok: false, reason: 'manualPoolNotRequested', message: 'the only IPv4 pools (m) are manualAssign; request one with the metallb.io/address-pool annotation or an IP' } },
  { name: 'GIVEN a pool annotation naming no pool WHEN allocating THEN poolNotFound listing the pools',
    config: lab, when: svc('default/a', { requestedPool: 'gold' }),
    then: { ok: false, reason: 'poolNotFound', message: 'pool gold does not exist (pools: pool-1, pool-2)' } },
  { name: 'GIVEN a requested IP in pool-1 and pool annotation pool-2 WHEN allocating THEN notInRequestedPool',
    config: lab, when: svc('default/a', { requestedIPs: ['198.51.100.210'], requestedPool: 'pool-2' }),
    then: { ok: false, reason: 'notInRequestedPool', message: 'requested IP 198.51.100.210 is in pool pool-1, not in the requested pool pool-2' } },
  { name: 'GIVEN an IP in use WHEN another Service without a sharing key requests it THEN ipInUse',
    config: lab, given: [{ req: svc('default/a') }], when: svc('default/b', { requestedIPs: ['198.51.100.201'] }),
    then: { ok: false, reason: 'ipInUse', message: '198.51.100.201 is already used by Service default/a' } },
  { name: 'GIVEN no pools WHEN allocating THEN noPools',
    config: { pools: [] }, when: svc('default/a'), then: { ok: false, reason: 'noPools', message: 'no address pools are configured' } },
  // Sharing.
  { name: 'GIVEN a shared IP with key k on port 80 WHEN a Service with key k and port 443 requests it THEN shared',
    config: lab, given: [{ req: svc('default/a', { sharingKey: 'k' }) }],
    when: svc('default/b', { sharingKey: 'k', requestedIPs: ['198.51.100.201'], ports: [{ port: 443, protocol: 'TCP' }] }),
    then: ok(['198.51.100.201'], 'pool-1') },
  { name: 'GIVEN a Service with key k WHEN another with key k and no request arrives THEN it joins the shared IP',
    config: lab, given: [{ req: svc('default/a', { sharingKey: 'k' }) }],
    when: svc('default/b', { sharingKey: 'k', ports: [{ port: 53, protocol: 'UDP' }] }), then: ok(['198.51.100.201'], 'pool-1') },
  { name: 'GIVEN key k on 80/TCP WHEN a key k Service with 80/UDP arrives THEN shared (protocols differ)',
    config: lab, given: [{ req: svc('default/a', { sharingKey: 'k' }) }],
    when: svc('default/b', { sharingKey: 'k', ports: [{ port: 80, protocol: 'UDP' }] }), then: ok(['198.51.100.201'], 'pool-1') },
  { name: 'GIVEN key k on 80/TCP WHEN a key k Service also on 80/TCP requests that IP THEN sharingIncompatible naming the port',
    config: lab, given: [{ req: svc('default/a', { sharingKey: 'k' }) }],
    when: svc('default/b', { sharingKey: 'k', requestedIPs: ['198.51.100.201'] }),
    then: { ok: false, reason: 'sharingIncompatible', message: 'port 80/TCP on 198.51.100.201 is already used by Service default/a' } },
  { name: 'GIVEN key k on 80/TCP WHEN a key k Service also on 80/TCP arrives without request THEN it gets its own IP',
    config: lab, given: [{ req: svc('default/a', { sharingKey: 'k' }) }],
    when: svc('default/b', { sharingKey: 'k' }), then: ok(['198.51.100.202'], 'pool-1') },
  { name: 'GIVEN key k WHEN key j requests the same IP THEN sharingIncompatible',
    config: lab, given: [{ req: svc('default/a', { sharingKey: 'k' }) }],
    when: svc('default/b', { sharingKey: 'j', requestedIPs: ['198.51.100.201'], ports: [{ port: 443, protocol: 'TCP' }] }),
    then: { ok: false, reason: 'sharingIncompatible', message: '198.51.100.201 is shared under key "k" by Service default/a, not under "j"' } },
  { name: 'GIVEN key k WHEN a Service without key requests the IP THEN ipInUse with a hint',
    config: lab, given: [{ req: svc('default/a', { sharingKey: 'k' }) }],
    when: svc('default/b', { requestedIPs: ['198.51.100.201'], ports: [{ port: 443, protocol: 'TCP' }] }),
    then: { ok: false, reason: 'ipInUse', message: '198.51.100.201 is already used by Service default/a (set the same metallb.io/allow-shared-ip key to share it)' } },
  { name: 'GIVEN key k with policy Local WHEN a key k Service with another selector requests it THEN sharingIncompatible',
    config: lab, given: [{ req: svc('default/a', { sharingKey: 'k', externalTrafficPolicy: 'Local', selector: { app: 'web' } }) }],
    when: svc('default/b', { sharingKey: 'k', requestedIPs: ['198.51.100.201'], ports: [{ port: 443, protocol: 'TCP' }], selector: { app: 'api' } }),
    then: { ok: false, reason: 'sharingIncompatible', message: '198.51.100.201 is used by Service default/a; with externalTrafficPolicy Local, Services sharing an IP need the same selector' } },
  { name: 'GIVEN key k with policy Local WHEN a key k Local Service with the same selector requests it THEN shared',
    config: lab, given: [{ req: svc('default/a', { sharingKey: 'k', externalTrafficPolicy: 'Local', selector: { app: 'web' } }) }],
    when: svc('default/b', { sharingKey: 'k', externalTrafficPolicy: 'Local', requestedIPs: ['198.51.100.201'], ports: [{ port: 443, protocol: 'TCP' }], selector: { app: 'web' } }),
    then: ok(['198.51.100.201'], 'pool-1') },
  { name: 'GIVEN key k Cluster WHEN a key k Cluster Service with another selector requests it THEN shared (selector matters only for Local)',
    config: lab, given: [{ req: svc('default/a', { sharingKey: 'k', selector: { app: 'web' } }) }],
    when: svc('default/b', { sharingKey: 'k', requestedIPs: ['198.51.100.201'], ports: [{ port: 443, protocol: 'TCP' }], selector: { app: 'api' } }),
    then: ok(['198.51.100.201'], 'pool-1') },
  // Families.
  { name: 'GIVEN v4 and v6 pools WHEN an IPv6 single-stack Service arrives THEN a v6 address',
    config: { pools: [pool('v4', ['198.51.100.0/28']), pool('v6', ['2001:db8:100::200-2001:db8:100::2ff'])] },
    when: svc('default/a', { ipFamilies: ['IPv6'] }), then: ok(['2001:db8:100::200'], 'v6') },
  { name: 'GIVEN v4 and v6 pools WHEN RequireDualStack THEN one of each, primary family first',
    config: { pools: [pool('v4', ['198.51.100.0/28']), pool('v6', ['2001:db8:100::200-2001:db8:100::2ff'])] },
    when: svc('default/a', { ipFamilies: ['IPv6', 'IPv4'], ipFamilyPolicy: 'RequireDualStack' }),
    then: ok(['2001:db8:100::200', '198.51.100.0'], 'v6,v4') },
  { name: 'GIVEN a dual-stack pool WHEN RequireDualStack THEN both from that pool',
    config: { pools: [pool('ds', ['198.51.100.0/28', '2001:db8::/120'])] },
    when: svc('default/a', { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' }),
    then: ok(['198.51.100.0', '2001:db8::'], 'ds') },
  { name: 'GIVEN only v4 pools WHEN RequireDualStack THEN familyUnavailable',
    config: lab, when: svc('default/a', { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' }),
    then: { ok: false, reason: 'familyUnavailable', message: 'no pool has IPv6 addresses' } },
  { name: 'GIVEN only v4 pools WHEN PreferDualStack THEN the v4 address alone',
    config: lab, when: svc('default/a', { ipFamilies: ['IPv4'], ipFamilyPolicy: 'PreferDualStack' }), then: ok(['198.51.100.201'], 'pool-1') },
  { name: 'GIVEN only v4 pools WHEN an IPv6 single-stack Service arrives THEN familyUnavailable',
    config: lab, when: svc('default/a', { ipFamilies: ['IPv6'] }), then: { ok: false, reason: 'familyUnavailable', message: 'no pool has IPv6 addresses' } },
  { name: 'GIVEN an IPv4 single-stack Service WHEN it requests an IPv6 address THEN familyUnavailable',
    config: { pools: [pool('v6', ['2001:db8::/120'])] }, when: svc('default/a', { requestedIPs: ['2001:db8::5'] }),
    then: { ok: false, reason: 'familyUnavailable', message: "requested IP 2001:db8::5 is IPv6, but the Service's ipFamilies allow only IPv4" } },
  { name: 'GIVEN two requested IPv4 addresses WHEN allocating THEN invalidRequest',
    config: lab, when: svc('default/a', { requestedIPs: ['198.51.100.201', '198.51.100.202'], ipFamilyPolicy: 'PreferDualStack' }),
    then: { ok: false, reason: 'invalidRequest', message: 'more than one IPv4 address requested (198.51.100.201, 198.51.100.202); give at most one per family' } },
  { name: 'GIVEN RequireDualStack with one requested IP WHEN allocating THEN invalidRequest',
    config: { pools: [pool('ds', ['198.51.100.0/28', '2001:db8::/120'])] },
    when: svc('default/a', { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack', requestedIPs: ['198.51.100.3'] }),
    then: { ok: false, reason: 'invalidRequest', message: 'ipFamilyPolicy RequireDualStack with requested IPs needs one IPv4 and one IPv6 address (got 198.51.100.3)' } },
  { name: 'GIVEN a dual-stack request WHEN both requested IPs are in pools THEN exactly those',
    config: { pools: [pool('ds', ['198.51.100.0/28', '2001:db8::/120'])] },
    when: svc('default/a', { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack', requestedIPs: ['2001:db8::9', '198.51.100.3'] }),
    then: ok(['198.51.100.3', '2001:db8::9'], 'ds') },
  // Stability.
  { name: 'GIVEN a Service whose status holds .230 (restart) WHEN assigned THEN it keeps .230, not the first free',
    config: lab, when: svc('default/a'), current: ['198.51.100.230'], then: ok(['198.51.100.230'], 'pool-1') },
  { name: 'GIVEN a Service whose status IP is no longer in any pool WHEN assigned THEN reported, not moved',
    config: lab, when: svc('default/a'), current: ['198.51.100.100'],
    then: { ok: false, reason: 'notInAnyPool', message: '198.51.100.100 is not in any pool' } },
  { name: 'GIVEN a Service whose status IP is in a now-manualAssign pool WHEN assigned THEN it keeps it',
    config: lab, when: svc('default/a'), current: ['198.51.100.241'], then: ok(['198.51.100.241'], 'pool-2') },
  { name: 'GIVEN a live Service in pool-1 WHEN its pool annotation now names pool-2 THEN it moves to pool-2 (explicit request)',
    config: lab, when: svc('default/a', { requestedPool: 'pool-2' }), current: ['198.51.100.230'], then: ok(['198.51.100.240'], 'pool-2') },
  { name: 'GIVEN two Services whose status both claim .201 (conflict) WHEN restored in age order THEN the older keeps it and the newer is reported, not moved',
    config: lab, given: [{ req: svc('default/older'), current: ['198.51.100.201'] }], when: svc('default/newer'), current: ['198.51.100.201'],
    then: { ok: false, reason: 'ipInUse', message: '198.51.100.201 is already used by Service default/older' } },
  { name: 'GIVEN a restored Service at .201 WHEN a new Service arrives THEN the live IP is never reassigned',
    config: lab, given: [{ req: svc('default/old'), current: ['198.51.100.201'] }], when: svc('default/new'), then: ok(['198.51.100.202'], 'pool-1') },
];

describe('allocator stories', () => {
  for (const s of stories) {
    test(s.name, () => {
      const a = new Allocator(s.config);
      for (const g of s.given ?? []) {
        const d = a.assign(g.req, g.current ?? []);
        assert.ok(d.ok, `given ${g.req.key} failed: ${JSON.stringify(d)}`);
      }
      assert.deepEqual(strip(a.assign(s.when, s.current ?? [])), s.then);
    });
  }
});

test('GIVEN a Service released WHEN a new one arrives THEN the freed lower address is reused first', () => {
  const a = new Allocator(lab);
  for (const k of ['a', 'b', 'c']) assert.ok(a.assign(svc(`default/${k}`), []).ok);
  a.release('default/b');
  assert.deepEqual(strip(a.assign(svc('default/d'), [])), ok(['198.51.100.202'], 'pool-1'));
  assert.deepEqual(strip(a.assign(svc('default/e'), [])), ok(['198.51.100.204'], 'pool-1'));
});

test('GIVEN an allocated Service WHEN assigned again with its status THEN same IP, changed false', () => {
  const a = new Allocator(lab);
  const d1 = a.assign(svc('default/a'), []);
  assert.ok(d1.ok && d1.changed);
  const d2 = a.assign(svc('default/a'), d1.ips);
  assert.deepEqual(d2, { ok: true, ips: d1.ips, pool: 'pool-1', changed: false });
});

test('GIVEN a Service whose new request is refused WHEN another Service arrives THEN the refused Service keeps its old IP reserved', () => {
  const a = new Allocator(lab);
  const d1 = a.assign(svc('default/a'), []);
  assert.ok(d1.ok);
  const refused = a.assign(svc('default/a', { requestedIPs: ['198.51.100.9'] }), d1.ips);
  assert.equal(refused.ok, false);
  assert.deepEqual(a.held('default/a'), ['198.51.100.201']);
  assert.deepEqual(strip(a.assign(svc('default/b'), [])), ok(['198.51.100.202'], 'pool-1'));
});

test('GIVEN shared holders WHEN one is released THEN the IP stays held by the other; when both go THEN it is free', () => {
  const a = new Allocator(lab);
  assert.ok(a.assign(svc('default/a', { sharingKey: 'k' }), []).ok);
  assert.ok(a.assign(svc('default/b', { sharingKey: 'k', ports: [{ port: 443, protocol: 'TCP' }] }), []).ok);
  a.release('default/a');
  assert.deepEqual(strip(a.assign(svc('default/c'), [])), ok(['198.51.100.202'], 'pool-1'));
  a.release('default/b');
  assert.deepEqual(strip(a.assign(svc('default/d'), [])), ok(['198.51.100.201'], 'pool-1'));
});

test('GIVEN a config change removing a pool WHEN its Service is re-assigned THEN reported; pool usage reflects the new pools', () => {
  const a = new Allocator({ pools: [pool('p1', ['198.51.100.0/30']), pool('p2', ['198.51.100.8/30'])] });
  const d = a.assign(svc('default/a', { requestedPool: 'p2' }), []);
  assert.ok(d.ok);
  a.setConfig({ pools: [pool('p1', ['198.51.100.0/30'])] });
  const r = a.assign(svc('default/a'), d.ips);
  assert.deepEqual(strip(r), { ok: false, reason: 'notInAnyPool', message: '198.51.100.8 is not in any pool' });
  assert.deepEqual(a.usage(), [{ pool: 'p1', size: 4, used: 0, available: 4 }]);
});

test('GIVEN the lab pools WHEN usage is read THEN sizes exclude buggy IPs and the controlPlaneVIP, and count the ingressVIP', () => {
  const a = new Allocator({ ...lab, pools: [...lab.pools, pool('b', ['198.51.101.0/24'], { avoidBuggyIPs: true }), pool('c', ['198.51.100.8/30'])] });
  assert.ok(a.assign(svc('default/a'), []).ok);
  assert.deepEqual(a.usage(), [
    { pool: 'pool-1', size: 40, used: 1, available: 39 },
    { pool: 'pool-2', size: 8, used: 0, available: 8 },
    { pool: 'b', size: 254, used: 0, available: 254 },
    { pool: 'c', size: 3, used: 0, available: 3 },
  ]);
});

test('GIVEN a /16 pool WHEN 10,000 Services are allocated THEN all distinct, in order, and fast', () => {
  const a = new Allocator({ pools: [pool('big', ['198.18.0.0/16'], { avoidBuggyIPs: true })] });
  const seen = new Set<string>();
  const t0 = performance.now();
  for (let i = 0; i < 10_000; i++) {
    const d = a.assign(svc(`ns/s${i}`), []);
    assert.ok(d.ok);
    seen.add(d.ips[0]!);
  }
  const ms = performance.now() - t0;
  assert.equal(seen.size, 10_000);
  assert.ok(seen.has('198.18.0.1') && !seen.has('198.18.0.0') && !seen.has('198.18.0.255') && !seen.has('198.18.1.0'));
  assert.ok(ms < 5000, `10,000 allocations took ${ms} ms`);
});
