/**
 * updateCluster against the in-process lab API server (changes that need no SSH): refusal touches
 * nothing, dry-run touches nothing, a new pool updates bmlb-applied then bmlb-config, a kubeconfig
 * of another user is stopped before anything changes, and an unknown cluster says to create it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { loadKube, resourcePath, type Kube } from '../../../src/kube/kube-client.js';
import { applyObject, recordApplied } from '../../../src/provision/create/cluster-objects.js';
import { guardedManifests, prepareOwnership, runProgram } from '../../../src/provision/update/ownership-install.js';
import { updateCluster, type UpdateOptions } from '../../../src/provision/update/update-cluster.js';
import { clone, labCluster } from './fixtures.js';

const NS = 'bmlb-system';
const CM = resourcePath('v1', 'configmaps', NS, 'bmlb-config');
const APPLIED = resourcePath('v1', 'configmaps', NS, 'bmlb-applied');

describe('update cluster against the lab API server', { timeout: 60_000 }, () => {
  let api: TestApi;
  let installer: Kube;
  const config = labCluster();
  let opts: UpdateOptions;

  before(async () => {
    api = await startTestApiServer();
    installer = loadKube({ kubeconfigPath: api.kubeconfigPath('bmlb-installer') });
    opts = {
      dryRun: false,
      kubeconfigPath: api.kubeconfigPath('bmlb-installer'),
      waitTimeoutMs: 5000,
      openSession: () => assert.fail('no SSH session expected for these changes'),
    };
    // What create cluster leaves behind (without workloads and without the webhook: nothing serves it here).
    const ns = guardedManifests(config, { installerUsername: 'x', webhookCA: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n' }).manifests.find((m) => m.kind === 'Namespace')!;
    await applyObject(installer.rest, ns);
    const own = await prepareOwnership(installer.rest, config, new Date(), runProgram);
    for (const o of guardedManifests(config, own).manifests.filter((m) => !['Namespace', 'ValidatingWebhookConfiguration'].includes(m.kind))) await applyObject(installer.rest, o);
    await recordApplied(installer.rest, config, new Date());
  });
  after(async () => {
    await api?.close();
  });

  it('GIVEN a changed pool range THEN UpdateImmutable lists path, old and new; nothing changed', async () => {
    const before = await installer.rest.get<any>(CM);
    const d = clone(config);
    d.loadBalancer.addressPools[0]!.addresses = ['198.51.100.200-198.51.100.250'];
    d.loadBalancer.addressPools.push({ name: 'extra', addresses: ['203.0.113.64/28'], avoidBuggyIPs: false, manualAssign: false });
    await assert.rejects(updateCluster(d, opts), (e: any) => {
      assert.equal(e.code, 'UpdateImmutable');
      assert.equal(e.exitCode, 1);
      assert.match(e.message, /spec\.loadBalancer\.addressPools\[0\]\.addresses: \["198\.51\.100\.200-198\.51\.100\.239"\] → \["198\.51\.100\.200-198\.51\.100\.250"\]/);
      assert.equal(e.data.refused.length, 1);
      return true;
    });
    assert.equal((await installer.rest.get<any>(CM)).metadata.resourceVersion, before.metadata.resourceVersion);
  });

  it('GIVEN a new pool WHEN --dry-run THEN the plan is returned and nothing changed', async () => {
    const before = await installer.rest.get<any>(APPLIED);
    const d = clone(config);
    d.loadBalancer.addressPools.push({ name: 'extra', addresses: ['203.0.113.64/28'], avoidBuggyIPs: false, manualAssign: false });
    const r = await updateCluster(d, { ...opts, dryRun: true });
    assert.equal(r.dryRun, true);
    assert.equal(r.changed, false);
    assert.deepEqual(r.plan.changes.map((c) => c.path), ['spec.loadBalancer.addressPools[2]']);
    assert.equal((await installer.rest.get<any>(APPLIED)).metadata.resourceVersion, before.metadata.resourceVersion);
  });

  it('GIVEN another user\'s kubeconfig THEN InstallerIdentityMismatch before anything changes', async () => {
    const d = clone(config);
    d.loadBalancer.addressPools.push({ name: 'extra', addresses: ['203.0.113.64/28'], avoidBuggyIPs: false, manualAssign: false });
    const before = await installer.rest.get<any>(APPLIED);
    await assert.rejects(updateCluster(d, { ...opts, kubeconfigPath: api.kubeconfigPath('admin-user') }), (e: any) => e.code === 'InstallerIdentityMismatch' && /bmlb-installer/.test(e.message));
    assert.equal((await installer.rest.get<any>(APPLIED)).metadata.resourceVersion, before.metadata.resourceVersion);
  });

  it('GIVEN a new pool WHEN applied THEN bmlb-applied and bmlb-config carry it; the workloads are unchanged; a rerun changes nothing', async () => {
    const d = clone(config);
    d.loadBalancer.addressPools.push({ name: 'extra', addresses: ['203.0.113.64/28'], avoidBuggyIPs: false, manualAssign: false });
    const r = await updateCluster(d, opts);
    assert.equal(r.changed, true);
    assert.equal(r.applied, 'replaced');
    const changed = r.objects.filter((o) => o.action !== 'unchanged').map((o) => o.ref);
    // The setup left the webhook configuration out (nothing serves it here): update puts it back.
    assert.deepEqual(changed, ['ConfigMap bmlb-system/bmlb-config', 'ValidatingWebhookConfiguration bmlb-config-guard']);
    assert.match((await installer.rest.get<any>(CM)).data['config.yaml'], /name: extra/);
    assert.match((await installer.rest.get<any>(APPLIED)).data['cluster.json'], /"extra"/);
    const again = await updateCluster(d, opts);
    assert.equal(again.changed, false);
    assert.deepEqual(again.plan.changes, []);
    await installer.rest.delete('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/bmlb-config-guard');
  });

  it('GIVEN a cluster bmlb never created THEN ClusterNotCreated says to run create cluster', async () => {
    await installer.rest.delete(APPLIED);
    await assert.rejects(updateCluster(config, opts), (e: any) => e.code === 'ClusterNotCreated' && /bmlb create cluster -c lab/.test(e.suggestions.join(' ')));
  });
});
