/**
 * `reset cluster`: the in-cluster objects first (the API is usually reached through the VIP, which
 * is gone once the nodes are reset), then every LB node in parallel, then wait (bounded) until the
 * control-plane VIP no longer answers. An unreachable API or node is reported and the rest proceeds.
 */
import type { ClusterConfig } from '../../config/model.js';
import { mapSettled } from '../parallel.js';
import type { NodeConnector } from '../ssh/ssh-pool.js';
import type { ApiConnection } from '../../status/cluster-api.js';
import { type ClusterObjectsResetResult, resetClusterObjects } from './reset-cluster-objects.js';
import { type NodeResetResult, resetNode } from './reset-node.js';
import { RESET_PATHS, type ResetPaths } from './reset-plan.js';

export interface ResetClusterResult {
  cluster: string;
  /** True when nothing was left behind (every node reset, the API reached, the VIP silent). */
  clean: boolean;
  /** False when a rerun found nothing to do. */
  changed: boolean;
  api: { reached: true; kubeconfig: string; via: 'vip' | 'given' } | { reached: false; attempts: { path: string; error: string }[] };
  clusterObjects?: ClusterObjectsResetResult;
  nodes: NodeResetResult[];
  controlPlaneVIP: { address: string; port: number; answering: boolean; waitedMs: number };
  /** One sentence per thing that could not be cleaned. */
  problems: string[];
  logDir?: string;
}

export interface ResetIo {
  nodes: NodeConnector;
  api: () => Promise<ApiConnection>;
  tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean>;
}

export interface ResetOptions {
  waitMs: number;
  paths?: ResetPaths;
  pollMs?: number;
  onProgress?: (m: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function resetCluster(config: ClusterConfig, io: ResetIo, opts: ResetOptions): Promise<ResetClusterResult> {
  const lb = config.loadBalancer;
  const say = opts.onProgress ?? (() => undefined);
  const problems: string[] = [];

  // 1. In-cluster objects, labels, Service annotations.
  const conn = await io.api();
  let objects: ClusterObjectsResetResult | undefined;
  let api: ResetClusterResult['api'];
  if (conn.ok) {
    api = { reached: true, kubeconfig: conn.kubeconfig, via: conn.via };
    say(`API reached with ${conn.kubeconfig}`);
    objects = await resetClusterObjects(conn.kube.rest, { waitMs: opts.waitMs, ...(opts.pollMs ? { pollMs: opts.pollMs } : {}), onProgress: say });
    for (const e of objects.errors) problems.push(`${e.what}: ${e.message}`);
  } else {
    api = { reached: false, attempts: conn.failed.map((f) => ({ path: f.path, error: f.error })) };
    problems.push(
      conn.failed.length
        ? `the Kubernetes API could not be reached (${conn.failed.map((f) => `${f.path}: ${f.error}`).join('; ')}); the in-cluster objects and node labels were not removed`
        : 'no kubeconfig found; the in-cluster objects and node labels were not removed',
    );
    say('API not reachable; nodes only');
  }

  // 2. LB nodes, in parallel; one node's failure never stops another.
  const settled = await mapSettled(lb.nodes, io.nodes.parallelism, (n) =>
    resetNode(() => io.nodes.get(n.address), n.address, {
      paths: opts.paths ?? RESET_PATHS,
      vip: lb.controlPlaneVIP,
      port: lb.controlPlaneLBPort,
      waitMs: opts.waitMs,
      ...(opts.pollMs ? { pollMs: opts.pollMs } : {}),
      onProgress: say,
    }),
  );
  const nodes = settled.map((s, i): NodeResetResult => {
    const address = lb.nodes[i]?.address ?? '?';
    return s.ok ? s.value : { address, outcome: 'failed', removed: [], keptForeign: [], sysctls: [], error: { step: 'unknown', message: s.error instanceof Error ? s.error.message : String(s.error) } };
  });
  for (const n of nodes) if (n.error) problems.push(`LB node ${n.address}: ${n.error.step}: ${n.error.message}`);

  // 3. The VIP must stop answering (bounded).
  const t0 = Date.now();
  let answering = await io.tcpOpen(lb.controlPlaneVIP, lb.controlPlaneLBPort, 1000);
  while (answering && Date.now() - t0 < opts.waitMs) {
    await sleep(opts.pollMs ?? 500);
    answering = await io.tcpOpen(lb.controlPlaneVIP, lb.controlPlaneLBPort, 1000);
  }
  if (answering) problems.push(`the control-plane VIP ${lb.controlPlaneVIP}:${lb.controlPlaneLBPort} still answers ${Math.round((Date.now() - t0) / 1000)} s after the reset (a node bmlb could not reach may still hold it)`);

  const changed =
    nodes.some((n) => n.outcome === 'reset') ||
    (objects !== undefined && (objects.deleted.length > 0 || objects.unlabelled.length > 0 || objects.services.length > 0));
  return {
    cluster: config.name,
    clean: problems.length === 0,
    changed,
    api,
    ...(objects ? { clusterObjects: objects } : {}),
    nodes,
    controlPlaneVIP: { address: lb.controlPlaneVIP, port: lb.controlPlaneLBPort, answering, waitedMs: Date.now() - t0 },
    problems,
  };
}
