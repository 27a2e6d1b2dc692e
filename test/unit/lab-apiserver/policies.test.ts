/** ValidatingAdmissionPolicy: the CEL subset, and policies enforced by the lab API server. */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { AdmissionregistrationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { CelError, evalCel, parseCel, type Value } from '../../../src/lab/apiserver/cel.js';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { rejectsWithStatus } from './fixture.js';

const cel = (src: string, vars: Record<string, Value> = {}): Value => evalCel(parseCel(src), vars);

describe('CEL subset', () => {
  const request = { userInfo: { username: 'bmlb-installer', groups: ['system:masters'] }, operation: 'UPDATE' };
  const object = { metadata: { name: 'cfg', labels: { a: 'b' } }, data: { k: 'v' } };

  it('GIVEN the admission expressions bmlb renders WHEN evaluated THEN membership and equality work', () => {
    assert.equal(cel('request.userInfo.username in ["bmlb-installer", "system:serviceaccount:bmlb-system:bmlb-controller"]', { request }), true);
    assert.equal(cel("request.userInfo.username in ['someone-else']", { request }), false);
    assert.equal(cel('request.operation == "UPDATE" && "system:masters" in request.userInfo.groups', { request }), true);
  });

  it('GIVEN literals, arithmetic, comparisons and conditionals WHEN evaluated THEN CEL results come back', () => {
    assert.equal(cel('1 + 2 * 3 - 4 / 2 + 7 % 4'), 8);
    assert.equal(cel('"a" + "b" == "ab" ? size([1, 2, 3]) : -1'), 3);
    assert.equal(cel('!(2 < 1) && 2 >= 2 && "b" > "a"'), true);
    assert.deepEqual(cel('{"x": [1, 2]}["x"] + [3]'), [1, 2, 3]);
    assert.equal(cel('null == null'), true);
  });

  it('GIVEN objects WHEN has(), size(), string functions and macros are used THEN they behave', () => {
    assert.equal(cel('has(object.metadata.labels) && !has(object.metadata.annotations)', { object }), true);
    assert.equal(cel('object.metadata.name.startsWith("cf") && object.metadata.name.endsWith("g") && object.metadata.name.contains("f")', { object }), true);
    assert.equal(cel('object.metadata.name.matches("^c[a-z]+$")', { object }), true);
    assert.equal(cel('object.data.all(k, object.data[k] == "v") && [1, 2, 3].exists(x, x > 2) && [1, 2].exists_one(x, x == 1)', { object }), true);
    assert.deepEqual(cel('[1, 2, 3].filter(x, x > 1).map(x, x * 10)'), [20, 30]);
    assert.equal(cel('size(object.metadata.labels) == 1 && string(1) == "1" && int("42") == 42', { object }), true);
  });

  it('GIVEN errors WHEN || or && can decide without the failing side THEN the error is absorbed, otherwise raised', () => {
    assert.equal(cel('object.missing == 1 || true', { object }), true);
    assert.equal(cel('false && object.missing == 1', { object }), false);
    assert.throws(() => cel('object.missing == 1 || false', { object }), CelError);
    assert.throws(() => cel('oldObject.metadata.name == "x"', { oldObject: null }), /no such key/);
    assert.throws(() => cel('unknownVar'), /undeclared reference/);
    assert.throws(() => parseCel('a +'), CelError);
    assert.throws(() => parseCel('"unterminated'), CelError);
  });
});

describe('ValidatingAdmissionPolicy enforced by the lab API server', () => {
  let api: TestApi;
  let admin: CoreV1Api;
  let installer: CoreV1Api;
  let adm: AdmissionregistrationV1Api;
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const message = 'bmlb generates the ConfigMaps of bmlb-system from the cluster file; run `bmlb update cluster` instead.';

  before(async () => {
    api = await startTestApiServer();
    admin = api.kubeConfig('admin-user').makeApiClient(CoreV1Api);
    installer = api.kubeConfig('bmlb-installer').makeApiClient(CoreV1Api);
    adm = api.kubeConfig('admin-user').makeApiClient(AdmissionregistrationV1Api);
    await admin.createNamespace({ body: { metadata: { name: 'bmlb-system' } } });
    await admin.createNamespace({ body: { metadata: { name: 'elsewhere' } } });
    await adm.createValidatingAdmissionPolicy({ body: { metadata: { name: 'bmlb-config-guard' }, spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'bmlb-system' } },
        objectSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'bmlb' } },
        resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['configmaps', 'secrets'] }],
      },
      validations: [{ expression: 'request.userInfo.username in ["bmlb-installer", "system:serviceaccount:bmlb-system:bmlb-controller"]', message, reason: 'Forbidden' }],
    } } });
    await adm.createValidatingAdmissionPolicyBinding({ body: { metadata: { name: 'bmlb-config-guard' }, spec: { policyName: 'bmlb-config-guard', validationActions: ['Deny'] } } });
  });
  after(async () => {
    await api?.close();
  });

  const owned = (name: string, ns = 'bmlb-system') => ({ namespace: ns, body: { metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'bmlb' } }, data: { config: 'v1' } } });

  it('GIVEN the guard policy WHEN the installer writes a bmlb-owned ConfigMap THEN it is admitted', async () => {
    await installer.createNamespacedConfigMap(owned('bmlb-config'));
    await installer.patchNamespacedConfigMap({ name: 'bmlb-config', namespace: 'bmlb-system', body: { data: { config: 'v2' } } }, merge);
  });

  it('GIVEN the guard policy WHEN another admin edits or deletes it THEN 403 with the policy\'s message', async () => {
    const st = await rejectsWithStatus(admin.patchNamespacedConfigMap({ name: 'bmlb-config', namespace: 'bmlb-system', body: { data: { config: 'hand-edit' } } }, merge));
    assert.equal(st.code, 403);
    assert.equal(st.reason, 'Forbidden');
    assert.equal(st.message, `ValidatingAdmissionPolicy 'bmlb-config-guard' with binding 'bmlb-config-guard' denied request: ${message}`);
    const del = await rejectsWithStatus(admin.deleteNamespacedConfigMap({ name: 'bmlb-config', namespace: 'bmlb-system' }));
    assert.equal(del.code, 403);
    assert.equal((await admin.readNamespacedConfigMap({ name: 'bmlb-config', namespace: 'bmlb-system' })).data!.config, 'v2');
  });

  it('GIVEN the guard policy WHEN objects outside its selectors are written THEN it does not apply', async () => {
    await admin.createNamespacedConfigMap({ namespace: 'bmlb-system', body: { metadata: { name: 'user-owned' } } });
    await admin.createNamespacedConfigMap(owned('bmlb-config', 'elsewhere'));
  });

  it('GIVEN a policy whose expression errors WHEN failurePolicy is Fail THEN writes are refused; WHEN Ignore THEN admitted', async () => {
    const make = async (name: string, failurePolicy: 'Fail' | 'Ignore') => {
      await adm.createValidatingAdmissionPolicy({ body: { metadata: { name }, spec: { failurePolicy,
        matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'elsewhere' } } },
        validations: [{ expression: 'object.spec.replicas > 0' }] } } });
      await adm.createValidatingAdmissionPolicyBinding({ body: { metadata: { name }, spec: { policyName: name, validationActions: ['Deny'] } } });
    };
    await make('broken-ignore', 'Ignore');
    await admin.createNamespacedConfigMap({ namespace: 'elsewhere', body: { metadata: { name: 'c1' } } });
    await make('broken-fail', 'Fail');
    const st = await rejectsWithStatus(admin.createNamespacedConfigMap({ namespace: 'elsewhere', body: { metadata: { name: 'c2' } } }));
    assert.equal(st.code, 422);
    assert.match(st.message, /^ValidatingAdmissionPolicy 'broken-fail' with binding 'broken-fail' denied request: expression 'object.spec.replicas > 0' resulted in error: no such key: spec/);
    await adm.deleteValidatingAdmissionPolicyBinding({ name: 'broken-fail' });
    await admin.createNamespacedConfigMap({ namespace: 'elsewhere', body: { metadata: { name: 'c2' } } });
  });

  it('GIVEN a binding with validationActions Warn only WHEN the expression is false THEN the write is admitted', async () => {
    await adm.createValidatingAdmissionPolicy({ body: { metadata: { name: 'warn' }, spec: {
      matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['secrets'] }] },
      validations: [{ expression: 'false', message: 'never' }] } } });
    await adm.createValidatingAdmissionPolicyBinding({ body: { metadata: { name: 'warn' }, spec: { policyName: 'warn', validationActions: ['Warn'] } } });
    await admin.createNamespacedSecret({ namespace: 'elsewhere', body: { metadata: { name: 's' } } });
  });
});
