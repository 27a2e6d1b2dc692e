import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { clusterJsonSchemaText } from '../../../src/config/json-schema.js';
import { fieldReferenceMarkdown, REFERENCE_BEGIN, REFERENCE_END } from '../../../src/config/reference.js';
import { DEFAULT_SPEAKER, DEFAULT_VERSIONS, DEFAULT_VRRP, DEFAULT_ADMISSION } from '../../../src/config/defaults.js';

const root = new URL('../../../', import.meta.url).pathname;
const schemaText = readFileSync(join(root, 'schema/cluster.schema.json'), 'utf8');
const docText = readFileSync(join(root, 'docs/cluster-file.md'), 'utf8');

test('GIVEN the zod schema WHEN the JSON Schema is generated THEN the checked-in schema/cluster.schema.json is current', () => {
  assert.equal(schemaText, clusterJsonSchemaText(), 'stale: run `node --import tsx scripts/gen-schema.ts` and commit the result');
});

test('GIVEN the zod schema WHEN the field reference is generated THEN docs/cluster-file.md carries it unchanged', () => {
  const a = docText.indexOf(REFERENCE_BEGIN);
  const b = docText.indexOf(REFERENCE_END);
  assert.ok(a >= 0 && b > a, 'markers missing');
  assert.equal(docText.slice(a, b + REFERENCE_END.length), fieldReferenceMarkdown(), 'stale: run `node --import tsx scripts/gen-schema.ts`');
});

test('GIVEN the defaults in code WHEN docs/cluster-file.md lists them THEN every default matches', () => {
  const rows: [string, unknown][] = [
    ...Object.entries(DEFAULT_VRRP).map(([k, v]): [string, unknown] => [`bmlb.vrrp.${k}`, v]),
    ...Object.entries(DEFAULT_SPEAKER).map(([k, v]): [string, unknown] => [`bmlb.speaker.${k}`, v]),
    ...Object.entries(DEFAULT_VERSIONS).map(([k, v]): [string, unknown] => [`bmlb.versions.${k}`, v]),
    ['bmlb.admission', DEFAULT_ADMISSION],
  ];
  for (const [field, value] of rows) {
    const re = new RegExp(`^\\| \`${field.replaceAll('.', '\\.')}\` \\| ${String(value).replaceAll('.', '\\.')} \\|`, 'm');
    assert.match(docText, re, `docs/cluster-file.md: ${field} should show default ${String(value)}`);
  }
});

// The JSON Schema read back by an independent consumer: zod's JSON Schema importer.
const fromJson = z.fromJSONSchema(JSON.parse(schemaText));

function documentsOf(path: string): unknown[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS()).filter((d) => d !== null);
}

test('GIVEN the samples WHEN each document is checked against the JSON Schema THEN all pass', () => {
  const files = [
    ...readdirSync(join(root, 'cluster-samples')).map((f) => join(root, 'cluster-samples', f)),
    ...readdirSync(join(root, 'test/fixtures/config/valid')).map((f) => join(root, 'test/fixtures/config/valid', f)),
  ].filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 5);
  for (const f of files) {
    for (const doc of documentsOf(f)) {
      const r = fromJson.safeParse(doc);
      assert.ok(r.success, `${f}: ${r.success ? '' : JSON.stringify(r.error.issues.slice(0, 3))}`);
    }
  }
});

test('GIVEN structural mistakes WHEN checked against the JSON Schema THEN each is rejected', () => {
  const [, , cluster] = documentsOf(join(root, 'test/fixtures/config/valid/base.yaml')) as Record<string, any>[];
  const mutate = (f: (c: any) => void) => { const c = structuredClone(cluster); f(c); return c; };
  const bad = [
    mutate((c) => { c.spec.loadBalancer.addresPools = c.spec.loadBalancer.addressPools; }),
    mutate((c) => { c.spec.loadBalancer.mode = 'metallb'; }),
    mutate((c) => { c.spec.loadBalancer.ports.controlPlaneLBPort = 70000; }),
    mutate((c) => { delete c.spec.loadBalancer.vips.controlPlaneVIP; }),
    mutate((c) => { c.spec.loadBalancer.bmlb = { vrrp: { advertIntervalMs: 155 } }; }),
    mutate((c) => { c.spec.loadBalancer.bmlb = { speaker: { garpRepeat: -1 } }; }),
    { sshPrivateKeyPath: '/k', sshPrivateKeyPat: '/x' },
  ];
  for (const [i, doc] of bad.entries()) assert.equal(fromJson.safeParse(doc).success, false, `mutation ${i} was accepted`);
});
