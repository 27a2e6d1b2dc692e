/**
 * `check preflight`: gather facts on every LB node concurrently (bounded), probe the VIPs from an
 * LB node, test the membership port between LB nodes, then evaluate (pure, checks.ts).
 */
import type { ClusterConfig } from '../../config/model.js';
import { isUserError } from '../../errors.js';
import { mapSettled } from '../parallel.js';
import type { NodeConnector } from '../ssh/ssh-pool.js';
import type { NodeShell } from '../ssh/ssh-connection.js';
import { type NodeGather, type PreflightResult, type VipProbe, evaluatePreflight } from './checks.js';
import type { NodeFacts } from './facts.js';
import { interfaceHolding } from './facts.js';
import { gatherFacts, probePeers, probeVip } from './gather.js';

export interface PreflightRun {
  result: PreflightResult;
  /** Facts of every node reached, by address (create cluster renders from them). */
  facts: Record<string, NodeFacts>;
}

export interface PreflightProgress {
  (event: { node?: string; message: string }): void;
}

/** Facts of every LB node; a node that cannot be reached carries its error. */
export async function gatherAll(config: ClusterConfig, connector: NodeConnector, progress?: PreflightProgress): Promise<{ gathers: NodeGather[]; shells: Map<string, NodeShell> }> {
  const shells = new Map<string, NodeShell>();
  const nodes = config.loadBalancer.nodes;
  const settled = await mapSettled(nodes, connector.parallelism, async (n) => {
    const shell = await connector.get(n.address);
    shells.set(n.address, shell);
    const facts = await gatherFacts(shell, n);
    progress?.({ node: n.address, message: `facts gathered (${facts.hostname})` });
    return facts;
  });
  const gathers = nodes.map((n, i): NodeGather => {
    const s = settled[i];
    if (s?.ok) return { address: n.address, k8sIP: n.k8sIP, facts: s.value };
    const e = s?.error;
    return {
      address: n.address,
      k8sIP: n.k8sIP,
      error: isUserError(e) ? { code: e.code, message: e.message, suggestions: e.suggestions } : { code: 'PreflightGatherFailed', message: e instanceof Error ? e.message : String(e), suggestions: [] },
    };
  });
  return { gathers, shells };
}

export async function runPreflight(config: ClusterConfig, connector: NodeConnector, progress?: PreflightProgress): Promise<PreflightRun> {
  const lb = config.loadBalancer;
  const { gathers, shells } = await gatherAll(config, connector, progress);
  const reached = gathers.filter((g): g is NodeGather & { facts: NodeFacts } => g.facts !== undefined);

  const vips: { field: VipProbe['field']; vip: string }[] = [{ field: 'controlPlaneVIP', vip: lb.controlPlaneVIP }];
  if (lb.ingressVIP) vips.push({ field: 'ingressVIP', vip: lb.ingressVIP });

  const vipProbes = Promise.all(
    vips.map(async ({ field, vip }): Promise<VipProbe> => {
      // Probe from a node that does not hold the VIP itself.
      const from = reached.find((g) => !interfaceHolding(g.facts.interfaces, vip));
      const shell = from && shells.get(from.address);
      if (!from || !shell) return { field, vip, outcome: { kind: 'not-probed', reason: reached.length ? 'every reachable LB node holds it' : 'no LB node reachable' } };
      try {
        const outcome = await probeVip(shell, from.facts, vip);
        progress?.({ node: from.address, message: `${field} ${vip}: ${outcome.kind}` });
        return { field, vip, from: from.address, outcome };
      } catch (e) {
        return { field, vip, from: from.address, outcome: { kind: 'not-probed', reason: e instanceof Error ? e.message : String(e) } };
      }
    }),
  );
  const peerNodes = reached.flatMap((g) => {
    const shell = shells.get(g.address);
    return shell ? [{ shell, facts: g.facts }] : [];
  });
  const peerProbes = probePeers(peerNodes, lb.bmlb.speaker.memberPort).catch((e: unknown) => {
    const reason = e instanceof Error ? e.message : String(e);
    return Object.fromEntries(peerNodes.map((n) => [n.facts.address, { kind: 'not-tested' as const, reason }]));
  });
  const result = evaluatePreflight({ config, nodes: gathers, vipProbes: await vipProbes, peerProbes: await peerProbes });
  return { result, facts: Object.fromEntries(reached.map((g) => [g.address, g.facts])) };
}
