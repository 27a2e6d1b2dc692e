/** Validating admission webhooks called by the lab API server, against a tiny HTTPS webhook. */
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AdmissionregistrationV1Api, CoreV1Api, DiscoveryV1Api, PatchStrategy, setHeaderOptions, type V1ValidatingWebhook } from '@kubernetes/client-node';
import { createTestCa, issueServingCert, startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { rejectsWithStatus } from './fixture.js';

let api: TestApi;
let core: CoreV1Api;
let adm: AdmissionregistrationV1Api;
let hook: Server;
let hookPort: number;
let caBundle: string;
let otherCaBundle: string;
const reviews: Array<{ path: string; request: any }> = [];
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

before(async () => {
  api = await startTestApiServer();
  core = api.kubeConfig('admin-user').makeApiClient(CoreV1Api);
  adm = api.kubeConfig('admin-user').makeApiClient(AdmissionregistrationV1Api);
  const ca = await createTestCa(api.dir, 'hook-ca');
  const other = await createTestCa(api.dir, 'other-ca');
  caBundle = Buffer.from(ca.pem).toString('base64');
  otherCaBundle = Buffer.from(other.pem).toString('base64');
  const cert = await issueServingCert(ca, api.dir, 'hook', ['IP:127.0.0.1', 'DNS:hook.wh.svc']);
  hook = createServer({ cert: await readFile(cert.certFile), key: await readFile(cert.keyFile) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      reviews.push({ path: req.url ?? '', request: review.request });
      if (req.url === '/slow') return; // never answers: the API server's timeout must fire
      const obj = review.request.object ?? review.request.oldObject;
      const deny = obj?.metadata?.labels?.deny === 'true';
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: {
        uid: review.request.uid, allowed: !deny, ...(deny ? { status: { code: 403, message: 'no thanks' } } : {}) } }));
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  hookPort = (hook.address() as AddressInfo).port;
  for (const [name, labels] of [['wh', {}], ['guarded', { webhook: 'on' }], ['free', {}]] as const) {
    await core.createNamespace({ body: { metadata: { name, labels } } });
  }
});
after(async () => {
  hook?.closeAllConnections();
  await new Promise((r) => hook?.close(r));
  await api?.close();
});

function webhook(name: string, over: Partial<V1ValidatingWebhook> = {}): V1ValidatingWebhook {
  return {
    name, admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', timeoutSeconds: 2,
    clientConfig: { url: `https://127.0.0.1:${hookPort}/validate`, caBundle },
    rules: [{ operations: ['CREATE', 'UPDATE', 'DELETE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
    namespaceSelector: { matchLabels: { webhook: 'on' } },
    ...over,
  };
}

async function withConfig(name: string, hooks: V1ValidatingWebhook[], fn: () => Promise<void>): Promise<void> {
  await adm.createValidatingWebhookConfiguration({ body: { metadata: { name }, webhooks: hooks } });
  try {
    await fn();
  } finally {
    await adm.deleteValidatingWebhookConfiguration({ name });
  }
}

describe('lab API: validating admission webhooks', () => {
  it('GIVEN a webhook on configmaps WHEN a write is denied THEN 403 with the webhook\'s message; WHEN allowed THEN stored; the review carries user, object and operation', async () => {
    await withConfig('cm-guard', [webhook('deny.example.com')], async () => {
      reviews.length = 0;
      const st = await rejectsWithStatus(core.createNamespacedConfigMap({ namespace: 'guarded', body: { metadata: { name: 'bad', labels: { deny: 'true' } } } }));
      assert.equal(st.code, 403);
      assert.equal(st.message, 'admission webhook "deny.example.com" denied the request: no thanks');
      await core.createNamespacedConfigMap({ namespace: 'guarded', body: { metadata: { name: 'good' }, data: { a: '1' } } });
      const r = reviews.at(-1)!.request;
      assert.equal(r.operation, 'CREATE');
      assert.equal(r.userInfo.username, 'admin-user');
      assert.ok(r.userInfo.groups.includes('system:masters'));
      assert.equal(r.object.metadata.name, 'good');
      assert.equal(r.namespace, 'guarded');
      assert.deepEqual(r.kind, { group: '', version: 'v1', kind: 'ConfigMap' });
      assert.deepEqual(r.resource, { group: '', version: 'v1', resource: 'configmaps' });
      assert.equal(r.dryRun, false);
      assert.equal(r.oldObject, null);
      await core.patchNamespacedConfigMap({ name: 'good', namespace: 'guarded', body: { data: { a: '2' } } }, merge);
      const u = reviews.at(-1)!.request;
      assert.equal(u.operation, 'UPDATE');
      assert.equal(u.oldObject.data.a, '1');
      assert.equal(u.object.data.a, '2');
      await core.patchNamespacedConfigMap({ name: 'good', namespace: 'guarded', body: { data: { a: '3' } }, dryRun: 'All' }, merge);
      assert.equal(reviews.at(-1)!.request.dryRun, true);
      const upd = await rejectsWithStatus(core.patchNamespacedConfigMap({ name: 'good', namespace: 'guarded', body: { metadata: { labels: { deny: 'true' } } } }, merge));
      assert.equal(upd.code, 403);
      assert.equal((await core.readNamespacedConfigMap({ name: 'good', namespace: 'guarded' })).metadata!.labels, undefined);
      await core.deleteNamespacedConfigMap({ name: 'good', namespace: 'guarded' });
      const d = reviews.at(-1)!.request;
      assert.equal(d.operation, 'DELETE');
      assert.equal(d.oldObject.metadata.name, 'good');
      assert.equal(d.object, null);
    });
  });

  it('GIVEN a namespaceSelector or objectSelector WHEN the write does not match THEN the webhook is not called', async () => {
    await withConfig('selectors', [webhook('ns.example.com'), webhook('obj.example.com', { namespaceSelector: {}, objectSelector: { matchLabels: { check: 'me' } } })], async () => {
      reviews.length = 0;
      await core.createNamespacedConfigMap({ namespace: 'free', body: { metadata: { name: 'unwatched', labels: { deny: 'true' } } } });
      assert.equal(reviews.length, 0);
      const st = await rejectsWithStatus(core.createNamespacedConfigMap({ namespace: 'free', body: { metadata: { name: 'watched', labels: { deny: 'true', check: 'me' } } } }));
      assert.match(st.message, /admission webhook "obj.example.com" denied the request/);
    });
  });

  it('GIVEN a rule on services/status only WHEN the main resource and the status change THEN only the status write is reviewed', async () => {
    await core.createNamespacedService({ namespace: 'guarded', body: { metadata: { name: 'web' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } } });
    await withConfig('status-only', [webhook('status.example.com', { rules: [{ operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['services/status'] }] })], async () => {
      reviews.length = 0;
      await core.patchNamespacedService({ name: 'web', namespace: 'guarded', body: { metadata: { labels: { x: 'y' } } } }, merge);
      assert.equal(reviews.length, 0);
      await core.patchNamespacedServiceStatus({ name: 'web', namespace: 'guarded', body: { status: { loadBalancer: { ingress: [{ ip: '198.51.100.200' }] } } } }, merge);
      assert.equal(reviews.length, 1);
      assert.equal(reviews[0]!.request.subResource, 'status');
    });
  });

  it('GIVEN an unreachable webhook WHEN failurePolicy is Fail THEN the write fails with "failed calling webhook"; WHEN Ignore THEN it goes through', async () => {
    const dead = { url: 'https://127.0.0.1:9/validate', caBundle };
    await withConfig('dead-fail', [webhook('dead.example.com', { clientConfig: dead })], async () => {
      const st = await rejectsWithStatus(core.createNamespacedConfigMap({ namespace: 'guarded', body: { metadata: { name: 'x1' } } }));
      assert.equal(st.code, 500);
      assert.match(st.message, /^Internal error occurred: failed calling webhook "dead.example.com": failed to call webhook: /);
    });
    await withConfig('dead-ignore', [webhook('dead.example.com', { clientConfig: dead, failurePolicy: 'Ignore' })], async () => {
      await core.createNamespacedConfigMap({ namespace: 'guarded', body: { metadata: { name: 'x2' } } });
    });
  });

  it('GIVEN a webhook that never answers WHEN timeoutSeconds passes THEN Fail refuses and Ignore admits', async () => {
    const slow = { url: `https://127.0.0.1:${hookPort}/slow`, caBundle };
    await withConfig('slow', [webhook('slow.example.com', { clientConfig: slow, timeoutSeconds: 1 })], async () => {
      const started = Date.now();
      const st = await rejectsWithStatus(core.createNamespacedConfigMap({ namespace: 'guarded', body: { metadata: { name: 's1' } } }));
      assert.match(st.message, /failed calling webhook "slow.example.com".*deadline exceeded/);
      assert.ok(Date.now() - started >= 900 && Date.now() - started < 5000);
    });
    await withConfig('slow-ignore', [webhook('slow.example.com', { clientConfig: slow, timeoutSeconds: 1, failurePolicy: 'Ignore' })], async () => {
      await core.createNamespacedConfigMap({ namespace: 'guarded', body: { metadata: { name: 's2' } } });
    });
  });

  it('GIVEN a service clientConfig WHEN called THEN the Service\'s ready EndpointSlice endpoint is used with TLS verified against caBundle', async () => {
    await core.createNamespacedService({ namespace: 'wh', body: { metadata: { name: 'hook' }, spec: { ports: [{ name: 'https', port: 443, targetPort: 'https' as never }] } } });
    const disc = api.kubeConfig('admin-user').makeApiClient(DiscoveryV1Api);
    await disc.createNamespacedEndpointSlice({ namespace: 'wh', body: { metadata: { name: 'hook-1', labels: { 'kubernetes.io/service-name': 'hook' } }, addressType: 'IPv4',
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }], ports: [{ name: 'https', port: hookPort, protocol: 'TCP' }] } });
    const viaService = { service: { namespace: 'wh', name: 'hook', path: '/svc', port: 443 }, caBundle };
    await withConfig('svc', [webhook('svc.example.com', { clientConfig: viaService })], async () => {
      reviews.length = 0;
      const st = await rejectsWithStatus(core.createNamespacedConfigMap({ namespace: 'guarded', body: { metadata: { name: 'v1', labels: { deny: 'true' } } } }));
      assert.match(st.message, /admission webhook "svc.example.com" denied the request: no thanks/);
      assert.equal(reviews.at(-1)!.path, '/svc');
    });
    await withConfig('svc-wrong-ca', [webhook('svc.example.com', { clientConfig: { ...viaService, caBundle: otherCaBundle } })], async () => {
      const st = await rejectsWithStatus(core.createNamespacedConfigMap({ namespace: 'guarded', body: { metadata: { name: 'v2' } } }));
      assert.match(st.message, /failed calling webhook "svc.example.com"/);
    });
  });
});
