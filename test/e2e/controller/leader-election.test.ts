// Two controller replicas' leader election against the lab API server: one leads; when it stops
// (releasing the Lease) or dies (stops renewing), the other takes over.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { loadKube, resourcePath } from '../../../src/kube/kube-client.js';
import { runLeaderElection } from '../../../src/controller/leader-election.js';

let api: TestApi | undefined;
const stops: (() => Promise<void>)[] = [];
after(async () => {
  for (const s of stops) await s();
  await api?.close();
});

async function waitFor(what: string, pred: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

test('GIVEN two replicas WHEN the leader releases or dies THEN exactly one leads and the other takes over', async () => {
  api = await startTestApiServer();
  const kube = loadKube({ kubeconfigPath: await api.kubeconfigPath('admin-user') });
  await kube.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bmlb-system' } });
  const events: string[] = [];
  const mk = (id: string) => {
    const e = runLeaderElection({
      kube, namespace: 'bmlb-system', name: 'bmlb-controller', identity: id, leaseDurationMs: 1000, retryMs: 100,
      onStartedLeading: () => { events.push(`${id}+`); },
      onStoppedLeading: () => { events.push(`${id}-`); },
    });
    stops.push(() => e.stop());
    return e;
  };
  const a = mk('a');
  await waitFor('a leads', () => a.isLeader(), 3000);
  const b = mk('b');
  await new Promise((r) => setTimeout(r, 1500)); // longer than the lease: a keeps renewing, b must not take over
  assert.equal(b.isLeader(), false, 'b took over a renewed lease');
  assert.equal(a.isLeader(), true);

  // WHEN a stops gracefully THEN it releases and b leads well before the lease would expire
  await a.stop();
  await waitFor('b leads after release', () => b.isLeader(), 3000);
  const lease = await kube.rest.get<{ spec: { holderIdentity: string; leaseTransitions: number } }>(resourcePath('coordination.k8s.io/v1', 'leases', 'bmlb-system', 'bmlb-controller'));
  assert.equal(lease.spec.holderIdentity, 'b');
  assert.ok(lease.spec.leaseTransitions >= 1);

  // WHEN b dies without releasing (its loop stops, the Lease is left as is) THEN c takes over after the lease duration
  const c = mk('c');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.isLeader(), false);
  await b.stop({ release: false }); // dies: the Lease still names b and is no longer renewed
  const took = await waitFor('c takes over an unrenewed lease', () => c.isLeader(), 5000);
  assert.ok(took >= 500, `c took over after ${took} ms, before the 1 s lease could expire`);
  assert.deepEqual(events.filter((e) => e.endsWith('+')), ['a+', 'b+', 'c+']);
});
