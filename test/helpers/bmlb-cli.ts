/**
 * Runs one bmlb command with `--json` inside a lab's admin namespace, the way an operator would on
 * the admin workstation: its own working directory (the workspace) and, if given, its own HOME.
 *
 * from 'src':  the TypeScript sources through tsx (test/e2e/provision/bmlb-src.ts; command ids like
 *              `create/cluster`), so no build is needed for the CLI itself;
 * from 'dist': the built CLI, bin/run.js (command words like `create cluster`).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestLab } from './lab.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const TSX = `file://${root}node_modules/tsx/dist/loader.mjs`;
const SRC_CLI = join(root, 'test/e2e/provision/bmlb-src.ts');
const BIN = join(root, 'bin/run.js');

/** Single-quotes a word for sh. */
export function shq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export interface BmlbRun {
  code: number;
  /** The parsed JSON result, undefined when stdout was not JSON. */
  json: any;
  stdout: string;
  stderr: string;
  wallMs: number;
}

export interface BmlbRunOptions {
  from: 'src' | 'dist';
  timeoutMs?: number;
}

/** The shell words that start the CLI (for callers that want its human output). */
export function bmlbEntry(from: BmlbRunOptions['from']): string {
  return from === 'src' ? `node --import ${shq(TSX)} ${shq(SRC_CLI)}` : `node ${shq(BIN)}`;
}

export async function runBmlb(lab: TestLab, dirs: { ws: string; home?: string }, args: string[], opts: BmlbRunOptions): Promise<BmlbRun> {
  const entry = bmlbEntry(opts.from);
  const home = dirs.home ? `HOME=${shq(dirs.home)} ` : '';
  const cmd = `cd ${shq(dirs.ws)} && ${home}exec ${entry} ${args.map(shq).join(' ')} --json </dev/null`;
  const t0 = Date.now();
  const r = await lab.exec('admin', ['sh', '-c', cmd], { timeoutMs: opts.timeoutMs ?? 240_000 });
  let json: any;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { code: r.code, json, stdout: r.stdout, stderr: r.stderr, wallMs: Date.now() - t0 };
}

/** runBmlb, failing the test when the command printed no JSON. */
export async function bmlbJson(lab: TestLab, dirs: { ws: string; home?: string }, args: string[], opts: BmlbRunOptions): Promise<{ code: number; json: any; stderr: string }> {
  const r = await runBmlb(lab, dirs, args, opts);
  if (r.json === undefined) assert.fail(`bmlb ${args.join(' ')} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return { code: r.code, json: r.json, stderr: r.stderr };
}
