/** The lab PKI, checked by openssl itself (the real consumer of the files). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { systemLabIo } from '../../../src/lab/lab-io.js';
import { planLabLayout } from '../../../src/lab/lab-layout.js';
import { createLabPki } from '../../../src/lab/pki.js';

describe('lab PKI', () => {
  const base = mkdtempSync(join(tmpdir(), 'bmlbt-lab-pki-'));
  after(() => rmSync(base, { recursive: true, force: true }));

  it('GIVEN a two-control-plane lab WHEN the PKI is made THEN the serving certificate verifies against the CA and names both nodes and the VIP', async () => {
    const layout = planLabLayout({ name: 'pki', nodes: 3, lbNodes: 1, ipv6: false, baseDir: base });
    await createLabPki(systemLabIo, layout);
    const v = await systemLabIo.run(['openssl', 'verify', '-CAfile', layout.paths.caCert, '-purpose', 'sslserver', layout.paths.apiServerCert]);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    const text = await systemLabIo.run(['openssl', 'x509', '-noout', '-ext', 'subjectAltName', '-in', layout.paths.apiServerCert]);
    for (const san of ['IP Address:198.51.100.11', 'IP Address:198.51.100.12', 'IP Address:198.51.100.10', 'IP Address:127.0.0.1', 'DNS:kubernetes.default.svc']) {
      assert.ok(text.stdout.includes(san), `${san} in ${text.stdout}`);
    }
    const key = await systemLabIo.run(['openssl', 'pkey', '-in', layout.paths.apiServerKey, '-noout']);
    assert.equal(key.code, 0);
  });
});
