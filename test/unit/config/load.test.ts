import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkClusterFile, loadClusterConfig, resolveClusterFile } from '../../../src/config/load.js';
import { isUserError, type UserError } from '../../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'bmlbt-config-load-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const labSample = new URL('../../../cluster-samples/lab.yaml', import.meta.url).pathname;

async function rejects(p: Promise<unknown>, code: string): Promise<UserError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isUserError(e), `not a UserError: ${String(e)}`);
    assert.equal(e.code, code);
    return e;
  }
  assert.fail(`expected ${code}`);
}

test('GIVEN names and paths WHEN resolved THEN a bare name means the workspace file and anything else a path', () => {
  assert.equal(resolveClusterFile('lab', '/w'), '/w/bmlb-workspace/lab/lab.yaml');
  assert.equal(resolveClusterFile('lab.yaml', '/w'), '/w/lab.yaml');
  assert.equal(resolveClusterFile('conf/lab.yml', '/w'), '/w/conf/lab.yml');
  assert.equal(resolveClusterFile('./lab', '/w'), '/w/lab');
  assert.equal(resolveClusterFile('/etc/bmlb/c.yaml', '/w'), '/etc/bmlb/c.yaml');
  for (const bad of ['Lab', 'my cluster', '-x']) {
    assert.throws(() => resolveClusterFile(bad, '/w'), (e: unknown) => isUserError(e) && e.code === 'ClusterNameInvalid' && e.exitCode === 2, bad);
  }
  assert.throws(() => resolveClusterFile('', '/w'), (e: unknown) => isUserError(e) && e.exitCode === 2);
});

test('GIVEN a workspace file WHEN loaded by name THEN the config and notices come back', async () => {
  mkdirSync(join(dir, 'bmlb-workspace', 'lab'), { recursive: true });
  copyFileSync(labSample, join(dir, 'bmlb-workspace', 'lab', 'lab.yaml'));
  const { config, notices } = await loadClusterConfig('lab', dir);
  assert.equal(config.name, 'lab');
  assert.equal(config.sourcePath, join(dir, 'bmlb-workspace', 'lab', 'lab.yaml'));
  assert.deepEqual(notices.map((n) => n.path), ['spec.profile', 'spec.anthosBareMetalVersion']);
});

test('GIVEN a missing, unreadable or invalid file WHEN loaded THEN a UserError says what to do', async () => {
  const missing = await rejects(loadClusterConfig('nope', dir), 'ConfigNotFound');
  assert.match(missing.suggestions.join(' '), /bmlb create config -c nope/);
  await rejects(loadClusterConfig(dir + '/', dir), 'ConfigUnreadable');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'sshPrivateKeyPath: /k\nfoo: 1\n');
  const e = await rejects(loadClusterConfig(bad, dir), 'ConfigInvalid');
  assert.equal(e.exitCode, 1);
  assert.match(e.message, /2 errors/);
  assert.match(e.suggestions[0]!, /bmlb check config -c /);
  const data = e.data as { file: string; errors: { code: string }[] };
  assert.equal(data.file, bad);
  assert.deepEqual(data.errors.map((x) => x.code).sort(), ['MissingDocument', 'UnknownField']);
  const checked = await checkClusterFile(bad, dir);
  assert.equal(checked.valid, false);
  assert.equal(checked.errors.length, 2);
});
