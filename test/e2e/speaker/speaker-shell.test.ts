/**
 * The speaker daemon's wiring (src/speaker/speaker.ts) against the in-process lab API server, with
 * the two network edges stubbed: an in-memory announcer and a membership whose live set the test
 * drives. Pins what the namespace tests cannot observe precisely: the settle period, the
 * synchronous failover path, live peer and timer changes, a missing Secret, non-LB nodes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { loadKube, resourcePath, type Kube } from '../../../src/kube/kube-client.js';
import { NAMES, type SpeakerConfig } from '../../../src/config/model.js';
import { formatSpeakerConfig, parseSpeakerConfig } from '../../../src/config/speaker-config.js';
import { rankCandidates } from '../../../src/speaker/election.js';
import type { L2Announcer } from '../../../src/speaker/layer2/announcer.js';
import type { Membership, MembershipOptions } from '../../../src/speaker/membership.js';
import { runSpeaker, type RunningSpeaker } from '../../../src/speaker/speaker.js';

const LB = ['lb1', 'lb2', 'lb3'];
const IP_OF: Record<string, string> = { lb1: '198.51.100.21', lb2: '198.51.100.22', lb3: '198.51.100.23', w1: '198.51.100.31' };
const IPS = Array.from({ length: 12 }, (_, i) => `198.51.100.${200 + i}`);

const baseConfig: SpeakerConfig = {
  apiVersion: 'bmlb.io/v1', clusterName: 'shell', type: 'layer2', controlPlaneVIP: '198.51.100.10',
  addressPools: [{ name: 'pool-1', addresses: ['198.51.100.200-198.51.100.239'], avoidBuggyIPs: false, manualAssign: false }],
  lbNodes: LB.map((n) => ({ address: IP_OF[n] as string, k8sIP: IP_OF[n] as string })),
  speaker: { heartbeatIntervalMs: 50, failureTimeoutMs: 300, garpRepeat: 3, memberPort: 7946, metricsPort: 7472 },
  bgpPeers: [],
};

class FakeMembership implements Membership {
  peers: string[];
  closed = false;
  leftGracefully = false;
  private current: string[];
  private readonly cbs: ((live: string[]) => void)[] = [];
  constructor(readonly opts: MembershipOptions) {
    this.peers = [...opts.peers];
    this.current = [opts.nodeName];
  }
  live(): string[] { return [...this.current]; }
  on(_e: 'change', cb: (live: string[]) => void): void { this.cbs.push(cb); }
  setPeers(a: string[]): void { this.peers = [...a]; }
  stats() { return { members: this.current.length, sent: 0, received: 0, droppedAuth: 0, droppedReplay: 0, droppedStale: 0, droppedMalformed: 0, tcpProbes: 0 }; }
  localPort(): number { return this.opts.port; }
  async close(o?: { leave?: boolean }): Promise<void> { this.closed = true; this.leftGracefully = !!o?.leave; }
  set(live: string[]): void {
    this.current = [...live].sort();
    for (const cb of this.cbs) cb(this.live());
  }
}

function fakeAnnouncer(): L2Announcer & { log: string[] } {
  const set = new Set<string>();
  const log: string[] = [];
  return {
    interfaceName: 'eth0', mac: '02:00:5e:00:00:21', log,
    announce(ip) { if (set.has(ip)) return false; set.add(ip); log.push(`+${ip}`); return true; },
    refresh(ip) { if (!set.has(ip)) return false; log.push(`~${ip}`); return true; },
    withdraw(ip) { if (!set.delete(ip)) return false; log.push(`-${ip}`); return true; },
    announced() { return [...set].sort(); },
    stats() { return { arpRequests: 0, arpReplies: 0, ndpSolicitations: 0, ndpAdverts: 0, gratuitousSent: 0, sendErrors: 0 }; },
    close() { set.clear(); },
  };
}

let api: TestApi;
let kube: Kube;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 8000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() - start > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

const putConfig = (c: SpeakerConfig): Promise<unknown> =>
  kube.rest.patch(resourcePath('v1', 'configmaps', NAMES.namespace, NAMES.configMap), { data: { [NAMES.configKey]: formatSpeakerConfig(c) } }, 'merge');

interface Harness {
  speaker: RunningSpeaker;
  memberships: FakeMembership[];
  announcer: ReturnType<typeof fakeAnnouncer>;
  logs: string[];
}

async function start(self: string, client: Kube = kube): Promise<Harness> {
  const memberships: FakeMembership[] = [];
  const announcer = fakeAnnouncer();
  const logs: string[] = [];
  const ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = {
    eth0: [{ address: IP_OF[self] as string, netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:5e:00:00:21', internal: false, cidr: null }],
  };
  const speaker = await runSpeaker(
    { nodeName: self, namespace: NAMES.namespace, configMap: NAMES.configMap, memberSecret: NAMES.memberSecret, interfaceName: 'auto', metricsPort: 0, metricsHost: '127.0.0.1' },
    {
      kube: client,
      openAnnouncer: async () => announcer,
      startMembership: async (o) => { const m = new FakeMembership(o); memberships.push(m); return m; },
      parseConfig: parseSpeakerConfig,
      interfaces: () => ifaces,
      log: (l) => logs.push(l),
    },
  );
  return { speaker, memberships, announcer, logs };
}

const expectedFor = (self: string, live: string[]): string[] => IPS.filter((ip) => rankCandidates(ip, live)[0] === self).sort();

before(async () => {
  api = await startTestApiServer();
  kube = loadKube({ kubeconfigPath: await api.kubeconfigPath('bmlb-installer') });
  await kube.rest.create(resourcePath('v1', 'namespaces'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMES.namespace } });
  await kube.rest.create(resourcePath('v1', 'configmaps', NAMES.namespace), {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: NAMES.configMap, namespace: NAMES.namespace }, data: { [NAMES.configKey]: formatSpeakerConfig(baseConfig) },
  });
  for (const n of [...LB, 'w1']) {
    await kube.rest.create(resourcePath('v1', 'nodes'), {
      apiVersion: 'v1', kind: 'Node', metadata: { name: n }, status: { addresses: [{ type: 'InternalIP', address: IP_OF[n] }] },
    });
  }
  for (const [i, ip] of IPS.entries()) {
    const name = `s${i}`;
    await kube.rest.create(resourcePath('v1', 'services', 'default'), {
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] },
    });
    await kube.rest.patch(resourcePath('v1', 'services', 'default', name, 'status'), { status: { loadBalancer: { ingress: [{ ip }] } } }, 'merge');
  }
});

after(async () => { await api?.close(); });

// The tests run in order: the first one creates the membership Secret the others rely on.
test('GIVEN no membership Secret WHEN an LB-node speaker starts THEN it does not join and announces nothing; once the Secret exists it joins', async (t) => {
  const h = await start('lb1');
  t.after(() => h.speaker.stop());
  await until('config loaded', () => h.speaker.snapshot().configLoaded);
  await sleep(300);
  assert.equal(h.memberships.length, 0);
  assert.deepEqual(h.announcer.announced(), []);
  assert.ok(h.logs.some((l) => /Secret bmlb-system\/bmlb-memberlist .* is missing/.test(l)), h.logs.join('\n'));
  await kube.rest.create(resourcePath('v1', 'secrets', NAMES.namespace), {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: NAMES.memberSecret, namespace: NAMES.namespace },
    data: { [NAMES.memberSecretKey]: randomBytes(32).toString('base64') },
  });
  const m = await until('membership started', () => h.memberships[0], 8000);
  assert.equal(m.opts.bindAddress, IP_OF.lb1);
  assert.equal(m.opts.port, 7946);
  assert.deepEqual([...m.opts.peers].sort(), [IP_OF.lb2, IP_OF.lb3]);
  assert.equal(m.opts.heartbeatIntervalMs, 50);
  assert.equal(m.opts.failureTimeoutMs, 300);
});

test('GIVEN a fresh speaker WHEN it has not heard its peers THEN it claims nothing; when all are heard it takes exactly its share', async (t) => {
  const h = await start('lb1');
  t.after(() => h.speaker.stop());
  const m = await until('membership started', () => h.memberships[0]);
  await sleep(100);
  assert.deepEqual(h.announcer.announced(), [], 'alone right after joining: settle, do not claim every IP');
  m.set(LB);
  assert.deepEqual(h.announcer.announced(), expectedFor('lb1', LB), 'applied synchronously on the membership change');
  assert.ok(expectedFor('lb1', LB).length < IPS.length);
});

test('GIVEN a fresh speaker whose peers stay silent WHEN the settle period (one failure timeout) ends THEN it takes everything', async (t) => {
  const h = await start('lb1');
  t.after(() => h.speaker.stop());
  await until('membership started', () => h.memberships[0]);
  await until('all IPs', () => h.announcer.announced().length === IPS.length, 3000);
});

test('GIVEN three live nodes WHEN a peer dies THEN its IPs move here in the change callback itself, and count as failovers', async (t) => {
  const h = await start('lb1');
  t.after(() => h.speaker.stop());
  const m = await until('membership started', () => h.memberships[0]);
  m.set(LB);
  // Pretend lb2 held its share, as its annotation would say.
  for (const ip of expectedFor('lb2', LB)) {
    const name = `s${IPS.indexOf(ip)}`;
    await kube.rest.patch(resourcePath('v1', 'services', 'default', name), { metadata: { annotations: { [NAMES.announcingNodeAnnotation]: 'lb2' } } }, 'merge');
  }
  await sleep(400); // the informer catches up; past the start-up settle period
  const before = h.announcer.announced();
  m.set(['lb1', 'lb3']);
  const now = h.announcer.announced();
  assert.deepEqual(now, expectedFor('lb1', ['lb1', 'lb3']));
  const gained = now.filter((ip) => !before.includes(ip));
  assert.ok(gained.length > 0);
  assert.ok(gained.every((ip) => expectedFor('lb2', LB).includes(ip)), 'only the dead node\'s IPs move');
  assert.equal(h.speaker.snapshot().failovers, gained.length);
});

test('GIVEN a node that was cut off and took every IP WHEN its peers come back and it is still elected for some THEN it re-sends the gratuitous burst for those (neighbours learnt other MACs meanwhile)', async (t) => {
  const h = await start('lb1');
  t.after(() => h.speaker.stop());
  const m = await until('membership started', () => h.memberships[0]);
  m.set(LB);
  await sleep(400); // past the start-up settle period
  m.set(['lb1']); // cut off: the others look dead, lb1 claims everything
  assert.equal(h.announcer.announced().length, IPS.length);
  const mark = h.announcer.log.length;
  m.set(LB); // the link is back
  const kept = expectedFor('lb1', LB);
  assert.deepEqual(h.announcer.announced(), kept);
  const after = h.announcer.log.slice(mark);
  assert.deepEqual(after.filter((e) => e.startsWith('~')).map((e) => e.slice(1)).sort(), [...kept].sort(), 'every kept IP is re-claimed');
  assert.ok(after.filter((e) => e.startsWith('-')).length === IPS.length - kept.length, 'the others are withdrawn');
  // No membership change, no burst: a config-only reconcile does not re-send.
  const mark2 = h.announcer.log.length;
  m.set(LB);
  assert.equal(h.announcer.log.slice(mark2).filter((e) => e.startsWith('~')).length, 0);
});

test('GIVEN a running speaker WHEN the LB node set and then the timers change THEN peers update in place, and timers restart membership in process', async (t) => {
  const h = await start('lb1');
  t.after(async () => { await h.speaker.stop(); await putConfig(baseConfig); });
  const m = await until('membership started', () => h.memberships[0]);
  m.set(LB);
  await putConfig({ ...baseConfig, lbNodes: baseConfig.lbNodes.filter((n) => n.k8sIP !== IP_OF.lb3) });
  await until('peers updated', () => m.peers.length === 1 && m.peers[0] === IP_OF.lb2);
  assert.equal(h.memberships.length, 1, 'no restart for a peer change');
  await until('lb3 no longer a candidate', () => h.speaker.snapshot().plan?.lbNodes.join(',') === 'lb1,lb2');
  assert.deepEqual(h.announcer.announced(), expectedFor('lb1', ['lb1', 'lb2']));
  await putConfig({ ...baseConfig, speaker: { ...baseConfig.speaker, heartbeatIntervalMs: 100, failureTimeoutMs: 500 } });
  const mark = h.announcer.log.length;
  const m2 = await until('membership restarted', () => h.memberships[1]);
  assert.equal(m.closed, true);
  assert.equal(m2.opts.heartbeatIntervalMs, 100);
  assert.equal(m2.opts.failureTimeoutMs, 500);
  assert.deepEqual([...m2.opts.peers].sort(), [IP_OF.lb2, IP_OF.lb3]);
  // The new membership has heard nobody yet: the last live view stays in force meanwhile, so the
  // node neither drops its IPs nor grabs everyone else's.
  await sleep(50);
  assert.deepEqual(h.announcer.announced(), expectedFor('lb1', LB));
  m2.set(LB);
  assert.deepEqual(h.announcer.announced(), expectedFor('lb1', LB));
  // (lb3 is an LB node again, so IPs ranked to it move there; lb1's own share never blinks.)
  const blinked = h.announcer.log.slice(mark).filter((e) => e.startsWith('-') && expectedFor('lb1', LB).includes(e.slice(1)));
  assert.deepEqual(blinked, [], 'none of lb1\'s IPs withdrawn across the membership restart');
});

test('GIVEN a node that is not an LB node WHEN its speaker runs THEN it joins no membership and announces nothing', async (t) => {
  const h = await start('w1');
  t.after(() => h.speaker.stop());
  await until('planned', () => h.speaker.snapshot().plan);
  await sleep(300);
  assert.equal(h.memberships.length, 0);
  assert.equal(h.speaker.snapshot().lbNode, false);
  assert.deepEqual(h.announcer.announced(), []);
});

test('GIVEN a running speaker WHEN it stops THEN it leaves the membership gracefully', async () => {
  const h = await start('lb2');
  const m = await until('membership started', () => h.memberships[0]);
  await h.speaker.stop();
  assert.equal(m.closed, true);
  assert.equal(m.leftGracefully, true);
});

test('GIVEN the API becomes unreachable WHEN membership changes THEN failover still happens, from memory', async (t) => {
  // The speaker reaches the API through a relay the test can cut, as a network partition would.
  const sockets = new Set<Socket>();
  const relay = createServer((c) => {
    const up = connect(Number(new URL(api.url).port), '127.0.0.1');
    for (const x of [c, up]) { sockets.add(x); x.on('close', () => sockets.delete(x)); x.on('error', () => x.destroy()); }
    c.pipe(up).pipe(c);
    c.on('close', () => up.destroy());
    up.on('close', () => c.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const cut = (): Promise<void> => new Promise((r) => { relay.close(() => r()); for (const x of sockets) x.destroy(); });
  t.after(cut);
  const relayed = loadKube({ kubeconfigPath: await api.kubeconfigPath('bmlb-installer'), server: `https://127.0.0.1:${(relay.address() as AddressInfo).port}` });
  const h = await start('lb3', relayed);
  t.after(() => h.speaker.stop());
  const m = await until('membership started', () => h.memberships[0]);
  m.set(LB);
  assert.deepEqual(h.announcer.announced(), expectedFor('lb3', LB));
  await sleep(400); // past the start-up settle period (one failure timeout)
  await cut();
  m.set(['lb3']);
  assert.deepEqual(h.announcer.announced(), IPS, 'took everything over without the API');
  m.set(['lb1', 'lb3']);
  assert.deepEqual(h.announcer.announced(), expectedFor('lb3', ['lb1', 'lb3']));
  await sleep(500);
  assert.ok(h.logs.some((l) => /informer .*(ECONNREFUSED|socket hang up|ECONNRESET|retrying)/.test(l)), 'the API really was gone');
  assert.deepEqual(h.announcer.announced(), expectedFor('lb3', ['lb1', 'lb3']), 'nothing changed while the API is unreachable');
});
