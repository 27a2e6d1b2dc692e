// CLI tests of `bmlb check config` and `bmlb create config`: spawn the built CLI (npm run build).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin', 'run.js');
const work = mkdtempSync(join(tmpdir(), 'bmlbt-config-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

function bmlb(args: string[], cwd = root) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, BMLB_DEBUG: '' }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function json(out: string): any {
  return JSON.parse(out);
}

test('GIVEN the built CLI WHEN asked for help THEN bmlb --help and check config --help work', () => {
  const a = bmlb(['--help']);
  assert.equal(a.code, 0, a.stderr);
  const b = bmlb(['check', 'config', '--help']);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /--cluster/);
});

test('GIVEN every sample WHEN checked with --json THEN exit 0 and {valid: true}', () => {
  for (const f of readdirSync(join(root, 'cluster-samples')).filter((x) => x.endsWith('.yaml'))) {
    const r = bmlb(['check', 'config', '-c', `cluster-samples/${f}`, '--json']);
    assert.equal(r.code, 0, `${f}: ${r.stdout}${r.stderr}`);
    const out = json(r.stdout);
    assert.deepEqual(Object.keys(out).sort(), ['errors', 'file', 'notices', 'valid']);
    assert.equal(out.valid, true);
    assert.equal(out.file, join(root, 'cluster-samples', f));
    assert.deepEqual(out.errors, []);
  }
});

test('GIVEN an invalid file WHEN checked with --json THEN exit 1 and every error has code, path, line, column, message, suggestion', () => {
  const r = bmlb(['check', 'config', '-c', 'test/fixtures/config/invalid/pool-overlap-across.yaml', '--json']);
  assert.equal(r.code, 1, r.stderr);
  const out = json(r.stdout);
  assert.equal(out.valid, false);
  assert.ok(out.errors.length >= 1);
  for (const e of out.errors) {
    for (const k of ['code', 'path', 'line', 'column', 'message', 'suggestion']) assert.ok(k in e, `missing ${k}`);
  }
  const e = out.errors.find((x: any) => x.code === 'PoolOverlap');
  assert.equal(e.path, 'spec.loadBalancer.addressPools[1].addresses[0]');
  assert.deepEqual(e.values, ['198.51.100.232/29', '198.51.100.200-198.51.100.239']);
});

test('GIVEN an invalid file WHEN checked without --json THEN each error prints as file:line:col path message plus a fix line', () => {
  const r = bmlb(['check', 'config', '-c', 'test/fixtures/config/invalid/unknown-field-addresspools-typo.yaml']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^test\/fixtures\/config\/invalid\/unknown-field-addresspools-typo\.yaml:\d+:5 {2}spec\.loadBalancer\.addresPools {2}unknown field "addresPools".*\[UnknownField\]$/m);
  assert.match(r.stdout, /^ {4}fix: Did you mean "addressPools"\? Rename the field\.$/m);
  assert.match(r.stdout, /invalid, \d+ errors?$/m);
  assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, 'stack trace printed');
});

test('GIVEN usage mistakes WHEN check config runs THEN exit 2', () => {
  assert.equal(bmlb(['check', 'config']).code, 2);
  assert.equal(bmlb(['check', 'config', '--no-such-flag']).code, 2);
  assert.equal(bmlb(['check', 'config', '-c', 'Not A Name']).code, 2);
  const j = bmlb(['check', 'config', '--json']);
  assert.equal(j.code, 2);
  assert.equal(json(j.stdout).error.code, 'UsageError');
});

test('GIVEN a missing file WHEN checked THEN exit 1 with ConfigNotFound and the create config hint', () => {
  const r = bmlb(['check', 'config', '-c', 'nosuchcluster', '--json'], work);
  assert.equal(r.code, 1);
  const out = json(r.stdout);
  assert.equal(out.error.code, 'ConfigNotFound');
  assert.match(out.error.suggestions.join(' '), /bmlb create config -c nosuchcluster/);
});

test('GIVEN a workspace WHEN create config runs THEN it writes the sample, refuses to overwrite, and --force overwrites', () => {
  const r = bmlb(['create', 'config', '-c', 'demo'], work);
  assert.equal(r.code, 0, r.stderr);
  const file = join(work, 'bmlb-workspace', 'demo', 'demo.yaml');
  assert.ok(existsSync(file));
  assert.ok(r.stdout.includes(file), 'the path is printed');
  const again = bmlb(['create', 'config', '-c', 'demo', '--json'], work);
  assert.equal(again.code, 1);
  assert.equal(json(again.stdout).error.code, 'ConfigExists');
  writeFileSync(file, 'edited\n');
  const forced = bmlb(['create', 'config', '-c', 'demo', '--force', '--json'], work);
  assert.equal(forced.code, 0, forced.stderr);
  assert.deepEqual(json(forced.stdout), { file, overwritten: true });
  assert.notEqual(readFileSync(file, 'utf8'), 'edited\n');
  assert.equal(bmlb(['create', 'config'], work).code, 2);
  assert.equal(bmlb(['create', 'config', '-c', 'Bad_Name'], work).code, 2);
});

test('GIVEN the written sample WHEN checked as is THEN placeholders are refused; once filled in THEN it passes', () => {
  const dir = mkdtempSync(join(work, 'ws-'));
  assert.equal(bmlb(['create', 'config', '-c', 'edge'], dir).code, 0);
  const file = join(dir, 'bmlb-workspace', 'edge', 'edge.yaml');
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^# yaml-language-server: \$schema=.*schema\/cluster\.schema\.json$/m);
  const first = bmlb(['check', 'config', '-c', 'edge', '--json'], dir);
  assert.equal(first.code, 1);
  const errs = json(first.stdout).errors;
  assert.ok(errs.length >= 4 && errs.every((e: any) => e.code === 'PlaceholderValue'), JSON.stringify(errs));
  const filled = text
    .replace('<path to the SSH private key that logs in to the nodes>', '/root/.ssh/id_ed25519')
    .replace('<control-plane node 1 address>', '198.51.100.11')
    .replace('<control-plane VIP>', '198.51.100.10')
    .replace('<ingress VIP>', '198.51.100.200')
    .replace('<first address>-<last address>', '198.51.100.200-198.51.100.239');
  writeFileSync(file, filled);
  const second = bmlb(['check', 'config', '-c', 'edge', '--json'], dir);
  assert.equal(second.code, 0, second.stdout);
  assert.equal(json(second.stdout).valid, true);
});
