// The controller against the lab API server (in-process, 127.0.0.1, real wire protocol): Services
// created with @kubernetes/client-node get IPs from the right pool, refusals become Events, sharing
// works, a restarted controller keeps every IP, a bad ConfigMap is ignored with a Warning.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service, CoreV1Event } from '@kubernetes/client-node';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { loadKube, resourcePath, type Kube } from '../../../src/kube/kube-client.js';
import { startController, type ControllerHandle } from '../../../src/controller/reconciler.js';
import { startEndpoints } from '../../../src/controller/http-endpoints.js';
import { formatSpeakerConfig } from '../../../src/config/speaker-config.js';
import { NAMES, type SpeakerConfig } from '../../../src/config/model.js';

const speakerConfig: SpeakerConfig = {
  apiVersion: 'bmlb.io/v1',
  clusterName: 'ctl-test',
  type: 'layer2',
  controlPlaneVIP: '198.51.100.10',
  ingressVIP: '198.51.100.200',
  addressPools: [
    { name: 'pool-1', addresses: ['198.51.100.200-198.51.100.239'], avoidBuggyIPs: false, manualAssign: false },
    { name: 'pool-2', addresses: ['198.51.100.240/29'], avoidBuggyIPs: false, manualAssign: true },
  ],
  lbNodes: [{ address: '198.51.100.21', k8sIP: '198.51.100.21' }],
  speaker: { heartbeatIntervalMs: 50, failureTimeoutMs: 250, garpRepeat: 3, memberPort: 7946, metricsPort: 7472 },
  bgpPeers: [],
};

let api: TestApi;
let kube: Kube;
let ctl: ControllerHandle | undefined;
const logs: string[] = [];

async function ensureNamespace(name: string): Promise<void> {
  try {
    await kube.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 409) throw e;
  }
}

async function start(): Promise<ControllerHandle> {
  ctl = await startController({ kube, namespace: NAMES.namespace, configMap: NAMES.configMap, log: (l) => logs.push(l), retryMs: 100 });
  return ctl;
}

before(async () => {
  api = await startTestApiServer();
  kube = loadKube({ kubeconfigPath: await api.kubeconfigPath('admin-user') });
  for (const ns of [NAMES.namespace, 'gke-system', 'default', 'apps']) await ensureNamespace(ns);
  await kube.core.createNamespacedConfigMap({
    namespace: NAMES.namespace,
    body: { metadata: { name: NAMES.configMap }, data: { [NAMES.configKey]: formatSpeakerConfig(speakerConfig) } },
  });
});
after(async () => {
  await ctl?.stop();
  await api?.close();
});

function lbService(ns: string, name: string, o: { ports?: number[]; annotations?: Record<string, string>; loadBalancerIP?: string; proto?: string } = {}): V1Service {
  return {
    metadata: { name, namespace: ns, annotations: o.annotations },
    spec: {
      type: 'LoadBalancer',
      selector: { app: name },
      ports: (o.ports ?? [80]).map((p) => ({ name: `p${p}`, port: p, protocol: o.proto ?? 'TCP', targetPort: p as unknown as never })),
      ...(o.loadBalancerIP ? { loadBalancerIP: o.loadBalancerIP } : {}),
    },
  };
}

async function create(svc: V1Service): Promise<void> {
  await kube.core.createNamespacedService({ namespace: svc.metadata!.namespace!, body: svc });
}
async function get(ns: string, name: string): Promise<V1Service> {
  return kube.core.readNamespacedService({ namespace: ns, name });
}
async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out waiting for ${what}\n${logs.slice(-15).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
async function ipsOf(ns: string, name: string): Promise<string[] | undefined> {
  const s = await get(ns, name);
  const ips = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip!).filter(Boolean);
  return ips.length ? ips : undefined;
}
async function events(ns: string, name: string): Promise<CoreV1Event[]> {
  const list = await kube.rest.get<{ items: CoreV1Event[] }>(resourcePath('v1', 'events', ns));
  return list.items.filter((e) => e.involvedObject?.name === name);
}
async function eventWith(ns: string, name: string, reason: string, text: string): Promise<CoreV1Event> {
  return waitFor(`${reason} event "${text}" on ${ns}/${name}`, async () =>
    (await events(ns, name)).find((e) => e.reason === reason && (e.message ?? '').includes(text)));
}

test('GIVEN the lab pools WHEN Services are created THEN each gets the right IP, pool annotation and Event', async () => {
  await start();
  await create(lbService('gke-system', 'istio-ingress', { ports: [80, 443] }));
  await create(lbService('default', 'web'));
  await create(lbService('apps', 'manual', { annotations: { 'metallb.universe.tf/address-pool': 'pool-2' } }));
  await create(lbService('apps', 'pinned', { annotations: { 'metallb.io/loadBalancerIPs': '198.51.100.230' } }));

  assert.deepEqual(await waitFor('ingress IP', () => ipsOf('gke-system', 'istio-ingress')), ['198.51.100.200']);
  assert.deepEqual(await waitFor('web IP', () => ipsOf('default', 'web')), ['198.51.100.201']);
  assert.deepEqual(await waitFor('manual IP', () => ipsOf('apps', 'manual')), ['198.51.100.240']);
  assert.deepEqual(await waitFor('pinned IP', () => ipsOf('apps', 'pinned')), ['198.51.100.230']);
  assert.equal((await get('default', 'web')).metadata?.annotations?.[NAMES.allocatedPoolAnnotation], 'pool-1');
  assert.equal((await get('apps', 'manual')).metadata?.annotations?.[NAMES.allocatedPoolAnnotation], 'pool-2');
  const ev = await eventWith('default', 'web', 'IPAllocated', 'Assigned IP 198.51.100.201 from pool pool-1');
  assert.equal(ev.type, 'Normal');
});

test('GIVEN a requested IP outside every pool WHEN created THEN no IP and a Warning Event says why', async () => {
  await create(lbService('default', 'outside', { loadBalancerIP: '198.51.100.9' }));
  const ev = await eventWith('default', 'outside', 'AllocationFailed', '198.51.100.9 is not in any pool');
  assert.equal(ev.type, 'Warning');
  assert.equal(await ipsOf('default', 'outside'), undefined);
  await create(lbService('default', 'cpvip', { loadBalancerIP: '198.51.100.10' }));
  await eventWith('default', 'cpvip', 'AllocationFailed', 'control-plane VIP');
});

test('GIVEN allow-shared-ip WHEN ports are compatible THEN same IP; WHEN they overlap THEN refused with an Event', async () => {
  await create(lbService('apps', 'dns-tcp', { ports: [53], annotations: { 'metallb.universe.tf/allow-shared-ip': 'dns' } }));
  const [ip] = await waitFor('dns-tcp IP', () => ipsOf('apps', 'dns-tcp'));
  await create(lbService('apps', 'dns-udp', { ports: [53], proto: 'UDP', annotations: { 'metallb.io/allow-shared-ip': 'dns', 'metallb.io/loadBalancerIPs': ip! } }));
  assert.deepEqual(await waitFor('dns-udp IP', () => ipsOf('apps', 'dns-udp')), [ip]);
  await create(lbService('apps', 'dns-clash', { ports: [53], annotations: { 'metallb.io/allow-shared-ip': 'dns', 'metallb.io/loadBalancerIPs': ip! } }));
  await eventWith('apps', 'dns-clash', 'AllocationFailed', `port 53/TCP on ${ip} is already used by Service apps/dns-tcp`);
  assert.equal(await ipsOf('apps', 'dns-clash'), undefined);
});

test('GIVEN allocated Services WHEN the controller restarts THEN every Service keeps its IP and new ones do not collide', async () => {
  const names: [string, string][] = [['gke-system', 'istio-ingress'], ['default', 'web'], ['apps', 'manual'], ['apps', 'pinned'], ['apps', 'dns-tcp'], ['apps', 'dns-udp']];
  const before = new Map<string, string[]>();
  for (const [ns, n] of names) before.set(`${ns}/${n}`, (await ipsOf(ns, n))!);
  await ctl!.stop();
  await start();
  await create(lbService('default', 'after-restart'));
  const fresh = await waitFor('after-restart IP', () => ipsOf('default', 'after-restart'));
  await ctl!.idle();
  for (const [ns, n] of names) assert.deepEqual(await ipsOf(ns, n), before.get(`${ns}/${n}`), `${ns}/${n} moved`);
  const taken = new Set([...before.values()].flat());
  assert.ok(!taken.has(fresh[0]!), `new Service got a live IP ${fresh[0]}`);
  await waitFor('ready', async () => (ctl!.ready() ? true : undefined));
});

test('GIVEN a Service WHEN it becomes ClusterIP or is deleted THEN its IP is released and reused', async () => {
  const [webIp] = (await ipsOf('default', 'web'))!;
  await kube.rest.patch(resourcePath('v1', 'services', 'default', 'web'), { spec: { type: 'ClusterIP' } }, 'merge');
  await waitFor('web status cleared', async () => ((await ipsOf('default', 'web')) === undefined ? true : undefined));
  assert.equal((await get('default', 'web')).metadata?.annotations?.[NAMES.allocatedPoolAnnotation], undefined);
  await create(lbService('default', 'reuse'));
  assert.deepEqual(await waitFor('reuse IP', () => ipsOf('default', 'reuse')), [webIp]);

  const [pinnedIp] = (await ipsOf('apps', 'pinned'))!;
  await kube.core.deleteNamespacedService({ namespace: 'apps', name: 'pinned' });
  await create(lbService('apps', 'pinned2', { loadBalancerIP: pinnedIp }));
  assert.deepEqual(await waitFor('pinned2 IP', () => ipsOf('apps', 'pinned2')), [pinnedIp]);
});

test('GIVEN a running controller WHEN the ConfigMap is edited into something invalid THEN a Warning Event and the last good config stays', async () => {
  await kube.rest.patch(resourcePath('v1', 'configmaps', NAMES.namespace, NAMES.configMap), { data: { [NAMES.configKey]: 'apiVersion: bmlb.io/v1\naddressPools: 7\n' } }, 'merge');
  const ev = await eventWith(NAMES.namespace, NAMES.configMap, 'ConfigInvalid', 'last good configuration stays in force');
  assert.equal(ev.type, 'Warning');
  await create(lbService('default', 'during-bad-config'));
  const ips = await waitFor('IP under last good config', () => ipsOf('default', 'during-bad-config'));
  assert.match(ips[0]!, /^198\.51\.100\.2[0-3]\d$/);
  assert.match(ctl!.metrics(), /bmlb_controller_config_valid 0/);

  // WHEN the config is fixed with a new pool THEN it applies live
  const fixed: SpeakerConfig = { ...speakerConfig, addressPools: [...speakerConfig.addressPools, { name: 'pool-3', addresses: ['203.0.113.0/30'], avoidBuggyIPs: true, manualAssign: false }] };
  await kube.rest.patch(resourcePath('v1', 'configmaps', NAMES.namespace, NAMES.configMap), { data: { [NAMES.configKey]: formatSpeakerConfig(fixed) } }, 'merge');
  await create(lbService('default', 'in-pool-3', { annotations: { 'metallb.io/address-pool': 'pool-3' } }));
  assert.deepEqual(await waitFor('pool-3 IP', () => ipsOf('default', 'in-pool-3')), ['203.0.113.1']);
});

test('GIVEN the controller WHEN its endpoints are scraped THEN health, readiness and pool metrics are served', async () => {
  const ep = await startEndpoints({ host: '127.0.0.1', port: 0, ready: ctl!.ready, metrics: ctl!.metrics });
  try {
    const base = `http://127.0.0.1:${ep.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /bmlb_controller_pool_size\{pool="pool-1"\} 40/);
    assert.match(text, /bmlb_controller_pool_used\{pool="pool-2"\} 1/);
    assert.match(text, /bmlb_controller_allocation_failures_total\{reason="notInAnyPool"\} [1-9]/);
    assert.match(text, /bmlb_controller_config_valid 1/);
  } finally {
    await ep.close();
  }
});
