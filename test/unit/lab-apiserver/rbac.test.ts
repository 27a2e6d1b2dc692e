/** RBAC: the pure evaluator, and the live server enforcing it for ServiceAccount tokens. */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions } from '@kubernetes/client-node';
import { authorize, forbiddenMessage, ruleAllows, type RbacView, type UserInfo } from '../../../src/lab/apiserver/rbac.js';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { raw, rejectsWithStatus } from './fixture.js';

const sa: UserInfo = { username: 'system:serviceaccount:bmlb-system:speaker', groups: ['system:serviceaccounts', 'system:serviceaccounts:bmlb-system', 'system:authenticated'] };

function view(p: Partial<{ roles: any[]; roleBindings: any[]; clusterRoles: any[]; clusterRoleBindings: any[] }>): RbacView {
  return {
    roles: (ns) => (p.roles ?? []).filter((r) => r.metadata.namespace === ns),
    roleBindings: (ns) => (p.roleBindings ?? []).filter((r) => r.metadata.namespace === ns),
    clusterRoles: () => p.clusterRoles ?? [],
    clusterRoleBindings: () => p.clusterRoleBindings ?? [],
  };
}

describe('RBAC evaluator (pure)', () => {
  const res = (verb: string, resource: string, extra: Record<string, string> = {}) => ({ kind: 'resource' as const, verb, group: '', resource, ...extra });

  it('GIVEN rules WHEN matching verbs, groups, resources and subresources THEN only exact or * entries match', () => {
    assert.ok(ruleAllows({ verbs: ['get'], apiGroups: [''], resources: ['services'] }, res('get', 'services')));
    assert.ok(!ruleAllows({ verbs: ['get'], apiGroups: [''], resources: ['services'] }, res('get', 'services', { subresource: 'status' })));
    assert.ok(ruleAllows({ verbs: ['update'], apiGroups: [''], resources: ['services/status'] }, res('update', 'services', { subresource: 'status' })));
    assert.ok(!ruleAllows({ verbs: ['update'], apiGroups: [''], resources: ['services/status'] }, res('update', 'services')));
    assert.ok(ruleAllows({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, res('patch', 'services', { subresource: 'status' })));
    assert.ok(ruleAllows({ verbs: ['get'], apiGroups: [''], resources: ['*/status'] }, res('get', 'pods', { subresource: 'status' })));
    assert.ok(!ruleAllows({ verbs: ['get'], apiGroups: ['apps'], resources: ['services'] }, res('get', 'services')));
    assert.ok(!ruleAllows({ verbs: ['list'], apiGroups: [''], resources: ['services'] }, res('watch', 'services')));
  });

  it('GIVEN resourceNames WHEN the request names another object or none THEN it is denied', () => {
    const rule = { verbs: ['get', 'update', 'list'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['bmlb-config'] };
    assert.ok(ruleAllows(rule, res('get', 'configmaps', { name: 'bmlb-config' })));
    assert.ok(!ruleAllows(rule, res('get', 'configmaps', { name: 'other' })));
    assert.ok(!ruleAllows(rule, res('list', 'configmaps')));
  });

  it('GIVEN non-resource URL rules WHEN matching paths THEN exact and prefix* entries match', () => {
    assert.ok(ruleAllows({ verbs: ['get'], nonResourceURLs: ['/healthz'] }, { kind: 'nonResource', verb: 'get', path: '/healthz' }));
    assert.ok(ruleAllows({ verbs: ['get'], nonResourceURLs: ['/apis/*'] }, { kind: 'nonResource', verb: 'get', path: '/apis/apps' }));
    assert.ok(!ruleAllows({ verbs: ['get'], nonResourceURLs: ['/healthz'] }, { kind: 'nonResource', verb: 'get', path: '/metrics' }));
  });

  it('GIVEN a RoleBinding to a ServiceAccount WHEN the account acts in and outside that namespace THEN only inside is allowed', () => {
    const v = view({
      roles: [{ metadata: { name: 'r', namespace: 'bmlb-system' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['configmaps'] }] }],
      roleBindings: [{ metadata: { name: 'rb', namespace: 'bmlb-system' }, roleRef: { kind: 'Role', name: 'r' }, subjects: [{ kind: 'ServiceAccount', name: 'speaker', namespace: 'bmlb-system' }] }],
    });
    assert.ok(authorize(v, sa, res('get', 'configmaps', { namespace: 'bmlb-system' })).allowed);
    assert.ok(!authorize(v, sa, res('get', 'configmaps', { namespace: 'default' })).allowed);
    assert.ok(!authorize(v, sa, res('get', 'configmaps')).allowed, 'a RoleBinding never grants cluster-wide');
  });

  it('GIVEN a ClusterRoleBinding to a group WHEN a member acts THEN allowed everywhere; aggregated ClusterRoles add selected rules', () => {
    const v = view({
      clusterRoles: [
        { metadata: { name: 'agg' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'example.com/agg': 'true' } }] }, rules: [] },
        { metadata: { name: 'part', labels: { 'example.com/agg': 'true' } }, rules: [{ verbs: ['list'], apiGroups: [''], resources: ['nodes'] }] },
      ],
      clusterRoleBindings: [{ metadata: { name: 'crb' }, roleRef: { kind: 'ClusterRole', name: 'agg' }, subjects: [{ kind: 'Group', name: 'system:serviceaccounts:bmlb-system' }] }],
    });
    assert.ok(authorize(v, sa, res('list', 'nodes')).allowed);
    assert.ok(!authorize(v, sa, res('delete', 'nodes', { name: 'n1' })).allowed);
  });

  it('GIVEN system:masters WHEN anything is asked THEN allowed without any binding', () => {
    assert.ok(authorize(view({}), { username: 'x', groups: ['system:masters'] }, res('delete', 'namespaces', { name: 'kube-system' })).allowed);
  });

  it('GIVEN a denial WHEN the message is built THEN it reads like kube-apiserver\'s', () => {
    assert.equal(forbiddenMessage(sa, { kind: 'resource', verb: 'update', group: '', resource: 'services', subresource: 'status', namespace: 'default', name: 'web' }),
      'services/status "web" is forbidden: User "system:serviceaccount:bmlb-system:speaker" cannot update resource "services/status" in API group "" in the namespace "default"');
    assert.equal(forbiddenMessage(sa, { kind: 'resource', verb: 'list', group: 'apps', resource: 'daemonsets' }),
      'daemonsets.apps is forbidden: User "system:serviceaccount:bmlb-system:speaker" cannot list resource "daemonsets" in API group "apps" at the cluster scope');
  });
});

describe('RBAC enforced by the lab API server', () => {
  let api: TestApi;
  let admin: CoreV1Api;
  let robot: CoreV1Api;
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

  before(async () => {
    api = await startTestApiServer({ users: [{ user: 'plain', groups: [] }] });
    admin = api.kubeConfig('admin-user').makeApiClient(CoreV1Api);
    const rbac = api.kubeConfig('admin-user').makeApiClient(RbacAuthorizationV1Api);
    await admin.createNamespace({ body: { metadata: { name: 'bmlb-system' } } });
    await admin.createNamespacedServiceAccount({ namespace: 'bmlb-system', body: { metadata: { name: 'controller' } } });
    await rbac.createClusterRole({ body: { metadata: { name: 'bmlb:controller' }, rules: [
      { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['services/status'], verbs: ['update', 'patch'] },
    ] } });
    await rbac.createClusterRoleBinding({ body: { metadata: { name: 'bmlb:controller' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'bmlb:controller' },
      subjects: [{ kind: 'ServiceAccount', name: 'controller', namespace: 'bmlb-system' }] } });
    await rbac.createNamespacedRole({ namespace: 'bmlb-system', body: { metadata: { name: 'cfg' }, rules: [
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['bmlb-config'], verbs: ['get', 'update'] },
    ] } });
    await rbac.createNamespacedRoleBinding({ namespace: 'bmlb-system', body: { metadata: { name: 'cfg' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cfg' },
      subjects: [{ kind: 'ServiceAccount', name: 'controller', namespace: 'bmlb-system' }] } });
    await admin.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'web' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } } });
    await admin.createNamespacedConfigMap({ namespace: 'bmlb-system', body: { metadata: { name: 'bmlb-config' }, data: { a: 'b' } } });
    await admin.createNamespacedConfigMap({ namespace: 'bmlb-system', body: { metadata: { name: 'other' } } });
    robot = (await api.serviceAccountKubeconfig('bmlb-system', 'controller')).kubeConfig.makeApiClient(CoreV1Api);
  });
  after(async () => {
    await api?.close();
  });

  it('GIVEN the controller\'s ClusterRole WHEN it lists Services and patches services/status THEN both are allowed', async () => {
    const l = await robot.listServiceForAllNamespaces();
    assert.ok(l.items.some((s) => s.metadata!.name === 'web'));
    const s = await robot.patchNamespacedServiceStatus({ name: 'web', namespace: 'default', body: { status: { loadBalancer: { ingress: [{ ip: '198.51.100.200' }] } } } }, merge);
    assert.equal(s.status!.loadBalancer!.ingress![0]!.ip, '198.51.100.200');
  });

  it('GIVEN no grant on the main Service resource WHEN the controller patches the spec THEN 403 names user, verb, resource and namespace', async () => {
    const st = await rejectsWithStatus(robot.patchNamespacedService({ name: 'web', namespace: 'default', body: { spec: { externalTrafficPolicy: 'Local' } } }, merge));
    assert.equal(st.code, 403);
    assert.equal(st.reason, 'Forbidden');
    assert.equal(st.message, 'services "web" is forbidden: User "system:serviceaccount:bmlb-system:controller" cannot patch resource "services" in API group "" in the namespace "default"');
    assert.deepEqual(st.details, { name: 'web', group: '', kind: 'services' });
  });

  it('GIVEN a resourceNames grant WHEN the controller reads its ConfigMap and another THEN only its own is allowed', async () => {
    await robot.readNamespacedConfigMap({ name: 'bmlb-config', namespace: 'bmlb-system' });
    const st = await rejectsWithStatus(robot.readNamespacedConfigMap({ name: 'other', namespace: 'bmlb-system' }));
    assert.equal(st.code, 403);
    const list = await rejectsWithStatus(robot.listNamespacedConfigMap({ namespace: 'bmlb-system' }));
    assert.match(list.message, /cannot list resource "configmaps" in API group "" in the namespace "bmlb-system"/);
  });

  it('GIVEN a user with no bindings WHEN reading nodes THEN 403 at the cluster scope, but discovery and SelfSubjectAccessReview work', async () => {
    const r = await raw(api, 'GET', '/api/v1/nodes', { user: 'plain' });
    assert.equal(r.status, 403);
    assert.equal(r.json.message, 'nodes is forbidden: User "plain" cannot list resource "nodes" in API group "" at the cluster scope');
    assert.equal((await raw(api, 'GET', '/apis', { user: 'plain' })).status, 200);
    const ssar = await raw(api, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { user: 'plain', body: {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'list', resource: 'nodes' } } } });
    assert.equal(ssar.status, 201);
    assert.equal(ssar.json.status.allowed, false);
  });

  it('GIVEN a user who may manage RBAC in a namespace WHEN granting permissions they lack THEN 403 (escalation), unless they hold escalate/bind', async () => {
    const rbac = api.kubeConfig('admin-user').makeApiClient(RbacAuthorizationV1Api);
    await admin.createNamespace({ body: { metadata: { name: 'team' } } });
    await rbac.createNamespacedRole({ namespace: 'team', body: { metadata: { name: 'rbac-manager' }, rules: [
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['create', 'update', 'patch'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
    ] } });
    await rbac.createNamespacedRoleBinding({ namespace: 'team', body: { metadata: { name: 'plain-manager' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'rbac-manager' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'plain' }] } });
    const asPlain = (body: object, kind: 'roles' | 'rolebindings') => raw(api, 'POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/team/${kind}`, { user: 'plain', body });
    const held = await asPlain({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'cm-reader' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] }, 'roles');
    assert.equal(held.status, 201, held.text);
    const more = await asPlain({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'secret-reader' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] }, 'roles');
    assert.equal(more.status, 403);
    assert.equal(more.json.message, 'roles.rbac.authorization.k8s.io "secret-reader" is forbidden: user "plain" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}');
    await rbac.createNamespacedRole({ namespace: 'team', body: { metadata: { name: 'secret-reader' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] } });
    const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'sr' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-reader' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'someone' }] };
    assert.equal((await asPlain(binding, 'rolebindings')).status, 403);
    await rbac.createNamespacedRole({ namespace: 'team', body: { metadata: { name: 'binder' }, rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], resourceNames: ['secret-reader'], verbs: ['bind'] }] } });
    await rbac.createNamespacedRoleBinding({ namespace: 'team', body: { metadata: { name: 'plain-binder' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'binder' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'plain' }] } });
    assert.equal((await asPlain(binding, 'rolebindings')).status, 201);
  });

  it('GIVEN impersonation headers WHEN a cluster admin acts as the controller THEN RBAC applies to the controller; a plain user may not impersonate', async () => {
    const as = { 'Impersonate-User': 'system:serviceaccount:bmlb-system:controller' };
    const denied = await raw(api, 'PATCH', '/api/v1/namespaces/default/services/web', { headers: as, body: { spec: { externalTrafficPolicy: 'Local' } }, contentType: 'application/merge-patch+json' });
    assert.equal(denied.status, 403);
    assert.match(denied.json.message, /User "system:serviceaccount:bmlb-system:controller" cannot patch resource "services"/);
    assert.equal((await raw(api, 'GET', '/api/v1/services', { headers: as })).status, 200);
    const who = await raw(api, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { headers: { ...as, 'Impersonate-Group': 'extra-group' },
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
    assert.deepEqual(who.json.status.userInfo.groups, ['extra-group', 'system:serviceaccounts', 'system:serviceaccounts:bmlb-system', 'system:authenticated']);
    const plain = await raw(api, 'GET', '/api/v1/services', { user: 'plain', headers: { 'Impersonate-User': 'admin-user' } });
    assert.equal(plain.status, 403);
    assert.equal(plain.json.message, 'users "admin-user" is forbidden: User "plain" cannot impersonate resource "users" in API group "" at the cluster scope');
  });

  it('GIVEN a deleted ServiceAccount WHEN its token is used THEN 401', async () => {
    await admin.createNamespacedServiceAccount({ namespace: 'bmlb-system', body: { metadata: { name: 'temp' } } });
    const { token } = await api.serviceAccountKubeconfig('bmlb-system', 'temp');
    assert.equal((await raw(api, 'GET', '/api', { token })).status, 200);
    await admin.deleteNamespacedServiceAccount({ name: 'temp', namespace: 'bmlb-system' });
    assert.equal((await raw(api, 'GET', '/api', { token })).status, 401);
  });
});
