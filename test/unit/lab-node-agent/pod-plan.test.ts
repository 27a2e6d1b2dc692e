import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { isBmlbImage, planPod, referencedObjects, renderVolumeFiles, SERVICE_ACCOUNT_MOUNT, type PodPlanContext, type PodPlanResult } from '../../../src/lab/node-agent/pod-plan.js';

function ctx(over: Partial<PodPlanContext> = {}): PodPlanContext {
  return {
    nodeName: 'lb1',
    nodeIP: '198.51.100.21',
    apiServerHost: '198.51.100.11',
    apiServerPort: '6444',
    bmlbBin: '/opt/bmlb/bin/run.js',
    nodeBinary: '/usr/bin/node',
    path: '/usr/sbin:/usr/bin',
    podDir: '/run/agent/pods/p1',
    source: 'api',
    resolveCommand: (name, path) => (['keepalived', 'sh', 'sleep'].includes(name) ? `${path.split(':')[0]}/${name}` : undefined),
    configMaps: new Map([['cfg', { 'config.yaml': 'a: 1\n', mode: 'fast' }]]),
    secrets: new Map([['member', { secretkey: 's3cret' }]]),
    ...over,
  };
}

function pod(spec: Partial<NonNullable<V1Pod['spec']>>, meta: Partial<NonNullable<V1Pod['metadata']>> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'speaker-abcde', namespace: 'bmlb-system', uid: 'u-1', labels: { app: 'speaker' }, ...meta },
    spec: { hostNetwork: true, nodeName: 'lb1', containers: [{ name: 'c', image: 'x', command: ['sleep', '1'] }], ...spec },
  };
}

function ok(r: PodPlanResult) {
  if (!r.ok) assert.fail(`expected a plan, got ${r.reason}: ${r.message}`);
  return r.plan;
}

describe('planPod: what the node agent runs for a pod', () => {
  it('GIVEN a container of bmlb\'s image with command bmlb WHEN planned THEN node runs bmlbBin with the args', () => {
    const plan = ok(planPod(pod({ containers: [{ name: 'speaker', image: 'gcr.io/x/bmlb:0.1.0', command: ['bmlb', 'speaker'], args: ['--node', '$(NODE_NAME)'],
      env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }] }] }), ctx()));
    assert.deepEqual(plan.containers[0]!.argv, ['/usr/bin/node', '/opt/bmlb/bin/run.js', 'speaker', '--node', 'lb1']);
  });

  it('GIVEN any other image WHEN planned THEN command[0] is resolved on PATH and args follow exactly', () => {
    const plan = ok(planPod(pod({ containers: [{ name: 'k', image: 'osixia/keepalived:2.0', command: ['keepalived'], args: ['--dont-fork', '--log-console'] }] }), ctx()));
    assert.deepEqual(plan.containers[0]!.argv, ['/usr/sbin/keepalived', '--dont-fork', '--log-console']);
  });

  it('GIVEN a command not on PATH WHEN planned THEN the pod fails with CommandNotFound', () => {
    const r = planPod(pod({ containers: [{ name: 'x', image: 'x', command: ['no-such-binary'] }] }), ctx());
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'CommandNotFound');
  });

  it('GIVEN a non-bmlb container without command WHEN planned THEN it fails naming the missing entrypoint', () => {
    const r = planPod(pod({ containers: [{ name: 'x', image: 'nginx:1' }] }), ctx());
    assert.equal(!r.ok && r.reason, 'CommandRequired');
  });

  it('GIVEN a pod without hostNetwork WHEN planned THEN it is rejected with a clear reason', () => {
    const r = planPod(pod({ hostNetwork: false }), ctx());
    assert.equal(!r.ok && r.reason, 'HostNetworkRequired');
    assert.match(!r.ok ? r.message : '', /hostNetwork: true/);
  });

  it('GIVEN env from fieldRef, configMapKeyRef, secretKeyRef and values referring to earlier vars WHEN planned THEN env is resolved in order', () => {
    const plan = ok(planPod(pod({ containers: [{ name: 'c', image: 'x', command: ['sleep', '$(WAIT)'], env: [
      { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
      { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode' } } },
      { name: 'KEY', valueFrom: { secretKeyRef: { name: 'member', key: 'secretkey' } } },
      { name: 'WAIT', value: '5' },
      { name: 'MSG', value: '$(POD) in $(NS) $(LATER) $$(POD)' },
      { name: 'LATER', value: 'x' },
    ] }] }), ctx()));
    const env = plan.containers[0]!.env;
    assert.equal(env.POD, 'speaker-abcde');
    assert.equal(env.NS, 'bmlb-system');
    assert.equal(env.IP, '198.51.100.21');
    assert.equal(env.HOST_IP, '198.51.100.21');
    assert.equal(env.APP, 'speaker');
    assert.equal(env.MODE, 'fast');
    assert.equal(env.KEY, 's3cret');
    assert.equal(env.MSG, 'speaker-abcde in bmlb-system $(LATER) $(POD)');
    assert.equal(env.KUBERNETES_SERVICE_HOST, '198.51.100.11');
    assert.equal(env.KUBERNETES_SERVICE_PORT, '6444');
    assert.deepEqual(plan.containers[0]!.argv, ['/usr/sbin/sleep', '5']);
  });

  it('GIVEN a missing ConfigMap key WHEN planned THEN CreateContainerConfigError (retried later); optional refs are skipped', () => {
    const r = planPod(pod({ containers: [{ name: 'c', image: 'x', command: ['sleep'], env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }] }] }), ctx());
    assert.equal(!r.ok && r.reason, 'CreateContainerConfigError');
    const p = ok(planPod(pod({ containers: [{ name: 'c', image: 'x', command: ['sleep'], env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k', optional: true } } }] }] }), ctx()));
    assert.equal(p.containers[0]!.env.X, undefined);
  });

  it('GIVEN hostPath volumes WHEN mountPath equals the path THEN no bind mount is needed; WHEN it differs THEN the pod fails saying so', () => {
    const good = ok(planPod(pod({
      volumes: [{ name: 'm', hostPath: { path: '/etc/kubernetes/manifests/', type: 'DirectoryOrCreate' } }],
      containers: [{ name: 'c', image: 'x', command: ['sleep'], volumeMounts: [{ name: 'm', mountPath: '/etc/kubernetes/manifests' }] }],
    }), ctx({ source: 'file' })));
    assert.deepEqual(good.containers[0]!.mounts, []);
    assert.deepEqual(good.volumes[0], { name: 'm', kind: 'hostPath', path: '/etc/kubernetes/manifests/', type: 'DirectoryOrCreate' });
    const bad = planPod(pod({
      volumes: [{ name: 'm', hostPath: { path: '/etc/keepalived' } }],
      containers: [{ name: 'c', image: 'x', command: ['sleep'], volumeMounts: [{ name: 'm', mountPath: '/usr/local/etc/keepalived' }] }],
    }), ctx());
    assert.equal(!bad.ok && bad.reason, 'HostPathMismatch');
    assert.match(!bad.ok ? bad.message : '', /\/etc\/keepalived at \/usr\/local\/etc\/keepalived/);
  });

  it('GIVEN an API pod WHEN planned THEN the ServiceAccount token, ca.crt and namespace are projected at the well-known path', () => {
    const plan = ok(planPod(pod({ serviceAccountName: 'bmlb-speaker' }), ctx()));
    const vol = plan.volumes.find((v) => v.kind === 'files');
    assert.ok(vol && vol.kind === 'files');
    assert.deepEqual(vol.sources.map((s) => s.kind), ['serviceAccountToken', 'caCert', 'text']);
    assert.equal(vol.sources[0]!.kind === 'serviceAccountToken' && vol.sources[0]!.serviceAccountName, 'bmlb-speaker');
    assert.deepEqual(plan.containers[0]!.mounts, [{ source: vol.dir, target: SERVICE_ACCOUNT_MOUNT, readOnly: true }]);
  });

  it('GIVEN a static pod or automountServiceAccountToken false WHEN planned THEN no token is mounted', () => {
    assert.deepEqual(ok(planPod(pod({}), ctx({ source: 'file' }))).volumes, []);
    assert.deepEqual(ok(planPod(pod({ automountServiceAccountToken: false }), ctx())).volumes, []);
  });

  it('GIVEN configMap and secret volumes WHEN planned and rendered THEN files appear under the pod dir and are bind-mounted read-only where asked', () => {
    const plan = ok(planPod(pod({
      automountServiceAccountToken: false,
      volumes: [{ name: 'config', configMap: { name: 'cfg', items: [{ key: 'config.yaml', path: 'speaker.yaml' }] } }, { name: 'key', secret: { secretName: 'member' } }],
      containers: [{ name: 'c', image: 'x', command: ['sleep'], volumeMounts: [{ name: 'config', mountPath: '/etc/bmlb', readOnly: true }, { name: 'key', mountPath: '/var/run/key' }] }],
    }), ctx()));
    assert.deepEqual(plan.containers[0]!.mounts, [
      { source: '/run/agent/pods/p1/volumes/config', target: '/etc/bmlb', readOnly: true },
      { source: '/run/agent/pods/p1/volumes/key', target: '/var/run/key', readOnly: false },
    ]);
    const cfgVol = plan.volumes[0]!;
    assert.ok(cfgVol.kind === 'files');
    assert.deepEqual(renderVolumeFiles(cfgVol, ctx()), { ok: true, files: [{ path: 'speaker.yaml', mode: 0o644, content: 'a: 1\n' }] });
    const missing = renderVolumeFiles(cfgVol, ctx({ configMaps: new Map() }));
    assert.equal(missing.ok, false);
  });

  it('GIVEN a readiness probe on a named port WHEN planned THEN the port is resolved and the host is the node IP', () => {
    const plan = ok(planPod(pod({ containers: [{ name: 'c', image: 'x', command: ['sleep'], ports: [{ name: 'monitoring', containerPort: 7472 }],
      readinessProbe: { httpGet: { path: '/metrics', port: 'monitoring' }, periodSeconds: 2 } }] }), ctx()));
    assert.deepEqual(plan.containers[0]!.readinessProbe?.action, { kind: 'httpGet', scheme: 'HTTP', host: '198.51.100.21', port: 7472, path: '/metrics', headers: {} });
    assert.equal(plan.containers[0]!.readinessProbe?.periodSeconds, 2);
  });

  it('GIVEN capabilities WHEN planned THEN they are kept for the status', () => {
    const plan = ok(planPod(pod({ containers: [{ name: 'c', image: 'x', command: ['sleep'], securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } } }] }), ctx()));
    assert.deepEqual(plan.containers[0]!.capabilities, ['NET_ADMIN', 'NET_RAW']);
  });

  it('GIVEN references everywhere WHEN listed THEN every ConfigMap and Secret name appears once', () => {
    const p = pod({
      volumes: [{ name: 'a', configMap: { name: 'cfg' } }, { name: 'b', projected: { sources: [{ secret: { name: 's2' } }] } }],
      containers: [{ name: 'c', image: 'x', envFrom: [{ configMapRef: { name: 'cfg' } }], env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 'member', key: 'k' } } }] }],
    });
    assert.deepEqual(referencedObjects(p), { configMaps: ['cfg'], secrets: ['member', 's2'] });
  });

  it('GIVEN image names WHEN classified THEN only repositories named bmlb are bmlb\'s own', () => {
    for (const i of ['bmlb', 'bmlb:0.1', 'gcr.io/proj/bmlb:1', 'localhost:5000/bmlb', 'ghcr.io/o/bmlb@sha256:abc']) assert.ok(isBmlbImage(i), i);
    for (const i of ['bmlb-speaker', 'gcr.io/bmlb/speaker:1', 'notbmlb', undefined, 'localhost:5000/x']) assert.ok(!isBmlbImage(i), String(i));
  });
});
