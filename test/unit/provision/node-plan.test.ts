/** The create plan, pure: which files change, in what order, and how each is undone. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  type DesiredFile,
  type RemoteFileState,
  parseRemoteState,
  planNode,
  rollbackSteps,
  sha256,
  sysctlFile,
  writeOrder,
} from '../../../src/provision/create/node-plan.js';
import { workloadReadiness } from '../../../src/provision/create/cluster-objects.js';
import { rewriteKubeconfigServer, vipServerUrl } from '../../../src/provision/create/kubeconfig.js';
import { parse } from 'yaml';

const ka: DesiredFile = { path: '/etc/bmlb/keepalived/keepalived.conf', mode: 0o644, content: 'vrrp\n' };
const hc: DesiredFile = { path: '/etc/bmlb/haproxy/haproxy.cfg', mode: 0o644, content: 'haproxy\n' };
const kaPod: DesiredFile = { path: '/etc/kubernetes/manifests/keepalived.yaml', mode: 0o600, content: 'pod: ka\n' };
const hcPod: DesiredFile = { path: '/etc/kubernetes/manifests/haproxy.yaml', mode: 0o600, content: 'pod: hc\n' };
const sys = sysctlFile(4).file;

function present(f: DesiredFile, content = f.content, mode = f.mode): RemoteFileState {
  return { path: f.path, exists: true, sha256: sha256(content), mode };
}

describe('node plan', () => {
  it('GIVEN a fresh node WHEN planned THEN every file is created: sysctl file, configs, then the static pod manifests last', () => {
    const p = planNode('198.51.100.21', [kaPod, ka, hcPod, hc, sys], []);
    assert.equal(p.changed, true);
    assert.deepEqual(p.files.map((f) => [f.action, f.path]), [
      ['create', sys.path],
      ['create', ka.path],
      ['create', hc.path],
      ['create', kaPod.path],
      ['create', hcPod.path],
    ]);
  });

  it('GIVEN a node already configured identically WHEN planned THEN nothing changes (a rerun rewrites nothing)', () => {
    const all = [sys, ka, hc, kaPod, hcPod];
    const p = planNode('n', all, all.map((f) => present(f)));
    assert.equal(p.changed, false);
    assert.ok(p.files.every((f) => f.action === 'unchanged'));
    assert.deepEqual(rollbackSteps(p, '/b'), []);
  });

  it('GIVEN one config differs and one manifest has the wrong mode WHEN planned THEN exactly those two are updated, with reasons', () => {
    const p = planNode('n', [sys, ka, hc, kaPod, hcPod], [present(sys), present(ka, 'old\n'), present(hc), present(kaPod, kaPod.content, 0o644), present(hcPod)]);
    const changed = p.files.filter((f) => f.action !== 'unchanged');
    assert.deepEqual(
      changed.map((f) => (f.action === 'update' ? [f.path, f.reason, f.previousSha256] : [])),
      [
        [ka.path, 'content', sha256('old\n')],
        [kaPod.path, 'mode', sha256(kaPod.content)],
      ],
    );
  });

  it('GIVEN a plan with updates and creations WHEN rolled back fully THEN newest first: updated files restored from backup, new ones removed', () => {
    const p = planNode('n', [sys, ka, hc, kaPod, hcPod], [present(sys), present(ka, 'old'), present(kaPod, 'old pod')]);
    assert.deepEqual(rollbackSteps(p, '/var/lib/bmlb/backup/run1'), [
      { kind: 'remove', path: hcPod.path },
      { kind: 'restore', path: kaPod.path, from: '/var/lib/bmlb/backup/run1/etc/kubernetes/manifests/keepalived.yaml' },
      { kind: 'remove', path: hc.path },
      { kind: 'restore', path: ka.path, from: '/var/lib/bmlb/backup/run1/etc/bmlb/keepalived/keepalived.conf' },
    ]);
  });

  it('GIVEN the third changed write failed WHEN rolled back THEN only the first three are undone (the failed one included), in reverse', () => {
    const p = planNode('n', [sys, ka, hc, kaPod, hcPod], []);
    assert.deepEqual(
      rollbackSteps(p, '/b', 3).map((s) => `${s.kind} ${s.path}`),
      [`remove ${hc.path}`, `remove ${ka.path}`, `remove ${sys.path}`],
    );
    assert.deepEqual(rollbackSteps(p, '/b', 0), []);
  });

  it('GIVEN stat output WHEN parsed THEN modes are octal and absent files are absent; a missing line is an error', () => {
    const text = `${ka.path} 644 ${sha256('x')}\n${hc.path} absent\n`;
    assert.deepEqual(parseRemoteState([ka.path, hc.path], text), [
      { path: ka.path, exists: true, mode: 0o644, sha256: sha256('x') },
      { path: hc.path, exists: false },
    ]);
    assert.throws(() => parseRemoteState([kaPod.path], text), /no state reported/);
  });

  it('GIVEN an IPv4 or IPv6 VIP WHEN the sysctl file is built THEN it sets that family\'s ip_nonlocal_bind', () => {
    assert.deepEqual(sysctlFile(4).values, { 'net.ipv4.ip_nonlocal_bind': '1' });
    assert.match(sysctlFile(6).file.content, /^net\.ipv6\.ip_nonlocal_bind = 1$/m);
    assert.equal(sysctlFile(4).file.path, '/etc/sysctl.d/60-bmlb.conf');
  });

  it('GIVEN files in any order WHEN ordered THEN the relative order within a group is kept', () => {
    assert.deepEqual(writeOrder([hcPod, hc, kaPod, ka]).map((f) => f.path), [hc.path, ka.path, hcPod.path, kaPod.path]);
  });
});

describe('workload readiness', () => {
  it('GIVEN DaemonSet statuses WHEN judged THEN ready only when observed, scheduled somewhere, and all updated+ready', () => {
    assert.equal(workloadReadiness('DaemonSet', { metadata: { generation: 2 }, status: { observedGeneration: 2, desiredNumberScheduled: 3, numberReady: 3, updatedNumberScheduled: 3 } }).ready, true);
    assert.equal(workloadReadiness('DaemonSet', { metadata: { generation: 3 }, status: { observedGeneration: 2, desiredNumberScheduled: 3, numberReady: 3, updatedNumberScheduled: 3 } }).ready, false);
    assert.equal(workloadReadiness('DaemonSet', { status: { desiredNumberScheduled: 0, numberReady: 0 } }).ready, false);
    const r = workloadReadiness('DaemonSet', { status: { desiredNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 3 } });
    assert.deepEqual(r, { ready: false, detail: '2/3 ready, 3 updated' });
  });

  it('GIVEN Deployment statuses WHEN judged THEN ready when replicas are ready and updated and no old ones linger', () => {
    assert.equal(workloadReadiness('Deployment', { spec: { replicas: 1 }, status: { replicas: 1, readyReplicas: 1, updatedReplicas: 1 } }).ready, true);
    assert.equal(workloadReadiness('Deployment', { spec: { replicas: 1 }, status: { replicas: 2, readyReplicas: 1, updatedReplicas: 1 } }).ready, false);
    assert.equal(workloadReadiness('Deployment', { spec: { replicas: 1 }, status: {} }).ready, false);
  });
});

describe('kubeconfig through the VIP', () => {
  const kc = [
    'apiVersion: v1',
    'kind: Config',
    'current-context: lab',
    'clusters:',
    '- name: other',
    '  cluster: {server: "https://203.0.113.9:6443"}',
    '- name: lab',
    '  cluster:',
    '    server: https://198.51.100.11:6444',
    '    certificate-authority: pki/ca.crt',
    'contexts:',
    '- name: lab',
    '  context: {cluster: lab, user: bmlb-installer}',
    'users:',
    '- name: bmlb-installer',
    '  user: {token: abc, client-key: /abs/key}',
    '',
  ].join('\n');

  it('GIVEN a kubeconfig WHEN rewritten THEN only the current cluster points at https://VIP:port and relative files become absolute', () => {
    const out = parse(rewriteKubeconfigServer(kc, vipServerUrl('198.51.100.10', 443), '/var/lib/bmlb-lab/lab/kubeconfig'));
    assert.equal(out.clusters[1].cluster.server, 'https://198.51.100.10:443');
    assert.equal(out.clusters[1].cluster['certificate-authority'], '/var/lib/bmlb-lab/lab/pki/ca.crt');
    assert.equal(out.clusters[0].cluster.server, 'https://203.0.113.9:6443');
    assert.equal(out.users[0].user.token, 'abc');
    assert.equal(out.users[0].user['client-key'], '/abs/key');
  });

  it('GIVEN an IPv6 VIP WHEN the URL is built THEN the address is bracketed', () => {
    assert.equal(vipServerUrl('2001:db8:100::10', 6443), 'https://[2001:db8:100::10]:6443');
  });

  it('GIVEN a kubeconfig without a current context WHEN rewritten THEN KubeconfigInvalid', () => {
    assert.throws(() => rewriteKubeconfigServer('apiVersion: v1\nclusters: []\n', 'https://x', 'f'), (e: unknown) => (e as { code?: string }).code === 'KubeconfigInvalid');
  });
});
