import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseClusterFile } from '../../../src/config/parse.js';
import { formatSpeakerConfig, parseSpeakerConfig, toSpeakerConfig } from '../../../src/config/speaker-config.js';
import type { SpeakerConfig } from '../../../src/config/model.js';

function sample(name: string) {
  const p = new URL(`../../../cluster-samples/${name}`, import.meta.url).pathname;
  const r = parseClusterFile(readFileSync(p, 'utf8'), p);
  assert.ok(r.ok);
  return r.config;
}

test('GIVEN the lab cluster WHEN converted THEN the speaker config carries pools, LB nodes and timers from the file', () => {
  const sc = toSpeakerConfig(sample('lab.yaml'));
  assert.deepEqual(sc, {
    apiVersion: 'bmlb.io/v1',
    clusterName: 'lab',
    type: 'layer2',
    controlPlaneVIP: '198.51.100.10',
    ingressVIP: '198.51.100.200',
    addressPools: [
      { name: 'pool-1', addresses: ['198.51.100.200-198.51.100.239'], avoidBuggyIPs: false, manualAssign: false },
      { name: 'pool-2', addresses: ['198.51.100.240/29'], avoidBuggyIPs: false, manualAssign: true },
    ],
    lbNodes: [
      { address: '198.51.100.21', k8sIP: '198.51.100.21' },
      { address: '198.51.100.22', k8sIP: '198.51.100.22' },
      { address: '198.51.100.23', k8sIP: '198.51.100.23' },
    ],
    speaker: { heartbeatIntervalMs: 50, failureTimeoutMs: 250, garpRepeat: 3, memberPort: 7946, metricsPort: 7472 },
    bgpPeers: [],
  } satisfies SpeakerConfig);
});

test('GIVEN every sample WHEN formatted and parsed back THEN the speaker config round-trips unchanged', () => {
  for (const f of ['lab.yaml', 'minimal.yaml', 'dual-stack.yaml', 'bgp.yaml']) {
    const sc = toSpeakerConfig(sample(f));
    const back = parseSpeakerConfig(formatSpeakerConfig(sc));
    assert.ok(back.ok, `${f}: ${back.ok ? '' : back.errors.join('; ')}`);
    assert.deepEqual(back.config, sc, f);
    // JSON is YAML: the same text as JSON parses too.
    assert.ok(parseSpeakerConfig(JSON.stringify(sc)).ok);
  }
  const bgp = toSpeakerConfig(sample('bgp.yaml'));
  assert.equal(bgp.localASN, 65001);
  assert.deepEqual(bgp.bgpPeers, [{ ip: '198.51.100.4', asn: 65000, controlPlaneNodes: [] }]);
});

test('GIVEN hand-edited or corrupted ConfigMaps WHEN parsed THEN each is refused with the field named', () => {
  const good = toSpeakerConfig(sample('lab.yaml'));
  const edits: [string, (c: any) => void, RegExp][] = [
    ['overlapping pools', (c) => { c.addressPools[1].addresses = ['198.51.100.232/29']; }, /addressPools\.1\.addresses\.0: .*overlaps/],
    ['bad pool entry', (c) => { c.addressPools[0].addresses = ['198.51.100.1 - 198.51.100.9']; }, /addressPools\.0\.addresses\.0/],
    ['duplicate pool name', (c) => { c.addressPools[1].name = 'pool-1'; }, /duplicate pool name/],
    ['bad VIP', (c) => { c.controlPlaneVIP = '198.51.100.300'; }, /controlPlaneVIP/],
    ['unknown field', (c) => { c.extra = true; }, /extra/],
    ['wrong apiVersion', (c) => { c.apiVersion = 'bmlb.io/v2'; }, /apiVersion/],
    ['no LB nodes', (c) => { c.lbNodes = []; }, /lbNodes/],
    ['timeout below 3 heartbeats', (c) => { c.speaker.failureTimeoutMs = 100; }, /failureTimeoutMs/],
    ['port out of range', (c) => { c.speaker.memberPort = 0; }, /memberPort/],
    ['bgp without peers', (c) => { c.type = 'bgp'; }, /bgp/],
    ['missing speaker block', (c) => { delete c.speaker; }, /speaker/],
  ];
  for (const [name, edit, re] of edits) {
    const c = structuredClone(good) as any;
    edit(c);
    const r = parseSpeakerConfig(formatSpeakerConfig(c));
    assert.equal(r.ok, false, name);
    if (!r.ok) assert.ok(r.errors.some((e) => re.test(e)), `${name}: ${r.errors.join('; ')}`);
  }
  for (const text of ['', 'not: [yaml', 'a: 1\na: 2', '42', '- a']) {
    assert.equal(parseSpeakerConfig(text).ok, false, JSON.stringify(text));
  }
});

test('GIVEN random and mutated ConfigMap contents WHEN parsed THEN parseSpeakerConfig never throws', () => {
  const good = toSpeakerConfig(sample('lab.yaml')) as unknown as Record<string, unknown>;
  const keys = Object.keys(good);
  fc.assert(fc.property(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 3 }), (k, v) => {
    const r = parseSpeakerConfig(stringify({ ...good, [k]: v }));
    if (!r.ok) assert.ok(r.errors.length > 0);
  }), { numRuns: 1000 });
  fc.assert(fc.property(fc.string({ maxLength: 120 }), (s) => { parseSpeakerConfig(s); }), { numRuns: 1000 });
});
