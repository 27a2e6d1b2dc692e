import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueWebhookTls, judgeStoredTls, webhookDnsNames, webhookTlsSecret, WEBHOOK_CERT_DIR, type WebhookTls } from '../../../src/provision/pki/webhook-tls.js';
import { guardedManifests, runProgram } from '../../../src/provision/update/ownership-install.js';
import { startWebhookServer } from '../../../src/controller/webhook/webhook-server.js';
import { labCluster } from './fixtures.js';

describe('webhook TLS (openssl) and the HTTPS server', { timeout: 60_000 }, () => {
  let tls: WebhookTls;
  before(async () => {
    tls = await issueWebhookTls(runProgram, 'lab');
  });

  it('GIVEN a new pair THEN the certificate names the Service, is signed by the CA and is a server certificate', () => {
    const cert = new X509Certificate(tls.certPem);
    const ca = new X509Certificate(tls.caPem);
    assert.ok(cert.verify(ca.publicKey));
    for (const n of webhookDnsNames()) assert.ok(cert.subjectAltName?.includes(`DNS:${n}`), n);
    assert.ok(ca.ca);
    assert.ok(!cert.ca);
  });

  it('GIVEN the stored Secret WHEN judged THEN kept; near expiry, wrong CA, mismatched key or missing keys THEN renewed with the reason', () => {
    const secret = webhookTlsSecret(tls) as unknown as { data: Record<string, string> };
    const now = new Date();
    assert.equal(judgeStoredTls(secret, now).keep, true);
    const late = new Date(Date.now() + 800 * 86_400_000);
    const v = judgeStoredTls(secret, late);
    assert.equal(v.keep, false);
    if (!v.keep) assert.match(v.reason, /expires/);
    const noKey = { data: { ...secret.data } };
    delete noKey.data['tls.key'];
    assert.equal(judgeStoredTls(noKey, now).keep, false);
    assert.equal(judgeStoredTls(undefined, now).keep, false);
    const otherCa = { data: { ...secret.data, 'ca.crt': Buffer.from(tls.certPem).toString('base64') } };
    const w = judgeStoredTls(otherCa, now);
    assert.equal(w.keep, false);
    const otherName = judgeStoredTls(secret, now, ['elsewhere.example.svc']);
    assert.equal(otherName.keep, false);
    if (!otherName.keep) assert.match(otherName.reason, /does not name elsewhere/);
  });

  it('GIVEN rendered manifests with the webhook THEN only the controller Deployment gets the Secret volume, mount and flag', () => {
    const { manifests } = guardedManifests(labCluster(), { installerUsername: 'bmlb-installer', webhookCA: tls.caPem });
    const dep = manifests.find((m) => m.kind === 'Deployment') as any;
    const pod = dep.spec.template.spec;
    assert.deepEqual(pod.volumes.find((v: any) => v.name === 'webhook-tls').secret.secretName, 'bmlb-webhook-tls');
    const c = pod.containers.find((x: any) => x.name === 'controller');
    assert.ok(c.volumeMounts.some((m: any) => m.mountPath === WEBHOOK_CERT_DIR && m.readOnly));
    assert.ok(c.args.includes(`--webhook-cert-dir=${WEBHOOK_CERT_DIR}`));
    assert.equal(manifests.filter((m: any) => JSON.stringify(m).includes('bmlb-webhook-tls')).length, 1, 'only the Deployment refers to the Secret');
    const vwc = manifests.find((m) => m.kind === 'ValidatingWebhookConfiguration') as any;
    assert.equal(Buffer.from(vwc.webhooks[0].clientConfig.caBundle, 'base64').toString(), tls.caPem);
    // Without the webhook (admission: policy) nothing is mounted.
    const policyOnly = labCluster();
    policyOnly.loadBalancer.bmlb.admission = 'policy';
    const noHook = guardedManifests(policyOnly, { installerUsername: 'bmlb-installer', webhookCA: tls.caPem }).manifests;
    assert.equal(noHook.some((m) => m.kind === 'ValidatingWebhookConfiguration'), false);
    const plain = (noHook.find((m) => m.kind === 'Deployment') as any).spec.template.spec;
    assert.equal(plain.volumes, undefined);
    assert.ok(!plain.containers[0].args.some((a: string) => a.startsWith('--webhook-cert-dir')));
  });

  it('GIVEN the server WHEN a client verifying with the CA posts a review THEN it answers; other paths and methods are refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bmlbt-ownership-tls-'));
    await writeFile(join(dir, 'tls.crt'), tls.certPem);
    await writeFile(join(dir, 'tls.key'), tls.keyPem);
    const srv = await startWebhookServer({ host: '127.0.0.1', port: 0, certDir: dir, policy: () => ({ namespace: 'bmlb-system', owner: undefined }) });
    const call = (method: string, path: string, body?: string) => new Promise<{ code: number; text: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: srv.port, method, path, ca: tls.caPem, servername: 'bmlb-webhook.bmlb-system.svc', headers: { 'Content-Type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    try {
      const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', resource: { group: '', version: 'v1', resource: 'configmaps' }, namespace: 'bmlb-system', name: 'bmlb-config', operation: 'UPDATE', userInfo: { username: 'admin-user' }, object: { metadata: { labels: { 'app.kubernetes.io/managed-by': 'bmlb' } } } } };
      const r = await call('POST', '/validate-bmlb-config', JSON.stringify(review));
      assert.equal(r.code, 200);
      const body = JSON.parse(r.text);
      assert.equal(body.response.uid, 'u-1');
      assert.equal(body.response.allowed, false);
      assert.equal((await call('POST', '/validate-bmlb-config', '{nope')).code, 400);
      assert.equal((await call('GET', '/validate-bmlb-config')).code, 405);
      assert.equal((await call('POST', '/elsewhere', '{}')).code, 404);
      assert.deepEqual(srv.counts(), { allowed: 0, denied: 1 });
    } finally {
      await srv.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('GIVEN no certificate in the directory THEN a UserError says what to mount', async () => {
    await assert.rejects(startWebhookServer({ host: '127.0.0.1', port: 0, certDir: '/nonexistent-bmlbt', policy: () => ({ namespace: 'bmlb-system', owner: undefined }) }), (e: any) => e.code === 'WebhookCertMissing');
  });

  it('GIVEN openssl fails THEN WebhookCertFailed names the step', async () => {
    await assert.rejects(issueWebhookTls(async () => ({ code: 1, stderr: 'boom' }), 'lab'), (e: any) => e.code === 'WebhookCertFailed' && /creating the webhook CA/.test(e.message));
  });
});
