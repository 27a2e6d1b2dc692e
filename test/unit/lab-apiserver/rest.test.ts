/**
 * Conformance of the lab API server's REST layer, through @kubernetes/client-node (and raw HTTPS
 * where the wire format itself is the point).
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import {
  AppsV1Api, CoreV1Api, CustomObjectsApi, DiscoveryV1Api, PatchStrategy, setHeaderOptions, type V1Service,
} from '@kubernetes/client-node';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { raw, rejectsWithStatus, waitFor } from './fixture.js';

let api: TestApi;
let core: CoreV1Api;
let apps: AppsV1Api;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const jsonp = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

before(async () => {
  api = await startTestApiServer({ serviceCIDR: '203.0.113.0/24', nodePortRange: '30000-30009' });
  core = api.kubeConfig('admin-user').makeApiClient(CoreV1Api);
  apps = api.kubeConfig('admin-user').makeApiClient(AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: 'rest' } } });
});
after(async () => {
  await api?.close();
});

describe('lab API: discovery and health', () => {
  it('GIVEN the server WHEN /api, /apis, /apis/apps/v1, /version and /healthz are fetched THEN they answer like kube-apiserver', async () => {
    const v = await raw(api, 'GET', '/api');
    assert.equal(v.json.kind, 'APIVersions');
    assert.deepEqual(v.json.versions, ['v1']);
    const groups = await raw(api, 'GET', '/apis');
    const names = groups.json.groups.map((g: { name: string }) => g.name);
    for (const g of ['apps', 'discovery.k8s.io', 'rbac.authorization.k8s.io', 'coordination.k8s.io', 'admissionregistration.k8s.io', 'apiextensions.k8s.io', 'events.k8s.io']) {
      assert.ok(names.includes(g), `group ${g} served`);
    }
    const appsList = await raw(api, 'GET', '/apis/apps/v1');
    const ds = appsList.json.resources.find((r: { name: string }) => r.name === 'daemonsets');
    assert.equal(ds.kind, 'DaemonSet');
    assert.ok(appsList.json.resources.some((r: { name: string }) => r.name === 'daemonsets/status'));
    const coreList = await raw(api, 'GET', '/api/v1');
    assert.ok(coreList.json.resources.some((r: { name: string }) => r.name === 'services/status'));
    assert.equal((await raw(api, 'GET', '/version')).json.major, '1');
    const h = await raw(api, 'GET', '/healthz', { user: null });
    assert.equal(h.status, 200);
    assert.equal(h.text, 'ok');
  });

  it('GIVEN a bad token WHEN any request is made THEN 401 with an Unauthorized Status', async () => {
    const r = await raw(api, 'GET', '/api/v1/namespaces', { token: 'not-a-real-token' });
    assert.equal(r.status, 401);
    assert.equal(r.json.kind, 'Status');
    assert.equal(r.json.reason, 'Unauthorized');
  });

  it('GIVEN no token WHEN a resource is listed THEN 403 for system:anonymous', async () => {
    const r = await raw(api, 'GET', '/api/v1/namespaces', { user: null });
    assert.equal(r.status, 403);
    assert.match(r.json.message, /User "system:anonymous" cannot list resource "namespaces"/);
  });
});

describe('lab API: malformed requests', () => {
  it('GIVEN bad bodies, paths and methods WHEN sent THEN 400, 404 and 405 Status bodies come back', async () => {
    const bad = await raw(api, 'POST', '/api/v1/namespaces/rest/configmaps', { body: '{not json' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.reason, 'BadRequest');
    const kind = await raw(api, 'POST', '/api/v1/namespaces/rest/configmaps', { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } } });
    assert.equal(kind.status, 400);
    const ns = await raw(api, 'POST', '/api/v1/namespaces/rest/configmaps', { body: { metadata: { name: 'x', namespace: 'other' } } });
    assert.equal(ns.status, 400);
    assert.match(ns.json.message, /does not match the namespace/);
    assert.equal((await raw(api, 'GET', '/api/v1/widgets')).status, 404);
    assert.equal((await raw(api, 'GET', '/apis/nope.example.com/v1')).status, 404);
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/rest/configmaps/x/status')).status, 404, 'configmaps have no status subresource');
    assert.equal((await raw(api, 'PUT', '/api/v1/namespaces/rest/configmaps', { body: {} })).status, 405);
    const nameMismatch = await raw(api, 'PUT', '/api/v1/namespaces/default', { body: { metadata: { name: 'other' } } });
    assert.equal(nameMismatch.status, 400);
    const labelSel = await raw(api, 'GET', '/api/v1/namespaces/rest/configmaps?labelSelector=a%20b');
    assert.equal(labelSel.status, 400);
  });
});

describe('lab API: create, get, update, delete', () => {
  it('GIVEN a ConfigMap WHEN created THEN uid, creationTimestamp and resourceVersion are set and get returns it', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name: 'c1', labels: { app: 'a' } }, data: { k: 'v' } } });
    assert.match(cm.metadata!.uid!, /^[0-9a-f-]{36}$/);
    assert.ok(cm.metadata!.creationTimestamp instanceof Date);
    assert.match(cm.metadata!.resourceVersion!, /^\d+$/);
    const got = await core.readNamespacedConfigMap({ name: 'c1', namespace: 'rest' });
    assert.deepEqual(got.data, { k: 'v' });
    assert.equal(got.metadata!.resourceVersion, cm.metadata!.resourceVersion);
  });

  it('GIVEN an existing name WHEN created again THEN 409 AlreadyExists Status', async () => {
    const st = await rejectsWithStatus(core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name: 'c1' } } }));
    assert.equal(st.code, 409);
    assert.equal(st.reason, 'AlreadyExists');
    assert.equal(st.message, 'configmaps "c1" already exists');
    assert.deepEqual(st.details, { name: 'c1', group: '', kind: 'configmaps' });
  });

  it('GIVEN a missing object WHEN read THEN 404 NotFound Status naming it', async () => {
    const st = await rejectsWithStatus(apps.readNamespacedDeployment({ name: 'nope', namespace: 'rest' }));
    assert.equal(st.code, 404);
    assert.equal(st.reason, 'NotFound');
    assert.equal(st.message, 'deployments.apps "nope" not found');
    assert.equal(st.kind, 'Status');
  });

  it('GIVEN a missing namespace WHEN creating in it THEN 404 for the namespace', async () => {
    const st = await rejectsWithStatus(core.createNamespacedConfigMap({ namespace: 'ghost', body: { metadata: { name: 'x' } } }));
    assert.equal(st.code, 404);
    assert.equal(st.message, 'namespaces "ghost" not found');
  });

  it('GIVEN generateName WHEN created THEN a name with a 5-character suffix is generated', async () => {
    const a = await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { generateName: 'gen-' } } });
    const b = await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { generateName: 'gen-' } } });
    assert.match(a.metadata!.name!, /^gen-[a-z0-9]{5}$/);
    assert.notEqual(a.metadata!.name, b.metadata!.name);
    assert.equal(a.metadata!.generateName, 'gen-');
  });

  it('GIVEN an invalid name WHEN created THEN 422 Invalid with a cause for metadata.name', async () => {
    const st = await rejectsWithStatus(core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name: 'Bad_Name' } } }));
    assert.equal(st.code, 422);
    assert.equal(st.reason, 'Invalid');
    assert.match(st.message, /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value/);
    assert.equal(st.details.causes[0].field, 'metadata.name');
  });

  it('GIVEN a stale resourceVersion WHEN updating THEN 409 Conflict, and the current one succeeds', async () => {
    const cm = await core.readNamespacedConfigMap({ name: 'c1', namespace: 'rest' });
    const stale = { ...cm, metadata: { ...cm.metadata, resourceVersion: String(Number(cm.metadata!.resourceVersion) - 1) } };
    const st = await rejectsWithStatus(core.replaceNamespacedConfigMap({ name: 'c1', namespace: 'rest', body: { ...stale, data: { k: 'stale' } } }));
    assert.equal(st.code, 409);
    assert.equal(st.reason, 'Conflict');
    assert.equal(st.message, 'Operation cannot be fulfilled on configmaps "c1": the object has been modified; please apply your changes to the latest version and try again');
    const ok = await core.replaceNamespacedConfigMap({ name: 'c1', namespace: 'rest', body: { ...cm, data: { k: 'fresh' } } });
    assert.equal(ok.data!.k, 'fresh');
    assert.ok(Number(ok.metadata!.resourceVersion) > Number(cm.metadata!.resourceVersion));
  });

  it('GIVEN an update that changes nothing WHEN sent THEN the resourceVersion stays the same', async () => {
    const cm = await core.readNamespacedConfigMap({ name: 'c1', namespace: 'rest' });
    const same = await core.replaceNamespacedConfigMap({ name: 'c1', namespace: 'rest', body: cm });
    assert.equal(same.metadata!.resourceVersion, cm.metadata!.resourceVersion);
  });

  it('GIVEN dryRun=All WHEN creating, updating and deleting THEN nothing is stored or removed', async () => {
    await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name: 'dry' } }, dryRun: 'All' });
    await rejectsWithStatus(core.readNamespacedConfigMap({ name: 'dry', namespace: 'rest' }));
    await core.patchNamespacedConfigMap({ name: 'c1', namespace: 'rest', body: { data: { k: 'dry' } }, dryRun: 'All' }, merge);
    assert.equal((await core.readNamespacedConfigMap({ name: 'c1', namespace: 'rest' })).data!.k, 'fresh');
    await core.deleteNamespacedConfigMap({ name: 'c1', namespace: 'rest', dryRun: 'All' });
    await core.readNamespacedConfigMap({ name: 'c1', namespace: 'rest' });
  });

  it('GIVEN a Secret with stringData WHEN created THEN it is stored base64 in data', async () => {
    const s = await core.createNamespacedSecret({ namespace: 'rest', body: { metadata: { name: 's1' }, stringData: { token: 'abc' } } });
    assert.equal(s.data!.token, Buffer.from('abc').toString('base64'));
    assert.equal(s.type, 'Opaque');
    assert.equal(s.stringData, undefined);
  });
});

describe('lab API: list, selectors, paging', () => {
  before(async () => {
    for (const [name, labels] of [['l1', { tier: 'web', env: 'prod' }], ['l2', { tier: 'db', env: 'prod' }], ['l3', { tier: 'web' }]] as const) {
      await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name, labels: { sel: 'yes', ...labels } } } });
    }
  });

  const names = async (labelSelector: string, fieldSelector?: string): Promise<string[]> =>
    (await core.listNamespacedConfigMap({ namespace: 'rest', labelSelector: `sel=yes,${labelSelector}`, ...(fieldSelector ? { fieldSelector } : {}) }))
      .items.map((i) => i.metadata!.name!);

  it('GIVEN labelled objects WHEN listed with each label selector operator THEN exactly the matching ones come back', async () => {
    assert.deepEqual(await names('tier=web'), ['l1', 'l3']);
    assert.deepEqual(await names('tier==db'), ['l2']);
    assert.deepEqual(await names('tier!=web'), ['l2']);
    assert.deepEqual(await names('tier in (db,cache)'), ['l2']);
    assert.deepEqual(await names('tier notin (db)'), ['l1', 'l3']);
    assert.deepEqual(await names('env'), ['l1', 'l2']);
    assert.deepEqual(await names('!env'), ['l3']);
  });

  it('GIVEN objects WHEN listed with field selectors THEN metadata.name and metadata.namespace filter', async () => {
    assert.deepEqual(await names('', 'metadata.name=l2'), ['l2']);
    assert.deepEqual(await names('', 'metadata.name!=l2'), ['l1', 'l3']);
    assert.deepEqual(await names('', 'metadata.namespace=rest,metadata.name=l3'), ['l3']);
  });

  it('GIVEN an unsupported field selector WHEN listing THEN 400 BadRequest', async () => {
    const st = await rejectsWithStatus(core.listNamespacedConfigMap({ namespace: 'rest', fieldSelector: 'data.k=v' }));
    assert.equal(st.code, 400);
    assert.match(st.message, /field label not supported: data.k/);
  });

  it('GIVEN pods on two nodes WHEN listed across namespaces by spec.nodeName THEN only that node\'s pods come back', async () => {
    for (const [name, node] of [['p1', 'n1'], ['p2', 'n2']]) {
      await core.createNamespacedPod({ namespace: 'rest', body: { metadata: { name }, spec: { nodeName: node, containers: [{ name: 'c', image: 'x:1' }] } } });
    }
    const l = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n2' });
    assert.deepEqual(l.items.map((p) => p.metadata!.name), ['p2']);
    assert.equal(l.items[0]!.status!.phase, 'Pending');
  });

  it('GIVEN a list WHEN fetched THEN it carries kind, apiVersion and metadata.resourceVersion', async () => {
    const r = await raw(api, 'GET', '/api/v1/namespaces/rest/configmaps?resourceVersion=0');
    assert.equal(r.json.kind, 'ConfigMapList');
    assert.equal(r.json.apiVersion, 'v1');
    assert.match(r.json.metadata.resourceVersion, /^\d+$/);
  });

  it('GIVEN limit WHEN listing THEN pages chain through continue tokens', async () => {
    const p1 = await core.listNamespacedConfigMap({ namespace: 'rest', labelSelector: 'sel=yes', limit: 2 });
    assert.equal(p1.items.length, 2);
    assert.ok(p1.metadata!._continue);
    const p2 = await core.listNamespacedConfigMap({ namespace: 'rest', labelSelector: 'sel=yes', limit: 2, _continue: p1.metadata!._continue! });
    assert.deepEqual(p2.items.map((i) => i.metadata!.name), ['l3']);
    assert.equal(p2.metadata!._continue, undefined);
  });
});

describe('lab API: patches', () => {
  it('GIVEN a ConfigMap WHEN merge-patched THEN keys merge and null deletes', async () => {
    await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name: 'pm', labels: { a: '1', b: '2' } }, data: { x: '1', y: '2' } } });
    const p = await core.patchNamespacedConfigMap({ name: 'pm', namespace: 'rest', body: { metadata: { labels: { b: null, c: '3' } }, data: { y: null, z: '3' } } }, merge);
    assert.deepEqual(p.metadata!.labels, { a: '1', c: '3' });
    assert.deepEqual(p.data, { x: '1', z: '3' });
  });

  it('GIVEN a ConfigMap WHEN JSON-patched THEN add/replace/remove/test apply and a failed test gives 422', async () => {
    const p = await core.patchNamespacedConfigMap({ name: 'pm', namespace: 'rest', body: [
      { op: 'test', path: '/data/x', value: '1' }, { op: 'replace', path: '/data/x', value: 'one' }, { op: 'add', path: '/data/w', value: '0' }, { op: 'remove', path: '/data/z' },
    ] }, jsonp);
    assert.deepEqual(p.data, { x: 'one', w: '0' });
    const st = await rejectsWithStatus(core.patchNamespacedConfigMap({ name: 'pm', namespace: 'rest', body: [{ op: 'test', path: '/data/x', value: 'nope' }] }, jsonp));
    assert.equal(st.code, 422);
  });

  it('GIVEN a patch carrying a stale resourceVersion WHEN applied THEN 409 Conflict', async () => {
    const st = await rejectsWithStatus(core.patchNamespacedConfigMap({ name: 'pm', namespace: 'rest', body: { metadata: { resourceVersion: '1' }, data: { q: '1' } } }, merge));
    assert.equal(st.code, 409);
    assert.equal(st.reason, 'Conflict');
  });

  it('GIVEN a Deployment WHEN strategic-merge-patched THEN containers and env merge by name and $patch: delete removes', async () => {
    await apps.createNamespacedDeployment({ namespace: 'rest', body: {
      metadata: { name: 'd1' },
      spec: { selector: { matchLabels: { app: 'd1' } }, template: { metadata: { labels: { app: 'd1' } },
        spec: { containers: [{ name: 'a', image: 'a:1', env: [{ name: 'X', value: '1' }, { name: 'Y', value: '2' }] }, { name: 'b', image: 'b:1' }] } } },
    } });
    const d = await apps.patchNamespacedDeployment({ name: 'd1', namespace: 'rest', body: { spec: { template: { spec: { containers: [
      { name: 'a', env: [{ name: 'Y', value: 'two' }, { name: 'Z', value: '3' }] }, { name: 'b', $patch: 'delete' },
    ] } } } } }, strategic);
    const cs = d.spec!.template.spec!.containers;
    assert.deepEqual(cs.map((c) => c.name), ['a']);
    assert.equal(cs[0]!.image, 'a:1');
    assert.deepEqual(JSON.parse(JSON.stringify(cs[0]!.env)), [{ name: 'X', value: '1' }, { name: 'Y', value: 'two' }, { name: 'Z', value: '3' }]);
    assert.equal(d.metadata!.generation, 2);
  });

  it('GIVEN a missing object WHEN patched THEN 404', async () => {
    const st = await rejectsWithStatus(core.patchNamespacedConfigMap({ name: 'ghost', namespace: 'rest', body: { data: {} } }, merge));
    assert.equal(st.code, 404);
  });

  it('GIVEN an unknown patch content type WHEN sent THEN 415', async () => {
    const r = await raw(api, 'PATCH', '/api/v1/namespaces/rest/configmaps/pm', { body: { data: {} }, contentType: 'application/x-nope' });
    assert.equal(r.status, 415);
    assert.equal(r.json.reason, 'UnsupportedMediaType');
  });
});

describe('lab API: status subresource and generation', () => {
  it('GIVEN a Service WHEN its main resource is updated with a status THEN the status is ignored; WHEN /status is updated THEN only status changes', async () => {
    const svc = await core.createNamespacedService({ namespace: 'rest', body: { metadata: { name: 'lb' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } } });
    assert.equal(svc.metadata!.generation, 1);
    const withStatus: V1Service = { ...svc, status: { loadBalancer: { ingress: [{ ip: '198.51.100.200' }] } } };
    const main = await core.replaceNamespacedService({ name: 'lb', namespace: 'rest', body: withStatus });
    assert.deepEqual(main.status?.loadBalancer?.ingress ?? [], []);
    const st = await core.patchNamespacedServiceStatus({ name: 'lb', namespace: 'rest', body: {
      metadata: { labels: { sneaky: 'yes' } }, spec: { type: 'ClusterIP' }, status: { loadBalancer: { ingress: [{ ip: '198.51.100.200' }] } },
    } }, merge);
    assert.equal(st.status!.loadBalancer!.ingress![0]!.ip, '198.51.100.200');
    assert.equal(st.spec!.type, 'LoadBalancer');
    assert.equal(st.metadata!.labels, undefined);
    assert.equal(st.metadata!.generation, 1, 'status writes do not bump generation');
    const relabel = await core.patchNamespacedService({ name: 'lb', namespace: 'rest', body: { metadata: { labels: { a: 'b' } } } }, merge);
    assert.equal(relabel.metadata!.generation, 1, 'metadata writes do not bump generation');
    const spec = await core.patchNamespacedService({ name: 'lb', namespace: 'rest', body: { spec: { externalTrafficPolicy: 'Local' } } }, merge);
    assert.equal(spec.metadata!.generation, 2, 'spec writes bump generation');
    assert.equal(spec.status!.loadBalancer!.ingress![0]!.ip, '198.51.100.200');
  });

  it('GIVEN a Node WHEN created with status and patched through /status THEN conditions are kept and updated', async () => {
    await core.createNode({ body: { metadata: { name: 'node-a', labels: { 'baremetal.cluster.gke.io/lbnode': 'true' } },
      status: { addresses: [{ type: 'InternalIP', address: '198.51.100.21' }], conditions: [{ type: 'Ready', status: 'False' }] } } });
    const n = await core.patchNodeStatus({ name: 'node-a', body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } }, merge);
    assert.equal(n.status!.conditions![0]!.status, 'True');
    assert.equal(n.status!.addresses![0]!.address, '198.51.100.21');
  });
});

describe('lab API: Services', () => {
  it('GIVEN Services WHEN created THEN ClusterIPs come from serviceCIDR, nodePorts from the range, ipFamilies are defaulted', async () => {
    const a = await core.createNamespacedService({ namespace: 'rest', body: { metadata: { name: 'np' }, spec: { type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }] } } });
    assert.match(a.spec!.clusterIP!, /^203\.0\.113\.\d+$/);
    assert.deepEqual(a.spec!.clusterIPs, [a.spec!.clusterIP]);
    assert.deepEqual(a.spec!.ipFamilies, ['IPv4']);
    assert.equal(a.spec!.ipFamilyPolicy, 'SingleStack');
    for (const p of a.spec!.ports!) assert.ok(p.nodePort! >= 30000 && p.nodePort! <= 30009);
    assert.notEqual(a.spec!.ports![0]!.nodePort, a.spec!.ports![1]!.nodePort);
    assert.equal(a.spec!.ports![1]!.targetPort, 53);
    const c = await core.createNamespacedService({ namespace: 'rest', body: { metadata: { name: 'cip' }, spec: { ports: [{ port: 80 }] } } });
    assert.equal(c.spec!.type, 'ClusterIP');
    assert.equal(c.spec!.ports![0]!.nodePort, undefined);
    assert.notEqual(c.spec!.clusterIP, a.spec!.clusterIP);
  });

  it('GIVEN a Service WHEN updated without clusterIP THEN the allocated one is kept; WHEN clusterIP is changed THEN 422', async () => {
    const c = await core.readNamespacedService({ name: 'cip', namespace: 'rest' });
    const kept = await core.replaceNamespacedService({ name: 'cip', namespace: 'rest', body: { metadata: { name: 'cip' }, spec: { ports: [{ port: 81 }] } } });
    assert.equal(kept.spec!.clusterIP, c.spec!.clusterIP);
    const st = await rejectsWithStatus(core.patchNamespacedService({ name: 'cip', namespace: 'rest', body: { spec: { clusterIP: '203.0.113.250', clusterIPs: ['203.0.113.250'] } } }, merge));
    assert.equal(st.code, 422);
    assert.match(st.message, /may not change once set/);
  });

  it('GIVEN a nodePort outside the range or taken WHEN requested THEN 422 naming the field', async () => {
    const out = await rejectsWithStatus(core.createNamespacedService({ namespace: 'rest', body: { metadata: { name: 'bad1' }, spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 31000 }] } } }));
    assert.equal(out.code, 422);
    assert.equal(out.details.causes[0].field, 'spec.ports[0].nodePort');
    const np = await core.readNamespacedService({ name: 'np', namespace: 'rest' });
    const taken = await rejectsWithStatus(core.createNamespacedService({ namespace: 'rest', body: { metadata: { name: 'bad2' }, spec: { type: 'NodePort', ports: [{ port: 80, nodePort: np.spec!.ports![0]!.nodePort! }] } } }));
    assert.match(taken.message, /provided port is already allocated/);
  });

  it('GIVEN a LoadBalancer Service with externalTrafficPolicy Local WHEN created THEN a healthCheckNodePort is allocated', async () => {
    const s = await core.createNamespacedService({ namespace: 'rest', body: { metadata: { name: 'local' }, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 443 }] } } });
    assert.ok(s.spec!.healthCheckNodePort! >= 30000);
  });

  it('GIVEN a dual-stack service CIDR WHEN a PreferDualStack Service is created THEN it gets one IP per family', async () => {
    const dual = await startTestApiServer({ serviceCIDR: '203.0.113.0/24,2001:db8:1::/112' });
    try {
      const c = dual.kubeConfig('admin-user').makeApiClient(CoreV1Api);
      const s = await c.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'ds' }, spec: { ipFamilyPolicy: 'PreferDualStack', ports: [{ port: 80 }] } } });
      assert.deepEqual(s.spec!.ipFamilies, ['IPv4', 'IPv6']);
      assert.match(s.spec!.clusterIPs![1]!, /^2001:db8:1::/);
    } finally {
      await dual.close();
    }
  });
});

describe('lab API: deletion, finalizers, garbage collection, namespaces', () => {
  it('GIVEN an object with a finalizer WHEN deleted THEN it stays with deletionTimestamp until the finalizer is removed', async () => {
    await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name: 'fin', finalizers: ['example.com/hold'] } } });
    await core.deleteNamespacedConfigMap({ name: 'fin', namespace: 'rest' });
    const held = await core.readNamespacedConfigMap({ name: 'fin', namespace: 'rest' });
    assert.ok(held.metadata!.deletionTimestamp);
    const st = await rejectsWithStatus(core.patchNamespacedConfigMap({ name: 'fin', namespace: 'rest', body: { metadata: { finalizers: ['example.com/hold', 'example.com/new'] } } }, merge));
    assert.equal(st.code, 422);
    await core.patchNamespacedConfigMap({ name: 'fin', namespace: 'rest', body: { metadata: { finalizers: null } } }, merge);
    await rejectsWithStatus(core.readNamespacedConfigMap({ name: 'fin', namespace: 'rest' }));
  });

  it('GIVEN a DaemonSet owning Pods WHEN the DaemonSet is deleted THEN its Pods are garbage-collected (background)', async () => {
    const ds = await apps.createNamespacedDaemonSet({ namespace: 'rest', body: { metadata: { name: 'spk' },
      spec: { selector: { matchLabels: { app: 'spk' } }, template: { metadata: { labels: { app: 'spk' } }, spec: { containers: [{ name: 's', image: 's:1' }] } } } } });
    const owner = { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'spk', uid: ds.metadata!.uid!, controller: true, blockOwnerDeletion: true };
    for (const n of ['spk-a', 'spk-b']) {
      await core.createNamespacedPod({ namespace: 'rest', body: { metadata: { name: n, labels: { app: 'spk' }, ownerReferences: [owner] }, spec: { containers: [{ name: 's', image: 's:1' }] } } });
    }
    await core.createNamespacedPod({ namespace: 'rest', body: { metadata: { name: 'orphan-ok', labels: { app: 'spk' } }, spec: { containers: [{ name: 's', image: 's:1' }] } } });
    await apps.deleteNamespacedDaemonSet({ name: 'spk', namespace: 'rest' });
    await waitFor('pods collected', async () => (await core.listNamespacedPod({ namespace: 'rest', labelSelector: 'app=spk' })).items.length === 1 || undefined);
    const left = await core.listNamespacedPod({ namespace: 'rest', labelSelector: 'app=spk' });
    assert.deepEqual(left.items.map((p) => p.metadata!.name), ['orphan-ok']);
  });

  it('GIVEN propagationPolicy Orphan WHEN the owner is deleted THEN dependents stay without the ownerReference', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name: 'owner' } } });
    await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name: 'dep', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: cm.metadata!.uid! }] } } });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: 'rest', propagationPolicy: 'Orphan' });
    await new Promise((r) => setTimeout(r, 50));
    const dep = await core.readNamespacedConfigMap({ name: 'dep', namespace: 'rest' });
    assert.equal(dep.metadata!.ownerReferences, undefined);
  });

  it('GIVEN propagationPolicy Foreground WHEN the owner is deleted THEN dependents go first, then the owner', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name: 'fg' } } });
    await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name: 'fg-dep', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'fg', uid: cm.metadata!.uid!, blockOwnerDeletion: true }] } } });
    await core.deleteNamespacedConfigMap({ name: 'fg', namespace: 'rest', propagationPolicy: 'Foreground' });
    await waitFor('owner gone', async () => (await core.listNamespacedConfigMap({ namespace: 'rest', fieldSelector: 'metadata.name=fg' })).items.length === 0 || undefined);
    await rejectsWithStatus(core.readNamespacedConfigMap({ name: 'fg-dep', namespace: 'rest' }));
  });

  it('GIVEN a namespace with objects WHEN deleted THEN it is Terminating, refuses new content, and disappears with its content', async () => {
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'x', finalizers: ['example.com/hold'] } } });
    await core.deleteNamespace({ name: 'doomed' });
    const ns = await core.readNamespace({ name: 'doomed' });
    assert.equal(ns.status!.phase, 'Terminating');
    const st = await rejectsWithStatus(core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'y' } } }));
    assert.equal(st.code, 403);
    assert.match(st.message, /because it is being terminated/);
    await core.patchNamespacedConfigMap({ name: 'x', namespace: 'doomed', body: { metadata: { finalizers: null } } }, merge);
    await waitFor('namespace gone', async () => (await core.listNamespace({ fieldSelector: 'metadata.name=doomed' })).items.length === 0 || undefined);
  });

  it('GIVEN the system namespaces WHEN deleted THEN 403: they may not be deleted', async () => {
    for (const name of ['default', 'kube-system', 'kube-public']) {
      const st = await rejectsWithStatus(core.deleteNamespace({ name }));
      assert.equal(st.code, 403);
      assert.equal(st.message, `namespaces "${name}" is forbidden: this namespace may not be deleted`);
    }
  });

  it('GIVEN an immutable ConfigMap WHEN its data is changed THEN 422; WHEN only labels change THEN allowed', async () => {
    await core.createNamespacedConfigMap({ namespace: 'rest', body: { metadata: { name: 'frozen' }, data: { a: '1' }, immutable: true } });
    const st = await rejectsWithStatus(core.patchNamespacedConfigMap({ name: 'frozen', namespace: 'rest', body: { data: { a: '2' } } }, merge));
    assert.equal(st.code, 422);
    assert.match(st.message, /data: Forbidden: field is immutable when `immutable` is set/);
    await core.patchNamespacedConfigMap({ name: 'frozen', namespace: 'rest', body: { metadata: { labels: { ok: 'yes' } } } }, merge);
  });

  it('GIVEN objects matching a selector WHEN deletecollection is called THEN only those are deleted', async () => {
    await core.deleteCollectionNamespacedConfigMap({ namespace: 'rest', labelSelector: 'tier=web' });
    const left = await core.listNamespacedConfigMap({ namespace: 'rest', labelSelector: 'sel=yes' });
    assert.deepEqual(left.items.map((i) => i.metadata!.name), ['l2']);
  });
});

describe('lab API: other resources', () => {
  it('GIVEN EndpointSlices WHEN created THEN they are validated and listable by service-name label', async () => {
    const disc = api.kubeConfig('admin-user').makeApiClient(DiscoveryV1Api);
    await disc.createNamespacedEndpointSlice({ namespace: 'rest', body: { metadata: { name: 'lb-abc', labels: { 'kubernetes.io/service-name': 'lb' } }, addressType: 'IPv4',
      endpoints: [{ addresses: ['198.51.100.21'], conditions: { ready: true }, nodeName: 'lb1' }], ports: [{ name: '', port: 8080, protocol: 'TCP' }] } });
    const l = await disc.listNamespacedEndpointSlice({ namespace: 'rest', labelSelector: 'kubernetes.io/service-name=lb' });
    assert.equal(l.items[0]!.endpoints[0]!.nodeName, 'lb1');
    const st = await rejectsWithStatus(disc.createNamespacedEndpointSlice({ namespace: 'rest', body: { metadata: { name: 'bad' }, addressType: 'IPv4', endpoints: [{ addresses: ['2001:db8::1'] }] } }));
    assert.equal(st.code, 422);
  });

  it('GIVEN a Deployment whose selector does not match its template WHEN created THEN 422', async () => {
    const st = await rejectsWithStatus(apps.createNamespacedDeployment({ namespace: 'rest', body: { metadata: { name: 'bad' },
      spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'y' } }, spec: { containers: [{ name: 'c', image: 'c:1' }] } } } } }));
    assert.equal(st.code, 422);
    assert.match(st.message, /`selector` does not match template `labels`/);
  });

  it('GIVEN core and events.k8s.io Events WHEN written through either API THEN they are one object, readable and selectable through both', async () => {
    await core.createNamespacedEvent({ namespace: 'rest', body: { metadata: { name: 'ev1' }, involvedObject: { kind: 'Service', name: 'lb', namespace: 'rest' }, reason: 'Announcing', message: 'from lb1', type: 'Normal' } });
    const l = await core.listNamespacedEvent({ namespace: 'rest', fieldSelector: 'involvedObject.kind=Service,involvedObject.name=lb,type=Normal' });
    assert.equal(l.items.length, 1);
    const r = await raw(api, 'POST', '/apis/events.k8s.io/v1/namespaces/rest/events', { body: { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'ev2' },
      regarding: { kind: 'Service', name: 'lb', namespace: 'rest' }, reason: 'X', note: 'n', type: 'Warning', action: 'A', reportingController: 'bmlb', reportingInstance: 'i', eventTime: '2026-01-01T00:00:00.000000Z' } });
    assert.equal(r.status, 201);
    assert.equal(r.json.note, 'n');
    const asCore = await core.readNamespacedEvent({ name: 'ev2', namespace: 'rest' });
    assert.equal(asCore.message, 'n');
    assert.equal(asCore.involvedObject.name, 'lb');
    assert.equal(asCore.reportingComponent, 'bmlb');
    assert.equal(asCore.source!.component, 'bmlb');
    const coreList = await core.listNamespacedEvent({ namespace: 'rest', fieldSelector: 'involvedObject.name=lb,type=Warning' });
    assert.deepEqual(coreList.items.map((e) => e.metadata.name), ['ev2']);
    const newList = await raw(api, 'GET', '/apis/events.k8s.io/v1/namespaces/rest/events?fieldSelector=regarding.name%3Dlb');
    assert.deepEqual(newList.json.items.map((e: { metadata: { name: string }; note: string; regarding: { kind: string } }) => `${e.metadata.name} ${e.note} ${e.regarding.kind}`), ['ev1 from lb1 Service', 'ev2 n Service']);
    const patched = await raw(api, 'PATCH', '/apis/events.k8s.io/v1/namespaces/rest/events/ev1', { body: { note: 'changed' }, contentType: 'application/merge-patch+json' });
    assert.equal(patched.json.note, 'changed');
    assert.equal((await core.readNamespacedEvent({ name: 'ev1', namespace: 'rest' })).message, 'changed');
  });

  it('GIVEN a CustomResourceDefinition WHEN created THEN its resource is served generically with discovery, CRUD and status', async () => {
    const crdBody = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'widgets.example.com' },
      spec: { group: 'example.com', scope: 'Namespaced', names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] },
        versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] } };
    const r = await raw(api, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crdBody });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.status.conditions.find((c: { type: string }) => c.type === 'Established').status, 'True');
    const disc = await raw(api, 'GET', '/apis/example.com/v1');
    assert.deepEqual(disc.json.resources.map((x: { name: string }) => x.name), ['widgets', 'widgets/status']);
    const co = api.kubeConfig('admin-user').makeApiClient(CustomObjectsApi);
    const w = await co.createNamespacedCustomObject({ group: 'example.com', version: 'v1', namespace: 'rest', plural: 'widgets', body: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 1 }, status: { ok: true } } });
    assert.equal(w.status, undefined, 'status is dropped on create when the status subresource is on');
    const p = await co.patchNamespacedCustomObject({ group: 'example.com', version: 'v1', namespace: 'rest', plural: 'widgets', name: 'w1', body: { spec: { size: 2 } } }, merge);
    assert.equal(p.spec.size, 2);
    assert.equal(p.metadata.generation, 2);
    const sm = await raw(api, 'PATCH', '/apis/example.com/v1/namespaces/rest/widgets/w1', { body: { spec: { size: 3 } }, contentType: 'application/strategic-merge-patch+json' });
    assert.equal(sm.status, 415);
    await raw(api, 'DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com');
    assert.equal((await raw(api, 'GET', '/apis/example.com/v1/namespaces/rest/widgets')).status, 404);
  });

  it('GIVEN a ServiceAccount WHEN a token is requested THEN TokenRequest returns a token that authenticates as the account', async () => {
    await core.createNamespacedServiceAccount({ namespace: 'rest', body: { metadata: { name: 'robot' } } });
    const tr = await core.createNamespacedServiceAccountToken({ name: 'robot', namespace: 'rest', body: { spec: { audiences: [], expirationSeconds: 3600 } } });
    const who = await raw(api, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { token: tr.status!.token, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    assert.equal(who.json.status.userInfo.username, 'system:serviceaccount:rest:robot');
    assert.deepEqual(who.json.status.userInfo.groups, ['system:serviceaccounts', 'system:serviceaccounts:rest', 'system:authenticated']);
    const missing = await rejectsWithStatus(core.createNamespacedServiceAccountToken({ name: 'nobody', namespace: 'rest', body: { spec: { audiences: [] } } }));
    assert.equal(missing.code, 404);
  });

  it('GIVEN a service-account-token Secret WHEN created THEN it carries a working token, ca.crt and namespace; WHEN deleted THEN the token stops working', async () => {
    const s = await core.createNamespacedSecret({ namespace: 'rest', body: { metadata: { name: 'robot-token', annotations: { 'kubernetes.io/service-account.name': 'robot' } },
      type: 'kubernetes.io/service-account-token' } });
    const token = Buffer.from(s.data!.token!, 'base64').toString('utf8');
    assert.equal(Buffer.from(s.data!.namespace!, 'base64').toString('utf8'), 'rest');
    assert.match(Buffer.from(s.data!['ca.crt']!, 'base64').toString('utf8'), /BEGIN CERTIFICATE/);
    assert.ok(s.metadata!.annotations!['kubernetes.io/service-account.uid']);
    const who = await raw(api, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { token, body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    assert.equal(who.json.status.userInfo.username, 'system:serviceaccount:rest:robot');
    await core.deleteNamespacedSecret({ name: 'robot-token', namespace: 'rest' });
    assert.equal((await raw(api, 'GET', '/api', { token })).status, 401);
    const st = await rejectsWithStatus(core.createNamespacedSecret({ namespace: 'rest', body: { metadata: { name: 'ghost-token', annotations: { 'kubernetes.io/service-account.name': 'ghost' } },
      type: 'kubernetes.io/service-account-token' } }));
    assert.equal(st.code, 422);
  });

  it('GIVEN a new namespace WHEN created THEN it gets a default ServiceAccount and the metadata.name label', async () => {
    await core.createNamespace({ body: { metadata: { name: 'fresh' } } });
    await core.readNamespacedServiceAccount({ name: 'default', namespace: 'fresh' });
    const ns = await core.readNamespace({ name: 'fresh' });
    assert.equal(ns.metadata!.labels!['kubernetes.io/metadata.name'], 'fresh');
  });
});
