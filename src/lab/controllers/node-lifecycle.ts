/**
 * Node lifecycle, as kube-controller-manager's node lifecycle controller does it: a Node whose
 * Lease in kube-node-lease has not been renewed for the grace period (40 s) gets its Ready
 * condition set to Unknown (reason NodeStatusUnknown). The node agent sets it back to True when it
 * heartbeats again. Pure: returns the nodes to mark.
 */
import type { V1Lease, V1Node } from '@kubernetes/client-node';

export const NODE_MONITOR_GRACE_SECONDS = 40;

export interface StaleNode {
  name: string;
  /** Seconds since the last renewal (or since the node was created when it never had a Lease). */
  silentSeconds: number;
}

export function staleNodes(nodes: V1Node[], leases: V1Lease[], now: Date, graceSeconds = NODE_MONITOR_GRACE_SECONDS): StaleNode[] {
  const out: StaleNode[] = [];
  for (const n of nodes) {
    const name = n.metadata?.name ?? '';
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
    if (!ready || ready.status === 'Unknown') continue;
    const lease = leases.find((l) => l.metadata?.name === name && l.metadata?.namespace === 'kube-node-lease');
    const last = lease?.spec?.renewTime ?? ready.lastHeartbeatTime ?? n.metadata?.creationTimestamp;
    if (!last) continue;
    const silentSeconds = (now.getTime() - new Date(last as unknown as string).getTime()) / 1000;
    if (silentSeconds > graceSeconds) out.push({ name, silentSeconds: Math.round(silentSeconds) });
  }
  return out;
}
