/**
 * The rendered VRRP settings on a real segment: three sandbox LB nodes of the lab sample and a
 * control-plane node on one bridge, each LB node running keepalived and HAProxy with exactly the
 * rendered files and the static pods' commands. Checks what the rendering promises — one holder,
 * fast failover with bmlb's default timers, no ping-pong when the old holder returns, for both
 * multicast and unicast adverts, and for the IPv6 sample. Root only (network namespaces).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parse } from 'yaml';
import type { ClusterConfig } from '../../../src/config/model.js';
import { NODE_PATHS, PORTS } from '../../../src/render/layout.js';
import { renderAll, type RenderInput } from '../../../src/render/render-all.js';
import { NodeSandbox, Segment, startFakeApiserver, waitFor } from './node-sandbox.js';
import { samples } from './samples.js';

function commandOf(manifest: string): string[] {
  return (parse(manifest) as { spec: { containers: { command: string[] }[] } }).spec.containers[0]!.command;
}

/**
 * `holdDownMs`: how long the holder's link stays down after the VIP moved. 0 = restore at once
 * (a short flap: the returning node's health check has not failed yet, so it comes back as BACKUP
 * immediately and must hear the master's adverts within its master-down interval).
 */
async function scenario(t: { after: (fn: () => unknown) => void; diagnostic: (m: string) => void }, sample: string, holdDownMs: number, change: (c: ClusterConfig) => void): Promise<void> {
  const base = samples().find((x) => x.name === sample)!.input;
  const config = structuredClone(base.config);
  change(config);
  const input: RenderInput = { ...base, config };
  const out = renderAll(input);
  const vip = config.loadBalancer.controlPlaneVIP;
  const v6 = vip.includes(':');

  const seg = new Segment();
  const boxes: NodeSandbox[] = [];
  t.after(async () => {
    for (const b of boxes) await b.close();
    seg.close();
  });
  // Control-plane nodes that are not LB nodes get a sandbox of their own running the apiserver.
  const lbK8sIPs = new Set(config.loadBalancer.nodes.map((n) => n.k8sIP));
  for (const cp of config.controlPlane.nodes.filter((n) => !lbK8sIPs.has(n.k8sIP))) {
    const cpBox = new NodeSandbox('eth0', [`${cp.k8sIP}/${cp.k8sIP.includes(':') ? 64 : 24}`], { segment: seg });
    boxes.push(cpBox);
    startFakeApiserver(cpBox, cp.k8sIP, PORTS.apiserver);
  }

  const lbs = out.nodes.map((n) => {
    const facts = input.nodeFacts[n.address]!;
    const k8sIP = config.loadBalancer.nodes.find((x) => x.address === n.address)!.k8sIP;
    const box = new NodeSandbox(facts.interface, [`${k8sIP}/${facts.prefixLength}`],
      { segment: seg, sysctls: { [v6 ? 'net.ipv6.ip_nonlocal_bind' : 'net.ipv4.ip_nonlocal_bind']: '1' } });
    boxes.push(box);
    // An LB node that is also a control-plane node runs its own apiserver.
    if (config.controlPlane.nodes.some((c) => c.k8sIP === k8sIP)) startFakeApiserver(box, k8sIP, PORTS.apiserver);
    for (const f of n.files) if (f.path.startsWith('/etc/bmlb/')) box.writeEtcBmlb(f.path, f.content);
    const manifest = (p: string): string => n.files.find((f) => f.path === p)!.content;
    box.start(commandOf(manifest(NODE_PATHS.haproxyManifest)));
    const keepalived = box.start(commandOf(manifest(NODE_PATHS.keepalivedManifest)));
    return { box, iface: facts.interface, vipCidr: `${vip}/${facts.prefixLength}`, keepalivedLog: keepalived.log };
  });
  const holders = (): number[] => lbs.flatMap((l, i) => (l.box.addresses(l.iface).includes(l.vipCidr) ? [i] : []));

  // 1. Exactly one node takes the VIP.
  const up = await waitFor(() => holders().length === 1, 15000);
  assert.ok(up >= 0, `no single VIP holder: ${JSON.stringify(holders())}`);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(holders().length, 1, 'still exactly one holder a second later (no split brain)');
  const first = holders()[0]!;

  // 2. Its link goes down: another node takes over, quickly (sub-second adverts).
  execFileSync('ip', ['-n', lbs[first]!.box.ns, 'link', 'set', lbs[first]!.iface, 'down']);
  const cutAt = Date.now();
  const moved = await waitFor(() => holders().some((h) => h !== first), 8000);
  assert.ok(moved >= 0, 'the VIP did not move when its holder lost its link');
  const failoverMs = Date.now() - cutAt;
  const second = holders().find((h) => h !== first)!;

  // 3. The old holder returns: no ping-pong, the VIP stays where it is, one holder only.
  await new Promise((r) => setTimeout(r, holdDownMs));
  const logMark = lbs[first]!.keepalivedLog().length;
  execFileSync('ip', ['-n', lbs[first]!.box.ns, 'link', 'set', lbs[first]!.iface, 'up']);
  const samplesSeen: number[][] = [];
  // The returning node becomes an eligible BACKUP again (its link and health are back) ...
  const backup = await waitFor(() => {
    samplesSeen.push(holders());
    return lbs[first]!.keepalivedLog().slice(logMark).includes('Entering BACKUP STATE');
  }, 10000);
  assert.ok(backup >= 0, `lb${first + 1} did not return as BACKUP:\n${lbs[first]!.keepalivedLog().slice(logMark)}`);
  // ... and still does not take the VIP back.
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 100));
    samplesSeen.push(holders());
  }
  assert.ok(samplesSeen.every((h) => h.length === 1 && h[0] === second), `VIP holders after the old holder returned: ${JSON.stringify(samplesSeen)}`);
  t.diagnostic(`first holder lb${first + 1}; failover to lb${second + 1} in ${failoverMs} ms (poll granularity 100 ms); ` +
    `lb${first + 1} back as BACKUP after ${backup} ms; the VIP stayed on lb${second + 1} (sampled for 3 s more)`);
}

describe('rendered VRRP on a segment', () => {
  it('GIVEN three LB nodes with the lab sample\'s files (multicast) WHEN the holder\'s link is cut and restored THEN the VIP moves within a second and does not come back', async (t) => {
    await scenario(t, 'lab', 0, () => {});
  });

  it('GIVEN the same with unicast adverts WHEN the holder\'s link is cut and restored THEN the VIP moves within a second and does not come back', async (t) => {
    await scenario(t, 'lab', 0, (c) => { c.loadBalancer.bmlb.vrrp.unicast = true; });
  });

  it('GIVEN the IPv6 sample (VIP on the three control-plane nodes, unicast, 500 ms adverts) WHEN the holder\'s link is cut and restored THEN the VIP moves and does not come back', async (t) => {
    await scenario(t, 'v6-cp', 0, () => {});
  });
});
