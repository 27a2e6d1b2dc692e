/** `bmlb lab apiserver --config FILE` as the lab runs it, and the config file's validation. */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validateConfig } from '../../../src/lab/apiserver/config.js';
import { isUserError } from '../../../src/errors.js';
import { createTestCa, issueServingCert } from '../../helpers/lab-api.js';
import { waitFor } from './fixture.js';

const root = new URL('../../../', import.meta.url).pathname;

function get(url: string, ca: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('bmlb lab apiserver', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bmlbt-labapi-cmd-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('GIVEN a config file WHEN the command runs THEN it serves HTTPS with the configured users, logs each request, and stops cleanly on SIGTERM', async (t) => {
    const ca = await createTestCa(dir);
    const cert = await issueServingCert(ca, dir, 'apiserver', ['IP:127.0.0.1']);
    const logFile = join(dir, 'apiserver.log');
    const cfg = join(dir, 'apiserver.json');
    await writeFile(cfg, JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 }, tls: { certFile: cert.certFile, keyFile: cert.keyFile, caFile: ca.certFile },
      users: [{ token: 'installer-token-123', user: 'bmlb-installer', groups: ['system:masters'] }],
      serviceCIDR: '203.0.113.0/24', nodePortRange: '30000-32767', logFile,
    }));
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bin', 'dev.js'), 'lab', 'apiserver', '--config', cfg], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    const url = await waitFor('listening line', () => /listening on (https:\/\/\S+)/.exec(out)?.[1], 60_000);
    assert.equal((await get(`${url}/readyz`, ca.pem)).status, 200, 'readyz is public, as the lab probes it without a token');
    const ns = await get(`${url}/api/v1/namespaces`, ca.pem, 'installer-token-123');
    assert.equal(ns.status, 200);
    assert.ok(JSON.parse(ns.body).items.some((n: { metadata: { name: string } }) => n.metadata.name === 'kube-system'));
    assert.equal((await get(`${url}/api/v1/namespaces`, ca.pem, 'wrong-token-0000')).status, 401);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const log = await readFile(logFile, 'utf8');
    assert.match(log, /GET \/api\/v1\/namespaces user=bmlb-installer status=200 ms=\d+/);
    assert.match(log, /GET \/api\/v1\/namespaces user=- status=401 ms=\d+/);
  });
});

describe('lab API server config validation', () => {
  const good = { listen: { host: '127.0.0.1', port: 6444 }, tls: { certFile: 'c', keyFile: 'k' }, users: [{ token: '0123456789', user: 'u' }],
    serviceCIDR: '203.0.113.0/24', nodePortRange: '30000-32767' };
  const fails = (over: object, field: RegExp) => {
    try {
      validateConfig({ ...good, ...over });
    } catch (e) {
      assert.ok(isUserError(e));
      assert.equal(e.code, 'LabApiConfigInvalid');
      assert.match(e.message, field);
      return;
    }
    assert.fail('expected a UserError');
  };
  it('GIVEN a valid config WHEN validated THEN it is accepted, including a dual-stack serviceCIDR', () => {
    assert.equal(validateConfig(good).listen.port, 6444);
    validateConfig({ ...good, serviceCIDR: '203.0.113.0/24,2001:db8:1::/112' });
  });
  it('GIVEN each kind of bad field WHEN validated THEN the error names the field', () => {
    fails({ listen: { host: '127.0.0.1' } }, /listen/);
    fails({ tls: {} }, /tls/);
    fails({ users: [{ token: 'short', user: 'u' }] }, /users\[0\]\.token/);
    fails({ serviceCIDR: '203.0.113.1/24' }, /serviceCIDR.*host bits/);
    fails({ serviceCIDR: '203.0.113.0/24,198.51.100.0/24' }, /two CIDRs of one family/);
    fails({ nodePortRange: '32767-30000' }, /nodePortRange/);
  });
});
