/**
 * Starts one container of a pod as a process. With bind mounts, the process gets a private mount
 * namespace (`unshare --mount --propagation slave`) in which a tiny sh script binds each volume
 * directory onto its mountPath and then execs the container's argv, so its PID is the container's.
 * Each container is its own process group (like a container's cgroup): signals go to the whole
 * group, and whatever is left of the group when the main process exits is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import type { ContainerPlan, Mount } from './pod-plan.js';

/** `$1`=source `$2`=target [`$3`=ro|rw] triples up to `--`, then the argv to exec. */
const MOUNT_SCRIPT = [
  'set -e',
  'while [ "$1" != "--" ]; do',
  '  if [ -d "$1" ]; then mkdir -p "$2"; else mkdir -p "$(dirname "$2")"; [ -e "$2" ] || : > "$2"; fi',
  '  mount --bind "$1" "$2"',
  '  if [ "$3" = ro ]; then mount -o remount,bind,ro "$2"; fi',
  '  shift 3',
  'done',
  'shift',
  'exec "$@"',
].join('\n');

/** The argv that runs the container's argv with its mounts (pure). */
export function launchArgv(argv: string[], mounts: Mount[]): string[] {
  if (mounts.length === 0) return argv;
  const pairs = mounts.flatMap((m) => [m.source, m.target, m.readOnly ? 'ro' : 'rw']);
  return ['unshare', '--mount', '--propagation', 'slave', '--', '/bin/sh', '-c', MOUNT_SCRIPT, 'bmlb-mounts', ...pairs, '--', ...argv];
}

export interface StartedContainer {
  child: ChildProcess;
  pid: number;
  startedAt: Date;
  /** Resolves with the exit code (128+signal for a signal) when the process ends. */
  exited: Promise<{ code: number; signal: NodeJS.Signals | null }>;
}

export function startContainer(plan: ContainerPlan, logFile: string): StartedContainer {
  const argv = launchArgv(plan.argv, plan.mounts);
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), {
      env: plan.env,
      cwd: plan.workingDir || '/',
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<{ code: number; signal: NodeJS.Signals | null }>((resolve) => {
    let done = false;
    child.on('error', () => { if (!done) { done = true; resolve({ code: 127, signal: null }); } });
    child.on('exit', (code, signal) => {
      if (done) return;
      done = true;
      if (child.pid) signalContainer(child.pid, 'SIGKILL'); // leftovers of the group, as a container runtime would
      resolve({ code: code ?? (signal ? 128 + (signalNumber(signal)) : 1), signal });
    });
  });
  return { child, pid: child.pid ?? -1, startedAt: new Date(), exited };
}

/** Signals a container's process group (falls back to the process alone). Never throws. */
export function signalContainer(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try { process.kill(pid, signal); } catch { /* gone */ }
  }
}

function signalNumber(s: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[s] ?? 0;
}
