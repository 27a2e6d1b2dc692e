/**
 * The product's own rendered manifests (keepalived and HAProxy static pods, speaker DaemonSet,
 * controller Deployment for the lab sample) are runnable by the lab node agent exactly as written:
 * hostPaths mounted at their own paths, commands found on the node, bmlb's image run as bmlb.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { V1DaemonSet, V1Deployment } from '@kubernetes/client-node';
import { parseClusterFile } from '../../../src/config/parse.js';
import { renderAll } from '../../../src/render/render-all.js';
import { parseManifest, staticPod } from '../../../src/lab/node-agent/manifest-dir.js';
import { planPod, type PodPlanContext } from '../../../src/lab/node-agent/pod-plan.js';
import { containerPath, whichOnPath } from '../../../src/lab/node-agent/agent.js';
import { daemonSetPod } from '../../../src/lab/controllers/daemonset.js';
import { expandVars } from '../../../src/lab/node-agent/env-expansion.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

function rendered() {
  const file = join(REPO, 'cluster-samples', 'lab.yaml');
  const parsed = parseClusterFile(readFileSync(file, 'utf8'), file);
  if (!parsed.ok) throw new Error(`cluster-samples/lab.yaml does not validate: ${JSON.stringify(parsed.errors)}`);
  return renderAll({
    config: parsed.config,
    nodeFacts: Object.fromEntries(parsed.config.loadBalancer.nodes.map((n, i) => [n.address, { interface: 'eth0', prefixLength: 24, hostname: `lb${i + 1}` }])),
    bmlbImage: 'bmlb:0.1.0',
  });
}

const ctx = (source: 'file' | 'api'): PodPlanContext => ({
  nodeName: 'lb1',
  nodeIP: '198.51.100.21',
  apiServerHost: '198.51.100.11',
  apiServerPort: '6444',
  bmlbBin: join(REPO, 'bin/run.js'),
  nodeBinary: process.execPath,
  path: containerPath(process.env.PATH),
  podDir: '/run/bmlb-node-agent/pods/x',
  source,
  resolveCommand: whichOnPath,
  configMaps: new Map(),
  secrets: new Map(),
});

describe('the product\'s manifests run under the lab node agent', () => {
  const out = rendered();

  it('GIVEN the rendered keepalived and HAProxy static pods WHEN planned THEN each runs its exact command from the node\'s PATH with no bind mounts', () => {
    const files = out.nodes[0]!.files.filter((f) => f.path.startsWith('/etc/kubernetes/manifests/'));
    assert.ok(files.length >= 2, `static pod manifests rendered: ${files.map((f) => f.path).join(', ')}`);
    for (const f of files) {
      const m = parseManifest(f.path.split('/').pop()!, f.content);
      assert.ok(m.ok, `${f.path}: ${!m.ok && m.error}`);
      const pod = staticPod(m, 'lb1');
      const r = planPod(pod, ctx('file'));
      assert.ok(r.ok, `${f.path}: ${!r.ok && `${r.reason}: ${r.message}`}`);
      const c = pod.spec!.containers[0]!;
      assert.deepEqual(r.plan.containers[0]!.argv.slice(1), [...c.command!.slice(1), ...(c.args ?? [])]);
      assert.match(r.plan.containers[0]!.argv[0]!, new RegExp(`/${c.command![0]}$`));
      assert.deepEqual(r.plan.containers[0]!.mounts, []);
    }
  });

  it('GIVEN the rendered speaker DaemonSet and controller Deployment WHEN their pods are planned THEN bmlb runs from bmlbBin with the ServiceAccount token mounted', () => {
    const workloads = out.manifests.filter((m) => m.kind === 'DaemonSet' || m.kind === 'Deployment') as unknown as (V1DaemonSet | V1Deployment)[];
    assert.ok(workloads.length >= 2);
    for (const w of workloads) {
      const pod = daemonSetPod({ ...(w as V1DaemonSet), metadata: { ...w.metadata, uid: 'u' } }, 'lb1', 'h');
      pod.metadata = { ...pod.metadata, name: `${w.metadata?.name}-x`, uid: 'p' };
      const r = planPod(pod, ctx('api'));
      assert.ok(r.ok, `${w.kind} ${w.metadata?.name}: ${!r.ok && `${r.reason}: ${r.message}`}`);
      const c = w.spec!.template.spec!.containers[0]!;
      assert.equal(c.command?.[0], 'bmlb');
      const env = r.plan.containers[0]!.env;
      const expanded = [...c.command!.slice(1), ...(c.args ?? [])].map((a) => expandVars(a, (n) => env[n]));
      assert.deepEqual(r.plan.containers[0]!.argv, [process.execPath, join(REPO, 'bin/run.js'), ...expanded]);
      assert.ok(!r.plan.containers[0]!.argv.some((a) => a.includes('$(')), 'every $(VAR) is defined');
      assert.ok(r.plan.containers[0]!.mounts.some((m) => m.target === '/var/run/secrets/kubernetes.io/serviceaccount'));
      assert.ok(r.plan.containers[0]!.readinessProbe, `${w.metadata?.name} has a readiness probe the agent runs`);
    }
  });
});
