/**
 * The SSH private key: read once from `sshPrivateKeyPath`, validated, kept in memory only.
 * The key is never logged, never written anywhere, never sent to nodes (agent forwarding is off).
 */
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import { UserError } from '../../errors.js';

/** Opaque holder: `toString`/`toJSON` reveal nothing, so an accidental log prints no key. */
export class PrivateKey {
  readonly #material: Buffer;
  readonly path: string;
  readonly type: string;

  private constructor(path: string, material: Buffer, type: string) {
    this.path = path;
    this.#material = material;
    this.type = type;
  }

  /** For the SSH layer only. */
  material(): Buffer {
    return this.#material;
  }

  toString(): string {
    return `PrivateKey(${this.path})`;
  }

  toJSON(): string {
    return this.toString();
  }

  static load(path: string): PrivateKey {
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UserError(`cannot read sshPrivateKeyPath ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {
        code: 'SshKeyUnreadable',
        suggestions: ['Set sshPrivateKeyPath in the cluster file to the private key that logs in to every node (relative paths are resolved against the cluster file).'],
      });
    }
    return PrivateKey.fromBuffer(path, buf);
  }

  static fromBuffer(path: string, buf: Buffer): PrivateKey {
    const parsed = ssh2.utils.parseKey(buf);
    if (parsed instanceof Error) {
      const encrypted = /passphrase|encrypted/i.test(parsed.message);
      throw new UserError(
        encrypted
          ? `the SSH private key ${path} is protected by a passphrase, which bmlb does not support`
          : `the file ${path} (sshPrivateKeyPath) is not an SSH private key: ${parsed.message}`,
        {
          code: encrypted ? 'SshKeyEncrypted' : 'SshKeyInvalid',
          suggestions: encrypted
            ? ['Use a key without a passphrase for provisioning (e.g. ssh-keygen -t ed25519 -N "" -f bmlb-key) and authorize it on the nodes.']
            : ['Point sshPrivateKeyPath at an OpenSSH or PEM private key (not the .pub file).'],
        },
      );
    }
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    return new PrivateKey(path, buf, String(key?.type ?? 'unknown'));
  }
}
