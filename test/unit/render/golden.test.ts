/**
 * Golden files: everything renderAll produces for each sample, byte for byte.
 * `UPDATE_GOLDEN=1 node --import tsx --test test/unit/render/golden.test.ts` rewrites them
 * (and removes stale ones); review the diff before committing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { stringify } from 'yaml';
import { renderAll, type Rendered } from '../../../src/render/render-all.js';
import { FIXTURES, samples } from './samples.js';

/** The golden tree of one rendering: relative path → content. */
export function goldenFiles(r: Rendered): Map<string, string> {
  const out = new Map<string, string>();
  const index = r.nodes.map((n) => ({ address: n.address, files: n.files.map((f) => ({ path: f.path, mode: `0${f.mode.toString(8)}` })) }));
  out.set('nodes.json', `${JSON.stringify(index, null, 2)}\n`);
  for (const n of r.nodes) {
    for (const f of n.files) out.set(join('nodes', n.address.replaceAll(':', '_'), f.path), f.content);
  }
  r.manifests.forEach((m, i) => {
    const file = `${String(i + 1).padStart(2, '0')}-${m.kind.toLowerCase()}-${m.metadata.name}.yaml`;
    out.set(join('manifests', file), stringify(m, { lineWidth: 0 }));
  });
  out.set('config.yaml', r.configMapData);
  return out;
}

function listTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

const update = process.env.UPDATE_GOLDEN === '1';

describe('render golden files', () => {
  for (const sample of samples()) {
    it(`GIVEN sample ${sample.name} WHEN rendered THEN every file equals its golden file in test/fixtures/render/${sample.name}`, () => {
      const dir = join(FIXTURES, sample.name);
      const want = goldenFiles(renderAll(sample.input));
      if (update) {
        rmSync(dir, { recursive: true, force: true });
        for (const [rel, content] of want) {
          mkdirSync(dirname(join(dir, rel)), { recursive: true });
          writeFileSync(join(dir, rel), content);
        }
      }
      const have = listTree(dir);
      assert.deepEqual(have, [...want.keys()].sort(), `golden file set of ${sample.name} differs (run with UPDATE_GOLDEN=1 and review the diff)`);
      for (const [rel, content] of want) {
        assert.equal(readFileSync(join(dir, rel), 'utf8'), content, `${sample.name}/${rel} drifted from its golden file (UPDATE_GOLDEN=1 regenerates)`);
      }
    });

    it(`GIVEN sample ${sample.name} WHEN rendered twice THEN the output is identical (deterministic)`, () => {
      assert.deepEqual(renderAll(sample.input), renderAll(sample.input));
    });
  }
});
