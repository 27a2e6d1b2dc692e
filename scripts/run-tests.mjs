#!/usr/bin/env node
// Runs the test suites with node's test runner through tsx (TypeScript sources, no build needed).
// Usage: node scripts/run-tests.mjs [unit|cli|e2e ...]   (default: all suites)
// Suites run in order unit → cli → e2e; e2e files run one at a time (they share the host's namespaces).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const all = ['unit', 'cli', 'e2e'];
const suites = process.argv.slice(2).length ? process.argv.slice(2) : all;

function find(dir) {
  let out = [];
  let entries = [];
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries.sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(find(p));
    else if (/\.test\.ts$/.test(e)) out.push(p);
  }
  return out;
}

let failed = false;
for (const suite of suites) {
  if (!all.includes(suite)) { console.error(`unknown suite ${suite}; use one of ${all.join(', ')}`); process.exit(2); }
  const files = find(join(root, 'test', suite));
  if (!files.length) { console.log(`# suite ${suite}: no test files`); continue; }
  console.log(`# suite ${suite}: ${files.length} files`);
  const concurrency = suite === 'e2e' ? ['--test-concurrency=1'] : [];
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...concurrency, '--test-reporter=spec', ...files],
    { stdio: 'inherit', cwd: root, env: { ...process.env, BMLB_TEST_SUITE: suite } });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
