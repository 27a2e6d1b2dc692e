/**
 * The lab commands as a user runs them (./bin/run.js, the built CLI): up with IPv6 and without the
 * Kubernetes stand-ins, status --json, exec with exit codes, recovery from a crashed lab, down.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { systemLabIo } from '../../../src/lab/lab-io.js';
import { labDown } from '../../../src/lab/lab-down.js';
import type { LabStatus } from '../../../src/lab/lab-state.js';
import { uniqueLabName } from '../../helpers/lab.js';
import { leftovers } from './leftovers.js';

const root = new URL('../../../', import.meta.url).pathname;

function bmlb(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [`${root}bin/run.js`, ...args], { encoding: 'utf8', timeout: 90_000, cwd: root });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function json<T>(r: { code: number; stdout: string; stderr: string }): T {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

describe('GIVEN the bmlb CLI', () => {
  const name = uniqueLabName('cli');
  const seen = new Set<number>();
  after(async () => {
    await labDown(systemLabIo, { name });
  });

  it('WHEN lab up --ipv6 --no-kube runs THEN status --json reports dual-stack nodes and every process alive', () => {
    const up = json<LabStatus & { timings: Record<string, number> }>(bmlb(['lab', 'up', '--name', name, '--nodes', '2', '--lb-nodes', '1', '--ipv6', '--no-kube', '--json']));
    assert.ok(up.timings.total! < 60_000);
    const s = json<LabStatus>(bmlb(['lab', 'status', '--name', name, '--json']));
    assert.equal(s.healthy, true);
    assert.equal(s.kube, false);
    assert.deepEqual(s.nodes.map((n) => [n.name, n.address, n.addressV6]), [
      ['cp1', '198.51.100.11', '2001:db8:100::11'],
      ['lb1', '198.51.100.21', '2001:db8:100::21'],
    ]);
    for (const p of s.processes) seen.add(p.pid);
  });

  it('WHEN lab exec runs commands THEN they run in the asked namespace and their exit code comes back', () => {
    const ping6 = bmlb(['lab', 'exec', '--name', name, '--ns', 'client', '--', 'ping', '-6', '-c1', '-W2', '2001:db8:100::21']);
    assert.equal(ping6.code, 0, ping6.stderr + ping6.stdout);
    const host = bmlb(['lab', 'exec', '--name', name, '--ns', 'lb1', '--', 'sh', '-c', 'hostname; exit 42']);
    assert.equal(host.code, 42);
    assert.equal(host.stdout.trim(), 'lb1');
    const ssh = bmlb(['lab', 'exec', '--name', name, '--', 'ssh', '-i', `/var/lib/bmlb-lab/${name}/ssh/id_ed25519`,
      '-o', `UserKnownHostsFile=/var/lib/bmlb-lab/${name}/ssh/known_hosts`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes',
      'root@2001:db8:100::11', 'hostname']);
    assert.equal(ssh.code, 0, ssh.stderr);
    assert.equal(ssh.stdout.trim(), 'cp1');
    const cli = bmlb(['lab', 'exec', '--name', name, '--', './bin/run.js', 'version', '--json']); // admin keeps the working directory
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(JSON.parse(cli.stdout).bmlb, /^\d+\.\d+\.\d+/);
    const bad = bmlb(['lab', 'exec', '--name', name, '--ns', 'nowhere', '--json', '--', 'true']);
    assert.equal(bad.code, 2);
    assert.equal(JSON.parse(bad.stdout).error.code, 'LabTargetUnknown');
  });

  it('WHEN lab up runs again on a healthy lab THEN it refuses with LabExists', () => {
    const r = bmlb(['lab', 'up', '--name', name, '--no-kube', '--json']);
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'LabExists');
  });

  it('WHEN the lab crashed (its processes killed) THEN status says so and lab up cleans it and starts afresh', async () => {
    const before = json<LabStatus>(bmlb(['lab', 'status', '--name', name, '--json']));
    for (const p of before.processes) systemLabIo.signal(p.pid, 'SIGKILL');
    for (let i = 0; i < 50 && before.processes.some((p) => systemLabIo.startTimeOf(p.pid) !== undefined); i++) await systemLabIo.sleep(50);
    const crashed = json<LabStatus>(bmlb(['lab', 'status', '--name', name, '--json']));
    assert.equal(crashed.healthy, false);
    assert.ok(crashed.processes.every((p) => !p.alive));
    const up = json<LabStatus>(bmlb(['lab', 'up', '--name', name, '--nodes', '2', '--lb-nodes', '1', '--no-kube', '--json']));
    assert.equal(up.healthy, true);
    assert.equal(up.ipv6, false);
    for (const p of up.processes) seen.add(p.pid);
    const r = bmlb(['lab', 'exec', '--name', name, '--ns', 'cp1', '--', 'hostname']);
    assert.equal(r.stdout.trim(), 'cp1');
  });

  it('WHEN lab down runs (twice) THEN nothing of the lab is left', async () => {
    const first = json<{ existed: boolean }>(bmlb(['lab', 'down', '--name', name, '--json']));
    assert.equal(first.existed, true);
    const second = json<{ existed: boolean }>(bmlb(['lab', 'down', '--name', name, '--json']));
    assert.equal(second.existed, false);
    assert.deepEqual(await leftovers(name, [...seen]), { processes: [], namespaces: [], mounts: [], stateDir: false });
    const status = bmlb(['lab', 'status', '--name', name, '--json']);
    assert.equal(status.code, 1);
    assert.equal(JSON.parse(status.stdout).error.code, 'LabNotFound');
  });
});
