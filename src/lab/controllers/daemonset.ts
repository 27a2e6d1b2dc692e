/**
 * DaemonSet controller core: one Pod per Node the template fits, rolled to a new template at most
 * maxUnavailable nodes at a time (RollingUpdate) or only when deleted (OnDelete). Pure: given the
 * DaemonSet, the Nodes and its Pods, returns the Pods to create, the Pods to delete and the status.
 */
import type { V1DaemonSet, V1DaemonSetStatus, V1Node, V1Pod } from '@kubernetes/client-node';
import { podActive, podFinished, podFitsNode, podReady, podTerminating, scaledValue, templateHash } from './pod-facts.js';

export const REVISION_LABEL = 'controller-revision-hash';
export const TEMPLATE_GENERATION_LABEL = 'pod-template-generation';

export interface PodDeletion {
  name: string;
  namespace: string;
  reason: 'notScheduledHere' | 'duplicate' | 'outdated' | 'failed';
  /** The node the pod was on (for back-off of failed pods). */
  nodeName?: string;
}

export interface DaemonSetPlan {
  create: V1Pod[];
  delete: PodDeletion[];
  status: V1DaemonSetStatus;
}

/** Pods controlled by this owner (ownerReference with controller: true and the owner's uid). */
export function ownedBy(pods: V1Pod[], uid: string | undefined): V1Pod[] {
  return pods.filter((p) => (p.metadata?.ownerReferences ?? []).some((o) => o.controller && o.uid === uid));
}

export function daemonSetPod(ds: V1DaemonSet, nodeName: string, hash: string): V1Pod {
  const template = ds.spec?.template ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${ds.metadata?.name}-`,
      namespace: ds.metadata?.namespace,
      labels: {
        ...(template.metadata?.labels ?? {}),
        [REVISION_LABEL]: hash,
        [TEMPLATE_GENERATION_LABEL]: String(ds.metadata?.generation ?? 1),
      },
      annotations: template.metadata?.annotations,
      ownerReferences: [{
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        name: ds.metadata?.name ?? '',
        uid: ds.metadata?.uid ?? '',
        controller: true,
        blockOwnerDeletion: true,
      }],
    },
    spec: {
      ...(template.spec ?? { containers: [] }),
      nodeName,
      tolerations: [
        ...(template.spec?.tolerations ?? []),
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
      ],
    },
  };
}

export function planDaemonSet(ds: V1DaemonSet, nodes: V1Node[], ownedPods: V1Pod[]): DaemonSetPlan {
  const hash = templateHash(ds.spec?.template);
  const namespace = ds.metadata?.namespace ?? 'default';
  const create: V1Pod[] = [];
  const del: PodDeletion[] = [];
  const active = ownedPods.filter(podActive);
  // a failed daemon pod is deleted so a new one can be made (the caller backs off per node)
  for (const p of ownedPods.filter((x) => podFinished(x) && !podTerminating(x))) {
    del.push({ name: p.metadata?.name ?? '', namespace, reason: 'failed', nodeName: p.spec?.nodeName });
  }
  const byNode = new Map<string, V1Pod[]>();
  for (const p of active) {
    const n = p.spec?.nodeName ?? '';
    byNode.set(n, [...(byNode.get(n) ?? []), p]);
  }
  const eligible = nodes
    .filter((n) => podFitsNode(ds.spec?.template?.spec, n).fits)
    .map((n) => n.metadata?.name ?? '')
    .sort();
  const eligibleSet = new Set(eligible);
  let misscheduled = 0;
  for (const [nodeName, pods] of byNode) {
    if (eligibleSet.has(nodeName)) continue;
    misscheduled += pods.length;
    for (const p of pods) del.push({ name: p.metadata?.name ?? '', namespace, reason: 'notScheduledHere' });
  }

  let current = 0;
  let ready = 0;
  let updated = 0;
  const outdated: { pod: V1Pod; ready: boolean }[] = [];
  let unavailable = 0;
  for (const nodeName of eligible) {
    const pods = [...(byNode.get(nodeName) ?? [])].sort((a, b) => {
      // keep the up-to-date, ready, oldest pod; the others are duplicates
      const score = (p: V1Pod) => (p.metadata?.labels?.[REVISION_LABEL] === hash ? 0 : 2) + (podReady(p) ? 0 : 1);
      return score(a) - score(b) || String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? ''));
    });
    const [keep, ...extra] = pods;
    for (const p of extra) del.push({ name: p.metadata?.name ?? '', namespace, reason: 'duplicate' });
    if (!keep) {
      create.push(daemonSetPod(ds, nodeName, hash));
      unavailable += 1;
      continue;
    }
    current += 1;
    const isReady = podReady(keep);
    if (isReady) ready += 1;
    else unavailable += 1;
    if (keep.metadata?.labels?.[REVISION_LABEL] === hash) updated += 1;
    else outdated.push({ pod: keep, ready: isReady });
  }

  if ((ds.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
    const maxUnavailable = Math.max(
      1,
      scaledValue(ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable as number | string | undefined, eligible.length, 1, true),
    );
    let budget = maxUnavailable - unavailable;
    // an outdated pod that is not ready is unavailable already: replacing it costs nothing
    for (const o of outdated.filter((x) => !x.ready)) del.push({ name: o.pod.metadata?.name ?? '', namespace, reason: 'outdated' });
    for (const o of outdated.filter((x) => x.ready)) {
      if (budget <= 0) break;
      del.push({ name: o.pod.metadata?.name ?? '', namespace, reason: 'outdated' });
      budget -= 1;
    }
  }

  const status: V1DaemonSetStatus = {
    desiredNumberScheduled: eligible.length,
    currentNumberScheduled: current,
    numberMisscheduled: misscheduled,
    numberReady: ready,
    updatedNumberScheduled: updated,
    numberAvailable: ready,
    numberUnavailable: eligible.length - ready,
    observedGeneration: ds.metadata?.generation,
  };
  return { create, delete: del, status };
}
