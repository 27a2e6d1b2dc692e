/**
 * Running commands inside the lab: on a node (its network, mount and UTS namespaces, entered
 * through the node's holder process) or in the admin, client, router or segment namespace.
 * Used by `bmlb lab exec`, the lab itself and every end-to-end test.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { UserError } from '../errors.js';
import type { RunOptions, RunResult } from './lab-io.js';
import { systemLabIo } from './lab-io.js';

/** What these functions need to know of a lab (a `LabStatus` fits). */
export interface LabTargets {
  name: string;
  nodes: { name: string; pid: number }[];
  namespaces: { segment: string; admin: string; client: string; router: string };
}

/** `admin`, `client`, `router`, `segment` or a node name. */
export type LabTarget = string;

export function labTargetNames(lab: LabTargets): string[] {
  return ['admin', 'client', 'router', 'segment', ...lab.nodes.map((n) => n.name)];
}

/** The argv that runs `argv` inside `target` (pure). */
export function targetArgv(lab: LabTargets, target: LabTarget, argv: string[]): string[] {
  if (argv.length === 0) {
    throw new UserError('no command given to run in the lab', {
      code: 'LabExecNoCommand',
      exitCode: 2,
      suggestions: ['Put the command after `--`, e.g. `bmlb lab exec --ns lb1 -- hostname`.'],
    });
  }
  const node = lab.nodes.find((n) => n.name === target);
  if (node) {
    if (!node.pid) {
      throw new UserError(`lab node ${target} has no holder process recorded`, {
        code: 'LabNodeNotRunning',
        suggestions: [`Restart the lab: \`bmlb lab down --name ${lab.name}\` then \`bmlb lab up --name ${lab.name}\`.`],
      });
    }
    return ['nsenter', '--target', String(node.pid), '--net', '--mount', '--uts', '--', ...argv];
  }
  const ns = (lab.namespaces as Record<string, string | undefined>)[target];
  if (!ns) {
    throw new UserError(`"${target}" is not a namespace of lab ${lab.name}`, {
      code: 'LabTargetUnknown',
      exitCode: 2,
      suggestions: [`Use one of: ${labTargetNames(lab).join(', ')}.`],
    });
  }
  return ['ip', 'netns', 'exec', ns, ...argv];
}

/** Run a command to completion inside a lab namespace or node; output collected. */
export function labExec(lab: LabTargets, target: LabTarget, argv: string[], opts?: RunOptions): Promise<RunResult> {
  return systemLabIo.run(targetArgv(lab, target, argv), { cwd: process.cwd(), ...opts });
}

/** Start a command inside a lab namespace or node; the caller owns the child (and must end it). */
export function labSpawn(lab: LabTargets, target: LabTarget, argv: string[], opts: SpawnOptions = {}): ChildProcess {
  const [cmd, ...args] = targetArgv(lab, target, argv);
  return spawn(cmd!, args, { cwd: process.cwd(), ...opts });
}

/** Run a command on a lab node (network + mount + UTS namespaces). */
export function nodeExec(lab: LabTargets, node: string, argv: string[], opts?: RunOptions): Promise<RunResult> {
  requireNode(lab, node);
  return labExec(lab, node, argv, opts);
}

/** Start a command on a lab node; the caller owns the child. */
export function nodeSpawn(lab: LabTargets, node: string, argv: string[], opts?: SpawnOptions): ChildProcess {
  requireNode(lab, node);
  return labSpawn(lab, node, argv, opts);
}

function requireNode(lab: LabTargets, node: string): void {
  if (!lab.nodes.some((n) => n.name === node)) {
    throw new UserError(`lab ${lab.name} has no node "${node}"`, {
      code: 'LabTargetUnknown',
      exitCode: 2,
      suggestions: [`Use one of: ${lab.nodes.map((n) => n.name).join(', ')}.`],
    });
  }
}
