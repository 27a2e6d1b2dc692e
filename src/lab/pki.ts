/**
 * The lab's PKI, made with openssl: a CA and the lab API server's serving certificate (EC P-256,
 * fast to generate), plus random bearer tokens for the lab's users.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabIo } from './lab-io.js';
import { mustRun } from './lab-io.js';
import type { LabLayout } from './lab-layout.js';
import { apiServerSans, renderServerCertExtensions } from './lab-files.js';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function newToken(): string {
  return randomBytes(24).toString('hex');
}

export async function createLabPki(io: LabIo, layout: LabLayout): Promise<void> {
  const p = layout.paths;
  mkdirSync(p.pkiDir, { recursive: true, mode: 0o700 });
  await mustRun(
    io,
    ['openssl', 'req', '-x509', ...EC, '-keyout', p.caKey, '-out', p.caCert, '-days', '3650', '-subj', `/CN=bmlb lab ${layout.name} CA`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    'creating the lab CA',
  );
  const csr = join(p.pkiDir, 'apiserver.csr');
  const ext = join(p.pkiDir, 'apiserver.ext');
  writeFileSync(ext, renderServerCertExtensions(apiServerSans(layout)));
  await mustRun(io, ['openssl', 'req', '-new', ...EC, '-keyout', p.apiServerKey, '-out', csr, '-subj', '/CN=kube-apiserver'], 'creating the API server key');
  await mustRun(
    io,
    ['openssl', 'x509', '-req', '-in', csr, '-CA', p.caCert, '-CAkey', p.caKey, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', '825', '-extfile', ext, '-out', p.apiServerCert],
    'signing the API server certificate',
  );
  rmSync(csr, { force: true });
  chmodSync(p.caKey, 0o600);
  chmodSync(p.apiServerKey, 0o600);
}
