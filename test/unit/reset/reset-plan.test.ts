/**
 * The decisions of `reset cluster`: gate (prevent-deletion, confirmation), node inspection parsing,
 * the per-node plan, sysctl boot values, and the deletion order of in-cluster objects.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterConfig } from '../../../src/config/model.js';
import {
  DELETE_ORDER,
  type NodeInspection,
  RESET_PATHS,
  bootValue,
  confirmed,
  namesToDelete,
  parseInspection,
  parseSysctlConf,
  planNodeReset,
  resetGate,
  stepCommand,
} from '../../../src/provision/reset/reset-plan.js';

function config(annotations: Record<string, string> = {}): ClusterConfig {
  return { name: 'lab', sourcePath: '/ws/lab.yaml', annotations } as unknown as ClusterConfig;
}

const IP_JSON = (vip?: string): string =>
  JSON.stringify([
    { ifname: 'lo', flags: ['LOOPBACK', 'UP'], address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
    {
      ifname: 'eth0',
      flags: ['BROADCAST', 'UP'],
      address: '02:00:00:00:00:21',
      addr_info: [{ family: 'inet', local: '198.51.100.21', prefixlen: 24 }, ...(vip ? [{ family: 'inet', local: vip, prefixlen: 32 }] : [])],
    },
  ]);

/** What the inspection script prints on an LB node after create cluster. */
function installedOutput(): string {
  return [
    '==bmlb:manifests',
    'bmlb /etc/kubernetes/manifests/keepalived.yaml',
    'bmlb /etc/kubernetes/manifests/haproxy.yaml',
    '==bmlb:dirs',
    '/etc/bmlb',
    '/run/bmlb',
    '/var/lib/bmlb',
    '==bmlb:entries',
    '/etc/bmlb/keepalived',
    '/etc/bmlb/keepalived/keepalived.conf',
    '/etc/bmlb/haproxy',
    '/etc/bmlb/haproxy/haproxy.cfg',
    '/run/bmlb/keepalived.pid',
    '==bmlb:sysctl-file',
    'present',
    '# Written by bmlb',
    'net.ipv4.ip_nonlocal_bind = 1',
    '==bmlb:sysctl-conf',
    '@@file /usr/lib/sysctl.d/50-default.conf',
    'net.ipv4.conf.all.rp_filter = 2',
    '',
    '==bmlb:proc',
    'net.ipv4.ip_nonlocal_bind=1',
    'net.ipv6.ip_nonlocal_bind=0',
    '==bmlb:keepalived',
    'running',
    '==bmlb:listen',
    'tcp   LISTEN 0      4096   198.51.100.10:443        0.0.0.0:*    users:(("haproxy",pid=4242,fd=7))',
    'tcp   LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=12,fd=3))',
    '==bmlb:addr',
    IP_JSON('198.51.100.10'),
  ].join('\n');
}

function clean(): NodeInspection {
  return {
    manifests: [],
    entries: [],
    dirsPresent: ['/etc/bmlb', '/var/lib/bmlb'],
    sysctlFile: undefined,
    sysctlConf: [],
    sysctls: { 'net.ipv4.ip_nonlocal_bind': '0' },
    keepalivedRunning: false,
    listeners: [],
    interfaces: [],
  };
}

describe('reset gate', () => {
  it('GIVEN prevent-deletion "true" WHEN reset is asked, even with --force THEN it is refused with the annotation and the fix', () => {
    for (const v of ['true', 'True', ' true ']) {
      const g = resetGate(config({ 'baremetal.cluster.gke.io/prevent-deletion': v }), { force: true, interactive: true });
      assert.equal(g.kind, 'refuse');
      if (g.kind !== 'refuse') return;
      assert.equal(g.error.code, 'ResetPrevented');
      assert.match(g.error.message, /baremetal\.cluster\.gke\.io\/prevent-deletion/);
      assert.match(g.error.suggestions[0] ?? '', /remove the annotation .* from metadata\.annotations of the Cluster in \/ws\/lab\.yaml/);
    }
  });

  it('GIVEN prevent-deletion "false" or absent WHEN forced THEN it proceeds; on a terminal it asks; elsewhere it needs --force', () => {
    assert.deepEqual(resetGate(config({ 'baremetal.cluster.gke.io/prevent-deletion': 'false' }), { force: true, interactive: false }), { kind: 'proceed' });
    assert.deepEqual(resetGate(config(), { force: false, interactive: true }), { kind: 'ask' });
    const g = resetGate(config(), { force: false, interactive: false });
    assert.equal(g.kind, 'refuse');
    if (g.kind === 'refuse') {
      assert.equal(g.error.code, 'ResetNotConfirmed');
      assert.equal(g.error.exitCode, 2);
      assert.match(g.error.suggestions.join(' '), /--force/);
    }
  });

  it('GIVEN answers to the prompt WHEN checked THEN only the cluster name or yes confirm', () => {
    assert.equal(confirmed('lab', 'lab'), true);
    assert.equal(confirmed(' YES\n', 'lab'), true);
    assert.equal(confirmed('y', 'lab'), true);
    for (const a of ['', 'no', 'la', 'lab2', 'yess']) assert.equal(confirmed(a, 'lab'), false, a);
  });
});

describe('node inspection and plan', () => {
  it('GIVEN a node after create cluster WHEN inspected THEN every fact is parsed', () => {
    const i = parseInspection(installedOutput());
    assert.deepEqual(i.manifests, [
      { path: '/etc/kubernetes/manifests/keepalived.yaml', bmlb: true },
      { path: '/etc/kubernetes/manifests/haproxy.yaml', bmlb: true },
    ]);
    assert.deepEqual(i.dirsPresent, ['/etc/bmlb', '/run/bmlb', '/var/lib/bmlb']);
    assert.equal(i.entries.length, 5);
    assert.match(i.sysctlFile ?? '', /net\.ipv4\.ip_nonlocal_bind = 1/);
    assert.deepEqual(i.sysctlConf.map((c) => c.path), ['/usr/lib/sysctl.d/50-default.conf']);
    assert.deepEqual(i.sysctls, { 'net.ipv4.ip_nonlocal_bind': '1', 'net.ipv6.ip_nonlocal_bind': '0' });
    assert.equal(i.keepalivedRunning, true);
    assert.equal(i.listeners.find((l) => l.port === 443)?.processes[0], 'haproxy');
    assert.equal(i.interfaces.find((x) => x.name === 'eth0')?.addrs.length, 2);
  });

  it('GIVEN a node after create cluster WHEN planned THEN manifests go first, then wait for the pods, then files, the sysctl file and the kernel default', () => {
    const steps = planNodeReset(parseInspection(installedOutput()), RESET_PATHS, '198.51.100.10', 443);
    assert.deepEqual(
      steps.map((s) => s.kind),
      ['remove-manifest', 'remove-manifest', 'wait-static-pods', 'remove-entries', 'remove-sysctl-file', 'restore-sysctls'],
    );
    const restore = steps.at(-1);
    assert.deepEqual(restore, { kind: 'restore-sysctls', restores: [{ key: 'net.ipv4.ip_nonlocal_bind', from: '1', to: '0', source: 'kernel default' }] });
  });

  it('GIVEN a clean node (empty mount-point dirs left) WHEN planned THEN there is nothing to do', () => {
    assert.deepEqual(planNodeReset(clean(), RESET_PATHS, '198.51.100.10', 443), []);
  });

  it('GIVEN a manifest at bmlb\'s path that is not bmlb\'s WHEN planned THEN it is kept and nothing waits for it', () => {
    const i = clean();
    i.manifests = [{ path: '/etc/kubernetes/manifests/haproxy.yaml', bmlb: false }];
    assert.deepEqual(planNodeReset(i, RESET_PATHS, '198.51.100.10', 443), [{ kind: 'keep-foreign-manifest', path: '/etc/kubernetes/manifests/haproxy.yaml' }]);
  });

  it('GIVEN only a VIP left on an interface (keepalived killed) WHEN planned THEN the plan still waits (and the node code releases it)', () => {
    const i = clean();
    i.interfaces = parseInspection(`==bmlb:addr\n${IP_JSON('198.51.100.10')}`).interfaces;
    assert.deepEqual(planNodeReset(i, RESET_PATHS, '198.51.100.10', 443), [{ kind: 'wait-static-pods' }]);
  });

  it('GIVEN the node\'s own sysctl.d sets the key, or the running value is already right WHEN planned THEN it restores that value, or nothing', () => {
    const i = clean();
    i.sysctlFile = 'net.ipv4.ip_nonlocal_bind = 1\n';
    i.sysctls = { 'net.ipv4.ip_nonlocal_bind': '1' };
    i.sysctlConf = [{ path: '/etc/sysctl.d/90-site.conf', content: 'net/ipv4/ip_nonlocal_bind=1\n' }];
    assert.deepEqual(planNodeReset(i, RESET_PATHS, '198.51.100.10', 443), [{ kind: 'remove-sysctl-file', path: '/etc/sysctl.d/60-bmlb.conf' }]);
    i.sysctlConf = [];
    i.sysctls = { 'net.ipv4.ip_nonlocal_bind': '0' };
    assert.deepEqual(planNodeReset(i, RESET_PATHS, '198.51.100.10', 443), [{ kind: 'remove-sysctl-file', path: '/etc/sysctl.d/60-bmlb.conf' }]);
  });

  it('GIVEN a remove-entries step WHEN turned into shell THEN it empties each dir and only tries rmdir (mount points stay)', () => {
    const cmd = stepCommand({ kind: 'remove-entries', dirs: ['/etc/bmlb', "/we'ird"], entries: [] }, RESET_PATHS) ?? '';
    assert.match(cmd, /find '\/etc\/bmlb' -mindepth 1 -maxdepth 1 -exec rm -rf \{\} \+/);
    assert.match(cmd, /rmdir '\/we'\\''ird' 2>\/dev\/null \|\| true/);
    assert.equal(stepCommand({ kind: 'wait-static-pods' }, RESET_PATHS), undefined);
  });
});

describe('sysctl boot values', () => {
  it('GIVEN sysctl.d syntax WHEN parsed THEN comments go, slashes become dots and a leading - is ignored', () => {
    assert.deepEqual(parseSysctlConf('# c\n; c\n\nnet/ipv4/ip_forward = 1\n-net.ipv4.ip_nonlocal_bind=0\nnoequals\n'), [
      { key: 'net.ipv4.ip_forward', value: '1' },
      { key: 'net.ipv4.ip_nonlocal_bind', value: '0' },
    ]);
  });

  it('GIVEN files in several directories WHEN the boot value is computed THEN /etc overrides a same-named file, names sort, sysctl.conf comes last', () => {
    const dirs = RESET_PATHS.sysctlConfDirs;
    const k = 'net.ipv4.ip_nonlocal_bind';
    const conf = [
      { path: '/usr/lib/sysctl.d/10-a.conf', content: `${k} = 5\n` },
      { path: '/etc/sysctl.d/10-a.conf', content: `${k} = 6\n` },
      { path: '/usr/lib/sysctl.d/20-b.conf', content: 'other = 1\n' },
    ];
    assert.deepEqual(bootValue(k, conf, dirs, '/etc/sysctl.conf'), { value: '6', source: '/etc/sysctl.d/10-a.conf' });
    // Same-named file in a lower-precedence directory listed later does not win.
    assert.deepEqual(bootValue(k, [conf[1]!, conf[0]!], dirs, '/etc/sysctl.conf'), { value: '6', source: '/etc/sysctl.d/10-a.conf' });
    assert.deepEqual(bootValue(k, [{ path: '/etc/sysctl.conf', content: `${k}=7` }, ...conf], dirs, '/etc/sysctl.conf'), { value: '7', source: '/etc/sysctl.conf' });
    assert.deepEqual(bootValue(k, [{ path: '/etc/sysctl.d/99-z.conf', content: `${k}=8` }, ...conf], dirs, '/etc/sysctl.conf'), { value: '8', source: '/etc/sysctl.d/99-z.conf' });
    assert.equal(bootValue(k, [], dirs, '/etc/sysctl.conf'), undefined);
  });
});

describe('in-cluster deletion order', () => {
  it('GIVEN the delete order THEN admission guards go first, then workloads, before their config, RBAC and ServiceAccounts last', () => {
    const kinds = DELETE_ORDER.map((k) => k.kind);
    assert.equal(kinds[0], 'ValidatingWebhookConfiguration');
    assert.ok(kinds.indexOf('DaemonSet') < kinds.indexOf('ConfigMap'));
    assert.ok(kinds.indexOf('Deployment') < kinds.indexOf('Secret'));
    assert.ok(kinds.indexOf('RoleBinding') < kinds.indexOf('Role'));
    assert.ok(kinds.indexOf('ClusterRoleBinding') < kinds.indexOf('ClusterRole'));
    assert.equal(kinds.at(-1), 'ServiceAccount');
    assert.ok(!kinds.includes('Namespace'), 'the namespace is deleted separately, last');
  });

  it('GIVEN labelled objects WHEN names are merged THEN known names come first and each name once', () => {
    const cm = DELETE_ORDER.find((k) => k.kind === 'ConfigMap');
    assert.ok(cm);
    assert.deepEqual(namesToDelete(cm, ['bmlb-applied', 'bmlb-extra']), ['bmlb-config', 'bmlb-applied', 'bmlb-extra']);
  });
});
