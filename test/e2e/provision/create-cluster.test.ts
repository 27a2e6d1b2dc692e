/**
 * create cluster / check preflight end to end in a lab (root, network namespaces): the CLI runs in
 * the lab's admin namespace and reaches the nodes over real SSH.
 *
 * Story, in order (each step builds on the previous one):
 *  1. unknown host keys are refused with their SHA256 fingerprints; --accept-new-host-keys records them
 *  2. one node cannot take its manifests (read-only bind mount) → clear error naming node and step,
 *     every node rolled back to its previous (empty) state, no VIP anywhere
 *  3. create cluster → VIP answers from the client, kubectl through the VIP works, LB nodes labelled
 *  4. rerun → nothing changes (no file rewritten) and the VIP does not move; preflight still passes
 *  5. cut the holder's link → the VIP moves and API requests through it resume
 *  6. restore the link → no ping-pong, never two holders
 *
 * /etc/sysctl.d is node-private in the lab, so bmlb's sysctl file lands on the node, never the host.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useLab } from '../../helpers/lab.js';
import { bmlbJson, shq as q } from '../../helpers/bmlb-cli.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const VIP = '198.51.100.10';
const LB = ['lb1', 'lb2', 'lb3'];
const ADDR: Record<string, string> = { lb1: '198.51.100.21', lb2: '198.51.100.22', lb3: '198.51.100.23' };


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('create cluster in the lab (e2e)', { timeout: 600_000 }, () => {
  const env = useLab({ tag: 'prov', nodes: 4, lbNodes: 3 });
  let tmp: string;
  let ws: string;
  let home: string;
  let clusterFile: string;
  let strictFile: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'bmlbt-provision-e2e-'));
    ws = join(tmp, 'ws');
    home = join(tmp, 'home');
    mkdirSync(ws);
    mkdirSync(home);
    const lab = env.lab;
    clusterFile = lab.status.clusterFile;
    // The same cluster without sshKnownHostsPath: host keys must come from the workspace.
    strictFile = join(tmp, 'no-known-hosts.yaml');
    writeFileSync(strictFile, readFileSync(clusterFile, 'utf8').replace(/^sshKnownHostsPath:.*$/m, '# sshKnownHostsPath removed by the test'));
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function bmlb(args: string[], timeoutMs = 300_000): Promise<{ code: number; json: any; stderr: string }> {
    return await bmlbJson(env.lab, { ws, home }, args, { from: 'src', timeoutMs });
  }

  async function on(node: string, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return await env.lab.nodeExec(node, ['sh', '-c', script]);
  }

  async function holders(): Promise<string[]> {
    const out: string[] = [];
    for (const n of LB) {
      const r = await on(n, 'ip -j addr show');
      if (r.stdout.includes(`"${VIP}"`)) out.push(n);
    }
    return out;
  }

  async function apiThroughVip(): Promise<boolean> {
    const r = await env.lab.exec('client', ['curl', '-sk', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', `https://${VIP}:443/readyz`], { timeoutMs: 5000 });
    return r.stdout.trim() === '200';
  }

  it('GIVEN host keys in no known_hosts file WHEN preflight runs THEN every node is refused with its SHA256 fingerprint; --accept-new-host-keys records them', async () => {
    // Fingerprints the nodes really have, from the lab's own known_hosts.
    const fps = execFileSync('ssh-keygen', ['-l', '-f', env.lab.status.knownHosts], { encoding: 'utf8' });
    const r = await bmlb(['check/preflight', '-c', strictFile]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.json.error.code, 'PreflightFailed');
    for (const n of r.json.error.data.nodes) {
      assert.equal(n.checks.length, 1);
      const c = n.checks[0];
      assert.equal(c.status, 'fail');
      assert.match(c.message, /^SshHostKeyUnknown: host key of .* is unknown: \S+ SHA256:/);
      const fp = /(SHA256:[A-Za-z0-9+/]+)/.exec(c.message)?.[1];
      assert.ok(fp && fps.includes(fp), `fingerprint ${fp} is the node's real key`);
    }
    const c = await bmlb(['create/cluster', '-c', strictFile, '--skip-preflight']);
    assert.equal(c.code, 3);
    assert.equal(c.json.error.code, 'SshHostKeyUnknown');
    assert.match(c.json.error.suggestions.join(' '), /--accept-new-host-keys/);

    const a = await bmlb(['check/preflight', '-c', strictFile, '--accept-new-host-keys']);
    assert.equal(a.code, 0, JSON.stringify(a.json));
    const recorded = readFileSync(join(ws, 'bmlb-workspace', a.json.cluster, '.ssh', 'known_hosts'), 'utf8');
    for (const ip of Object.values(ADDR)) assert.match(recorded, new RegExp(`^${ip.replaceAll('.', '\\.')} ssh-`, 'm'));
    const again = await bmlb(['check/preflight', '-c', strictFile]);
    assert.equal(again.code, 0, 'strict run passes with the recorded keys');
    assert.equal(again.json.ok, true);
  });

  it('GIVEN lb2 cannot write its manifests WHEN create cluster runs THEN it names node and step with the remote error and restores every node', async () => {
    const m = await on('lb2', 'mount --bind /etc/kubernetes/manifests /etc/kubernetes/manifests && mount -o remount,ro,bind /etc/kubernetes/manifests');
    assert.equal(m.code, 0, m.stderr);
    try {
      const r = await bmlb(['create/cluster', '-c', clusterFile, '--wait-timeout', '60']);
      assert.equal(r.code, 3, JSON.stringify(r.json));
      const e = r.json.error;
      assert.equal(e.code, 'CreateNodeFailed');
      assert.match(e.message, /LB node 198\.51\.100\.22 failed at step "write \/etc\/kubernetes\/manifests\/keepalived\.yaml": .*Read-only file system/);
      assert.equal(e.data.failures.length, 1);
      assert.equal(e.data.rollback.length, 3);
      for (const rb of e.data.rollback) assert.doesNotMatch(rb.outcome, /NOT restored/);
      for (const n of LB) {
        const s = await on(
          n,
          'for f in /etc/sysctl.d/60-bmlb.conf /etc/bmlb/keepalived/keepalived.conf /etc/bmlb/haproxy/haproxy.cfg /etc/kubernetes/manifests/keepalived.yaml /etc/kubernetes/manifests/haproxy.yaml; do [ -e $f ] && echo "left $f"; done; cat /proc/sys/net/ipv4/ip_nonlocal_bind',
        );
        assert.equal(s.stdout.trim(), '0', `${n} is back to its previous state:\n${s.stdout}`);
      }
      assert.deepEqual(await holders(), []);
      // The run log has the failing command and its stderr.
      const logDir = String(e.suggestions.find((x: string) => x.startsWith('Every remote command'))?.split(': ')[1] ?? '');
      assert.match(readFileSync(join(logDir, '198.51.100.22.log'), 'utf8'), /Read-only file system/);
    } finally {
      await on('lb2', 'umount /etc/kubernetes/manifests');
    }
  });

  let holder = '';

  it('GIVEN a healthy lab WHEN create cluster runs THEN the VIP answers, kubectl through it works, and the LB nodes are labelled', async () => {
    const r = await bmlb(['create/cluster', '-c', clusterFile, '--wait-timeout', '120']);
    assert.equal(r.code, 0, JSON.stringify(r.json, null, 1) + r.stderr);
    const res = r.json;
    assert.equal(res.changed, true);
    assert.equal(res.preflight.ok, true);
    assert.ok(res.holder, 'a holder was found');
    holder = Object.entries(ADDR).find(([, a]) => a === res.holder.address)?.[0] ?? '';
    assert.deepEqual(await holders(), [holder]);
    assert.equal(res.memberSecret, 'created');
    assert.equal(res.kubeconfig, join(ws, 'bmlb-workspace', res.cluster, `${res.cluster}-kubeconfig`));
    assert.match(readFileSync(res.kubeconfig, 'utf8'), new RegExp(`server: https://${VIP.replaceAll('.', '\\.')}:443`));
    assert.ok(await apiThroughVip(), 'the API answers at https://VIP:443 from the client namespace');
    const k = await env.lab.exec('admin', ['kubectl', '--kubeconfig', res.kubeconfig, 'get', 'nodes', '-l', 'baremetal.cluster.gke.io/lbnode=true', '-o', 'name']);
    assert.equal(k.code, 0, k.stderr);
    assert.deepEqual(k.stdout.trim().split('\n').sort(), ['node/lb1', 'node/lb2', 'node/lb3']);
    const s = await env.lab.exec('admin', ['kubectl', '--kubeconfig', res.kubeconfig, '-n', 'bmlb-system', 'get', 'secret', 'bmlb-memberlist', '-o', 'jsonpath={.data.secretkey}']);
    assert.equal(Buffer.from(s.stdout, 'base64').length, 32);
    assert.ok(!JSON.stringify(res).includes(s.stdout), 'the membership key is never printed');
    for (const n of LB) {
      const f = await on(n, 'cat /etc/sysctl.d/60-bmlb.conf; cat /proc/sys/net/ipv4/ip_nonlocal_bind; stat -c %a /etc/kubernetes/manifests/haproxy.yaml');
      assert.match(f.stdout, /net\.ipv4\.ip_nonlocal_bind = 1\n1\n600/);
    }
  });

  it('GIVEN a created cluster WHEN create cluster runs again THEN nothing changes, no file is rewritten and the VIP stays', async () => {
    const mtimes = async (): Promise<string[]> =>
      Promise.all(LB.map(async (n) => (await on(n, 'stat -c %Y.%y /etc/bmlb/keepalived/keepalived.conf /etc/bmlb/haproxy/haproxy.cfg /etc/kubernetes/manifests/*.yaml')).stdout));
    const before = await mtimes();
    const r = await bmlb(['create/cluster', '-c', clusterFile, '--wait-timeout', '60']);
    assert.equal(r.code, 0, JSON.stringify(r.json));
    assert.equal(r.json.changed, false);
    assert.equal(r.json.preflight.ok, true, 'preflight passes on the created cluster (the VIP and ports are bmlb\'s own)');
    assert.ok(r.json.nodes.every((n: any) => n.files.every((f: any) => f.action === 'unchanged')));
    assert.ok(r.json.objects.every((o: any) => o.action === 'unchanged'));
    assert.equal(r.json.holder.address, ADDR[holder]);
    assert.deepEqual(await mtimes(), before);
    assert.deepEqual(await holders(), [holder]);
  });

  let newHolder = '';

  it('GIVEN the holder loses its link WHEN we wait THEN the VIP moves to another LB node and API requests through it resume', async () => {
    const ns = `bmlb-${env.lab.name}-${holder}`;
    const t0 = Date.now();
    execFileSync('ip', ['-n', ns, 'link', 'set', 'eth0', 'down']);
    let resumedMs = -1;
    while (Date.now() - t0 < 20_000) {
      if (await apiThroughVip()) {
        resumedMs = Date.now() - t0;
        break;
      }
      await sleep(100);
    }
    assert.ok(resumedMs >= 0, 'API requests through the VIP resumed within 20 s');
    const h = await holders();
    assert.equal(h.length, 1, `exactly one holder: ${h.join(',')}`);
    newHolder = h[0] ?? '';
    assert.notEqual(newHolder, holder);
    process.stdout.write(`# VIP moved ${holder} → ${newHolder}; API through the VIP answered again after ${resumedMs} ms\n`);
  });

  it('GIVEN the old holder comes back WHEN we watch for 6 s THEN the VIP stays where it is (no ping-pong, never two holders)', async () => {
    const ns = `bmlb-${env.lab.name}-${holder}`;
    execFileSync('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    const t0 = Date.now();
    while (Date.now() - t0 < 6000) {
      assert.deepEqual(await holders(), [newHolder]);
      await sleep(250);
    }
    assert.ok(await apiThroughVip());
  });

  it('GIVEN lb3\'s sshd is stopped WHEN create cluster runs with a changed configuration THEN it fails naming lb3 before any node is touched', async () => {
    // A change that rewrites keepalived.conf on every node.
    const changedFile = join(tmp, 'changed.yaml');
    writeFileSync(changedFile, readFileSync(clusterFile, 'utf8').replace(/^    type: layer2$/m, '    type: layer2\n    bmlb:\n      vrrp:\n        advertIntervalMs: 300'));
    const sums = async (): Promise<string[]> => Promise.all(LB.map(async (n) => (await on(n, 'sha256sum /etc/bmlb/keepalived/keepalived.conf')).stdout));
    const before = await sums();
    const sshd = env.lab.status.processes.find((p) => p.what === 'sshd lb3');
    assert.ok(sshd, 'the lab recorded lb3\'s sshd');
    process.kill(sshd.pid, 'SIGTERM');
    const r = await bmlb(['create/cluster', '-c', changedFile, '--skip-preflight', '--wait-timeout', '30']);
    assert.equal(r.code, 3, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'SshConnectFailed');
    assert.match(r.json.error.message, /198\.51\.100\.23: .*ECONNREFUSED.*nothing was changed on any node/);
    assert.deepEqual(await sums(), before, 'no node was changed');
    assert.deepEqual(await holders(), [newHolder]);
  });
});
