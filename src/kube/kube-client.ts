/**
 * The Kubernetes API adapter: @kubernetes/client-node for configuration, authentication, TLS,
 * typed clients and models; a small REST layer (`KubeRest`) for the verbs where explicit content
 * types matter (merge/JSON patches, status subresources) and errors must be typed.
 */
import * as k8s from '@kubernetes/client-node';
import https from 'node:https';
import http from 'node:http';
import { UserError } from '../errors.js';

export interface LoadKubeOptions {
  /** Path of a kubeconfig file. Ignored when inCluster is true. */
  kubeconfigPath?: string;
  /** Use the pod's ServiceAccount (KUBERNETES_SERVICE_HOST/PORT + /var/run/secrets/...). */
  inCluster?: boolean;
  /** Replace the server URL of the current cluster (e.g. to go through the controlPlaneVIP). */
  server?: string;
  /** Per-request timeout in ms for non-watch requests. Default 15000. */
  timeoutMs?: number;
}

export type PatchType = 'merge' | 'json' | 'strategic';

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/** A `Status` object the API server returned with a failure code. */
export interface ApiStatus {
  kind?: 'Status';
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: unknown;
}

export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly status: ApiStatus,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: ${statusCode} ${status.reason ?? ''} ${status.message ?? ''}`.trim());
    this.name = 'KubeApiError';
  }
  get notFound(): boolean { return this.statusCode === 404; }
  get conflict(): boolean { return this.statusCode === 409; }
  get gone(): boolean { return this.statusCode === 410; }
}

export function isKubeApiError(e: unknown, statusCode?: number): e is KubeApiError {
  return e instanceof KubeApiError && (statusCode === undefined || e.statusCode === statusCode);
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
}

/** Plain REST access to the API server with the kubeconfig's credentials and CA. */
export class KubeRest {
  /** Connections are reused: a new TLS handshake per request costs ~8x the request itself. */
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 32 });
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });

  constructor(private readonly kc: k8s.KubeConfig, private readonly timeoutMs: number) {}

  /** Closes idle kept-alive connections (call when the process is done with the API). */
  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }

  get server(): string {
    const c = this.kc.getCurrentCluster();
    if (!c) throw new UserError('the kubeconfig has no current cluster', { code: 'KubeconfigInvalid' });
    return c.server;
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(this.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const reqOpts: https.RequestOptions = { method, headers: { Accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(reqOpts);
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers = reqOpts.headers as Record<string, string>;
    if (payload !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const mod = url.protocol === 'http:' ? http : https;
    // Keep the kubeconfig's own agent if it set one (e.g. a proxy); otherwise reuse connections.
    if (!reqOpts.agent) reqOpts.agent = url.protocol === 'http:' ? this.httpAgent : this.httpsAgent;
    return await new Promise<T>((resolve, reject) => {
      const req = mod.request(url, reqOpts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = undefined;
          try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = { message: text }; }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(parsed as T);
          else reject(new KubeApiError(code, (parsed ?? {}) as ApiStatus, method, path));
        });
        res.on('error', reject);
      });
      req.setTimeout(opts.timeoutMs ?? this.timeoutMs, () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get<T = unknown>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, { query });
  }
  /** GET that returns undefined on 404. */
  async find<T = unknown>(path: string): Promise<T | undefined> {
    try { return await this.get<T>(path); } catch (e) { if (isKubeApiError(e, 404)) return undefined; throw e; }
  }
  create<T = unknown>(collectionPath: string, body: unknown, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('POST', collectionPath, { body, query });
  }
  replace<T = unknown>(path: string, body: unknown, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('PUT', path, { body, query });
  }
  patch<T = unknown>(path: string, body: unknown, type: PatchType = 'merge', query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: PATCH_CONTENT_TYPE[type], query });
  }
  /** DELETE that treats 404 as success; returns whether something was deleted. */
  async delete(path: string, query?: RequestOptions['query']): Promise<boolean> {
    try { await this.request('DELETE', path, { query }); return true; } catch (e) { if (isKubeApiError(e, 404)) return false; throw e; }
  }
}

/** Everything a bmlb component needs to talk to the API. Create one per process and pass it in. */
export interface Kube {
  kc: k8s.KubeConfig;
  rest: KubeRest;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  rbac: k8s.RbacAuthorizationV1Api;
  admission: k8s.AdmissionregistrationV1Api;
  coordination: k8s.CoordinationV1Api;
  discovery: k8s.DiscoveryV1Api;
  events: k8s.EventsV1Api;
  watch: k8s.Watch;
}

export function loadKube(opts: LoadKubeOptions = {}): Kube {
  const kc = new k8s.KubeConfig();
  try {
    if (opts.inCluster) kc.loadFromCluster();
    else if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
    else kc.loadFromDefault();
  } catch (e) {
    throw new UserError(`cannot load the Kubernetes configuration${opts.kubeconfigPath ? ` from ${opts.kubeconfigPath}` : ''}: ${(e as Error).message}`, {
      code: 'KubeconfigInvalid',
      suggestions: ['Pass --kubeconfig PATH, or set kubeconfigPath in the cluster file header.'],
    });
  }
  if (opts.server) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new UserError('the kubeconfig has no current cluster', { code: 'KubeconfigInvalid' });
    const clusters = kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server: opts.server! } : c));
    kc.loadFromOptions({ clusters, users: kc.users, contexts: kc.contexts, currentContext: kc.currentContext });
  }
  return {
    kc,
    rest: new KubeRest(kc, opts.timeoutMs ?? 15000),
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    rbac: kc.makeApiClient(k8s.RbacAuthorizationV1Api),
    admission: kc.makeApiClient(k8s.AdmissionregistrationV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    discovery: kc.makeApiClient(k8s.DiscoveryV1Api),
    events: kc.makeApiClient(k8s.EventsV1Api),
    watch: new k8s.Watch(kc),
  };
}

/** API paths for the resources bmlb touches (namespaced when `namespace` is given). */
export function resourcePath(apiVersion: string, plural: string, namespace?: string, name?: string, subresource?: string): string {
  const base = apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}`;
  let p = base;
  if (namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}
