/**
 * Three `bmlb speaker` processes (the real command) in their own namespaces on one L2 segment,
 * against the in-process lab API server, and a client namespace that asks with iputils arping and
 * its own kernel. The in-cluster objects are the ones `bmlb` renders for cluster-samples/lab.yaml
 * (namespace, ServiceAccounts, the speaker's RBAC, ConfigMap), and the speakers run as the
 * bmlb-speaker ServiceAccount, so the RBAC is exercised too. Shows: only the elected node answers
 * (IPv4 and IPv6); externalTrafficPolicy Local; Events, the annotation and metrics; failover when
 * the announcer dies; invalid and changed configuration applied live; a restarted speaker rejoins.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { loadKube, resourcePath, type Kube } from '../../../src/kube/kube-client.js';
import { NAMES, type SpeakerConfig } from '../../../src/config/model.js';
import { formatSpeakerConfig, toSpeakerConfig } from '../../../src/config/speaker-config.js';
import { loadClusterConfig } from '../../../src/config/load.js';
import { renderManifests } from '../../../src/render/render-all.js';
import { loadTemplates } from '../../../src/render/templates.js';
import { rankCandidates } from '../../../src/speaker/election.js';
import { parsePrometheus } from '../../../src/speaker/metrics.js';
import { ensurePacketAddon } from './addon.js';
import { arpingReplies, createSegment, type Segment } from './segment.js';
import { lineProcess } from './line-process.js';

const RUN_SPEAKER = fileURLToPath(new URL('./run-speaker.ts', import.meta.url));
const FORWARDER = fileURLToPath(new URL('./tcp-to-unix.mjs', import.meta.url));
const LB = ['lb1', 'lb2', 'lb3'];
const IP_OF: Record<string, string> = { lb1: '198.51.100.21', lb2: '198.51.100.22', lb3: '198.51.100.23' };
const WEB_IP = '198.51.100.200';
const LOCAL_IP = '198.51.100.201';
const WEB6_IP = '2001:db8:100::200';
const PLURAL: Record<string, string> = {
  Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', ConfigMap: 'configmaps',
  ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', Role: 'roles', RoleBinding: 'rolebindings',
};

/** Membership heartbeat / failure timeout, ms. BMLB_SPEAKER_E2E_TIMERS=50/250 runs at the product
 *  defaults (to read the failover figure); the default leaves room for a loaded CI machine. */
const TIMERS = (process.env.BMLB_SPEAKER_E2E_TIMERS ?? '100/600').split('/').map(Number) as [number, number];

/** The speaker configuration of the lab sample, with an IPv6 pool added and timers a little above
 *  the defaults so a loaded CI machine does not flap the membership. */
let config: SpeakerConfig;

let api: TestApi;
let kube: Kube;
let seg: Segment;
let bridge: Server;
let sockDir: string;
let kubeconfig: string;
let apiPort: string;
let rendered: { kind?: string; apiVersion?: string; metadata?: { name?: string; namespace?: string } }[] = [];
const speakers = new Map<string, ChildProcess>();
const speakerLogs = new Map<string, () => string>();
const macs: Record<string, string> = {};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() - start > timeoutMs) {
      const logs = [...speakerLogs].map(([n, l]) => `--- ${n}\n${l().split('\n').slice(-25).join('\n')}`).join('\n');
      assert.fail(`${what}: not within ${timeoutMs} ms\n${logs}`);
    }
    await sleep(everyMs);
  }
}

function metrics(host: string): Map<string, number> {
  const r = seg.exec(host, ['curl', '-sf', '--max-time', '3', `http://127.0.0.1:${config.speaker.metricsPort}/metrics`], { allowFail: true });
  return parsePrometheus(r.stdout);
}

function ready(host: string): boolean {
  return seg.exec(host, ['curl', '-sf', '--max-time', '3', `http://127.0.0.1:${config.speaker.metricsPort}/readyz`], { allowFail: true }).code === 0;
}

function neigh(host: string, ip: string): string {
  const out = seg.exec(host, ['ip', '-j', '-4', 'neigh', 'show', ip]).stdout;
  return (JSON.parse(out || '[]') as { lladdr?: string }[])[0]?.lladdr ?? '';
}

function startSpeaker(node: string): void {
  const child = seg.spawn(node, [process.execPath, '--import', 'tsx', RUN_SPEAKER,
    '--node-name', node, '--kubeconfig', kubeconfig, '--interface', 'auto', '--metrics-port', String(config.speaker.metricsPort)]);
  let log = '';
  child.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
  child.stdout?.resume();
  speakers.set(node, child);
  speakerLogs.set(node, () => log);
}

async function stopSpeaker(node: string, signal: NodeJS.Signals): Promise<void> {
  const child = speakers.get(node);
  if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  process.kill(child.pid, signal);
  await Promise.race([exited, sleep(10_000)]);
}

async function putConfig(text: string): Promise<void> {
  await kube.rest.patch(resourcePath('v1', 'configmaps', NAMES.namespace, NAMES.configMap), { data: { [NAMES.configKey]: text } }, 'merge');
}

interface SvcObj { metadata?: { annotations?: Record<string, string> } }
interface EventObj { reason?: string; message?: string; type?: string; involvedObject?: { name?: string; kind?: string } }

async function events(ns: string): Promise<EventObj[]> {
  return (await kube.rest.get<{ items: EventObj[] }>(resourcePath('v1', 'events', ns))).items;
}

before(async () => {
  ensurePacketAddon();
  const cluster = (await loadClusterConfig(fileURLToPath(new URL('../../../cluster-samples/lab.yaml', import.meta.url)))).config;
  const derived = toSpeakerConfig(cluster);
  config = {
    ...derived,
    addressPools: [...derived.addressPools, { name: 'pool-v6', addresses: ['2001:db8:100::200-2001:db8:100::2ff'], avoidBuggyIPs: false, manualAssign: false }],
    speaker: { ...derived.speaker, heartbeatIntervalMs: TIMERS[0], failureTimeoutMs: TIMERS[1] },
  };
  assert.deepEqual(config.lbNodes.map((n) => n.k8sIP), LB.map((n) => IP_OF[n]), 'the lab sample\'s LB nodes');
  const facts = Object.fromEntries(cluster.loadBalancer.nodes.map((n) => [n.address, { interface: 'eth0', prefixLength: 24, hostname: n.address }]));
  rendered = renderManifests({ config: cluster, nodeFacts: facts, bmlbImage: 'bmlb:test' }, loadTemplates()).manifests;

  api = await startTestApiServer();
  apiPort = new URL(api.url).port;
  kube = loadKube({ kubeconfigPath: await api.kubeconfigPath('bmlb-installer') });

  // The API server listens on the host's loopback; speakers live in other network namespaces.
  // Relay through a Unix socket (see tcp-to-unix.mjs).
  sockDir = mkdtempSync(join(tmpdir(), 'bmlbt-spd-'));
  const sock = join(sockDir, 'api.sock');
  bridge = createServer((c) => {
    const up = connect(Number(apiPort), '127.0.0.1');
    c.pipe(up).pipe(c);
    const end = (): void => { c.destroy(); up.destroy(); };
    c.on('error', end); up.on('error', end); c.on('close', end); up.on('close', end);
  });
  await new Promise<void>((r) => bridge.listen(sock, r));

  seg = createSegment(`bmlbt-spd${process.pid}`, [
    ...LB.map((n) => ({ name: n, ipv4: IP_OF[n] as string, ipv6: `2001:db8:100::${(IP_OF[n] as string).split('.')[3]}` })),
    { name: 'c', ipv4: '198.51.100.3', ipv6: '2001:db8:100::3' },
  ]);
  for (const n of LB) {
    macs[n] = seg.mac(n);
    const fwd = lineProcess(seg.spawn(n, [process.execPath, FORWARDER, apiPort, sock]));
    await fwd.next(10_000);
  }

  // What `bmlb create cluster` applies (the workloads aside: the speakers run here as processes).
  for (const o of rendered) {
    const plural = PLURAL[o.kind ?? ''];
    if (!plural) continue;
    const body = o.kind === 'ConfigMap' ? { ...o, data: { [NAMES.configKey]: formatSpeakerConfig(config) } } : o;
    await kube.rest.create(resourcePath(o.apiVersion ?? 'v1', plural, o.metadata?.namespace), body);
  }
  kubeconfig = (await api.serviceAccountKubeconfig(NAMES.namespace, NAMES.speakerServiceAccount)).path;
  await kube.rest.create(resourcePath('v1', 'secrets', NAMES.namespace), {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: NAMES.memberSecret, namespace: NAMES.namespace },
    data: { [NAMES.memberSecretKey]: randomBytes(32).toString('base64') },
  });
  for (const n of [...LB, 'cp1']) {
    await kube.rest.create(resourcePath('v1', 'nodes'), {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: n, labels: n === 'cp1' ? {} : { [NAMES.lbNodeLabel]: 'true' } },
      status: { addresses: [{ type: 'InternalIP', address: IP_OF[n] ?? '198.51.100.11' }, { type: 'Hostname', address: n }] },
    });
  }
  const mkService = async (name: string, ip: string, policy: 'Cluster' | 'Local'): Promise<void> => {
    await kube.rest.create(resourcePath('v1', 'services', 'default'), {
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: policy, selector: { app: name }, ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] },
    });
    // What the controller would write.
    await kube.rest.patch(resourcePath('v1', 'services', 'default', name, 'status'), { status: { loadBalancer: { ingress: [{ ip }] } } }, 'merge');
  };
  await mkService('web', WEB_IP, 'Cluster');
  await mkService('web6', WEB6_IP, 'Cluster');
  await mkService('local', LOCAL_IP, 'Local');
  await kube.rest.create(resourcePath('discovery.k8s.io/v1', 'endpointslices', 'default'), {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'local-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'local' } },
    addressType: 'IPv4',
    ports: [{ port: 8080, protocol: 'TCP' }],
    // Only on the node ranked second for LOCAL_IP: the policy, not the ranking, must decide.
    endpoints: [{ addresses: ['203.0.113.50'], nodeName: rankCandidates(LOCAL_IP, LB)[1], conditions: { ready: true } }],
  });

  for (const n of LB) startSpeaker(n);
  await until('every speaker ready', () => LB.every(ready) || undefined, 60_000, 500);
  await until('every speaker sees all three', () => LB.every((n) => metrics(n).get('bmlb_speaker_members') === 3) || undefined, 15_000, 200);
});

after(async () => {
  for (const n of LB) await stopSpeaker(n, 'SIGKILL').catch(() => {});
  seg?.destroy();
  await new Promise<void>((r) => (bridge ? bridge.close(() => r()) : r()));
  if (sockDir) rmSync(sockDir, { recursive: true, force: true });
  await api?.close();
});

const winner = (): string => rankCandidates(WEB_IP, LB)[0] as string;
const second = (): string => rankCandidates(WEB_IP, LB)[1] as string;

test('GIVEN three speakers WHEN the client arpings the Service IP THEN only the elected node answers, with its MAC', async () => {
  await until('first reply', () => (arpingReplies(seg, 'c', WEB_IP, 1).length > 0 ? true : undefined));
  const replies = arpingReplies(seg, 'c', WEB_IP, 3);
  assert.equal(replies.length, 3, `replies: ${replies.join(', ')}`);
  assert.deepEqual([...new Set(replies)], [macs[winner()]], `expected only ${winner()} (${macs[winner()]})`);
});

test('GIVEN the winner announces WHEN the API is read THEN the Service names it and a nodeAssigned Event says so', async () => {
  await until('annotation', async () => {
    const svc = await kube.rest.get<SvcObj>(resourcePath('v1', 'services', 'default', 'web'));
    return svc.metadata?.annotations?.[NAMES.announcingNodeAnnotation] === winner() || undefined;
  });
  const ev = await until('event', async () => (await events('default')).find((e) => e.reason === 'nodeAssigned' && e.involvedObject?.name === 'web'));
  assert.match(ev.message ?? '', new RegExp(`announcing from node ${winner()}`));
});

test('GIVEN policy Local with the only endpoint on one node WHEN the client asks THEN that node answers, even if ranked lower', async () => {
  const endpointNode = rankCandidates(LOCAL_IP, LB)[1] as string;
  await until('reply for the Local service', () => (arpingReplies(seg, 'c', LOCAL_IP, 1).length > 0 ? true : undefined));
  assert.deepEqual([...new Set(arpingReplies(seg, 'c', LOCAL_IP, 2))], [macs[endpointNode]]);
});

test('GIVEN an IPv6 Service WHEN the client\'s kernel resolves its IP THEN the elected node\'s MAC is in its neighbour table', async () => {
  const elected = rankCandidates(WEB6_IP, LB)[0] as string;
  await until('client resolves the IPv6 Service IP', () => {
    seg.exec('c', ['ping', '-6', '-c', '1', '-W', '1', WEB6_IP], { allowFail: true });
    const out = seg.exec('c', ['ip', '-j', '-6', 'neigh', 'show', WEB6_IP]).stdout;
    const mac = (JSON.parse(out || '[]') as { lladdr?: string }[])[0]?.lladdr;
    return mac === macs[elected] ? true : undefined;
  }, 15_000, 300);
  const m = metrics(elected);
  assert.ok((m.get('bmlb_speaker_ndp_solicitations_total') ?? 0) >= 1);
  assert.equal(m.get('bmlb_speaker_ndp_adverts_total'), m.get('bmlb_speaker_ndp_solicitations_total'));
});

test('GIVEN the run so far WHEN the winner\'s /metrics is scraped THEN it shows its IPs, requests, replies and members', () => {
  const m = metrics(winner());
  assert.ok((m.get('bmlb_speaker_announced_ips') ?? 0) >= 1);
  assert.ok((m.get('bmlb_speaker_arp_requests_total') ?? 0) >= 3, `arp requests ${m.get('bmlb_speaker_arp_requests_total')}`);
  assert.equal(m.get('bmlb_speaker_arp_replies_total'), m.get('bmlb_speaker_arp_requests_total'));
  assert.ok((m.get('bmlb_speaker_gratuitous_sent_total') ?? 0) >= config.speaker.garpRepeat);
  assert.equal(m.get('bmlb_speaker_members'), 3);
  assert.equal(m.get('bmlb_speaker_config_invalid'), 0);
  assert.equal(m.get(`bmlb_speaker_announced{ip="${WEB_IP}",service="default/web",node="${winner()}",protocol="layer2"}`), 1);
  const other = metrics(second());
  assert.equal(other.get(`bmlb_speaker_announced{ip="${WEB_IP}",service="default/web",node="${second()}",protocol="layer2"}`), undefined);
});

test('GIVEN the announcing speaker is killed WHEN membership notices THEN the next node takes over within ~1 s and the client follows', async () => {
  const w = winner();
  const s = second();
  seg.exec('c', ['ip', 'neigh', 'replace', WEB_IP, 'lladdr', macs[w] as string, 'nud', 'stale', 'dev', 'eth0']);
  // Speakers that start seconds apart hand IPs over once at start-up too; count from here.
  const failoversBefore = metrics(s).get('bmlb_speaker_failovers_total') ?? 0;
  const t0 = Date.now();
  await stopSpeaker(w, 'SIGKILL');
  await until('client learns the new MAC', () => (neigh('c', WEB_IP) === macs[s] ? true : undefined), 5000, 20);
  const elapsed = Date.now() - t0;
  process.stdout.write(`# failover: client neighbour entry moved ${w} -> ${s} in ${elapsed} ms (failure timeout ${config.speaker.failureTimeoutMs} ms)\n`);
  assert.ok(elapsed < 2000, `took ${elapsed} ms`);
  const replies = arpingReplies(seg, 'c', WEB_IP, 2);
  assert.deepEqual([...new Set(replies)], [macs[s]]);
  await until('failover counted', () => (metrics(s).get('bmlb_speaker_failovers_total') === failoversBefore + 1 ? true : undefined));
  assert.equal(metrics(s).get('bmlb_speaker_members'), 2);
});

test('GIVEN an invalid configuration WHEN it is written THEN speakers keep the last good one, flag it and warn', async () => {
  const s = second();
  await putConfig('apiVersion: bmlb.io/v1\naddressPools: not-a-list\n');
  await until('config_invalid metric', () => (metrics(s).get('bmlb_speaker_config_invalid') === 1 ? true : undefined));
  assert.deepEqual([...new Set(arpingReplies(seg, 'c', WEB_IP, 1))], [macs[s]], 'still announcing');
  const ev = await until('warning', async () => (await events(NAMES.namespace)).find((e) => e.reason === 'ConfigInvalid'));
  assert.equal(ev.type, 'Warning');
  assert.match(ev.message ?? '', /bmlb update cluster/);
});

test('GIVEN a valid configuration without the Service IP in any pool WHEN applied THEN it is withdrawn live (annotation removed), and restored live', async () => {
  const s = second();
  const shrunk: SpeakerConfig = { ...config, addressPools: [{ name: 'pool-1', addresses: ['198.51.100.210-198.51.100.239'], avoidBuggyIPs: false, manualAssign: false }] };
  await putConfig(formatSpeakerConfig(shrunk));
  await until('withdrawn', () => (metrics(s).get('bmlb_speaker_announced_ips') === 0 ? true : undefined));
  assert.equal(metrics(s).get('bmlb_speaker_config_invalid'), 0);
  assert.deepEqual(arpingReplies(seg, 'c', WEB_IP, 1), []);
  await until('annotation removed (nobody announces it)', async () => {
    const svc = await kube.rest.get<SvcObj>(resourcePath('v1', 'services', 'default', 'web'));
    return svc.metadata?.annotations?.[NAMES.announcingNodeAnnotation] === undefined || undefined;
  });
  await putConfig(formatSpeakerConfig(config));
  await until('announced again', () => (arpingReplies(seg, 'c', WEB_IP, 1).length > 0 ? true : undefined));
  assert.deepEqual([...new Set(arpingReplies(seg, 'c', WEB_IP, 2))], [macs[s]]);
  await until('annotation back', async () => {
    const svc = await kube.rest.get<SvcObj>(resourcePath('v1', 'services', 'default', 'web'));
    return svc.metadata?.annotations?.[NAMES.announcingNodeAnnotation] === s || undefined;
  });
});

test('GIVEN the killed speaker restarts WHEN it rejoins THEN the deterministic ranking gives it the IP back, and only it answers', async () => {
  const w = winner();
  startSpeaker(w);
  await until('restarted speaker ready', () => ready(w) || undefined, 60_000, 500);
  await until('winner answers again', () => {
    const r = arpingReplies(seg, 'c', WEB_IP, 1);
    return r.length === 1 && r[0] === macs[w] ? true : undefined;
  }, 15_000, 200);
  assert.deepEqual([...new Set(arpingReplies(seg, 'c', WEB_IP, 2))], [macs[w]]);
  await until('members 3', () => (metrics(second()).get('bmlb_speaker_members') === 3 ? true : undefined));
});

test('GIVEN the announcing speaker is stopped with SIGTERM WHEN it leaves gracefully THEN it exits 0 and the next node takes over at once', async () => {
  const w = winner();
  const s = second();
  const child = speakers.get(w);
  assert.ok(child?.pid);
  seg.exec('c', ['ip', 'neigh', 'replace', WEB_IP, 'lladdr', macs[w] as string, 'nud', 'stale', 'dev', 'eth0']);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const t0 = Date.now();
  process.kill(child.pid, 'SIGTERM');
  await until('client learns the new MAC', () => (neigh('c', WEB_IP) === macs[s] ? true : undefined), 5000, 20);
  const elapsed = Date.now() - t0;
  process.stdout.write(`# graceful stop: client neighbour entry moved ${w} -> ${s} in ${elapsed} ms\n`);
  assert.ok(elapsed < 2000, `took ${elapsed} ms`);
  assert.equal(await exited, 0, speakerLogs.get(w)?.());
  assert.match(speakerLogs.get(w)?.() ?? '', /SIGTERM: withdrawing \d+ IPs and leaving the membership/);
});
