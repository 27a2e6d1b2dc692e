/**
 * Test helper: an in-process lab API server on 127.0.0.1 (random port) with a fresh CA made by
 * openssl, static users `bmlb-installer` and `admin-user` (both system:masters) plus any extra
 * users, kubeconfig files per user, and ServiceAccount token minting. close() removes everything.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import type { Admission } from '../../src/lab/apiserver/admission.js';
import type { ApiServerUser } from '../../src/lab/apiserver/config.js';
import { startApiServer, type RunningApiServer } from '../../src/lab/apiserver/server.js';

const run = promisify(execFile);

export interface TestCa {
  certFile: string;
  keyFile: string;
  /** PEM text of the CA certificate. */
  pem: string;
}

export interface IssuedCert {
  certFile: string;
  keyFile: string;
}

/** A throwaway CA (EC P-256, valid one day) in `dir`. */
export async function createTestCa(dir: string, name = 'ca'): Promise<TestCa> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '1', '-subj', `/CN=bmlb-test-${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { certFile, keyFile, pem: await readFile(certFile, 'utf8') };
}

/** A serving certificate signed by `ca` for the given SANs (`IP:127.0.0.1`, `DNS:svc.ns.svc`). */
export async function issueServingCert(ca: TestCa, dir: string, name: string, sans: string[]): Promise<IssuedCert> {
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const certFile = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`]);
  await writeFile(ext, `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', '1', '-extfile', ext]);
  return { certFile, keyFile };
}

export interface TestUser {
  user: string;
  groups?: string[];
  token?: string;
}

export interface TestApiOptions {
  /** Users besides `bmlb-installer` and `admin-user`. */
  users?: TestUser[];
  /** Watch history length (small values make 410 Gone easy to provoke). */
  watchHistory?: number;
  bookmarkIntervalSeconds?: number;
  serviceCIDR?: string;
  nodePortRange?: string;
  admission?: Admission;
  /** Keep a request log at this path. */
  logFile?: string;
}

export interface TestApi {
  url: string;
  caFile: string;
  /** Temp directory holding the CA, certs and kubeconfigs (removed by close()). */
  dir: string;
  server: RunningApiServer;
  /** Path of a kubeconfig for a static user or for a minted ServiceAccount token (`system:serviceaccount:NS:NAME`). */
  kubeconfigPath(user: string): string;
  kubeConfig(user: string): KubeConfig;
  tokenFor(user: string): string;
  /** Mints a ServiceAccount token (the account must exist) and returns a kubeconfig path for it. */
  serviceAccountKubeconfig(namespace: string, name: string): Promise<{ path: string; token: string; kubeConfig: KubeConfig }>;
  close(): Promise<void>;
}

function kubeconfigText(url: string, caFile: string, user: string, token: string): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server: url, 'certificate-authority': caFile } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'lab', context: { cluster: 'lab', user, namespace: 'default' } }],
    'current-context': 'lab',
  }, null, 2);
}

export async function startTestApiServer(opts: TestApiOptions = {}): Promise<TestApi> {
  const dir = await mkdtemp(join(tmpdir(), 'bmlbt-labapi-'));
  // Safety net for tests that end without close(): the temp dir goes when the process exits.
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  let server: RunningApiServer | undefined;
  try {
    const ca = await createTestCa(dir);
    const serving = await issueServingCert(ca, dir, 'apiserver', ['IP:127.0.0.1', 'DNS:localhost']);
    const users: ApiServerUser[] = [
      { user: 'bmlb-installer', groups: ['system:masters'], token: randomBytes(18).toString('hex') },
      { user: 'admin-user', groups: ['system:masters'], token: randomBytes(18).toString('hex') },
      ...(opts.users ?? []).map((u) => ({ user: u.user, groups: u.groups ?? [], token: u.token ?? randomBytes(18).toString('hex') })),
    ];
    server = await startApiServer({
      listen: { host: '127.0.0.1', port: 0 },
      tls: { certFile: serving.certFile, keyFile: serving.keyFile, caFile: ca.certFile },
      users,
      serviceCIDR: opts.serviceCIDR ?? '203.0.113.0/24',
      nodePortRange: opts.nodePortRange ?? '30000-32767',
      ...(opts.watchHistory !== undefined ? { watchHistory: opts.watchHistory } : {}),
      ...(opts.bookmarkIntervalSeconds !== undefined ? { bookmarkIntervalSeconds: opts.bookmarkIntervalSeconds } : {}),
      ...(opts.logFile ? { logFile: opts.logFile } : {}),
    }, opts.admission ? { admission: opts.admission } : {});
    const running = server;
    const minted = new Map<string, string>();
    const tokenFor = (user: string): string => {
      const u = users.find((x) => x.user === user);
      const t = u?.token ?? minted.get(user);
      if (!t) throw new Error(`no such test user: ${user}`);
      return t;
    };
    const kubeconfigPath = (user: string): string => {
      const p = join(dir, `${user.replace(/[^A-Za-z0-9._-]/g, '_')}.kubeconfig`);
      writeFileSync(p, kubeconfigText(running.url, ca.certFile, user, tokenFor(user)), { mode: 0o600 });
      return p;
    };
    const kubeConfig = (user: string): KubeConfig => {
      const kc = new KubeConfig();
      kc.loadFromString(kubeconfigText(running.url, ca.certFile, user, tokenFor(user)));
      return kc;
    };
    return {
      url: running.url,
      caFile: ca.certFile,
      dir,
      server: running,
      kubeconfigPath,
      kubeConfig,
      tokenFor,
      serviceAccountKubeconfig: async (namespace, name) => {
        const token = running.mintServiceAccountToken(namespace, name);
        const user = `system:serviceaccount:${namespace}:${name}`;
        minted.set(user, token);
        return { path: kubeconfigPath(user), token, kubeConfig: kubeConfig(user) };
      },
      close: async () => {
        await running.close();
        await rm(dir, { recursive: true, force: true });
        process.removeListener('exit', removeDir);
      },
    };
  } catch (e) {
    await server?.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    process.removeListener('exit', removeDir);
    throw e;
  }
}
