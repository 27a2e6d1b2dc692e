/**
 * Deployment controller core. The lab controller manages a Deployment's Pods directly (no
 * ReplicaSet objects): Pods carry `pod-template-hash`; a template change rolls them with
 * maxSurge/maxUnavailable (RollingUpdate) or all at once (Recreate). New Pods are bound to the
 * ready Node that fits the template and runs the fewest of this Deployment's Pods, avoiding Nodes
 * whose host ports are taken, which is what the scheduler would do for these hostNetwork pods. Pure.
 */
import type { V1Deployment, V1DeploymentStatus, V1Node, V1Pod } from '@kubernetes/client-node';
import { hostPorts, nodeReady, podActive, podFinished, podFitsNode, podReady, podTerminating, scaledValue, templateHash } from './pod-facts.js';
import type { PodDeletion } from './daemonset.js';

export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

export interface DeploymentPlan {
  create: V1Pod[];
  delete: (Omit<PodDeletion, 'reason'> & { reason: 'outdated' | 'scaleDown' | 'failed' })[];
  /** New pods that fit no node (reported in status as a condition). */
  unschedulable: number;
  status: V1DeploymentStatus;
}

function deploymentPod(d: V1Deployment, hash: string, nodeName: string): V1Pod {
  const template = d.spec?.template ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${d.metadata?.name}-${hash}-`,
      namespace: d.metadata?.namespace,
      labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash },
      annotations: template.metadata?.annotations,
      ownerReferences: [{
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: d.metadata?.name ?? '',
        uid: d.metadata?.uid ?? '',
        controller: true,
        blockOwnerDeletion: true,
      }],
    },
    spec: { ...(template.spec ?? { containers: [] }), nodeName },
  };
}

/**
 * @param ownedPods the Deployment's Pods
 * @param allPods every Pod in the cluster (for host-port conflicts)
 */
export function planDeployment(d: V1Deployment, nodes: V1Node[], ownedPods: V1Pod[], allPods: V1Pod[]): DeploymentPlan {
  const hash = templateHash(d.spec?.template);
  const namespace = d.metadata?.namespace ?? 'default';
  const replicas = d.spec?.replicas ?? 1;
  const active = ownedPods.filter(podActive);
  const fresh = active.filter((p) => p.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL] === hash);
  const old = active.filter((p) => p.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL] !== hash);
  const byReadiness = (a: V1Pod, b: V1Pod) => Number(podReady(a)) - Number(podReady(b));
  const create: V1Pod[] = [];
  const del: DeploymentPlan['delete'] = [];
  const recreate = d.spec?.strategy?.type === 'Recreate';
  // failed pods are deleted (the lab has no pod garbage collector; the caller backs off re-creation)
  for (const p of ownedPods.filter((x) => podFinished(x) && !podTerminating(x))) {
    del.push({ name: p.metadata?.name ?? '', namespace, reason: 'failed', nodeName: p.spec?.nodeName });
  }

  const surplus = [...fresh].sort(byReadiness).slice(0, Math.max(0, fresh.length - replicas));
  for (const p of surplus) del.push({ name: p.metadata?.name ?? '', namespace, reason: 'scaleDown' });
  const kept = fresh.filter((p) => !surplus.includes(p));

  let wantNew = 0;
  if (recreate) {
    for (const p of old) del.push({ name: p.metadata?.name ?? '', namespace, reason: 'outdated' });
    if (old.length === 0) wantNew = Math.max(0, replicas - kept.length);
  } else {
    let maxSurge = scaledValue(d.spec?.strategy?.rollingUpdate?.maxSurge as number | string | undefined, replicas, '25%', true);
    const maxUnavailable = scaledValue(d.spec?.strategy?.rollingUpdate?.maxUnavailable as number | string | undefined, replicas, '25%', false);
    if (maxSurge === 0 && maxUnavailable === 0) maxSurge = 1;
    // old pods: the unready ones are unavailable already and go first, for free; ready ones go
    // only while the ready count stays at or above replicas - maxUnavailable
    let canRemove = kept.filter(podReady).length + old.filter(podReady).length - Math.max(0, replicas - maxUnavailable);
    let removed = 0;
    for (const p of [...old].sort(byReadiness)) {
      if (podReady(p)) {
        if (canRemove <= 0) break;
        canRemove -= 1;
      }
      del.push({ name: p.metadata?.name ?? '', namespace, reason: 'outdated' });
      removed += 1;
    }
    const total = kept.length + old.length - removed;
    wantNew = Math.max(0, Math.min(replicas - kept.length, replicas + maxSurge - total));
  }

  // bind new pods to nodes
  const spec = d.spec?.template?.spec;
  const wantedPorts = hostPorts(spec);
  const deleting = new Set(del.map((x) => x.name));
  const portsOn = new Map<string, Set<string>>();
  const countOn = new Map<string, number>();
  for (const p of allPods.filter(podActive)) {
    const n = p.spec?.nodeName;
    if (!n || deleting.has(p.metadata?.name ?? '')) continue;
    const set = portsOn.get(n) ?? new Set<string>();
    for (const hp of hostPorts(p.spec)) set.add(hp);
    portsOn.set(n, set);
  }
  for (const p of active) {
    const n = p.spec?.nodeName;
    if (n && !deleting.has(p.metadata?.name ?? '')) countOn.set(n, (countOn.get(n) ?? 0) + 1);
  }
  const candidates = nodes.filter((n) => nodeReady(n) && podFitsNode(spec, n).fits).map((n) => n.metadata?.name ?? '');
  let unschedulable = 0;
  for (let i = 0; i < wantNew; i++) {
    const free = candidates.filter((n) => wantedPorts.every((hp) => !portsOn.get(n)?.has(hp)));
    free.sort((a, b) => (countOn.get(a) ?? 0) - (countOn.get(b) ?? 0) || a.localeCompare(b));
    const chosen = free[0];
    if (!chosen) { unschedulable += 1; continue; }
    create.push(deploymentPod(d, hash, chosen));
    countOn.set(chosen, (countOn.get(chosen) ?? 0) + 1);
    const set = portsOn.get(chosen) ?? new Set<string>();
    for (const hp of wantedPorts) set.add(hp);
    portsOn.set(chosen, set);
  }

  const readyCount = active.filter(podReady).length;
  const freshReady = fresh.filter(podReady).length;
  const status: V1DeploymentStatus = {
    observedGeneration: d.metadata?.generation,
    replicas: active.length,
    updatedReplicas: fresh.length,
    readyReplicas: readyCount,
    availableReplicas: readyCount,
    unavailableReplicas: Math.max(0, replicas - readyCount),
    conditions: [
      {
        type: 'Available',
        status: readyCount >= Math.max(0, replicas - scaledValue(d.spec?.strategy?.rollingUpdate?.maxUnavailable as number | string | undefined, replicas, '25%', false)) ? 'True' : 'False',
        reason: readyCount >= replicas ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
        message: `${readyCount} of ${replicas} replicas ready`,
      },
      {
        type: 'Progressing',
        status: 'True',
        reason: freshReady >= replicas && old.length === 0 ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
        message: unschedulable ? `${unschedulable} pod(s) fit no ready node` : `template ${hash}`,
      },
    ],
  };
  return { create, delete: del, unschedulable, status };
}
