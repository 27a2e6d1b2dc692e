import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { admissionResponse, decideAdmission, parseAdmissionReview, type AdmissionRequestV1 } from '../../../src/controller/webhook/admission-decision.js';
import { CONTROLLER_USERNAME, type OwnerRecord } from '../../../src/controller/webhook/ownership.js';

const owner: OwnerRecord = { clusterName: 'lab', clusterFile: '/home/op/bmlb-workspace/lab/lab.yaml', installerUsername: 'bmlb-installer' };
const policy = { namespace: 'bmlb-system', owner };
const owned = { metadata: { name: 'bmlb-config', labels: { 'app.kubernetes.io/managed-by': 'bmlb' } } };
const foreign = { metadata: { name: 'other', labels: { app: 'x' } } };

function req(over: Partial<AdmissionRequestV1>): AdmissionRequestV1 {
  return {
    uid: 'u1',
    resource: { group: '', version: 'v1', resource: 'configmaps' },
    namespace: 'bmlb-system',
    name: 'bmlb-config',
    operation: 'UPDATE',
    userInfo: { username: 'admin-user', groups: ['system:masters'] },
    object: owned,
    oldObject: owned,
    ...over,
  };
}

describe('admission decision (config guard webhook)', () => {
  const table: { name: string; r: AdmissionRequestV1; allowed: boolean; reason: string }[] = [
    { name: 'GIVEN a cluster admin WHEN updating bmlb-config THEN refused', r: req({}), allowed: false, reason: 'notBmlb' },
    { name: 'GIVEN a cluster admin WHEN deleting bmlb-config THEN refused', r: req({ operation: 'DELETE', object: null }), allowed: false, reason: 'notBmlb' },
    { name: 'GIVEN a cluster admin WHEN creating a managed Secret THEN refused', r: req({ operation: 'CREATE', resource: { group: '', version: 'v1', resource: 'secrets' }, name: 'bmlb-memberlist', oldObject: null }), allowed: false, reason: 'notBmlb' },
    { name: 'GIVEN an edit that strips the managed-by label WHEN updating THEN still refused (old object counts)', r: req({ object: { metadata: { name: 'bmlb-config', labels: {} } } }), allowed: false, reason: 'notBmlb' },
    { name: 'GIVEN the recorded installer WHEN updating THEN allowed', r: req({ userInfo: { username: 'bmlb-installer' } }), allowed: true, reason: 'installer' },
    { name: 'GIVEN the controller ServiceAccount WHEN updating THEN allowed', r: req({ userInfo: { username: CONTROLLER_USERNAME } }), allowed: true, reason: 'controller' },
    { name: 'GIVEN another ServiceAccount in bmlb-system WHEN updating THEN refused', r: req({ userInfo: { username: 'system:serviceaccount:bmlb-system:bmlb-speaker' } }), allowed: false, reason: 'notBmlb' },
    { name: 'GIVEN the namespace controller WHEN deleting (namespace removal) THEN allowed', r: req({ operation: 'DELETE', userInfo: { username: 'system:serviceaccount:kube-system:namespace-controller' } }), allowed: true, reason: 'namespaceCleanup' },
    { name: 'GIVEN the namespace controller WHEN updating THEN refused', r: req({ userInfo: { username: 'system:serviceaccount:kube-system:namespace-controller' } }), allowed: false, reason: 'notBmlb' },
    { name: 'GIVEN a ConfigMap without the label WHEN updating THEN not guarded', r: req({ object: foreign, oldObject: foreign, name: 'other' }), allowed: true, reason: 'notGuarded' },
    { name: 'GIVEN another namespace WHEN updating a labelled ConfigMap THEN not guarded', r: req({ namespace: 'default' }), allowed: true, reason: 'notGuarded' },
    { name: 'GIVEN another resource WHEN updating THEN not guarded', r: req({ resource: { group: 'apps', version: 'v1', resource: 'deployments' } }), allowed: true, reason: 'notGuarded' },
    { name: 'GIVEN no user name WHEN updating THEN refused', r: req({ userInfo: {} }), allowed: false, reason: 'notBmlb' },
  ];
  for (const t of table) {
    it(t.name, () => {
      const d = decideAdmission(t.r, policy);
      assert.equal(d.allowed, t.allowed);
      assert.equal(d.reason, t.reason);
    });
  }

  it('GIVEN a refusal THEN the message names the object, the user, the cluster file and the command', () => {
    const d = decideAdmission(req({}), policy);
    assert.equal(d.allowed, false);
    if (d.allowed) return;
    assert.match(d.message, /ConfigMap bmlb-system\/bmlb-config/);
    assert.match(d.message, /user "admin-user" may not change it/);
    assert.match(d.message, /\/home\/op\/bmlb-workspace\/lab\/lab\.yaml/);
    assert.match(d.message, /`bmlb update cluster -c lab`/);
  });

  it('GIVEN no owner record yet WHEN anyone but the controller writes THEN refused, message still says what to do', () => {
    const d = decideAdmission(req({ userInfo: { username: 'bmlb-installer' } }), { namespace: 'bmlb-system', owner: undefined });
    assert.equal(d.allowed, false);
    if (!d.allowed) assert.match(d.message, /bmlb update cluster -c NAME/);
    assert.equal(decideAdmission(req({ userInfo: { username: CONTROLLER_USERNAME } }), { namespace: 'bmlb-system', owner: undefined }).allowed, true);
  });

  it('GIVEN a decision WHEN answered THEN the AdmissionReview response carries uid, allowed and a 403 status', () => {
    const refused = admissionResponse('abc', decideAdmission(req({}), policy)) as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; status: { code: number; reason: string; message: string } } };
    assert.equal(refused.apiVersion, 'admission.k8s.io/v1');
    assert.equal(refused.kind, 'AdmissionReview');
    assert.equal(refused.response.uid, 'abc');
    assert.equal(refused.response.allowed, false);
    assert.equal(refused.response.status.code, 403);
    assert.equal(refused.response.status.reason, 'Forbidden');
    const ok = admissionResponse('x', decideAdmission(req({ userInfo: { username: 'bmlb-installer' } }), policy)) as { response: Record<string, unknown> };
    assert.deepEqual(ok.response, { uid: 'x', allowed: true });
  });

  it('GIVEN malformed bodies WHEN parsed THEN each is rejected with a reason', () => {
    assert.equal(parseAdmissionReview('{').ok, false);
    assert.equal(parseAdmissionReview('{"kind":"Pod"}').ok, false);
    assert.equal(parseAdmissionReview('{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"a"}}').ok, false);
    assert.equal(parseAdmissionReview('{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}}').ok, false);
    const good = parseAdmissionReview(JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: req({}) }));
    assert.equal(good.ok, true);
  });
});
