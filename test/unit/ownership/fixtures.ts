/** Shared fixtures of the ownership tests: the lab cluster file parsed by the real parser, and variants. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseClusterFile } from '../../../src/config/parse.js';
import type { ClusterConfig } from '../../../src/config/model.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export function labCluster(): ClusterConfig {
  const path = join(REPO, 'cluster-samples', 'lab.yaml');
  const r = parseClusterFile(readFileSync(path, 'utf8'), path);
  if (!r.ok) throw new Error(`lab.yaml does not validate: ${JSON.stringify(r.errors)}`);
  return r.config;
}

export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
