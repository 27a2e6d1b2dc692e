import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml, stringify } from 'yaml';
import { parseClusterFile, type ParseResult } from '../../../src/config/parse.js';
import { loadClusterConfig } from '../../../src/config/load.js';
import { formatSpeakerConfig, parseSpeakerConfig, toSpeakerConfig } from '../../../src/config/speaker-config.js';
import { isUserError } from '../../../src/errors.js';
import { parseIp } from '../../../src/net/address.js';
import { parsePoolEntry, rangeContains, rangesOverlap } from '../../../src/net/range.js';
import type { ClusterConfig } from '../../../src/config/model.js';

/** An independent oracle for the DESIGN.md rules, run on every accepted file. */
function assertRulesHold(c: ClusterConfig): void {
  const lb = c.loadBalancer;
  const ranges = lb.addressPools.flatMap((p) => p.addresses.map((a) => {
    const r = parsePoolEntry(a);
    assert.ok(r.ok, `accepted a bad pool entry ${a}`);
    return r.range;
  }));
  ranges.forEach((a, i) => ranges.slice(i + 1).forEach((b) => assert.ok(!rangesOverlap(a, b), 'accepted overlapping pools')));
  assert.equal(new Set(lb.addressPools.map((p) => p.name)).size, lb.addressPools.length, 'accepted duplicate pool names');
  const vip = parseIp(lb.controlPlaneVIP);
  assert.ok(vip, 'accepted a bad controlPlaneVIP');
  assert.ok(!ranges.some((r) => rangeContains(r, vip)), 'accepted controlPlaneVIP inside a pool');
  if (lb.ingressVIP !== undefined) {
    const ing = parseIp(lb.ingressVIP);
    assert.ok(ing && ranges.some((r) => rangeContains(r, ing)), 'accepted ingressVIP outside every pool');
    assert.notEqual(c.clusterType, 'admin', 'accepted ingressVIP on an admin cluster');
  }
  const lbNodes = lb.nodesFromControlPlane ? [] : lb.nodes;
  const all = [...c.controlPlane.nodes, ...lbNodes, ...c.nodePools.flatMap((p) => p.nodes)];
  const seen = new Set<string>();
  for (const n of all) {
    const ids = new Set([n.address, n.k8sIP].map((x) => { const p = parseIp(x); assert.ok(p, `accepted node address ${x}`); return `${p.family}/${p.value}`; }));
    for (const id of ids) { assert.ok(!seen.has(id), 'accepted a node address twice'); }
    for (const id of ids) seen.add(id);
    for (const x of [n.address, n.k8sIP]) {
      const p = parseIp(x)!;
      assert.ok(!(p.family === vip.family && p.value === vip.value), 'accepted a VIP that is a node address');
      assert.ok(!ranges.some((r) => rangeContains(r, p)), 'accepted a pool containing a node address');
    }
  }
  if (lb.type === 'bgp') assert.ok(lb.localASN !== undefined && lb.bgpPeers.length > 0, 'accepted bgp without its fields');
  const s = lb.bmlb.speaker;
  assert.ok(s.failureTimeoutMs >= 3 * s.heartbeatIntervalMs);
  assert.equal(lb.bmlb.vrrp.advertIntervalMs % 10, 0);
}

const baseText = readFileSync(new URL('../../fixtures/config/valid/base.yaml', import.meta.url), 'utf8');
const gdcvText = readFileSync(new URL('../../fixtures/config/valid/gdcv-full.yaml', import.meta.url), 'utf8');
const issuesSource = readFileSync(new URL('../../../src/config/issues.ts', import.meta.url), 'utf8');
const KNOWN_CODES = new Set([...issuesSource.matchAll(/\| '([A-Za-z]+)'/g)].map((m) => m[1]));

/** The invariant for any input: no throw; either a config or well-formed errors. */
function checkResult(r: ParseResult, text: string): void {
  const lines = text.split('\n').length;
  if (r.ok) {
    assertRulesHold(r.config);
    // A valid file always yields a speaker configuration the speakers accept.
    const sc = parseSpeakerConfig(formatSpeakerConfig(toSpeakerConfig(r.config)));
    assert.ok(sc.ok, `speaker config rejected: ${sc.ok ? '' : sc.errors.join('; ')}\n${text}`);
    return;
  }
  assert.ok(r.errors.length > 0, 'rejected without an error');
  for (const e of r.errors) {
    assert.ok(KNOWN_CODES.has(e.code), `unknown code ${e.code}`);
    assert.equal(typeof e.path, 'string');
    assert.ok(Number.isInteger(e.line) && e.line >= 1 && e.line <= lines + 1, `line ${e.line} of ${lines}`);
    assert.ok(Number.isInteger(e.column) && e.column >= 1, `column ${e.column}`);
    assert.ok(e.message.length > 0 && e.suggestion.length > 0, `${e.code} lacks message/suggestion`);
  }
}

function run(text: string): void {
  checkResult(parseClusterFile(text, '/prop/c.yaml'), text);
}

const docs = baseText.split(/^---\n/m).map((d) => parseYaml(d) as unknown);
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path (list of keys) inside a value. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

type Mutation = { kind: 'set'; value: Json } | { kind: 'delete' } | { kind: 'rename'; to: string } | { kind: 'dup' };

function mutate(doc: unknown, path: (string | number)[], m: Mutation): unknown {
  const copy = structuredClone(doc);
  if (path.length === 0) return m.kind === 'set' ? m.value : copy;
  let parent: any = copy;
  for (const seg of path.slice(0, -1)) parent = parent[seg];
  const last = path[path.length - 1]!;
  if (m.kind === 'set') parent[last] = m.value;
  else if (m.kind === 'delete') { if (Array.isArray(parent)) parent.splice(last as number, 1); else delete parent[last]; }
  else if (m.kind === 'rename' && !Array.isArray(parent)) { parent[m.to] = parent[last]; delete parent[last]; }
  else if (m.kind === 'dup' && Array.isArray(parent)) parent.push(structuredClone(parent[last as number]));
  return copy;
}

// Values that look like what people write in cluster files, plus arbitrary JSON.
const addressLike = fc.oneof(
  fc.ipV4(), fc.ipV6(), fc.constantFrom('198.51.100.10', '198.51.100.21', '198.51.100.200', '198.51.100.240/29', '198.51.100.0/24', '2001:db8::1', '2001:db8::/120', '198.51.100.1-198.51.100.9', '<placeholder>', ''),
  fc.tuple(fc.ipV4(), fc.ipV4()).map(([a, b]) => `${a}-${b}`),
  fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 40 })).map(([a, n]) => `${a}/${n}`),
);
const value: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: addressLike },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> },
  { weight: 1, arbitrary: fc.integer({ min: -5, max: 70000 }) },
  { weight: 1, arbitrary: fc.constantFrom<Json>('bundled', 'manual', 'layer2', 'bgp', 'admin', true, false, null, [], {}) },
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: value.map((v): Mutation => ({ kind: 'set', value: v })) },
  { weight: 2, arbitrary: fc.constant<Mutation>({ kind: 'delete' }) },
  { weight: 1, arbitrary: fc.constantFrom('adress', 'addressPools', 'name', 'type', 'k8sIP', 'bmlb', 'x').map((to): Mutation => ({ kind: 'rename', to })) },
  { weight: 1, arbitrary: fc.constant<Mutation>({ kind: 'dup' }) },
);

test('GIVEN thousands of mutated cluster documents WHEN validated THEN nothing throws and every rejection is well-formed', () => {
  const docIndex = fc.integer({ min: 0, max: docs.length - 1 });
  const arb = fc.tuple(docIndex, fc.array(fc.tuple(fc.nat(), mutation), { minLength: 1, maxLength: 4 }));
  let valid = 0;
  fc.assert(fc.property(arb, ([di, muts]) => {
    let doc = docs[di];
    for (const [pick, m] of muts) {
      const ps = paths(doc);
      doc = mutate(doc, ps[pick % ps.length]!, m);
    }
    const all = docs.map((d, i) => (i === di ? doc : d));
    const text = all.map((d) => stringify(d)).join('---\n');
    const r = parseClusterFile(text, '/prop/c.yaml');
    if (r.ok) valid++;
    checkResult(r, text);
  }), { numRuns: 2000 });
  assert.ok(valid > 0, 'no mutated document was valid; the generator is too destructive to be meaningful');
});

test('GIVEN line-level edits of real files WHEN validated THEN nothing throws', () => {
  const sources = [baseText, gdcvText];
  const edit = fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('drop', 'dup', 'indent', 'dedent', 'truncate', 'swap'));
  fc.assert(fc.property(fc.nat(), fc.array(edit, { minLength: 1, maxLength: 3 }), (si, edits) => {
    const lines = sources[si % sources.length]!.split('\n');
    for (const [a, b, op] of edits) {
      const i = a % lines.length;
      const j = b % lines.length;
      if (op === 'drop') lines.splice(i, 1);
      else if (op === 'dup') lines.splice(i, 0, lines[i]!);
      else if (op === 'indent') lines[i] = `  ${lines[i]}`;
      else if (op === 'dedent') lines[i] = lines[i]!.replace(/^ {1,2}/, '');
      else if (op === 'truncate') lines[i] = lines[i]!.slice(0, b % (lines[i]!.length + 1));
      else { const t = lines[i]!; lines[i] = lines[j]!; lines[j] = t; }
    }
    run(lines.join('\n'));
  }), { numRuns: 1500 });
});

test('GIVEN random text and random YAML values WHEN validated THEN nothing throws', () => {
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => run(s)), { numRuns: 1000 });
  fc.assert(fc.property(fc.array(fc.jsonValue({ maxDepth: 3 }), { minLength: 1, maxLength: 4 }), (vals) => {
    run(vals.map((v) => stringify(v)).join('---\n'));
  }), { numRuns: 1000 });
});

const tmp = mkdtempSync(join(tmpdir(), 'bmlbt-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('GIVEN invalid files on disk WHEN loaded THEN each rejection is a UserError ConfigInvalid carrying the errors', async () => {
  await fc.assert(fc.asyncProperty(fc.nat(), mutation, async (pick, m) => {
    const ps = paths(docs[2]);
    const doc = mutate(docs[2], ps[pick % ps.length]!, m);
    const text = [docs[0], docs[1], doc, docs[3]].map((d) => stringify(d)).join('---\n');
    const file = join(tmp, 'c.yaml');
    writeFileSync(file, text);
    try {
      await loadClusterConfig(file);
    } catch (e) {
      assert.ok(isUserError(e), `not a UserError: ${String(e)}`);
      assert.equal(e.code, 'ConfigInvalid');
      const data = e.data as { errors: unknown[]; file: string };
      assert.ok(data.errors.length > 0);
      assert.equal(data.file, file);
    }
  }), { numRuns: 200 });
});

// Random clusters over a tiny address universe, so collisions between nodes, VIPs and pools are
// frequent: the validator's verdict must equal an independent oracle's, in both directions.
test('GIVEN random clusters over a small address space WHEN validated THEN accept/reject matches the rule oracle', () => {
  const host = fc.integer({ min: 1, max: 62 }).map((n) => `198.51.100.${n}`);
  const entry = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 15 }), fc.constantFrom(30, 31, 32)).map(([b, len]) => `198.51.100.${b * 4}/${len}`),
    fc.tuple(fc.integer({ min: 1, max: 62 }), fc.integer({ min: 0, max: 3 })).map(([a, n]) => `198.51.100.${a}-198.51.100.${Math.min(a + n, 63)}`),
  );
  const gen = fc.record({
    cp: fc.array(host, { minLength: 1, maxLength: 2 }),
    lb: fc.array(host, { minLength: 0, maxLength: 2 }),
    workers: fc.array(host, { minLength: 0, maxLength: 1 }),
    cpVip: host,
    ingressVip: fc.option(host, { nil: undefined, freq: 2 }),
    pools: fc.array(fc.array(entry, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 2 }),
  });
  let accepted = 0;
  let rejected = 0;
  fc.assert(fc.property(gen, (g) => {
    const cluster = {
      apiVersion: 'baremetal.cluster.gke.io/v1', kind: 'Cluster', metadata: { name: 'p', namespace: 'cluster-p' },
      spec: {
        type: 'hybrid',
        controlPlane: { nodePoolSpec: { nodes: g.cp.map((address) => ({ address })) } },
        clusterNetwork: { pods: { cidrBlocks: ['192.168.0.0/16'] }, services: { cidrBlocks: ['203.0.113.0/24'] } },
        loadBalancer: {
          mode: 'bundled',
          vips: { controlPlaneVIP: g.cpVip, ...(g.ingressVip ? { ingressVIP: g.ingressVip } : {}) },
          addressPools: g.pools.map((addresses, i) => ({ name: `pool-${i}`, addresses })),
          ...(g.lb.length ? { nodePoolSpec: { nodes: g.lb.map((address) => ({ address })) } } : {}),
        },
      },
    };
    const docsOut = [{ sshPrivateKeyPath: '/k' }, cluster];
    if (g.workers.length) docsOut.push({ apiVersion: 'baremetal.cluster.gke.io/v1', kind: 'NodePool', metadata: { name: 'np', namespace: 'cluster-p' }, spec: { clusterName: 'p', nodes: g.workers.map((address) => ({ address })) } } as never);
    const text = docsOut.map((d) => stringify(d)).join('---\n');

    // The oracle.
    const ip = (s: string) => parseIp(s)!;
    const ranges = g.pools.flat().map((e) => { const r = parsePoolEntry(e); assert.ok(r.ok, e); return r.range; });
    const nodes = [...g.cp, ...g.lb, ...g.workers];
    const inPool = (s: string) => ranges.some((r) => rangeContains(r, ip(s)));
    const expectValid =
      new Set(nodes).size === nodes.length &&
      !ranges.some((a, i) => ranges.slice(i + 1).some((b) => rangesOverlap(a, b))) &&
      !nodes.includes(g.cpVip) && !inPool(g.cpVip) &&
      (g.ingressVip === undefined || (inPool(g.ingressVip) && !nodes.includes(g.ingressVip))) &&
      !nodes.some(inPool);

    const r = parseClusterFile(text, '/prop/p.yaml');
    checkResult(r, text);
    assert.equal(r.ok, expectValid, `${expectValid ? 'rejected a valid' : 'accepted an invalid'} cluster:\n${text}\n${r.ok ? '' : r.errors.map((e) => `${e.code} ${e.path}`).join('\n')}`);
    if (r.ok) accepted++; else rejected++;
  }), { numRuns: 1500 });
  assert.ok(accepted > 150 && rejected > 150, `unbalanced generator: ${accepted} accepted, ${rejected} rejected`);
});
