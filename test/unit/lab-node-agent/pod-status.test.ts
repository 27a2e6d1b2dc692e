import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { podStatus, restartDelayMs, type PodRuntime } from '../../../src/lab/node-agent/pod-status.js';
import { parseManifest, staticPod } from '../../../src/lab/node-agent/manifest-dir.js';
import { launchArgv } from '../../../src/lab/node-agent/container-process.js';

const now = new Date('2026-01-01T00:00:10Z');
const base: PodRuntime = { nodeIP: '198.51.100.21', startTime: new Date('2026-01-01T00:00:00Z'), containers: [], restartPolicy: 'Always', specContainers: [{ name: 'c', image: 'x' }] };

describe('pod status as kubelet reports it', () => {
  it('GIVEN a running ready container WHEN reported THEN phase Running, Ready True, podIP/hostIP the node IP', () => {
    const s = podStatus({ ...base, containers: [{ name: 'c', image: 'x', runtime: { state: 'running', pid: 42, startedAt: now, ready: true }, restartCount: 2, capabilities: [] }] }, now);
    assert.equal(s.phase, 'Running');
    assert.equal(s.podIP, '198.51.100.21');
    assert.equal(s.hostIP, '198.51.100.21');
    assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.equal(s.containerStatuses?.[0]?.restartCount, 2);
    assert.equal(s.containerStatuses?.[0]?.containerID, 'lab://42');
  });

  it('GIVEN a container in back-off WHEN reported THEN it is waiting with CrashLoopBackOff and the pod not ready', () => {
    const s = podStatus({ ...base, containers: [{ name: 'c', image: 'x', runtime: { state: 'waiting', reason: 'CrashLoopBackOff' }, restartCount: 1, capabilities: ['NET_RAW'] }] }, now);
    assert.equal(s.containerStatuses?.[0]?.state?.waiting?.reason, 'CrashLoopBackOff');
    assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
    assert.match(s.message ?? '', /NET_RAW/);
  });

  it('GIVEN a pod that could not be planned WHEN reported THEN its reason and message are the status reason and message', () => {
    const s = podStatus({ ...base, failure: { reason: 'HostNetworkRequired', message: 'set hostNetwork', permanent: true } }, now);
    assert.equal(s.phase, 'Failed');
    assert.equal(s.reason, 'HostNetworkRequired');
    assert.equal(s.containerStatuses?.[0]?.state?.waiting?.reason, 'HostNetworkRequired');
  });

  it('GIVEN consecutive failures WHEN backing off THEN 1 s doubling to 10 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 9].map(restartDelayMs), [1000, 2000, 4000, 8000, 10000, 10000]);
  });
});

describe('static pod manifests', () => {
  it('GIVEN a Pod manifest WHEN parsed and shaped THEN the pod is named <name>-<node>, bound, with mirror annotations and a content uid', () => {
    const m = parseManifest('haproxy.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: haproxy, namespace: kube-system}\nspec: {hostNetwork: true, containers: [{name: h, image: haproxy, command: [haproxy]}]}\n');
    assert.ok(m.ok);
    const p = staticPod(m, 'lb1');
    assert.equal(p.metadata?.name, 'haproxy-lb1');
    assert.equal(p.spec?.nodeName, 'lb1');
    assert.equal(p.metadata?.uid, m.hash);
    assert.equal(p.metadata?.annotations?.['kubernetes.io/config.mirror'], m.hash);
    const changed = parseManifest('haproxy.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: haproxy}\nspec: {containers: [{name: h}]}\n');
    assert.notEqual(changed.hash, m.hash);
    assert.ok(changed.ok);
    assert.equal(staticPod(changed, 'lb1').metadata?.namespace, 'default');
  });

  it('GIVEN broken manifests WHEN parsed THEN each says what is wrong', () => {
    const bad = [parseManifest('a.yaml', 'kind: [oops'), parseManifest('b.yaml', 'apiVersion: v1\nkind: Service\n'), parseManifest('c.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: []}\n')];
    assert.deepEqual(bad.map((m) => (m.ok ? 'ok' : m.error.split(':')[0])), ['not valid YAML', 'not a Pod (apiVersion', 'spec.containers is empty']);
  });

  it('GIVEN mounts WHEN launching THEN the argv enters a private mount namespace and execs the container argv unchanged; without mounts it is the argv itself', () => {
    assert.deepEqual(launchArgv(['/bin/sleep', '1'], []), ['/bin/sleep', '1']);
    const argv = launchArgv(['/bin/sleep', '1'], [{ source: '/run/a/token', target: '/var/run/secrets/x', readOnly: true }]);
    assert.deepEqual(argv.slice(0, 5), ['unshare', '--mount', '--propagation', 'slave', '--']);
    assert.deepEqual(argv.slice(-6), ['/run/a/token', '/var/run/secrets/x', 'ro', '--', '/bin/sleep', '1']);
  });
});
