/**
 * The in-cluster half of reset against the lab API server (in-process, 127.0.0.1): everything
 * create cluster applies (webhook and admission policy included) is deleted in reverse apply order,
 * plus anything labelled managed-by=bmlb, the namespace last; the LB node label and bmlb's Service
 * annotations go; other objects stay; a rerun deletes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestCa, startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { type Kube, loadKube, resourcePath } from '../../../src/kube/kube-client.js';
import { applyObject, ensureMemberSecret, labelLbNodes, recordApplied } from '../../../src/provision/create/cluster-objects.js';
import { resetClusterObjects } from '../../../src/provision/reset/reset-cluster-objects.js';
import { renderAll } from '../../../src/render/render-all.js';
import { objectRef } from '../../../src/render/kube-object.js';
import { parseClusterFile } from '../../../src/config/parse.js';
import { NAMES } from '../../../src/config/model.js';

const root = new URL('../../../', import.meta.url).pathname;

describe('reset of the in-cluster objects against the lab API server', () => {
  let api: TestApi;
  let kube: Kube;

  before(async () => {
    api = await startTestApiServer();
    kube = loadKube({ kubeconfigPath: api.kubeconfigPath('bmlb-installer') });
  });
  after(async () => {
    await api?.close();
  });

  async function addNode(name: string, ip: string): Promise<void> {
    await kube.rest.create(resourcePath('v1', 'nodes'), { apiVersion: 'v1', kind: 'Node', metadata: { name } });
    const n = await kube.rest.get<Record<string, unknown>>(resourcePath('v1', 'nodes', undefined, name));
    await kube.rest.replace(resourcePath('v1', 'nodes', undefined, name, 'status'), { ...n, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
  }

  it('GIVEN what create cluster applies WHEN reset THEN all of it goes in reverse order, the namespace last, labels and annotations too, and a rerun deletes nothing', async () => {
    const path = join(root, 'cluster-samples', 'lab.yaml');
    const parsed = parseClusterFile(readFileSync(path, 'utf8'), path);
    assert.ok(parsed.ok);
    const config = parsed.config;
    config.loadBalancer.bmlb.admission = 'both';
    const ca = await createTestCa(api.dir, 'webhook-ca');
    const facts = Object.fromEntries(config.loadBalancer.nodes.map((n, i) => [n.address, { interface: 'eth0', prefixLength: 24, hostname: `lb${i + 1}` }]));
    const { manifests } = renderAll({ config, nodeFacts: facts, bmlbImage: 'bmlb:0.1.0', webhookCA: ca.pem, installerUsername: 'bmlb-installer' });
    const guards = manifests.filter((m) => m.kind.startsWith('Validating'));
    assert.ok(guards.length >= 3, 'webhook, policy and binding rendered');
    // As create cluster does: objects, Secret, applied record; the guards last.
    for (const o of manifests.filter((m) => !m.kind.startsWith('Validating'))) await applyObject(kube.rest, o);
    await ensureMemberSecret(kube.rest);
    await recordApplied(kube.rest, config, new Date());
    // Something the controller made (labelled), before the guards are in place.
    await kube.rest.create(resourcePath('v1', 'configmaps', NAMES.namespace), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bmlb-extra', labels: { 'app.kubernetes.io/managed-by': 'bmlb' } } }).catch((e: unknown) => {
      throw new Error(`create labelled ConfigMap: ${(e as Error).message}`);
    });
    for (const o of guards) await applyObject(kube.rest, o);
    for (const [i, n] of config.loadBalancer.nodes.entries()) await addNode(`lb${i + 1}`, n.k8sIP);
    await addNode('worker1', '198.51.100.31');
    await labelLbNodes(kube.rest, config.loadBalancer.nodes.map((n) => n.k8sIP), 5000);
    // A user's Service with bmlb's annotations, and a foreign ConfigMap.
    await kube.rest.create(resourcePath('v1', 'services', 'default'), {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', annotations: { [NAMES.announcingNodeAnnotation]: 'lb1', [NAMES.allocatedPoolAnnotation]: 'pool-1', keep: 'me' } },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] },
    });
    await kube.rest.create(resourcePath('v1', 'configmaps', 'default'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bmlb-config' }, data: { a: 'b' } });

    const progress: string[] = [];
    const r = await resetClusterObjects(kube.rest, { waitMs: 10_000, pollMs: 100, onProgress: (m) => progress.push(m) });
    assert.deepEqual(r.errors, []);
    const expected = manifests.filter((m) => m.kind !== 'Namespace').map((m) => objectRef(m).replace(/^(\S+) /, '$1 '));
    for (const ref of [...expected, 'Secret bmlb-system/bmlb-memberlist', 'ConfigMap bmlb-system/bmlb-applied', 'ConfigMap bmlb-system/bmlb-extra']) {
      assert.ok(r.deleted.includes(ref), `${ref} deleted; deleted: ${r.deleted.join(', ')}`);
    }
    const at = (ref: string): number => r.deleted.indexOf(ref);
    assert.equal(at('ValidatingWebhookConfiguration bmlb-config-guard'), 0);
    assert.ok(at('DaemonSet bmlb-system/bmlb-speaker') < at('ConfigMap bmlb-system/bmlb-config'));
    assert.ok(at('ClusterRoleBinding bmlb-speaker') < at('ClusterRole bmlb-speaker'));
    assert.equal(r.deleted.at(-1), 'Namespace bmlb-system');
    assert.equal(r.namespace, 'deleted');
    assert.deepEqual(r.unlabelled.sort(), ['lb1', 'lb2', 'lb3']);
    assert.deepEqual(r.services, [{ ref: 'default/web', annotations: [NAMES.announcingNodeAnnotation, NAMES.allocatedPoolAnnotation] }]);
    assert.ok(progress.includes('deleted DaemonSet bmlb-system/bmlb-speaker'));

    // The cluster now.
    assert.equal(await kube.rest.find(resourcePath('v1', 'namespaces', undefined, NAMES.namespace)), undefined);
    for (const g of ['validatingwebhookconfigurations', 'validatingadmissionpolicies', 'validatingadmissionpolicybindings']) {
      assert.equal(await kube.rest.find(resourcePath('admissionregistration.k8s.io/v1', g, undefined, 'bmlb-config-guard')), undefined, g);
    }
    for (const c of ['clusterroles', 'clusterrolebindings']) {
      const l = await kube.rest.get<{ items: unknown[] }>(resourcePath('rbac.authorization.k8s.io/v1', c), { labelSelector: 'app.kubernetes.io/managed-by=bmlb' });
      assert.equal(l.items.length, 0, c);
    }
    const nodes = await kube.rest.get<{ items: { metadata: { labels?: Record<string, string> } }[] }>(resourcePath('v1', 'nodes'));
    assert.ok(nodes.items.every((n) => n.metadata.labels?.[NAMES.lbNodeLabel] === undefined));
    const web = await kube.rest.get<{ metadata: { annotations?: Record<string, string> }; spec: { type: string } }>(resourcePath('v1', 'services', 'default', 'web'));
    assert.deepEqual(web.metadata.annotations, { keep: 'me' });
    assert.equal(web.spec.type, 'LoadBalancer');
    assert.ok(await kube.rest.find(resourcePath('v1', 'configmaps', 'default', 'bmlb-config')), 'a same-named ConfigMap elsewhere stays');

    const again = await resetClusterObjects(kube.rest, { waitMs: 1000, pollMs: 100 });
    assert.deepEqual(again, { deleted: [], namespace: 'absent', unlabelled: [], services: [], errors: [] });
  });
});
