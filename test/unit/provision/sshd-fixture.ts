/**
 * A real OpenSSH server on 127.0.0.1:<free port> for the SSH layer's tests: temp host keys, a temp
 * client key in authorized_keys, key auth only. sshd needs its privilege-separation directory
 * /run/sshd, so it runs in a private mount namespace (unshare --mount) with a tmpfs on /run —
 * nothing is created on the host. Stopped by PID; the temp dir is removed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Sshd {
  port: number;
  dir: string;
  clientKeyPath: string;
  /** `ssh-ed25519 AAAA…` of each host key type, as in a .pub file (type and base64). */
  hostKeys: Record<string, { type: string; base64: string }>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function waitListening(port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`sshd did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function keygen(path: string, type: string): { type: string; base64: string } {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'bmlbt-provision', '-f', path], { stdio: 'ignore' });
  const [t, b] = readFileSync(path + '.pub', 'utf8').trim().split(/\s+/);
  return { type: t ?? '', base64: b ?? '' };
}

export interface SshdOptions {
  hostKeyTypes?: string[];
  port?: number;
  /** Start after this delay (tests of connect retries). */
  delayMs?: number;
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), 'bmlbt-provision-sshd-'));
  const port = opts.port ?? (await freePort());
  const hostKeys: Sshd['hostKeys'] = {};
  const hostKeyLines: string[] = [];
  for (const t of opts.hostKeyTypes ?? ['ed25519']) {
    const p = join(dir, `host_${t}`);
    hostKeys[t] = keygen(p, t);
    hostKeyLines.push(`HostKey ${p}`);
  }
  const clientKeyPath = join(dir, 'id_ed25519');
  keygen(clientKeyPath, 'ed25519');
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(clientKeyPath + '.pub'), { mode: 0o600 });
  const cfg = join(dir, 'sshd_config');
  writeFileSync(
    cfg,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      ...hostKeyLines,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'StrictModes no',
      'PidFile none',
      'LogLevel VERBOSE',
      'MaxSessions 50',
      'MaxStartups 50',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const launch = (): ChildProcess => {
    const c = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs bmlbt-sshd /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -e -f ${cfg}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let errText = '';
    c.stderr?.on('data', (d: Buffer) => {
      errText += d.toString();
      if (errText.length > 20000) errText = errText.slice(-10000);
    });
    c.on('exit', (code) => {
      if (code && code !== 0 && process.env.BMLBT_DEBUG) process.stderr.write(`sshd exited ${code}: ${errText}\n`);
    });
    return c;
  };
  let timer: NodeJS.Timeout | undefined;
  if (opts.delayMs) {
    timer = setTimeout(() => {
      child = launch();
    }, opts.delayMs);
  } else {
    child = launch();
    await waitListening(port, 5000);
  }
  return {
    port,
    dir,
    clientKeyPath,
    hostKeys,
    async stop() {
      if (timer) clearTimeout(timer);
      const c = child;
      if (c && c.exitCode === null && c.pid) {
        const gone = new Promise<void>((r) => c.once('exit', () => r()));
        process.kill(c.pid, 'SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
        if (c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
