/**
 * `bmlb status` and `bmlb reset cluster` end to end in a lab (root, network namespaces): the CLI runs
 * in the lab's admin namespace from the TypeScript sources and reaches the nodes over real SSH; the
 * node agents run keepalived/HAProxy from the static pods and the speakers/controller from the
 * DaemonSet/Deployment that create cluster applied.
 *
 * Story, in order:
 *  1. create cluster → status: the VIP holder is the node whose eth0 has it, it answers, speakers
 *     and controller ready; a LoadBalancer Service shows with its IP, pool and announcing node
 *  2. reset without --force off a terminal → refused, nothing changed; with prevent-deletion → refused
 *  3. reset --force → nodes carry no bmlb files, no keepalived/HAProxy, ip_nonlocal_bind back to 0,
 *     no lbnode labels, bmlb-system gone, the VIP answers neither TCP nor ARP from the client
 *  4. status after reset exits 0 and says degraded; with only the VIP kubeconfig it exits 1 (API unreachable)
 *  5. a second reset succeeds and has nothing to do
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useLab } from '../../helpers/lab.js';
import { bmlbEntry, bmlbJson, shq as q } from '../../helpers/bmlb-cli.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const VIP = '198.51.100.10';
const LB = ['lb1', 'lb2', 'lb3'];
const ADDR: Record<string, string> = { lb1: '198.51.100.21', lb2: '198.51.100.22', lb3: '198.51.100.23' };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('status and reset cluster in the lab (e2e)', { timeout: 300_000 }, () => {
  const env = useLab({ tag: 'reset', nodes: 4, lbNodes: 3 });
  let tmp: string;
  let ws: string;
  let home: string;
  let clusterFile: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'bmlbt-reset-e2e-'));
    ws = join(tmp, 'ws');
    home = join(tmp, 'home');
    mkdirSync(ws);
    mkdirSync(home);
    clusterFile = env.lab.status.clusterFile;
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function bmlb(args: string[], timeoutMs = 240_000): Promise<{ code: number; json: any; stderr: string }> {
    return await bmlbJson(env.lab, { ws, home }, args, { from: 'src', timeoutMs });
  }

  async function on(node: string, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return await env.lab.nodeExec(node, ['sh', '-c', script]);
  }

  async function holders(): Promise<string[]> {
    const out: string[] = [];
    for (const n of LB) if ((await on(n, 'ip -j addr show')).stdout.includes(`"${VIP}"`)) out.push(n);
    return out;
  }

  /** Names of the processes in a node's network namespace (what the node agent started there). */
  function processesIn(node: string): string[] {
    const ns = `bmlb-${env.lab.name}-${node}`;
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const names: string[] = [];
    for (const p of pids) {
      try {
        names.push(readFileSync(`/proc/${p}/comm`, 'utf8').trim());
      } catch {
        // gone meanwhile
      }
    }
    return names;
  }

  const kubectl = (args: string[]) => env.lab.kubectl(args);

  it('GIVEN a created cluster WHEN status runs THEN it names the real VIP holder, says it answers, and speakers and controller are ready', async () => {
    const c = await bmlb(['create/cluster', '-c', clusterFile, '--wait-timeout', '120']);
    assert.equal(c.code, 0, JSON.stringify(c.json, null, 1) + c.stderr);
    const s = await bmlb(['status', '-c', clusterFile]);
    assert.equal(s.code, 0, JSON.stringify(s.json) + s.stderr);
    const r = s.json;
    const h = await holders();
    assert.equal(h.length, 1);
    assert.equal(r.controlPlaneVIP.holder, h[0]);
    assert.equal(r.controlPlaneVIP.answering, true);
    assert.equal(r.api.via, 'vip');
    assert.deepEqual(r.speakers.map((x: any) => x.node).sort(), LB);
    for (const sp of r.speakers) {
      assert.equal(sp.podReady, true, JSON.stringify(sp));
      assert.equal(sp.metricsReachable, true, JSON.stringify(sp));
      assert.equal(sp.announcedIPs, 0);
    }
    assert.equal(r.controller.ready, true);
    assert.deepEqual(r.pools.map((p: any) => [p.name, p.size, p.used]), [['pool-1', 40, 0], ['pool-2', 8, 0]]);
    assert.equal(r.healthy, true, r.problems.join('\n'));
  });

  it('GIVEN a LoadBalancer Service WHEN status runs THEN it lists its IP from pool-1, the announcing node, and that node\'s speaker counts it', async () => {
    const manifest = join(tmp, 'web.json');
    writeFileSync(manifest, JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } }));
    const created = await kubectl(['create', '-f', manifest]);
    assert.equal(created.code, 0, created.stderr);
    // Wait (through the API, cheaply) until the controller gave it an IP and a speaker announced it.
    const t0 = Date.now();
    for (;;) {
      const k = await kubectl(['get', 'service', 'web', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip} {.metadata.annotations.bmlb\\.io/announcing-node}']);
      if (/^\S+ \S+$/.test(k.stdout.trim())) break;
      assert.ok(Date.now() - t0 < 60_000, `the Service got an IP and an announcing node within 60 s: ${k.stdout} ${k.stderr}`);
      await sleep(500);
    }
    const r = await bmlb(['status', '-c', clusterFile]);
    assert.equal(r.code, 0, r.stderr);
    const svc = r.json.services.find((x: any) => x.namespace === 'default' && x.name === 'web');
    assert.ok(svc, JSON.stringify(r.json.services));
    assert.equal(svc.pool, 'pool-1');
    assert.match(svc.ips[0], /^198\.51\.100\.(2[0-3]\d)$/);
    assert.equal(svc.externalTrafficPolicy, 'Cluster');
    assert.ok(LB.includes(svc.announcingNode), svc.announcingNode);
    assert.equal(r.json.speakers.find((x: any) => x.node === svc.announcingNode)?.announcedIPs, 1, JSON.stringify(r.json.speakers));
    assert.equal(r.json.pools.find((p: any) => p.name === 'pool-1').used, 1);
    assert.equal(r.json.healthy, true, r.json.problems.join('\n'));
    // The human output says the same in a table.
    const text = await env.lab.exec('admin', ['sh', '-c', `cd ${q(ws)} && HOME=${q(home)} ${bmlbEntry('src')} status -c ${q(clusterFile)}`], { timeoutMs: 60_000 });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^default/web\\s+${svc.ips[0].replaceAll('.', '\\.')}\\s+pool-1\\s+${svc.announcingNode}\\s+Cluster$`, 'm'));
    assert.match(text.stdout, /^Healthy\.$/m);
  });

  it('GIVEN no terminal and no --force, or a prevent-deletion annotation WHEN reset runs THEN it is refused and nothing changes', async () => {
    const r = await bmlb(['reset/cluster', '-c', clusterFile]);
    assert.equal(r.code, 2, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'ResetNotConfirmed');
    assert.match(r.json.error.suggestions.join(' '), /--force/);

    const guarded = join(tmp, 'guarded.yaml');
    writeFileSync(guarded, readFileSync(clusterFile, 'utf8').replace(/^  name: (\S+)\n  namespace: cluster-/m, '  name: $1\n  annotations:\n    baremetal.cluster.gke.io/prevent-deletion: "true"\n  namespace: cluster-'));
    assert.match(readFileSync(guarded, 'utf8'), /prevent-deletion/);
    const p = await bmlb(['reset/cluster', '-c', guarded, '--force']);
    assert.equal(p.code, 1, JSON.stringify(p.json));
    assert.equal(p.json.error.code, 'ResetPrevented');
    assert.match(p.json.error.suggestions.join(' '), /remove the annotation baremetal\.cluster\.gke\.io\/prevent-deletion/);

    assert.equal((await holders()).length, 1, 'the VIP is still held');
    for (const n of LB) assert.equal((await on(n, 'ls /etc/kubernetes/manifests')).stdout.trim().split('\n').length, 2);
  });

  it('GIVEN a created cluster WHEN reset --force runs THEN nodes, cluster and network carry nothing of bmlb', async () => {
    const before = await holders();
    const t0 = Date.now();
    const r = await bmlb(['reset/cluster', '-c', clusterFile, '--force', '--wait-timeout', '60']);
    process.stdout.write(`reset cluster (CLI from sources, tsx start included) took ${Date.now() - t0} ms; static pods stopped after ${r.json.nodes?.map((n: any) => n.waitedMs).join('/')} ms\n`);
    assert.equal(r.code, 0, JSON.stringify(r.json, null, 1) + r.stderr);
    const res = r.json;
    assert.equal(res.clean, true);
    assert.equal(res.changed, true);
    assert.equal(res.api.reached, true);
    assert.equal(res.api.via, 'vip', 'the API was reached through the VIP before the nodes were reset');
    assert.equal(res.controlPlaneVIP.answering, false);
    for (const n of res.nodes) {
      assert.equal(n.outcome, 'reset', JSON.stringify(n));
      for (const f of ['/etc/kubernetes/manifests/keepalived.yaml', '/etc/kubernetes/manifests/haproxy.yaml', '/etc/bmlb/keepalived/keepalived.conf', '/etc/bmlb/haproxy/haproxy.cfg', '/etc/sysctl.d/60-bmlb.conf']) {
        assert.ok(n.removed.includes(f), `${n.address} removed ${f}: ${n.removed.join(' ')}`);
      }
      assert.ok(n.removed.indexOf('/etc/kubernetes/manifests/keepalived.yaml') < n.removed.indexOf('/etc/bmlb/keepalived/keepalived.conf'), 'manifests before configs');
      assert.deepEqual(n.sysctls, [{ key: 'net.ipv4.ip_nonlocal_bind', from: '1', to: '0', source: 'kernel default' }]);
      assert.equal(n.vipReleased, undefined, 'keepalived released the VIP itself');
    }
    const o = res.clusterObjects;
    for (const ref of ['ValidatingWebhookConfiguration bmlb-config-guard', 'DaemonSet bmlb-system/bmlb-speaker', 'Deployment bmlb-system/bmlb-controller', 'ConfigMap bmlb-system/bmlb-config', 'Secret bmlb-system/bmlb-memberlist', 'ClusterRole bmlb-speaker', 'ServiceAccount bmlb-system/bmlb-speaker', 'Namespace bmlb-system'].filter((x) => !x.startsWith('Validating') || o.deleted.includes(x))) {
      assert.ok(o.deleted.includes(ref), `${ref} deleted: ${o.deleted.join(', ')}`);
    }
    assert.ok(o.deleted.indexOf('DaemonSet bmlb-system/bmlb-speaker') < o.deleted.indexOf('ConfigMap bmlb-system/bmlb-config'), 'workloads before their configuration');
    assert.equal(o.deleted.at(-1), 'Namespace bmlb-system');
    assert.equal(o.namespace, 'deleted');
    assert.deepEqual([...o.unlabelled].sort(), LB);
    assert.deepEqual(o.services, [{ ref: 'default/web', annotations: ['bmlb.io/announcing-node', 'bmlb.io/address-pool'] }]);

    // Nodes: no bmlb files, no keepalived/HAProxy, sysctl back, VIP on no interface.
    for (const n of LB) {
      const f = await on(n, 'find /etc/bmlb /var/lib/bmlb /etc/kubernetes/manifests -mindepth 1; ls /run/bmlb /etc/sysctl.d/60-bmlb.conf 2>/dev/null; cat /proc/sys/net/ipv4/ip_nonlocal_bind');
      assert.equal(f.stdout.trim(), '0', `${n} carries nothing of bmlb:\n${f.stdout}`);
      const procs = processesIn(n);
      assert.ok(!procs.some((p) => /keepalived|haproxy/.test(p)), `${n} runs no keepalived/haproxy: ${procs.join(' ')}`);
    }
    assert.deepEqual(await holders(), [], `the VIP (held by ${before.join(',')} before) is on no node`);
    // Cluster (through the lab's direct kubeconfig): no labels, no namespace, no cluster-wide objects.
    const labelled = await kubectl(['get', 'nodes', '-l', 'baremetal.cluster.gke.io/lbnode', '-o', 'name']);
    assert.equal(labelled.code, 0, labelled.stderr);
    assert.equal(labelled.stdout.trim(), '');
    const nsGone = await kubectl(['get', 'namespace', 'bmlb-system']);
    assert.notEqual(nsGone.code, 0);
    assert.match(nsGone.stderr, /NotFound/);
    const crs = await kubectl(['get', 'clusterroles,clusterrolebindings,validatingwebhookconfigurations', '-l', 'app.kubernetes.io/managed-by=bmlb', '-o', 'name']);
    assert.equal(crs.stdout.trim(), '', crs.stderr);
    // Network: from the client, the VIP answers neither HTTPS nor ARP.
    const curl = await env.lab.exec('client', ['curl', '-sk', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', `https://${VIP}:443/readyz`], { timeoutMs: 10_000 });
    assert.notEqual(curl.code, 0, `curl to the VIP failed (exit ${curl.code}, http ${curl.stdout})`);
    const arping = await env.lab.exec('client', ['arping', '-c', '2', '-w', '3', '-I', 'eth0', VIP], { timeoutMs: 10_000 });
    assert.doesNotMatch(arping.stdout, /reply from/i, arping.stdout);
    assert.notEqual(arping.code, 0);
  });

  it('GIVEN a reset cluster WHEN status runs THEN it exits 0 and says degraded; with only the VIP kubeconfig it exits 1 with ApiUnreachable', async () => {
    const s = await bmlb(['status', '-c', clusterFile]);
    assert.equal(s.code, 0, JSON.stringify(s.json) + s.stderr);
    assert.equal(s.json.api.via, 'given');
    assert.equal(s.json.controlPlaneVIP.holder, 'none');
    assert.equal(s.json.controlPlaneVIP.answering, false);
    assert.equal(s.json.healthy, false);
    assert.ok(s.json.problems.includes('the controller Deployment does not exist'), s.json.problems.join('\n'));

    const noDirect = join(tmp, 'no-direct.yaml');
    writeFileSync(noDirect, readFileSync(clusterFile, 'utf8').replace(/^kubeconfigPath:.*$/m, '# kubeconfigPath removed by the test'));
    const u = await bmlb(['status', '-c', noDirect, '--timeout', '2']);
    assert.equal(u.code, 1, JSON.stringify(u.json));
    assert.equal(u.json.error.code, 'ApiUnreachable');
    assert.match(u.json.error.message, /-kubeconfig \(.*198\.51\.100\.10:443/);
  });

  it('GIVEN a reset cluster WHEN reset runs again THEN it succeeds and has nothing to do', async () => {
    const t0 = Date.now();
    const r = await bmlb(['reset/cluster', '-c', clusterFile, '--force']);
    process.stdout.write(`second reset took ${Date.now() - t0} ms\n`);
    assert.equal(r.code, 0, JSON.stringify(r.json, null, 1));
    assert.equal(r.json.changed, false);
    assert.equal(r.json.clean, true);
    assert.equal(r.json.api.via, 'given', 'the VIP is gone; the cluster file\'s kubeconfig is used');
    for (const n of r.json.nodes) assert.deepEqual([n.outcome, n.removed], ['nothing-to-do', []]);
    assert.deepEqual(r.json.clusterObjects.deleted, []);
    assert.equal(r.json.clusterObjects.namespace, 'absent');
  });

  it('GIVEN lb3\'s sshd is stopped WHEN reset runs THEN lb3 is reported with the connect error, the other nodes are still handled, and it exits 1', async () => {
    const sshd = env.lab.status.processes.find((p) => p.what === 'sshd lb3');
    assert.ok(sshd, 'the lab recorded lb3\'s sshd');
    process.kill(sshd.pid, 'SIGTERM');
    const r = await bmlb(['reset/cluster', '-c', clusterFile, '--force']);
    assert.equal(r.code, 1, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'ResetIncomplete');
    assert.match(r.json.error.message, /LB node 198\.51\.100\.23: connect: .*ECONNREFUSED/);
    const nodes = r.json.error.data.nodes;
    assert.deepEqual(nodes.map((n: any) => [n.address, n.outcome]), [['198.51.100.21', 'nothing-to-do'], ['198.51.100.22', 'nothing-to-do'], ['198.51.100.23', 'failed']]);
    assert.equal(nodes[2].error.step, 'connect');
    assert.equal(r.json.error.data.api.reached, true, 'the cluster part still ran');

    const st = await bmlb(['status', '-c', clusterFile, '--timeout', '2']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.json.controlPlaneVIP.unreachableNodes.length, 1);
    assert.equal(st.json.controlPlaneVIP.unreachableNodes[0].node, 'lb3');
    assert.match(st.json.controlPlaneVIP.unreachableNodes[0].error, /ECONNREFUSED/);
    assert.ok(st.json.problems.some((p: string) => /^LB node lb3 cannot be reached over SSH: /.test(p)), st.json.problems.join('\n'));
  });
});
