/**
 * Resetting one LB node over SSH: inspect, remove bmlb's static pod manifests, wait (bounded) until
 * keepalived and HAProxy are gone and the VIP left the node, then remove bmlb's directories (configs,
 * /run/bmlb, /var/lib/bmlb with create's backups), the sysctl file, and put the sysctls back to the
 * value the node boots with. A second run finds nothing and changes nothing.
 */
import { parseIp } from '../../net/address.js';
import type { NodeShell } from '../ssh/ssh-connection.js';
import { type NodeInspection, type NodeStep, type ResetPaths, type SysctlRestore, inspectionScript, parseInspection, planNodeReset, staticPodsActive, stepCommand } from './reset-plan.js';

export interface NodeResetResult {
  address: string;
  outcome: 'reset' | 'nothing-to-do' | 'failed';
  /** Paths removed, manifests first. */
  removed: string[];
  /** Manifests at bmlb's paths that are not bmlb's: left alone. */
  keptForeign: string[];
  sysctls: SysctlRestore[];
  /** Set when keepalived was gone but the VIP was still on an interface, and reset removed it. */
  vipReleased?: { iface: string };
  /** How long the static pods took to stop. */
  waitedMs?: number;
  error?: { step: string; message: string };
}

export interface NodeResetOptions {
  paths: ResetPaths;
  vip: string;
  port: number;
  /** How long to wait for the static pods to stop after their manifests are gone. */
  waitMs: number;
  pollMs?: number;
  onProgress?: (msg: string) => void;
}

class StepFailed extends Error {
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(message);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function inspect(shell: NodeShell, paths: ResetPaths): Promise<NodeInspection> {
  const r = await shell.run(inspectionScript(paths), { logAs: 'inspect bmlb files, sysctls, keepalived, listeners and addresses', quietStdout: false });
  if (r.code !== 0) throw new StepFailed('inspect', r.stderr.trim() || `exit ${r.code}`);
  return parseInspection(r.stdout);
}

async function runStep(shell: NodeShell, step: NodeStep, paths: ResetPaths, label: string): Promise<void> {
  const cmd = stepCommand(step, paths);
  if (!cmd) return;
  const r = await shell.run(cmd, { logAs: label });
  if (r.code !== 0) throw new StepFailed(label, r.stderr.trim() || `exit ${r.code}`);
}

export async function resetNode(getShell: () => Promise<NodeShell>, address: string, opts: NodeResetOptions): Promise<NodeResetResult> {
  const result: NodeResetResult = { address, outcome: 'nothing-to-do', removed: [], keptForeign: [], sysctls: [] };
  const say = (m: string): void => opts.onProgress?.(`${address}: ${m}`);
  const errors: { step: string; message: string }[] = [];
  try {
    let shell: NodeShell;
    try {
      shell = await getShell();
    } catch (e) {
      throw new StepFailed('connect', e instanceof Error ? e.message : String(e));
    }
    const first = await inspect(shell, opts.paths);
    const steps = planNodeReset(first, opts.paths, opts.vip, opts.port);
    result.keptForeign = steps.flatMap((s) => (s.kind === 'keep-foreign-manifest' ? [s.path] : []));
    if (!steps.some((s) => s.kind !== 'keep-foreign-manifest')) return result;
    result.outcome = 'reset';

    for (const step of steps) {
      switch (step.kind) {
        case 'remove-manifest':
          await runStep(shell, step, opts.paths, `remove ${step.path}`);
          result.removed.push(step.path);
          say(`removed ${step.path}`);
          break;
        case 'keep-foreign-manifest':
          say(`left ${step.path} alone (not written by bmlb)`);
          break;
        case 'wait-static-pods': {
          const t0 = Date.now();
          let now = first;
          let active = staticPodsActive(now, opts.vip, opts.port);
          for (;;) {
            if (!active.keepalived && !active.haproxy) break;
            if (Date.now() - t0 > opts.waitMs) break;
            await sleep(opts.pollMs ?? 500);
            now = await inspect(shell, opts.paths);
            active = staticPodsActive(now, opts.vip, opts.port);
          }
          result.waitedMs = Date.now() - t0;
          if (active.keepalived || active.haproxy) {
            const still = [active.keepalived ? 'keepalived' : '', active.haproxy ? 'HAProxy' : ''].filter(Boolean).join(' and ');
            errors.push({ step: 'wait for the static pods to stop', message: `${still} still running ${Math.round(result.waitedMs / 1000)} s after their manifests were removed (is kubelet running?)` });
            say(`${still} still running`);
          } else if (active.vipOn) {
            // keepalived is gone but left the VIP behind (e.g. it was killed): release it.
            const held = now.interfaces.find((i) => i.name === active.vipOn)?.addrs.find((a) => parseIp(a.local) && parseIp(a.local)?.value === parseIp(opts.vip)?.value);
            const r = await shell.run(`ip addr del ${opts.vip}/${held?.prefixlen ?? (parseIp(opts.vip)?.family === 6 ? 128 : 32)} dev ${active.vipOn}`, { logAs: `release VIP ${opts.vip} from ${active.vipOn}` });
            if (r.code !== 0) errors.push({ step: 'release the VIP', message: r.stderr.trim() || `exit ${r.code}` });
            else {
              result.vipReleased = { iface: active.vipOn };
              say(`released ${opts.vip} from ${active.vipOn}`);
            }
          } else say(`keepalived and HAProxy stopped after ${(result.waitedMs / 1000).toFixed(1)} s`);
          break;
        }
        case 'remove-entries':
          await runStep(shell, step, opts.paths, `remove the content of ${step.dirs.join(' ')}`);
          result.removed.push(...step.entries);
          say(`removed ${step.entries.length} entr${step.entries.length === 1 ? 'y' : 'ies'} under ${step.dirs.join(', ')}`);
          break;
        case 'remove-sysctl-file':
          await runStep(shell, step, opts.paths, `remove ${step.path}`);
          result.removed.push(step.path);
          say(`removed ${step.path}`);
          break;
        case 'restore-sysctls':
          await runStep(shell, step, opts.paths, `restore sysctls ${step.restores.map((r) => `${r.key}=${r.to}`).join(' ')}`);
          result.sysctls.push(...step.restores);
          say(`set ${step.restores.map((r) => `${r.key}=${r.to} (${r.source})`).join(', ')}`);
          break;
      }
    }
    // Verify: nothing of bmlb's is left (foreign manifests aside).
    const after = await inspect(shell, opts.paths);
    const left = planNodeReset(after, opts.paths, opts.vip, opts.port).filter((s) => s.kind !== 'keep-foreign-manifest');
    if (left.length && errors.length === 0) errors.push({ step: 'verify', message: `still present: ${left.map((s) => s.kind).join(', ')}` });
  } catch (e) {
    if (e instanceof StepFailed) errors.unshift({ step: e.step, message: e.message });
    else errors.unshift({ step: 'unknown', message: e instanceof Error ? e.message : String(e) });
  }
  if (errors.length) {
    result.outcome = 'failed';
    result.error = errors[0];
  }
  return result;
}
