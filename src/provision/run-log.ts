/**
 * The per-run log directory: `bmlb-workspace/NAME/log/<op>-<timestamp>/`, one `<node>.log` per
 * node with every remote command, its exit code and output, plus `run.log` for local steps.
 * Appends are synchronous so a crash leaves everything written so far.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface RunLog {
  /** Absolute directory of this run's logs (undefined for the discarding log). */
  readonly dir: string | undefined;
  /** Append text to `<node>.log` (node = address; `run` for local steps). */
  append(node: string, text: string): void;
}

function stamp(d: Date): string {
  // 2026-11-22T03-07-34Z: sortable, no colons (safe on every file system).
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
}

export function openRunLog(workspaceDir: string, op: string, now: Date = new Date()): RunLog {
  const dir = join(workspaceDir, 'log', `${op}-${stamp(now)}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return {
    dir,
    append(node, text) {
      const safe = node.replace(/[^A-Za-z0-9._:-]/g, '_');
      appendFileSync(join(dir, `${safe}.log`), text.endsWith('\n') ? text : text + '\n', { mode: 0o600 });
    },
  };
}

export const discardLog: RunLog = { dir: undefined, append() {} };

export function logLine(when: Date = new Date()): string {
  return when.toISOString();
}
