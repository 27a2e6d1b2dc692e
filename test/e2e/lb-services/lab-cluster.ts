/**
 * Small helpers for the LoadBalancer Service e2e test: run the built CLI (`bin/run.js`, i.e. dist/)
 * in the lab's admin namespace, talk to the API with kubectl from there, and read what the client
 * sees on the segment (arping replies, neighbour entries). Nothing here touches the host's own
 * network namespace.
 */
import assert from 'node:assert/strict';
import type { TestLab } from '../../helpers/lab.js';
import { bmlbJson as runBmlbJson, shq as q } from '../../helpers/bmlb-cli.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `bmlb ARGS --json` (the built CLI) in admin, with its own working directory and HOME. */
export async function bmlbJson(lab: TestLab, dirs: { ws: string; home: string }, args: string[], timeoutMs = 240_000): Promise<{ code: number; json: any; stderr: string }> {
  return await runBmlbJson(lab, dirs, args, { from: 'dist', timeoutMs });
}

/** Polls `probe` every `everyMs` until it returns a value (not undefined) or `ms` pass; fails with `what` and the last seen state. */
export async function waitUntil<T>(what: string, ms: number, probe: () => Promise<{ value?: T; seen: string }>, everyMs = 300): Promise<T> {
  const t0 = Date.now();
  let seen = '';
  for (;;) {
    const r = await probe();
    if (r.value !== undefined) return r.value;
    seen = r.seen;
    if (Date.now() - t0 > ms) assert.fail(`${what} within ${ms / 1000} s; last seen: ${seen}`);
    await sleep(everyMs);
  }
}

/** MACs of the replies `arping -c count` got from the client (lower case, one per reply). */
export async function arpingFromClient(lab: TestLab, ip: string, count = 3): Promise<{ macs: string[]; out: string }> {
  const r = await lab.exec('client', ['arping', '-c', String(count), '-w', String(count + 2), '-I', 'eth0', ip], { timeoutMs: (count + 6) * 1000 });
  const macs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^Unicast reply from \S+ \[([0-9A-Fa-f:]{17})\]/.exec(line.trim());
    if (m?.[1]) macs.push(m[1].toLowerCase());
  }
  return { macs, out: r.stdout + r.stderr };
}

/** The client's IPv6 neighbour entry for `ip` (its lladdr, lower case), if any. */
export async function clientNeighbour6(lab: TestLab, ip: string): Promise<{ mac?: string; out: string }> {
  const r = await lab.exec('client', ['ip', '-6', 'neigh', 'show', ip, 'dev', 'eth0']);
  const m = /lladdr ([0-9a-f:]{17})/i.exec(r.stdout);
  return { mac: m?.[1]?.toLowerCase(), out: r.stdout + r.stderr };
}

/** `curl` from the client; the body on success. */
export async function httpFromClient(lab: TestLab, url: string): Promise<{ ok: boolean; body: string; out: string }> {
  const r = await lab.exec('client', ['curl', '-gs', '-m', '2', url], { timeoutMs: 8000 });
  return { ok: r.code === 0, body: r.stdout.trim(), out: `exit ${r.code} ${r.stdout} ${r.stderr}` };
}
