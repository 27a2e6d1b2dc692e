#!/usr/bin/env node
// Builds the packet addon (native/build/Release/bmlb_packet.node) with the node-gyp that ships
// inside npm, against the Node headers installed with Node itself (no download, works offline).
// Usage: node native/build.mjs            (from anywhere; pass --debug for a debug build)
import { existsSync } from 'node:fs';
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
const args = [gyp, 'rebuild', '-C', here, ...(nodedir ? [`--nodedir=${nodedir}`] : []), ...process.argv.slice(2)];
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
process.exit(r.status ?? 1);
