/**
 * The lab's only contact with the operating system's processes: run a command to completion,
 * start a long-lived daemon (detached, output to a log file), identify and signal a process by PID.
 * Orchestration code receives a `LabIo`; `systemLabIo` is the real one.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { UserError } from '../errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface DaemonOptions {
  /** stdout and stderr go here (appended). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** A process as the lab recorded it: PID plus its start time, so a reused PID is never signalled. */
export interface ProcessIdentity {
  pid: number;
  startTime: string;
}

export interface LabIo {
  run(argv: string[], opts?: RunOptions): Promise<RunResult>;
  startDaemon(argv: string[], opts: DaemonOptions): Promise<ProcessIdentity>;
  /** The start time of a live (non-zombie) process, or undefined when it is gone. */
  startTimeOf(pid: number): string | undefined;
  /** Send a signal; false when the process no longer exists. */
  signal(pid: number, sig: NodeJS.Signals): boolean;
  sleep(ms: number): Promise<void>;
}

function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd ?? '/',
      timeout: opts.timeoutMs ?? 30_000,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => resolve({ code: 127, stdout: '', stderr: `${cmd}: ${e.message}` }));
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? 128 + (signal ? 9 : 0),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString() + (signal ? `\n(killed by ${signal})` : ''),
      }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

function startTimeOf(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  if (state === 'Z' || state === 'X') return undefined;
  return rest[19]; // field 22: starttime in clock ticks since boot
}

async function startDaemon(argv: string[], opts: DaemonOptions): Promise<ProcessIdentity> {
  const fd = openSync(opts.logFile, 'a');
  try {
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { detached: true, stdio: ['ignore', fd, fd], env: opts.env ?? process.env, cwd: opts.cwd ?? '/' });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (e) =>
        reject(new UserError(`could not start ${cmd}: ${e.message}`, { code: 'LabCommandMissing', suggestions: ['Run `bash scripts/setup.sh` to install what the lab needs.'] })),
      );
    });
    child.unref();
    const startTime = startTimeOf(pid);
    return { pid, startTime: startTime ?? 'gone' };
  } finally {
    closeSync(fd);
  }
}

export const systemLabIo: LabIo = {
  run,
  startDaemon,
  startTimeOf,
  signal(pid, sig) {
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false;
    }
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** True when the recorded process is still the same live process. */
export function isAlive(io: LabIo, p: ProcessIdentity): boolean {
  return io.startTimeOf(p.pid) === p.startTime;
}

/** Run and require exit status 0; otherwise a UserError naming the command and its stderr. */
export async function mustRun(io: LabIo, argv: string[], what: string, opts?: RunOptions): Promise<string> {
  const r = await io.run(argv, opts);
  if (r.code !== 0) {
    throw new UserError(`lab: ${what} failed (exit ${r.code}): ${argv.join(' ')}: ${r.stderr.trim() || r.stdout.trim()}`, {
      code: 'LabSetupFailed',
      suggestions: ['Run `bash scripts/setup.sh` to install the lab packages, then `bmlb lab down` and `bmlb lab up` again.'],
    });
  }
  return r.stdout;
}

/**
 * Like Promise.all, but waits for every task to settle before rethrowing the first failure, so no
 * task is still starting processes while the caller cleans up after the failure.
 */
export async function settleAll<T>(tasks: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
