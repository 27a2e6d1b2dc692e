/** The real kubectl (v1.32) against the lab API server: get, create, apply, edit, label, patch, watch, delete. */
import { strict as assert } from 'node:assert';
import { execFile, spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { waitFor } from './fixture.js';

const run = promisify(execFile);
let api: TestApi;
let kubeconfig: string;
let core: CoreV1Api;

async function kubectl(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(api.dir, 'kube-cache'), ...args], { env: { ...process.env, ...env }, timeout: 20_000 });
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

async function file(name: string, text: string): Promise<string> {
  const p = join(api.dir, name);
  await writeFile(p, text);
  return p;
}

before(async () => {
  api = await startTestApiServer();
  kubeconfig = await api.kubeconfigPath('admin-user');
  core = api.kubeConfig('admin-user').makeApiClient(CoreV1Api);
  await core.createNode({ body: { metadata: { name: 'lb1', labels: { 'baremetal.cluster.gke.io/lbnode': 'true' } },
    status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: '198.51.100.21' }] } } });
});
after(async () => {
  await api?.close();
});

const deployment = (env: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: example.invalid/web:1
        env:
        - {name: MODE, value: "${env}"}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
`;

describe('kubectl against the lab API server', () => {
  it('GIVEN a node WHEN `kubectl get nodes -o json` and the table view run THEN the node is listed', async () => {
    const { stdout } = await kubectl(['get', 'nodes', '-o', 'json']);
    const list = JSON.parse(stdout);
    assert.equal(list.kind, 'List');
    assert.deepEqual(list.items.map((n: { metadata: { name: string } }) => n.metadata.name), ['lb1']);
    const table = await kubectl(['get', 'nodes']);
    assert.match(table.stdout, /^NAME\s+STATUS\s+ROLES\s+AGE\nlb1\s+Ready\s+<none>\s+\d+s\n$/);
  });

  it('GIVEN manifests WHEN applied, applied again, then changed and applied THEN created, unchanged, configured', async () => {
    const f = await file('web.yaml', deployment('a'));
    const first = await kubectl(['apply', '-f', f]);
    assert.match(first.stdout, /deployment.apps\/web created\nservice\/web created/);
    const again = await kubectl(['apply', '-f', f]);
    assert.match(again.stdout, /deployment.apps\/web unchanged\nservice\/web unchanged/);
    await writeFile(f, deployment('b'));
    const third = await kubectl(['apply', '-f', f]);
    assert.match(third.stdout, /deployment.apps\/web configured\nservice\/web unchanged/);
    const { stdout } = await kubectl(['get', 'deployment', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].env[0].value} {.metadata.generation}']);
    assert.equal(stdout, 'b 2');
    const svc = JSON.parse((await kubectl(['get', 'svc', 'web', '-o', 'json'])).stdout);
    assert.match(svc.spec.clusterIP, /^203\.0\.113\./);
    assert.ok(svc.spec.ports[0].nodePort >= 30000);
  });

  it('GIVEN a ConfigMap WHEN `kubectl edit` runs with an EDITOR script that changes it THEN the change is stored', async () => {
    await kubectl(['create', '-f', await file('cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  mode: old\n')]);
    const editor = await file('editor.sh', '#!/bin/sh\nsed -i "s/mode: old/mode: edited/" "$1"\n');
    await chmod(editor, 0o755);
    const out = await kubectl(['edit', 'configmap', 'cfg'], { EDITOR: editor, KUBE_EDITOR: editor });
    assert.match(out.stdout, /configmap\/cfg edited/);
    assert.equal((await core.readNamespacedConfigMap({ name: 'cfg', namespace: 'default' })).data!.mode, 'edited');
  });

  it('GIVEN an admission policy guarding a ConfigMap WHEN `kubectl edit` and `kubectl apply` change it THEN kubectl fails and prints the policy message', async () => {
    await kubectl(['apply', '-f', await file('guard.yaml', `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: guard}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [UPDATE], resources: [configmaps]}
    objectSelector: {matchLabels: {guarded: "yes"}}
  validations:
  - {expression: 'request.userInfo.username == "bmlb-installer"', message: edit the cluster file instead, reason: Forbidden}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: guard}
spec: {policyName: guard, validationActions: [Deny]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: guarded, labels: {guarded: "yes"}}
data: {mode: generated}
`)]);
    const editor = await file('editor-guard.sh', '#!/bin/sh\nsed -i "s/mode: generated/mode: hand-edited/" "$1"\n');
    await chmod(editor, 0o755);
    await assert.rejects(kubectl(['edit', 'configmap', 'guarded'], { EDITOR: editor, KUBE_EDITOR: editor }),
      /ValidatingAdmissionPolicy 'guard' with binding 'guard' denied request: edit the cluster file instead/);
    const changed = await file('guarded.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: guarded, labels: {guarded: "yes"}}\ndata: {mode: applied}\n');
    await assert.rejects(kubectl(['apply', '-f', changed]), /Error from server \(Forbidden\).*edit the cluster file instead/s);
    assert.equal((await core.readNamespacedConfigMap({ name: 'guarded', namespace: 'default' })).data!.mode, 'generated');
    await kubectl(['delete', 'validatingadmissionpolicybinding', 'guard']);
    await kubectl(['delete', 'validatingadmissionpolicy', 'guard']);
    await kubectl(['delete', 'configmap', 'guarded']);
  });

  it('GIVEN a ConfigMap WHEN labelled and unlabelled THEN labels follow and a selector finds it', async () => {
    await kubectl(['label', 'configmap', 'cfg', 'tier=gold']);
    assert.equal((await kubectl(['get', 'cm', '-l', 'tier=gold', '-o', 'name'])).stdout, 'configmap/cfg\n');
    await kubectl(['label', 'configmap', 'cfg', 'tier-']);
    assert.equal((await kubectl(['get', 'cm', '-l', 'tier', '-o', 'name'])).stdout, '');
  });

  it('GIVEN objects WHEN patched with --type merge, --type json and the default strategic patch THEN each applies', async () => {
    await kubectl(['patch', 'configmap', 'cfg', '--type', 'merge', '-p', '{"data":{"m":"1"}}']);
    await kubectl(['patch', 'configmap', 'cfg', '--type', 'json', '-p', '[{"op":"add","path":"/data/j","value":"2"}]']);
    await kubectl(['patch', 'deployment', 'web', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"example.invalid/web:2"}]}}}}']);
    const cm = await core.readNamespacedConfigMap({ name: 'cfg', namespace: 'default' });
    assert.deepEqual(cm.data, { mode: 'edited', m: '1', j: '2' });
    const { stdout } = await kubectl(['get', 'deployment', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].name}']);
    assert.equal(stdout, 'example.invalid/web:2 MODE', 'strategic merge kept env while changing the image');
  });

  it('GIVEN `kubectl get --watch` WHEN a ConfigMap is created THEN the watcher prints it', async (t) => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(api.dir, 'kube-cache'), 'get', 'configmaps', '--watch', '-o', 'name'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (child.exitCode === null) child.kill('SIGTERM'); });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    await waitFor('initial list', () => out.includes('configmap/cfg') || undefined, 10_000);
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'watched' } } });
    await waitFor('watch event', () => out.includes('configmap/watched') || undefined, 10_000);
  });

  it('GIVEN a CRD and a custom resource WHEN applied with kubectl THEN the custom resource is served and gettable by short name', async () => {
    await kubectl(['apply', '-f', await file('crd.yaml', `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gizmos.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gizmos, singular: gizmo, kind: Gizmo, shortNames: [gz]}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`)]);
    const cr = await file('cr.yaml', 'apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g1}\nspec: {size: 1}\n');
    assert.match((await kubectl(['apply', '-f', cr])).stdout, /gizmo.example.com\/g1 created/);
    assert.match((await kubectl(['apply', '-f', cr])).stdout, /gizmo.example.com\/g1 unchanged/);
    assert.equal((await kubectl(['get', 'gz', 'g1', '-o', 'jsonpath={.spec.size}'])).stdout, '1');
    assert.match((await kubectl(['get', 'gizmos'])).stdout, /^NAME\s+SIZE\s+AGE\ng1\s+1\s+\d+s\n$/);
  });

  it('GIVEN objects WHEN `kubectl delete` runs (including a namespace, which it waits for) THEN they are gone', async () => {
    await kubectl(['delete', '-f', join(api.dir, 'web.yaml')]);
    await kubectl(['delete', 'configmap', 'cfg', 'watched']);
    assert.equal((await kubectl(['get', 'cm', '-o', 'name'])).stdout, '');
    await kubectl(['create', '-f', await file('ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: scratch}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: scratch}\n')]);
    const del = await kubectl(['delete', 'namespace', 'scratch', '--wait=true', '--timeout=10s']);
    assert.match(del.stdout, /namespace "scratch" deleted/);
    const { stdout } = await kubectl(['get', 'namespaces', '-o', 'name']);
    assert.ok(!stdout.includes('namespace/scratch'));
  });

  it('GIVEN kubectl\'s protobuf-speaking subcommands WHEN creating a namespace, ConfigMap, Secret, ServiceAccount and token THEN they work', async () => {
    await kubectl(['create', 'namespace', 'pb']);
    await kubectl(['create', 'configmap', 'pb-cm', '-n', 'pb', '--from-literal=a=1', '--from-literal=b=2']);
    assert.deepEqual((await core.readNamespacedConfigMap({ name: 'pb-cm', namespace: 'pb' })).data, { a: '1', b: '2' });
    await kubectl(['create', 'secret', 'generic', 'pb-s', '-n', 'pb', '--from-literal=pw=hunter2']);
    const sec = await core.readNamespacedSecret({ name: 'pb-s', namespace: 'pb' });
    assert.equal(Buffer.from(sec.data!.pw!, 'base64').toString(), 'hunter2');
    await kubectl(['create', 'serviceaccount', 'pb-sa', '-n', 'pb']);
    const token = (await kubectl(['create', 'token', 'pb-sa', '-n', 'pb', '--duration=20m'])).stdout.trim();
    const sa = await run('kubectl', ['--server', api.url, '--certificate-authority', api.caFile, '--token', token, '--cache-dir', join(api.dir, 'kube-cache'), 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    assert.equal(sa.stdout, 'system:serviceaccount:pb:pb-sa');
  });

  it('GIVEN `kubectl auth can-i` with and without --as WHEN asked THEN RBAC answers for the impersonated user', async () => {
    assert.equal((await kubectl(['auth', 'can-i', 'delete', 'nodes'])).stdout.trim(), 'yes');
    await assert.rejects(kubectl(['auth', 'can-i', 'delete', 'nodes', '--as=system:serviceaccount:pb:pb-sa']), /no/);
  });

  it('GIVEN a malformed request WHEN kubectl gets an error Status THEN it prints the server\'s message', async () => {
    await assert.rejects(kubectl(['get', 'configmap', 'does-not-exist']), /Error from server \(NotFound\): configmaps "does-not-exist" not found/);
  });
});
