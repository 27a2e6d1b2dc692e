/**
 * The SSH layer against a real sshd on 127.0.0.1 (see sshd-fixture.ts): strict host keys (unknown,
 * changed, hashed, [host]:port, accept-new), commands (exit codes, stderr, stdin, timeouts),
 * atomic writes with modes, reads, connection reuse, transient-only retries, and the run log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { HostKeyStore } from '../../../src/provision/ssh/host-key-store.js';
import { PrivateKey } from '../../../src/provision/ssh/private-key.js';
import { SshPool } from '../../../src/provision/ssh/ssh-pool.js';
import { openRunLog } from '../../../src/provision/run-log.js';
import { UserError } from '../../../src/errors.js';
import { freePort, startSshd, type Sshd } from './sshd-fixture.js';

function fingerprintOf(base64: string): string {
  return 'SHA256:' + createHash('sha256').update(Buffer.from(base64, 'base64')).digest('base64').replace(/=+$/, '');
}

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<UserError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

describe('SSH layer against a real sshd on 127.0.0.1', () => {
  let sshd: Sshd;
  let work: string;
  const pools: SshPool[] = [];

  before(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519', 'ecdsa'] });
    work = mkdtempSync(join(tmpdir(), 'bmlbt-provision-'));
  });
  after(async () => {
    for (const p of pools) p.close();
    await new Promise((r) => setTimeout(r, 100));
    await sshd.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const name = (): string => `[127.0.0.1]:${sshd.port}`;

  function pool(opts: { files: string[]; workspaceFile?: string; acceptNew?: boolean; logDir?: string; attempts?: number; port?: number }): { pool: SshPool; logDir: string } {
    const logRoot = opts.logDir ?? mkdtempSync(join(work, 'ws-'));
    const log = openRunLog(logRoot, 'test');
    const p = new SshPool({
      key: PrivateKey.load(sshd.clientKeyPath),
      hostKeys: new HostKeyStore({ files: opts.files, workspaceFile: opts.workspaceFile ?? join(logRoot, '.ssh', 'known_hosts'), acceptNew: opts.acceptNew ?? false }),
      log,
      user: 'root',
      port: opts.port ?? sshd.port,
      attempts: opts.attempts ?? 1,
      backoffMs: 50,
      connectTimeoutMs: 5000,
      commandTimeoutMs: 10_000,
    });
    pools.push(p);
    return { pool: p, logDir: log.dir ?? '' };
  }

  function knownHostsFile(lines: string[]): string {
    const f = join(work, `kh-${randomBytes(4).toString('hex')}`);
    writeFileSync(f, lines.join('\n') + '\n');
    return f;
  }

  it('GIVEN no known_hosts entry WHEN connecting THEN it is refused with SshHostKeyUnknown naming the SHA256 fingerprint and --accept-new-host-keys', async () => {
    const { pool: p } = pool({ files: [knownHostsFile(['# empty'])] });
    const err = await rejectsWithCode(p.get('127.0.0.1'), 'SshHostKeyUnknown');
    const ed = sshd.hostKeys.ed25519;
    assert.ok(ed);
    // ssh2 prefers ed25519 when nothing is known: the message names that key's fingerprint.
    assert.match(err.message, new RegExp(fingerprintOf(ed.base64).replace(/[+/]/g, '\\$&')));
    assert.ok(err.suggestions.some((s) => s.includes('--accept-new-host-keys')));
    assert.equal(err.exitCode, 3);
  });

  it('GIVEN a known_hosts line with a different key for [host]:port WHEN connecting THEN it is refused with SshHostKeyChanged, even with accept-new', async () => {
    const other = join(work, 'other_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other], { stdio: 'ignore' });
    const otherB64 = readFileSync(other + '.pub', 'utf8').split(/\s+/)[1];
    const ws = join(work, 'changed-ws-known_hosts');
    const { pool: p } = pool({ files: [knownHostsFile([`${name()} ssh-ed25519 ${otherB64}`])], workspaceFile: ws, acceptNew: true });
    const err = await rejectsWithCode(p.get('127.0.0.1'), 'SshHostKeyChanged');
    assert.match(err.message, /CHANGED/);
    assert.equal(existsSync(ws), false, 'a changed key must never be recorded');
  });

  it('GIVEN accept-new WHEN connecting to an unknown host THEN the key is recorded in the workspace known_hosts and a second, strict run accepts it', async () => {
    const ws = join(work, 'acc', '.ssh', 'known_hosts');
    const { pool: p1 } = pool({ files: [join(work, 'missing-file'), ws], workspaceFile: ws, acceptNew: true });
    const shell = await p1.get('127.0.0.1');
    assert.equal((await shell.run('true')).code, 0);
    const text = readFileSync(ws, 'utf8');
    assert.match(text, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `, 'm'));
    assert.equal(statSync(ws).mode & 0o777, 0o600);
    p1.close();
    const { pool: p2 } = pool({ files: [ws], acceptNew: false });
    assert.equal((await (await p2.get('127.0.0.1')).run('echo ok')).stdout, 'ok\n');
  });

  it('GIVEN a hashed (|1|salt|hash) known_hosts entry WHEN connecting THEN the host is recognised', async () => {
    const ed = sshd.hostKeys.ed25519;
    assert.ok(ed);
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update(name()).digest('base64');
    const { pool: p } = pool({ files: [knownHostsFile([`|1|${salt.toString('base64')}|${hash} ssh-ed25519 ${ed.base64}`])] });
    assert.equal((await (await p.get('127.0.0.1')).run('echo hashed')).stdout, 'hashed\n');
  });

  it('GIVEN ssh-keygen -H hashed the file WHEN connecting THEN the host is recognised (real OpenSSH hashing)', async () => {
    const ed = sshd.hostKeys.ed25519;
    assert.ok(ed);
    const f = knownHostsFile([`${name()} ssh-ed25519 ${ed.base64}`]);
    execFileSync('ssh-keygen', ['-H', '-f', f], { stdio: 'ignore' });
    rmSync(f + '.old', { force: true });
    assert.match(readFileSync(f, 'utf8'), /^\|1\|/);
    const { pool: p } = pool({ files: [f] });
    assert.equal((await (await p.get('127.0.0.1')).run('true')).code, 0);
  });

  it('GIVEN only the ecdsa host key is recorded WHEN connecting THEN ecdsa is negotiated first and accepted (no false "changed")', async () => {
    const ec = sshd.hostKeys.ecdsa;
    assert.ok(ec);
    const { pool: p } = pool({ files: [knownHostsFile([`${name()} ${ec.type} ${ec.base64}`])] });
    assert.equal((await (await p.get('127.0.0.1')).run('true')).code, 0);
  });

  it('GIVEN an entry for the host on port 22 only WHEN sshd listens on another port THEN the key is unknown (ports are part of the name)', async () => {
    const ed = sshd.hostKeys.ed25519;
    assert.ok(ed);
    const { pool: p } = pool({ files: [knownHostsFile([`127.0.0.1 ssh-ed25519 ${ed.base64}`])] });
    await rejectsWithCode(p.get('127.0.0.1'), 'SshHostKeyUnknown');
  });

  describe('with a trusted connection', () => {
    let p: SshPool;
    let logDir: string;
    before(() => {
      const ed = sshd.hostKeys.ed25519;
      assert.ok(ed);
      ({ pool: p, logDir } = pool({ files: [knownHostsFile([`${name()} ssh-ed25519 ${ed.base64}`])] }));
    });

    it('GIVEN a failing command WHEN run THEN its exit code, stdout and stderr are surfaced, not thrown', async () => {
      const sh = await p.get('127.0.0.1');
      const r = await sh.run('echo out; echo err >&2; exit 7');
      assert.deepEqual(r, { code: 7, stdout: 'out\n', stderr: 'err\n' });
    });

    it('GIVEN stdin WHEN run THEN the command reads it', async () => {
      const sh = await p.get('127.0.0.1');
      const r = await sh.run('wc -c', { stdin: 'x'.repeat(100_000) });
      assert.equal(r.stdout.trim(), '100000');
    });

    it('GIVEN the same node twice WHEN get is called THEN the connection is reused', async () => {
      const a = await p.get('127.0.0.1');
      const b = await p.get('127.0.0.1');
      assert.equal(a, b);
      const [x, y] = await Promise.all([a.run('echo $PPID'), b.run('echo $PPID')]);
      assert.equal(x.code, 0);
      assert.equal(y.code, 0);
    });

    it('GIVEN a command that hangs WHEN its timeout passes THEN SshCommandTimeout names the node and command', async () => {
      const sh = await p.get('127.0.0.1');
      const t0 = Date.now();
      const err = await rejectsWithCode(sh.run('sleep 30', { timeoutMs: 300 }), 'SshCommandTimeout');
      assert.ok(Date.now() - t0 < 5000);
      assert.match(err.message, /127\.0\.0\.1.*sleep 30/);
      // the connection is still usable afterwards
      assert.equal((await sh.run('echo still')).stdout, 'still\n');
    });

    it('GIVEN the connection dies during a command WHEN run THEN SshConnectionLost names the node, and the pool reconnects on the next get', async () => {
      const sh = await p.get('127.0.0.1');
      // $PPID of the command is sshd's session process for this connection.
      await rejectsWithCode(sh.run('kill -9 $PPID; sleep 5'), 'SshConnectionLost');
      const again = await p.get('127.0.0.1');
      assert.notEqual(again, sh);
      assert.equal((await again.run('echo back')).stdout, 'back\n');
    });

    it('GIVEN content and a mode WHEN writeFile THEN the file appears atomically with that mode and readFile returns the same bytes', async () => {
      const sh = await p.get('127.0.0.1');
      const dir = join(work, 'remote', 'deep', 'dir');
      const f = join(dir, 'file.conf');
      const body = Buffer.concat([Buffer.from("line with 'quotes' and $dollar\n"), randomBytes(300)]);
      await sh.writeFile(f, body, 0o640);
      assert.deepEqual(readFileSync(f), body);
      assert.equal(statSync(f).mode & 0o777, 0o640);
      assert.deepEqual(readdirSync(dir), ['file.conf'], 'no temp file left behind');
      assert.deepEqual(await sh.readFile(f), body);
      assert.equal(await sh.readFile(join(dir, 'absent')), undefined);
      await sh.writeFile(f, 'second\n', 0o600);
      assert.equal(readFileSync(f, 'utf8'), 'second\n');
      assert.equal(statSync(f).mode & 0o777, 0o600);
    });

    it('GIVEN an unwritable target WHEN writeFile THEN RemoteWriteFailed carries the remote stderr and the old file is intact', async () => {
      const sh = await p.get('127.0.0.1');
      const f = join(work, 'blocker');
      writeFileSync(f, 'a file, not a directory');
      const err = await rejectsWithCode(sh.writeFile(join(f, 'x.conf'), 'data', 0o644), 'RemoteWriteFailed');
      assert.match(err.message, /Not a directory|File exists/);
      assert.equal(readFileSync(f, 'utf8'), 'a file, not a directory');
    });

    it('GIVEN commands ran WHEN reading the run log THEN every command, exit code and output is there, and the private key is not', async () => {
      const sh = await p.get('127.0.0.1');
      await sh.run('echo logged-marker; echo err-marker >&2; exit 3');
      const text = readFileSync(join(logDir, '127.0.0.1.log'), 'utf8');
      assert.match(text, /\$ echo logged-marker; echo err-marker >&2; exit 3/);
      assert.match(text, /exit 3 after/);
      assert.match(text, /\| logged-marker/);
      assert.match(text, /\| err-marker/);
      assert.match(text, /write .*file\.conf mode 0640/);
      const keyBody = readFileSync(sshd.clientKeyPath, 'utf8').split('\n').slice(1, 3).join('');
      for (const f of readdirSync(logDir)) {
        const t = readFileSync(join(logDir, f), 'utf8');
        assert.ok(!t.includes(keyBody.slice(0, 40)), `private key material in ${f}`);
        assert.ok(!t.includes('PRIVATE KEY'), `private key header in ${f}`);
      }
    });
  });

  it('GIVEN nothing listens WHEN connecting with 3 attempts THEN it retries (ECONNREFUSED is transient) and fails with SshConnectFailed', async () => {
    const port = await freePort();
    const { pool: p, logDir } = pool({ files: [], attempts: 3, port });
    const err = await rejectsWithCode(p.get('127.0.0.1'), 'SshConnectFailed');
    assert.match(err.message, /ECONNREFUSED/);
    const log = readFileSync(join(logDir, '127.0.0.1.log'), 'utf8');
    assert.equal(log.match(/connect attempt \d\/3 failed/g)?.length, 3);
  });

  it('GIVEN sshd starts late WHEN connecting with retries THEN the connection succeeds after a refused attempt', async () => {
    const port = await freePort();
    const late = await startSshd({ port, delayMs: 400 });
    try {
      const ed = late.hostKeys.ed25519;
      assert.ok(ed);
      const log = openRunLog(mkdtempSync(join(work, 'late-')), 'test');
      const p = new SshPool({
        key: PrivateKey.load(late.clientKeyPath),
        hostKeys: new HostKeyStore({ files: [knownHostsFile([`[127.0.0.1]:${port} ssh-ed25519 ${ed.base64}`])], workspaceFile: join(work, 'unused'), acceptNew: false }),
        log,
        user: 'root',
        port,
        attempts: 7,
        backoffMs: 200,
      });
      pools.push(p);
      assert.equal((await (await p.get('127.0.0.1')).run('echo late')).stdout, 'late\n');
      assert.match(readFileSync(join(log.dir ?? '', '127.0.0.1.log'), 'utf8'), /connect attempt 1\/7 failed: .*ECONNREFUSED/);
      p.close();
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await late.stop();
    }
  });

  it('GIVEN a key that is not authorized WHEN connecting THEN SshAuthFailed without retries', async () => {
    const ed = sshd.hostKeys.ed25519;
    assert.ok(ed);
    const stranger = join(work, 'stranger');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger], { stdio: 'ignore' });
    const log = openRunLog(mkdtempSync(join(work, 'auth-')), 'test');
    const p = new SshPool({
      key: PrivateKey.load(stranger),
      hostKeys: new HostKeyStore({ files: [knownHostsFile([`${name()} ssh-ed25519 ${ed.base64}`])], workspaceFile: join(work, 'unused'), acceptNew: false }),
      log,
      user: 'root',
      port: sshd.port,
      attempts: 3,
      backoffMs: 50,
    });
    pools.push(p);
    await rejectsWithCode(p.get('127.0.0.1'), 'SshAuthFailed');
    assert.equal(readFileSync(join(log.dir ?? '', '127.0.0.1.log'), 'utf8').match(/connect attempt/g)?.length, 1);
  });

  it('GIVEN a passphrase-protected key WHEN loading it THEN SshKeyEncrypted says to use an unencrypted key', () => {
    const enc = join(work, 'enc');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret-pass', '-f', enc], { stdio: 'ignore' });
    assert.throws(() => PrivateKey.load(enc), (e: unknown) => e instanceof UserError && e.code === 'SshKeyEncrypted');
    assert.throws(() => PrivateKey.load(join(work, 'nope')), (e: unknown) => e instanceof UserError && e.code === 'SshKeyUnreadable');
    const k = PrivateKey.load(sshd.clientKeyPath);
    assert.equal(String(k), `PrivateKey(${sshd.clientKeyPath})`);
    assert.ok(!JSON.stringify({ k }).includes('PRIVATE'));
  });
});
