/**
 * The lab's network and nodes, without the Kubernetes stand-ins (`kube: false`): SSH with host-key
 * checking, private node directories, hostnames, sysctls, the L2 segment, and a clean teardown.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { labDown } from '../../../src/lab/lab-down.js';
import { systemLabIo } from '../../../src/lab/lab-io.js';
import { labStatus } from '../../../src/lab/lab-state.js';
import { namespacePids } from '../../../src/lab/netns/network.js';
import type { TestLab } from '../../helpers/lab.js';
import { startTestLab } from '../../helpers/lab.js';
import { hostSnapshot, leftovers } from './leftovers.js';

describe('GIVEN a lab of 1 control-plane and 2 LB nodes brought up without the Kubernetes stand-ins', () => {
  let lab: TestLab;
  before(async () => {
    lab = await startTestLab({ tag: 'nodes', nodes: 3, lbNodes: 2, kube: false });
  }, { timeout: 60_000 });
  after(async () => {
    await lab?.down();
  });

  it('THEN lab status reports the files, namespaces and nodes of the layout', () => {
    const s = labStatus(lab.name, systemLabIo);
    assert.equal(s.healthy, true);
    assert.deepEqual(s.nodes.map((n) => [n.name, n.role, n.address, n.namespace]), [
      ['cp1', 'control-plane', '198.51.100.11', `bmlb-${lab.name}-cp1`],
      ['lb1', 'lb', '198.51.100.21', `bmlb-${lab.name}-lb1`],
      ['lb2', 'lb', '198.51.100.22', `bmlb-${lab.name}-lb2`],
    ]);
    assert.deepEqual(s.namespaces, {
      segment: `bmlb-${lab.name}-seg`, admin: `bmlb-${lab.name}-admin`, client: `bmlb-${lab.name}-client`, router: `bmlb-${lab.name}-router`,
    });
    for (const f of [s.clusterFile, s.kubeconfig, s.adminUserKubeconfig, s.knownHosts, s.sshKey, s.caFile]) assert.ok(existsSync(f), f);
    assert.match(readFileSync(s.clusterFile, 'utf8'), new RegExp(`sshPrivateKeyPath: ${s.sshKey}`));
    // 3 holders + 3 sshd, all alive
    assert.equal(s.processes.length, 6);
    assert.ok(s.processes.every((p) => p.alive));
  });

  it('WHEN admin connects to every node over ssh with StrictHostKeyChecking=yes THEN each answers with its own hostname', async () => {
    for (const n of lab.status.nodes) {
      const r = await lab.ssh(n.name, 'hostname');
      assert.equal(r.code, 0, `ssh ${n.name}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), n.name);
    }
  });

  it('WHEN a client offers a key the lab did not issue THEN the node refuses it', async () => {
    const key = `/tmp/bmlbt-lab-${process.pid}-key`;
    after(() => {
      for (const f of [key, `${key}.pub`]) if (existsSync(f)) systemLabIo.run(['rm', '-f', f]);
    });
    await systemLabIo.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const argv = lab.sshArgv('lb1', 'hostname').map((a) => (a === lab.status.sshKey ? key : a));
    const r = await lab.exec('admin', [...argv.slice(0, 1), '-o', 'IdentitiesOnly=yes', '-o', 'PasswordAuthentication=no', ...argv.slice(1)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Permission denied/);
  });

  it('WHEN the known_hosts file does not know the node THEN ssh with host-key checking refuses to connect', async () => {
    const empty = `/tmp/bmlbt-lab-${process.pid}-known_hosts`;
    writeFileSync(empty, '');
    after(() => systemLabIo.run(['rm', '-f', empty]));
    const argv = lab.sshArgv('lb2', 'hostname').map((a) => (a === `UserKnownHostsFile=${lab.status.knownHosts}` ? `UserKnownHostsFile=${empty}` : a));
    const r = await lab.exec('admin', argv);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Host key verification failed|No .* host key is known/);
  });

  it('WHEN a file is written to /etc/kubernetes of lb1 THEN neither lb2 nor the host sees it', async () => {
    const name = `bmlbt-private-${process.pid}`;
    const w = await lab.ssh('lb1', `echo lb1 > /etc/kubernetes/${name} && cat /etc/kubernetes/${name}`);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout.trim(), 'lb1');
    const onLb2 = await lab.nodeExec('lb2', ['test', '-e', `/etc/kubernetes/${name}`]);
    assert.equal(onLb2.code, 1);
    assert.equal(existsSync(`/etc/kubernetes/${name}`), false, 'visible on the host');
    // It is in lb1's own directory in the state dir.
    assert.equal(readFileSync(`${lab.status.stateDir}/nodes/lb1/etc-kubernetes/${name}`, 'utf8').trim(), 'lb1');
    for (const dir of ['/etc/bmlb', '/var/lib/bmlb', '/run']) {
      const m = await lab.nodeExec('lb1', ['findmnt', '-n', '-o', 'SOURCE', dir]);
      assert.equal(m.code, 0, m.stderr);
      assert.match(m.stdout, new RegExp(`nodes/lb1/`), `${dir} on lb1: ${m.stdout}`);
    }
  });

  it('THEN nodes forward IPv4 and keep ip_nonlocal_bind at 0, like a node before create cluster', async () => {
    for (const n of lab.status.nodes) {
      const r = await lab.nodeExec(n.name, ['sysctl', '-n', 'net.ipv4.ip_forward', 'net.ipv4.ip_nonlocal_bind']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['1', '0'], n.name);
    }
  });

  it('THEN every namespace reaches every other over the one L2 segment', async () => {
    const r = await lab.exec('client', ['ping', '-c1', '-W2', '198.51.100.22']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const arp = await lab.exec('client', ['ip', '-j', 'neigh', 'show', '198.51.100.22']);
    assert.match(arp.stdout, /"lladdr"/); // resolved by ARP on the segment, no router in between
    const fromNode = await lab.nodeExec('cp1', ['ping', '-c1', '-W2', '198.51.100.4']);
    assert.equal(fromNode.code, 0, fromNode.stderr);
    const ports = await lab.exec('segment', ['ip', '-j', 'link', 'show', 'master', 'br0']);
    const names = (JSON.parse(ports.stdout) as { ifname: string }[]).map((l) => l.ifname).sort();
    assert.deepEqual(names, ['p-admin', 'p-client', 'p-cp1', 'p-lb1', 'p-lb2', 'p-router']);
  });

  it('THEN the router namespace is on the segment with FRR installed but nothing running', async () => {
    assert.ok(existsSync('/usr/lib/frr/bgpd'), 'FRR (bgpd) is installed');
    assert.deepEqual(await namespacePids(systemLabIo, lab.status.namespaces.router), []);
    const r = await lab.exec('router', ['ping', '-c1', '-W2', '198.51.100.21']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('THEN the host namespace has no lab address, route or link', () => {
    assert.deepEqual(hostSnapshot(), { links: [], addresses: [], routes: [] });
  });

  it('WHEN the lab goes down THEN no process, namespace, mount or state is left', async () => {
    const pids = labStatus(lab.name, systemLabIo).processes.map((p) => p.pid);
    const r = await lab.down();
    assert.equal(r.existed, true);
    assert.deepEqual(await leftovers(lab.name, pids), { processes: [], namespaces: [], mounts: [], stateDir: false });
    assert.deepEqual(hostSnapshot(), { links: [], addresses: [], routes: [] });
    const again = await labDown(systemLabIo, { name: lab.name }); // idempotent
    assert.deepEqual([again.existed, again.namespacesDeleted, again.processesEnded], [false, [], 0]);
  });
});
