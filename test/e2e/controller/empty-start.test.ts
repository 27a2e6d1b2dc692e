// A controller that starts on a cluster with no Services at all must still serve the first one
// created afterwards (regression: the work loop once stalled after an empty first pass).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { loadKube } from '../../../src/kube/kube-client.js';
import { startController, type ControllerHandle } from '../../../src/controller/reconciler.js';
import { formatSpeakerConfig } from '../../../src/config/speaker-config.js';
import { NAMES, type SpeakerConfig } from '../../../src/config/model.js';

let api: TestApi | undefined;
let ctl: ControllerHandle | undefined;
after(async () => {
  await ctl?.stop();
  await api?.close();
});

test('GIVEN an empty cluster and a running controller WHEN the first Service is created THEN it gets an IP; WHEN the config arrives late THEN waiting Services are served', { timeout: 30_000 }, async () => {
  api = await startTestApiServer();
  const kube = loadKube({ kubeconfigPath: await api.kubeconfigPath('admin-user') });
  for (const name of [NAMES.namespace, 'first']) await kube.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  // The lab API server has the default/kubernetes Service, as a real one does; remove it so the
  // controller really starts with nothing to do.
  for (const s of (await kube.core.listServiceForAllNamespaces()).items) {
    await kube.core.deleteNamespacedService({ namespace: s.metadata!.namespace!, name: s.metadata!.name! });
  }
  assert.equal((await kube.core.listServiceForAllNamespaces()).items.length, 0, 'precondition: no Services at all');

  // Config arrives only after the controller started and a Service is waiting.
  ctl = await startController({ kube, namespace: NAMES.namespace, configMap: NAMES.configMap });
  assert.equal(ctl.ready(), false);
  await kube.core.createNamespacedService({ namespace: 'first', body: { metadata: { name: 'early' }, spec: { type: 'LoadBalancer', selector: { app: 'a' }, ports: [{ port: 80 }] } } });
  const cfg: SpeakerConfig = {
    apiVersion: 'bmlb.io/v1', clusterName: 'empty', type: 'layer2', controlPlaneVIP: '198.51.100.10',
    addressPools: [{ name: 'p', addresses: ['198.51.100.64/30'], avoidBuggyIPs: false, manualAssign: false }],
    lbNodes: [{ address: '198.51.100.21', k8sIP: '198.51.100.21' }],
    speaker: { heartbeatIntervalMs: 50, failureTimeoutMs: 250, garpRepeat: 3, memberPort: 7946, metricsPort: 7472 },
    bgpPeers: [],
  };
  await kube.core.createNamespacedConfigMap({ namespace: NAMES.namespace, body: { metadata: { name: NAMES.configMap }, data: { [NAMES.configKey]: formatSpeakerConfig(cfg) } } });
  const ipOf = async (name: string) => (await kube.core.readNamespacedService({ namespace: 'first', name })).status?.loadBalancer?.ingress?.[0]?.ip;
  const waitIp = async (name: string) => {
    const t0 = Date.now();
    for (;;) {
      const ip = await ipOf(name);
      if (ip) return ip;
      if (Date.now() - t0 > 5000) assert.fail(`${name} got no IP`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  assert.equal(await waitIp('early'), '198.51.100.64');
  await ctl.idle();
  assert.equal(ctl.ready(), true);

  // Restart on a cluster whose only Service is already allocated, then create one more.
  await ctl.stop();
  await kube.core.deleteNamespacedService({ namespace: 'first', name: 'early' });
  ctl = await startController({ kube, namespace: NAMES.namespace, configMap: NAMES.configMap });
  await ctl.idle();
  await kube.core.createNamespacedService({ namespace: 'first', body: { metadata: { name: 'late' }, spec: { type: 'LoadBalancer', selector: { app: 'b' }, ports: [{ port: 80 }] } } });
  assert.equal(await waitIp('late'), '198.51.100.64');
});
