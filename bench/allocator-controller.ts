// Controller convergence (the allocation half of issue 5 benchmark 2): N LoadBalancer Services
// created at once against the lab API server (in-process, 127.0.0.1) → seconds until every one
// has its IP in status, then the same after a controller restart (rebuild from status).
// Addresses are bookkeeping only here (no traffic): IPv6 documentation ranges.
// Run: npm run bench -- allocator-controller      (BENCH_SERVICES=1000 by default)
import { startTestApiServer } from '../test/helpers/lab-api.js';
import { loadKube } from '../src/kube/kube-client.js';
import { startController } from '../src/controller/reconciler.js';
import { formatSpeakerConfig } from '../src/config/speaker-config.js';
import { NAMES, type SpeakerConfig } from '../src/config/model.js';
import type { V1Service } from '@kubernetes/client-node';

const N = Number(process.env.BENCH_SERVICES ?? 1000);
const api = await startTestApiServer({ serviceCIDR: '2001:db8:f::/108' });
try {
  const kube = loadKube({ kubeconfigPath: await api.kubeconfigPath('admin-user') });
  for (const name of [NAMES.namespace, 'bench']) await kube.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const cfg: SpeakerConfig = {
    apiVersion: 'bmlb.io/v1', clusterName: 'bench', type: 'layer2', controlPlaneVIP: '198.51.100.10',
    addressPools: [{ name: 'v6', addresses: ['2001:db8:100::/112'], avoidBuggyIPs: false, manualAssign: false }],
    lbNodes: [{ address: '198.51.100.21', k8sIP: '198.51.100.21' }],
    speaker: { heartbeatIntervalMs: 50, failureTimeoutMs: 250, garpRepeat: 3, memberPort: 7946, metricsPort: 7472 },
    bgpPeers: [],
  };
  await kube.core.createNamespacedConfigMap({ namespace: NAMES.namespace, body: { metadata: { name: NAMES.configMap }, data: { [NAMES.configKey]: formatSpeakerConfig(cfg) } } });

  const log = process.env.BENCH_DEBUG ? (l: string) => console.error(l) : undefined;
  const concurrency = process.env.BENCH_CONCURRENCY ? Number(process.env.BENCH_CONCURRENCY) : undefined;
  let ctl = await startController({ kube, namespace: NAMES.namespace, configMap: NAMES.configMap, log, concurrency });
  const t0 = performance.now();
  const body = (i: number): V1Service => ({
    metadata: { name: `s${i}` },
    spec: { type: 'LoadBalancer', ipFamilies: ['IPv6'], selector: { app: `s${i}` }, ports: [{ port: 80 }] },
  });
  // "At once": all creates in flight together (in batches of 50 to keep the socket count sane).
  for (let i = 0; i < N; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, j) => kube.core.createNamespacedService({ namespace: 'bench', body: body(i + j) })));
  }
  const tCreated = performance.now();
  const allocated = async () => {
    const list = await kube.core.listNamespacedService({ namespace: 'bench' });
    return list.items.filter((s) => s.status?.loadBalancer?.ingress?.length).length;
  };
  // Poll the controller's own count (cheap), then confirm in the API (a list of N Services is not
  // cheap for the in-process API server, so it is not polled in a tight loop).
  while ((ctl.usage()[0]?.used ?? 0) < N) await new Promise((r) => setTimeout(r, 20));
  let n = 0;
  while ((n = await allocated()) < N) await new Promise((r) => setTimeout(r, 250));
  const tDone = performance.now();
  console.log(`${N} Services: created in ${((tCreated - t0) / 1000).toFixed(2)} s; all allocated ${((tDone - t0) / 1000).toFixed(2)} s after the first create (${Math.round(N / ((tDone - t0) / 1000))} Services/s end to end)`);

  const before = new Map((await kube.core.listNamespacedService({ namespace: 'bench' })).items.map((s) => [s.metadata!.name!, s.status!.loadBalancer!.ingress![0]!.ip]));
  await ctl.stop();
  const t1 = performance.now();
  ctl = await startController({ kube, namespace: NAMES.namespace, configMap: NAMES.configMap });
  await ctl.idle();
  const t2 = performance.now();
  const afterList = (await kube.core.listNamespacedService({ namespace: 'bench' })).items;
  const moved = afterList.filter((s) => before.get(s.metadata!.name!) !== s.status?.loadBalancer?.ingress?.[0]?.ip).length;
  console.log(`restart: ${N} Services re-held from status in ${((t2 - t1) / 1000).toFixed(2)} s, ${moved} moved (must be 0)`);
  const usage = ctl.usage()[0]!;
  console.log(`pool ${usage.pool}: used ${usage.used} of ${usage.size}`);
  await ctl.stop();
  if (moved !== 0 || n !== N) process.exitCode = 1;
} finally {
  await api.close();
}
