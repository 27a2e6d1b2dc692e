/**
 * The in-cluster half of `create cluster`, through the API (via the VIP): label the LB nodes,
 * create the membership Secret if absent, apply the rendered objects idempotently (create, or
 * replace when the rendered content changed; an annotation carries the content hash), wait for the
 * speaker DaemonSet and controller Deployment, and record the applied cluster model.
 */
import { randomBytes, createHash } from 'node:crypto';
import type { ClusterConfig } from '../../config/model.js';
import { NAMES } from '../../config/model.js';
import { UserError } from '../../errors.js';
import { type KubeRest, isKubeApiError, resourcePath } from '../../kube/kube-client.js';
import type { KubeObject } from '../../render/kube-object.js';
import { objectRef } from '../../render/kube-object.js';

export const APPLIED_HASH_ANNOTATION = 'bmlb.io/applied-sha256';
export const APPLIED_CONFIGMAP = 'bmlb-applied';

const KINDS: Record<string, { plural: string; namespaced: boolean }> = {
  Namespace: { plural: 'namespaces', namespaced: false },
  ServiceAccount: { plural: 'serviceaccounts', namespaced: true },
  ConfigMap: { plural: 'configmaps', namespaced: true },
  Secret: { plural: 'secrets', namespaced: true },
  Service: { plural: 'services', namespaced: true },
  ClusterRole: { plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { plural: 'clusterrolebindings', namespaced: false },
  Role: { plural: 'roles', namespaced: true },
  RoleBinding: { plural: 'rolebindings', namespaced: true },
  DaemonSet: { plural: 'daemonsets', namespaced: true },
  Deployment: { plural: 'deployments', namespaced: true },
  ValidatingWebhookConfiguration: { plural: 'validatingwebhookconfigurations', namespaced: false },
  ValidatingAdmissionPolicy: { plural: 'validatingadmissionpolicies', namespaced: false },
  ValidatingAdmissionPolicyBinding: { plural: 'validatingadmissionpolicybindings', namespaced: false },
};

export function objectPath(o: KubeObject, withName = true): string {
  const k = KINDS[o.kind];
  if (!k) throw new Error(`bmlb does not know the API resource of kind ${o.kind}`);
  return resourcePath(o.apiVersion, k.plural, k.namespaced ? o.metadata.namespace : undefined, withName ? o.metadata.name : undefined);
}

/** Canonical JSON (sorted keys) so the hash does not depend on key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function contentHash(o: KubeObject): string {
  return createHash('sha256').update(canonical(o)).digest('hex');
}

export type ApplyAction = 'created' | 'replaced' | 'unchanged';

interface ObjectMeta {
  metadata?: { resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string>; name?: string };
}

export async function applyObject(rest: KubeRest, obj: KubeObject): Promise<ApplyAction> {
  const hash = contentHash(obj);
  const body: KubeObject = { ...obj, metadata: { ...obj.metadata, annotations: { ...(obj.metadata.annotations ?? {}), [APPLIED_HASH_ANNOTATION]: hash } } };
  const existing = await rest.find<ObjectMeta>(objectPath(obj));
  if (!existing) {
    try {
      await rest.create(objectPath(obj, false), body);
      return 'created';
    } catch (e) {
      if (!isKubeApiError(e, 409)) throw e;
      return await applyObject(rest, obj); // created concurrently: compare again
    }
  }
  if (existing.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] === hash) return 'unchanged';
  const rv = existing.metadata?.resourceVersion;
  await rest.replace(objectPath(obj), { ...body, metadata: { ...body.metadata, ...(rv ? { resourceVersion: rv } : {}) } });
  return 'replaced';
}

/** Create the membership Secret (32 random bytes) if it does not exist. The key is never printed. */
export async function ensureMemberSecret(rest: KubeRest): Promise<'created' | 'exists'> {
  const path = resourcePath('v1', 'secrets', NAMES.namespace, NAMES.memberSecret);
  if (await rest.find(path)) return 'exists';
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: NAMES.memberSecret,
      namespace: NAMES.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'bmlb', 'app.kubernetes.io/part-of': 'bmlb' },
    },
    data: { [NAMES.memberSecretKey]: randomBytes(32).toString('base64') },
  };
  try {
    await rest.create(resourcePath('v1', 'secrets', NAMES.namespace), secret);
    return 'created';
  } catch (e) {
    if (isKubeApiError(e, 409)) return 'exists';
    throw e;
  }
}

interface NodeObj {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { addresses?: { type: string; address: string }[] };
}

export interface LabelledNode {
  k8sIP: string;
  nodeName: string;
  action: 'labelled' | 'unchanged';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Put `baremetal.cluster.gke.io/lbnode: "true"` on the Node whose InternalIP is each k8sIP. */
export async function labelLbNodes(rest: KubeRest, k8sIPs: string[], timeoutMs: number): Promise<LabelledNode[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await rest.get<{ items: NodeObj[] }>(resourcePath('v1', 'nodes'));
    const byIp = new Map<string, NodeObj>();
    for (const n of list.items) for (const a of n.status?.addresses ?? []) if (a.type === 'InternalIP') byIp.set(a.address, n);
    const missing = k8sIPs.filter((ip) => !byIp.has(ip));
    if (missing.length === 0) {
      const out: LabelledNode[] = [];
      for (const ip of k8sIPs) {
        const n = byIp.get(ip) as NodeObj;
        if (n.metadata.labels?.[NAMES.lbNodeLabel] === 'true') {
          out.push({ k8sIP: ip, nodeName: n.metadata.name, action: 'unchanged' });
          continue;
        }
        await rest.patch(resourcePath('v1', 'nodes', undefined, n.metadata.name), { metadata: { labels: { [NAMES.lbNodeLabel]: 'true' } } }, 'merge');
        out.push({ k8sIP: ip, nodeName: n.metadata.name, action: 'labelled' });
      }
      return out;
    }
    if (Date.now() > deadline) {
      throw new UserError(`no Kubernetes Node has InternalIP ${missing.join(', ')} (the LB nodes' k8sIP)`, {
        code: 'LbNodeNotFound',
        exitCode: 3,
        data: { missing, known: [...byIp.keys()] },
        suggestions: ['Check that kubelet runs on those nodes and has joined the cluster (kubectl get nodes -o wide).', 'Set k8sIP in the cluster file when a node\'s cluster address differs from its SSH address.'],
      });
    }
    await sleep(1000);
  }
}

interface WorkloadStatus {
  metadata?: { generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    desiredNumberScheduled?: number;
    numberReady?: number;
    updatedNumberScheduled?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
  };
}

export type WorkloadReadiness = { ready: true; detail: string } | { ready: false; detail: string };

/** Ready = the controller observed the current spec and every wanted pod is updated and ready. Pure. */
export function workloadReadiness(kind: string, w: WorkloadStatus): WorkloadReadiness {
  const s = w.status ?? {};
  const observed = (s.observedGeneration ?? 0) >= (w.metadata?.generation ?? 0);
  if (kind === 'DaemonSet') {
    const want = s.desiredNumberScheduled ?? 0;
    const ready = s.numberReady ?? 0;
    const updated = s.updatedNumberScheduled ?? 0;
    const detail = `${ready}/${want} ready, ${updated} updated`;
    return observed && want > 0 && ready === want && updated === want ? { ready: true, detail } : { ready: false, detail: observed ? detail : `${detail} (spec not yet observed)` };
  }
  const want = w.spec?.replicas ?? 1;
  const ready = s.readyReplicas ?? 0;
  const updated = s.updatedReplicas ?? 0;
  const detail = `${ready}/${want} ready, ${updated} updated`;
  return observed && ready >= want && updated >= want && (s.replicas ?? 0) <= want ? { ready: true, detail } : { ready: false, detail: observed ? detail : `${detail} (spec not yet observed)` };
}

export async function waitWorkloadsReady(rest: KubeRest, objects: KubeObject[], timeoutMs: number, progress?: (msg: string) => void): Promise<void> {
  const workloads = objects.filter((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment');
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const states = await Promise.all(workloads.map(async (o) => ({ o, r: workloadReadiness(o.kind, await rest.get<WorkloadStatus>(objectPath(o))) })));
    const line = states.map((s) => `${s.o.kind} ${s.o.metadata.name}: ${s.r.detail}`).join('; ');
    if (line !== last) progress?.(line);
    last = line;
    if (states.every((s) => s.r.ready)) return;
    if (Date.now() > deadline) {
      throw new UserError(`the bmlb workloads did not become ready within ${Math.round(timeoutMs / 1000)} s: ${line}`, {
        code: 'WorkloadsNotReady',
        exitCode: 3,
        data: { states: states.map((s) => ({ ref: objectRef(s.o), ...s.r })) },
        suggestions: [
          `Look at the pods: kubectl -n ${NAMES.namespace} get pods -o wide; kubectl -n ${NAMES.namespace} describe pods.`,
          'The node files and objects are in place; rerun `bmlb create cluster` once the cause is fixed (it converges).',
        ],
      });
    }
    await sleep(1000);
  }
}

/** ConfigMap bmlb-system/bmlb-applied: the normalised cluster model and versions this run applied. */
export function appliedConfigMap(config: ClusterConfig, appliedAt: Date): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: APPLIED_CONFIGMAP,
      namespace: NAMES.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'bmlb', 'app.kubernetes.io/part-of': 'bmlb' },
      annotations: { 'bmlb.io/applied-at': appliedAt.toISOString() },
    },
    data: {
      'cluster.json': JSON.stringify(config, null, 2),
      'versions.json': JSON.stringify(config.loadBalancer.bmlb.versions, null, 2),
    },
  };
}

/** Record it; the applied-at stamp alone does not count as a change (no rewrite on a no-op rerun). */
export async function recordApplied(rest: KubeRest, config: ClusterConfig, now: Date): Promise<ApplyAction> {
  const cm = appliedConfigMap(config, now);
  const existing = await rest.find<{ data?: Record<string, string> }>(objectPath(cm));
  if (existing && JSON.stringify(existing.data ?? {}) === JSON.stringify(cm.data)) return 'unchanged';
  return await applyObject(rest, cm);
}
