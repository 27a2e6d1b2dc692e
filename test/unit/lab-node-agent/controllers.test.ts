import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1DaemonSet, V1Deployment, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import { planDaemonSet, REVISION_LABEL } from '../../../src/lab/controllers/daemonset.js';
import { planDeployment, POD_TEMPLATE_HASH_LABEL } from '../../../src/lab/controllers/deployment.js';
import { desiredEndpointSlices, diffSlices } from '../../../src/lab/controllers/endpoint-slice.js';
import { podFitsNode, templateHash } from '../../../src/lab/controllers/pod-facts.js';

const LB = 'baremetal.cluster.gke.io/lbnode';

function node(name: string, labels: Record<string, string> = {}, ready = true, taints: NonNullable<V1Node['spec']>['taints'] = []): V1Node {
  return { metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } }, spec: { taints }, status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } };
}

const template = (image = 'bmlb:1') => ({
  metadata: { labels: { app: 'speaker' } },
  spec: { hostNetwork: true, nodeSelector: { [LB]: 'true' }, containers: [{ name: 'speaker', image, ports: [{ containerPort: 7472 }] }] },
});

function ds(over: Partial<NonNullable<V1DaemonSet['spec']>> = {}, image?: string): V1DaemonSet {
  return { metadata: { name: 'speaker', namespace: 'bmlb-system', uid: 'ds-uid', generation: 2 }, spec: { selector: { matchLabels: { app: 'speaker' } }, template: template(image), ...over } };
}

let seq = 0;
function podOn(nodeName: string, hash: string, ready: boolean, owner = 'ds-uid', labels: Record<string, string> = {}): V1Pod {
  seq += 1;
  return {
    metadata: { name: `p${seq}`, namespace: 'bmlb-system', uid: `pod-${seq}`, creationTimestamp: new Date(1_000_000 + seq * 1000), labels: { app: 'speaker', [REVISION_LABEL]: hash, [POD_TEMPLATE_HASH_LABEL]: hash, ...labels }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'x', uid: owner, controller: true }] },
    spec: { nodeName, hostNetwork: true, containers: [{ name: 'c', ports: [{ containerPort: 7472 }] }] },
    status: { phase: 'Running', podIP: '198.51.100.21', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

describe('DaemonSet controller core', () => {
  const nodes = [node('cp1'), node('lb1', { [LB]: 'true' }), node('lb2', { [LB]: 'true' }), node('lb3', { [LB]: 'true' }, false)];

  it('GIVEN LB nodes labelled WHEN no pods exist THEN one pod per matching node is created (not-ready nodes too), bound, owned and labelled', () => {
    const plan = planDaemonSet(ds(), nodes, []);
    assert.deepEqual(plan.create.map((p) => p.spec?.nodeName), ['lb1', 'lb2', 'lb3']);
    const p = plan.create[0]!;
    assert.equal(p.metadata?.ownerReferences?.[0]?.uid, 'ds-uid');
    assert.equal(p.metadata?.labels?.[REVISION_LABEL], templateHash(ds().spec?.template));
    assert.equal(p.metadata?.generateName, 'speaker-');
    assert.deepEqual(plan.status, { desiredNumberScheduled: 3, currentNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0, updatedNumberScheduled: 0, numberAvailable: 0, numberUnavailable: 3, observedGeneration: 2 });
  });

  it('GIVEN a pod on a node that lost its label and two pods on one node WHEN planned THEN the misscheduled and the duplicate are deleted', () => {
    const h = templateHash(ds().spec?.template);
    const pods = [podOn('cp1', h, true), podOn('lb1', h, true), podOn('lb1', h, false), podOn('lb2', h, true), podOn('lb3', h, true)];
    const plan = planDaemonSet(ds(), nodes, pods);
    assert.deepEqual(plan.delete.map((d) => [d.name, d.reason]), [[pods[0]!.metadata!.name, 'notScheduledHere'], [pods[2]!.metadata!.name, 'duplicate']]);
    assert.equal(plan.create.length, 0);
    assert.equal(plan.status.numberReady, 3);
    assert.equal(plan.status.numberMisscheduled, 1);
  });

  it('GIVEN a new template and maxUnavailable 1 WHEN all old pods are ready THEN exactly one is replaced at a time', () => {
    const pods = ['lb1', 'lb2', 'lb3'].map((n) => podOn(n, 'old', true));
    const plan = planDaemonSet(ds({}, 'bmlb:2'), nodes, pods);
    assert.equal(plan.delete.length, 1);
    assert.equal(plan.delete[0]!.reason, 'outdated');
    assert.equal(plan.status.updatedNumberScheduled, 0);
  });

  it('GIVEN a rollout in progress (one node without a pod) WHEN planned THEN no further ready pod is taken down, the missing one is created', () => {
    const h = templateHash(ds({}, 'bmlb:2').spec?.template);
    const pods = [podOn('lb2', 'old', true), podOn('lb3', 'old', true)];
    const plan = planDaemonSet(ds({}, 'bmlb:2'), nodes, pods);
    assert.deepEqual(plan.create.map((p) => [p.spec?.nodeName, p.metadata?.labels?.[REVISION_LABEL]]), [['lb1', h]]);
    assert.deepEqual(plan.delete, []);
  });

  it('GIVEN maxUnavailable 2 or an outdated pod that is not ready WHEN planned THEN more go at once; OnDelete replaces nothing', () => {
    const two = planDaemonSet(ds({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } } }, 'bmlb:2'), nodes, ['lb1', 'lb2', 'lb3'].map((n) => podOn(n, 'old', true)));
    assert.equal(two.delete.length, 2);
    const unready = planDaemonSet(ds({}, 'bmlb:2'), nodes, [podOn('lb1', 'old', false), podOn('lb2', 'old', true), podOn('lb3', 'old', true)]);
    assert.equal(unready.delete.length, 1, 'the unready one goes, and it already used the budget');
    const onDelete = planDaemonSet(ds({ updateStrategy: { type: 'OnDelete' } }, 'bmlb:2'), nodes, ['lb1', 'lb2', 'lb3'].map((n) => podOn(n, 'old', true)));
    assert.deepEqual(onDelete.delete, []);
  });

  it('GIVEN a daemon pod that failed WHEN planned THEN it is deleted (with its node, for back-off) and a new one is wanted there', () => {
    const h = templateHash(ds().spec?.template);
    const failed = podOn('lb1', h, false);
    failed.status = { phase: 'Failed', reason: 'HostNetworkRequired' };
    const plan = planDaemonSet(ds(), nodes, [failed, podOn('lb2', h, true), podOn('lb3', h, true)]);
    assert.deepEqual(plan.delete, [{ name: failed.metadata!.name, namespace: 'bmlb-system', reason: 'failed', nodeName: 'lb1' }]);
    assert.deepEqual(plan.create.map((p) => p.spec?.nodeName), ['lb1']);
  });

  it('GIVEN a NoSchedule taint WHEN the template does not tolerate it THEN the node is not eligible; with a toleration it is', () => {
    const tainted = node('cp1', { [LB]: 'true' }, true, [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }]);
    assert.equal(podFitsNode(template().spec, tainted).fits, false);
    assert.equal(podFitsNode({ ...template().spec, tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }] }, tainted).fits, true);
  });
});

describe('Deployment controller core', () => {
  const nodes = [node('cp1'), node('lb1'), node('lb2', {}, false)];
  const dep = (replicas: number, image = 'bmlb:1', strategy?: NonNullable<V1Deployment['spec']>['strategy']): V1Deployment => ({
    metadata: { name: 'controller', namespace: 'bmlb-system', uid: 'dep-uid', generation: 1 },
    spec: { replicas, selector: { matchLabels: { app: 'speaker' } }, template: { ...template(image), spec: { ...template(image).spec, nodeSelector: undefined } }, strategy },
  });

  it('GIVEN 2 replicas of a hostNetwork pod with a port WHEN none exist THEN they go to different ready nodes', () => {
    const plan = planDeployment(dep(2), nodes, [], []);
    assert.deepEqual(plan.create.map((p) => p.spec?.nodeName).sort(), ['cp1', 'lb1']);
    assert.equal(plan.create[0]!.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL], templateHash(dep(2).spec?.template));
  });

  it('GIVEN 3 replicas and only 2 ready nodes WHEN planned THEN the third cannot be placed (host port taken) and is reported', () => {
    const plan = planDeployment(dep(3), nodes, [], []);
    assert.equal(plan.create.length, 2);
    assert.equal(plan.unschedulable, 1);
  });

  it('GIVEN a new template WHEN old pods are ready THEN a new pod surges first and an old one goes only once the new one is ready', () => {
    const d = dep(1, 'bmlb:2');
    const h = templateHash(d.spec?.template);
    const old = podOn('cp1', 'old', true, 'dep-uid');
    const step1 = planDeployment(d, nodes, [old], [old]);
    assert.equal(step1.create.length, 1);
    assert.equal(step1.create[0]!.spec?.nodeName, 'lb1');
    assert.deepEqual(step1.delete, []);
    const fresh = podOn('lb1', h, false, 'dep-uid');
    const step2 = planDeployment(d, nodes, [old, fresh], [old, fresh]);
    assert.deepEqual(step2.delete, [], 'not yet: the new pod is not ready');
    const freshReady = podOn('lb1', h, true, 'dep-uid');
    const step3 = planDeployment(d, nodes, [old, freshReady], [old, freshReady]);
    assert.deepEqual(step3.delete.map((x) => x.name), [old.metadata!.name]);
    assert.equal(step3.status.updatedReplicas, 1);
  });

  it('GIVEN Recreate WHEN the template changes THEN old pods go first and new ones come after', () => {
    const d = dep(1, 'bmlb:2', { type: 'Recreate' });
    const old = podOn('cp1', 'old', true, 'dep-uid');
    const plan = planDeployment(d, nodes, [old], [old]);
    assert.equal(plan.delete.length, 1);
    assert.equal(plan.create.length, 0);
    assert.equal(planDeployment(d, nodes, [], []).create.length, 1);
  });

  it('GIVEN more pods than replicas WHEN planned THEN the surplus (unready first) is removed', () => {
    const d = dep(1);
    const h = templateHash(d.spec?.template);
    const a = podOn('cp1', h, true, 'dep-uid');
    const b = podOn('lb1', h, false, 'dep-uid');
    const plan = planDeployment(d, nodes, [a, b], [a, b]);
    assert.deepEqual(plan.delete.map((x) => [x.name, x.reason]), [[b.metadata!.name, 'scaleDown']]);
    assert.equal(plan.status.readyReplicas, 1);
  });
});

describe('EndpointSlice controller core', () => {
  const service: V1Service = {
    metadata: { name: 'bmlb-webhook', namespace: 'bmlb-system', uid: 'svc-uid' },
    spec: { selector: { app: 'speaker' }, ports: [{ name: 'https', port: 443, targetPort: 'webhook' as unknown as number }], ipFamilies: ['IPv4'] },
  };
  const withPort = (p: V1Pod, ip: string): V1Pod => ({ ...p, spec: { ...p.spec!, containers: [{ name: 'c', ports: [{ name: 'webhook', containerPort: 9443 }] }] }, status: { ...p.status, podIP: ip, podIPs: [{ ip }] } });

  it('GIVEN matching pods ready and not WHEN sliced THEN both are listed with conditions, node names and the resolved named port', () => {
    const a = withPort(podOn('lb1', 'h', true), '198.51.100.21');
    const b = withPort(podOn('lb2', 'h', false), '198.51.100.22');
    const other = withPort(podOn('lb3', 'h', true, 'x', { app: 'other' }), '198.51.100.23');
    const [slice, ...rest] = desiredEndpointSlices(service, [a, b, { ...other, metadata: { ...other.metadata, labels: { app: 'other' } } }])!;
    assert.equal(rest.length, 0);
    assert.equal(slice!.addressType, 'IPv4');
    assert.deepEqual(slice!.ports, [{ name: 'https', port: 9443, protocol: 'TCP', appProtocol: undefined }]);
    assert.deepEqual(slice!.endpoints?.map((e) => [e.addresses[0], e.nodeName, e.conditions?.ready]), [['198.51.100.21', 'lb1', true], ['198.51.100.22', 'lb2', false]]);
    assert.equal(slice!.metadata?.labels?.['kubernetes.io/service-name'], 'bmlb-webhook');
    assert.equal(slice!.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
    assert.equal(slice!.metadata?.ownerReferences?.[0]?.uid, 'svc-uid');
  });

  it('GIVEN a selector-less Service WHEN sliced THEN the controller leaves it alone; GIVEN no pods THEN one empty slice', () => {
    assert.equal(desiredEndpointSlices({ ...service, spec: { ...service.spec, selector: undefined } }, []), undefined);
    const empty = desiredEndpointSlices(service, [])!;
    assert.equal(empty.length, 1);
    assert.deepEqual(empty[0]!.endpoints, []);
  });

  it('GIVEN existing slices WHEN diffed THEN unchanged ones are left, changed ones updated with their resourceVersion, stale ones deleted', () => {
    const a = withPort(podOn('lb1', 'h', true), '198.51.100.21');
    const [desired] = desiredEndpointSlices(service, [a])!;
    const same = { ...desired!, metadata: { ...desired!.metadata, resourceVersion: '5' } };
    assert.deepEqual(diffSlices([desired!], [same]), { create: [], update: [], delete: [] });
    const changed = { ...same, endpoints: [] };
    const d = diffSlices([desired!], [changed, { metadata: { name: 'stale', namespace: 'bmlb-system' }, addressType: 'IPv4', endpoints: [] }]);
    assert.equal(d.update[0]?.metadata?.resourceVersion, '5');
    assert.deepEqual(d.delete, [{ name: 'stale', namespace: 'bmlb-system' }]);
  });
});

describe('node lifecycle core', () => {
  const now = new Date('2026-01-01T00:10:00Z');
  const n = (name: string, status: string, heartbeat: string): V1Node => ({
    metadata: { name, creationTimestamp: new Date('2026-01-01T00:00:00Z') },
    status: { conditions: [{ type: 'Ready', status, lastHeartbeatTime: heartbeat as unknown as Date }] },
  });
  const lease = (name: string, renew: string) => ({ metadata: { name, namespace: 'kube-node-lease' }, spec: { renewTime: renew as unknown as Date } });

  it('GIVEN leases renewed recently or long ago WHEN checked THEN only nodes silent past the 40 s grace are marked, Unknown ones are left', async () => {
    const { staleNodes } = await import('../../../src/lab/controllers/node-lifecycle.js');
    const nodes = [n('fresh', 'True', '2026-01-01T00:00:00Z'), n('silent', 'True', '2026-01-01T00:00:00Z'), n('gone', 'Unknown', '2026-01-01T00:00:00Z'), n('nolease', 'True', '2026-01-01T00:09:50Z')];
    const leases = [lease('fresh', '2026-01-01T00:09:35Z'), lease('silent', '2026-01-01T00:09:10Z'), lease('gone', '2026-01-01T00:00:00Z')];
    assert.deepEqual(staleNodes(nodes, leases, now), [{ name: 'silent', silentSeconds: 50 }]);
  });
});
