/**
 * Node files for `update cluster`, one LB node at a time: read every node first (nothing is
 * written unless all answer), then apply node by node — the node holding the control-plane VIP
 * last — waiting after each until the VIP answers again, so keepalived restarts never take the VIP
 * away from every node at once. Any failure restores every node already changed (the create path's
 * backup/rollback, NodeApplier).
 */
import type { ClusterConfig } from '../../config/model.js';
import { UserError } from '../../errors.js';
import { parseIp } from '../../net/address.js';
import type { Rendered } from '../../render/render-all.js';
import { NodeApplier, NodeStepError } from '../create/node-applier.js';
import { sysctlFile } from '../create/node-plan.js';
import { mapSettled } from '../parallel.js';
import { type NodeFacts, interfaceHolding } from '../preflight/facts.js';
import type { Session } from '../session.js';
import { tcpOpen } from '../tcp-probe.js';

export interface RolledNode {
  address: string;
  files: { path: string; action: string }[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


/** Order for rolling: nodes not holding the VIP first, the holder last (pure). */
export function rollOrder(addresses: string[], facts: Record<string, NodeFacts>, vip: string): string[] {
  const holds = (a: string) => {
    const f = facts[a];
    return f !== undefined && interfaceHolding(f.interfaces, vip) !== undefined;
  };
  return [...addresses.filter((a) => !holds(a)), ...addresses.filter(holds)];
}

export interface RollOptions {
  config: ClusterConfig;
  session: Session;
  rendered: Rendered;
  facts: Record<string, NodeFacts>;
  runId: string;
  /** Wait after each node: at least settleMs, then until the VIP answers (up to waitTimeoutMs). */
  settleMs: number;
  waitTimeoutMs: number;
  out: (line: string) => void;
  /** Probe of the VIP (tests may replace it). */
  vipAnswers?: () => Promise<boolean>;
}

export async function rollNodeFiles(o: RollOptions): Promise<RolledNode[]> {
  const lb = o.config.loadBalancer;
  const sys = sysctlFile(parseIp(lb.controlPlaneVIP)?.family ?? 4);
  const prepared = await mapSettled(o.rendered.nodes, o.session.pool.parallelism, async (rn) => {
    const a = new NodeApplier(await o.session.pool.get(rn.address), [sys.file, ...rn.files], sys.values, o.runId);
    await a.prepare();
    return a;
  });
  const unreachable = prepared.flatMap((p, i) => (p.ok ? [] : [{ address: o.rendered.nodes[i]?.address ?? '?', error: p.error }]));
  if (unreachable.length) {
    const f = unreachable[0]!;
    throw new UserError(`cannot read LB node ${f.address}: ${f.error instanceof Error ? f.error.message : String(f.error)}; nothing was changed on any node`, {
      code: 'UpdateNodeFailed',
      exitCode: 3,
      suggestions: ['Make every LB node reachable over SSH (bmlb check preflight), then rerun bmlb update cluster.'],
    });
  }
  const appliers = new Map(prepared.flatMap((p) => (p.ok ? [[p.value.address, p.value] as const] : [])));
  const vipAnswers = o.vipAnswers ?? (() => tcpOpen(lb.controlPlaneVIP, lb.controlPlaneLBPort, 1000));
  const done: NodeApplier[] = [];
  for (const address of rollOrder([...appliers.keys()], o.facts, lb.controlPlaneVIP)) {
    const a = appliers.get(address)!;
    if (!a.needsApply) continue;
    try {
      await a.apply((m) => o.out(`${address}: ${m}`));
      done.push(a);
      await sleep(o.settleMs);
      const deadline = Date.now() + o.waitTimeoutMs;
      while (!(await vipAnswers())) {
        if (Date.now() > deadline) throw new NodeStepError(address, 'wait for the control-plane VIP', `${lb.controlPlaneVIP}:${lb.controlPlaneLBPort} did not answer within ${Math.round(o.waitTimeoutMs / 1000)} s after the update`);
        await sleep(250);
      }
      o.out(`${address}: updated; the VIP answers`);
    } catch (e) {
      if (!done.includes(a)) done.push(a);
      o.out(`${address} failed; restoring ${done.length} node(s)`);
      const rb = await mapSettled(done, o.session.pool.parallelism, (x) => x.rollback());
      const outcome = done.map((x, i) => `${x.address} ${rb[i]?.ok ? 'restored' : 'NOT restored'}`).join('; ');
      const step = e instanceof NodeStepError ? e.step : 'apply';
      const detail = e instanceof NodeStepError ? e.stderr : e instanceof Error ? e.message : String(e);
      throw new UserError(`LB node ${address} failed at step "${step}": ${detail}. Rolled back: ${outcome}. The cluster objects were not changed.`, {
        code: 'UpdateNodeFailed',
        exitCode: 3,
        data: { node: address, step, rollback: outcome },
        suggestions: ['Fix the cause on that node (see the run log), then rerun bmlb update cluster.'],
        cause: e,
      });
    }
  }
  return [...appliers.values()].map((a) => ({ address: a.address, files: (a.plan?.files ?? []).map((f) => ({ path: f.path, action: f.action })) }));
}
