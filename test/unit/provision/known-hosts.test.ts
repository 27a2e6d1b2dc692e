/** known_hosts parsing and verdicts, pure (the real-sshd cases are in ssh.test.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatKnownHostsLine,
  hostFieldMatches,
  hostKeyAlgorithmsFor,
  keyTypeOfBlob,
  knownHostsName,
  knownKeyTypes,
  parseKnownHosts,
  sha256Fingerprint,
  verifyHostKey,
} from '../../../src/provision/ssh/known-hosts.js';
import { hostKeyAlgorithmOrder } from '../../../src/provision/ssh/ssh-connection.js';
import { HostKeyStore } from '../../../src/provision/ssh/host-key-store.js';

/** A real key made by ssh-keygen, its blob and ssh-keygen's own fingerprint of it. */
function realKey(type: string): { blob: Buffer; b64: string; type: string; fp: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bmlbt-provision-kh-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', join(dir, 'k')], { stdio: 'ignore' });
    const [t, b64] = readFileSync(join(dir, 'k.pub'), 'utf8').trim().split(/\s+/);
    const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'k.pub')], { encoding: 'utf8' }).split(/\s+/)[1] ?? '';
    return { blob: Buffer.from(b64 ?? '', 'base64'), b64: b64 ?? '', type: t ?? '', fp };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('known_hosts', () => {
  const ed = realKey('ed25519');
  const ed2 = realKey('ed25519');
  const ec = realKey('ecdsa');

  it('GIVEN a key WHEN fingerprinted THEN it equals ssh-keygen -l (SHA256:unpadded base64) and its type is read from the blob', () => {
    assert.equal(sha256Fingerprint(ed.blob), ed.fp);
    assert.equal(sha256Fingerprint(ec.blob), ec.fp);
    assert.equal(keyTypeOfBlob(ed.blob), 'ssh-ed25519');
    assert.equal(keyTypeOfBlob(ec.blob), 'ecdsa-sha2-nistp256');
    assert.equal(keyTypeOfBlob(Buffer.from([0, 0])), undefined);
  });

  it('GIVEN comments, blank, markers and broken lines WHEN parsed THEN entries carry file and line; broken lines are reported, not fatal', () => {
    const text = ['# comment', '', `10.0.0.1 ssh-ed25519 ${ed.b64}`, `@revoked * ssh-ed25519 ${ed2.b64}`, '@bogus x y z', 'onlyhost', `h ssh-ed25519 not_base64!`, `@cert-authority *.lab ssh-ed25519 ${ed.b64}`].join('\n');
    const p = parseKnownHosts(text, '/f');
    assert.deepEqual(p.entries.map((e) => [e.line, e.marker ?? '', e.hosts]), [[3, '', '10.0.0.1'], [4, 'revoked', '*'], [8, 'cert-authority', '*.lab']]);
    assert.deepEqual(p.invalid.map((i) => i.line), [5, 6, 7]);
  });

  it('GIVEN host patterns WHEN matched THEN lists, wildcards, ? and negation behave as in OpenSSH', () => {
    assert.equal(hostFieldMatches('a,198.51.100.21,b', '198.51.100.21'), true);
    assert.equal(hostFieldMatches('198.51.100.*', '198.51.100.21'), true);
    assert.equal(hostFieldMatches('198.51.100.2?', '198.51.100.21'), true);
    assert.equal(hostFieldMatches('198.51.100.2?', '198.51.100.210'), false);
    assert.equal(hostFieldMatches('198.51.100.*,!198.51.100.21', '198.51.100.21'), false);
    assert.equal(hostFieldMatches('LB1.Example', 'lb1.example'), true);
    assert.equal(hostFieldMatches('198.51.100.21', '[198.51.100.21]:2222'), false);
    assert.equal(hostFieldMatches('[198.51.100.21]:2222', '[198.51.100.21]:2222'), true);
    assert.equal(knownHostsName('198.51.100.21', 22), '198.51.100.21');
    assert.equal(knownHostsName('2001:db8::1', 2222), '[2001:db8::1]:2222');
  });

  it('GIVEN a hashed entry WHEN matched THEN only the hashed name matches', () => {
    const salt = randomBytes(20);
    const field = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('198.51.100.22').digest('base64')}`;
    assert.equal(hostFieldMatches(field, '198.51.100.22'), true);
    assert.equal(hostFieldMatches(field, '198.51.100.23'), false);
    assert.equal(hostFieldMatches('|1|garbage', '198.51.100.22'), false);
  });

  it('GIVEN entries WHEN a key is verified THEN known / unknown / changed / revoked', () => {
    const entries = parseKnownHosts([`198.51.100.21 ssh-ed25519 ${ed.b64}`, `198.51.100.22 ${ec.type} ${ec.b64}`, `@revoked * ssh-ed25519 ${ed2.b64}`].join('\n'), '/kh').entries;
    assert.equal(verifyHostKey(entries, '198.51.100.21', ed.blob).status, 'known');
    assert.equal(verifyHostKey(entries, '198.51.100.23', ed.blob).status, 'unknown');
    const changed = verifyHostKey(entries, '198.51.100.22', ed.blob);
    assert.equal(changed.status, 'changed', 'only an ecdsa key is recorded: a different key type is a change');
    assert.equal(changed.status === 'changed' && changed.expected[0]?.line, 2);
    assert.equal(verifyHostKey(entries, '198.51.100.21', ed2.blob).status, 'revoked', 'revocation wins over everything');
  });

  it('GIVEN recorded key types WHEN negotiating THEN those come first (RSA as its SHA-2 algorithms), the rest after', () => {
    const entries = parseKnownHosts([`h ${ec.type} ${ec.b64}`, `h ssh-rsa AAAA`, `other ssh-ed25519 ${ed.b64}`].join('\n'), '/kh').entries;
    assert.deepEqual(knownKeyTypes(entries, 'h'), ['ecdsa-sha2-nistp256', 'ssh-rsa']);
    assert.deepEqual(hostKeyAlgorithmsFor('ssh-rsa'), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    const order = hostKeyAlgorithmOrder(knownKeyTypes(entries, 'h'));
    assert.deepEqual(order.slice(0, 4), ['ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    assert.ok(order.includes('ssh-ed25519'));
    assert.equal(new Set(order).size, order.length);
  });

  it('GIVEN accept-new WHEN two nodes are accepted at once THEN both are recorded once, later lookups know them, and a different key for one is a change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bmlbt-provision-kh-'));
    try {
      const ws = join(dir, 'ws', '.ssh', 'known_hosts');
      const store = new HostKeyStore({ files: [join(dir, 'absent'), ws], workspaceFile: ws, acceptNew: true });
      const [d1, d2] = await Promise.all([store.decide('198.51.100.21', 22, ed.blob), store.decide('198.51.100.22', 22, ec.blob)]);
      assert.deepEqual([d1, d2], [{ accept: true, recorded: true }, { accept: true, recorded: true }]);
      assert.deepEqual(await store.decide('198.51.100.21', 22, ed.blob), { accept: true, recorded: false });
      const lines = readFileSync(ws, 'utf8').trim().split('\n').sort();
      assert.deepEqual(lines, [`198.51.100.21 ssh-ed25519 ${ed.b64}`, `198.51.100.22 ${ec.type} ${ec.b64}`]);
      const changed = await store.decide('198.51.100.21', 22, ed2.blob);
      assert.equal(changed.accept, false);
      assert.equal(!changed.accept && changed.error.code, 'SshHostKeyChanged');
      assert.equal(readFileSync(ws, 'utf8').trim().split('\n').length, 2, 'nothing recorded for a changed key');
      // A fresh strict store reads what was recorded.
      const strict = new HostKeyStore({ files: [ws], workspaceFile: ws, acceptNew: false });
      assert.deepEqual(await strict.decide('198.51.100.22', 22, ec.blob), { accept: true, recorded: false });
      const unknown = await strict.decide('198.51.100.23', 22, ed.blob);
      assert.equal(!unknown.accept && unknown.error.code, 'SshHostKeyUnknown');
      assert.ok(!unknown.accept && unknown.error.message.includes(ed.fp));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('GIVEN an accepted key WHEN its line is formatted THEN ssh-keygen reads it back with the same fingerprint', () => {
    const line = formatKnownHostsLine('[198.51.100.21]:2222', ed.blob);
    assert.equal(line, `[198.51.100.21]:2222 ssh-ed25519 ${ed.b64}`);
    const dir = mkdtempSync(join(tmpdir(), 'bmlbt-provision-kh-'));
    try {
      writeFileSync(join(dir, 'known_hosts'), line + '\n');
      const out = execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'known_hosts')], { encoding: 'utf8' });
      assert.ok(out.includes(ed.fp), out);
      const found = execFileSync('ssh-keygen', ['-F', '[198.51.100.21]:2222', '-f', join(dir, 'known_hosts')], { encoding: 'utf8' });
      assert.ok(found.includes(ed.b64));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
