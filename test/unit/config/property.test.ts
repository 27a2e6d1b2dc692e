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

const baseText = readFileSync(new URL('../../fixtures/config/valid/base.yaml', import.meta.url), 'utf8');
const gdcvText = readFileSync(new URL('../../fixtures/config/valid/gdcv-full.yaml', import.meta.url), 'utf8');
const issuesSource = readFileSync(new URL('../../../src/config/issues.ts', import.meta.url), 'utf8');
const KNOWN_CODES = new Set([...issuesSource.matchAll(/\| '([A-Za-z]+)'/g)].map((m) => m[1]));

/** The invariant for any input: no throw; either a config or well-formed errors. */
function checkResult(r: ParseResult, text: string): void {
  const lines = text.split('\n').length;
  if (r.ok) {
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
