import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseClusterFile, type ParseResult } from '../../../src/config/parse.js';
import { sampleClusterFile } from '../../../src/config/sample.js';
import { didYouMean, editDistance } from '../../../src/config/did-you-mean.js';
import { DEFAULT_VERSIONS } from '../../../src/config/defaults.js';
import { DEFAULT_VERSIONS as FROM_INDEX } from '../../../src/config/index.js';

const base = readFileSync(new URL('../../fixtures/config/valid/base.yaml', import.meta.url), 'utf8');
const gdcv = readFileSync(new URL('../../fixtures/config/valid/gdcv-full.yaml', import.meta.url), 'utf8');

function ok(r: ParseResult) {
  assert.ok(r.ok, r.ok ? '' : r.errors.map((e) => `${e.line}:${e.column} ${e.code} ${e.path} ${e.message}`).join('\n'));
  return r;
}
function bad(r: ParseResult) {
  assert.equal(r.ok, false);
  if (r.ok) throw new Error('unreachable');
  return r;
}

test('GIVEN a file without optional settings WHEN loaded THEN every default is filled in', () => {
  const { config: c } = ok(parseClusterFile(base, '/work/fx/fx.yaml'));
  assert.equal(c.name, 'fx');
  assert.equal(c.namespace, 'cluster-fx');
  assert.equal(c.sourcePath, '/work/fx/fx.yaml');
  assert.equal(c.loginUser, 'root');
  assert.equal(c.loadBalancer.controlPlaneLBPort, 443);
  assert.equal(c.loadBalancer.type, 'layer2');
  assert.deepEqual(c.loadBalancer.bmlb, {
    vrrp: { advertIntervalMs: 200, virtualRouterId: 51, unicast: false, garpMasterRepeat: 5 },
    speaker: { heartbeatIntervalMs: 50, failureTimeoutMs: 250, garpRepeat: 3, memberPort: 7946, metricsPort: 7472 },
    versions: { ...DEFAULT_VERSIONS },
    admission: 'webhook',
  });
  assert.equal(FROM_INDEX, DEFAULT_VERSIONS);
  assert.deepEqual(c.loadBalancer.addressPools[1], { name: 'pool-2', addresses: ['198.51.100.240/29'], avoidBuggyIPs: false, manualAssign: false });
  assert.equal(c.loadBalancer.nodesFromControlPlane, false);
  assert.deepEqual(c.loadBalancer.nodes.map((n) => n.k8sIP), ['198.51.100.21', '198.51.100.22']);
  assert.deepEqual(c.nodePools, [{ name: 'np1', nodes: [{ address: '198.51.100.31', k8sIP: '198.51.100.31' }] }]);
  assert.deepEqual(c.loadBalancer.bgpPeers, []);
  assert.equal(c.loadBalancer.localASN, undefined);
});

test('GIVEN no loadBalancer.nodePoolSpec WHEN loaded THEN the LB nodes are the control-plane nodes', () => {
  const text = base.replace('    nodePoolSpec:\n      nodes:\n      - address: 198.51.100.21\n      - address: 198.51.100.22\n', '');
  const { config: c } = ok(parseClusterFile(text, '/x/fx.yaml'));
  assert.equal(c.loadBalancer.nodesFromControlPlane, true);
  assert.deepEqual(c.loadBalancer.nodes, c.controlPlane.nodes);
  assert.notEqual(c.loadBalancer.nodes, c.controlPlane.nodes); // a copy, not shared
});

test('GIVEN relative, home and absolute key paths WHEN loaded THEN they resolve against the file and home', () => {
  const text = base.replace('sshPrivateKeyPath: /root/.ssh/id_ed25519\n', 'sshPrivateKeyPath: keys/id\nsshKnownHostsPath: ~/.ssh/known_hosts\nkubeconfigPath: /etc/kube.conf\n');
  const { config: c } = ok(parseClusterFile(text, '/ws/fx/fx.yaml', { homeDir: '/home/u' }));
  assert.deepEqual(c.credentials, { sshPrivateKeyPath: '/ws/fx/keys/id', sshKnownHostsPath: '/home/u/.ssh/known_hosts', kubeconfigPath: '/etc/kube.conf' });
});

test('GIVEN IPv6 written loosely WHEN loaded THEN addresses are canonical (RFC 5952)', () => {
  const text = base.replace('controlPlaneVIP: 198.51.100.10', 'controlPlaneVIP: 2001:DB8:0:0::10')
    .replace('      - address: 198.51.100.21\n', '      - address: 2001:db8:0000::21\n        k8sIP: 198.51.100.41\n');
  const { config: c } = ok(parseClusterFile(text, '/x/fx.yaml'));
  assert.equal(c.loadBalancer.controlPlaneVIP, '2001:db8::10');
  assert.deepEqual(c.loadBalancer.nodes[0], { address: '2001:db8::21', k8sIP: '198.51.100.41' });
});

test('GIVEN tuned bmlb settings WHEN loaded THEN they override the defaults field by field', () => {
  const text = base.replace('  nodeAccess:\n', '    bmlb:\n      vrrp:\n        advertIntervalMs: 100\n      speaker:\n        failureTimeoutMs: 600\n      versions:\n        haproxy: 2.8.5\n      admission: both\n  nodeAccess:\n');
  const { config: c } = ok(parseClusterFile(text, '/x/fx.yaml'));
  assert.equal(c.loadBalancer.bmlb.vrrp.advertIntervalMs, 100);
  assert.equal(c.loadBalancer.bmlb.vrrp.virtualRouterId, 51);
  assert.equal(c.loadBalancer.bmlb.speaker.failureTimeoutMs, 600);
  assert.equal(c.loadBalancer.bmlb.speaker.heartbeatIntervalMs, 50);
  assert.deepEqual(c.loadBalancer.bmlb.versions, { ...DEFAULT_VERSIONS, haproxy: '2.8.5' });
  assert.equal(c.loadBalancer.bmlb.admission, 'both');
});

test('GIVEN a type bgp file WHEN loaded THEN localASN and peers are kept; in layer2 they are a notice', () => {
  const bgp = base.replace('    type: layer2\n', '    type: bgp\n    localASN: 65001\n    bgpPeers:\n    - ip: 198.51.100.4\n      asn: 65000\n      controlPlaneNodes:\n      - 198.51.100.11\n');
  const { config: c } = ok(parseClusterFile(bgp, '/x/fx.yaml'));
  assert.equal(c.loadBalancer.localASN, 65001);
  assert.deepEqual(c.loadBalancer.bgpPeers, [{ ip: '198.51.100.4', asn: 65000, controlPlaneNodes: ['198.51.100.11'] }]);
  const l2 = bgp.replace('    type: bgp\n', '    type: layer2\n');
  const r = ok(parseClusterFile(l2, '/x/fx.yaml'));
  assert.deepEqual(r.config.loadBalancer.bgpPeers, []);
  assert.deepEqual(r.notices.map((n) => n.path), ['spec.loadBalancer.localASN', 'spec.loadBalancer.bgpPeers']);
});

test('GIVEN mode manual with type layer2 WHEN loaded THEN it is valid and the type is a notice', () => {
  const r = ok(parseClusterFile(base.replace('    mode: bundled\n', '    mode: manual\n'), '/x/fx.yaml'));
  assert.equal(r.config.loadBalancer.mode, 'manual');
  assert.deepEqual(r.notices.map((n) => n.path), ['spec.loadBalancer.type']);
});

test('GIVEN a full GDCV file WHEN loaded THEN it is valid and every ignored field is a notice with its position', () => {
  const r = ok(parseClusterFile(gdcv, '/x/gdcv.yaml'));
  const paths = r.notices.map((n) => n.path);
  for (const p of ['gcrKeyPath', 'spec.gkeConnect', 'spec.storage', 'spec.nodeConfig', 'spec.clusterSecurity', 'spec.controlPlane.nodePoolSpec.kubeletConfig', 'NodePool(np1).spec.taints', 'spec.loadBalancer.nodePoolSpec.labels']) {
    assert.ok(paths.includes(p), `no notice for ${p}: ${paths.join(', ')}`);
  }
  const gk = r.notices.find((n) => n.path === 'spec.gkeConnect')!;
  assert.equal(gdcv.split('\n')[gk.line - 1]!.slice(gk.column - 1).startsWith('gkeConnect:'), true);
  assert.deepEqual(r.config.annotations, { 'baremetal.cluster.gke.io/prevent-deletion': 'true' });
  assert.deepEqual(r.config.controlPlane.nodes[0], { address: '198.51.100.11', k8sIP: '203.0.113.11' });
  assert.equal(r.config.loginUser, 'admin');
});

test('GIVEN several independent mistakes WHEN validated THEN all are reported at once, sorted by position', () => {
  const text = base.replace('    addressPools:\n', '    addresPools:\n')
    .replace('controlPlaneLBPort: 443', 'controlPlaneLBPort: 0')
    .replace('      - address: 198.51.100.22\n', '      - address: 198.51.100.11\n')
    .replace('  type: hybrid\n', '  type: hybrid\n  tpye: x\n');
  const r = bad(parseClusterFile(text, '/x/fx.yaml'));
  const codes = r.errors.map((e) => e.code);
  for (const c of ['UnknownField', 'OutOfRange', 'LbNodeAlsoControlPlane']) assert.ok(codes.includes(c as never), codes.join(','));
  const positions = r.errors.map((e) => e.line * 1000 + e.column);
  assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
  const port = r.errors.find((e) => e.code === 'OutOfRange')!;
  assert.equal(text.split('\n')[port.line - 1]!.slice(port.column - 1), '0');
  assert.match(port.message, /is 0; it must be from 1 to 65535/);
  assert.deepEqual(port.values, [0]);
  const typo = r.errors.find((e) => e.path === 'spec.tpye')!;
  assert.match(typo.suggestion, /"type"/);
});

test('GIVEN the create-config sample WHEN checked as written THEN each placeholder is a PlaceholderValue error', () => {
  const text = sampleClusterFile({ name: 'demo', schemaRef: '/opt/bmlb/schema/cluster.schema.json' });
  assert.match(text.split('\n')[0]!, /^# yaml-language-server: \$schema=\/opt\/bmlb\/schema\/cluster\.schema\.json$/);
  const r = bad(parseClusterFile(text, '/ws/demo/demo.yaml'));
  assert.ok(r.errors.length >= 4);
  assert.ok(r.errors.every((e) => e.code === 'PlaceholderValue'), r.errors.map((e) => `${e.code} ${e.path}`).join('\n'));
  assert.deepEqual(r.errors.map((e) => e.path).sort(), ['sshPrivateKeyPath', 'spec.controlPlane.nodePoolSpec.nodes[0].address', 'spec.loadBalancer.addressPools[0].addresses[0]', 'spec.loadBalancer.vips.controlPlaneVIP', 'spec.loadBalancer.vips.ingressVIP'].sort());
});

test('GIVEN the create-config sample WHEN its placeholders are filled in THEN it is valid', () => {
  const fill: Record<string, string> = {
    '<path to the SSH private key that logs in to the nodes>': '/root/.ssh/id_ed25519',
    '<control-plane node 1 address>': '198.51.100.11',
    '<control-plane VIP>': '198.51.100.10',
    '<ingress VIP>': '198.51.100.200',
    '<first address>': '198.51.100.200',
    '<last address>': '198.51.100.239',
  };
  let text = sampleClusterFile({ name: 'demo' });
  for (const [k, v] of Object.entries(fill)) text = text.replaceAll(k, v);
  const left = text.split('\n').filter((l) => !l.trimStart().startsWith('#') && /<[^>]+>/.test(l));
  assert.deepEqual(left, [], 'unfilled placeholders');
  const { config } = ok(parseClusterFile(text, '/ws/demo/demo.yaml'));
  assert.equal(config.name, 'demo');
  assert.equal(config.namespace, 'cluster-demo');
  // The commented-out bmlb block shows the defaults: uncommenting it keeps the file valid.
  const uncommented = text.replace(/^ {4}# (bmlb:|  vrrp:|    advertIntervalMs:.*|    virtualRouterId:.*|  speaker:|    heartbeatIntervalMs:.*|    failureTimeoutMs:.*)$/gm, '    $1');
  assert.notEqual(uncommented, text);
  ok(parseClusterFile(uncommented, '/ws/demo/demo.yaml'));
});

test('GIVEN misspelled field names WHEN suggestions are computed THEN the closest known field is offered', () => {
  assert.equal(editDistance('addresPools', 'addressPools'), 1);
  assert.equal(editDistance('tpye', 'type'), 1);
  assert.equal(didYouMean('addresPools', ['mode', 'addressPools', 'vips']), 'addressPools');
  assert.equal(didYouMean('controlplanevip', ['controlPlaneVIP', 'ingressVIP']), 'controlPlaneVIP');
  assert.equal(didYouMean('zzzzzz', ['mode', 'type']), undefined);
});

test('GIVEN a field at the wrong level WHEN validated THEN the suggestion says where it belongs', () => {
  const text = base.replace('  type: hybrid\n', '  type: hybrid\n  controlPlaneVIP: 198.51.100.9\n');
  const r = bad(parseClusterFile(text, '/x/fx.yaml'));
  const e = r.errors.find((x) => x.path === 'spec.controlPlaneVIP')!;
  assert.equal(e.code, 'UnknownField');
  assert.equal(e.suggestion, '"controlPlaneVIP" belongs under spec.loadBalancer.vips; move it there.');
});

test('GIVEN YAML that is not a cluster file WHEN validated THEN the error says so without throwing', () => {
  for (const text of ['just a string', '[1, 2, 3]', 'a: [', '---\n---\n', '\t\tfoo', 'key: &a [*a]', '!!binary abc']) {
    const r = parseClusterFile(text, '/x.yaml');
    assert.equal(r.ok, false, text);
  }
});
