/**
 * LoadBalancer Services end to end in an IPv6-enabled lab (root, network namespaces): `create
 * cluster` (the built CLI, run in the admin namespace) applies the speaker DaemonSet and the
 * controller Deployment, and the lab's node agents run them from those manifests. Everything is
 * observed from outside, as a user would: kubectl from admin, arping/curl/ping from the client.
 *
 * Story, in order (one lab):
 *  1. Services created with kubectl get IPs from pool-1; the pool-2 (manualAssign) annotation and a
 *     requested IP are honoured
 *  2. arping from the client: only the node named in bmlb.io/announcing-node answers, with its MAC
 *  3. HTTP to the Service IP reaches the backend (on cp1, through the announcing node)
 *  4. the Services are not all announced by one node
 *  5. the announcing node's link goes down → another node takes over (annotation, ARP, HTTP)
 *  6. a requested IP outside every pool → Warning Event AllocationFailed, no IP
 *  7. allow-shared-ip: compatible ports share an IP; an overlapping port requesting that IP is refused
 *  8. IPv6: a Service gets an address from pool-v6, Neighbor Solicitations are answered with the
 *     announcing node's MAC, and HTTP over IPv6 reaches the backend
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NAMES } from '../../../src/config/model.js';
import { startBackend, type Backend } from '../../helpers/backend.js';
import { useLab } from '../../helpers/lab.js';
import { arpingFromClient, bmlbJson, clientNeighbour6, httpFromClient, waitUntil } from './lab-cluster.js';

const LB = ['lb1', 'lb2', 'lb3'];
const BACKEND_NODE = 'cp1';
const POOL1 = { first: 201, last: 239 }; // .200 is the ingressVIP, reserved for the ingress Service
const POOL2 = { first: 240, last: 247 };
const ANNOUNCING = NAMES.announcingNodeAnnotation;
const POOL_ANNOTATION = NAMES.allocatedPoolAnnotation;

interface SvcState {
  ips: string[];
  node?: string;
  pool?: string;
}

function lastOctet(ip: string): number {
  const m = /^198\.51\.100\.(\d+)$/.exec(ip);
  assert.ok(m, `${ip} is on the lab segment`);
  return Number(m[1]);
}

describe('LoadBalancer Services in the lab: allocation, announcement, failover (e2e)', { timeout: 420_000 }, () => {
  const env = useLab({ tag: 'lbsvc', nodes: 4, lbNodes: 3, ipv6: true });
  let tmp: string;
  const dirs = { ws: '', home: '' };
  const backends: Backend[] = [];
  const mac: Record<string, string> = {};
  const byMac = (m: string): string => Object.entries(mac).find(([, v]) => v === m)?.[0] ?? `unknown MAC ${m}`;
  const ipOf: Record<string, string> = {};
  /** The node whose link the failover case cut, and web-a's IP. */
  let cut: { x: string; ip: string } | undefined;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'bmlbt-lbsvc-'));
    dirs.ws = join(tmp, 'ws');
    dirs.home = join(tmp, 'home');
    mkdirSync(dirs.ws);
    mkdirSync(dirs.home);
    for (const n of LB) {
      mac[n] = (await env.lab.nodeExec(n, ['cat', '/sys/class/net/eth0/address'])).stdout.trim().toLowerCase();
      assert.match(mac[n]!, /^[0-9a-f:]{17}$/);
    }
    const c = await bmlbJson(env.lab, dirs, ['create', 'cluster', '-c', env.lab.status.clusterFile, '--wait-timeout', '150'], 200_000);
    assert.equal(c.code, 0, `create cluster: ${JSON.stringify(c.json, null, 1)}\n${c.stderr.slice(-3000)}`);
  }, { timeout: 220_000 });

  after(async () => {
    for (const n of LB) await env.lab?.nodeExec(n, ['ip', 'link', 'set', 'eth0', 'up']).catch(() => undefined);
    for (const b of backends) await b.stop().catch(() => undefined);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, { timeout: 60_000 });

  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await env.lab.kubectl(args, { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  async function createService(name: string, o: { port?: number; targetPort?: number; annotations?: Record<string, string>; spec?: Record<string, unknown> } = {}): Promise<void> {
    await kubectl(['create', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Service',
      metadata: { name, namespace: 'default', ...(o.annotations ? { annotations: o.annotations } : {}) },
      spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: o.port ?? 80, targetPort: o.targetPort ?? 8080, protocol: 'TCP' }], ...o.spec },
    }));
  }

  async function serviceState(name: string): Promise<SvcState> {
    const s = JSON.parse(await kubectl(['get', 'service', name, '-n', 'default', '-o', 'json']));
    return {
      ips: (s.status?.loadBalancer?.ingress ?? []).map((i: { ip?: string }) => i.ip).filter(Boolean),
      node: s.metadata?.annotations?.[ANNOUNCING],
      pool: s.metadata?.annotations?.[POOL_ANNOTATION],
    };
  }

  /** Waits until the Service has an IP and an announcing node. */
  const announced = (name: string, ms = 60_000): Promise<SvcState> =>
    waitUntil(`Service ${name} got an IP and an announcing node`, ms, async () => {
      const s = await serviceState(name);
      return { value: s.ips.length > 0 && s.node ? s : undefined, seen: JSON.stringify(s) };
    }, 500);

  async function warnings(name: string): Promise<{ reason: string; message: string }[]> {
    const list = JSON.parse(await kubectl(['get', 'events', '-n', 'default', '--field-selector', `involvedObject.name=${name}`, '-o', 'json']));
    return (list.items ?? []).filter((e: { type?: string }) => e.type === 'Warning').map((e: { reason?: string; message?: string }) => ({ reason: e.reason ?? '', message: e.message ?? '' }));
  }

  async function backendFor(service: string, port: number, v6 = false): Promise<void> {
    const n = env.lab.status.nodes.find((x) => x.name === BACKEND_NODE)!;
    const address = v6 ? n.addressV6 : n.address;
    assert.ok(address, `${BACKEND_NODE} has an ${v6 ? 'IPv6' : 'IPv4'} address`);
    backends.push(await startBackend({
      spawn: (argv) => env.lab.nodeSpawn(BACKEND_NODE, argv, { stdio: ['ignore', 'pipe', 'pipe'] }),
      kubectl: (args, input) => env.lab.kubectl(args, { input }),
      node: { name: BACKEND_NODE, address },
      port,
      service: { namespace: 'default', name: service, portName: 'http' },
    }));
  }

  /** Every arping reply for `ip` comes from `node`'s MAC (and there is at least one). */
  async function assertOnlyAnswerer(ip: string, node: string): Promise<void> {
    const { macs, out } = await arpingFromClient(env.lab, ip, 3);
    assert.ok(macs.length >= 2, `arping ${ip} got replies (3 probes):\n${out}`);
    assert.deepEqual([...new Set(macs)].map(byMac), [node], `only ${node} answers for ${ip}:\n${out}`);
  }

  it('GIVEN a created cluster WHEN LoadBalancer Services are created with kubectl THEN each gets an IP from the right pool', async () => {
    for (const [i, name] of ['web-a', 'web-b', 'web-c'].entries()) {
      await createService(name, { targetPort: 8081 + i });
      await backendFor(name, 8081 + i);
    }
    await createService('manual-any', { annotations: { 'metallb.universe.tf/address-pool': 'pool-2' } });
    await createService('manual-ip', { annotations: { 'metallb.universe.tf/address-pool': 'pool-2', 'metallb.universe.tf/loadBalancerIPs': '198.51.100.245' } });
    const seen = new Set<string>();
    for (const name of ['web-a', 'web-b', 'web-c']) {
      const s = await announced(name);
      assert.equal(s.ips.length, 1, JSON.stringify(s));
      const o = lastOctet(s.ips[0]!);
      assert.ok(o >= POOL1.first && o <= POOL1.last, `${name}: ${s.ips[0]} is in pool-1`);
      assert.equal(s.pool, 'pool-1');
      assert.ok(LB.includes(s.node!), `${name} is announced by an LB node (${s.node})`);
      assert.ok(!seen.has(s.ips[0]!), `${name}: ${s.ips[0]} is not given twice`);
      seen.add(s.ips[0]!);
      ipOf[name] = s.ips[0]!;
    }
    const any = await announced('manual-any');
    const o = lastOctet(any.ips[0]!);
    assert.ok(o >= POOL2.first && o <= POOL2.last, `manual-any: ${any.ips[0]} is in pool-2`);
    assert.equal(any.pool, 'pool-2');
    const req = await announced('manual-ip');
    assert.deepEqual(req.ips, ['198.51.100.245']);
    assert.equal(req.pool, 'pool-2');
  });

  it('GIVEN the announced Services WHEN the client arpings each IP THEN only the node named in the annotation answers, with its MAC', async () => {
    for (const name of ['web-a', 'web-b', 'web-c', 'manual-ip']) {
      const s = await announced(name);
      await assertOnlyAnswerer(s.ips[0]!, s.node!);
      const addrs = (await env.lab.nodeExec(s.node!, ['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
      assert.ok(!addrs.includes(`${s.ips[0]}/`), `the Service IP is not on ${s.node}'s interface:\n${addrs}`);
    }
  });

  it('GIVEN a backend on cp1 WHEN the client sends HTTP to each Service IP THEN the backend answers', async () => {
    for (const name of ['web-a', 'web-b', 'web-c']) {
      const r = await waitUntil(`HTTP to ${name} (${ipOf[name]}) answered`, 15_000, async () => {
        const h = await httpFromClient(env.lab, `http://${ipOf[name]}:80/`);
        return { value: h.ok ? h : undefined, seen: h.out };
      }, 500);
      assert.equal(r.body, BACKEND_NODE);
    }
  });

  it('GIVEN Services over three LB nodes WHEN their announcing nodes are compared THEN not all are the same node', async () => {
    const nodes = new Set<string>();
    for (const name of ['web-a', 'web-b', 'web-c']) nodes.add((await announced(name)).node!);
    // The election is a deterministic hash of node and IP: add Services until two nodes differ.
    for (let i = 0; nodes.size < 2 && i < 8; i++) {
      await createService(`spread-${i}`, { targetPort: 9000 + i });
      nodes.add((await announced(`spread-${i}`)).node!);
    }
    assert.ok(nodes.size >= 2, `announcing nodes: ${[...nodes].join(', ')}`);
  });

  it('GIVEN web-a is announced by node X WHEN X\'s link goes down THEN another node takes over: annotation, ARP replies and HTTP', async () => {
    const before = await announced('web-a');
    const x = before.node!;
    const ip = before.ips[0]!;
    await env.lab.nodeExec(x, ['ip', 'link', 'set', 'eth0', 'down']);
    const t0 = Date.now();
    try {
      const y = await waitUntil(`the announcing-node annotation of web-a left ${x}`, 10_000, async () => {
        const s = await serviceState('web-a');
        return { value: s.node && s.node !== x ? s.node : undefined, seen: JSON.stringify(s) };
      }, 200);
      const tAnnotation = Date.now() - t0;
      assert.ok(LB.includes(y) && y !== x, y);
      const h = await waitUntil(`HTTP to ${ip} works again through ${y}`, 10_000, async () => {
        const r = await httpFromClient(env.lab, `http://${ip}:80/`);
        return { value: r.ok ? r : undefined, seen: r.out };
      }, 200);
      const tHttp = Date.now() - t0;
      assert.equal(h.body, BACKEND_NODE);
      const replyMacs = await waitUntil(`arping ${ip} answered by ${y}`, 10_000, async () => {
        const a = await arpingFromClient(env.lab, ip, 2);
        return { value: a.macs.length > 0 && a.macs.every((m) => m === mac[y]) ? a.macs : undefined, seen: a.out };
      }, 200);
      assert.deepEqual([...new Set(replyMacs)], [mac[y]]);
      await assertOnlyAnswerer(ip, y);
      const ev = await waitUntil(`an Event on web-a saying ${y} announces it`, 10_000, async () => {
        const list = JSON.parse(await kubectl(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=web-a', '-o', 'json']));
        const msgs: string[] = (list.items ?? []).map((e: { message?: string }) => e.message ?? '');
        return { value: msgs.find((m) => m.startsWith(`announcing from node ${y}: ${ip} `)), seen: JSON.stringify(msgs) };
      }, 500);
      assert.ok(ev.toLowerCase().includes(mac[y]!), `the Event names ${y}'s MAC ${mac[y]}: ${ev}`);
      process.stdout.write(`failover ${x} → ${y}: annotation after ${tAnnotation} ms, HTTP again after ${tHttp} ms (polled through kubectl and curl, not a measurement)\n`);
    } finally {
      await env.lab.nodeExec(x, ['ip', 'link', 'set', 'eth0', 'up']);
    }
    cut = { x, ip };
  });

  it('GIVEN X\'s link is back WHEN the election returns web-a to X THEN the client\'s own neighbour entry moves to X\'s MAC (gratuitous ARP) without the client asking, and HTTP works', async () => {
    assert.ok(cut, 'the link-cut case ran');
    const { x, ip } = cut;
    // The election is deterministic: with all three nodes live again, X wins web-a back.
    await waitUntil(`the announcing-node annotation of web-a names ${x} again`, 20_000, async () => {
      const s = await serviceState('web-a');
      return { value: s.node === x ? true : undefined, seen: JSON.stringify(s) };
    }, 300);
    // No arping here: replies to the client's own probes would refresh its entry and hide a
    // missing gratuitous ARP. Plain HTTP traffic, and the kernel's neighbour table as it is.
    const entry = await waitUntil(`the client's neighbour entry for ${ip} carries ${x}'s MAC ${mac[x]}`, 5_000, async () => {
      const h = await httpFromClient(env.lab, `http://${ip}:80/`);
      const n = await env.lab.exec('client', ['ip', 'neigh', 'show', ip, 'dev', 'eth0']);
      const m = /lladdr ([0-9a-f:]{17})/i.exec(n.stdout)?.[1]?.toLowerCase();
      return { value: m === mac[x] ? n.stdout.trim() : undefined, seen: `${n.stdout.trim()} (= ${m ? byMac(m) : 'none'}); HTTP ${h.out}` };
    }, 300);
    assert.match(entry, new RegExp(mac[x]!, 'i'));
    await assertOnlyAnswerer(ip, x);
    const back = await httpFromClient(env.lab, `http://${ip}:80/`);
    assert.ok(back.ok, `HTTP to ${ip} after the link came back: ${back.out}`);
  });

  it('GIVEN a Service requesting 198.51.100.9 (in no pool) WHEN the controller sees it THEN a Warning Event AllocationFailed names the address and it gets no IP', async () => {
    await createService('outside', { spec: { loadBalancerIP: '198.51.100.9' } });
    const ev = await waitUntil('a Warning Event on Service outside', 30_000, async () => {
      const w = await warnings('outside');
      return { value: w.find((e) => e.reason === 'AllocationFailed'), seen: JSON.stringify(w) };
    }, 500);
    assert.match(ev.message, /198\.51\.100\.9 is not in any pool/);
    assert.deepEqual((await serviceState('outside')).ips, []);
    const a = await arpingFromClient(env.lab, '198.51.100.9', 1);
    assert.deepEqual(a.macs, [], `nobody answers for 198.51.100.9:\n${a.out}`);
  });

  it('GIVEN allow-shared-ip key k1 WHEN two Services with different ports use it THEN they share one IP; a third with an overlapping port requesting that IP is refused with an Event', async () => {
    const key = { 'metallb.universe.tf/allow-shared-ip': 'k1' };
    await createService('share-a', { port: 80, annotations: key });
    await createService('share-b', { port: 81, annotations: key });
    const a = await announced('share-a');
    const b = await announced('share-b');
    assert.equal(a.ips.length, 1);
    assert.deepEqual(b.ips, a.ips, 'share-a and share-b have the same IP');
    const shared = a.ips[0]!;
    assert.equal(b.node, a.node, 'one IP, one announcing node');
    await assertOnlyAnswerer(shared, a.node!);

    await createService('share-c', { port: 80, annotations: { ...key, 'metallb.universe.tf/loadBalancerIPs': shared } });
    const ev = await waitUntil('a Warning Event on Service share-c', 30_000, async () => {
      const w = await warnings('share-c');
      return { value: w.find((e) => e.reason === 'AllocationFailed'), seen: JSON.stringify(w) };
    }, 500);
    assert.match(ev.message, new RegExp(`port 80/TCP on ${shared.replaceAll('.', '\\.')} is already used by Service default/share-a`));
    assert.deepEqual((await serviceState('share-c')).ips, []);
    // Without a requested IP, an overlapping port under the same key gets an address of its own
    // (MetalLB's rule: the key allows sharing, it does not force it).
    await createService('share-d', { port: 80, annotations: key });
    const d = await announced('share-d');
    assert.equal(d.ips.length, 1);
    assert.notEqual(d.ips[0], shared, 'share-d does not get the IP where its port is taken');
    // The refusal changed nothing for the two sharing Services.
    assert.deepEqual((await serviceState('share-a')).ips, [shared]);
    assert.deepEqual((await serviceState('share-b')).ips, [shared]);
  });

  it('GIVEN an IPv6 lab WHEN a Service with ipFamilies [IPv6] is created THEN it gets an address from pool-v6, NDP is answered with the announcing node\'s MAC and HTTP over IPv6 reaches the backend', async () => {
    await createService('web-v6', { targetPort: 8090, spec: { ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack' } });
    await backendFor('web-v6', 8090, true);
    const s = await announced('web-v6');
    assert.equal(s.ips.length, 1, JSON.stringify(s));
    const ip = s.ips[0]!;
    const m = /^2001:db8:100::([0-9a-f]+)$/.exec(ip);
    assert.ok(m && parseInt(m[1]!, 16) >= 0x200 && parseInt(m[1]!, 16) <= 0x2ff, `${ip} is in pool-v6 (2001:db8:100::200-2ff)`);
    assert.equal(s.pool, 'pool-v6');
    assert.ok(LB.includes(s.node!), s.node);
    // The client resolves the address with a Neighbor Solicitation (ping triggers it; the echo
    // itself is not answered, since the address is on no interface).
    await env.lab.exec('client', ['ip', '-6', 'neigh', 'flush', 'dev', 'eth0']);
    const n = await waitUntil(`the client has a neighbour entry for ${ip}`, 10_000, async () => {
      await env.lab.exec('client', ['ping', '-6', '-c', '2', '-i', '0.3', '-W', '1', ip], { timeoutMs: 8000 });
      const e = await clientNeighbour6(env.lab, ip);
      return { value: e.mac && /REACHABLE|STALE|DELAY|PROBE/.test(e.out) ? e : undefined, seen: e.out };
    }, 500);
    assert.equal(byMac(n.mac!), s.node, `the Neighbor Advertisement for ${ip} carries ${s.node}'s MAC (${n.out.trim()})`);
    const h = await waitUntil(`HTTP to [${ip}]:80 answered`, 15_000, async () => {
      const r = await httpFromClient(env.lab, `http://[${ip}]:80/`);
      return { value: r.ok ? r : undefined, seen: r.out };
    }, 500);
    assert.equal(h.body, BACKEND_NODE);
  });
});
