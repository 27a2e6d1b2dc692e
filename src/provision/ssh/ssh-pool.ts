/**
 * One SSH connection per node, opened on first use and reused; retried with back-off only for
 * transient connect errors (refused, timed out, unreachable); host key and auth failures are
 * final. A dropped connection is reopened on the next `get`.
 */
import type { RunLog } from '../run-log.js';
import type { HostKeyStore } from './host-key-store.js';
import type { PrivateKey } from './private-key.js';
import { type ConnectFailure, type NodeShell, SshConnection } from './ssh-connection.js';

export interface SshPoolOptions {
  key: PrivateKey;
  hostKeys: HostKeyStore;
  log: RunLog;
  user: string;
  /** SSH port of every node (22; tests use another). */
  port?: number;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** Connect attempts for transient errors (default 4: 0.5 s, 1 s, 2 s between them). */
  attempts?: number;
  backoffMs?: number;
  /** Max nodes worked on at once by callers (default 10). */
  parallelism?: number;
}

/** Anything that hands out a shell per node: the SSH pool, or a test double in unit tests. */
export interface NodeConnector {
  get(address: string): Promise<NodeShell>;
  readonly parallelism: number;
  close(): void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class SshPool implements NodeConnector {
  private readonly opts: SshPoolOptions;
  private readonly conns = new Map<string, Promise<SshConnection>>();
  readonly parallelism: number;

  constructor(opts: SshPoolOptions) {
    this.opts = opts;
    this.parallelism = opts.parallelism ?? 10;
  }

  async get(address: string): Promise<NodeShell> {
    const existing = this.conns.get(address);
    if (existing) {
      const c = await existing.catch(() => undefined);
      if (c && !c.closed) return c;
    }
    const p = this.connect(address);
    this.conns.set(address, p);
    try {
      return await p;
    } catch (e) {
      this.conns.delete(address);
      throw e;
    }
  }

  private async connect(host: string): Promise<SshConnection> {
    const attempts = this.opts.attempts ?? 4;
    const backoff = this.opts.backoffMs ?? 500;
    const target = { host, port: this.opts.port ?? 22, user: this.opts.user };
    for (let i = 1; ; i++) {
      try {
        return await SshConnection.open(target, {
          key: this.opts.key,
          hostKeys: this.opts.hostKeys,
          log: this.opts.log,
          connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
          commandTimeoutMs: this.opts.commandTimeoutMs ?? 60_000,
        });
      } catch (e) {
        const f = e as ConnectFailure;
        if (!f || typeof f !== 'object' || !('kind' in f)) throw e;
        this.opts.log.append(host, `${new Date().toISOString()} connect attempt ${i}/${attempts} failed: ${f.error.message}`);
        if (f.kind === 'fatal' || i >= attempts) throw f.error;
        await sleep(backoff * 2 ** (i - 1));
      }
    }
  }

  close(): void {
    for (const p of this.conns.values()) p.then((c) => c.close(), () => undefined);
    this.conns.clear();
  }
}
