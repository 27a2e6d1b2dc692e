/**
 * NodeApplier over real SSH (sshd on 127.0.0.1, files under a temp dir standing in for three
 * nodes' file systems): writes, idempotent reruns, and rollback after a node fails mid-write.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { HostKeyStore } from '../../../src/provision/ssh/host-key-store.js';
import { PrivateKey } from '../../../src/provision/ssh/private-key.js';
import { SshPool } from '../../../src/provision/ssh/ssh-pool.js';
import { openRunLog } from '../../../src/provision/run-log.js';
import { NodeApplier, NodeStepError } from '../../../src/provision/create/node-applier.js';
import type { DesiredFile } from '../../../src/provision/create/node-plan.js';
import { mapSettled } from '../../../src/provision/parallel.js';
import { startSshd, type Sshd } from './sshd-fixture.js';

describe('NodeApplier over SSH', () => {
  let sshd: Sshd;
  let work: string;
  let pool: SshPool;

  before(async () => {
    sshd = await startSshd();
    work = mkdtempSync(join(tmpdir(), 'bmlbt-provision-apply-'));
    const ed = sshd.hostKeys.ed25519;
    assert.ok(ed);
    const kh = join(work, 'known_hosts');
    writeFileSync(kh, `[127.0.0.1]:${sshd.port} ssh-ed25519 ${ed.base64}\n`);
    pool = new SshPool({
      key: PrivateKey.load(sshd.clientKeyPath),
      hostKeys: new HostKeyStore({ files: [kh], workspaceFile: join(work, 'ws_known_hosts'), acceptNew: false }),
      log: openRunLog(join(work, 'ws'), 'test'),
      user: 'root',
      port: sshd.port,
      attempts: 1,
    });
  });
  after(async () => {
    pool.close();
    await new Promise((r) => setTimeout(r, 100));
    await sshd.stop();
    rmSync(work, { recursive: true, force: true });
  });

  function nodeFiles(root: string, version: string): DesiredFile[] {
    return [
      { path: join(root, 'etc/bmlb/keepalived/keepalived.conf'), mode: 0o644, content: `keepalived ${version}\n` },
      { path: join(root, 'etc/bmlb/haproxy/haproxy.cfg'), mode: 0o644, content: `haproxy ${version}\n` },
      { path: join(root, 'etc/kubernetes/manifests/keepalived.yaml'), mode: 0o600, content: `pod keepalived ${version}\n` },
      { path: join(root, 'etc/kubernetes/manifests/haproxy.yaml'), mode: 0o600, content: `pod haproxy ${version}\n` },
    ];
  }

  it('GIVEN an empty node WHEN applied twice THEN the first run writes every file with its mode and the second changes nothing', async () => {
    const root = join(work, 'fresh');
    const shell = await pool.get('127.0.0.1');
    const a1 = new NodeApplier(shell, nodeFiles(root, 'v1'), {}, 'run1', join(root, 'backup'));
    await a1.prepare();
    assert.equal(a1.needsApply, true);
    const out = await a1.apply();
    assert.equal(out.written.length, 4);
    assert.equal(readFileSync(join(root, 'etc/bmlb/haproxy/haproxy.cfg'), 'utf8'), 'haproxy v1\n');
    assert.equal(statSync(join(root, 'etc/kubernetes/manifests/haproxy.yaml')).mode & 0o777, 0o600);
    const mtime = statSync(join(root, 'etc/bmlb/haproxy/haproxy.cfg')).mtimeMs;

    const a2 = new NodeApplier(shell, nodeFiles(root, 'v1'), {}, 'run2', join(root, 'backup'));
    const plan = await a2.prepare();
    assert.equal(plan.changed, false);
    assert.equal(a2.needsApply, false);
    const out2 = await a2.apply();
    assert.deepEqual(out2.written, []);
    assert.equal(statSync(join(root, 'etc/bmlb/haproxy/haproxy.cfg')).mtimeMs, mtime, 'unchanged file not rewritten');
    assert.equal(existsSync(join(root, 'backup', 'run2')), false, 'no backup when nothing changes');
  });

  it('GIVEN three nodes, one of which cannot take its manifests WHEN applied in parallel and rolled back THEN the failure names node and step and every node has its previous files again', async () => {
    const shell = await pool.get('127.0.0.1');
    const roots = ['n1', 'n2', 'n3'].map((n) => join(work, 'multi', n));
    // n1 and n2 were configured before (v1); n3 is fresh.
    for (const r of roots.slice(0, 2)) {
      for (const f of nodeFiles(r, 'v1')) {
        mkdirSync(join(f.path, '..'), { recursive: true });
        writeFileSync(f.path, f.content, { mode: f.mode });
      }
    }
    // n2's manifest directory is replaced by a plain file: writing a manifest there fails.
    const n2Manifests = join(roots[1] ?? '', 'etc/kubernetes/manifests');
    rmSync(n2Manifests, { recursive: true, force: true });
    writeFileSync(n2Manifests, 'not a directory');

    const appliers = roots.map((r) => new NodeApplier(shell, nodeFiles(r, 'v2'), {}, 'run3', join(r, 'backup')));
    for (const a of appliers) await a.prepare();
    const results = await mapSettled(appliers, 10, (a) => a.apply());
    assert.equal(results[0]?.ok, true);
    assert.equal(results[2]?.ok, true);
    const failed = results[1];
    assert.ok(failed && !failed.ok);
    const err = failed.error;
    assert.ok(err instanceof NodeStepError);
    assert.equal(err.address, '127.0.0.1');
    assert.equal(err.step, `write ${join(n2Manifests, 'keepalived.yaml')}`);
    assert.match(err.stderr, /Not a directory|File exists/);
    // n2 had its configs updated to v2 before failing.
    assert.equal(readFileSync(join(roots[1] ?? '', 'etc/bmlb/haproxy/haproxy.cfg'), 'utf8'), 'haproxy v2\n');

    const rb = await Promise.all(appliers.map((a) => a.rollback()));
    assert.deepEqual(rb[0]?.restored.length, 4);
    assert.deepEqual(rb[1], { restored: [join(roots[1] ?? '', 'etc/bmlb/haproxy/haproxy.cfg'), join(roots[1] ?? '', 'etc/bmlb/keepalived/keepalived.conf')], removed: [join(n2Manifests, 'keepalived.yaml')] });
    assert.equal(rb[2]?.removed.length, 4);
    for (const r of roots.slice(0, 2)) {
      assert.equal(readFileSync(join(r, 'etc/bmlb/keepalived/keepalived.conf'), 'utf8'), 'keepalived v1\n');
      assert.equal(readFileSync(join(r, 'etc/bmlb/haproxy/haproxy.cfg'), 'utf8'), 'haproxy v1\n');
      assert.equal(statSync(join(r, 'etc/bmlb/haproxy/haproxy.cfg')).mode & 0o777, 0o644);
    }
    assert.equal(readFileSync(join(roots[0] ?? '', 'etc/kubernetes/manifests/haproxy.yaml'), 'utf8'), 'pod haproxy v1\n');
    assert.equal(statSync(join(roots[0] ?? '', 'etc/kubernetes/manifests/haproxy.yaml')).mode & 0o777, 0o600);
    for (const f of nodeFiles(roots[2] ?? '', 'v2')) assert.equal(existsSync(f.path), false, `${f.path} removed on the fresh node`);
  });
  it('GIVEN a configured node whose manifest cannot be replaced WHEN apply fails there and is rolled back THEN the configs written before are restored and the untouched manifest is left alone', async () => {
    const shell = await pool.get('127.0.0.1');
    const root = join(work, 'immutable');
    for (const f of nodeFiles(root, 'v1')) {
      mkdirSync(join(f.path, '..'), { recursive: true });
      writeFileSync(f.path, f.content, { mode: f.mode });
    }
    // Root ignores permission bits; the immutable attribute makes the rename over it fail (EPERM).
    const manifest = join(root, 'etc/kubernetes/manifests/keepalived.yaml');
    execFileSync('chattr', ['+i', manifest]);
    try {
      const a = new NodeApplier(shell, nodeFiles(root, 'v2'), {}, 'run4', join(root, 'backup'));
      await a.prepare();
      await assert.rejects(a.apply(), (e: unknown) => e instanceof NodeStepError && e.step === `write ${manifest}`);
      assert.equal(readFileSync(join(root, 'etc/bmlb/keepalived/keepalived.conf'), 'utf8'), 'keepalived v2\n', 'configs were written before the failure');
      const rb = await a.rollback();
      assert.deepEqual(rb.restored.sort(), [join(root, 'etc/bmlb/haproxy/haproxy.cfg'), join(root, 'etc/bmlb/keepalived/keepalived.conf'), manifest].sort());
      assert.equal(readFileSync(join(root, 'etc/bmlb/keepalived/keepalived.conf'), 'utf8'), 'keepalived v1\n');
      assert.equal(readFileSync(join(root, 'etc/bmlb/haproxy/haproxy.cfg'), 'utf8'), 'haproxy v1\n');
      assert.equal(readFileSync(manifest, 'utf8'), 'pod keepalived v1\n');
    } finally {
      execFileSync('chattr', ['-i', manifest]);
    }
  });
});
