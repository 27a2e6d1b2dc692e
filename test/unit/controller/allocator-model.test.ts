// Model-based property test: random sequences of Services arriving, leaving and sharing, checked
// against a brute-force model of "first free address" and against the sharing invariants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Allocator, type ServiceRequest } from '../../../src/controller/allocator.js';
import type { AddressPool } from '../../../src/config/model.js';

const pools: AddressPool[] = [
  { name: 'a', addresses: ['198.51.100.254-198.51.101.1'], avoidBuggyIPs: true, manualAssign: false }, // .254, (.255, .0 buggy), .1
  { name: 'm', addresses: ['198.51.100.16/30'], avoidBuggyIPs: false, manualAssign: true },
  { name: 'b', addresses: ['198.51.100.8/30', '198.51.100.40/31'], avoidBuggyIPs: false, manualAssign: false },
];
const cpVip = '198.51.100.9';
const ingressVip = '198.51.100.41';
const ingress = 'gke-system/istio-ingress';
/** Every address auto-assignable, in allocation order. */
const autoOrder = ['198.51.100.254', '198.51.101.1', '198.51.100.8', '198.51.100.10', '198.51.100.11', '198.51.100.40'];
const manualIps = new Set(['198.51.100.16', '198.51.100.17', '198.51.100.18', '198.51.100.19']);
const allPoolIps = new Set([...autoOrder, '198.51.100.255', '198.51.101.0', cpVip, ingressVip, '198.51.100.16', '198.51.100.17', '198.51.100.18', '198.51.100.19']);

type Op =
  | { op: 'add'; id: number; share?: 'x' | 'y'; port: number; local: boolean; sel: 'p' | 'q'; request?: string; pool?: 'm' | 'b' | 'zz' }
  | { op: 'del'; id: number };

/** undefined three times out of four, so plain Services (no request, pool or key) are common. */
function rarely<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: arb, weight: 1 });
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('add' as const),
    id: fc.integer({ min: 0, max: 9 }),
    share: rarely(fc.constantFrom('x' as const, 'y' as const)),
    port: fc.constantFrom(80, 443, 53),
    local: fc.boolean(),
    sel: fc.constantFrom('p' as const, 'q' as const),
    request: rarely(fc.constantFrom(...allPoolIps, '198.51.100.100')),
    pool: rarely(fc.constantFrom('m' as const, 'b' as const, 'zz' as const)),
  }),
  fc.record({ op: fc.constant('del' as const), id: fc.integer({ min: 0, max: 9 }) }),
);

function request(o: Extract<Op, { op: 'add' }>): ServiceRequest {
  return {
    key: o.id === 9 ? ingress : `ns/s${o.id}`,
    ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack',
    requestedIPs: o.request ? [o.request] : [],
    ...(o.pool ? { requestedPool: o.pool } : {}),
    ...(o.share ? { sharingKey: o.share } : {}),
    ports: [{ port: o.port, protocol: 'TCP' }],
    externalTrafficPolicy: o.local ? 'Local' : 'Cluster',
    selector: { app: o.sel },
  };
}

test('GIVEN random arrivals, departures and sharing WHEN allocating THEN the invariants hold and plain Services get the first free address', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
      const a = new Allocator({ pools, controlPlaneVIP: cpVip, ingressVIP: ingressVip, ingressService: ingress });
      const holders = new Map<string, ServiceRequest & { ips: string[] }>(); // our model of who holds what
      for (const o of ops) {
        if (o.op === 'del') {
          const key = o.id === 9 ? ingress : `ns/s${o.id}`;
          a.release(key);
          holders.delete(key);
          continue;
        }
        const req = request(o);
        const held = holders.get(req.key)?.ips ?? [];
        // Model of the first free address for a plain, new, non-ingress Service.
        const usedByOthers = new Set([...holders.values()].filter((h) => h.key !== req.key).flatMap((h) => h.ips));
        const plainNew = !o.request && !o.pool && !o.share && held.length === 0 && req.key !== ingress;
        const d = a.assign(req, held);
        if (plainNew) {
          const expected = autoOrder.find((ip) => !usedByOthers.has(ip));
          if (expected) assert.deepEqual(d.ok && d.ips, [expected], `ops ${JSON.stringify(ops)}`);
          else assert.equal(!d.ok && d.reason, 'poolExhausted');
        }
        if (d.ok) {
          holders.set(req.key, { ...req, ips: d.ips });
          for (const ip of d.ips) {
            assert.ok(allPoolIps.has(ip), `${ip} outside the pools`);
            assert.notEqual(ip, cpVip);
            if (ip === ingressVip) assert.equal(req.key, ingress);
            if (o.request) assert.equal(ip, o.request);
            if (!o.request && !o.pool && held.length === 0) assert.ok(!manualIps.has(ip), `manualAssign pool used unasked (${ip})`);
          }
        } else {
          // A refusal keeps whatever was held.
          assert.deepEqual(a.held(req.key), held);
        }
        // Sharing invariants over the model.
        const byIp = new Map<string, (ServiceRequest & { ips: string[] })[]>();
        for (const h of holders.values()) for (const ip of h.ips) byIp.set(ip, [...(byIp.get(ip) ?? []), h]);
        for (const [ip, hs] of byIp) {
          if (hs.length < 2) continue;
          const key = hs[0]!.sharingKey;
          assert.ok(key !== undefined && hs.every((h) => h.sharingKey === key), `${ip} shared without a common key`);
          const ports = hs.flatMap((h) => h.ports.map((p) => `${p.port}/${p.protocol}`));
          assert.equal(new Set(ports).size, ports.length, `${ip}: port used twice`);
          if (hs.some((h) => h.externalTrafficPolicy === 'Local')) {
            assert.ok(hs.every((h) => h.selector.app === hs[0]!.selector.app), `${ip}: Local with different selectors`);
          }
        }
        // The allocator and the model agree on holdings.
        for (const h of holders.values()) assert.deepEqual(a.held(h.key), h.ips);
      }
    }),
    { numRuns: 300 },
  );
});
