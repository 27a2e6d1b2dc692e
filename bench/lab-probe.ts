/**
 * Shared measurement helpers for the lab benchmarks (failover-vip, failover-service, create-time).
 * Not a benchmark itself: `npm run bench` runs every bench/*.ts, so run directly this file only
 * says so and exits.
 *
 * - machineInfo(): nproc, memory, kernel, load average (the machine is shared; record the load).
 * - startProbe(): ONE small node process in the lab's `client` namespace that starts a probe every
 *   20 ms (TCP connect, or HTTP GET with a fresh connection), each with its own timeout, and prints
 *   the start time of every probe that succeeded. Probes overlap, so one that hangs on a lost SYN
 *   does not hide the next one's success: the gap between two successful probe starts is the time
 *   during which a new request would have failed (resolution 20 ms).
 * - bmlbCreate(): `bmlb create cluster` from the TypeScript sources in the admin namespace.
 * - holdersOf(): which nodes have an address on eth0.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, freemem, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestLab } from '../test/helpers/lab.js';
import { runBmlb, shq } from '../test/helpers/bmlb-cli.js';


export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { shq as q };

export interface MachineInfo {
  nproc: number;
  memGiB: string;
  kernel: string;
  loadavg: string;
}

export function machineInfo(): MachineInfo {
  return {
    nproc: cpus().length,
    memGiB: `${(totalmem() / 2 ** 30).toFixed(1)} total, ${(freemem() / 2 ** 30).toFixed(1)} free`,
    kernel: release(),
    loadavg: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

export function envNumber(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${v} is not a non-negative number`);
  return n;
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function worst(xs: number[]): number {
  return xs.length ? Math.max(...xs) : NaN;
}

/** Prints a line and keeps it for the summary. */
export function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
}

/** A per-run scratch directory (workspace + HOME for the CLI); removed by cleanup(). */
export function scratch(tag: string): { dir: string; ws: string; home: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `bmlb-bench-${tag}-`));
  const ws = join(dir, 'ws');
  const home = join(dir, 'home');
  mkdirSync(ws);
  mkdirSync(home);
  return { dir, ws, home, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface CliRun {
  code: number;
  json: any;
  stderr: string;
  wallMs: number;
}

/** `bmlb create cluster -c FILE --json [extra]` from the sources, in the lab's admin namespace. */
export async function bmlbCli(lab: TestLab, s: { ws: string; home: string }, args: string[], timeoutMs = 600_000): Promise<CliRun> {
  const r = await runBmlb(lab, s, args, { from: 'src', timeoutMs });
  return { code: r.code, json: r.json, stderr: r.stderr, wallMs: r.wallMs };
}

/** Nodes (of `nodes`) whose eth0 holds `ip`. */
export async function holdersOf(lab: TestLab, nodes: string[], ip: string): Promise<string[]> {
  const rs = await Promise.all(nodes.map(async (n) => [n, (await lab.nodeExec(n, ['ip', '-j', 'addr', 'show', 'dev', 'eth0'])).stdout] as const));
  return rs.filter(([, out]) => out.includes(`"${ip}"`)).map(([n]) => n);
}

export function nsOf(lab: TestLab, node: string): string {
  const n = lab.status.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node}`);
  return n.namespace;
}

export function setLink(lab: TestLab, node: string, up: boolean): void {
  execFileSync('ip', ['-n', nsOf(lab, node), 'link', 'set', 'eth0', up ? 'up' : 'down']);
}

/** The probe process run in the client namespace: argv kind host port intervalMs timeoutMs [path]. */
const PROBE_SCRIPT = `
const net = require('node:net');
const http = require('node:http');
const [kind, host, port, every, timeout, path] = process.argv.slice(1);
const out = [];
const flush = () => { if (out.length) { process.stdout.write(out.join('')); out.length = 0; } };
setInterval(flush, 100);
function one() {
  const t = Date.now();
  let done = false;
  const finish = (ok) => { if (done) return; done = true; if (ok) out.push('S ' + t + '\\n'); };
  if (kind === 'tcp') {
    const s = net.connect({ host, port: Number(port) });
    s.setTimeout(Number(timeout), () => { finish(false); s.destroy(); });
    s.on('connect', () => { finish(true); s.destroy(); });
    s.on('error', () => finish(false));
  } else {
    const req = http.get({ host, port: Number(port), path: path || '/', agent: false, timeout: Number(timeout) }, (res) => {
      res.resume();
      res.on('end', () => finish(res.statusCode === 200));
      res.on('error', () => finish(false));
    });
    req.on('timeout', () => { finish(false); req.destroy(); });
    req.on('error', () => finish(false));
  }
}
setInterval(one, Number(every));
process.on('SIGTERM', () => { flush(); process.exit(0); });
`;

export interface Probe {
  /** Start times (ms since epoch) of successful probes, in order. */
  readonly successes: number[];
  /** Largest gap between consecutive successful probe starts inside [from, to] (ms). */
  maxGap(from: number, to: number): number;
  /** Time of the first success at or after t (undefined if none yet). */
  firstSuccessAfter(t: number): number | undefined;
  /** Count of gaps larger than `over` ms inside [from, to]. */
  gapsOver(over: number, from: number, to: number): number;
  stop(): void;
}

export function startProbe(lab: TestLab, opts: { kind: 'tcp' | 'http'; host: string; port: number; everyMs?: number; timeoutMs?: number; path?: string }): Probe {
  const child: ChildProcess = lab.spawn('client', ['node', '-e', PROBE_SCRIPT, opts.kind, opts.host, String(opts.port), String(opts.everyMs ?? 20), String(opts.timeoutMs ?? 1000), opts.path ?? '/'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const successes: number[] = [];
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('S ')) successes.push(Number(line.slice(2)));
    }
  });
  // Lines arrive in batches and overlapping probes finish out of order: sort before measuring.
  const sorted = (): number[] => [...successes].sort((a, b) => a - b);
  const inWindow = (from: number, to: number): number[] => {
    const s = sorted();
    // Include the last success before `from` so a gap straddling `from` counts.
    const before = s.filter((x) => x < from).at(-1);
    const inside = s.filter((x) => x >= from && x <= to);
    return before === undefined ? inside : [before, ...inside];
  };
  return {
    successes,
    maxGap(from, to) {
      const s = inWindow(from, to);
      let g = 0;
      for (let i = 1; i < s.length; i++) g = Math.max(g, s[i]! - s[i - 1]!);
      const last = s.at(-1);
      if (last !== undefined) g = Math.max(g, Math.min(to, Date.now()) - last);
      return g;
    },
    firstSuccessAfter(t) {
      return sorted().find((x) => x >= t);
    },
    gapsOver(over, from, to) {
      const s = inWindow(from, to);
      let n = 0;
      for (let i = 1; i < s.length; i++) if (s[i]! - s[i - 1]! > over) n++;
      return n;
    },
    stop() {
      if (child.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGTERM');
    },
  };
}

/** Waits until pred() is true (polled every `everyMs`), or `timeoutMs`; returns whether it became true. */
export async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const t0 = Date.now();
  for (;;) {
    if (await pred()) return true;
    if (Date.now() - t0 > timeoutMs) return false;
    await sleep(everyMs);
  }
}

/** A busy loop on one core in the host's own namespace (no network); end it by PID with stop(). */
export function startBusyLoop(spawnFn: (argv: string[]) => ChildProcess): { pid: number; stop(): void } {
  const c = spawnFn(['node', '-e', 'for (;;) {}']);
  return {
    pid: c.pid ?? -1,
    stop() {
      if (c.pid && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
    },
  };
}

export function fmtMs(x: number): string {
  return Number.isFinite(x) ? `${Math.round(x)} ms` : '—';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write('bench/lab-probe.ts holds helpers for the lab benchmarks; nothing to measure here.\n');
}
