/**
 * Preflight verdicts from facts (pure): stories of a fresh lab, a rerun on a created cluster, and
 * each way a node can be unfit. Plus the parsers of the raw node output.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseClusterFile } from '../../../src/config/parse.js';
import type { ClusterConfig } from '../../../src/config/model.js';
import { type NodeGather, type PeerProbe, type PreflightEvidence, type VipProbe, evaluatePreflight } from '../../../src/provision/preflight/checks.js';
import {
  type NodeFacts,
  parseArpingReplies,
  parseIpAddrJson,
  parseNeighLladdr,
  parseSs,
  parseSysctls,
  splitSections,
} from '../../../src/provision/preflight/facts.js';
import { formatPreflight, preflightFailedError } from '../../../src/provision/preflight/report.js';

const root = new URL('../../../', import.meta.url).pathname;

function labConfig(): ClusterConfig {
  const path = join(root, 'cluster-samples', 'lab.yaml');
  const r = parseClusterFile(readFileSync(path, 'utf8'), path);
  assert.ok(r.ok, 'lab sample parses');
  return r.config;
}

const MACS = ['02:00:00:00:00:21', '02:00:00:00:00:22', '02:00:00:00:00:23'];

function facts(i: number, over: Partial<NodeFacts> = {}): NodeFacts {
  const ip = `198.51.100.2${i + 1}`;
  return {
    address: ip,
    k8sIP: ip,
    hostname: `lb${i + 1}`,
    interfaces: [
      { name: 'lo', mac: '00:00:00:00:00:00', up: true, addrs: [{ family: 4, local: '127.0.0.1', prefixlen: 8 }] },
      { name: 'eth0', mac: MACS[i] ?? '02:00:00:00:00:99', up: true, addrs: [{ family: 4, local: ip, prefixlen: 24 }] },
    ],
    sysctls: { 'net.ipv4.ip_nonlocal_bind': '0', 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.arp_ignore': '0', 'net.ipv4.conf.all.arp_announce': '0' },
    manifestDirPresent: true,
    listeners: [{ proto: 'tcp', address: '0.0.0.0', port: 22, processes: ['sshd'] }],
    clockOffsetMs: 12,
    tools: ['perl', 'arping', 'ping', 'ss', 'ip', 'timeout'],
    ...over,
  };
}

function evidence(over: { config?: ClusterConfig; nodes?: NodeGather[]; vipProbes?: VipProbe[]; peerProbes?: Record<string, PeerProbe> } = {}): PreflightEvidence {
  const config = over.config ?? labConfig();
  const nodes = over.nodes ?? [0, 1, 2].map((i) => ({ address: `198.51.100.2${i + 1}`, k8sIP: `198.51.100.2${i + 1}`, facts: facts(i) }));
  const all = nodes.map((n) => n.k8sIP);
  return {
    config,
    nodes,
    vipProbes: over.vipProbes ?? [
      { field: 'controlPlaneVIP', vip: '198.51.100.10', from: '198.51.100.21', outcome: { kind: 'free' } },
      { field: 'ingressVIP', vip: '198.51.100.200', from: '198.51.100.21', outcome: { kind: 'free' } },
    ],
    peerProbes: over.peerProbes ?? Object.fromEntries(nodes.map((n) => [n.address, { kind: 'tested', reached: all.filter((a) => a !== n.k8sIP), unreachable: [] }])),
  };
}

function check(r: ReturnType<typeof evaluatePreflight>, node: string, name: string) {
  const c = r.nodes.find((n) => n.address === node)?.checks.find((x) => x.name === name);
  assert.ok(c, `check ${name} on ${node}`);
  return c;
}

describe('preflight verdicts', () => {
  it('GIVEN a fresh lab (3 LB nodes on 198.51.100.0/24, VIPs silent) WHEN evaluated THEN it passes, with ip_nonlocal_bind=0 as a fixable warning', () => {
    const r = evaluatePreflight(evidence());
    assert.equal(r.ok, true, formatPreflight(r));
    const nb = check(r, '198.51.100.21', 'net.ipv4.ip_nonlocal_bind');
    assert.equal(nb.status, 'warn');
    assert.match(nb.fix ?? '', /create cluster sets it/);
    assert.equal(check(r, '198.51.100.22', 'interface').message, '198.51.100.22/24 on eth0');
    assert.equal(check(r, '198.51.100.21', 'controlPlaneVIP-free').status, 'pass');
    assert.equal(check(r, '198.51.100.23', 'l2-subnet').status, 'pass');
  });

  it('GIVEN the nodes sit in a /28 WHEN the pools reach beyond it THEN l2-subnet fails naming each outside VIP and pool', () => {
    const nodes = [0, 1, 2].map((i) => {
      const f = facts(i);
      const eth = f.interfaces[1];
      assert.ok(eth?.addrs[0]);
      eth.addrs[0].prefixlen = 28; // 198.51.100.16/28: .16–.31
      return { address: f.address, k8sIP: f.k8sIP, facts: f };
    });
    const r = evaluatePreflight(evidence({ nodes }));
    assert.equal(r.ok, false);
    const c = check(r, '198.51.100.21', 'l2-subnet');
    assert.equal(c.status, 'fail');
    assert.match(c.message, /198\.51\.100\.16\/28/);
    assert.match(c.message, /controlPlaneVIP 198\.51\.100\.10/);
    assert.match(c.message, /ingressVIP 198\.51\.100\.200/);
    assert.match(c.message, /pool pool-1 198\.51\.100\.200-198\.51\.100\.239/);
    assert.match(c.message, /pool pool-2 198\.51\.100\.240-198\.51\.100\.247/);
    assert.doesNotMatch(c.message, /LB node/);
  });

  it('GIVEN k8sIP is on no interface WHEN evaluated THEN interface fails and says to fix k8sIP', () => {
    const f = facts(0, { interfaces: [{ name: 'eth0', up: true, addrs: [{ family: 4, local: '198.51.100.99', prefixlen: 24 }] }] });
    const r = evaluatePreflight(evidence({ nodes: [{ address: f.address, k8sIP: f.k8sIP, facts: f }] }));
    const c = check(r, '198.51.100.21', 'interface');
    assert.equal(c.status, 'fail');
    assert.match(c.fix ?? '', /k8sIP/);
  });

  it('GIVEN an unknown machine answers ARP for the controlPlaneVIP WHEN evaluated THEN controlPlaneVIP-free fails with its MAC', () => {
    const r = evaluatePreflight(
      evidence({ vipProbes: [{ field: 'controlPlaneVIP', vip: '198.51.100.10', from: '198.51.100.21', outcome: { kind: 'answered', macs: ['aa:bb:cc:dd:ee:ff'] } }] }),
    );
    assert.equal(r.ok, false);
    const c = check(r, '198.51.100.21', 'controlPlaneVIP-free');
    assert.equal(c.status, 'fail');
    assert.match(c.message, /aa:bb:cc:dd:ee:ff/);
  });

  it('GIVEN a created cluster (lb1 holds the VIP via bmlb keepalived, haproxy on :443, speaker on 7946) WHEN preflight reruns THEN it passes', () => {
    const conf = 'vrrp_instance bmlb_cp {\n  virtual_ipaddress {\n    198.51.100.10/24 dev eth0\n  }\n}\n';
    const nodes = [0, 1, 2].map((i) => {
      const f = facts(i, {
        bmlbKeepalivedConf: conf,
        sysctls: { 'net.ipv4.ip_nonlocal_bind': '1', 'net.ipv4.ip_forward': '1' },
        listeners: [
          { proto: 'tcp', address: '198.51.100.10', port: 443, processes: ['haproxy'] },
          { proto: 'tcp', address: '0.0.0.0', port: 7946, processes: ['node'] },
          { proto: 'udp', address: '0.0.0.0', port: 7946, processes: ['node'] },
        ],
      });
      if (i === 0) f.interfaces[1]?.addrs.push({ family: 4, local: '198.51.100.10', prefixlen: 24 });
      return { address: f.address, k8sIP: f.k8sIP, facts: f };
    });
    // The ingressVIP is announced by lb2's speaker: its MAC answers.
    const r = evaluatePreflight(
      evidence({
        nodes,
        vipProbes: [
          { field: 'controlPlaneVIP', vip: '198.51.100.10', from: '198.51.100.22', outcome: { kind: 'answered', macs: [MACS[0] ?? ''] } },
          { field: 'ingressVIP', vip: '198.51.100.200', from: '198.51.100.21', outcome: { kind: 'answered', macs: [MACS[1] ?? ''] } },
        ],
      }),
    );
    assert.equal(r.ok, true, formatPreflight(r));
    assert.match(check(r, '198.51.100.21', 'controlPlaneVIP-free').message, /held by bmlb's keepalived on 198\.51\.100\.21/);
    assert.match(check(r, '198.51.100.21', 'ingressVIP-free').message, /answered by bmlb on 198\.51\.100\.22/);
    assert.match(check(r, '198.51.100.22', 'ports').message, /bmlb's own/);
    assert.equal(check(r, '198.51.100.22', 'net.ipv4.ip_nonlocal_bind').status, 'pass');
  });

  it('GIVEN the VIP is on a node interface but bmlb did not put it there WHEN evaluated THEN it fails', () => {
    const f = facts(1);
    f.interfaces[1]?.addrs.push({ family: 4, local: '198.51.100.10', prefixlen: 32 });
    const nodes = [{ address: f.address, k8sIP: f.k8sIP, facts: f }];
    const r = evaluatePreflight(evidence({ nodes }));
    const c = check(r, '198.51.100.22', 'controlPlaneVIP-free');
    assert.equal(c.status, 'fail');
    assert.match(c.message, /something other than bmlb/);
  });

  it('GIVEN something else listens on 0.0.0.0:443 and 7946 WHEN evaluated THEN ports fails naming both; a listener on another address for 443 is fine', () => {
    const f = facts(0, {
      listeners: [
        { proto: 'tcp', address: '0.0.0.0', port: 443, processes: ['nginx'] },
        { proto: 'udp', address: '::', port: 7946, processes: ['serf'] },
        { proto: 'tcp', address: '127.0.0.1', port: 443, processes: ['other'] },
      ],
    });
    const r = evaluatePreflight(evidence({ nodes: [{ address: f.address, k8sIP: f.k8sIP, facts: f }] }));
    const c = check(r, '198.51.100.21', 'ports');
    assert.equal(c.status, 'fail');
    assert.match(c.message, /tcp 0\.0\.0\.0:443 \(nginx\)/);
    assert.match(c.message, /udp :::7946 \(serf\)/);
    assert.doesNotMatch(c.message, /127\.0\.0\.1/);
    const g = facts(0, { listeners: [{ proto: 'tcp', address: '198.51.100.21', port: 443, processes: ['x'] }] });
    const r2 = evaluatePreflight(evidence({ nodes: [{ address: g.address, k8sIP: g.k8sIP, facts: g }] }));
    assert.equal(check(r2, '198.51.100.21', 'ports').status, 'pass');
  });

  it('GIVEN clocks 1.5 s and 6 s off WHEN evaluated THEN warn and fail respectively', () => {
    const nodes = [facts(0, { clockOffsetMs: 1500 }), facts(1, { clockOffsetMs: -6000 }), facts(2)].map((f) => ({ address: f.address, k8sIP: f.k8sIP, facts: f }));
    const r = evaluatePreflight(evidence({ nodes }));
    assert.equal(check(r, '198.51.100.21', 'clock').status, 'warn');
    const c = check(r, '198.51.100.22', 'clock');
    assert.equal(c.status, 'fail');
    assert.equal(c.message, '-6.000 s from this machine');
    assert.equal(r.ok, false);
  });

  it('GIVEN no manifest dir and a peer unreachable WHEN evaluated THEN both fail with fixes', () => {
    const nodes = [facts(0, { manifestDirPresent: false }), facts(1), facts(2)].map((f) => ({ address: f.address, k8sIP: f.k8sIP, facts: f }));
    const r = evaluatePreflight(
      evidence({
        nodes,
        peerProbes: {
          '198.51.100.21': { kind: 'tested', reached: ['198.51.100.22'], unreachable: [{ to: '198.51.100.23', detail: 'connect failed or timed out' }] },
          '198.51.100.22': { kind: 'tested', reached: ['198.51.100.21', '198.51.100.23'], unreachable: [] },
          '198.51.100.23': { kind: 'not-tested', reason: 'no perl, python3 or bash' },
        },
      }),
    );
    assert.equal(check(r, '198.51.100.21', 'manifest-dir').status, 'fail');
    const p = check(r, '198.51.100.21', 'peers');
    assert.equal(p.status, 'fail');
    assert.match(p.message, /198\.51\.100\.23/);
    assert.match(p.fix ?? '', /7946/);
    assert.equal(check(r, '198.51.100.23', 'peers').status, 'warn');
  });

  it('GIVEN a node SSH refused WHEN evaluated THEN that node has one failed ssh check carrying the error, others are still evaluated', () => {
    const nodes: NodeGather[] = [
      { address: '198.51.100.21', k8sIP: '198.51.100.21', error: { code: 'SshHostKeyUnknown', message: 'host key of 198.51.100.21 is unknown: ssh-ed25519 SHA256:abc', suggestions: ['rerun with --accept-new-host-keys'] } },
      ...[1, 2].map((i) => ({ address: `198.51.100.2${i + 1}`, k8sIP: `198.51.100.2${i + 1}`, facts: facts(i) })),
    ];
    const r = evaluatePreflight(evidence({ nodes, vipProbes: [{ field: 'controlPlaneVIP', vip: '198.51.100.10', from: '198.51.100.22', outcome: { kind: 'free' } }] }));
    assert.equal(r.ok, false);
    const n1 = r.nodes[0];
    assert.equal(n1?.checks.length, 1);
    assert.equal(n1?.checks[0]?.status, 'fail');
    assert.match(n1?.checks[0]?.message ?? '', /SshHostKeyUnknown: .*SHA256:abc/);
    assert.equal(check(r, '198.51.100.22', 'controlPlaneVIP-free').status, 'pass');
    const err = preflightFailedError(r, 'lab');
    assert.equal(err.code, 'PreflightFailed');
    assert.match(err.message, /198\.51\.100\.21 ssh/);
    assert.deepEqual(err.data, r);
  });

  it('GIVEN an IPv6 pool WHEN the node interface has an IPv6 address in that /64 THEN it is inside; without one THEN it fails', () => {
    const config = labConfig();
    config.loadBalancer.addressPools.push({ name: 'pool-v6', addresses: ['2001:db8:100::200-2001:db8:100::2ff'], avoidBuggyIPs: false, manualAssign: false });
    const withV6 = [0, 1, 2].map((i) => {
      const f = facts(i);
      f.interfaces[1]?.addrs.push({ family: 6, local: `2001:db8:100::2${i + 1}`, prefixlen: 64 }, { family: 6, local: 'fe80::1', prefixlen: 64 });
      return { address: f.address, k8sIP: f.k8sIP, facts: f };
    });
    assert.equal(check(evaluatePreflight(evidence({ config, nodes: withV6 })), '198.51.100.21', 'l2-subnet').status, 'pass');
    const c = check(evaluatePreflight(evidence({ config })), '198.51.100.21', 'l2-subnet');
    assert.equal(c.status, 'fail');
    assert.match(c.message, /pool pool-v6 .*no IPv6 address on eth0/);
  });
});

describe('preflight with a separate management network', () => {
  it('GIVEN SSH on 203.0.113.x (eth0) and k8sIP on 198.51.100.x (eth1) WHEN evaluated THEN eth1 is the LB interface and its subnet is checked', () => {
    const config = labConfig();
    config.loadBalancer.nodes = [0, 1, 2].map((i) => ({ address: `203.0.113.2${i + 1}`, k8sIP: `198.51.100.2${i + 1}` }));
    const nodes = [0, 1, 2].map((i) => {
      const f = facts(i, { address: `203.0.113.2${i + 1}` });
      f.interfaces = [
        { name: 'eth0', mac: `02:00:00:00:01:0${i}`, up: true, addrs: [{ family: 4, local: `203.0.113.2${i + 1}`, prefixlen: 24 }] },
        { name: 'eth1', mac: MACS[i] ?? '', up: true, addrs: [{ family: 4, local: `198.51.100.2${i + 1}`, prefixlen: 24 }] },
      ];
      return { address: f.address, k8sIP: f.k8sIP, facts: f };
    });
    const r = evaluatePreflight(
      evidence({ config, nodes, vipProbes: [{ field: 'controlPlaneVIP', vip: '198.51.100.10', from: '203.0.113.21', outcome: { kind: 'free' } }] }),
    );
    assert.equal(r.ok, true, formatPreflight(r));
    assert.equal(check(r, '203.0.113.22', 'interface').message, '198.51.100.22/24 on eth1');
    assert.match(check(r, '203.0.113.22', 'l2-subnet').message, /198\.51\.100\.0\/24 on eth1/);
  });
});

describe('parsers of node output', () => {
  it('GIVEN `ip -j addr` JSON WHEN parsed THEN interfaces, MACs, state and addresses come out', () => {
    const text = JSON.stringify([
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'], address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
      { ifindex: 2, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST'], address: '02:AA:00:00:00:01', addr_info: [{ family: 'inet', local: '198.51.100.21', prefixlen: 24 }, { family: 'inet6', local: '2001:db8:100::21', prefixlen: 64 }] },
      { ifindex: 3, ifname: 'dummy', flags: ['UP'], addr_info: [] },
    ]);
    assert.deepEqual(parseIpAddrJson(text), [
      { name: 'lo', mac: '00:00:00:00:00:00', up: true, addrs: [{ family: 4, local: '127.0.0.1', prefixlen: 8 }] },
      { name: 'eth0', mac: '02:aa:00:00:00:01', up: false, addrs: [{ family: 4, local: '198.51.100.21', prefixlen: 24 }, { family: 6, local: '2001:db8:100::21', prefixlen: 64 }] },
      { name: 'dummy', up: true, addrs: [] },
    ]);
  });

  it('GIVEN the real `ip -j addr show lo` of this machine WHEN parsed THEN lo holds 127.0.0.1/8', () => {
    const out = execFileSync('ip', ['-j', 'addr', 'show', 'lo'], { encoding: 'utf8' });
    const lo = parseIpAddrJson(out)[0];
    assert.equal(lo?.name, 'lo');
    assert.ok(lo?.addrs.some((a) => a.local === '127.0.0.1' && a.prefixlen === 8));
  });

  it('GIVEN `ss -ltnupH` lines WHEN parsed THEN protocol, address (brackets and scope stripped), port and process names come out', () => {
    const text = [
      'tcp   LISTEN 0      4096   198.51.100.10:443        0.0.0.0:*    users:(("haproxy",pid=812,fd=7),("haproxy",pid=811,fd=7))',
      'udp   UNCONN 0      0            0.0.0.0:7946       0.0.0.0:*    users:(("node",pid=99,fd=20))',
      'tcp   LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=5,fd=4))',
      'tcp   LISTEN 0      128   [fe80::1%eth0]:80            [::]:*',
      'Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port Process',
    ].join('\n');
    assert.deepEqual(parseSs(text), [
      { proto: 'tcp', address: '198.51.100.10', port: 443, processes: ['haproxy', 'haproxy'] },
      { proto: 'udp', address: '0.0.0.0', port: 7946, processes: ['node'] },
      { proto: 'tcp', address: '::', port: 22, processes: ['sshd'] },
      { proto: 'tcp', address: 'fe80::1', port: 80, processes: [] },
    ]);
  });

  it('GIVEN the gather script sections, sysctls, arping and neigh output WHEN parsed THEN values come out', () => {
    const s = splitSections('noise\n==bmlb:hostname\nlb1\n==bmlb:sysctl\nnet.ipv4.ip_forward=1\nnet.ipv6.ip_nonlocal_bind=\n');
    assert.equal(s.get('hostname'), 'lb1');
    assert.deepEqual(parseSysctls(s.get('sysctl') ?? ''), { 'net.ipv4.ip_forward': '1', 'net.ipv6.ip_nonlocal_bind': undefined });
    assert.deepEqual(parseArpingReplies('ARPING 198.51.100.92 from 0.0.0.0 eth0\nUnicast reply from 198.51.100.92 [6E:A4:59:53:94:C6]  0.524ms\nUnicast reply from 198.51.100.92 [6E:A4:59:53:94:C6]  0.6ms\n'), ['6e:a4:59:53:94:c6']);
    assert.equal(parseNeighLladdr('2001:db8:100::10 lladdr 02:00:00:00:00:21 REACHABLE\n'), '02:00:00:00:00:21');
    assert.equal(parseNeighLladdr('2001:db8:100::10 FAILED\n'), undefined);
  });
});
