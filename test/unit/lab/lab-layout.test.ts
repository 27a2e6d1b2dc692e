import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isUserError } from '../../../src/errors.js';
import { DEFAULT_LAB_OPTIONS, allNamespaces, isLabNamespace, planLabLayout } from '../../../src/lab/lab-layout.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isUserError(e) ? e.code : 'not a UserError';
  }
  return undefined;
}

describe('lab layout', () => {
  it('GIVEN the default options THEN it is the layout of docs/lab.md', () => {
    const l = planLabLayout(DEFAULT_LAB_OPTIONS);
    assert.deepEqual(l.nodes.map((n) => [n.name, n.role, n.address, n.namespace]), [
      ['cp1', 'control-plane', '198.51.100.11', 'bmlb-lab-cp1'],
      ['lb1', 'lb', '198.51.100.21', 'bmlb-lab-lb1'],
      ['lb2', 'lb', '198.51.100.22', 'bmlb-lab-lb2'],
      ['lb3', 'lb', '198.51.100.23', 'bmlb-lab-lb3'],
    ]);
    assert.deepEqual(l.extras.map((e) => [e.role, e.namespace, e.address]), [
      ['admin', 'bmlb-lab-admin', '198.51.100.2'],
      ['client', 'bmlb-lab-client', '198.51.100.3'],
      ['router', 'bmlb-lab-router', '198.51.100.4'],
    ]);
    assert.equal(l.segment.namespace, 'bmlb-lab-seg');
    assert.equal(l.apiServer.url, 'https://198.51.100.11:6444');
    assert.equal(l.controlPlaneVIP, '198.51.100.10');
    assert.equal(l.paths.stateDir, '/var/lib/bmlb-lab/lab');
    assert.equal(l.paths.sshKey, '/var/lib/bmlb-lab/lab/ssh/id_ed25519');
    assert.equal(l.nodes.some((n) => n.addressV6), false);
  });

  it('GIVEN --nodes 5 --lb-nodes 2 --ipv6 THEN three control-plane nodes, two LB nodes, and IPv6 addresses with the same digits', () => {
    const l = planLabLayout({ name: 'x', nodes: 5, lbNodes: 2, ipv6: true });
    assert.deepEqual(l.nodes.map((n) => [n.name, n.address, n.addressV6]), [
      ['cp1', '198.51.100.11', '2001:db8:100::11'],
      ['cp2', '198.51.100.12', '2001:db8:100::12'],
      ['cp3', '198.51.100.13', '2001:db8:100::13'],
      ['lb1', '198.51.100.21', '2001:db8:100::21'],
      ['lb2', '198.51.100.22', '2001:db8:100::22'],
    ]);
    assert.equal(l.extras[0]!.addressV6, '2001:db8:100::2');
  });

  it('GIVEN --lb-nodes 0 THEN every node is a control-plane node', () => {
    const l = planLabLayout({ name: 'x', nodes: 2, lbNodes: 0, ipv6: false });
    assert.deepEqual(l.nodes.map((n) => n.role), ['control-plane', 'control-plane']);
  });

  it('GIVEN sizes without a control-plane node or beyond the address plan THEN LabSizeInvalid', () => {
    assert.equal(codeOf(() => planLabLayout({ name: 'x', nodes: 3, lbNodes: 3, ipv6: false })), 'LabSizeInvalid');
    assert.equal(codeOf(() => planLabLayout({ name: 'x', nodes: 12, lbNodes: 2, ipv6: false })), 'LabSizeInvalid');
    assert.equal(codeOf(() => planLabLayout({ name: 'x', nodes: 25, lbNodes: 21, ipv6: false })), 'LabSizeInvalid');
    assert.equal(codeOf(() => planLabLayout({ name: 'x', nodes: 2, lbNodes: -1, ipv6: false })), 'LabSizeInvalid');
  });

  it('GIVEN names that cannot be namespace or directory names THEN LabNameInvalid', () => {
    for (const bad of ['', 'Lab', '1lab', 'lab/x', '../x', 'lab-', 'a'.repeat(21), 'la b']) {
      assert.equal(codeOf(() => planLabLayout({ ...DEFAULT_LAB_OPTIONS, name: bad })), 'LabNameInvalid', bad);
    }
  });

  it("GIVEN labs a and a-b THEN each recognises only its own namespaces", () => {
    const a = allNamespaces(planLabLayout({ ...DEFAULT_LAB_OPTIONS, name: 'a' }));
    const ab = allNamespaces(planLabLayout({ ...DEFAULT_LAB_OPTIONS, name: 'a-b' }));
    assert.ok(a.every((ns) => isLabNamespace(ns, 'a') && !isLabNamespace(ns, 'a-b')));
    assert.ok(ab.every((ns) => isLabNamespace(ns, 'a-b') && !isLabNamespace(ns, 'a')));
    assert.equal(isLabNamespace('bmlb-a-something', 'a'), false);
  });

  it('GIVEN any valid size THEN names are unique, interface names fit 15 characters, addresses are in 198.51.100.0/24 below the pools', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 9 }), fc.boolean(), (lb, cp, v6) => {
        const l = planLabLayout({ name: 'abcdefghijklmnopqrst', nodes: lb + cp, lbNodes: lb, ipv6: v6 });
        const ns = allNamespaces(l);
        assert.equal(new Set(ns).size, ns.length);
        const ports = [...l.nodes, ...l.extras].map((n) => n.segmentPort);
        assert.equal(new Set(ports).size, ports.length);
        assert.ok(ports.every((p) => p.length <= 15));
        const last = [...l.nodes, ...l.extras].map((n) => Number(n.address.split('.')[3]));
        assert.equal(new Set(last).size, last.length);
        assert.ok(last.every((x) => x > 1 && x < 200 && x !== 10));
      }),
    );
  });
});
