/**
 * Preflight's probes against the real kernel, without SSH: three network namespaces on one bridge
 * (two "LB nodes" a and b, and a squatter c holding addresses), with the node shell running
 * commands through `ip netns exec`. Covers what the lab story does not: IPv6 VIP probing (ND),
 * a VIP answered by a foreign MAC, and a blocked membership port between LB nodes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { NodeShell, ExecResult, RunOptions } from '../../../src/provision/ssh/ssh-connection.js';
import { gatherFacts, probePeers, probeVip } from '../../../src/provision/preflight/gather.js';
import { interfaceHolding } from '../../../src/provision/preflight/facts.js';

const tag = process.pid.toString(36).slice(-4);
const NS = { seg: `bmlbt-pv${tag}-s`, a: `bmlbt-pv${tag}-a`, b: `bmlbt-pv${tag}-b`, c: `bmlbt-pv${tag}-c` };
const ADDR = { a: '198.51.100.121', b: '198.51.100.122', c: '198.51.100.123' };
const V6 = { a: '2001:db8:ff::121', b: '2001:db8:ff::122', c: '2001:db8:ff::123' };

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A NodeShell that runs in a network namespace on this machine (the probes' commands are the same). */
class NetnsShell implements NodeShell {
  constructor(readonly address: string, private readonly ns: string) {}
  async run(command: string, opts: RunOptions = {}): Promise<ExecResult> {
    return await new Promise((resolve, reject) => {
      const c = spawn('ip', ['netns', 'exec', this.ns, 'sh', '-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const t = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
      c.on('error', reject);
      c.on('close', (code) => {
        clearTimeout(t);
        resolve({ code, stdout, stderr });
      });
      c.stdin.end(opts.stdin ?? '');
    });
  }
  async readFile(): Promise<Buffer | undefined> {
    throw new Error('not used');
  }
  async writeFile(): Promise<void> {
    throw new Error('not used');
  }
}

describe('preflight probes in network namespaces (e2e)', { timeout: 120_000 }, () => {
  const shells = { a: new NetnsShell(ADDR.a, NS.a), b: new NetnsShell(ADDR.b, NS.b), c: new NetnsShell(ADDR.c, NS.c) };

  before(() => {
    ip('netns', 'add', NS.seg);
    ip('-n', NS.seg, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', NS.seg, 'link', 'set', 'br0', 'up');
    for (const k of ['a', 'b', 'c'] as const) {
      ip('netns', 'add', NS[k]);
      ip('-n', NS.seg, 'link', 'add', `p-${k}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS[k]);
      ip('-n', NS.seg, 'link', 'set', `p-${k}`, 'master', 'br0', 'up');
      ip('-n', NS[k], 'link', 'set', 'lo', 'up');
      ip('-n', NS[k], 'addr', 'add', `${ADDR[k]}/24`, 'dev', 'eth0');
      ip('-n', NS[k], 'addr', 'add', `${V6[k]}/64`, 'dev', 'eth0', 'nodad');
      ip('-n', NS[k], 'link', 'set', 'eth0', 'up');
    }
    // c squats on a v4 and a v6 address that the cluster file would use as VIPs.
    ip('-n', NS.c, 'addr', 'add', '198.51.100.110/24', 'dev', 'eth0');
    ip('-n', NS.c, 'addr', 'add', '2001:db8:ff::110/64', 'dev', 'eth0', 'nodad');
  });

  after(() => {
    for (const ns of [NS.a, NS.b, NS.c, NS.seg]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* already gone */
      }
    }
  });

  it('GIVEN a node namespace WHEN facts are gathered THEN the interface holding its k8sIP, prefix, sysctls and tools come from the kernel', async () => {
    const f = await gatherFacts(shells.a, { address: ADDR.a, k8sIP: ADDR.a });
    const held = interfaceHolding(f.interfaces, ADDR.a);
    assert.equal(held?.iface.name, 'eth0');
    assert.equal(held?.addr.prefixlen, 24);
    assert.ok(f.interfaces.find((i) => i.name === 'eth0')?.addrs.some((x) => x.local === V6.a && x.prefixlen === 64));
    assert.match(f.sysctls['net.ipv4.ip_nonlocal_bind'] ?? '', /^[01]$/);
    assert.ok(f.tools.includes('arping') && f.tools.includes('perl'));
    assert.ok(Math.abs(f.clockOffsetMs) < 1000, `same machine, offset ${f.clockOffsetMs} ms`);
  });

  it('GIVEN c holds 198.51.100.110 and 2001:db8:ff::110 WHEN probed from a THEN both are answered with c\'s MAC; unused addresses are free', async () => {
    const f = await gatherFacts(shells.a, { address: ADDR.a, k8sIP: ADDR.a });
    const cFacts = await gatherFacts(shells.c, { address: ADDR.c, k8sIP: ADDR.c });
    const cMac = cFacts.interfaces.find((i) => i.name === 'eth0')?.mac;
    assert.ok(cMac);
    assert.deepEqual(await probeVip(shells.a, f, '198.51.100.110'), { kind: 'answered', macs: [cMac] });
    assert.deepEqual(await probeVip(shells.a, f, '198.51.100.111'), { kind: 'free' });
    assert.deepEqual(await probeVip(shells.a, f, '2001:db8:ff::110'), { kind: 'answered', macs: [cMac] });
    assert.deepEqual(await probeVip(shells.a, f, '2001:db8:ff::111'), { kind: 'free' });
  });

  it('GIVEN two LB nodes WHEN the membership port is probed THEN they reach each other; with TCP 7946 dropped on b THEN a cannot reach b', async () => {
    const fa = await gatherFacts(shells.a, { address: ADDR.a, k8sIP: ADDR.a });
    const fb = await gatherFacts(shells.b, { address: ADDR.b, k8sIP: ADDR.b });
    const nodes = [
      { shell: shells.a, facts: fa },
      { shell: shells.b, facts: fb },
    ];
    const ok = await probePeers(nodes, 7946);
    assert.deepEqual(ok[ADDR.a], { kind: 'tested', reached: [ADDR.b], unreachable: [] });
    assert.deepEqual(ok[ADDR.b], { kind: 'tested', reached: [ADDR.a], unreachable: [] });
    // Listeners are gone afterwards (stopped by PID).
    const left = await shells.a.run('ss -ltnH "( sport = :7946 )"');
    assert.equal(left.stdout.trim(), '');

    execFileSync('ip', ['netns', 'exec', NS.b, 'nft', '-f', '-'], {
      input: 'table inet bmlbt_pv {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 7946 drop\n  }\n}\n',
    });
    const blocked = await probePeers(nodes, 7946);
    const a = blocked[ADDR.a];
    assert.equal(a?.kind, 'tested');
    assert.deepEqual(a?.kind === 'tested' ? a.unreachable.map((u) => u.to) : [], [ADDR.b]);
    assert.deepEqual(blocked[ADDR.b], { kind: 'tested', reached: [ADDR.a], unreachable: [] });
  });
});
