import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseClusterFile } from '../../../src/config/parse.js';

const root = new URL('../../fixtures/config/', import.meta.url).pathname;
const invalidDir = join(root, 'invalid');
const validDir = join(root, 'valid');
const samplesDir = new URL('../../../cluster-samples/', import.meta.url).pathname;

const invalidFiles = readdirSync(invalidDir).filter((f) => f.endsWith('.yaml')).sort();

test('GIVEN the invalid corpus THEN it holds at least 60 files', () => {
  assert.ok(invalidFiles.length >= 60, `only ${invalidFiles.length} invalid fixtures`);
});

for (const f of invalidFiles) {
  test(`GIVEN invalid/${f} WHEN validated THEN it fails with the declared code and path`, () => {
    const text = readFileSync(join(invalidDir, f), 'utf8');
    const m = /^# expect: (\S+)(?: (.*))?\n/.exec(text);
    assert.ok(m, `${f} must start with "# expect: CODE PATH"`);
    const [, code, path = ''] = m;
    const r = parseClusterFile(text, join(invalidDir, f));
    assert.equal(r.ok, false, `${f} was accepted`);
    if (r.ok) return;
    const lines = text.split('\n').length;
    const hit = r.errors.find((e) => e.code === code && e.path === path);
    assert.ok(hit, `${f}: expected ${code} at "${path}", got:\n${r.errors.map((e) => `  ${e.code} ${e.path} (${e.message})`).join('\n')}`);
    for (const e of r.errors) {
      assert.ok(e.line >= 1 && e.line <= lines, `${f}: line ${e.line} out of the file`);
      assert.ok(e.column >= 1, `${f}: column ${e.column}`);
      assert.ok(e.message.length > 0 && e.suggestion.length > 0, `${f}: ${e.code} lacks message or suggestion`);
    }
  });
}

for (const dir of [validDir, samplesDir]) {
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')).sort()) {
    test(`GIVEN ${f} (valid) WHEN validated THEN it is accepted`, () => {
      const r = parseClusterFile(readFileSync(join(dir, f), 'utf8'), join(dir, f), { homeDir: '/home/test' });
      assert.ok(r.ok, r.ok ? '' : r.errors.map((e) => `${e.line}:${e.column} ${e.code} ${e.path}: ${e.message}`).join('\n'));
    });
  }
}

test('GIVEN every error code bmlb defines THEN the corpus exercises it and docs/cluster-file.md documents it', () => {
  const issues = readFileSync(new URL('../../../src/config/issues.ts', import.meta.url), 'utf8');
  const block = issues.slice(issues.indexOf('export type ConfigErrorCode'), issues.indexOf('export interface ConfigError'));
  const codes = [...block.matchAll(/'([A-Za-z]+)'/g)].map((m) => m[1]!);
  assert.ok(codes.length >= 30, `only ${codes.length} codes parsed`);
  const expected = new Set(invalidFiles.map((f) => /^# expect: (\S+)/.exec(readFileSync(join(invalidDir, f), 'utf8'))?.[1]));
  const doc = readFileSync(new URL('../../../docs/cluster-file.md', import.meta.url), 'utf8');
  for (const c of codes) {
    assert.ok(expected.has(c), `no invalid fixture expects ${c}`);
    assert.ok(doc.includes(`\`${c}\``), `docs/cluster-file.md does not document ${c}`);
  }
});
