/**
 * The IO shell around parseClusterFile: find the cluster file (a workspace NAME or a PATH), read
 * it, and turn an invalid file into one UserError (`ConfigInvalid`) carrying every error.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { ConfigError, ConfigNotice } from './issues.js';
import type { ClusterConfig } from './model.js';
import { parseClusterFile } from './parse.js';

export type { ConfigError, ConfigNotice } from './issues.js';

/** The workspace directory `create config` writes to and bare names resolve into. */
export const WORKSPACE_DIR = 'bmlb-workspace';

const BARE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function looksLikePath(s: string): boolean {
  return s.includes('/') || s.includes('\\') || /\.ya?ml$/i.test(s) || s.startsWith('.');
}

/** Absolute path of the cluster file: a bare NAME means `bmlb-workspace/NAME/NAME.yaml` under cwd. */
export function resolveClusterFile(nameOrPath: string, cwd: string = process.cwd()): string {
  if (!nameOrPath) {
    throw new UserError('no cluster given', { code: 'ClusterRequired', exitCode: 2, suggestions: ['Pass -c NAME (bmlb-workspace/NAME/NAME.yaml) or -c path/to/cluster.yaml.'] });
  }
  if (isAbsolute(nameOrPath)) return nameOrPath;
  if (looksLikePath(nameOrPath)) return resolve(cwd, nameOrPath);
  if (!BARE_NAME.test(nameOrPath)) {
    throw new UserError(`"${nameOrPath}" is neither a cluster name nor a path to a .yaml file`, {
      code: 'ClusterNameInvalid', exitCode: 2,
      suggestions: ['A cluster name is a DNS label (lower-case letters, digits, "-"); a path contains "/" or ends in .yaml.'],
    });
  }
  return resolve(cwd, join(WORKSPACE_DIR, nameOrPath, `${nameOrPath}.yaml`));
}

export interface CheckResult {
  valid: boolean;
  file: string;
  errors: ConfigError[];
  notices: ConfigNotice[];
  config?: ClusterConfig;
}

/** Read and validate without throwing for an invalid file (only for a missing/unreadable one). */
export async function checkClusterFile(nameOrPath: string, cwd: string = process.cwd()): Promise<CheckResult> {
  const file = resolveClusterFile(nameOrPath, cwd);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UserError(`cluster file ${file} does not exist`, {
        code: 'ConfigNotFound',
        suggestions: looksLikePath(nameOrPath) || isAbsolute(nameOrPath)
          ? ['Check the path, or run `bmlb create config -c NAME` to write a sample.']
          : [`Run \`bmlb create config -c ${nameOrPath}\` to write a sample, or pass -c path/to/cluster.yaml.`],
      });
    }
    throw new UserError(`cannot read cluster file ${file}: ${(e as Error).message}`, { code: 'ConfigUnreadable', suggestions: ['Check the file\'s permissions and that it is a regular file.'], cause: e });
  }
  const r = parseClusterFile(text, file, { homeDir: homedir() });
  return r.ok
    ? { valid: true, file, errors: [], notices: r.notices, config: r.config }
    : { valid: false, file, errors: r.errors, notices: r.notices };
}

/** Load a valid cluster file, or throw UserError `ConfigInvalid` with data {file, errors, notices}. */
export async function loadClusterConfig(nameOrPath: string, cwd?: string): Promise<{ config: ClusterConfig; notices: ConfigNotice[] }> {
  const r = await checkClusterFile(nameOrPath, cwd);
  if (!r.valid || !r.config) {
    const first = r.errors[0];
    throw new UserError(`cluster file ${r.file} is invalid (${r.errors.length} error${r.errors.length === 1 ? '' : 's'})${first ? `; first: line ${first.line}: ${first.message}` : ''}`, {
      code: 'ConfigInvalid',
      suggestions: [`Run \`bmlb check config -c ${nameOrPath}\` to see every error with its fix.`],
      data: { file: r.file, errors: r.errors, notices: r.notices },
    });
  }
  return { config: r.config, notices: r.notices };
}
