/**
 * The whole lab, as issue 3's "done when" describes it: up in under a minute with the lab API
 * server and node agents; kubectl from admin lists the nodes; a static pod dropped on a node runs
 * within seconds; down leaves nothing. Needs the lab API server and node agent commands built
 * (`npm run build`).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { isUserError } from '../../../src/errors.js';
import { labDown } from '../../../src/lab/lab-down.js';
import { systemLabIo } from '../../../src/lab/lab-io.js';
import { labPaths } from '../../../src/lab/lab-layout.js';
import { labUp } from '../../../src/lab/lab-up.js';
import { namespacePids } from '../../../src/lab/netns/network.js';
import type { TestLab } from '../../helpers/lab.js';
import { startTestLab, uniqueLabName } from '../../helpers/lab.js';
import { leftovers } from './leftovers.js';

interface NodeList {
  items: { metadata: { name: string; labels?: Record<string, string> }; status?: { addresses?: { type: string; address: string }[] } }[];
}

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await systemLabIo.sleep(200);
  }
}

describe('GIVEN a default-sized lab (1 control plane, 3 LB nodes) with the lab API server and node agents', () => {
  let lab: TestLab;
  before(async () => {
    lab = await startTestLab({ tag: 'kube' });
  }, { timeout: 120_000 });
  after(async () => {
    await lab?.down();
  });

  it('THEN lab up took under a minute and every lab process is alive', () => {
    assert.ok(lab.status.timings.total! < 60_000, JSON.stringify(lab.status.timings));
    const what = lab.status.processes.map((p) => p.what).sort();
    for (const n of ['cp1', 'lb1', 'lb2', 'lb3']) {
      assert.ok(what.includes(`node-agent ${n}`) && what.includes(`sshd ${n}`) && what.includes(`node-holder ${n}`), n);
    }
    assert.ok(what.includes('apiserver'));
    assert.ok(lab.status.processes.every((p) => p.alive));
  });

  it('WHEN kubectl runs from admin with the installer kubeconfig THEN it lists every lab node with its InternalIP', async () => {
    const r = await lab.kubectl(['get', 'nodes', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const nodes = (JSON.parse(r.stdout) as NodeList).items;
    const byName = new Map(nodes.map((n) => [n.metadata.name, n]));
    for (const n of lab.status.nodes) {
      const got = byName.get(n.name);
      assert.ok(got, `node ${n.name} missing from ${[...byName.keys()].join(', ')}`);
      assert.ok(got.status?.addresses?.some((a) => a.type === 'InternalIP' && a.address === n.address), `${n.name} InternalIP`);
    }
  });

  it('WHEN kubectl uses the admin-user kubeconfig THEN it is authenticated too', async () => {
    const r = await lab.kubectl(['get', 'nodes', '-o', 'name'], { as: 'admin-user' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /node\/lb1/);
    const kc = readFileSync(lab.status.adminUserKubeconfig, 'utf8');
    assert.match(kc, /admin-user/);
    assert.doesNotMatch(kc, /bmlb-installer/);
  });

  it('WHEN a static pod manifest is dropped in lb2:/etc/kubernetes/manifests over ssh THEN its process runs on lb2 within seconds', async () => {
    const marker = String(80000 + (process.pid % 10000)); // a sleep length only this test uses
    const manifest = [
      'apiVersion: v1',
      'kind: Pod',
      'metadata:',
      '  name: bmlbt-sleeper',
      '  namespace: kube-system',
      'spec:',
      '  hostNetwork: true',
      '  containers:',
      '  - name: sleeper',
      '    image: registry.example/busybox:1',
      `    command: ["sleep", "${marker}"]`,
      '',
    ].join('\n');
    const t0 = Date.now();
    const w = await lab.ssh('lb2', 'cat > /etc/kubernetes/manifests/bmlbt-sleeper.yaml', { input: manifest });
    assert.equal(w.code, 0, w.stderr);
    const pid = await waitUntil('the sleeper process on lb2', 15_000, async () => {
      for (const p of await namespacePids(systemLabIo, `bmlb-${lab.name}-lb2`)) {
        try {
          const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
          if (/(^|\/)sleep$/.test(argv[0] ?? '') && argv[1] === marker) return p;
        } catch {
          /* gone meanwhile */
        }
      }
      return undefined;
    });
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 15_000);
    // It runs in lb2's UTS namespace (so in the node), not on another node.
    const uts = await systemLabIo.run(['nsenter', '--target', String(pid), '--uts', 'hostname']);
    assert.equal(uts.stdout.trim(), 'lb2');
    const mirror = await waitUntil('the mirror pod to be Running', 15_000, async () => {
      const r = await lab.kubectl(['get', 'pods', '-n', 'kube-system', '-o', 'json']);
      if (r.code !== 0) return undefined;
      const pods = (JSON.parse(r.stdout) as { items: { metadata: { name: string }; spec?: { nodeName?: string }; status?: { phase?: string } }[] }).items;
      return pods.find((p) => p.metadata.name === 'bmlbt-sleeper-lb2' && p.status?.phase === 'Running');
    });
    assert.equal(mirror.spec?.nodeName, 'lb2');
  });

  it('WHEN the lab goes down THEN no process (pods included), namespace, mount or state is left', async () => {
    const pids = lab.status.processes.map((p) => p.pid);
    for (const n of lab.status.nodes) pids.push(...(await namespacePids(systemLabIo, n.namespace)));
    await lab.down();
    assert.deepEqual(await leftovers(lab.name, pids), { processes: [], namespaces: [], mounts: [], stateDir: false });
  });
});

describe('GIVEN a lab whose API server cannot become ready in time', () => {
  const name = uniqueLabName('fail');
  after(async () => {
    await labDown(systemLabIo, { name });
  });

  it('WHEN lab up gives up THEN it says why with code LabApiServerFailed, takes the lab down and keeps only the logs', async () => {
    const seen: number[] = [];
    const io = { ...systemLabIo, startDaemon: async (argv: string[], o: Parameters<typeof systemLabIo.startDaemon>[1]) => {
      const p = await systemLabIo.startDaemon(argv, o);
      seen.push(p.pid);
      return p;
    } };
    await assert.rejects(labUp(io, { name, nodes: 2, lbNodes: 1, ipv6: false, readyTimeoutMs: 1 }), (e: unknown) => {
      assert.ok(isUserError(e));
      assert.equal(e.code, 'LabApiServerFailed');
      assert.match(e.message, /readyz/);
      assert.ok(e.suggestions.some((s) => s.includes('logs are kept')));
      return true;
    });
    assert.ok(seen.length >= 5, `holders, sshd and the API server were started (${seen.length})`);
    const left = await leftovers(name, seen);
    assert.deepEqual([left.processes, left.namespaces, left.mounts], [[], [], []]);
    assert.deepEqual(readdirSync(labPaths(name).stateDir), ['log']);
  });
});
