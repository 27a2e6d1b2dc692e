/**
 * Bring up a lab for an end-to-end test, with a name unique to this test process, and take it
 * down afterwards (even when the test fails).
 *
 *   import { useLab } from '../../helpers/lab.js';
 *   describe('my feature', () => {
 *     const env = useLab({ tag: 'prov', lbNodes: 2, nodes: 3 });   // before(): up, after(): down
 *     it('…', async () => { const r = await env.lab.ssh('lb1', 'hostname'); … });
 *   });
 *
 * or by hand: `const lab = await startTestLab({ tag: 'x' }); after(() => lab.down());`
 * Set BMLB_LAB_KEEP_LOGS=1 to keep the lab's log directory after the test. Labs record the test
 * process as their owner; labs whose owner died (a killed test run) are taken down by the next run.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { after, before } from 'node:test';
import { labDown } from '../../src/lab/lab-down.js';
import type { LabDownResult } from '../../src/lab/lab-down.js';
import { labExec, labSpawn } from '../../src/lab/lab-exec.js';
import type { LabTarget } from '../../src/lab/lab-exec.js';
import type { RunOptions, RunResult } from '../../src/lab/lab-io.js';
import { systemLabIo } from '../../src/lab/lab-io.js';
import { staleOwnedLabs } from '../../src/lab/lab-state.js';
import type { LabUpOptions, LabUpResult } from '../../src/lab/lab-up.js';
import { daemonEnv, labUp } from '../../src/lab/lab-up.js';

export type { LabStatus } from '../../src/lab/lab-state.js';
export type { RunResult } from '../../src/lab/lab-io.js';

export interface TestLabOptions extends Partial<Omit<LabUpOptions, 'name'>> {
  /** A few letters naming the test area; the lab is called `t<tag><pid>` (≤ 20 characters). */
  tag?: string;
  /** Exact lab name (instead of one made from tag). */
  name?: string;
}

export interface TestLab {
  /** What `bmlb lab status --json` would print, plus how long `lab up` took per phase. */
  status: LabUpResult;
  name: string;
  /** Run a command to completion in `admin`, `client`, `router`, `segment` or on a node (killed after opts.timeoutMs, default 30 s). */
  exec(target: LabTarget, argv: string[], opts?: RunOptions): Promise<RunResult>;
  /** Start a command there; ended (by PID) when the lab goes down, if still running. */
  spawn(target: LabTarget, argv: string[], opts?: SpawnOptions): ChildProcess;
  /** Run on a node (its network, mount and UTS namespaces). */
  nodeExec(node: string, argv: string[], opts?: RunOptions): Promise<RunResult>;
  nodeSpawn(node: string, argv: string[], opts?: SpawnOptions): ChildProcess;
  /** The ssh argv (from admin: lab key, lab known_hosts, StrictHostKeyChecking=yes) for a node. */
  sshArgv(node: string, command: string): string[];
  /** ssh from the admin namespace to a node as root, with host-key checking on. */
  ssh(node: string, command: string, opts?: RunOptions): Promise<RunResult>;
  /** kubectl from the admin namespace with the installer's (default) or the admin user's kubeconfig. */
  kubectl(args: string[], opts?: RunOptions & { as?: 'installer' | 'admin-user' }): Promise<RunResult>;
  down(): Promise<LabDownResult>;
}

let counter = 0;

export function uniqueLabName(tag = 'lab'): string {
  const t = tag.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8) || 'lab';
  const n = `t${t}${process.pid.toString(36)}${(counter++).toString(36)}`;
  return n.slice(0, 20);
}

let sweep: Promise<void> | undefined;

/** Take down labs left by earlier test runs that were killed (their owner process is gone). */
function sweepStaleTestLabs(): Promise<void> {
  sweep ??= (async () => {
    for (const stale of staleOwnedLabs(systemLabIo)) await labDown(systemLabIo, { name: stale }).catch(() => undefined);
  })();
  return sweep;
}

export async function startTestLab(opts: TestLabOptions = {}): Promise<TestLab> {
  const name = opts.name ?? uniqueLabName(opts.tag);
  const { tag: _tag, name: _name, ...rest } = opts;
  await sweepStaleTestLabs();
  const owner = { pid: process.pid, startTime: systemLabIo.startTimeOf(process.pid) ?? '' };
  let status: LabUpResult;
  try {
    status = await labUp(systemLabIo, { nodes: 4, lbNodes: 3, ipv6: false, ...rest, name, owner });
  } catch (e) {
    // labUp takes a failed lab down itself; make sure, in case it failed while doing so.
    await labDown(systemLabIo, { name, keepLogs: process.env.BMLB_LAB_KEEP_LOGS === '1' }).catch(() => undefined);
    throw e;
  }
  const children: ChildProcess[] = [];
  const node = (n: string) => {
    const found = status.nodes.find((x) => x.name === n);
    if (!found) throw new Error(`lab ${name} has no node ${n} (nodes: ${status.nodes.map((x) => x.name).join(', ')})`);
    return found;
  };
  const sshArgv = (n: string, command: string): string[] => [
    'ssh', '-i', status.sshKey,
    '-o', `UserKnownHostsFile=${status.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-o', 'LogLevel=ERROR',
    `root@${node(n).address}`, command,
  ];
  let downed: Promise<LabDownResult> | undefined;
  const lab: TestLab = {
    status,
    name,
    exec: (target, argv, o) => labExec(status, target, argv, o),
    spawn: (target, argv, o) => {
      const c = labSpawn(status, target, argv, o);
      children.push(c);
      return c;
    },
    nodeExec: (n, argv, o) => (node(n), labExec(status, n, argv, o)),
    nodeSpawn: (n, argv, o) => (node(n), lab.spawn(n, argv, o)),
    sshArgv,
    ssh: (n, command, o) => labExec(status, 'admin', sshArgv(n, command), o),
    kubectl: (args, o) => {
      const kubeconfig = o?.as === 'admin-user' ? status.adminUserKubeconfig : status.kubeconfig;
      return labExec(status, 'admin', ['kubectl', '--kubeconfig', kubeconfig, ...args], { env: daemonEnv(), ...o });
    },
    down: () => {
      downed ??= (async () => {
        for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) systemLabIo.signal(c.pid, 'SIGKILL');
        return labDown(systemLabIo, { name, keepLogs: process.env.BMLB_LAB_KEEP_LOGS === '1' });
      })();
      return downed;
    },
  };
  return lab;
}

/** Registers before() to bring a lab up and after() to take it down; read `.lab` inside tests. */
export function useLab(opts: TestLabOptions = {}): { readonly lab: TestLab } {
  let lab: TestLab | undefined;
  before(async () => {
    lab = await startTestLab(opts);
  }, { timeout: 120_000 });
  after(async () => {
    await lab?.down();
  }, { timeout: 60_000 });
  return {
    get lab(): TestLab {
      if (!lab) throw new Error('the lab is not up (did before() fail?)');
      return lab;
    },
  };
}
