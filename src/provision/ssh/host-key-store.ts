/**
 * Host key verification against known_hosts files (IO shell around known-hosts.ts).
 * Files are read in order (missing ones skipped): the cluster file's `sshKnownHostsPath`, the
 * workspace's `bmlb-workspace/NAME/.ssh/known_hosts`, then `~/.ssh/known_hosts`. With
 * `acceptNew`, an unknown key is recorded in the workspace file and accepted; a changed key is
 * always refused.
 */
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../../errors.js';
import {
  type KnownHostEntry,
  formatKnownHostsLine,
  knownHostsName,
  knownKeyTypes,
  parseKnownHosts,
  sha256Fingerprint,
  verifyHostKey,
  keyTypeOfBlob,
} from './known-hosts.js';

export interface HostKeyStoreOptions {
  /** known_hosts files in lookup order. */
  files: string[];
  /** The file an accepted new key is appended to (the workspace's). */
  workspaceFile: string;
  acceptNew: boolean;
}

export type HostKeyDecision =
  | { accept: true; recorded: boolean }
  | { accept: false; error: UserError };

export class HostKeyStore {
  private entries: KnownHostEntry[] | undefined;
  private readonly opts: HostKeyStoreOptions;
  /** Serialises appends when several nodes are accepted at once. */
  private writeChain: Promise<void> = Promise.resolve();

  constructor(opts: HostKeyStoreOptions) {
    this.opts = opts;
  }

  get files(): string[] {
    return this.opts.files;
  }

  async load(): Promise<KnownHostEntry[]> {
    if (this.entries) return this.entries;
    const all: KnownHostEntry[] = [];
    for (const f of this.opts.files) {
      let text: string;
      try {
        text = await fs.readFile(f, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new UserError(`cannot read known_hosts file ${f}: ${(e as Error).message}`, {
          code: 'SshKnownHostsUnreadable',
          suggestions: [`Check the permissions of ${f}, or fix sshKnownHostsPath in the cluster file.`],
        });
      }
      all.push(...parseKnownHosts(text, f).entries);
    }
    this.entries = all;
    return all;
  }

  /** Key types known for the host, for negotiating the recorded key type first. */
  async preferredKeyTypes(host: string, port: number): Promise<string[]> {
    return knownKeyTypes(await this.load(), knownHostsName(host, port));
  }

  async decide(host: string, port: number, keyBlob: Buffer): Promise<HostKeyDecision> {
    const name = knownHostsName(host, port);
    const verdict = verifyHostKey(await this.load(), name, keyBlob);
    const fp = sha256Fingerprint(keyBlob);
    const keyType = keyTypeOfBlob(keyBlob) ?? 'unknown';
    switch (verdict.status) {
      case 'known':
        return { accept: true, recorded: false };
      case 'revoked':
        return {
          accept: false,
          error: new UserError(`host key ${keyType} ${fp} of ${name} is marked @revoked in ${verdict.entry.file}:${verdict.entry.line}`, {
            code: 'SshHostKeyRevoked',
            exitCode: 3,
            data: { host, port, fingerprint: fp, keyType },
            suggestions: [`Give ${name} a new host key and record it, or remove the @revoked line if it is wrong.`],
          }),
        };
      case 'changed': {
        const where = verdict.expected.map((e) => `${e.file}:${e.line} (${e.keyType})`).join(', ');
        return {
          accept: false,
          error: new UserError(
            `host key of ${name} has CHANGED: it presents ${keyType} ${fp}, but known_hosts records a different key at ${where}. ` +
              'This may be a man-in-the-middle attack, or the node was reinstalled.',
            {
              code: 'SshHostKeyChanged',
              exitCode: 3,
              data: { host, port, fingerprint: fp, keyType, expected: verdict.expected.map((e) => ({ file: e.file, line: e.line, keyType: e.keyType })) },
              suggestions: [
                `Verify the node's key on its console: ssh-keygen -lf /etc/ssh/ssh_host_${keyType.replace(/^ssh-|-sha2-nistp\d+$/g, '')}_key.pub`,
                `If the change is expected, remove the old entry (ssh-keygen -R '${name}' -f <file>) and rerun with --accept-new-host-keys.`,
              ],
            },
          ),
        };
      }
      case 'unknown': {
        if (this.opts.acceptNew) {
          await this.record(name, keyBlob);
          return { accept: true, recorded: true };
        }
        const searched = this.opts.files.join(', ');
        return {
          accept: false,
          error: new UserError(`host key of ${name} is unknown: ${keyType} ${fp} (not in ${searched})`, {
            code: 'SshHostKeyUnknown',
            exitCode: 3,
            data: { host, port, fingerprint: fp, keyType, searched: this.opts.files },
            suggestions: [
              `Compare ${fp} with the node's own key (on the node: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub).`,
              `If it matches, rerun with --accept-new-host-keys to record it in ${this.opts.workspaceFile}.`,
            ],
          }),
        };
      }
    }
  }

  private async record(name: string, keyBlob: Buffer): Promise<void> {
    const line = formatKnownHostsLine(name, keyBlob) + '\n';
    const file = this.opts.workspaceFile;
    this.writeChain = this.writeChain.then(async () => {
      await fs.mkdir(dirname(file), { recursive: true, mode: 0o700 });
      await fs.appendFile(file, line, { mode: 0o600 });
      // Later lookups in this run see the accepted key.
      this.entries = [...(this.entries ?? []), ...parseKnownHosts(line, file).entries];
    });
    await this.writeChain;
  }
}
