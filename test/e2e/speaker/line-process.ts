/** A child process that answers each stdin line with one JSON line on stdout (see announcer-host.ts). */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LineProcess {
  child: ChildProcess;
  /** The next JSON line (the first one is the readiness line). */
  next(timeoutMs?: number): Promise<Record<string, unknown>>;
  ask(line: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stderr(): string;
}

export function lineProcess(child: ChildProcess): LineProcess {
  const queue: Record<string, unknown>[] = [];
  const waiters: ((v: Record<string, unknown>) => void)[] = [];
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let v: Record<string, unknown>;
    try { v = JSON.parse(line) as Record<string, unknown>; } catch { return; }
    const w = waiters.shift();
    if (w) w(v); else queue.push(v);
  });
  const next = (timeoutMs = 15_000): Promise<Record<string, unknown>> => {
    const v = queue.shift();
    if (v) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms; stderr:\n${err}`)), timeoutMs);
      waiters.push((x) => { clearTimeout(t); resolve(x); });
    });
  };
  return {
    child,
    next,
    ask(line, timeoutMs) {
      child.stdin?.write(`${line}\n`);
      return next(timeoutMs);
    },
    stderr: () => err,
  };
}
