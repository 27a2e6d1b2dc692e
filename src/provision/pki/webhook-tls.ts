/**
 * The config guard webhook's TLS: a per-cluster CA and a serving certificate for Service
 * bmlb-system/bmlb-webhook, made with openssl on the admin workstation (node cannot issue X.509),
 * stored only in Secret bmlb-system/bmlb-webhook-tls (type kubernetes.io/tls, plus ca.crt). The CA
 * key is thrown away after signing: renewal makes a new CA and the installer re-renders caBundle.
 *
 * Pure parts: the SANs, the Secret object, whether a stored pair can be kept, and the controller
 * Deployment's volume for the Secret. IO: `issueWebhookTls` runs openssl through a runner.
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NAMES } from '../../config/model.js';
import { UserError } from '../../errors.js';
import type { KubeObject } from '../../render/kube-object.js';
import { WEBHOOK_TLS } from '../../render/layout.js';

/** The Secret and where the controller sees it: rendered by src/render (controller Deployment). */
export const WEBHOOK_TLS_SECRET = WEBHOOK_TLS.secret;
export const WEBHOOK_CERT_DIR = WEBHOOK_TLS.certDir;
/** Validity of a new serving certificate, days. */
export const WEBHOOK_CERT_DAYS = 825;
/** A stored certificate expiring sooner than this is renewed, days. */
export const RENEW_BEFORE_DAYS = 30;

export interface WebhookTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** The names the API server may use for the webhook Service (it verifies `SVC.NS.svc`). */
export function webhookDnsNames(namespace: string = NAMES.namespace, service: string = NAMES.webhookService): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

export function webhookTlsSecret(tls: WebhookTls, namespace: string = NAMES.namespace): KubeObject {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name: WEBHOOK_TLS_SECRET,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'bmlb', 'app.kubernetes.io/part-of': 'bmlb' },
    },
    data: { 'tls.crt': b64(tls.certPem), 'tls.key': b64(tls.keyPem), 'ca.crt': b64(tls.caPem) },
  };
}

export type StoredTlsVerdict = { keep: true; tls: WebhookTls } | { keep: false; reason: string };

/** May the pair stored in the Secret be kept? (complete, parses, signed by its CA, right names, not near expiry). Pure. */
export function judgeStoredTls(secret: { data?: Record<string, string> } | undefined, now: Date, names: string[] = webhookDnsNames()): StoredTlsVerdict {
  if (!secret) return { keep: false, reason: 'no Secret yet' };
  const d = secret.data ?? {};
  const text = (k: string) => (d[k] ? Buffer.from(d[k], 'base64').toString('utf8') : undefined);
  const certPem = text('tls.crt');
  const keyPem = text('tls.key');
  const caPem = text('ca.crt');
  if (!certPem || !keyPem || !caPem) return { keep: false, reason: 'the Secret lacks tls.crt, tls.key or ca.crt' };
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    if (!cert.verify(ca.publicKey)) return { keep: false, reason: 'tls.crt is not signed by ca.crt' };
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return { keep: false, reason: 'tls.key does not match tls.crt' };
    const sans = (cert.subjectAltName ?? '').split(',').map((s) => s.trim());
    const missing = names.filter((n) => !sans.includes(`DNS:${n}`));
    if (missing.length) return { keep: false, reason: `the certificate does not name ${missing.join(', ')}` };
    const renewAt = new Date(cert.validTo).getTime() - RENEW_BEFORE_DAYS * 86_400_000;
    if (now.getTime() >= renewAt) return { keep: false, reason: `the certificate expires ${cert.validTo}` };
    if (now.getTime() < new Date(cert.validFrom).getTime() - 300_000) return { keep: false, reason: `the certificate is valid only from ${cert.validFrom}` };
  } catch (e) {
    return { keep: false, reason: `the stored certificate cannot be read: ${(e as Error).message}` };
  }
  return { keep: true, tls: { caPem, certPem, keyPem } };
}

/** Runs a program, resolving with its exit code and stderr (the IO edge; tests pass the real one). */
export type Runner = (argv: string[]) => Promise<{ code: number; stderr: string }>;

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A fresh CA and serving certificate for the webhook Service, made with openssl in a temp dir (removed after). */
export async function issueWebhookTls(run: Runner, clusterName: string, names: string[] = webhookDnsNames()): Promise<WebhookTls> {
  const dir = await mkdtemp(join(tmpdir(), 'bmlb-webhook-pki-'));
  const must = async (argv: string[], what: string) => {
    const r = await run(argv);
    if (r.code !== 0) {
      throw new UserError(`openssl failed while ${what}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`, {
        code: 'WebhookCertFailed',
        suggestions: ['Install openssl on this workstation (setup.sh does), then rerun.'],
      });
    }
  };
  try {
    const f = (n: string) => join(dir, n);
    await must(['openssl', 'req', '-x509', ...EC, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', String(WEBHOOK_CERT_DAYS + 1),
      '-subj', `/CN=bmlb webhook CA (${clusterName})`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], 'creating the webhook CA');
    await must(['openssl', 'req', '-new', ...EC, '-keyout', f('tls.key'), '-out', f('tls.csr'), '-subj', `/CN=${names[2] ?? names[0]}`], 'creating the webhook key');
    await writeFile(f('tls.ext'), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
    await must(['openssl', 'x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', String(WEBHOOK_CERT_DAYS), '-extfile', f('tls.ext'), '-out', f('tls.crt')], 'signing the webhook certificate');
    const [caPem, certPem, keyPem] = await Promise.all([readFile(f('ca.crt'), 'utf8'), readFile(f('tls.crt'), 'utf8'), readFile(f('tls.key'), 'utf8')]);
    return { caPem, certPem, keyPem };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface PodSpecLike {
  volumes?: { name: string }[];
  containers?: { name: string; args?: string[]; volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] }[];
}

