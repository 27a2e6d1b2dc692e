/**
 * What every provisioning command opens: the workspace directory, the per-run log, the host key
 * store (cluster file's sshKnownHostsPath, the workspace's .ssh/known_hosts, ~/.ssh/known_hosts)
 * and the SSH pool with the private key read once.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ClusterConfig } from '../config/model.js';
import { WORKSPACE_DIR } from '../config/load.js';
import { type RunLog, openRunLog } from './run-log.js';
import { HostKeyStore } from './ssh/host-key-store.js';
import { PrivateKey } from './ssh/private-key.js';
import { SshPool } from './ssh/ssh-pool.js';

export interface SessionOptions {
  /** Operation name for the log directory, e.g. `create-cluster`. */
  op: string;
  acceptNewHostKeys: boolean;
  cwd?: string;
  /** SSH port (22; only tests change it). */
  sshPort?: number;
  parallelism?: number;
  home?: string;
}

export interface Session {
  workspaceDir: string;
  log: RunLog;
  hostKeys: HostKeyStore;
  pool: SshPool;
  knownHostsFiles: string[];
  close(): void;
}

/** `bmlb-workspace/NAME/` under the current directory. */
export function workspaceDirFor(config: ClusterConfig, cwd: string = process.cwd()): string {
  return resolve(cwd, WORKSPACE_DIR, config.name);
}

export function knownHostsFilesFor(config: ClusterConfig, workspaceDir: string, home: string = homedir()): string[] {
  const files: string[] = [];
  if (config.credentials.sshKnownHostsPath) files.push(config.credentials.sshKnownHostsPath);
  files.push(join(workspaceDir, '.ssh', 'known_hosts'));
  files.push(join(home, '.ssh', 'known_hosts'));
  return files;
}

export function openSession(config: ClusterConfig, opts: SessionOptions): Session {
  const workspaceDir = workspaceDirFor(config, opts.cwd);
  const key = PrivateKey.load(config.credentials.sshPrivateKeyPath);
  const log = openRunLog(workspaceDir, opts.op);
  const knownHostsFiles = knownHostsFilesFor(config, workspaceDir, opts.home);
  const hostKeys = new HostKeyStore({ files: knownHostsFiles, workspaceFile: join(workspaceDir, '.ssh', 'known_hosts'), acceptNew: opts.acceptNewHostKeys });
  const pool = new SshPool({
    key,
    hostKeys,
    log,
    user: config.loginUser,
    port: opts.sshPort ?? 22,
    ...(opts.parallelism ? { parallelism: opts.parallelism } : {}),
  });
  return { workspaceDir, log, hostKeys, pool, knownHostsFiles, close: () => pool.close() };
}
