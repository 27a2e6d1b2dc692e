/**
 * The in-cluster half of create cluster against the lab API server (in-process, 127.0.0.1): apply
 * is idempotent, the membership Secret is created once and never replaced, LB nodes are found by
 * InternalIP and labelled, the applied record is not rewritten by a no-op rerun.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { type Kube, loadKube, resourcePath } from '../../../src/kube/kube-client.js';
import {
  APPLIED_HASH_ANNOTATION,
  applyObject,
  ensureMemberSecret,
  labelLbNodes,
  recordApplied,
} from '../../../src/provision/create/cluster-objects.js';
import { renderAll } from '../../../src/render/render-all.js';
import { parseClusterFile } from '../../../src/config/parse.js';
import { NAMES } from '../../../src/config/model.js';
import type { KubeObject } from '../../../src/render/kube-object.js';
import { UserError } from '../../../src/errors.js';

const root = new URL('../../../', import.meta.url).pathname;

describe('cluster objects against the lab API server', () => {
  let api: TestApi;
  let kube: Kube;

  before(async () => {
    api = await startTestApiServer();
    kube = loadKube({ kubeconfigPath: await api.kubeconfigPath('bmlb-installer') });
  });
  after(async () => {
    await api?.close();
  });

  function lab() {
    const path = join(root, 'cluster-samples', 'lab.yaml');
    const r = parseClusterFile(readFileSync(path, 'utf8'), path);
    assert.ok(r.ok);
    return r.config;
  }

  async function addNode(name: string, ip: string): Promise<void> {
    await kube.rest.create(resourcePath('v1', 'nodes'), { apiVersion: 'v1', kind: 'Node', metadata: { name } });
    const n = await kube.rest.get<Record<string, unknown>>(resourcePath('v1', 'nodes', undefined, name));
    await kube.rest.replace(resourcePath('v1', 'nodes', undefined, name, 'status'), { ...n, status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] } });
  }

  it('GIVEN the rendered objects WHEN applied twice THEN the first run creates all, the second changes none; a changed object is replaced', async () => {
    const config = lab();
    const facts = Object.fromEntries(config.loadBalancer.nodes.map((n, i) => [n.address, { interface: 'eth0', prefixLength: 24, hostname: `lb${i + 1}` }]));
    const { manifests } = renderAll({ config, nodeFacts: facts, bmlbImage: 'bmlb:0.1.0' });
    const first = [];
    for (const o of manifests) first.push(await applyObject(kube.rest, o));
    assert.ok(first.every((a) => a === 'created'), first.join(','));
    const second = [];
    for (const o of manifests) second.push(await applyObject(kube.rest, o));
    assert.ok(second.every((a) => a === 'unchanged'), second.join(','));

    const cm = manifests.find((m) => m.kind === 'ConfigMap') as KubeObject;
    const changed: KubeObject = { ...cm, data: { ...(cm.data as Record<string, string>), 'config.yaml': 'changed: true\n' } };
    assert.equal(await applyObject(kube.rest, changed), 'replaced');
    const live = await kube.rest.get<{ data: Record<string, string>; metadata: { annotations: Record<string, string> } }>(resourcePath('v1', 'configmaps', NAMES.namespace, NAMES.configMap));
    assert.equal(live.data['config.yaml'], 'changed: true\n');
    assert.match(live.metadata.annotations[APPLIED_HASH_ANNOTATION] ?? '', /^[0-9a-f]{64}$/);
    assert.equal(await applyObject(kube.rest, cm), 'replaced', 'and back');
  });

  it('GIVEN no membership Secret WHEN ensured twice THEN it is created with 32 random bytes once and kept', async () => {
    assert.equal(await ensureMemberSecret(kube.rest), 'created');
    const path = resourcePath('v1', 'secrets', NAMES.namespace, NAMES.memberSecret);
    const s1 = await kube.rest.get<{ data: Record<string, string> }>(path);
    assert.equal(Buffer.from(s1.data[NAMES.memberSecretKey] ?? '', 'base64').length, 32);
    assert.equal(await ensureMemberSecret(kube.rest), 'exists');
    const s2 = await kube.rest.get<{ data: Record<string, string> }>(path);
    assert.deepEqual(s2.data, s1.data);
  });

  it('GIVEN Nodes named by hostname WHEN LB nodes are labelled by k8sIP THEN exactly those get the label, and a rerun changes nothing', async () => {
    await addNode('cp1', '198.51.100.11');
    await addNode('lb1', '198.51.100.21');
    await addNode('lb2', '198.51.100.22');
    const r = await labelLbNodes(kube.rest, ['198.51.100.21', '198.51.100.22'], 1000);
    assert.deepEqual(r, [
      { k8sIP: '198.51.100.21', nodeName: 'lb1', action: 'labelled' },
      { k8sIP: '198.51.100.22', nodeName: 'lb2', action: 'labelled' },
    ]);
    const cp = await kube.rest.get<{ metadata: { labels?: Record<string, string> } }>(resourcePath('v1', 'nodes', undefined, 'cp1'));
    assert.equal(cp.metadata.labels?.[NAMES.lbNodeLabel], undefined);
    const again = await labelLbNodes(kube.rest, ['198.51.100.21', '198.51.100.22'], 1000);
    assert.ok(again.every((x) => x.action === 'unchanged'));
  });

  it('GIVEN a k8sIP no Node has WHEN labelling with a short timeout THEN LbNodeNotFound lists it', async () => {
    await assert.rejects(labelLbNodes(kube.rest, ['198.51.100.29'], 200), (e: unknown) => e instanceof UserError && e.code === 'LbNodeNotFound' && e.message.includes('198.51.100.29'));
  });

  it('GIVEN the applied record WHEN recorded again at a later time with the same config THEN it is unchanged', async () => {
    const config = lab();
    assert.equal(await recordApplied(kube.rest, config, new Date('2026-01-01T00:00:00Z')), 'created');
    assert.equal(await recordApplied(kube.rest, config, new Date('2026-01-02T00:00:00Z')), 'unchanged');
    const cm = await kube.rest.get<{ data: Record<string, string> }>(resourcePath('v1', 'configmaps', NAMES.namespace, 'bmlb-applied'));
    assert.equal(JSON.parse(cm.data['cluster.json'] ?? '{}').loadBalancer.controlPlaneVIP, '198.51.100.10');
    config.loadBalancer.addressPools[0]!.avoidBuggyIPs = true;
    assert.equal(await recordApplied(kube.rest, config, new Date('2026-01-03T00:00:00Z')), 'replaced');
  });
});
