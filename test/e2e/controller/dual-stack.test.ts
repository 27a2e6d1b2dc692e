// Dual-stack Services against a dual-stack lab API server: RequireDualStack gets one address per
// family (each from its pool), IPv6-only Services get IPv6, PreferDualStack takes what exists.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
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

test('GIVEN IPv4 and IPv6 pools WHEN single- and dual-stack Services are created THEN each gets its families', { timeout: 60_000 }, async () => {
  api = await startTestApiServer({ serviceCIDR: '203.0.113.0/24,2001:db8:f::/112' });
  const kube = loadKube({ kubeconfigPath: await api.kubeconfigPath('admin-user') });
  for (const name of [NAMES.namespace, 'ds']) await kube.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const cfg: SpeakerConfig = {
    apiVersion: 'bmlb.io/v1', clusterName: 'ds', type: 'layer2', controlPlaneVIP: '198.51.100.10',
    addressPools: [
      { name: 'pool-1', addresses: ['198.51.100.200-198.51.100.239'], avoidBuggyIPs: false, manualAssign: false },
      { name: 'pool-v6', addresses: ['2001:db8:100::200-2001:db8:100::2ff'], avoidBuggyIPs: false, manualAssign: false },
    ],
    lbNodes: [{ address: '198.51.100.21', k8sIP: '198.51.100.21' }],
    speaker: { heartbeatIntervalMs: 50, failureTimeoutMs: 250, garpRepeat: 3, memberPort: 7946, metricsPort: 7472 },
    bgpPeers: [],
  };
  await kube.core.createNamespacedConfigMap({ namespace: NAMES.namespace, body: { metadata: { name: NAMES.configMap }, data: { [NAMES.configKey]: formatSpeakerConfig(cfg) } } });
  ctl = await startController({ kube, namespace: NAMES.namespace, configMap: NAMES.configMap });

  const mk = (name: string, spec: Partial<NonNullable<V1Service['spec']>>): V1Service => ({
    metadata: { name }, spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80 }], ...spec },
  });
  await kube.core.createNamespacedService({ namespace: 'ds', body: mk('both', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] }) });
  await kube.core.createNamespacedService({ namespace: 'ds', body: mk('six', { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] }) });
  await kube.core.createNamespacedService({ namespace: 'ds', body: mk('prefer', { ipFamilyPolicy: 'PreferDualStack' }) });

  const ips = async (name: string) => {
    const t0 = Date.now();
    for (;;) {
      const s = await kube.core.readNamespacedService({ namespace: 'ds', name });
      const got = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip);
      if (got.length) return { ips: got, pool: s.metadata?.annotations?.[NAMES.allocatedPoolAnnotation] };
      if (Date.now() - t0 > 10_000) assert.fail(`${name} got no IP`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  assert.deepEqual(await ips('both'), { ips: ['2001:db8:100::200', '198.51.100.200'], pool: 'pool-v6,pool-1' });
  assert.deepEqual(await ips('six'), { ips: ['2001:db8:100::201'], pool: 'pool-v6' });
  const prefer = await ips('prefer');
  // The API server fills ipFamilies for PreferDualStack from its Service CIDRs (IPv4 first here).
  assert.deepEqual(prefer, { ips: ['198.51.100.201', '2001:db8:100::202'], pool: 'pool-1,pool-v6' });
});
