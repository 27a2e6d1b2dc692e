import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAllDocuments, parse } from 'yaml';
import { parseClusterFile } from '../../../src/config/parse.js';
import {
  apiServerConfig, apiServerSans, nodeAgentConfig, renderClusterFile, renderKnownHosts, renderKubeconfig, renderServerCertExtensions, renderSshdConfig,
} from '../../../src/lab/lab-files.js';
import { DEFAULT_LAB_OPTIONS, planLabLayout } from '../../../src/lab/lab-layout.js';

const sample = new URL('../../../cluster-samples/lab.yaml', import.meta.url).pathname;
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as unknown);

describe('lab cluster file', () => {
  it('GIVEN the default lab THEN the cluster file has the same values as cluster-samples/lab.yaml', () => {
    assert.deepEqual(docs(renderClusterFile(planLabLayout(DEFAULT_LAB_OPTIONS))), docs(readFileSync(sample, 'utf8')));
  });

  it('GIVEN labs of other shapes THEN bmlb itself accepts their cluster files, with the lab\'s nodes and paths', () => {
    for (const opts of [
      { name: 'two', nodes: 5, lbNodes: 2, ipv6: true },
      { name: 'cponly', nodes: 2, lbNodes: 0, ipv6: false },
      DEFAULT_LAB_OPTIONS,
    ]) {
      const layout = planLabLayout(opts);
      const r = parseClusterFile(renderClusterFile(layout), layout.paths.clusterFile, { homeDir: '/root' });
      assert.ok(r.ok, `${opts.name}: ${JSON.stringify(!r.ok && r.errors)}`);
      const c = r.config;
      assert.equal(c.name, opts.name);
      assert.equal(c.credentials.sshPrivateKeyPath, layout.paths.sshKey);
      assert.equal(c.credentials.sshKnownHostsPath, layout.paths.knownHosts);
      assert.equal(c.credentials.kubeconfigPath, layout.paths.kubeconfig);
      assert.deepEqual(c.controlPlane.nodes.map((n) => n.address), layout.nodes.filter((n) => n.role === 'control-plane').map((n) => n.address));
      const lbs = layout.nodes.filter((n) => n.role === 'lb');
      assert.equal(c.loadBalancer.nodesFromControlPlane, lbs.length === 0);
      if (lbs.length) assert.deepEqual(c.loadBalancer.nodes.map((n) => n.address), lbs.map((n) => n.address));
      assert.equal(c.loadBalancer.addressPools.some((p) => p.name === 'pool-v6'), opts.ipv6);
    }
  });
});

describe('lab kubeconfig, sshd config, known_hosts, certificate extensions, component configs', () => {
  const layout = planLabLayout({ ...DEFAULT_LAB_OPTIONS, name: 'k', ipv6: true });

  it('GIVEN a user and token THEN the kubeconfig points at the API server with the CA embedded', () => {
    const kc = parse(renderKubeconfig({ clusterName: 'c', server: layout.apiServer.url, caPem: 'PEM\n', user: 'admin-user', token: 'tok123456' })) as {
      clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
      users: { name: string; user: { token: string } }[];
      'current-context': string;
    };
    assert.equal(kc.clusters[0]!.cluster.server, 'https://198.51.100.11:6444');
    assert.equal(Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString(), 'PEM\n');
    assert.deepEqual(kc.users[0], { name: 'admin-user', user: { token: 'tok123456' } });
    assert.equal(kc['current-context'], 'admin-user@c');
  });

  it('GIVEN a node THEN its sshd accepts only the lab key for root, no passwords, no PAM', () => {
    const cfg = renderSshdConfig(layout, layout.nodes[1]!);
    const kv = new Map(cfg.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]));
    assert.equal(kv.get('AuthorizedKeysFile'), '/var/lib/bmlb-lab/k/ssh/authorized_keys');
    assert.equal(kv.get('HostKey'), '/var/lib/bmlb-lab/k/nodes/lb1/sshd/ssh_host_ed25519_key');
    assert.equal(kv.get('PasswordAuthentication'), 'no');
    assert.equal(kv.get('KbdInteractiveAuthentication'), 'no');
    assert.equal(kv.get('AuthenticationMethods'), 'publickey');
    assert.equal(kv.get('PermitRootLogin'), 'prohibit-password');
    assert.equal(kv.get('UsePAM'), 'no');
  });

  it('GIVEN host keys THEN known_hosts lists each node under its IPv4 and IPv6 address', () => {
    const text = renderKnownHosts([{ node: layout.nodes[0]!, publicKey: 'ssh-ed25519 AAAAkey cp1\n' }]);
    assert.equal(text, '198.51.100.11,2001:db8:100::11 ssh-ed25519 AAAAkey\n');
  });

  it('GIVEN the layout THEN the serving certificate names every control-plane address, the VIP, loopback and the kubernetes names', () => {
    const l = planLabLayout({ name: 'k', nodes: 5, lbNodes: 2, ipv6: false });
    const sans = apiServerSans(l);
    for (const ip of ['198.51.100.11', '198.51.100.12', '198.51.100.13', '198.51.100.10', '127.0.0.1']) assert.ok(sans.ip.includes(ip), ip);
    for (const dns of ['kubernetes', 'kubernetes.default.svc']) assert.ok(sans.dns.includes(dns), dns);
    assert.match(renderServerCertExtensions(sans), /^subjectAltName=DNS:kubernetes,.*IP:198\.51\.100\.10,/m);
    assert.match(renderServerCertExtensions(sans), /extendedKeyUsage=serverAuth/);
  });

  it('GIVEN the layout THEN apiserver.json and node-agent.json have the shapes the stand-ins read', () => {
    const a = apiServerConfig(layout, [{ token: 't'.repeat(16), user: 'bmlb-installer', groups: ['system:masters'] }]);
    assert.deepEqual(a.listen, { host: '198.51.100.11', port: 6444 });
    assert.equal(a.tls.caFile, '/var/lib/bmlb-lab/k/pki/ca.crt');
    assert.equal(a.serviceCIDR, '203.0.113.0/24,2001:db8:203::/112'); // an --ipv6 lab is dual-stack
    assert.equal(apiServerConfig(planLabLayout(DEFAULT_LAB_OPTIONS), []).serviceCIDR, '203.0.113.0/24');
    assert.equal(a.nodePortRange, '30000-32767');
    const cp = nodeAgentConfig(layout, layout.nodes[0]!, 'tok', '/x/bin/run.js');
    const lb = nodeAgentConfig(layout, layout.nodes[2]!, 'tok', '/x/bin/run.js');
    assert.deepEqual([cp.runControllers, lb.runControllers], [true, false]);
    assert.deepEqual([lb.nodeName, lb.nodeIP, lb.nodeIPv6, lb.role], ['lb2', '198.51.100.22', '2001:db8:100::22', 'lb']);
    assert.equal(lb.apiServer, 'https://198.51.100.11:6444');
    assert.equal(lb.manifestDir, '/etc/kubernetes/manifests');
    assert.equal(lb.logFile, '/var/lib/bmlb-lab/k/log/node-agent-lb2.log');
  });
});
