#!/usr/bin/env node
// Builds the packet addon (native/build/Release/bmlb_packet.node) with the node-gyp that ships
// inside npm, against the Node headers installed with Node itself (no download, works offline).
// Usage: node native/build.mjs [--force]   (from anywhere; --debug for a debug build)
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const prefix = dirname(dirname(process.execPath)); // /usr for /usr/bin/node
const candidates = [
  join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
];
const gyp = candidates.find((p) => existsSync(p));
if (!gyp) {
  console.error(`node-gyp not found (looked in ${candidates.join(', ')}); install npm with Node or run \`npx node-gyp rebuild -C ${here}\``);
  process.exit(1);
}
// Headers: prefer the ones installed with this Node (include/node/node_api.h); node-gyp would
// otherwise try to download them.
const nodedir = process.env.npm_config_nodedir
  ?? (existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined);
// Incremental when already configured for this Node (make does nothing if packet.c is unchanged),
// so a repeated `npm run build` never removes a working addon from under running tests or
// speakers; `--force` (or a Node version change) cleans and rebuilds.
const userArgs = process.argv.slice(2).filter((a) => a !== '--force');
const force = process.argv.includes('--force');
const configuredFor = (() => {
  try {
    return /"node_module_version":\s*(\d+)/.exec(readFileSync(join(here, 'build', 'config.gypi'), 'utf8'))?.[1];
  } catch { return undefined; }
})();
const configured = configuredFor === process.versions.modules && existsSync(join(here, 'build', 'Makefile'));
const verb = force || !configured ? 'rebuild' : 'build';
const args = [gyp, verb, '-C', here, ...(nodedir ? [`--nodedir=${nodedir}`] : []), ...userArgs];
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
process.exit(r.status ?? 1);
