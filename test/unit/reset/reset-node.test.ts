/**
 * resetNode against a real shell on this machine, with every path of ResetPaths inside a temp dir
 * (a stand-in node file system, /proc/sys included) and a real process named keepalived whose pid
 * file is in the node's run dir. A tiny kubelet stand-in stops that process (by its PID) once its
 * manifest is gone, as kubelet does with static pods.
 */
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ExecResult, NodeShell, RunOptions } from '../../../src/provision/ssh/ssh-connection.js';
import { resetNode } from '../../../src/provision/reset/reset-node.js';
import type { ResetPaths } from '../../../src/provision/reset/reset-plan.js';

/** NodeShell over `sh -c` on this machine (what SSH gives on a node). */
class LocalShell implements NodeShell {
  readonly address = '127.0.0.1';
  commands: string[] = [];
  run(command: string, _opts?: RunOptions): Promise<ExecResult> {
    this.commands.push(command);
    return new Promise((resolve) => {
      execFile('sh', ['-c', command], { encoding: 'utf8' }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      });
    });
  }
  async readFile(path: string): Promise<Buffer | undefined> {
    return existsSync(path) ? readFileSync(path) : undefined;
  }
  async writeFile(path: string, content: string | Buffer, mode: number): Promise<void> {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content, { mode });
  }
}

const VIP = '198.51.100.10';
const PORT = 1; // nothing listens here

describe('resetNode on a stand-in node file system', () => {
  let root: string;
  let paths: ResetPaths;
  let keepalived: ChildProcess | undefined;
  let kubelet: NodeJS.Timeout | undefined;
  const roots: string[] = [];

  function write(path: string, content: string): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'bmlbt-reset-node-'));
    roots.push(root);
    const r = (p: string): string => join(root, p);
    paths = {
      manifests: [r('etc/kubernetes/manifests/keepalived.yaml'), r('etc/kubernetes/manifests/haproxy.yaml')],
      dirs: [r('etc/bmlb'), r('run/bmlb'), r('var/lib/bmlb')],
      sysctlFile: r('etc/sysctl.d/60-bmlb.conf'),
      sysctlConfDirs: [r('usr/lib/sysctl.d'), r('etc/sysctl.d')],
      sysctlConf: r('etc/sysctl.conf'),
      procSys: r('proc/sys'),
      keepalivedPid: r('run/bmlb/keepalived.pid'),
    };
    // What create cluster leaves on a node.
    write(paths.manifests[0]!, 'metadata:\n  labels:\n    app.kubernetes.io/part-of: bmlb\n');
    write(paths.manifests[1]!, 'metadata:\n  labels:\n    app.kubernetes.io/part-of: bmlb\n');
    write(r('etc/kubernetes/manifests/kube-apiserver.yaml'), 'not bmlb\n');
    write(r('etc/bmlb/keepalived/keepalived.conf'), 'vrrp_instance x {}\n');
    write(r('etc/bmlb/haproxy/haproxy.cfg'), 'global\n');
    write(r('var/lib/bmlb/backup/2026-11-22T03-00-00-000Z/etc/bmlb/haproxy/haproxy.cfg'), 'old\n');
    write(paths.sysctlFile, '# Written by bmlb\nnet.ipv4.ip_nonlocal_bind = 1\n');
    write(r('usr/lib/sysctl.d/50-default.conf'), 'net.ipv4.ip_forward = 1\n');
    write(r('proc/sys/net/ipv4/ip_nonlocal_bind'), '1\n');
    write(r('proc/sys/net/ipv6/ip_nonlocal_bind'), '0\n');
    // A process really named keepalived, with its pid file where bmlb's static pod puts it.
    const bin = r('bin/keepalived');
    mkdirSync(dirname(bin), { recursive: true });
    copyFileSync('/bin/sleep', bin);
    execFile('chmod', ['755', bin]);
  });

  function startKeepalived(stopWhenManifestGone: boolean): void {
    keepalived = spawn(join(root, 'bin/keepalived'), ['300'], { stdio: 'ignore' });
    write(paths.keepalivedPid, `${keepalived.pid}\n`);
    if (stopWhenManifestGone) {
      const k = keepalived;
      kubelet = setInterval(() => {
        if (!existsSync(paths.manifests[0]!) && k.pid && k.exitCode === null) k.kill('SIGTERM');
      }, 100);
    }
  }

  afterEach(() => {
    if (kubelet) clearInterval(kubelet);
    kubelet = undefined;
    if (keepalived && keepalived.exitCode === null && keepalived.signalCode === null) keepalived.kill('SIGKILL');
    keepalived = undefined;
  });
  after(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  it('GIVEN a node after create cluster WHEN reset THEN manifests go first, the pods are awaited, then bmlb files, the sysctl file and the value; foreign files stay', async () => {
    startKeepalived(true);
    await new Promise((r) => setTimeout(r, 200));
    const shell = new LocalShell();
    const progress: string[] = [];
    const res = await resetNode(async () => shell, '127.0.0.1', { paths, vip: VIP, port: PORT, waitMs: 10_000, pollMs: 100, onProgress: (m) => progress.push(m) });
    assert.equal(res.outcome, 'reset', JSON.stringify(res));
    assert.equal(res.error, undefined);
    assert.deepEqual(res.removed.slice(0, 2), paths.manifests);
    assert.ok(res.removed.includes(join(root, 'etc/bmlb/keepalived/keepalived.conf')));
    assert.ok(res.removed.includes(join(root, 'var/lib/bmlb/backup')), 'backups removed');
    assert.equal(res.removed.at(-1), paths.sysctlFile);
    assert.deepEqual(res.sysctls, [{ key: 'net.ipv4.ip_nonlocal_bind', from: '1', to: '0', source: 'kernel default' }]);
    assert.ok((res.waitedMs ?? 0) > 0);
    assert.equal(keepalived?.signalCode, 'SIGTERM', 'keepalived was stopped by the kubelet stand-in, after its manifest went');
    // The node.
    for (const d of paths.dirs) assert.ok(!existsSync(d), `${d} removed`);
    assert.ok(!existsSync(paths.sysctlFile));
    assert.equal(readFileSync(join(root, 'proc/sys/net/ipv4/ip_nonlocal_bind'), 'utf8').trim(), '0');
    assert.deepEqual(readdirSync(join(root, 'etc/kubernetes/manifests')), ['kube-apiserver.yaml']);
    assert.ok(existsSync(join(root, 'usr/lib/sysctl.d/50-default.conf')));
    assert.ok(progress.some((p) => /keepalived and HAProxy stopped after/.test(p)), progress.join('\n'));

    // Second run: nothing to do, and no command but the inspection ran.
    const again = new LocalShell();
    const res2 = await resetNode(async () => again, '127.0.0.1', { paths, vip: VIP, port: PORT, waitMs: 1000, pollMs: 100 });
    assert.deepEqual(res2, { address: '127.0.0.1', outcome: 'nothing-to-do', removed: [], keptForeign: [], sysctls: [] });
    assert.equal(again.commands.length, 1);
  });

  it('GIVEN keepalived that never stops WHEN reset THEN it fails naming the wait, still removes the files, and leaves the process to its owner', async () => {
    startKeepalived(false);
    const shell = new LocalShell();
    const res = await resetNode(async () => shell, '127.0.0.1', { paths, vip: VIP, port: PORT, waitMs: 600, pollMs: 100 });
    assert.equal(res.outcome, 'failed');
    assert.equal(res.error?.step, 'wait for the static pods to stop');
    assert.match(res.error?.message ?? '', /keepalived still running \d+ s after their manifests were removed/);
    assert.ok(!existsSync(join(root, 'etc/bmlb/keepalived/keepalived.conf')), 'the rest was still cleaned');
    assert.equal(keepalived?.exitCode, null, 'reset does not kill processes itself');
  });

  it('GIVEN an unreachable node WHEN reset THEN the result names the connect step and the error', async () => {
    const res = await resetNode(async () => {
      throw new Error('cannot connect to root@198.51.100.99 over SSH: ECONNREFUSED');
    }, '198.51.100.99', { paths, vip: VIP, port: PORT, waitMs: 100 });
    assert.deepEqual(res, {
      address: '198.51.100.99',
      outcome: 'failed',
      removed: [],
      keptForeign: [],
      sysctls: [],
      error: { step: 'connect', message: 'cannot connect to root@198.51.100.99 over SSH: ECONNREFUSED' },
    });
  });

  it('GIVEN a site sysctl.d file that sets the key to 1 WHEN reset THEN the value stays 1 and the file is named nowhere as removed', async () => {
    write(join(root, 'etc/sysctl.d/90-site.conf'), 'net.ipv4.ip_nonlocal_bind = 1\n');
    const shell = new LocalShell();
    const res = await resetNode(async () => shell, '127.0.0.1', { paths, vip: VIP, port: PORT, waitMs: 1000, pollMs: 100 });
    assert.equal(res.outcome, 'reset', JSON.stringify(res.error));
    assert.deepEqual(res.sysctls, []);
    assert.equal(readFileSync(join(root, 'proc/sys/net/ipv4/ip_nonlocal_bind'), 'utf8').trim(), '1');
    assert.ok(existsSync(join(root, 'etc/sysctl.d/90-site.conf')));
    assert.ok(!res.removed.some((p) => p.endsWith('90-site.conf')));
  });
});
