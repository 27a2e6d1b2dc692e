import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { desiredConfigText, planGuard, sha256 } from '../../../src/controller/config-guard.js';
import { appliedConfigMap } from '../../../src/provision/create/cluster-objects.js';
import { guardedManifests } from '../../../src/provision/update/ownership-install.js';
import { parseSpeakerConfig } from '../../../src/config/speaker-config.js';
import { clone, labCluster } from './fixtures.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './fixtures.js';

const CA = readFileSync(join(REPO, 'test', 'fixtures', 'render', 'webhook-ca.pem'), 'utf8');

function renderedConfigMap(config = labCluster()) {
  const { manifests } = guardedManifests(config, { installerUsername: 'bmlb-installer', webhookCA: CA });
  const cm = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'bmlb-config');
  assert.ok(cm);
  return clone(cm) as any;
}

describe('config guard decision', () => {
  it('GIVEN a freshly created cluster WHEN the guard compares THEN the rendered ConfigMap is in sync with the applied record (no false drift)', () => {
    const config = labCluster();
    const desired = desiredConfigText(appliedConfigMap(config, new Date(0)) as any);
    assert.ok(desired.ok);
    if (!desired.ok) return;
    assert.equal(desired.clusterName, 'lab');
    assert.deepEqual(planGuard(renderedConfigMap(config), desired.text, undefined), { action: 'none', reason: 'inSync' });
    assert.equal(parseSpeakerConfig(desired.text).ok, true);
  });

  it('GIVEN no applied record THEN there is no desired text (the guard does nothing)', () => {
    assert.equal(desiredConfigText(undefined).ok, false);
    assert.equal(desiredConfigText({ data: { 'cluster.json': '{' } }).ok, false);
  });

  it('GIVEN a hand edit of config.yaml WHEN planned THEN restore as drift, body carries the desired text, labels and hash', () => {
    const config = labCluster();
    const desired = desiredConfigText(appliedConfigMap(config, new Date(0)) as any);
    if (!desired.ok) throw new Error('no desired');
    const cm = renderedConfigMap(config);
    cm.metadata.resourceVersion = '42';
    cm.data['config.yaml'] = cm.data['config.yaml'].replace('198.51.100.200-198.51.100.239', '198.51.100.200-198.51.100.250');
    const p = planGuard(cm, desired.text, desired.text);
    assert.equal(p.action, 'restore');
    if (p.action !== 'restore') return;
    assert.equal(p.cause, 'drift');
    assert.deepEqual(p.changed, ['key config.yaml changed']);
    assert.equal(p.body.data?.['config.yaml'], desired.text);
    assert.equal(p.body.metadata?.resourceVersion, '42');
    assert.equal(p.body.metadata?.annotations?.['bmlb.io/config-sha256'], sha256(desired.text));
  });

  it('GIVEN an extra key, a removed label or binaryData THEN each is named and undone', () => {
    const config = labCluster();
    const desired = desiredConfigText(appliedConfigMap(config, new Date(0)) as any);
    if (!desired.ok) throw new Error('no desired');
    const cm = renderedConfigMap(config);
    cm.data.extra = 'x';
    cm.binaryData = { blob: 'AA==' };
    delete cm.metadata.labels['app.kubernetes.io/managed-by'];
    const p = planGuard(cm, desired.text, undefined);
    assert.equal(p.action, 'restore');
    if (p.action !== 'restore') return;
    assert.deepEqual(p.changed.sort(), ['extra binary key blob', 'extra key extra', 'label app.kubernetes.io/managed-by changed']);
    assert.deepEqual(Object.keys(p.body.data ?? {}), ['config.yaml']);
    assert.equal(p.body.binaryData, undefined);
    assert.equal(p.body.metadata?.labels?.['app.kubernetes.io/managed-by'], 'bmlb');
  });

  it('GIVEN bmlb update cluster moved the applied record WHEN the ConfigMap still holds the previous desired text THEN catch up (not drift)', () => {
    const before = labCluster();
    const after = clone(before);
    after.loadBalancer.addressPools.push({ name: 'pool-3', addresses: ['203.0.113.64/28'], avoidBuggyIPs: false, manualAssign: false });
    const oldText = desiredConfigText(appliedConfigMap(before, new Date(0)) as any);
    const newText = desiredConfigText(appliedConfigMap(after, new Date(0)) as any);
    if (!oldText.ok || !newText.ok) throw new Error('no desired');
    const p = planGuard(renderedConfigMap(before), newText.text, oldText.text);
    assert.equal(p.action, 'restore');
    if (p.action === 'restore') assert.equal(p.cause, 'catchUp');
    // The same ConfigMap with a guard that just started (no previous knowledge) is drift.
    const q = planGuard(renderedConfigMap(before), newText.text, undefined);
    if (q.action === 'restore') assert.equal(q.cause, 'drift');
    else assert.fail('expected restore');
  });

  it('GIVEN the ConfigMap was deleted THEN recreate it with the desired content', () => {
    const p = planGuard(undefined, 'x: 1\n', undefined);
    assert.equal(p.action, 'recreate');
    if (p.action === 'recreate') {
      assert.equal(p.body.metadata?.name, 'bmlb-config');
      assert.equal(p.body.metadata?.namespace, 'bmlb-system');
      assert.deepEqual(p.body.data, { 'config.yaml': 'x: 1\n' });
    }
  });
});
