/**
 * The webhook and the config guard against the in-process lab API server (real TLS, real admission
 * calls through the webhook Service's EndpointSlice, real RBAC for the controller's ServiceAccount):
 *  - a cluster admin's edit of bmlb-config is refused with the message naming the cluster file;
 *  - the installer and the controller are let through;
 *  - with the ValidatingWebhookConfiguration gone, an admin's edit is reverted within a second by
 *    the guard (running as the controller's ServiceAccount with the rendered RBAC) and a Warning
 *    Event names the command; a deleted ConfigMap comes back;
 *  - after the installer moves the applied record, the guard follows it (Normal Event, no revert).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { loadKube, isKubeApiError, resourcePath, type Kube } from '../../../src/kube/kube-client.js';
import { newEventRecorder } from '../../../src/kube/event-recorder.js';
import { startAdmissionGuard, type AdmissionGuard } from '../../../src/controller/webhook/admission-guard.js';
import { startConfigGuard, desiredConfigText, type ConfigGuard } from '../../../src/controller/config-guard.js';
import { ownerConfigMap } from '../../../src/controller/webhook/ownership.js';
import { issueWebhookTls, webhookTlsSecret } from '../../../src/provision/pki/webhook-tls.js';
import { guardedManifests, installerUsername, runProgram } from '../../../src/provision/update/ownership-install.js';
import { applyObject, appliedConfigMap, recordApplied } from '../../../src/provision/create/cluster-objects.js';
import { clone, labCluster } from './fixtures.js';

const NS = 'bmlb-system';
const CM = resourcePath('v1', 'configmaps', NS, 'bmlb-config');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('webhook and config guard against the lab API server', { timeout: 60_000 }, () => {
  let api: TestApi;
  let dir: string;
  let installer: Kube;
  let admin: Kube;
  let controller: Kube;
  let webhook: AdmissionGuard | undefined;
  let guard: ConfigGuard | undefined;
  const config = labCluster();
  config.sourcePath = '/home/op/bmlb-workspace/lab/lab.yaml';
  let manifests: ReturnType<typeof guardedManifests>['manifests'];

  before(async () => {
    api = await startTestApiServer();
    dir = await mkdtemp(join(tmpdir(), 'bmlbt-ownership-'));
    installer = loadKube({ kubeconfigPath: api.kubeconfigPath('bmlb-installer') });
    admin = loadKube({ kubeconfigPath: api.kubeconfigPath('admin-user') });
    const tls = await issueWebhookTls(runProgram, 'lab');
    await writeFile(join(dir, 'tls.crt'), tls.certPem);
    await writeFile(join(dir, 'tls.key'), tls.keyPem);
    const user = await installerUsername(installer.rest);
    assert.equal(user, 'bmlb-installer');
    manifests = guardedManifests(config, { installerUsername: user, webhookCA: tls.caPem }).manifests;
    // Everything the installer applies, except the workloads (nothing runs pods here) and the webhook configuration (last).
    for (const o of manifests.filter((m) => !['DaemonSet', 'Deployment', 'ValidatingWebhookConfiguration'].includes(m.kind))) await applyObject(installer.rest, o);
    await applyObject(installer.rest, webhookTlsSecret(tls));
    await applyObject(installer.rest, ownerConfigMap({ clusterName: 'lab', clusterFile: config.sourcePath, installerUsername: user }));
    controller = loadKube({ kubeconfigPath: (await api.serviceAccountKubeconfig(NS, 'bmlb-controller')).path });
    // The controller's webhook server (as `bmlb controller --webhook-cert-dir` runs it), reached through the Service's EndpointSlice.
    webhook = await startAdmissionGuard({ kube: controller, namespace: NS, certDir: dir, host: '127.0.0.1', port: 0 });
    await until('owner record', async () => (webhook!.ready() ? true : undefined), 5000);
    await installer.rest.create(resourcePath('discovery.k8s.io/v1', 'endpointslices', NS), {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'bmlb-webhook-test', namespace: NS, labels: { 'kubernetes.io/service-name': 'bmlb-webhook' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
      ports: [{ name: 'https', port: webhook.port, protocol: 'TCP' }],
    });
    await applyObject(installer.rest, manifests.find((m) => m.kind === 'ValidatingWebhookConfiguration')!);
    await recordApplied(installer.rest, config, new Date());
  });
  after(async () => {
    guard?.stop();
    await webhook?.close();
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('GIVEN the webhook WHEN a cluster admin patches bmlb-config THEN refused with the cluster file and the command', async () => {
    await assert.rejects(admin.rest.patch(CM, { data: { 'config.yaml': 'hacked: true\n' } }), (e: unknown) => {
      assert.ok(isKubeApiError(e, 403), String(e));
      const msg = e.status.message ?? '';
      assert.match(msg, /admission webhook "config-guard\.bmlb\.io" denied the request/);
      assert.match(msg, /\/home\/op\/bmlb-workspace\/lab\/lab\.yaml/);
      assert.match(msg, /bmlb update cluster -c lab/);
      return true;
    });
    await assert.rejects(admin.rest.delete(CM), (e: unknown) => isKubeApiError(e, 403));
    await assert.rejects(admin.rest.delete(resourcePath('v1', 'secrets', NS, 'bmlb-webhook-tls')), (e: unknown) => isKubeApiError(e, 403));
    const cm = await installer.rest.get<any>(CM);
    assert.doesNotMatch(cm.data['config.yaml'], /hacked/);
  });

  it('GIVEN the webhook WHEN the installer or the controller writes THEN allowed', async () => {
    await installer.rest.patch(CM, { metadata: { annotations: { 'test/installer': 'yes' } } });
    await controller.rest.patch(CM, { metadata: { annotations: { 'test/controller': 'yes' } } }).catch((e: unknown) => {
      // The rendered Role grants the controller `update` (not patch) on bmlb-config: a 403 from RBAC, not from the webhook, is fine.
      assert.ok(isKubeApiError(e, 403) && !/admission webhook/.test(e.status.message ?? ''), String(e));
    });
    const cm = await installer.rest.get<any>(CM);
    await controller.rest.replace(CM, { ...cm, metadata: { ...cm.metadata, annotations: { ...cm.metadata.annotations, 'test/controller': 'yes' } } });
  });

  it('GIVEN no webhook WHEN a cluster admin edits bmlb-config THEN the guard restores it within a second and records a Warning Event', async () => {
    guard = await startConfigGuard({ kube: controller, namespace: NS, configMap: 'bmlb-config', recorder: newEventRecorder(controller, 'bmlb-controller') });
    await installer.rest.delete('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/bmlb-config-guard');
    const desired = desiredConfigText(appliedConfigMap(config, new Date()) as any);
    assert.ok(desired.ok);
    if (!desired.ok) return;
    const edited = desired.text.replace('198.51.100.200-198.51.100.239', '198.51.100.200-198.51.100.250');
    assert.notEqual(edited, desired.text);
    const t0 = Date.now();
    await admin.rest.patch(CM, { data: { 'config.yaml': edited } });
    await until('restored ConfigMap', async () => ((await installer.rest.get<any>(CM)).data['config.yaml'] === desired.text ? true : undefined), 1000);
    const ms = Date.now() - t0;
    assert.ok(ms < 1000, `restored after ${ms} ms`);
    const ev = await until('Warning Event', async () => {
      const list = await installer.rest.get<{ items: any[] }>(resourcePath('v1', 'events', NS));
      return list.items.find((e) => e.reason === 'ConfigDriftReverted');
    }, 2000);
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.involvedObject.name, 'bmlb-config');
    assert.match(ev.message, /bmlb update cluster -c lab/);
    assert.match(ev.message, /\/home\/op\/bmlb-workspace\/lab\/lab\.yaml/);
    assert.equal(guard.stats().reverted >= 1, true);
  });

  it('GIVEN no webhook WHEN a cluster admin deletes bmlb-config THEN the guard recreates it (RBAC permitting) or reports why', async () => {
    const desired = desiredConfigText(appliedConfigMap(config, new Date()) as any);
    if (!desired.ok) throw new Error('no desired');
    await admin.rest.delete(CM);
    // The rendered Role does not grant `create` on ConfigMaps: the guard must say so in its stats rather than pretend.
    const outcome = await until('recreate or error', async () => {
      const cm = await installer.rest.find<any>(CM);
      if (cm) return 'recreated';
      return guard!.stats().lastError ? 'error' : undefined;
    }, 2000);
    if (outcome === 'error') {
      assert.match(guard!.stats().lastError ?? '', /403|forbidden/i);
      // Put it back as the installer so the next test has it.
      await installer.rest.create(resourcePath('v1', 'configmaps', NS), clone(manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'bmlb-config')));
    } else {
      assert.equal((await installer.rest.get<any>(CM)).data['config.yaml'], desired.text);
    }
  });

  it('GIVEN the installer moves the applied record (update cluster order) THEN the guard follows it with a Normal Event, no revert', async () => {
    await until('in sync', async () => ((await installer.rest.get<any>(CM)).data['config.yaml'] === (desiredConfigText(appliedConfigMap(config, new Date()) as any) as any).text ? true : undefined), 2000);
    const before = guard!.stats();
    const next = clone(config);
    next.loadBalancer.addressPools.push({ name: 'pool-3', addresses: ['203.0.113.64/28'], avoidBuggyIPs: false, manualAssign: false });
    await recordApplied(installer.rest, next, new Date());
    const want = desiredConfigText(appliedConfigMap(next, new Date()) as any);
    if (!want.ok) throw new Error('no desired');
    await until('ConfigMap follows the new record', async () => ((await installer.rest.get<any>(CM)).data['config.yaml'] === want.text ? true : undefined), 2000);
    const s = guard!.stats();
    assert.equal(s.reverted, before.reverted, 'a catch-up is not a drift');
    assert.equal(s.caughtUp, before.caughtUp + 1);
    const list = await installer.rest.get<{ items: any[] }>(resourcePath('v1', 'events', NS));
    assert.ok(list.items.some((e) => e.reason === 'ConfigUpdated' && e.type === 'Normal'));
  });
});

describe('ValidatingAdmissionPolicy form (admission: policy) against the lab API server', { timeout: 60_000 }, () => {
  let api: TestApi;
  after(async () => {
    await api?.close();
  });

  it('GIVEN admission policy WHEN installed THEN no webhook is rendered or mounted, the admin is refused with the command, installer and controller are allowed', async () => {
    api = await startTestApiServer();
    const installer = loadKube({ kubeconfigPath: api.kubeconfigPath('bmlb-installer') });
    const admin = loadKube({ kubeconfigPath: api.kubeconfigPath('admin-user') });
    const config = labCluster();
    config.loadBalancer.bmlb.admission = 'policy';
    const user = await installerUsername(installer.rest);
    const { manifests } = guardedManifests(config, { installerUsername: user, webhookCA: '-----BEGIN CERTIFICATE-----\nunused\n-----END CERTIFICATE-----\n' });
    assert.ok(!manifests.some((m) => m.kind === 'ValidatingWebhookConfiguration'));
    const dep = manifests.find((m) => m.kind === 'Deployment') as any;
    assert.ok(!JSON.stringify(dep).includes('webhook-cert-dir'), 'no certificate mount without the webhook');
    for (const o of manifests.filter((m) => !['DaemonSet', 'Deployment'].includes(m.kind))) await applyObject(installer.rest, o);
    const controller = loadKube({ kubeconfigPath: (await api.serviceAccountKubeconfig(NS, 'bmlb-controller')).path });
    await assert.rejects(admin.rest.patch(CM, { data: { 'config.yaml': 'x: 1\n' } }), (e: unknown) => {
      assert.ok(isKubeApiError(e, 403) || isKubeApiError(e, 422), String(e));
      assert.match(e.status.message ?? '', /bmlb update cluster -c lab/);
      return true;
    });
    await installer.rest.patch(CM, { metadata: { annotations: { 'test/installer': 'yes' } } });
    const cm = await installer.rest.get<any>(CM);
    await controller.rest.replace(CM, { ...cm, metadata: { ...cm.metadata, annotations: { ...cm.metadata.annotations, 'test/controller': 'yes' } } });
  });
});
