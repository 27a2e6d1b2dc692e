/** Conformance of lab API watch streams, through @kubernetes/client-node's Watch and informer. */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, makeInformer, PatchStrategy, setHeaderOptions, Watch, type KubernetesObject, type V1ConfigMap } from '@kubernetes/client-node';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { raw, waitFor } from './fixture.js';

let api: TestApi;
let core: CoreV1Api;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

interface Seen { type: string; obj: any }

/** Starts a watch and collects its events until stopped. */
async function collect(path: string, query: Record<string, string | number | boolean>): Promise<{ events: Seen[]; done: Promise<unknown>; stop(): void }> {
  const events: Seen[] = [];
  let finish!: (e: unknown) => void;
  const done = new Promise((r) => { finish = r; });
  const ctl = await new Watch(api.kubeConfig('admin-user')).watch(path, query, (type, obj) => events.push({ type, obj }), (err) => finish(err ?? 'closed'));
  return { events, done, stop: () => ctl.abort() };
}

const cm = (name: string, labels: Record<string, string> = {}): V1ConfigMap => ({ metadata: { name, labels }, data: { v: '0' } });

before(async () => {
  api = await startTestApiServer({ watchHistory: 8, bookmarkIntervalSeconds: 0.2 });
  core = api.kubeConfig('admin-user').makeApiClient(CoreV1Api);
  for (const ns of ['wa', 'wb']) await core.createNamespace({ body: { metadata: { name: ns } } });
});
after(async () => {
  await api?.close();
});

describe('lab API: watch', () => {
  it('GIVEN a list resourceVersion WHEN watching from it THEN ADDED, MODIFIED and DELETED arrive in order with increasing resourceVersions', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: 'wa' });
    const w = await collect('/api/v1/namespaces/wa/configmaps', { resourceVersion: list.metadata!.resourceVersion! });
    await core.createNamespacedConfigMap({ namespace: 'wa', body: cm('w1') });
    await core.patchNamespacedConfigMap({ name: 'w1', namespace: 'wa', body: { data: { v: '1' } } }, merge);
    await core.deleteNamespacedConfigMap({ name: 'w1', namespace: 'wa' });
    await waitFor('3 events', () => w.events.length >= 3 || undefined);
    w.stop();
    assert.deepEqual(w.events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED']);
    assert.equal(w.events[1]!.obj.data.v, '1');
    const rvs = w.events.map((e) => Number(e.obj.metadata.resourceVersion));
    assert.ok(rvs[0]! < rvs[1]! && rvs[1]! < rvs[2]!, `increasing: ${rvs}`);
    assert.equal(w.events[0]!.obj.kind, 'ConfigMap');
  });

  it('GIVEN existing objects WHEN watching without a resourceVersion THEN each arrives first as a synthetic ADDED', async () => {
    await core.createNamespacedConfigMap({ namespace: 'wb', body: cm('pre1') });
    await core.createNamespacedConfigMap({ namespace: 'wb', body: cm('pre2') });
    const w = await collect('/api/v1/namespaces/wb/configmaps', {});
    await waitFor('initial events', () => w.events.length >= 2 || undefined);
    w.stop();
    assert.deepEqual(w.events.map((e) => `${e.type} ${e.obj.metadata.name}`), ['ADDED pre1', 'ADDED pre2']);
  });

  it('GIVEN changes after a resourceVersion WHEN a watch resumes from it THEN exactly the later changes are replayed', async () => {
    const start = (await core.listNamespacedConfigMap({ namespace: 'wa' })).metadata!.resourceVersion!;
    await core.createNamespacedConfigMap({ namespace: 'wa', body: cm('r1') });
    await core.createNamespacedConfigMap({ namespace: 'wb', body: cm('other-ns') });
    await core.patchNamespacedConfigMap({ name: 'r1', namespace: 'wa', body: { data: { v: '2' } } }, merge);
    const w = await collect('/api/v1/namespaces/wa/configmaps', { resourceVersion: start });
    await waitFor('replay', () => w.events.length >= 2 || undefined);
    await new Promise((r) => setTimeout(r, 50));
    w.stop();
    assert.deepEqual(w.events.map((e) => `${e.type} ${e.obj.metadata.name} ${e.obj.data.v}`), ['ADDED r1 0', 'MODIFIED r1 2']);
  });

  it('GIVEN a resourceVersion older than the watch history WHEN resuming THEN an ERROR event carries a 410 Expired Status', async () => {
    const old = (await core.listNamespacedConfigMap({ namespace: 'wa' })).metadata!.resourceVersion!;
    for (let i = 0; i < 10; i++) await core.patchNamespacedConfigMap({ name: 'r1', namespace: 'wa', body: { data: { v: String(i + 10) } } }, merge);
    const w = await collect('/api/v1/namespaces/wa/configmaps', { resourceVersion: old });
    await w.done;
    assert.equal(w.events.length, 1);
    assert.equal(w.events[0]!.type, 'ERROR');
    assert.equal(w.events[0]!.obj.code, 410);
    assert.equal(w.events[0]!.obj.reason, 'Expired');
    assert.match(w.events[0]!.obj.message, /^too old resource version: \d+ \(\d+\)$/);
  });

  it('GIVEN a resourceVersion from the future (a client of a restarted server) WHEN resuming THEN a 410 makes it relist', async () => {
    const now = Number((await core.listNamespacedConfigMap({ namespace: 'wa' })).metadata!.resourceVersion!);
    const w = await collect('/api/v1/namespaces/wa/configmaps', { resourceVersion: String(now + 1000) });
    await w.done;
    assert.equal(w.events[0]!.type, 'ERROR');
    assert.equal(w.events[0]!.obj.code, 410);
  });

  it('GIVEN a label selector WHEN an object is relabelled in and out THEN the watch sees ADDED then DELETED', async () => {
    await core.createNamespacedConfigMap({ namespace: 'wa', body: cm('sel', { team: 'red' }) });
    const w = await collect('/api/v1/namespaces/wa/configmaps', { labelSelector: 'team=blue', resourceVersion: (await core.listNamespacedConfigMap({ namespace: 'wa' })).metadata!.resourceVersion! });
    await core.patchNamespacedConfigMap({ name: 'sel', namespace: 'wa', body: { metadata: { labels: { team: 'blue' } } } }, merge);
    await core.patchNamespacedConfigMap({ name: 'sel', namespace: 'wa', body: { data: { v: 'x' } } }, merge);
    await core.patchNamespacedConfigMap({ name: 'sel', namespace: 'wa', body: { metadata: { labels: { team: 'red' } } } }, merge);
    await waitFor('3 events', () => w.events.length >= 3 || undefined);
    w.stop();
    assert.deepEqual(w.events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED']);
  });

  it('GIVEN a field selector on metadata.name WHEN other objects change THEN only the named one is streamed', async () => {
    const w = await collect('/api/v1/namespaces/wa/configmaps', { fieldSelector: 'metadata.name=only', resourceVersion: (await core.listNamespacedConfigMap({ namespace: 'wa' })).metadata!.resourceVersion! });
    await core.createNamespacedConfigMap({ namespace: 'wa', body: cm('not-this') });
    await core.createNamespacedConfigMap({ namespace: 'wa', body: cm('only') });
    await waitFor('event', () => w.events.length >= 1 || undefined);
    await new Promise((r) => setTimeout(r, 50));
    w.stop();
    assert.deepEqual(w.events.map((e) => e.obj.metadata.name), ['only']);
  });

  it('GIVEN allowWatchBookmarks WHEN nothing changes THEN BOOKMARK events carry the current resourceVersion', async () => {
    const w = await collect('/api/v1/namespaces/wa/configmaps', { allowWatchBookmarks: true, resourceVersion: (await core.listNamespacedConfigMap({ namespace: 'wa' })).metadata!.resourceVersion! });
    await waitFor('bookmark', () => w.events.find((e) => e.type === 'BOOKMARK'));
    w.stop();
    const b = w.events.find((e) => e.type === 'BOOKMARK')!;
    assert.equal(b.obj.kind, 'ConfigMap');
    assert.match(b.obj.metadata.resourceVersion, /^\d+$/);
  });

  it('GIVEN timeoutSeconds WHEN the time passes THEN the server ends the stream', async () => {
    const started = Date.now();
    const w = await collect('/api/v1/namespaces/wa/configmaps', { timeoutSeconds: 1, resourceVersion: (await core.listNamespacedConfigMap({ namespace: 'wa' })).metadata!.resourceVersion! });
    await w.done;
    assert.ok(Date.now() - started >= 900);
  });

  it('GIVEN a watch across all namespaces WHEN objects change in two namespaces THEN both are seen', async () => {
    const w = await collect('/api/v1/configmaps', { resourceVersion: (await core.listConfigMapForAllNamespaces()).metadata!.resourceVersion! });
    await core.createNamespacedConfigMap({ namespace: 'wa', body: cm('all-a') });
    await core.createNamespacedConfigMap({ namespace: 'wb', body: cm('all-b') });
    await waitFor('2 events', () => w.events.length >= 2 || undefined);
    w.stop();
    assert.deepEqual(w.events.map((e) => `${e.obj.metadata.namespace}/${e.obj.metadata.name}`), ['wa/all-a', 'wb/all-b']);
  });

  it('GIVEN a client-node informer WHEN an object is created THEN its list+watch cache has it', async () => {
    const path = '/api/v1/namespaces/wb/configmaps';
    const inf = makeInformer<V1ConfigMap & KubernetesObject>(api.kubeConfig('admin-user'), path, () => core.listNamespacedConfigMap({ namespace: 'wb' }));
    const seen: string[] = [];
    inf.on('add', (o) => seen.push(`add ${o.metadata!.name}`));
    await inf.start();
    await core.createNamespacedConfigMap({ namespace: 'wb', body: cm('inf1') });
    await waitFor('informer add', () => inf.get('inf1', 'wb'));
    await inf.stop();
    assert.ok(seen.includes('add inf1'));
  });

  it('GIVEN a watch request as raw HTTP WHEN read THEN it is a 200 chunked stream of JSON lines', async () => {
    const r = await raw(api, 'GET', '/api/v1/namespaces/wb/configmaps?watch=1&timeoutSeconds=1');
    assert.equal(r.status, 200);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    const lines = r.text.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.length >= 1);
    assert.ok(lines.every((l) => l.type === 'ADDED' && l.object.kind === 'ConfigMap'));
  });
});
