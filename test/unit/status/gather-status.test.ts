/**
 * gatherStatus against the lab API server (in-process): the facts come from real API objects; only
 * the network edge is stubbed (each node's `ip -j addr show`, the VIP connect, the /metrics GET).
 * Also: which kubeconfig status and reset try, in which order.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { type Kube, loadKube, resourcePath } from '../../../src/kube/kube-client.js';
import { parseClusterFile } from '../../../src/config/parse.js';
import type { ClusterConfig } from '../../../src/config/model.js';
import type { NodeShell } from '../../../src/provision/ssh/ssh-connection.js';
import { gatherStatus } from '../../../src/status/gather-status.js';
import { buildStatusReport } from '../../../src/status/status-report.js';
import { apiUnreachableError, connectApi, kubeconfigCandidates } from '../../../src/status/cluster-api.js';

const root = new URL('../../../', import.meta.url).pathname;

function labConfig(): ClusterConfig {
  const path = join(root, 'cluster-samples', 'lab.yaml');
  const r = parseClusterFile(readFileSync(path, 'utf8'), path);
  assert.ok(r.ok);
  return r.config;
}

function ipJson(addrs: string[]): string {
  return JSON.stringify([{ ifname: 'eth0', flags: ['UP'], address: '02:00:00:00:00:01', addr_info: addrs.map((a) => ({ family: 'inet', local: a, prefixlen: 24 })) }]);
}

describe('gatherStatus against the lab API server', () => {
  let api: TestApi;
  let kube: Kube;

  before(async () => {
    api = await startTestApiServer();
    kube = loadKube({ kubeconfigPath: api.kubeconfigPath('bmlb-installer') });
  });
  after(async () => {
    await api?.close();
  });

  it('GIVEN nodes, a speaker pod per LB node, the controller and a Service WHEN gathered THEN the report names holder, Service, pool use and speakers', async () => {
    const config = labConfig();
    const rest = kube.rest;
    for (const [i, n] of config.loadBalancer.nodes.entries()) {
      const name = `lb${i + 1}`;
      await rest.create(resourcePath('v1', 'nodes'), { apiVersion: 'v1', kind: 'Node', metadata: { name } });
      const got = await rest.get<Record<string, unknown>>(resourcePath('v1', 'nodes', undefined, name));
      await rest.replace(resourcePath('v1', 'nodes', undefined, name, 'status'), { ...got, status: { addresses: [{ type: 'InternalIP', address: n.k8sIP }] } });
    }
    await rest.create(resourcePath('v1', 'namespaces'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bmlb-system' } });
    for (const i of [1, 2, 3]) {
      const pod = await rest.create<Record<string, unknown>>(resourcePath('v1', 'pods', 'bmlb-system'), {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `bmlb-speaker-${i}`, labels: { 'app.kubernetes.io/name': 'bmlb-speaker' } },
        spec: { nodeName: `lb${i}`, containers: [{ name: 'speaker', image: 'bmlb:0.1.0' }] },
      });
      await rest.replace(resourcePath('v1', 'pods', 'bmlb-system', `bmlb-speaker-${i}`, 'status'), {
        ...pod,
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: i === 3 ? 'False' : 'True' }], containerStatuses: [{ name: 'speaker', restartCount: i, ready: i !== 3 }] },
      });
    }
    const dep = await rest.create<Record<string, unknown>>(resourcePath('apps/v1', 'deployments', 'bmlb-system'), {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'bmlb-controller' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'c' } }, template: { metadata: { labels: { app: 'c' } }, spec: { containers: [{ name: 'c', image: 'bmlb:0.1.0' }] } } },
    });
    await rest.replace(resourcePath('apps/v1', 'deployments', 'bmlb-system', 'bmlb-controller', 'status'), { ...dep, status: { replicas: 1, readyReplicas: 1 } });
    const svc = await rest.create<Record<string, unknown>>(resourcePath('v1', 'services', 'default'), {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', annotations: { 'bmlb.io/announcing-node': 'lb2' } },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 80, protocol: 'TCP' }] },
    });
    await rest.replace(resourcePath('v1', 'services', 'default', 'web', 'status'), { ...svc, status: { loadBalancer: { ingress: [{ ip: '198.51.100.205' }] } } });

    const commands: string[] = [];
    const shells: Record<string, NodeShell> = {};
    for (const [i, n] of config.loadBalancer.nodes.entries()) {
      shells[n.address] = {
        address: n.address,
        async run(cmd) {
          commands.push(`${n.address}: ${cmd}`);
          return { code: 0, stdout: ipJson(i === 1 ? [n.k8sIP, '198.51.100.10'] : [n.k8sIP]), stderr: '' };
        },
        async readFile() {
          return undefined;
        },
        async writeFile() {},
      };
    }
    const urls: string[] = [];
    const facts = await gatherStatus(
      config,
      {
        nodes: { parallelism: 3, close() {}, get: async (a) => shells[a] ?? Promise.reject(new Error(`no ${a}`)) },
        rest,
        tcpOpen: async (host, port) => host === '198.51.100.10' && port === 443,
        httpGet: async (url) => {
          urls.push(url);
          if (url.includes('198.51.100.21')) throw new Error('connect ECONNREFUSED');
          return `# HELP bmlb_speaker_announced_ips x\nbmlb_speaker_announced_ips ${url.includes('.22:') ? 1 : 0}\n`;
        },
      },
      { kubeconfig: 'k', via: 'vip' },
    );
    assert.deepEqual(commands.map((c) => c.split(': ')[1]), ['ip -j addr show', 'ip -j addr show', 'ip -j addr show']);
    assert.deepEqual(urls.sort(), ['http://198.51.100.21:7472/metrics', 'http://198.51.100.22:7472/metrics', 'http://198.51.100.23:7472/metrics']);
    const r = buildStatusReport(facts);
    assert.equal(r.controlPlaneVIP.holder, 'lb2');
    assert.equal(r.controlPlaneVIP.answering, true);
    assert.deepEqual(r.services, [{ namespace: 'default', name: 'web', ips: ['198.51.100.205'], pool: 'pool-1', announcingNode: 'lb2', externalTrafficPolicy: 'Local' }]);
    assert.deepEqual(r.pools.map((p) => [p.name, p.used]), [['pool-1', 1], ['pool-2', 0]]);
    assert.deepEqual(
      r.speakers.map((s) => [s.node, s.podReady, s.restarts, s.metricsReachable, s.announcedIPs]),
      [
        ['lb1', true, 1, false, undefined],
        ['lb2', true, 2, true, 1],
        ['lb3', false, 3, true, 0],
      ],
    );
    assert.equal(r.controller.ready, true);
    assert.deepEqual(r.problems, ['speaker metrics on lb1 not reachable: connect ECONNREFUSED', 'speaker bmlb-speaker-3 on lb3 is not ready']);
  });

  it('GIVEN kubeconfig candidates WHEN the API is tried THEN the workspace (VIP) one comes first, missing files are skipped, and failures are all named', async () => {
    const config = { ...labConfig(), name: 'lab' };
    config.credentials = { ...config.credentials, kubeconfigPath: '/given/k' };
    const present = new Set(['/ws/lab-kubeconfig', '/flag/k', '/given/k']);
    assert.deepEqual(kubeconfigCandidates(config, '/ws', '/flag/k', (p) => present.has(p)), [
      { path: '/ws/lab-kubeconfig', via: 'vip' },
      { path: '/flag/k', via: 'given' },
      { path: '/given/k', via: 'given' },
    ]);
    assert.deepEqual(kubeconfigCandidates(config, '/ws', undefined, (p) => p === '/given/k'), [{ path: '/given/k', via: 'given' }]);

    const good = api.kubeconfigPath('bmlb-installer');
    const bad = join(api.dir, 'nowhere.kubeconfig');
    writeFileSync(bad, readFileSync(good, 'utf8').replace(/https:\/\/127\.0\.0\.1:\d+/, 'https://127.0.0.1:9'));
    const c = await connectApi([{ path: bad, via: 'vip' }, { path: good, via: 'given' }], 2000);
    assert.equal(c.ok, true);
    if (c.ok) {
      assert.equal(c.kubeconfig, good);
      assert.equal(c.failed.length, 1);
      assert.match(c.failed[0]?.error ?? '', /ECONNREFUSED/);
    }
    const none = await connectApi([{ path: bad, via: 'vip' }], 2000);
    assert.equal(none.ok, false);
    const e = apiUnreachableError('lab', none.failed);
    assert.equal(e.code, 'ApiUnreachable');
    assert.match(e.message, /nowhere\.kubeconfig \(.*ECONNREFUSED/);
  });
});
