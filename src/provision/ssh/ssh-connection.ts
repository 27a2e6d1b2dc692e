/**
 * One SSH connection to one node (ssh2): key auth, strict host key verification, commands with
 * timeouts, atomic file writes with explicit modes, file reads. Every remote command and its
 * output goes to the run log. Commands run through `sudo -n` when the login user is not root.
 */
import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import type { Client as Ssh2Client, ClientChannel } from 'ssh2';
import { UserError } from '../../errors.js';
import type { RunLog } from '../run-log.js';
import type { HostKeyStore } from './host-key-store.js';
import type { PrivateKey } from './private-key.js';
import { hostKeyAlgorithmsFor } from './known-hosts.js';
import { shQuote } from './shell-quote.js';

export interface ExecResult {
  /** Exit status; null when the command died of a signal. */
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Bytes fed to the command's standard input. */
  stdin?: string | Buffer;
  /** Default: the connection's command timeout. */
  timeoutMs?: number;
  /** What to write in the log instead of the command itself (e.g. for long scripts). */
  logAs?: string;
  /** Do not copy stdout into the log (e.g. file contents); its size is logged instead. */
  quietStdout?: boolean;
}

/** What the rest of provisioning uses to act on one node. */
export interface NodeShell {
  readonly address: string;
  /** Run a shell command (as root, via sudo -n if needed). Never throws for a non-zero exit. */
  run(command: string, opts?: RunOptions): Promise<ExecResult>;
  /** File content, or undefined if the file does not exist. */
  readFile(path: string): Promise<Buffer | undefined>;
  /** Write atomically (temp file in the same directory, chmod, rename); creates parent dirs. */
  writeFile(path: string, content: string | Buffer, mode: number): Promise<void>;
}

export interface SshTarget {
  host: string;
  port: number;
  user: string;
}

export interface ConnectOptions {
  key: PrivateKey;
  hostKeys: HostKeyStore;
  log: RunLog;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

/** ssh2's default host key algorithms, in its order (ed25519 first on Node ≥ 12). */
const DEFAULT_HOST_KEY_ALGOS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** Negotiate the key types known_hosts records for this host first, as OpenSSH does. */
export function hostKeyAlgorithmOrder(knownTypes: string[]): string[] {
  const first = knownTypes.flatMap(hostKeyAlgorithmsFor).filter((a) => DEFAULT_HOST_KEY_ALGOS.includes(a));
  return [...new Set([...first, ...DEFAULT_HOST_KEY_ALGOS])];
}

export type ConnectFailure =
  | { kind: 'transient'; error: UserError }
  | { kind: 'fatal'; error: UserError };

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EAI_AGAIN']);

function describeTarget(t: SshTarget): string {
  return `${t.user}@${t.host}${t.port === 22 ? '' : `:${t.port}`}`;
}

/** Classify an ssh2 connect error (never a host-key refusal: that is decided by the store). */
export function classifyConnectError(t: SshTarget, err: Error & { code?: string; level?: string }): ConnectFailure {
  const where = describeTarget(t);
  if (err.level === 'client-authentication') {
    return {
      kind: 'fatal',
      error: new UserError(`SSH login to ${where} was refused: the key in sshPrivateKeyPath is not authorized for user ${t.user}`, {
        code: 'SshAuthFailed',
        exitCode: 3,
        data: { host: t.host, port: t.port, user: t.user },
        suggestions: [
          `Add the public key to ~${t.user}/.ssh/authorized_keys on ${t.host}.`,
          'Check nodeAccess.loginUser in the cluster file.',
        ],
      }),
    };
  }
  const timeout = err.level === 'client-timeout' || /timed out/i.test(err.message);
  const code = err.code ?? (timeout ? 'ETIMEDOUT' : undefined);
  const transient = code !== undefined && TRANSIENT_CODES.has(code);
  return {
    kind: transient ? 'transient' : 'fatal',
    error: new UserError(`cannot connect to ${where} over SSH: ${code ? `${code} ` : ''}${err.message}`, {
      code: 'SshConnectFailed',
      exitCode: 3,
      data: { host: t.host, port: t.port, reason: code ?? err.message },
      suggestions: [`Check that ${t.host} is up and sshd listens on port ${t.port} (from this machine: ssh -p ${t.port} ${where} true).`],
    }),
  };
}

/** The command as sent: as is for root, else through password-less sudo (never prompting). */
export function asRoot(user: string, command: string): string {
  return user === 'root' ? command : `sudo -n -- sh -c ${shQuote(command)}`;
}

/** One established SSH connection. Create with `SshConnection.open`. */
export class SshConnection implements NodeShell {
  readonly address: string;
  private readonly client: Ssh2Client;
  private readonly target: SshTarget;
  private readonly opts: ConnectOptions;
  private closedReason: string | undefined;
  /** Numbers commands in the log, so output of concurrent commands is attributable. */
  private seq = 0;

  private constructor(client: Ssh2Client, target: SshTarget, opts: ConnectOptions) {
    this.client = client;
    this.target = target;
    this.opts = opts;
    this.address = target.host;
    client.on('close', () => {
      this.closedReason ??= 'connection closed';
    });
    client.on('error', (e: Error) => {
      this.closedReason ??= e.message;
    });
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** One connection attempt: resolves connected, or rejects with a ConnectFailure. */
  static async open(target: SshTarget, opts: ConnectOptions): Promise<SshConnection> {
    const algos = hostKeyAlgorithmOrder(await opts.hostKeys.preferredKeyTypes(target.host, target.port));
    const client = new ssh2.Client();
    return await new Promise<SshConnection>((resolve, reject) => {
      let hostKeyError: UserError | undefined;
      let settled = false;
      const fail = (f: ConnectFailure): void => {
        if (settled) return;
        settled = true;
        client.end();
        reject(f);
      };
      client.once('ready', () => {
        if (settled) return;
        settled = true;
        opts.log.append(target.host, `${new Date().toISOString()} connected to ${describeTarget(target)}`);
        resolve(new SshConnection(client, target, opts));
      });
      client.on('error', (err: Error & { code?: string; level?: string }) => {
        if (hostKeyError) fail({ kind: 'fatal', error: hostKeyError });
        else fail(classifyConnectError(target, err));
      });
      client.once('close', () => {
        if (hostKeyError) fail({ kind: 'fatal', error: hostKeyError });
        else fail(classifyConnectError(target, Object.assign(new Error('connection closed during handshake'), { code: 'ECONNRESET' })));
      });
      client.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        privateKey: opts.key.material(),
        agentForward: false,
        tryKeyboard: false,
        authHandler: ['publickey'],
        readyTimeout: opts.connectTimeoutMs,
        keepaliveInterval: 5000,
        keepaliveCountMax: 3,
        algorithms: { serverHostKey: algos as never },
        hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
          opts.hostKeys.decide(target.host, target.port, key).then(
            (d) => {
              if (!d.accept) hostKeyError = d.error;
              else if (d.recorded) opts.log.append(target.host, `${new Date().toISOString()} accepted new host key (recorded)`);
              verify(d.accept);
            },
            (e: unknown) => {
              hostKeyError = e instanceof UserError ? e : new UserError(String(e), { code: 'SshKnownHostsUnreadable' });
              verify(false);
            },
          );
        },
      });
    });
  }

  private wrap(command: string): string {
    return asRoot(this.target.user, command);
  }

  async run(command: string, opts: RunOptions = {}): Promise<ExecResult> {
    const log = this.opts.log;
    const host = this.address;
    const started = Date.now();
    const id = ++this.seq;
    log.append(host, `${new Date(started).toISOString()} [#${id}] $ ${opts.logAs ?? command}`);
    if (this.closedReason !== undefined) throw this.lost(this.closedReason);
    const timeoutMs = opts.timeoutMs ?? this.opts.commandTimeoutMs;
    const result = await new Promise<ExecResult>((resolve, reject) => {
      this.client.exec(this.wrap(command), (err: Error | undefined, ch: ClientChannel) => {
        if (err) {
          reject(this.lost(err.message));
          return;
        }
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let code: number | null = null;
        let signal: string | undefined;
        let done = false;
        const timer = setTimeout(() => {
          if (done) return;
          done = true;
          try {
            ch.signal('KILL');
          } catch {
            /* the server may not support signals; closing the channel is enough */
          }
          ch.close();
          reject(
            new UserError(`command on ${host} did not finish within ${Math.round(timeoutMs / 1000)} s: ${opts.logAs ?? command}`, {
              code: 'SshCommandTimeout',
              exitCode: 3,
              data: { host, command: opts.logAs ?? command, timeoutMs },
              suggestions: [`Check ${host} for a hung process or an overloaded system; the run log has the output so far.`],
            }),
          );
        }, timeoutMs);
        ch.on('data', (d: Buffer) => out.push(d));
        ch.stderr.on('data', (d: Buffer) => errOut.push(d));
        ch.on('exit', (c: number | null, sig?: string) => {
          code = c;
          if (sig) signal = sig;
        });
        ch.on('close', () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve({ code, ...(signal ? { signal } : {}), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errOut).toString('utf8') });
        });
        if (opts.stdin !== undefined) ch.end(opts.stdin);
        else ch.end();
      });
    });
    if (result.code === null && result.signal === undefined) await new Promise((r) => setTimeout(r, 50)); // let a connection close be noticed
    if (result.code === null && result.signal === undefined && this.closedReason !== undefined) {
      log.append(host, `  [#${id}] connection lost: ${this.closedReason}`);
      throw this.lost(this.closedReason);
    }
    const lines = [`  [#${id}] exit ${result.code ?? `signal ${result.signal}`} after ${Date.now() - started} ms`];
    if (result.stdout) lines.push(opts.quietStdout ? `  stdout: ${Buffer.byteLength(result.stdout)} bytes (not logged)` : indent('stdout', result.stdout));
    if (result.stderr) lines.push(indent('stderr', result.stderr));
    log.append(host, lines.join('\n'));
    return result;
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    // base64 keeps arbitrary bytes intact through the text channel.
    const r = await this.run(`if [ -e ${shQuote(path)} ]; then base64 < ${shQuote(path)}; else exit 44; fi`, { logAs: `read ${path}`, quietStdout: true });
    if (r.code === 44) return undefined;
    if (r.code !== 0) throw this.remoteFailure('read', path, r);
    return Buffer.from(r.stdout.replace(/\s+/g, ''), 'base64');
  }

  async writeFile(path: string, content: string | Buffer, mode: number): Promise<void> {
    const body = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const sha = createHash('sha256').update(body).digest('hex');
    const modeStr = mode.toString(8).padStart(4, '0');
    const p = shQuote(path);
    const script = [
      'set -e',
      `d=$(dirname ${p})`,
      'mkdir -p "$d"',
      `t=$(mktemp "$d/.bmlb-tmp.XXXXXX")`,
      `trap 'rm -f "$t"' EXIT`,
      'cat > "$t"',
      `chmod ${modeStr} "$t"`,
      `mv -f "$t" ${p}`,
    ].join('; ');
    const r = await this.run(script, { stdin: body, logAs: `write ${path} mode ${modeStr} (${body.length} bytes, sha256 ${sha})` });
    if (r.code !== 0) throw this.remoteFailure('write', path, r);
  }

  private remoteFailure(op: string, path: string, r: ExecResult): UserError {
    return new UserError(`cannot ${op} ${path} on ${this.address}: ${r.stderr.trim() || `exit ${r.code}`}`, {
      code: op === 'write' ? 'RemoteWriteFailed' : 'RemoteReadFailed',
      exitCode: 3,
      data: { host: this.address, path, code: r.code, stderr: r.stderr },
      suggestions: [`Check that ${path}'s directory on ${this.address} is writable by root and the disk is not full.`],
    });
  }

  private lost(reason: string): UserError {
    return new UserError(`SSH connection to ${this.address} was lost: ${reason}`, {
      code: 'SshConnectionLost',
      exitCode: 3,
      data: { host: this.address, reason },
      suggestions: [`Check that ${this.address} is still up and its sshd is running.`],
    });
  }

  close(): void {
    this.closedReason ??= 'closed by bmlb';
    this.client.end();
  }
}

function indent(label: string, text: string): string {
  return `  ${label}:\n` + text.replace(/\n$/, '').split('\n').map((l) => `    | ${l}`).join('\n');
}
