/** Pure cores of the lab API server: selectors, patches, the store's history, webhook rule matching. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { jsonPatch, mergePatch, strategicMerge } from '../../../src/lab/apiserver/patch.js';
import { BUILTIN_TYPES } from '../../../src/lab/apiserver/registry.js';
import { fieldValue, matchesLabels, parseFieldSelector, parseLabelSelector } from '../../../src/lab/apiserver/selectors.js';
import { ObjectStore } from '../../../src/lab/apiserver/store.js';
import { ruleMatches } from '../../../src/lab/apiserver/webhooks.js';

describe('label selectors', () => {
  const m = (sel: string, labels: Record<string, string>) => {
    const r = parseLabelSelector(sel);
    assert.ok(r.ok, sel);
    return matchesLabels(r.value, labels);
  };
  it('GIVEN each operator WHEN matched THEN kube semantics hold (!= and notin match absent keys)', () => {
    assert.ok(m('a=1', { a: '1' }));
    assert.ok(m('a==1,b', { a: '1', b: '' }));
    assert.ok(m('a!=1', {}));
    assert.ok(!m('a!=1', { a: '1' }));
    assert.ok(m('a in (1, 2)', { a: '2' }));
    assert.ok(!m('a in (1,2)', {}));
    assert.ok(m('a notin (1,2)', {}));
    assert.ok(m('!a', { b: '1' }));
    assert.ok(m('', { x: 'y' }));
    assert.ok(m('example.com/role=lb,tier in (web),!gone', { 'example.com/role': 'lb', tier: 'web' }));
  });
  it('GIVEN malformed selectors WHEN parsed THEN a reason is given', () => {
    assert.equal(parseLabelSelector('a=b c').ok, false);
    assert.equal(parseLabelSelector('-bad=1').ok, false);
    assert.equal(parseLabelSelector('a in (x y)').ok, false);
  });
});

describe('field selectors', () => {
  it('GIVEN allowed fields WHEN parsed and read THEN nested values and core Event source resolve', () => {
    const r = parseFieldSelector('spec.nodeName=n1,status.phase!=Failed', ['spec.nodeName', 'status.phase']);
    assert.ok(r.ok);
    assert.equal(fieldValue({ spec: { nodeName: 'n1' } }, 'spec.nodeName'), 'n1');
    assert.equal(fieldValue({ source: { component: 'bmlb' } }, 'source'), 'bmlb');
    assert.equal(fieldValue({ spec: { unschedulable: false } }, 'spec.unschedulable'), 'false');
    assert.equal(parseFieldSelector('spec.other=1', ['spec.nodeName']).ok, false);
  });
});

describe('patches', () => {
  it('GIVEN RFC 7386 examples WHEN merge-patched THEN results match the RFC', () => {
    assert.deepEqual(mergePatch({ a: 'b' }, { a: 'c' }), { a: 'c' });
    assert.deepEqual(mergePatch({ a: 'b' }, { a: null }), {});
    assert.deepEqual(mergePatch({ a: [{ b: 'c' }] }, { a: [1] }), { a: [1] });
    assert.deepEqual(mergePatch({ e: null }, { a: 1 }), { e: null, a: 1 });
    assert.deepEqual(mergePatch([1, 2], { a: 'b', c: null }), { a: 'b' });
  });

  it('GIVEN RFC 6902 operations WHEN applied THEN add/remove/replace/move/copy/test behave; failures are reported', () => {
    const r = jsonPatch({ a: { b: [1, 2] }, x: 1 }, [
      { op: 'add', path: '/a/b/1', value: 9 }, { op: 'add', path: '/a/b/-', value: 3 }, { op: 'move', from: '/x', path: '/y' },
      { op: 'copy', from: '/y', path: '/z' }, { op: 'replace', path: '/z', value: 2 }, { op: 'remove', path: '/a/b/0' }, { op: 'test', path: '/y', value: 1 },
      { op: 'add', path: '/k~1v', value: true },
    ]);
    assert.deepEqual(r, { ok: true, value: { a: { b: [9, 2, 3] }, y: 1, z: 2, 'k/v': true } });
    assert.equal(jsonPatch({}, [{ op: 'remove', path: '/nope' }]).ok, false);
    assert.equal(jsonPatch({}, [{ op: 'replace', path: '/nope', value: 1 }]).ok, false);
    assert.equal(jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]).ok, false);
    assert.equal(jsonPatch({}, { op: 'add' }).ok, false);
  });

  it('GIVEN kubectl-style strategic patches WHEN applied THEN lists merge by key, directives apply, other lists replace', () => {
    const live = {
      metadata: { finalizers: ['a'], labels: { x: '1' } },
      spec: {
        ports: [{ port: 80, name: 'http' }, { port: 443, name: 'https' }],
        template: { spec: { containers: [{ name: 'c', image: 'i:1', ports: [{ containerPort: 8080 }], volumeMounts: [{ mountPath: '/a', name: 'v' }] }], tolerations: [{ key: 'a' }] } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
      },
    };
    const out = strategicMerge(live, {
      metadata: { finalizers: ['b'], labels: { x: null } },
      spec: {
        ports: [{ port: 443, name: 'tls' }, { port: 80, $patch: 'delete' }],
        template: { spec: { containers: [{ name: 'c', ports: [{ containerPort: 9090 }], volumeMounts: [{ mountPath: '/b', name: 'w' }] }], tolerations: [{ key: 'b' }] } },
        strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null },
      },
    } as never) as any;
    assert.deepEqual(out.metadata, { finalizers: ['a', 'b'], labels: {} });
    assert.deepEqual(out.spec.ports, [{ port: 443, name: 'tls' }]);
    const c = out.spec.template.spec.containers[0];
    assert.equal(c.image, 'i:1');
    assert.deepEqual(c.ports, [{ containerPort: 8080 }, { containerPort: 9090 }]);
    assert.deepEqual(c.volumeMounts.map((v: { mountPath: string }) => v.mountPath), ['/a', '/b']);
    assert.deepEqual(out.spec.template.spec.tolerations, [{ key: 'b' }], 'lists without a merge key are replaced');
    assert.deepEqual(out.spec.strategy, { type: 'Recreate' });
    assert.deepEqual(strategicMerge({ a: { b: 1 } }, { a: { $patch: 'replace', c: 2 } }), { a: { c: 2 } });
    assert.deepEqual(strategicMerge({ a: { b: 1 }, k: 1 }, { a: { $patch: 'delete' } }), { k: 1 });
    assert.deepEqual(strategicMerge({ f: ['a', 'b', 'c'] }, { '$deleteFromPrimitiveList/f': ['b'] }), { f: ['a', 'c'] });
    const ordered = strategicMerge({ containers: [{ name: 'a' }, { name: 'b' }] }, { '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }], containers: [{ name: 'a', image: 'x' }] }) as any;
    assert.deepEqual(ordered.containers.map((x: { name: string }) => x.name), ['b', 'a']);
  });
});

describe('object store history', () => {
  it('GIVEN a history limit WHEN more changes happen THEN resuming before the compaction point is refused', () => {
    const s = new ObjectStore(3, 100);
    const rvs: number[] = [];
    for (let i = 0; i < 5; i++) rvs.push(Number(s.create('/configmaps', { metadata: { name: `c${i}`, namespace: 'd' } }).metadata.resourceVersion));
    assert.deepEqual(rvs, [101, 102, 103, 104, 105]);
    const ok = s.since(102);
    assert.ok(ok.ok);
    assert.deepEqual(ok.changes.map((c) => c.rv), [103, 104, 105]);
    const gone = s.since(101);
    assert.deepEqual(gone, { ok: false, oldest: 102 });
    const del = s.remove('/configmaps', 'd', 'c0')!;
    assert.equal(del.metadata.resourceVersion, '106');
  });
});

describe('webhook rule matching', () => {
  const svc = BUILTIN_TYPES.find((t) => t.resource === 'services')!;
  const nodes = BUILTIN_TYPES.find((t) => t.resource === 'nodes')!;
  const rule = (resources: string[], scope?: string) => ({ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources, ...(scope ? { scope } : {}) });
  it('GIVEN resource patterns WHEN matched against main resources and subresources THEN kube semantics hold', () => {
    assert.ok(ruleMatches(rule(['services']), { operation: 'UPDATE', type: svc }));
    assert.ok(!ruleMatches(rule(['services']), { operation: 'UPDATE', type: svc, subresource: 'status' }));
    assert.ok(ruleMatches(rule(['services/status']), { operation: 'UPDATE', type: svc, subresource: 'status' }));
    assert.ok(ruleMatches(rule(['*/*']), { operation: 'UPDATE', type: svc, subresource: 'status' }));
    assert.ok(!ruleMatches(rule(['*']), { operation: 'UPDATE', type: svc, subresource: 'status' }));
    assert.ok(ruleMatches(rule(['services/*']), { operation: 'UPDATE', type: svc, subresource: 'status' }));
    assert.ok(!ruleMatches(rule(['*'], 'Namespaced'), { operation: 'UPDATE', type: nodes }));
    assert.ok(!ruleMatches(rule(['*']), { operation: 'CREATE', type: svc }));
  });
});
