/**
 * Config ownership end to end in a lab (root, network namespaces): create cluster, then
 *  1. a plain cluster admin's `kubectl patch` / `kubectl apply` of bmlb-config → refused by the
 *     controller's webhook with the message naming the cluster file and `bmlb update cluster`;
 *  2. with the webhook configuration deleted, the admin's edit → reverted within ~1 s by the
 *     controller, Warning Event present; an invalid edit is never acted on by the speakers (they
 *     keep the last valid configuration and say so);
 *  3. `update cluster` adding a pool → the webhook configuration is back, a new Service gets an IP
 *     from the new pool, the existing Service keeps its IP, speaker/controller pods not restarted;
 *  4. changing a pool's addresses → refused, exit 1, old and new value listed, nothing changed;
 *     `--dry-run` prints the plan and changes nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useLab } from '../../helpers/lab.js';
import { bmlbJson, shq as q } from '../../helpers/bmlb-cli.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const LB = ['lb1', 'lb2'];
const NEW_POOL = '198.51.100.160-198.51.100.169';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('config ownership in the lab (e2e)', { timeout: 420_000 }, () => {
  const env = useLab({ tag: 'own', nodes: 3, lbNodes: 2 });
  let tmp: string;
  let ws: string;
  let clusterFile: string;
  let cluster = '';
  let kubeconfig = '';

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'bmlbt-ownership-e2e-'));
    ws = join(tmp, 'ws');
    mkdirSync(ws);
    clusterFile = join(tmp, 'cluster.yaml');
    writeFileSync(clusterFile, readFileSync(env.lab.status.clusterFile, 'utf8'));
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function bmlb(args: string[], timeoutMs = 240_000): Promise<{ code: number; json: any; stderr: string }> {
    return await bmlbJson(env.lab, { ws }, args, { from: 'src', timeoutMs });
  }

  /** kubectl through the VIP kubeconfig (installer) or as the plain admin user. */
  async function kubectl(args: string[], as: 'installer' | 'admin-user' = 'installer', input?: string) {
    if (as === 'installer') {
      const r = await env.lab.exec('admin', ['kubectl', '--kubeconfig', kubeconfig, ...args], { timeoutMs: 20_000, ...(input !== undefined ? { input } : {}) });
      return r;
    }
    return await env.lab.kubectl(args, { as, timeoutMs: 20_000, ...(input !== undefined ? { input } : {}) });
  }

  async function getJson(args: string[]): Promise<any> {
    const r = await kubectl([...args, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  }

  const configMap = () => getJson(['-n', 'bmlb-system', 'get', 'configmap', 'bmlb-config']);

  async function podStarts(): Promise<Record<string, string>> {
    const pods = await getJson(['-n', 'bmlb-system', 'get', 'pods']);
    const out: Record<string, string> = {};
    for (const p of pods.items) {
      if (!/^bmlb-(speaker|controller)/.test(p.metadata.name)) continue;
      out[p.metadata.name] = `${p.metadata.uid} ${p.status?.startTime} ${(p.status?.containerStatuses ?? []).map((c: any) => `${c.restartCount}/${c.state?.running?.startedAt}`).join(',')}`;
    }
    return out;
  }

  async function serviceIp(name: string, timeoutMs = 20_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await getJson(['-n', 'default', 'get', 'service', name]);
      const ip = s.status?.loadBalancer?.ingress?.[0]?.ip;
      if (ip) return ip;
      if (Date.now() > end) assert.fail(`Service ${name} got no IP: ${JSON.stringify(s.status)}`);
      await sleep(200);
    }
  }

  function lbService(name: string, pool?: string): string {
    return JSON.stringify({
      apiVersion: 'v1', kind: 'Service',
      metadata: { name, namespace: 'default', ...(pool ? { annotations: { 'metallb.io/address-pool': pool } } : {}) },
      spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] },
    });
  }

  it('GIVEN a lab WHEN create cluster runs THEN the webhook and its certificate are installed', async () => {
    const r = await bmlb(['create/cluster', '-c', clusterFile, '--wait-timeout', '150'], 300_000);
    assert.equal(r.code, 0, JSON.stringify(r.json, null, 1) + r.stderr);
    cluster = r.json.cluster;
    kubeconfig = r.json.kubeconfig;
    const refs = r.json.objects.map((o: any) => o.ref);
    assert.ok(refs.includes('ValidatingWebhookConfiguration bmlb-config-guard'), refs.join(', '));
    const owner = await getJson(['-n', 'bmlb-system', 'get', 'configmap', 'bmlb-owner']);
    assert.equal(owner.data.installerUsername, 'bmlb-installer');
    assert.equal(owner.data.clusterFile, clusterFile);
    const tls = await getJson(['-n', 'bmlb-system', 'get', 'secret', 'bmlb-webhook-tls']);
    assert.equal(tls.type, 'kubernetes.io/tls');
  });

  it('GIVEN the webhook WHEN the plain admin patches or applies bmlb-config THEN refused with the cluster file and the command; nothing changed', async () => {
    const before = await configMap();
    const p = await kubectl(['-n', 'bmlb-system', 'patch', 'configmap', 'bmlb-config', '--type', 'merge', '-p', '{"data":{"config.yaml":"hand: edit\\n"}}'], 'admin-user');
    assert.notEqual(p.code, 0);
    assert.match(p.stderr, /denied the request: ConfigMap bmlb-system\/bmlb-config is generated by bmlb/);
    assert.ok(p.stderr.includes(clusterFile), p.stderr);
    assert.ok(p.stderr.includes(`bmlb update cluster -c ${cluster}`), p.stderr);
    const edited = JSON.parse(JSON.stringify(before));
    edited.data = { 'config.yaml': before.data['config.yaml'].replace('198.51.100.239', '198.51.100.250') };
    delete edited.metadata.resourceVersion;
    delete edited.metadata.managedFields;
    const a = await kubectl(['apply', '-f', '-'], 'admin-user', JSON.stringify(edited));
    assert.notEqual(a.code, 0);
    assert.ok(a.stderr.includes(`bmlb update cluster -c ${cluster}`), a.stderr);
    const m = await kubectl(['-n', 'bmlb-system', 'delete', 'secret', 'bmlb-memberlist'], 'admin-user');
    assert.notEqual(m.code, 0);
    assert.match(m.stderr, /Secret bmlb-system\/bmlb-memberlist is generated by bmlb/);
    const after = await configMap();
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
  });

  it('GIVEN the webhook is gone WHEN the admin edits bmlb-config THEN the controller reverts it within about a second and records a Warning Event; an invalid edit is never acted on', async () => {
    const d = await kubectl(['delete', 'validatingwebhookconfiguration', 'bmlb-config-guard']);
    assert.equal(d.code, 0, d.stderr);
    const good = (await configMap()).data['config.yaml'];
    const patch = (text: string) => kubectl(['-n', 'bmlb-system', 'patch', 'configmap', 'bmlb-config', '--type', 'merge', '-p', JSON.stringify({ data: { 'config.yaml': text } })], 'admin-user');
    const waitRestored = async (): Promise<number> => {
      const t0 = Date.now();
      for (;;) {
        if ((await configMap()).data['config.yaml'] === good) return Date.now() - t0;
        if (Date.now() - t0 > 10_000) assert.fail('bmlb-config was not restored');
        await sleep(100);
      }
    };
    // A valid-looking edit (a bigger pool), seen by a watcher: the edit, then the restore.
    const arrivals: { at: number; line: string }[] = [];
    let editRv = '';
    const watcher = env.lab.spawn('admin', ['kubectl', '--kubeconfig', kubeconfig, '-n', 'bmlb-system', 'get', 'configmap', 'bmlb-config', '--watch',
      '-o', 'jsonpath={.metadata.resourceVersion}{"\\n"}']);
    try {
      let buf = '';
      watcher.stdout?.on('data', (c: Buffer) => {
        buf += c.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (/^\d+$/.test(line.trim())) arrivals.push({ at: Date.now(), line: line.trim() });
        }
      });
      const ready = Date.now() + 10_000;
      while (arrivals.length === 0 && Date.now() < ready) await sleep(50);
      assert.ok(arrivals.length > 0, 'the watch started');
      const p1 = await kubectl(['-n', 'bmlb-system', 'patch', 'configmap', 'bmlb-config', '--type', 'merge', '-o', 'jsonpath={.metadata.resourceVersion}',
        '-p', JSON.stringify({ data: { 'config.yaml': good.replace('198.51.100.239', '198.51.100.250') } })], 'admin-user');
      assert.equal(p1.code, 0, p1.stderr);
      editRv = p1.stdout.trim();
      await waitRestored();
      const end = Date.now() + 5000;
      while (arrivals.length < 3 && Date.now() < end) await sleep(50);
    } finally {
      watcher.kill('SIGTERM');
    }
    const edit = arrivals.findIndex((a) => a.line === editRv);
    assert.ok(edit > 0, `edit ${editRv} among ${arrivals.map((a) => a.line).join(' ')}`);
    const restore = arrivals[edit + 1];
    assert.ok(restore, 'the watcher saw the restore');
    const ms = restore.at - arrivals[edit]!.at;
    process.stderr.write(`ownership e2e: drift reverted ${ms} ms after the edit (as seen by a kubectl watch)\n`);
    assert.ok(ms < 1000, `restored ${ms} ms after the edit`);
    const events = await getJson(['-n', 'bmlb-system', 'get', 'events', '--field-selector', 'involvedObject.name=bmlb-config']);
    const warn = events.items.find((e: any) => e.reason === 'ConfigDriftReverted');
    assert.ok(warn, JSON.stringify(events.items.map((e: any) => e.reason)));
    assert.equal(warn.type, 'Warning');
    assert.ok(warn.message.includes(`bmlb update cluster -c ${cluster}`), warn.message);
    // An invalid edit: the speakers refuse it (keep the last valid configuration) and it is reverted.
    const p2 = await patch('apiVersion: bmlb.io/v1\nclusterName: hijacked\n');
    assert.equal(p2.code, 0, p2.stderr);
    await waitRestored();
    let said = false;
    for (let i = 0; i < 50 && !said; i++) {
      for (const n of LB) {
        const r = await env.lab.nodeExec(n, ['sh', '-c', 'cat /run/bmlb-node-agent/logs/bmlb-system_bmlb-speaker*.log 2>/dev/null']);
        if (/is invalid; keeping the last valid configuration/.test(r.stdout)) said = true;
        assert.doesNotMatch(r.stdout, /hijacked/, `${n}: a speaker acted on the invalid configuration`);
      }
      if (!said) await sleep(100);
    }
    assert.ok(said, 'a speaker reported the invalid configuration and kept the last valid one');
  });

  let firstIp = '';

  it('GIVEN a running Service WHEN update cluster adds a pool THEN a new Service gets an IP from it, the old IP stays, no pod restarts, the webhook is back', async () => {
    const c = await kubectl(['apply', '-f', '-'], 'installer', lbService('own-a'));
    assert.equal(c.code, 0, c.stderr);
    firstIp = await serviceIp('own-a');
    const starts = await podStarts();
    assert.ok(Object.keys(starts).length >= 3, JSON.stringify(starts));
    const text = readFileSync(clusterFile, 'utf8');
    const withPool = text.replace(/(\n(\s*)addressPools:\n)/, `$1$2- name: pool-own\n$2  addresses:\n$2  - ${NEW_POOL}\n`);
    assert.notEqual(withPool, text, 'the test could add a pool to the cluster file');
    writeFileSync(clusterFile, withPool);
    const dry = await bmlb(['update/cluster', '-c', clusterFile, '--dry-run']);
    assert.equal(dry.code, 0, JSON.stringify(dry.json) + dry.stderr);
    assert.equal(dry.json.dryRun, true);
    assert.deepEqual(dry.json.plan.changes.map((x: any) => x.kind), ['added']);
    assert.ok(!(await configMap()).data['config.yaml'].includes('pool-own'), 'dry run changed nothing');
    const u = await bmlb(['update/cluster', '-c', clusterFile]);
    assert.equal(u.code, 0, JSON.stringify(u.json) + u.stderr);
    assert.equal(u.json.changed, true);
    assert.deepEqual(Object.keys(u.json.plan.targets), ['speakerConfig']);
    assert.deepEqual(u.json.nodes, [], 'no node file touched for a new pool');
    assert.ok((await configMap()).data['config.yaml'].includes('pool-own'));
    const b = await kubectl(['apply', '-f', '-'], 'installer', lbService('own-b', 'pool-own'));
    assert.equal(b.code, 0, b.stderr);
    const ip = await serviceIp('own-b');
    assert.match(ip, /^198\.51\.100\.16\d$/);
    assert.equal(await serviceIp('own-a'), firstIp);
    assert.deepEqual(await podStarts(), starts);
    const vwc = await kubectl(['get', 'validatingwebhookconfiguration', 'bmlb-config-guard', '-o', 'name']);
    assert.equal(vwc.code, 0, vwc.stderr);
    // The guard followed the update (no drift warning for it).
    const events = await getJson(['-n', 'bmlb-system', 'get', 'events', '--field-selector', 'involvedObject.name=bmlb-config']);
    const warnings = events.items.filter((e: any) => e.reason === 'ConfigDriftReverted');
    assert.ok(warnings.every((e: any) => !String(e.message).includes('pool-own')));
  });

  it('GIVEN a changed pool address range WHEN update cluster runs THEN refused with exit 1 listing old and new value; nothing changed', async () => {
    const before = await configMap();
    const applied = await getJson(['-n', 'bmlb-system', 'get', 'configmap', 'bmlb-applied']);
    const text = readFileSync(clusterFile, 'utf8');
    writeFileSync(clusterFile, text.replace(NEW_POOL, '198.51.100.160-198.51.100.175'));
    const r = await bmlb(['update/cluster', '-c', clusterFile]);
    assert.equal(r.code, 1, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'UpdateImmutable');
    assert.match(r.json.error.message, /addresses: \["198\.51\.100\.160-198\.51\.100\.169"\] → \["198\.51\.100\.160-198\.51\.100\.175"\]/);
    assert.equal((await configMap()).metadata.resourceVersion, before.metadata.resourceVersion);
    const again = await getJson(['-n', 'bmlb-system', 'get', 'configmap', 'bmlb-applied']);
    assert.equal(again.metadata.resourceVersion, applied.metadata.resourceVersion);
    assert.equal(await serviceIp('own-a'), firstIp);
  });

  it('GIVEN a VRRP tunable change WHEN update cluster runs THEN keepalived.conf is rewritten on every LB node (haproxy.cfg untouched), the API still answers through the VIP, speaker/controller not restarted', async () => {
    writeFileSync(clusterFile, readFileSync(clusterFile, 'utf8')
      .replace('198.51.100.160-198.51.100.175', NEW_POOL)
      .replace(/\n(\s*)mode: bundled\n/, '\n$1mode: bundled\n$1bmlb:\n$1  vrrp:\n$1    advertIntervalMs: 300\n'));
    const starts = await podStarts();
    const u = await bmlb(['update/cluster', '-c', clusterFile]);
    assert.equal(u.code, 0, JSON.stringify(u.json) + u.stderr);
    assert.deepEqual(u.json.plan.changes.map((c: any) => c.path), ['spec.loadBalancer.bmlb.vrrp.advertIntervalMs']);
    assert.ok(u.json.plan.targets.nodeFiles);
    assert.equal(u.json.nodes.length, LB.length);
    for (const n of u.json.nodes) {
      const action = Object.fromEntries(n.files.map((f: any) => [f.path, f.action]));
      assert.equal(action['/etc/bmlb/keepalived/keepalived.conf'], 'update', JSON.stringify(n));
      assert.equal(action['/etc/bmlb/haproxy/haproxy.cfg'], 'unchanged', JSON.stringify(n));
    }
    for (const n of LB) {
      const r = await env.lab.nodeExec(n, ['sh', '-c', 'grep advert_int /etc/bmlb/keepalived/keepalived.conf']);
      assert.match(r.stdout, /advert_int 0\.30?\b/, `${n}: ${r.stdout}`);
    }
    const end = Date.now() + 60_000;
    for (;;) {
      const r = await kubectl(['get', 'nodes', '-o', 'name']);
      if (r.code === 0) break;
      if (Date.now() > end) assert.fail(`the API does not answer through the VIP after the update: ${r.stderr}`);
      await sleep(500);
    }
    assert.deepEqual(await podStarts(), starts);
    assert.equal(await serviceIp('own-a'), firstIp);
  });

  it('GIVEN the VIP holder cannot write its manifests WHEN update cluster changes a VRRP tunable THEN UpdateNodeFailed, the node done first is restored, the cluster record unchanged', async () => {
    let holder = '';
    for (const n of LB) {
      const r = await env.lab.nodeExec(n, ['ip', '-j', 'addr', 'show']);
      if (r.stdout.includes('"198.51.100.10"')) holder = n;
    }
    assert.ok(holder, 'a node holds the VIP');
    const other = LB.find((n) => n !== holder)!;
    const confBefore = (await env.lab.nodeExec(other, ['cat', '/etc/bmlb/keepalived/keepalived.conf'])).stdout;
    const applied = await getJson(['-n', 'bmlb-system', 'get', 'configmap', 'bmlb-applied']);
    writeFileSync(clusterFile, readFileSync(clusterFile, 'utf8').replace('advertIntervalMs: 300', 'advertIntervalMs: 400'));
    const m = await env.lab.nodeExec(holder, ['sh', '-c', 'mount --bind /etc/kubernetes/manifests /etc/kubernetes/manifests && mount -o remount,ro,bind /etc/kubernetes/manifests']);
    assert.equal(m.code, 0, m.stderr);
    try {
      const u = await bmlb(['update/cluster', '-c', clusterFile]);
      assert.equal(u.code, 3, JSON.stringify(u.json));
      assert.equal(u.json.error.code, 'UpdateNodeFailed');
      assert.match(u.json.error.message, /Read-only file system/);
      // The node updated first is restored. (The holder's own rollback re-copies the file whose write
      // failed, into the read-only directory, so it reports "NOT restored" although that file never
      // changed: a limit of the shared rollback, reported to its owner.)
      const otherAddr = `198.51.100.${20 + Number(other.slice(2))}`;
      assert.match(u.json.error.data.rollback, new RegExp(`${otherAddr.replaceAll('.', '\\.')} restored`));
    } finally {
      await env.lab.nodeExec(holder, ['umount', '/etc/kubernetes/manifests']);
    }
    assert.equal((await env.lab.nodeExec(other, ['cat', '/etc/bmlb/keepalived/keepalived.conf'])).stdout, confBefore, `${other} got its previous keepalived.conf back`);
    const again = await getJson(['-n', 'bmlb-system', 'get', 'configmap', 'bmlb-applied']);
    assert.equal(again.metadata.resourceVersion, applied.metadata.resourceVersion);
  });
});
