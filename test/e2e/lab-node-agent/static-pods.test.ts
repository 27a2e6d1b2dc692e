import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { resourcePath } from '../../../src/kube/kube-client.js';
import { alive, startNetnsNode, waitFor, NODE_IP, type NetnsNode } from './netns-node.js';

function manifest(name: string, outFile: string, marker: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: kube-system
spec:
  hostNetwork: true
  containers:
  - name: main
    image: registry.example/busybox:1
    command: ["/bin/sh", "-c"]
    args: ["echo $(POD_NAME) $(NODE) $(IP) $(MARKER) '$$(LITERAL)' > ${outFile}; exec sleep 600"]
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: IP
      valueFrom: {fieldRef: {fieldPath: status.hostIP}}
    - name: MARKER
      value: ${marker}
`;
}

describe('lab node agent: static pods', () => {
  let bed: NetnsNode;
  before(async () => {
    bed = await startNetnsNode('sp');
    await mkdir(bed.manifestDir, { recursive: true });
    await bed.startAgent({ serviceProxy: false, runControllers: false });
  }, { timeout: 60_000 });
  after(async () => { await bed?.close(); }, { timeout: 30_000 });

  const childOf = async (pod: string) => (await bed.pids()).children.find((c) => c.pod === pod);

  it('GIVEN a running agent WHEN it starts THEN its Node is registered with labels, addresses and Ready', async () => {
    const node = await waitFor('node registered and Ready', async () => {
      const n = await bed.kube.rest.find<V1Node>(resourcePath('v1', 'nodes', undefined, bed.nodeName));
      return n?.status?.conditions?.some((c) => c.type === 'Ready') ? n : undefined;
    }, 30_000);
    assert.equal(node.metadata?.labels?.['kubernetes.io/hostname'], bed.nodeName);
    assert.equal(node.metadata?.labels?.['bmlb.io/test'], 'sp');
    assert.deepEqual(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address, NODE_IP);
    assert.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  });

  it('GIVEN a manifest dropped in manifestDir WHEN the agent notices THEN the process runs within seconds with expanded args and env, and a mirror Pod reports it', async () => {
    const out = join(bed.dir, 'web.out');
    const t0 = Date.now();
    await writeFile(join(bed.manifestDir, 'web.yaml'), manifest('web', out, 'one'));
    const child = await waitFor('static pod process', () => childOf(`web-${bed.nodeName}`), 10_000);
    const startedMs = Date.now() - t0;
    assert.ok(startedMs < 5000, `started after ${startedMs} ms`);
    assert.ok(alive(child.pid));
    const text = await waitFor('output file', () => readFile(out, 'utf8').catch(() => undefined));
    assert.equal(text.trim(), `web-${bed.nodeName} ${bed.nodeName} ${NODE_IP} one $(LITERAL)`);
    const mirror = await waitFor('mirror pod running', async () => {
      const p = await bed.kube.rest.find<V1Pod>(resourcePath('v1', 'pods', 'kube-system', `web-${bed.nodeName}`));
      return p?.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    });
    assert.ok(mirror.metadata?.annotations?.['kubernetes.io/config.mirror']);
    assert.equal(mirror.spec?.nodeName, bed.nodeName);
    assert.equal(mirror.status?.podIP, NODE_IP);
    assert.equal(mirror.status?.containerStatuses?.[0]?.image, 'registry.example/busybox:1');
  });

  it('GIVEN a running static pod WHEN its process is killed THEN it is restarted and restartCount goes up', async () => {
    const before = await waitFor('static pod process', () => childOf(`web-${bed.nodeName}`));
    process.kill(before.pid, 'SIGKILL');
    const after = await waitFor('a new process', async () => {
      const c = await childOf(`web-${bed.nodeName}`);
      return c && c.pid !== before.pid ? c : undefined;
    }, 10_000);
    assert.ok(alive(after.pid));
    assert.ok(!alive(before.pid));
    await waitFor('restartCount 1', async () => {
      const p = await bed.kube.rest.find<V1Pod>(resourcePath('v1', 'pods', 'kube-system', `web-${bed.nodeName}`));
      return (p?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1;
    });
  });

  it('GIVEN a running static pod WHEN its manifest changes THEN the pod is restarted with the new spec', async () => {
    const out = join(bed.dir, 'web.out');
    const before = await waitFor('static pod process', () => childOf(`web-${bed.nodeName}`));
    await writeFile(join(bed.manifestDir, 'web.yaml'), manifest('web', out, 'two'));
    await waitFor('new output', async () => (await readFile(out, 'utf8').catch(() => '')).includes(' two '), 10_000);
    const now = await waitFor('process', () => childOf(`web-${bed.nodeName}`));
    assert.notEqual(now.pid, before.pid);
    assert.ok(!alive(before.pid), 'the old process is gone');
  });

  it('GIVEN a running static pod WHEN its manifest is removed THEN the process is gone and the mirror Pod deleted', async () => {
    const child = await waitFor('static pod process', () => childOf(`web-${bed.nodeName}`));
    await rm(join(bed.manifestDir, 'web.yaml'));
    await waitFor('process gone', () => !alive(child.pid), 35_000);
    await waitFor('pids.json without the pod', async () => !(await childOf(`web-${bed.nodeName}`)));
    await waitFor('mirror deleted', async () => !(await bed.kube.rest.find(resourcePath('v1', 'pods', 'kube-system', `web-${bed.nodeName}`))));
  });

  it('GIVEN a container that started a background process WHEN its pod is removed THEN the whole container (process group) is gone', async () => {
    const bgFile = join(bed.dir, 'bg.pid');
    await writeFile(join(bed.manifestDir, 'family.yaml'), `apiVersion: v1
kind: Pod
metadata: {name: family}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    command: ["/bin/sh", "-c", "sleep 601 & echo $! > ${bgFile}; exec sleep 600"]
`);
    const main = await waitFor('process', () => childOf(`family-${bed.nodeName}`));
    const bg = Number(await waitFor('background pid', async () => (await readFile(bgFile, 'utf8').catch(() => '')).trim() || undefined));
    assert.ok(alive(bg));
    await rm(join(bed.manifestDir, 'family.yaml'));
    await waitFor('both gone', () => !alive(main.pid) && !alive(bg), 10_000);
  });

  it('GIVEN a non-hostNetwork manifest WHEN the agent reads it THEN nothing runs and the mirror Pod says why', async () => {
    await writeFile(join(bed.manifestDir, 'bad.yaml'), manifest('bad', join(bed.dir, 'bad.out'), 'x').replace('  hostNetwork: true\n', ''));
    const p = await waitFor('mirror with reason', async () => {
      const pod = await bed.kube.rest.find<V1Pod>(resourcePath('v1', 'pods', 'kube-system', `bad-${bed.nodeName}`));
      return pod?.status?.reason ? pod : undefined;
    });
    assert.equal(p.status?.reason, 'HostNetworkRequired');
    assert.equal(p.status?.phase, 'Failed');
    assert.equal(await childOf(`bad-${bed.nodeName}`), undefined);
    await rm(join(bed.manifestDir, 'bad.yaml'));
  });

  it('GIVEN probes that fail WHEN the pod runs THEN readiness keeps it not Ready and liveness restarts it', async () => {
    await writeFile(join(bed.manifestDir, 'probed.yaml'), `apiVersion: v1
kind: Pod
metadata: {name: probed, namespace: kube-system}
spec:
  hostNetwork: true
  containers:
  - name: main
    image: busybox
    command: ["sleep", "600"]
    readinessProbe: {tcpSocket: {port: 1}, periodSeconds: 1}
    livenessProbe: {httpGet: {port: 1, path: /healthz}, periodSeconds: 1, failureThreshold: 2}
`);
    const name = `probed-${bed.nodeName}`;
    const p = await waitFor('restarted by liveness', async () => {
      const pod = await bed.kube.rest.find<V1Pod>(resourcePath('v1', 'pods', 'kube-system', name));
      return (pod?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? pod : undefined;
    }, 20_000);
    assert.equal(p.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
    assert.match(await bed.agentLog(), /failed its liveness probe/);
    await rm(join(bed.manifestDir, 'probed.yaml'));
  });

  it('GIVEN a label another party put on the Node WHEN the agent restarts THEN the label stays and the static pods run again', async () => {
    await writeFile(join(bed.manifestDir, 'again.yaml'), manifest('again', join(bed.dir, 'again.out'), 'a'));
    const first = await waitFor('process', () => childOf(`again-${bed.nodeName}`));
    await bed.kube.rest.patch(resourcePath('v1', 'nodes', undefined, bed.nodeName), { metadata: { labels: { 'baremetal.cluster.gke.io/lbnode': 'true' } } }, 'merge');
    assert.equal(await bed.stopAgent(), 0);
    assert.ok(!alive(first.pid));
    await bed.startAgent({ serviceProxy: false, runControllers: false });
    const second = await waitFor('process after restart', async () => {
      const c = await childOf(`again-${bed.nodeName}`);
      return c && c.pid !== first.pid ? c : undefined;
    }, 30_000);
    assert.ok(alive(second.pid));
    const node = await bed.kube.rest.get<V1Node>(resourcePath('v1', 'nodes', undefined, bed.nodeName));
    assert.equal(node.metadata?.labels?.['baremetal.cluster.gke.io/lbnode'], 'true');
    assert.equal(node.metadata?.labels?.['kubernetes.io/hostname'], bed.nodeName);
  });

  it('GIVEN running pods WHEN the agent gets SIGTERM THEN it stops every child and exits 0', async () => {
    await writeFile(join(bed.manifestDir, 'last.yaml'), manifest('last', join(bed.dir, 'last.out'), 'z'));
    const child = await waitFor('process', () => childOf(`last-${bed.nodeName}`));
    const code = await bed.stopAgent();
    assert.equal(code, 0);
    assert.ok(!alive(child.pid));
  });
});
