#!/usr/bin/env node
// Runs the benchmarks in bench/*.ts (through tsx) one after the other and prints their figures.
// Usage: node scripts/run-bench.mjs [name-substring ...]
// Benchmarks that need the lab (root, network namespaces) say so and bring up their own lab.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
let files = [];
try { files = readdirSync(join(root, 'bench')).filter((f) => f.endsWith('.ts')).sort(); } catch { /* none yet */ }
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (!files.length) { console.error('no benchmarks matched'); process.exit(2); }
let failed = false;
for (const f of files) {
  console.log(`\n## bench/${f}  (${new Date().toISOString()}, node ${process.version})`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(root, 'bench', f)], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) { console.error(`bench/${f} exited ${r.status}`); failed = true; }
}
process.exit(failed ? 1 : 0);
