/**
 * `bmlb lab down`: end every process the lab started (by recorded PID and start time) and every
 * process still inside the lab's own namespaces, delete the namespaces (which deletes their links
 * and, with the last process gone, the nodes' private mounts), then remove the state directory.
 * Idempotent: a lab that is half there, or not there at all, is fine.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { LabIo } from './lab-io.js';
import { isAlive } from './lab-io.js';
import { checkLabName, labPaths } from './lab-layout.js';
import { readLabState } from './lab-state.js';
import { withLabLock } from './lab-lock.js';
import { deleteNamespace, existingLabNamespaces, namespacePids } from './netns/network.js';

export interface LabDownOptions {
  name: string;
  baseDir?: string;
  /** Keep the log directory (everything else is removed). */
  keepLogs?: boolean;
  /** How long processes get after SIGTERM before SIGKILL. Default 3000 ms. */
  graceMs?: number;
}

export interface LabDownResult {
  name: string;
  /** False when there was nothing of this lab on the machine. */
  existed: boolean;
  processesEnded: number;
  namespacesDeleted: string[];
  stateDirRemoved: boolean;
  keptLogs?: string;
}

export async function labDown(io: LabIo, opts: LabDownOptions): Promise<LabDownResult> {
  checkLabName(opts.name);
  return withLabLock(io, opts.name, opts.baseDir, () => labDownLocked(io, opts));
}

/** labDown for a caller that holds the lab's lock already (lab up). */
export async function labDownLocked(io: LabIo, opts: LabDownOptions): Promise<LabDownResult> {
  const paths = labPaths(opts.name, opts.baseDir);
  const state = readLabState(opts.name, opts.baseDir);
  const namespaces = await existingLabNamespaces(io, opts.name);
  const existed = existsSync(paths.stateDir) || namespaces.length > 0;

  // Targets: recorded processes that are still the same processes, then anything in our namespaces.
  const targets = new Map<number, string>();
  for (const p of [...(state?.processes ?? [])].reverse()) {
    if (isAlive(io, p)) targets.set(p.pid, p.startTime);
  }
  for (const ns of namespaces) {
    for (const pid of await namespacePids(io, ns)) {
      const st = io.startTimeOf(pid);
      if (st !== undefined && pid !== process.pid) targets.set(pid, st);
    }
  }
  const live = (): number[] => [...targets].filter(([pid, st]) => io.startTimeOf(pid) === st).map(([pid]) => pid);

  for (const pid of live()) io.signal(pid, 'SIGTERM');
  const grace = opts.graceMs ?? 3000;
  for (let waited = 0; waited < grace && live().length; waited += 50) await io.sleep(50);
  for (const pid of live()) io.signal(pid, 'SIGKILL');
  for (let waited = 0; waited < 3000 && live().length; waited += 50) await io.sleep(50);

  // Processes started in the namespaces after the first sweep (a node agent restarting a pod).
  for (const ns of namespaces) {
    for (const pid of await namespacePids(io, ns)) {
      if (pid !== process.pid && io.signal(pid, 'SIGKILL')) targets.set(pid, io.startTimeOf(pid) ?? '');
    }
  }

  const deleted: string[] = [];
  for (const ns of namespaces) {
    await deleteNamespace(io, ns);
    deleted.push(ns);
  }

  let keptLogs: string | undefined;
  if (existsSync(paths.stateDir)) {
    if (opts.keepLogs && existsSync(paths.logDir)) {
      for (const entry of readdirSync(paths.stateDir)) {
        if (entry !== 'log') rmSync(join(paths.stateDir, entry), { recursive: true, force: true });
      }
      keptLogs = paths.logDir;
    } else {
      rmSync(paths.stateDir, { recursive: true, force: true });
    }
  }
  return {
    name: opts.name,
    existed,
    processesEnded: targets.size,
    namespacesDeleted: deleted,
    stateDirRemoved: !keptLogs && !existsSync(paths.stateDir),
    ...(keptLogs ? { keptLogs } : {}),
  };
}
