/**
 * `create cluster`: validate (done by the loader) → preflight → render → per LB node in parallel:
 * read state, back up, sysctls, configs, static pod manifests last → on any node failure restore
 * every node → wait for the VIP and the API through it (write the VIP kubeconfig) → label LB nodes →
 * membership Secret → in-cluster objects → wait ready → record the applied model → summary.
 *
 * Phases are data (`Phase[]`) so the command can run them under listr2 on a terminal or as plain
 * lines otherwise; the flow itself knows nothing about terminals.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterConfig } from '../../config/model.js';
import { UserError, isUserError } from '../../errors.js';
import { type Kube, loadKube } from '../../kube/kube-client.js';
import { parseIp } from '../../net/address.js';
import { objectRef } from '../../render/kube-object.js';
import { type Rendered, renderAll } from '../../render/render-all.js';
import { mapSettled } from '../parallel.js';
import { preflightFailedError } from '../preflight/report.js';
import type { PreflightResult } from '../preflight/checks.js';
import { type NodeFacts, interfaceHolding, parseIpAddrJson } from '../preflight/facts.js';
import { gatherAll, runPreflight } from '../preflight/run-preflight.js';
import type { Session } from '../session.js';
import { type ApplyAction, type LabelledNode, applyObject, ensureMemberSecret, labelLbNodes, recordApplied, waitWorkloadsReady } from './cluster-objects.js';
import { rewriteKubeconfigServer, vipServerUrl } from './kubeconfig.js';
import { NodeApplier, NodeStepError } from './node-applier.js';
import { guardedManifests, prepareOwnership } from '../update/ownership-install.js';
import type { FileAction } from './node-plan.js';
import { sysctlFile } from './node-plan.js';
import { tcpOpen } from '../tcp-probe.js';

export interface CreateOptions {
  skipPreflight: boolean;
  /** Kubeconfig of the existing cluster (flag, else the cluster file's kubeconfigPath). */
  kubeconfigPath?: string;
  /** Wait for the VIP and for the workloads, each (ms). */
  waitTimeoutMs: number;
  now?: () => Date;
}

export interface CreateClusterResult {
  cluster: string;
  controlPlaneVIP: string;
  controlPlaneLBPort: number;
  /** The LB node holding the VIP at the end of the run. */
  holder?: { address: string; hostname: string };
  kubeconfig: string;
  logDir?: string;
  /** False when the run found everything already in place. */
  changed: boolean;
  preflight?: { ok: boolean; warnings: number };
  nodes: { address: string; hostname: string; files: { path: string; action: FileAction['action'] }[]; sysctls: { key: string; from?: string; to: string }[] }[];
  labelled: LabelledNode[];
  memberSecret: 'created' | 'exists';
  objects: { ref: string; action: ApplyAction }[];
  applied: ApplyAction;
  durationsMs: Record<string, number>;
}

export interface CreateContext {
  config: ClusterConfig;
  session: Session;
  opts: CreateOptions;
  facts: Record<string, NodeFacts>;
  preflight?: PreflightResult;
  rendered?: Rendered;
  appliers: NodeApplier[];
  kube?: Kube;
  kubeconfigOut: string;
  result: Partial<CreateClusterResult> & { durationsMs: Record<string, number> };
}

export interface Phase {
  title: string;
  run(ctx: CreateContext, output: (msg: string) => void): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function vipFamily(config: ClusterConfig): 4 | 6 {
  return parseIp(config.loadBalancer.controlPlaneVIP)?.family ?? 4;
}


function nodeFailure(failures: { error: unknown; address: string }[], rollback: { address: string; outcome: string }[]): UserError {
  const first = failures[0];
  const e = first?.error;
  const step = e instanceof NodeStepError ? e.step : 'connect';
  const stderr = e instanceof NodeStepError ? e.stderr : isUserError(e) ? e.message : e instanceof Error ? e.message : String(e);
  const rolled = rollback.length ? ` Rolled back: ${rollback.map((r) => `${r.address} ${r.outcome}`).join('; ')}.` : ' No node was changed.';
  return new UserError(`LB node ${first?.address ?? '?'} failed at step "${step}": ${stderr}.${rolled}`, {
    code: 'CreateNodeFailed',
    exitCode: 3,
    data: {
      failures: failures.map((f) => ({
        node: f.address,
        step: f.error instanceof NodeStepError ? f.error.step : 'connect',
        stderr: f.error instanceof NodeStepError ? f.error.stderr : f.error instanceof Error ? f.error.message : String(f.error),
        ...(isUserError(f.error) ? { code: f.error.code } : {}),
      })),
      rollback,
    },
    suggestions: [
      ...(isUserError(e) ? e.suggestions : [`Fix the cause on ${first?.address} (see the run log), then rerun bmlb create cluster.`]),
      'Every node was left with its previous files; rerunning is safe.',
    ],
  });
}

export const PHASES: Phase[] = [
  {
    title: 'Preflight checks on the LB nodes',
    async run(ctx, out) {
      if (ctx.opts.skipPreflight) {
        const { gathers } = await gatherAll(ctx.config, ctx.session.pool, (e) => out(`${e.node ?? ''} ${e.message}`));
        const failed = gathers.filter((g) => !g.facts);
        if (failed.length) {
          const f = failed[0];
          throw new UserError(`cannot read LB node ${f?.address}: ${f?.error?.message ?? 'unreachable'} (nothing was changed on any node)`, {
            code: f?.error?.code ?? 'CreateNodeFailed',
            exitCode: 3,
            data: { failures: failed.map((g) => ({ node: g.address, step: 'connect', ...g.error })) },
            suggestions: f?.error?.suggestions ?? [],
          });
        }
        for (const g of gathers) if (g.facts) ctx.facts[g.address] = g.facts;
        out('skipped (--skip-preflight); node facts read');
        return;
      }
      const run = await runPreflight(ctx.config, ctx.session.pool, (e) => out(`${e.node ?? ''} ${e.message}`));
      ctx.preflight = run.result;
      ctx.facts = run.facts;
      const warnings = run.result.nodes.reduce((n, x) => n + x.checks.filter((c) => c.status === 'warn').length, 0);
      ctx.result.preflight = { ok: run.result.ok, warnings };
      if (!run.result.ok) throw preflightFailedError(run.result, ctx.config.name);
      out(`passed with ${warnings} warning${warnings === 1 ? '' : 's'}`);
    },
  },
  {
    title: 'Render node files and cluster objects',
    async run(ctx, out) {
      const nodeFacts = Object.fromEntries(
        ctx.config.loadBalancer.nodes.map((n) => {
          const f = ctx.facts[n.address];
          const held = f && interfaceHolding(f.interfaces, n.k8sIP);
          if (!f || !held) {
            throw new UserError(`no interface on ${n.address} holds its k8sIP ${n.k8sIP}; cannot render keepalived.conf`, {
              code: 'NodeInterfaceUnknown',
              suggestions: ['Run `bmlb check preflight` and fix the interface check.'],
            });
          }
          return [n.address, { interface: held.iface.name, prefixLength: held.addr.prefixlen, hostname: f.hostname }];
        }),
      );
      ctx.rendered = renderAll({ config: ctx.config, nodeFacts, bmlbImage: `bmlb:${ctx.config.loadBalancer.bmlb.versions.bmlb}` });
      out(`${ctx.rendered.nodes.length} nodes × ${ctx.rendered.nodes[0]?.files.length ?? 0} files, ${ctx.rendered.manifests.length} objects`);
    },
  },
  {
    title: 'Configure the LB nodes (keepalived, HAProxy static pods)',
    async run(ctx, out) {
      const rendered = ctx.rendered as Rendered;
      const runId = (ctx.opts.now?.() ?? new Date()).toISOString().replace(/[:.]/g, '-');
      const sys = sysctlFile(vipFamily(ctx.config));
      // Phase 1: connect and read every node; nothing is written unless all of them answer.
      const prepared = await mapSettled(rendered.nodes, ctx.session.pool.parallelism, async (rn) => {
        const shell = await ctx.session.pool.get(rn.address);
        const a = new NodeApplier(shell, [sys.file, ...rn.files], sys.values, runId);
        await a.prepare();
        return a;
      });
      const prepFailures = prepared.flatMap((p, i) => (p.ok ? [] : [{ address: rendered.nodes[i]?.address ?? '?', error: p.error }]));
      if (prepFailures.length) throw nodeFailure(prepFailures, []);
      ctx.appliers = prepared.flatMap((p) => (p.ok ? [p.value] : []));
      const todo = ctx.appliers.filter((a) => a.needsApply);
      if (todo.length === 0) {
        out('every node is up to date; nothing written');
        return;
      }
      // Phase 2: apply in parallel; if any node fails, restore every node that changed something.
      const applied = await mapSettled(todo, ctx.session.pool.parallelism, (a) => a.apply((m) => out(`${a.address}: ${m}`)));
      const failures = applied.flatMap((r, i) => (r.ok ? [] : [{ address: todo[i]?.address ?? '?', error: r.error }]));
      if (failures.length) {
        out(`failed on ${failures.map((f) => f.address).join(', ')}; restoring every node`);
        const rb = await mapSettled(todo, ctx.session.pool.parallelism, (a) => a.rollback());
        const rollback = todo.map((a, i) => {
          const r = rb[i];
          if (!r?.ok) return { address: a.address, outcome: `NOT restored: ${r?.error instanceof Error ? r.error.message : String(r?.error)}` };
          const { restored, removed } = r.value;
          return { address: a.address, outcome: restored.length + removed.length ? `restored ${restored.length}, removed ${removed.length} file(s)` : 'nothing to undo' };
        });
        throw nodeFailure(failures, rollback);
      }
      out(`${todo.length} node(s) changed, ${ctx.appliers.length - todo.length} unchanged`);
    },
  },
  {
    title: 'Wait for the control-plane VIP and the API through it',
    async run(ctx, out) {
      const lb = ctx.config.loadBalancer;
      const source = ctx.opts.kubeconfigPath ?? ctx.config.credentials.kubeconfigPath;
      if (!source) {
        throw new UserError('no kubeconfig for the cluster', {
          code: 'KubeconfigRequired',
          suggestions: ['Pass --kubeconfig PATH, or set kubeconfigPath in the cluster file header.'],
        });
      }
      let text: string;
      try {
        text = readFileSync(source, 'utf8');
      } catch (e) {
        throw new UserError(`cannot read kubeconfig ${source}: ${(e as Error).message}`, { code: 'KubeconfigUnreadable', suggestions: ['Pass --kubeconfig PATH to a readable kubeconfig.'] });
      }
      const server = vipServerUrl(lb.controlPlaneVIP, lb.controlPlaneLBPort);
      mkdirSync(ctx.session.workspaceDir, { recursive: true, mode: 0o700 });
      writeFileSync(ctx.kubeconfigOut, rewriteKubeconfigServer(text, server, source), { mode: 0o600 });
      const deadline = Date.now() + ctx.opts.waitTimeoutMs;
      while (!(await tcpOpen(lb.controlPlaneVIP, lb.controlPlaneLBPort, 1000))) {
        if (Date.now() > deadline) {
          throw new UserError(`the control-plane VIP ${lb.controlPlaneVIP}:${lb.controlPlaneLBPort} did not answer within ${Math.round(ctx.opts.waitTimeoutMs / 1000)} s`, {
            code: 'VipNotAnswering',
            exitCode: 3,
            suggestions: [
              'On an LB node, check the static pods: crictl ps | grep -E "keepalived|haproxy", and their logs.',
              `The run log ${ctx.session.log.dir ?? ''} lists every file written.`,
            ],
          });
        }
        await sleep(500);
      }
      out(`${server} accepts connections`);
      ctx.kube = loadKube({ kubeconfigPath: ctx.kubeconfigOut, timeoutMs: 10_000 });
      for (;;) {
        try {
          await ctx.kube.rest.request('GET', '/readyz');
          break;
        } catch (e) {
          if (Date.now() > deadline) {
            throw new UserError(`the API server is not reachable through ${server}: ${(e as Error).message}`, {
              code: 'ApiNotReachableThroughVip',
              exitCode: 3,
              suggestions: ['Check that the API server certificate includes the controlPlaneVIP as a SAN, and HAProxy\'s backends (haproxy.cfg) are the control-plane nodes.'],
            });
          }
          await sleep(1000);
        }
      }
      out(`API ready through ${server}; kubeconfig ${ctx.kubeconfigOut}`);
    },
  },
  {
    title: 'Label the LB nodes',
    async run(ctx, out) {
      const rest = (ctx.kube as Kube).rest;
      ctx.result.labelled = await labelLbNodes(rest, ctx.config.loadBalancer.nodes.map((n) => n.k8sIP), ctx.opts.waitTimeoutMs);
      out(ctx.result.labelled.map((l) => `${l.nodeName} ${l.action}`).join(', '));
    },
  },
  {
    title: 'Apply the speaker, controller and their configuration',
    async run(ctx, out) {
      const rest = (ctx.kube as Kube).rest;
      const manifests = (ctx.rendered as Rendered).manifests;
      const objects: CreateClusterResult['objects'] = [];
      const apply = async (o: (typeof manifests)[number]): Promise<void> => {
        const action = await applyObject(rest, o);
        objects.push({ ref: objectRef(o), action });
        if (action !== 'unchanged') out(`${objectRef(o)} ${action}`);
      };
      // The namespace first, then the membership Secret, so the speakers find it when they start.
      for (const o of manifests.filter((m) => m.kind === 'Namespace')) await apply(o);
      ctx.result.memberSecret = await ensureMemberSecret(rest);
      if (ctx.result.memberSecret === 'created') out('membership Secret created');
      // Config ownership: webhook TLS Secret + owner record, then the objects with the admission guards.
      const own = await prepareOwnership(rest, ctx.config, ctx.opts.now?.() ?? new Date());
      if (own.tls === 'issued') out(`webhook certificate issued (${own.tlsReason})`);
      const guarded = guardedManifests(ctx.config, own).manifests;
      (ctx.rendered as Rendered).manifests = guarded;
      for (const o of guarded.filter((m) => m.kind !== 'Namespace')) await apply(o);
      ctx.result.objects = objects;
    },
  },
  {
    title: 'Wait for the speaker DaemonSet and the controller Deployment',
    async run(ctx, out) {
      await waitWorkloadsReady((ctx.kube as Kube).rest, (ctx.rendered as Rendered).manifests, ctx.opts.waitTimeoutMs, out);
    },
  },
  {
    title: 'Record the applied configuration',
    async run(ctx, out) {
      ctx.result.applied = await recordApplied((ctx.kube as Kube).rest, ctx.config, ctx.opts.now?.() ?? new Date());
      out(`ConfigMap bmlb-system/bmlb-applied ${ctx.result.applied}`);
    },
  },
  {
    title: 'Find the node holding the VIP',
    async run(ctx, out) {
      const vip = ctx.config.loadBalancer.controlPlaneVIP;
      const nodes = ctx.config.loadBalancer.nodes;
      const seen = await mapSettled(nodes, ctx.session.pool.parallelism, async (n) => {
        const sh = await ctx.session.pool.get(n.address);
        const r = await sh.run('ip -j addr show');
        return r.code === 0 && interfaceHolding(parseIpAddrJson(r.stdout), vip) !== undefined;
      });
      const i = seen.findIndex((s) => s.ok && s.value);
      const holder = i >= 0 ? nodes[i] : undefined;
      if (holder) {
        ctx.result.holder = { address: holder.address, hostname: ctx.facts[holder.address]?.hostname ?? '' };
        out(`${vip} is on ${holder.address} (${ctx.result.holder.hostname})`);
      } else out(`${vip} is on none of the LB nodes' interfaces`);
    },
  },
];

export function newCreateContext(config: ClusterConfig, session: Session, opts: CreateOptions): CreateContext {
  return {
    config,
    session,
    opts,
    facts: {},
    appliers: [],
    kubeconfigOut: join(session.workspaceDir, `${config.name}-kubeconfig`),
    result: { durationsMs: {} },
  };
}

export function summarize(ctx: CreateContext): CreateClusterResult {
  const lb = ctx.config.loadBalancer;
  const nodes = ctx.appliers.map((a) => ({
    address: a.address,
    hostname: ctx.facts[a.address]?.hostname ?? '',
    files: (a.plan?.files ?? []).map((f) => ({ path: f.path, action: f.action })),
    sysctls: a.sysctlChanges.map((s) => ({ key: s.key, ...(s.from !== undefined ? { from: s.from } : {}), to: s.to })),
  }));
  const objects = ctx.result.objects ?? [];
  const changed =
    nodes.some((n) => n.files.some((f) => f.action !== 'unchanged') || n.sysctls.length > 0) ||
    objects.some((o) => o.action !== 'unchanged') ||
    ctx.result.memberSecret === 'created' ||
    (ctx.result.labelled ?? []).some((l) => l.action === 'labelled') ||
    (ctx.result.applied !== undefined && ctx.result.applied !== 'unchanged');
  return {
    cluster: ctx.config.name,
    controlPlaneVIP: lb.controlPlaneVIP,
    controlPlaneLBPort: lb.controlPlaneLBPort,
    ...(ctx.result.holder ? { holder: ctx.result.holder } : {}),
    kubeconfig: ctx.kubeconfigOut,
    ...(ctx.session.log.dir ? { logDir: ctx.session.log.dir } : {}),
    changed,
    ...(ctx.result.preflight ? { preflight: ctx.result.preflight } : {}),
    nodes,
    labelled: ctx.result.labelled ?? [],
    memberSecret: ctx.result.memberSecret ?? 'exists',
    objects,
    applied: ctx.result.applied ?? 'unchanged',
    durationsMs: ctx.result.durationsMs,
  };
}

/** Run the phases with a reporter (plain lines, listr2, or silent); timings go into the result. */
export async function runPhasesPlain(ctx: CreateContext, write: (line: string) => void): Promise<void> {
  for (const p of PHASES) {
    const t0 = Date.now();
    write(`• ${p.title}`);
    try {
      await p.run(ctx, (m) => write(`    ${m}`));
    } catch (e) {
      ctx.result.durationsMs[p.title] = Date.now() - t0;
      write(`  ✗ ${p.title} failed`);
      throw e;
    }
    ctx.result.durationsMs[p.title] = Date.now() - t0;
    write(`  ✓ ${p.title} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
}
