/**
 * `update cluster`: read the applied cluster model from the cluster (ConfigMap bmlb-applied), diff
 * it with the cluster file, refuse immutable changes (listing every field, old and new value;
 * nothing is touched), plan, and — unless dry-run — apply: node files through the create path
 * (gather facts, render, back up, write, roll back every node on failure) when VRRP tunables or
 * nodes changed; then the new applied record first (the controller's config guard follows it) and
 * the re-rendered objects (the speaker ConfigMap among them; speakers and controller reload it live).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Service } from '@kubernetes/client-node';
import type { ClusterConfig } from '../../config/model.js';
import { NAMES } from '../../config/model.js';
import { diffForUpdate } from '../../config/update-diff.js';
import { DEFAULT_INGRESS_SERVICE } from '../../controller/reconciler.js';
import { UserError } from '../../errors.js';
import { type Kube, type KubeRest, isKubeApiError, loadKube, resourcePath } from '../../kube/kube-client.js';
import { objectRef } from '../../render/kube-object.js';
import type { KubeObject } from '../../render/kube-object.js';
import { APPLIED_CONFIGMAP, type ApplyAction, applyObject, labelLbNodes, recordApplied } from '../create/cluster-objects.js';
import { type CreateContext, PHASES, newCreateContext } from '../create/create-cluster.js';
import type { Session } from '../session.js';
import { workspaceDirFor } from '../session.js';
import type { Rendered } from '../../render/render-all.js';
import { rollNodeFiles } from './node-roll.js';
import { guardedManifests, prepareOwnership } from './ownership-install.js';
import { type InvalidatedIp, type UpdatePlan, describeRefused, invalidatedAllocations, planUpdate } from './update-plan.js';

export interface UpdateOptions {
  dryRun: boolean;
  kubeconfigPath?: string;
  waitTimeoutMs: number;
  now?: () => Date;
  /** Opens the SSH session, only when node files must change. */
  openSession: () => Session;
  progress?: (line: string) => void;
  cwd?: string;
  /** Wait after each LB node's files before the next (static pods restart), ms. Default 3000. */
  settleMs?: number;
}

export interface UpdateClusterResult {
  cluster: string;
  dryRun: boolean;
  plan: UpdatePlan;
  invalidatedIPs: InvalidatedIp[];
  /** False when the cluster already matched the file (or on dry-run). */
  changed: boolean;
  nodes: { address: string; files: { path: string; action: string }[] }[];
  labelled: { k8sIP: string; nodeName: string; action: string }[];
  unlabelled: string[];
  applied?: ApplyAction;
  objects: { ref: string; action: ApplyAction }[];
  /** Admission guards of the previous admission mode, deleted. */
  removed: string[];
  kubeconfig: string;
  logDir?: string;
}

/** The VIP kubeconfig create cluster wrote, else the flag / cluster file's. */
export function kubeconfigFor(config: ClusterConfig, flag: string | undefined, cwd?: string): string {
  if (flag) return flag;
  const ws = join(workspaceDirFor(config, cwd), `${config.name}-kubeconfig`);
  if (existsSync(ws)) return ws;
  if (config.credentials.kubeconfigPath) return config.credentials.kubeconfigPath;
  throw new UserError(`no kubeconfig for cluster ${config.name}`, {
    code: 'KubeconfigRequired',
    suggestions: ['Pass --kubeconfig PATH, or run from the directory holding bmlb-workspace/ (create cluster wrote NAME-kubeconfig there).'],
  });
}

export async function readAppliedConfig(rest: KubeRest, clusterName: string): Promise<ClusterConfig> {
  let cm: { data?: Record<string, string> } | undefined;
  try {
    cm = await rest.find(resourcePath('v1', 'configmaps', NAMES.namespace, APPLIED_CONFIGMAP));
  } catch (e) {
    throw new UserError(`cannot read the applied configuration of cluster ${clusterName}: ${(e as Error).message}`, {
      code: 'ApiUnreachable',
      exitCode: 3,
      suggestions: ['Check that the control-plane VIP answers and the kubeconfig is valid (kubectl --kubeconfig … get nodes).'],
    });
  }
  const json = cm?.data?.['cluster.json'];
  if (!json) {
    throw new UserError(`cluster ${clusterName} has no applied bmlb configuration (ConfigMap ${NAMES.namespace}/${APPLIED_CONFIGMAP})`, {
      code: 'ClusterNotCreated',
      suggestions: [`Run \`bmlb create cluster -c ${clusterName}\` first.`],
    });
  }
  const applied = JSON.parse(json) as ClusterConfig;
  if (applied.name !== clusterName) {
    throw new UserError(`the cluster behind this kubeconfig is "${applied.name}", not "${clusterName}"`, {
      code: 'ClusterMismatch',
      suggestions: ['Pass the kubeconfig of the cluster the file describes (--kubeconfig).'],
    });
  }
  return applied;
}

async function applyWithRetry(rest: KubeRest, o: KubeObject): Promise<ApplyAction> {
  for (let i = 0; ; i++) {
    try {
      return await applyObject(rest, o);
    } catch (e) {
      // The controller's config guard may write the ConfigMap at the same moment: read again.
      if (!isKubeApiError(e, 409) || i >= 4) throw e;
      await new Promise((r) => setTimeout(r, 100 * (i + 1)));
    }
  }
}

const GUARDS = [
  { kind: 'ValidatingWebhookConfiguration', plural: 'validatingwebhookconfigurations' },
  { kind: 'ValidatingAdmissionPolicyBinding', plural: 'validatingadmissionpolicybindings' },
  { kind: 'ValidatingAdmissionPolicy', plural: 'validatingadmissionpolicies' },
];

/** The admission guard objects (named bmlb-config-guard) the rendered set no longer has. */
export function staleGuards(manifests: KubeObject[]): { ref: string; path: string }[] {
  return GUARDS.filter((g) => !manifests.some((m) => m.kind === g.kind)).map((g) => ({
    ref: `${g.kind} bmlb-config-guard`,
    path: `/apis/admissionregistration.k8s.io/v1/${g.plural}/bmlb-config-guard`,
  }));
}

/** The API through the VIP answers again (after keepalived restarts). */
async function waitApi(kube: Kube, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await kube.rest.request('GET', '/readyz', { timeoutMs: 3000 });
      return;
    } catch (e) {
      if (Date.now() > deadline) {
        throw new UserError(`the API does not answer through the control-plane VIP after updating the LB nodes: ${(e as Error).message}`, {
          code: 'ApiNotReachableThroughVip',
          exitCode: 3,
          suggestions: ['Check keepalived and HAProxy on the LB nodes (their static pods), then rerun bmlb update cluster.'],
        });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function phase(title: string) {
  const p = PHASES.find((x) => x.title.startsWith(title));
  if (!p) throw new Error(`create cluster has no phase "${title}"`);
  return p;
}

export async function updateCluster(desired: ClusterConfig, opts: UpdateOptions): Promise<UpdateClusterResult> {
  const out = opts.progress ?? (() => {});
  const now = opts.now?.() ?? new Date();
  const kubeconfig = kubeconfigFor(desired, opts.kubeconfigPath, opts.cwd);
  const kube: Kube = loadKube({ kubeconfigPath: kubeconfig, timeoutMs: 10_000 });
  const applied = await readAppliedConfig(kube.rest, desired.name);
  const diff = diffForUpdate(applied, desired);
  if (diff.refused.length) {
    const lines = describeRefused(diff);
    throw new UserError(`cluster ${desired.name}: ${lines.length} change${lines.length === 1 ? '' : 's'} cannot be applied to a running cluster; nothing was changed:\n  ${lines.join('\n  ')}`, {
      code: 'UpdateImmutable',
      data: { refused: diff.refused, allowed: diff.allowed },
      suggestions: [
        'Put those fields back to their applied values (shown before →) in the cluster file, then rerun.',
        'Immutable fields change only by recreating the cluster: bmlb reset cluster, then bmlb create cluster.',
      ],
    });
  }
  const plan = planUpdate(applied, desired, diff);
  const services = await kube.rest.get<{ items: V1Service[] }>('/api/v1/services');
  const invalidatedIPs = invalidatedAllocations(services.items, applied, desired, DEFAULT_INGRESS_SERVICE);
  const result: UpdateClusterResult = {
    cluster: desired.name,
    dryRun: opts.dryRun,
    plan,
    invalidatedIPs,
    changed: false,
    nodes: [],
    labelled: [],
    unlabelled: [],
    objects: [],
    removed: [],
    kubeconfig,
  };
  for (const c of plan.changes) out(`${c.kind} ${c.path}`);
  for (const i of invalidatedIPs) out(`Service ${i.service} holds ${i.ips.join(', ')}: ${i.reason} (kept and reported, not moved)`);
  if (opts.dryRun) return result;
  if (plan.changes.length === 0) {
    out('the cluster already matches the cluster file; nothing to do');
    return result;
  }

  // Own identity first: a kubeconfig the admission guard would refuse stops here, before any node changes.
  const own = await prepareOwnership(kube.rest, desired, now);

  if (plan.targets.nodeFiles) {
    const session = opts.openSession();
    try {
      result.logDir = session.log.dir;
      const ctx: CreateContext = newCreateContext(desired, session, { skipPreflight: true, waitTimeoutMs: opts.waitTimeoutMs, ...(opts.now ? { now: opts.now } : {}) });
      // Facts over SSH and the rendered node files come from create's own phases.
      for (const title of ['Preflight', 'Render']) {
        out(`• ${phase(title).title}`);
        await phase(title).run(ctx, (m) => out(`    ${m}`));
      }
      out('• Update the LB nodes one at a time (the VIP holder last)');
      result.nodes = await rollNodeFiles({
        config: desired,
        session,
        rendered: ctx.rendered as Rendered,
        facts: ctx.facts,
        runId: now.toISOString().replace(/[:.]/g, '-'),
        settleMs: opts.settleMs ?? 3000,
        waitTimeoutMs: opts.waitTimeoutMs,
        out: (m) => out(`    ${m}`),
      });
    } finally {
      session.close();
    }
    await waitApi(kube, opts.waitTimeoutMs);
  }

  if (plan.labels.add.length) result.labelled = await labelLbNodes(kube.rest, plan.labels.add, opts.waitTimeoutMs);
  for (const ip of plan.labels.remove) {
    const nodes = await kube.rest.get<{ items: { metadata: { name: string }; status?: { addresses?: { type: string; address: string }[] } }[] }>('/api/v1/nodes');
    const n = nodes.items.find((x) => (x.status?.addresses ?? []).some((a) => a.type === 'InternalIP' && a.address === ip));
    if (!n) continue;
    await kube.rest.patch(resourcePath('v1', 'nodes', undefined, n.metadata.name), { metadata: { labels: { [NAMES.lbNodeLabel]: null } } }, 'merge');
    result.unlabelled.push(n.metadata.name);
  }

  // The applied record first: the controller's config guard derives bmlb-config from it, so it
  // follows this update instead of reverting it.
  result.applied = await recordApplied(kube.rest, desired, now);
  const { manifests } = guardedManifests(desired, own);
  for (const o of manifests) {
    const action = await applyWithRetry(kube.rest, o);
    result.objects.push({ ref: objectRef(o), action });
    if (action !== 'unchanged') out(`${objectRef(o)} ${action}`);
  }
  // An admission mode change (webhook ↔ policy) leaves the other guard behind: remove it.
  for (const stale of staleGuards(manifests)) {
    if (await kube.rest.delete(stale.path)) {
      result.removed.push(stale.ref);
      out(`${stale.ref} deleted`);
    }
  }
  result.changed =
    result.removed.length > 0 ||
    result.applied !== 'unchanged' ||
    result.objects.some((o) => o.action !== 'unchanged') ||
    result.nodes.some((n) => n.files.some((f) => f.action !== 'unchanged')) ||
    result.labelled.some((l) => l.action === 'labelled') ||
    result.unlabelled.length > 0;
  return result;
}
