/**
 * Small facts about Pods and Nodes shared by the lab controllers: readiness, template hashes,
 * whether a pod's spec fits a node (nodeSelector, required node affinity, taints). Pure.
 */
import { createHash } from 'node:crypto';
import type {
  V1NodeSelectorRequirement,
  V1Node,
  V1Pod,
  V1PodSpec,
  V1PodTemplateSpec,
  V1Taint,
  V1Toleration,
} from '@kubernetes/client-node';

export function podReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

export function podTerminating(pod: V1Pod): boolean {
  return Boolean(pod.metadata?.deletionTimestamp);
}

export function podFinished(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** Pods that count as running or about to run. */
export function podActive(pod: V1Pod): boolean {
  return !podTerminating(pod) && !podFinished(pod);
}

export function nodeReady(node: V1Node): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** A short hash of a pod template (stable across key order), used as the revision label value. */
export function templateHash(template: V1PodTemplateSpec | undefined): string {
  return createHash('sha256').update(stableJson(template ?? {})).digest('hex').slice(0, 10);
}

function requirementMatches(labels: Record<string, string>, r: V1NodeSelectorRequirement): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const value = labels[r.key];
  switch (r.operator) {
    case 'In': return has && (r.values ?? []).includes(value!);
    case 'NotIn': return !has || !(r.values ?? []).includes(value!);
    case 'Exists': return has;
    case 'DoesNotExist': return !has;
    case 'Gt': return has && Number(value) > Number(r.values?.[0]);
    case 'Lt': return has && Number(value) < Number(r.values?.[0]);
    default: return false;
  }
}

function tolerates(tolerations: V1Toleration[], taint: V1Taint): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

export type FitResult = { fits: true } | { fits: false; reason: 'nodeSelector' | 'nodeAffinity' | 'taint'; detail: string };

/** Whether a pod with this spec may run on the node (ignoring resources and readiness). */
export function podFitsNode(spec: V1PodSpec | undefined, node: V1Node): FitResult {
  const labels = node.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(spec?.nodeSelector ?? {})) {
    if (labels[k] !== v) return { fits: false, reason: 'nodeSelector', detail: `${k}=${v}` };
  }
  const terms = spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms?.length) {
    const nodeName = node.metadata?.name ?? '';
    const ok = terms.some((term) =>
      (term.matchExpressions ?? []).every((r) => requirementMatches(labels, r)) &&
      (term.matchFields ?? []).every((r) => requirementMatches({ 'metadata.name': nodeName }, r)),
    );
    if (!ok) return { fits: false, reason: 'nodeAffinity', detail: 'no required node selector term matches' };
  }
  for (const taint of node.spec?.taints ?? []) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!tolerates(spec?.tolerations ?? [], taint)) return { fits: false, reason: 'taint', detail: `${taint.key}:${taint.effect}` };
  }
  return { fits: true };
}

/** hostPorts a hostNetwork pod spec occupies (containerPort is the host port there). */
export function hostPorts(spec: V1PodSpec | undefined): string[] {
  const out: string[] = [];
  for (const c of spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      const port = spec?.hostNetwork ? p.containerPort : p.hostPort;
      if (port) out.push(`${p.protocol ?? 'TCP'}/${port}`);
    }
  }
  return out;
}

/** Resolves an intOrString like maxUnavailable ("25%" or 2) against a total; percentages round as given. */
export function scaledValue(v: number | string | undefined, total: number, fallback: number | string, roundUp: boolean): number {
  const value = v ?? fallback;
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(value);
  if (m) {
    const exact = (Number(m[1]) * total) / 100;
    return roundUp ? Math.ceil(exact) : Math.floor(exact);
  }
  return Number(value) || 0;
}
