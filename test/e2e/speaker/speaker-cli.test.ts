/**
 * `bmlb speaker` as a process: user errors come out as coded JSON with the right exit code, and
 * SIGTERM stops it cleanly (exit 0, a typed result) even while the API is unreachable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePacketAddon } from './addon.js';

const RUN_SPEAKER = fileURLToPath(new URL('./run-speaker.ts', import.meta.url));

function runJson(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; json: { status?: number; error?: { code: string; message: string; suggestions: string[] } } } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', RUN_SPEAKER, ...args, '--json'], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_NAME: '', ...env },
  });
  return { code: r.status, json: JSON.parse(r.stdout || '{}') };
}

test('GIVEN no node name WHEN the speaker starts THEN it refuses with NodeNameMissing and exit 2', () => {
  const r = runJson([]);
  assert.equal(r.code, 2);
  assert.equal(r.json.error?.code, 'NodeNameMissing');
  assert.match(r.json.error?.suggestions.join(' ') ?? '', /NODE_NAME/);
});

test('GIVEN an interface that does not exist WHEN the speaker starts THEN it says so before touching the API', () => {
  ensurePacketAddon();
  const r = runJson(['--node-name', 'lb1', '--interface', 'bmlbt-nosuch0']);
  assert.equal(r.code, 1);
  assert.equal(r.json.error?.code, 'PacketSocketFailed');
  assert.match(r.json.error?.message ?? '', /bmlbt-nosuch0/);
});

test('GIVEN the addon path points nowhere WHEN the speaker starts THEN PacketAddonMissing names the build command', () => {
  const r = runJson(['--node-name', 'lb1'], { BMLB_PACKET_ADDON: '/nonexistent/bmlb_packet.node' });
  assert.equal(r.code, 1);
  assert.equal(r.json.error?.code, 'PacketAddonMissing');
  assert.match(r.json.error?.suggestions.join(' ') ?? '', /node native\/build\.mjs/);
});

test('GIVEN a running speaker whose API is unreachable WHEN it gets SIGTERM THEN it exits 0 with its result', async (t) => {
  ensurePacketAddon();
  const dir = mkdtempSync(join(tmpdir(), 'bmlbt-spkcli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'x', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'x', user: { token: 'x' } }],
    contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }],
    'current-context': 'x',
  }));
  const child = spawn(process.execPath, ['--import', 'tsx', RUN_SPEAKER, '--node-name', 'lb1', '--kubeconfig', kubeconfig,
    '--interface', 'lo', '--metrics-port', '0', '--metrics-address', '127.0.0.1', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL'); });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const start = Date.now();
  while (!/metrics on :\d+/.test(err)) {
    if (Date.now() - start > 60_000) assert.fail(`speaker did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const port = /metrics on :(\d+)/.exec(err)?.[1];
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  assert.equal(ready.status, 503, 'not ready without a configuration');
  assert.deepEqual((await ready.json() as { reasons: string[] }).reasons.includes('no configuration yet'), true);
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, err);
  // oclif prints the command's typed result as the JSON document.
  assert.deepEqual(JSON.parse(out), { stopped: 'SIGTERM', node: 'lb1', announcedAtStop: [], failovers: 0 });
});
