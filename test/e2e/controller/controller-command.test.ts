// `bmlb controller` as a process (bin/run.js, the built CLI) against the lab API server: it
// allocates, serves /readyz and /metrics, and stops cleanly on SIGTERM with a JSON result.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { loadKube } from '../../../src/kube/kube-client.js';
import { formatSpeakerConfig } from '../../../src/config/speaker-config.js';
import { NAMES, type SpeakerConfig } from '../../../src/config/model.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
let api: TestApi | undefined;
let child: ChildProcess | undefined;
after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await api?.close();
});

test('GIVEN the lab API server WHEN `bmlb controller --kubeconfig` runs THEN Services get IPs, /readyz turns 200, SIGTERM stops it with a JSON result', async () => {
  assert.ok(existsSync(`${root}dist/src/commands/controller.js`), 'the CLI is not built: run `npm run build` first');
  api = await startTestApiServer();
  const kubeconfig = await api.kubeconfigPath('admin-user');
  const kube = loadKube({ kubeconfigPath: kubeconfig });
  for (const name of [NAMES.namespace, 'demo']) {
    try { await kube.core.createNamespace({ body: { metadata: { name } } }); } catch (e) { if ((e as { code?: number }).code !== 409) throw e; }
  }
  const cfg: SpeakerConfig = {
    apiVersion: 'bmlb.io/v1', clusterName: 'cmd', type: 'layer2', controlPlaneVIP: '198.51.100.10',
    addressPools: [{ name: 'pool-a', addresses: ['198.51.100.128/30'], avoidBuggyIPs: false, manualAssign: false }],
    lbNodes: [{ address: '198.51.100.21', k8sIP: '198.51.100.21' }],
    speaker: { heartbeatIntervalMs: 50, failureTimeoutMs: 250, garpRepeat: 3, memberPort: 7946, metricsPort: 7472 },
    bgpPeers: [],
  };
  await kube.core.createNamespacedConfigMap({ namespace: NAMES.namespace, body: { metadata: { name: NAMES.configMap }, data: { [NAMES.configKey]: formatSpeakerConfig(cfg) } } });
  await kube.core.createNamespacedService({ namespace: 'demo', body: { metadata: { name: 'hello' }, spec: { type: 'LoadBalancer', selector: { app: 'hello' }, ports: [{ port: 80 }] } } });

  child = spawn(process.execPath, [`${root}bin/run.js`, 'controller', '--kubeconfig', kubeconfig, '--metrics-port', '0', '--metrics-address', '127.0.0.1', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));

  const deadline = Date.now() + 15_000;
  let port: number | undefined;
  let ip: string | undefined;
  while (Date.now() < deadline && (port === undefined || ip === undefined)) {
    port ??= Number(/serving \/metrics \/healthz \/readyz on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]) || undefined;
    const s = await kube.core.readNamespacedService({ namespace: 'demo', name: 'hello' });
    ip = s.status?.loadBalancer?.ingress?.[0]?.ip;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(port, `no endpoints line; stderr:\n${stderr}`);
  assert.equal(ip, '198.51.100.128', `stderr:\n${stderr}`);
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  assert.equal(ready.status, 200);
  assert.match(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), /bmlb_controller_pool_used\{pool="pool-a"\} 1/);

  child.kill('SIGTERM');
  assert.equal(await exited, 0, `stderr:\n${stderr}`);
  const result = JSON.parse(stdout) as { stopped: string; allocations: { pool: string; used: number }[] };
  assert.equal(result.stopped, 'SIGTERM');
  assert.deepEqual(result.allocations.map((a) => [a.pool, a.used]), [['pool-a', 1]]);
});

test('GIVEN no pod environment and no --kubeconfig WHEN `bmlb controller --json` runs THEN it exits 2 with NotInCluster and the fix', async () => {
  const { spawnSync } = await import('node:child_process');
  const env = { ...process.env };
  delete env.KUBERNETES_SERVICE_HOST;
  const r = spawnSync(process.execPath, [`${root}bin/run.js`, 'controller', '--json'], { cwd: root, env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2, r.stderr);
  const out = JSON.parse(r.stdout) as { error: { code: string; suggestions: string[] } };
  assert.equal(out.error.code, 'NotInCluster');
  assert.match(out.error.suggestions[0]!, /--kubeconfig/);
});
