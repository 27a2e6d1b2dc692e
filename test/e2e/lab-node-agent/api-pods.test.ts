import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1DaemonSet, V1EndpointSlice, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import { isKubeApiError, loadKube, resourcePath } from '../../../src/kube/kube-client.js';
import { startBackend, type Backend } from '../../helpers/backend.js';
import { alive, startNetnsNode, waitFor, CLIENT_IP, NODE_IP, type NetnsNode } from './netns-node.js';

const NS = 'bmlbt-na';

describe('lab node agent: API pods, lab controllers and Service forwarding', () => {
  let bed: NetnsNode;
  const backends: Backend[] = [];
  before(async () => {
    bed = await startNetnsNode('ap');
    await bed.kube.rest.create(resourcePath('v1', 'namespaces'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await bed.kube.rest.create(resourcePath('v1', 'serviceaccounts', NS), { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'echo-sa', namespace: NS } });
    await bed.kube.rest.create(resourcePath('v1', 'configmaps', NS), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'echo-config', namespace: NS }, data: { greeting: 'hello', 'config.yaml': 'a: 1\n' } });
    await bed.startAgent();
    await bed.waitRegistered();
  }, { timeout: 90_000 });
  after(async () => {
    for (const b of backends) await b.stop().catch(() => undefined);
    await bed?.close();
  }, { timeout: 30_000 });

  const dsPods = async () => (await bed.kube.rest.get<{ items: V1Pod[] }>(resourcePath('v1', 'pods', NS), { labelSelector: 'app=echo' })).items;

  it('GIVEN a DaemonSet selecting the node WHEN it is created THEN its Pod runs on the node with the ServiceAccount token, ConfigMap volume and env, and the status counts it ready', async () => {
    const tokenOut = join(bed.dir, 'sa-token.out');
    const ds: V1DaemonSet = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'echo', namespace: NS },
      spec: {
        selector: { matchLabels: { app: 'echo' } },
        template: {
          metadata: { labels: { app: 'echo' } },
          spec: {
            hostNetwork: true,
            serviceAccountName: 'echo-sa',
            nodeSelector: { 'bmlb.io/test': 'ap' },
            volumes: [{ name: 'cfg', configMap: { name: 'echo-config' } }],
            containers: [{
              name: 'echo',
              image: 'example.com/echo:1',
              command: ['/bin/sh', '-c'],
              args: [
                `cat /var/run/secrets/kubernetes.io/serviceaccount/token > ${tokenOut}.tmp; ` +
                `echo " $GREETING $(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace) $(cat /etc/echo/config.yaml)" >> ${tokenOut}.tmp; ` +
                `mv ${tokenOut}.tmp ${tokenOut}; exec node -e "require('http').createServer((q,s)=>s.end('echo')).listen(18081,'${NODE_IP}')"`,
              ],
              env: [{ name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'echo-config', key: 'greeting' } } }],
              volumeMounts: [{ name: 'cfg', mountPath: '/etc/echo' }],
              ports: [{ name: 'http', containerPort: 18081 }],
              readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
            }],
          },
        },
      },
    };
    await bed.kube.rest.create(resourcePath('apps/v1', 'daemonsets', NS), ds);
    const pod = await waitFor('daemonset pod ready', async () => {
      const [p] = await dsPods();
      return p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    }, 40_000);
    assert.equal(pod.spec?.nodeName, bed.nodeName);
    assert.equal(pod.metadata?.ownerReferences?.[0]?.kind, 'DaemonSet');
    const written = await waitFor('token file', () => readFile(tokenOut, 'utf8').catch(() => undefined));
    const [token, rest] = [written.slice(0, written.indexOf(' ')), written.slice(written.indexOf(' ') + 1)];
    assert.equal(rest.trim(), `hello ${NS} a: 1`);
    // the token is a real ServiceAccount token for echo-sa: the API server names that identity
    const saConfig = join(bed.dir, 'sa.kubeconfig');
    await writeFile(saConfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
      clusters: [{ name: 'lab', cluster: { server: bed.api.url, 'certificate-authority': bed.api.caFile } }],
      users: [{ name: 'sa', user: { token: token.trim() } }],
      contexts: [{ name: 'sa', context: { cluster: 'lab', user: 'sa' } }],
    }));
    const saKube = loadKube({ kubeconfigPath: saConfig });
    const err = await saKube.rest.get(resourcePath('v1', 'secrets', 'kube-system')).then(() => undefined, (e: unknown) => e);
    assert.ok(isKubeApiError(err, 403), `expected 403, got ${String(err)}`);
    assert.match((err as Error).message, new RegExp(`system:serviceaccount:${NS}:echo-sa`));
    const status = await waitFor('daemonset status', async () => {
      const d = await bed.kube.rest.get<V1DaemonSet>(resourcePath('apps/v1', 'daemonsets', NS, 'echo'));
      return d.status?.numberReady === 1 ? d.status : undefined;
    });
    assert.equal(status.desiredNumberScheduled, 1);
    assert.equal(status.updatedNumberScheduled, 1);
    assert.equal(status.observedGeneration, 1);
  });

  it('GIVEN a pod with a ConfigMap volume WHEN the ConfigMap changes THEN the mounted file follows within seconds, without a restart', async () => {
    const [pod] = await dsPods();
    assert.ok(pod);
    const file = join(bed.stateDir, 'pods', `${NS}_${pod.metadata?.name}_${pod.metadata?.uid}`, 'volumes', 'cfg', 'config.yaml');
    assert.equal(await readFile(file, 'utf8'), 'a: 1\n');
    const before = (await bed.pids()).children.find((c) => c.pod === pod.metadata?.name);
    await bed.kube.rest.patch(resourcePath('v1', 'configmaps', NS, 'echo-config'), { data: { 'config.yaml': 'a: 2\n' } }, 'merge');
    await waitFor('updated file', async () => (await readFile(file, 'utf8')) === 'a: 2\n', 15_000);
    const after = (await bed.pids()).children.find((c) => c.pod === pod.metadata?.name);
    assert.equal(after?.pid, before?.pid);
  });

  it('GIVEN the DaemonSet pod WHEN a Service selects it THEN the EndpointSlice controller lists it ready with the resolved port', async () => {
    await bed.kube.rest.create(resourcePath('v1', 'services', NS), {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: NS },
      spec: { selector: { app: 'echo' }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] },
    });
    const slice = await waitFor('endpointslice', async () => {
      const list = await bed.kube.rest.get<{ items: V1EndpointSlice[] }>(resourcePath('discovery.k8s.io/v1', 'endpointslices', NS), { labelSelector: 'kubernetes.io/service-name=echo' });
      const s = list.items[0];
      return s?.endpoints?.length ? s : undefined;
    });
    assert.equal(slice.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
    assert.deepEqual(slice.ports, [{ name: 'web', port: 18081, protocol: 'TCP' }]);
    assert.deepEqual(slice.endpoints?.[0]?.addresses, [NODE_IP]);
    assert.equal(slice.endpoints?.[0]?.nodeName, bed.nodeName);
    assert.equal(slice.endpoints?.[0]?.conditions?.ready, true);
  });

  it('GIVEN a LoadBalancer Service with a backend endpoint WHEN a client outside connects to its IP THEN nft DNAT reaches the backend and keeps the client address (Local)', async () => {
    const svc = await bed.kube.rest.create<V1Service>(resourcePath('v1', 'services', NS), {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    await bed.kube.rest.patch(resourcePath('v1', 'services', NS, 'web', 'status'), { status: { loadBalancer: { ingress: [{ ip: '198.51.100.200' }] } } }, 'merge');
    backends.push(await startBackend({
      spawn: (argv) => bed.spawnInNode(argv),
      kubectl: (args, input) => bed.kubectl(args, input),
      node: { name: bed.nodeName, address: NODE_IP },
      port: 8080,
      service: { namespace: NS, name: 'web', portName: 'http' },
    }));
    const res = await waitFor('client reaches the Service IP', async () => {
      const r = await bed.inClient(['curl', '-s', '-m', '2', '-D', '-', 'http://198.51.100.200/']).catch(() => undefined);
      return r?.stdout.includes(bed.nodeName) ? r.stdout : undefined;
    }, 15_000, 300);
    assert.match(res, new RegExp(`x-client-address: ${CLIENT_IP.replaceAll('.', '\\.')}`));
    // nodePort on the node address, too
    const nodePort = svc.spec?.ports?.[0]?.nodePort;
    assert.ok(nodePort, 'the API server allocated a nodePort');
    const viaNodePort = await bed.inClient(['curl', '-s', '-m', '2', `http://${NODE_IP}:${nodePort}/`]);
    assert.equal(viaNodePort.stdout.trim(), bed.nodeName);
  });

  it('GIVEN the Service forwarding WHEN its only endpoint turns not ready THEN the client is refused, and served again when ready', async () => {
    const b = backends[0]!;
    await b.setReady(false);
    await waitFor('refused', async () => {
      const r = await bed.inClient(['curl', '-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', 'http://198.51.100.200/']).then(() => 'ok', (e: { code?: number }) => e.code);
      return r === 7 ? true : undefined; // curl 7: connection refused (TCP reset)
    }, 10_000, 300);
    await b.setReady(true);
    await waitFor('served again', async () => (await bed.inClient(['curl', '-s', '-m', '2', 'http://198.51.100.200/']).catch(() => ({ stdout: '' }))).stdout.includes(bed.nodeName), 10_000, 300);
  });

  it('GIVEN an IPv6 LoadBalancer ingress and an IPv6 backend WHEN the client connects over IPv6 THEN ip6 DNAT reaches the backend', async () => {
    await bed.inNode(['ip', '-6', 'addr', 'add', '2001:db8:100::50/64', 'dev', 'eth0', 'nodad']);
    await bed.inClient(['ip', '-6', 'addr', 'add', '2001:db8:100::60/64', 'dev', 'eth0', 'nodad']);
    await bed.inNode(['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
    await bed.inClient(['ip', '-6', 'route', 'add', '2001:db8:100::200/128', 'via', '2001:db8:100::50']);
    await bed.kube.rest.create(resourcePath('v1', 'services', NS), {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web6', namespace: NS },
      spec: { type: 'LoadBalancer', ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'], ports: [{ name: 'http', port: 80, targetPort: 8086 }] },
    });
    await bed.kube.rest.patch(resourcePath('v1', 'services', NS, 'web6', 'status'), { status: { loadBalancer: { ingress: [{ ip: '2001:db8:100::200' }] } } }, 'merge');
    backends.push(await startBackend({
      spawn: (argv) => bed.spawnInNode(argv),
      kubectl: (args, input) => bed.kubectl(args, input),
      node: { name: bed.nodeName, address: '2001:db8:100::50' },
      port: 8086,
      service: { namespace: NS, name: 'web6', portName: 'http' },
    }));
    const res = await waitFor('client reaches the IPv6 Service IP', async () => {
      const r = await bed.inClient(['curl', '-s', '-m', '2', '-D', '-', 'http://[2001:db8:100::200]/']).catch(() => undefined);
      return r?.stdout.includes(bed.nodeName) ? r.stdout : undefined;
    }, 20_000, 300);
    assert.match(res, /x-client-address: 2001:db8:100::60/);
  });

  it('GIVEN the DaemonSet WHEN its template changes THEN the pod is replaced by one with the new revision', async () => {
    const [old] = await dsPods();
    assert.ok(old);
    await bed.kube.rest.patch(resourcePath('apps/v1', 'daemonsets', NS, 'echo'), { spec: { template: { metadata: { labels: { app: 'echo', rev: 'two' } } } } }, 'merge');
    const fresh = await waitFor('replacement pod', async () => {
      const pods = await dsPods();
      return pods.find((p) => p.metadata?.labels?.rev === 'two' && p.status?.phase === 'Running');
    }, 20_000);
    assert.notEqual(fresh.metadata?.uid, old.metadata?.uid);
    await waitFor('old pod gone', async () => (await dsPods()).every((p) => p.metadata?.uid !== old.metadata?.uid));
  });

  it('GIVEN a Deployment WHEN it is created THEN the controller binds its pod to the ready node, the agent runs it, and the status counts it ready', async () => {
    await bed.kube.rest.create(resourcePath('apps/v1', 'deployments', NS), {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ctl', namespace: NS },
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: { app: 'ctl' } },
        template: {
          metadata: { labels: { app: 'ctl' } },
          spec: { hostNetwork: true, automountServiceAccountToken: false, containers: [{ name: 'c', image: 'x', command: ['sleep', '600'] }] },
        },
      },
    });
    const d = await waitFor('deployment ready', async () => {
      const got = await bed.kube.rest.get<{ status?: { readyReplicas?: number; updatedReplicas?: number; observedGeneration?: number } }>(resourcePath('apps/v1', 'deployments', NS, 'ctl'));
      return got.status?.readyReplicas === 1 ? got : undefined;
    }, 20_000);
    assert.equal(d.status?.updatedReplicas, 1);
    const pods = (await bed.kube.rest.get<{ items: V1Pod[] }>(resourcePath('v1', 'pods', NS), { labelSelector: 'app=ctl' })).items;
    assert.equal(pods.length, 1);
    assert.equal(pods[0]!.spec?.nodeName, bed.nodeName);
    const child = (await bed.pids()).children.find((c) => c.pod === pods[0]!.metadata?.name);
    assert.ok(child && alive(child.pid));
    // deleting the pod through the API stops its process; the controller makes a new one
    await bed.kube.rest.delete(resourcePath('v1', 'pods', NS, pods[0]!.metadata!.name!));
    await waitFor('old process gone', () => !alive(child.pid), 35_000);
    await waitFor('replacement running', async () => {
      const now = (await bed.kube.rest.get<{ items: V1Pod[] }>(resourcePath('v1', 'pods', NS), { labelSelector: 'app=ctl' })).items;
      return now.some((p) => p.metadata?.uid !== pods[0]!.metadata?.uid && p.status?.phase === 'Running');
    }, 20_000);
  });

  it('GIVEN a DaemonSet whose pod the node cannot run WHEN it fails THEN a Warning Event says why and the controller re-creates it with back-off, not in a loop', async () => {
    await bed.kube.rest.create(resourcePath('apps/v1', 'daemonsets', NS), {
      apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'nohost', namespace: NS },
      spec: {
        selector: { matchLabels: { app: 'nohost' } },
        template: { metadata: { labels: { app: 'nohost' } }, spec: { containers: [{ name: 'c', image: 'x', command: ['sleep', '600'] }] } },
      },
    });
    // the agent reports the pod Failed with the reason and records a Warning Event on it
    const event = await waitFor('a Warning event with the reason', async () => {
      const events = (await bed.kube.rest.get<{ items: { reason?: string; type?: string; message?: string; involvedObject?: { name?: string } }[] }>(resourcePath('v1', 'events', NS))).items;
      return events.find((e) => e.reason === 'HostNetworkRequired' && e.involvedObject?.name?.startsWith('nohost-'));
    }, 20_000);
    assert.equal(event.type, 'Warning');
    assert.match(event.message ?? '', /hostNetwork: true/);
    await new Promise((r) => setTimeout(r, 4000));
    const log = await bed.agentLog();
    const created = log.split('\n').filter((l) => /created pod bmlbt-na\/nohost-/.test(l)).length;
    assert.ok(created >= 2 && created <= 5, `pods created in ~5 s: ${created} (1 s, 2 s, 4 s back-off)`);
    await bed.kube.rest.delete(resourcePath('apps/v1', 'daemonsets', NS, 'nohost'));
  });

  it('GIVEN a Node whose Lease stopped being renewed WHEN the grace period has passed THEN the lab controllers mark it Ready Unknown; the live node stays Ready', async () => {
    const longAgo = new Date(Date.now() - 120_000).toISOString();
    await bed.kube.rest.create(resourcePath('v1', 'nodes'), { apiVersion: 'v1', kind: 'Node', metadata: { name: 'ghost' } });
    await bed.kube.rest.patch(resourcePath('v1', 'nodes', undefined, 'ghost', 'status'), { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: longAgo, lastTransitionTime: longAgo }] } }, 'merge');
    await bed.kube.rest.create(resourcePath('coordination.k8s.io/v1', 'leases', 'kube-node-lease'), {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'ghost', namespace: 'kube-node-lease' }, spec: { holderIdentity: 'ghost', renewTime: longAgo },
    });
    await waitFor('ghost Ready Unknown', async () => {
      const n = await bed.kube.rest.get<V1Node>(resourcePath('v1', 'nodes', undefined, 'ghost'));
      return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'Unknown';
    }, 15_000);
    const me = await bed.kube.rest.get<V1Node>(resourcePath('v1', 'nodes', undefined, bed.nodeName));
    assert.equal(me.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    await bed.kube.rest.delete(resourcePath('v1', 'nodes', undefined, 'ghost'));
  });

  it('GIVEN API pods and forwarding WHEN the agent stops THEN its children are gone and its nft table removed', async () => {
    const { children } = await bed.pids();
    assert.ok(children.length >= 1);
    const tables = await bed.inNode(['nft', 'list', 'tables']);
    assert.match(tables.stdout, /bmlb_lab_proxy/);
    const code = await bed.stopAgent();
    const tail = (await bed.agentLog()).split('\n').slice(-15).join('\n');
    assert.equal(code, 0, `agent exit code; log tail:\n${tail}`);
    for (const c of children) assert.ok(!alive(c.pid), `pid ${c.pid} (${c.pod}) is gone; log tail:\n${tail}`);
    const after = await bed.inNode(['nft', 'list', 'tables']);
    assert.doesNotMatch(after.stdout, /bmlb_lab_proxy/);
  });
});
