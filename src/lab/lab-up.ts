/**
 * `bmlb lab up`: build the lab described by docs/lab.md — namespaces and the L2 segment, nodes
 * with private mount namespaces and a real sshd each, the PKI and kubeconfigs, the cluster file —
 * then start the lab API server on cp1 and a node agent on every node, and wait until the API
 * answers /readyz and every node has registered. Per-node work runs in parallel.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import type { LabIo, ProcessIdentity } from './lab-io.js';
import { isAlive, settleAll } from './lab-io.js';
import type { LabLayout, LabNodeLayout, LabOptions } from './lab-layout.js';
import { extraNamespace, planLabLayout } from './lab-layout.js';
import type { LabUser } from './lab-files.js';
import {
  ADMIN_USER, INSTALLER_USER, apiServerConfig, nodeAgentConfig, nodeAgentConfigPath, renderClusterFile, renderKubeconfig,
} from './lab-files.js';
import type { LabState, LabStatus, RecordedProcess } from './lab-state.js';
import { readLabState, statusFromState, writeLabState } from './lab-state.js';
import { labDownLocked } from './lab-down.js';
import { withLabLock } from './lab-lock.js';
import { createLabNetwork } from './netns/network.js';
import { ensureMountPoints, prepareNodeDirs, startNodeHolder } from './netns/node-holder.js';
import { createLabPki, newToken } from './pki.js';
import { createLabSshKey, prepareNodeSshd, startNodeSshd, writeKnownHosts } from './sshd.js';

export interface LabUpOptions extends LabOptions {
  /** Leave a failed lab in place (for debugging) instead of tearing it down. */
  keepOnFailure?: boolean;
  /** How long to wait for the API server and the nodes' registration. Default 45000 ms. */
  readyTimeoutMs?: number;
  /** Start the lab API server and node agents (default true). Without them: network, nodes, sshd only. */
  kube?: boolean;
  /** Record a process whose end makes the lab stale (the test helper passes its own). */
  owner?: ProcessIdentity;
}

export interface LabUpResult extends LabStatus {
  /** Milliseconds spent in each phase. */
  timings: Record<string, number>;
}

/** This checkout's root (works from src/lab via tsx and from dist/src/lab). */
export function checkoutRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'run.js'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('bmlb checkout root not found above ' + fileURLToPath(import.meta.url));
}

/** The lab's stand-ins run from the built CLI (bin/run.js runs dist/); they must exist. */
export function labComponents(root = checkoutRoot()): { bmlbBin: string; missing: string[] } {
  const bmlbBin = join(root, 'bin', 'run.js');
  const missing = ['apiserver', 'node-agent'].filter((c) => !existsSync(join(root, 'dist', 'src', 'commands', 'lab', `${c}.js`)));
  return { bmlbBin, missing: missing.map((c) => `bmlb lab ${c}`) };
}

const TOOLS = ['ip', 'unshare', 'nsenter', 'mount', 'sysctl', 'ssh-keygen', 'openssl', 'curl'];

async function checkPrerequisites(io: LabIo, missingComponents: string[]): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new UserError('the lab needs root (it creates network and mount namespaces)', {
      code: 'LabNeedsRoot',
      suggestions: ['Run it as root, e.g. `sudo ./bin/run.js lab up`.'],
    });
  }
  const missingTools: string[] = [];
  await settleAll(
    TOOLS.map(async (t) => {
      const r = await io.run(['sh', '-c', `command -v ${t}`]);
      if (r.code !== 0) missingTools.push(t);
    }),
  );
  if (!existsSync('/usr/sbin/sshd')) missingTools.push('/usr/sbin/sshd');
  if (missingTools.length) {
    throw new UserError(`the lab needs programs that are not installed: ${missingTools.join(', ')}`, {
      code: 'LabCommandMissing',
      suggestions: ['Run `bash scripts/setup.sh` (as root) to install the Debian packages the lab needs.'],
    });
  }
  if (missingComponents.length) {
    throw new UserError(`the lab's stand-ins are not built: ${missingComponents.join(', ')} (no compiled command in dist/)`, {
      code: 'LabComponentMissing',
      suggestions: ['Run `npm run build` (the lab runs the API server and node agents from bin/run.js).'],
    });
  }
}

function tail(file: string, lines = 8): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
}

/** Poll `probe` until it returns a value or the time is up; stop early when `alive` turns false. */
async function waitFor<T>(io: LabIo, timeoutMs: number, probe: () => Promise<T | undefined>, alive: () => boolean): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    if (!alive()) return undefined;
    await io.sleep(150);
  }
  return undefined;
}

export async function labUp(io: LabIo, opts: LabUpOptions): Promise<LabUpResult> {
  planLabLayout(opts); // a bad name or size is a usage error before anything else
  return withLabLock(io, opts.name, opts.baseDir, () => labUpLocked(io, opts));
}

async function labUpLocked(io: LabIo, opts: LabUpOptions): Promise<LabUpResult> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  let mark = t0;
  const lap = (what: string): void => {
    const now = Date.now();
    timings[what] = now - mark;
    mark = now;
  };

  const layout = planLabLayout(opts);
  const withKube = opts.kube ?? true;
  const { bmlbBin, missing } = labComponents();
  await checkPrerequisites(io, withKube ? missing : []);

  const previous = readLabState(opts.name, opts.baseDir);
  if (previous && previous.phase === 'ready' && previous.processes.every((p) => isAlive(io, p))) {
    throw new UserError(`a lab named "${opts.name}" is already up`, {
      code: 'LabExists',
      data: { stateDir: layout.paths.stateDir },
      suggestions: [`Use it (\`bmlb lab status --name ${opts.name}\`), take it down first (\`bmlb lab down --name ${opts.name}\`), or pick another --name.`],
    });
  }
  // A crashed or half-built lab of the same name: clean it first.
  await labDownLocked(io, { name: opts.name, ...(opts.baseDir ? { baseDir: opts.baseDir } : {}) });
  lap('cleanup');

  const p = layout.paths;
  for (const d of [p.stateDir, p.logDir, p.nodesDir]) mkdirSync(d, { recursive: true, mode: 0o755 });
  const state: LabState = {
    version: 1,
    name: opts.name,
    options: { name: opts.name, nodes: opts.nodes, lbNodes: opts.lbNodes, ipv6: opts.ipv6 },
    phase: 'starting',
    createdAt: new Date().toISOString(),
    holders: {},
    processes: [],
    bmlbBin,
    kube: withKube,
    ...(opts.owner ? { owner: opts.owner } : {}),
  };
  const save = (): void => writeLabState(p.stateFile, state);
  const record = (what: string, proc: ProcessIdentity, node?: string): void => {
    state.processes.push({ what, ...proc, ...(node ? { node } : {}) } satisfies RecordedProcess);
    save();
  };
  save();

  try {
    ensureMountPoints();
    for (const n of layout.nodes) prepareNodeDirs(n);

    // Network, keys and certificates are independent of each other.
    const hostKeys = new Map<string, string>();
    const started = Date.now();
    const timed = async (what: string, work: Promise<unknown>): Promise<void> => {
      await work;
      timings[what] = Date.now() - started;
    };
    await settleAll<void>([
      timed('network', createLabNetwork(io, layout)),
      timed('pki', createLabPki(io, layout)),
      timed('sshKeys', settleAll<unknown>([createLabSshKey(io, layout), ...layout.nodes.map(async (n) => hostKeys.set(n.name, await prepareNodeSshd(io, layout, n)))])),
    ]);
    mark = Date.now();

    await settleAll(
      layout.nodes.map(async (n) => {
        const holder = await startNodeHolder(io, layout, n);
        state.holders[n.name] = holder;
        record(`node-holder ${n.name}`, holder, n.name);
        record(`sshd ${n.name}`, await startNodeSshd(io, layout, n, holder), n.name);
      }),
    );
    writeKnownHosts(layout, layout.nodes.map((n) => ({ node: n, publicKey: hostKeys.get(n.name)! })));
    lap('nodes');

    const users = writeIdentities(layout, bmlbBin);
    writeFileSync(p.clusterFile, renderClusterFile(layout));
    if (withKube) await startKube(io, layout, state, users, bmlbBin, record, opts.readyTimeoutMs ?? 45_000, lap);

    state.phase = 'ready';
    save();
  } catch (e) {
    state.phase = 'failed';
    state.error = e instanceof Error ? e.message : String(e);
    save();
    if (!opts.keepOnFailure) {
      await labDownLocked(io, { name: opts.name, keepLogs: true, ...(opts.baseDir ? { baseDir: opts.baseDir } : {}) });
    }
    if (e instanceof UserError) {
      throw new UserError(e.message, {
        code: e.code,
        exitCode: e.exitCode,
        data: e.data,
        cause: e,
        suggestions: [
          ...e.suggestions,
          opts.keepOnFailure
            ? `The failed lab is left in place; inspect it, then \`bmlb lab down --name ${opts.name}\`.`
            : `The lab was taken down; its logs are kept in ${p.logDir} (\`bmlb lab up --keep-on-failure\` leaves everything in place).`,
        ],
      });
    }
    throw e;
  }
  timings.total = Date.now() - t0;
  return { ...statusFromState(layout, state, io), timings };
}

async function startKube(
  io: LabIo, layout: LabLayout, state: LabState, users: LabUser[], bmlbBin: string,
  record: (what: string, proc: ProcessIdentity, node?: string) => void, timeoutMs: number, lap: (what: string) => void,
): Promise<void> {
  const p = layout.paths;
  const cp1 = layout.nodes[0]!;
  const apiLog = join(p.logDir, 'apiserver.out');
  const api = await io.startDaemon(
    ['nsenter', '--target', String(state.holders[cp1.name]!.pid), '--net', '--mount', '--uts', '--',
      process.execPath, bmlbBin, 'lab', 'apiserver', '--config', p.apiServerConfig],
    { logFile: apiLog, env: daemonEnv() },
  );
  record('apiserver', api, cp1.name);
  await waitApiReady(io, layout, api, apiLog, timeoutMs);
  lap('apiserver');

  await settleAll(
    layout.nodes.map(async (n) => {
      const agent = await io.startDaemon(
        ['nsenter', '--target', String(state.holders[n.name]!.pid), '--net', '--mount', '--uts', '--',
          process.execPath, bmlbBin, 'lab', 'node-agent', '--config', nodeAgentConfigPath(n)],
        { logFile: join(p.logDir, `node-agent-${n.name}.out`), env: daemonEnv() },
      );
      record(`node-agent ${n.name}`, agent, n.name);
    }),
  );
  const installer = users.find((u) => u.user === INSTALLER_USER)!;
  await waitNodesRegistered(io, layout, state, installer.token, timeoutMs);
  lap('nodeAgents');
}

/** Tokens and kubeconfigs for the installer, the admin user and each node's agent. */
function writeIdentities(layout: LabLayout, bmlbBin: string): LabUser[] {
  const p = layout.paths;
  const caPem = readFileSync(p.caCert, 'utf8');
  const installer: LabUser = { token: newToken(), user: INSTALLER_USER, groups: ['system:masters'] };
  const admin: LabUser = { token: newToken(), user: ADMIN_USER, groups: ['system:masters'] };
  const nodeUsers = layout.nodes.map((n): [LabNodeLayout, LabUser] => [
    n,
    // The stand-in node agent also runs the lab's controllers on cp1: system:masters keeps it simple.
    { token: newToken(), user: `system:node:${n.name}`, groups: ['system:nodes', 'system:masters'] },
  ]);
  const users = [installer, admin, ...nodeUsers.map(([, u]) => u)];
  writeFileSync(p.apiServerConfig, JSON.stringify(apiServerConfig(layout, users), null, 2) + '\n', { mode: 0o600 });
  const clusterName = `bmlb-lab-${layout.name}`;
  writeFileSync(p.kubeconfig, renderKubeconfig({ clusterName, server: layout.apiServer.url, caPem, user: installer.user, token: installer.token }), { mode: 0o600 });
  writeFileSync(p.adminUserKubeconfig, renderKubeconfig({ clusterName, server: layout.apiServer.url, caPem, user: admin.user, token: admin.token }), { mode: 0o600 });
  for (const [n, u] of nodeUsers) {
    writeFileSync(nodeAgentConfigPath(n), JSON.stringify(nodeAgentConfig(layout, n, u.token, bmlbBin), null, 2) + '\n', { mode: 0o600 });
  }
  return users;
}

/**
 * The environment of the lab's daemons: the caller's, minus proxies (nothing in the lab may leave
 * the segment) and the test runner's marker (a daemon is not a test process).
 */
export function daemonEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (/^(https?|all|no)_proxy$/i.test(k) || k === 'NODE_TEST_CONTEXT') continue;
    out[k] = v;
  }
  return out;
}

function curlArgv(layout: LabLayout, path: string, token?: string): string[] {
  return [
    'ip', 'netns', 'exec', extraNamespace(layout, 'admin'),
    'curl', '-sSf', '--noproxy', '*', '--max-time', '3', '--cacert', layout.paths.caCert,
    ...(token ? ['-H', `Authorization: Bearer ${token}`] : []),
    `${layout.apiServer.url}${path}`,
  ];
}

async function waitApiReady(io: LabIo, layout: LabLayout, api: ProcessIdentity, apiLog: string, timeoutMs: number): Promise<void> {
  let last = '';
  const ok = await waitFor(
    io,
    timeoutMs,
    async () => {
      const r = await io.run(curlArgv(layout, '/readyz'));
      last = (r.stderr || r.stdout).trim();
      return r.code === 0 ? true : undefined;
    },
    () => isAlive(io, api),
  );
  if (ok) return;
  const died = !isAlive(io, api);
  const logs = [tail(apiLog), tail(join(layout.paths.logDir, 'apiserver.log'))].filter(Boolean).join('\n');
  throw new UserError(
    `the lab API server ${died ? 'exited' : `did not answer ${layout.apiServer.url}/readyz within ${timeoutMs} ms`} (last probe: ${last || 'no answer'})${logs ? `\n${logs}` : ''}`,
    { code: 'LabApiServerFailed', suggestions: [`Read ${apiLog} and ${join(layout.paths.logDir, 'apiserver.log')}.`] },
  );
}

async function waitNodesRegistered(io: LabIo, layout: LabLayout, state: LabState, token: string, timeoutMs: number): Promise<void> {
  const want = layout.nodes.map((n) => n.name);
  let seen: string[] = [];
  const agents = state.processes.filter((x) => x.what.startsWith('node-agent ') || x.what === 'apiserver');
  const ok = await waitFor(
    io,
    timeoutMs,
    async () => {
      const r = await io.run(curlArgv(layout, '/api/v1/nodes', token));
      if (r.code !== 0) return undefined;
      try {
        const list = JSON.parse(r.stdout) as { items?: { metadata?: { name?: string } }[] };
        seen = (list.items ?? []).map((i) => i.metadata?.name ?? '');
      } catch {
        return undefined;
      }
      return want.every((w) => seen.includes(w)) ? true : undefined;
    },
    () => agents.every((a) => isAlive(io, a)),
  );
  if (ok) return;
  const dead = agents.filter((a) => !isAlive(io, a)).map((a) => a.what);
  const missing = want.filter((w) => !seen.includes(w));
  const logs = missing.map((m) => tail(join(layout.paths.logDir, `node-agent-${m}.out`), 4)).filter(Boolean).join('\n');
  throw new UserError(
    `lab nodes did not register with the lab API server: missing ${missing.join(', ')}${dead.length ? `; exited: ${dead.join(', ')}` : ''}${logs ? `\n${logs}` : ''}`,
    { code: 'LabNodeAgentFailed', suggestions: [`Read the node agents' logs in ${layout.paths.logDir}.`] },
  );
}
