/**
 * The lab Kubernetes API server: HTTPS, bearer tokens, RBAC, and a generic REST layer over the
 * in-memory store (get, list, watch, create, update, patch, delete, deletecollection, status and
 * token subresources), with discovery for kubectl. Not product code: a stand-in for
 * kube-apiserver in the lab and in tests.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { chainAdmission, type Admission, type Operation } from './admission.js';
import { PolicyAdmission } from './policies.js';
import { decodeKubernetesProtobuf, PROTOBUF_MEDIA_TYPE } from './protobuf.js';
import { TokenAuthenticator } from './authn.js';
import { parseNetworkSettings, type ApiServerConfig, type NetworkSettings } from './config.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersions } from './discovery.js';
import { openApiDocument, openApiIndex } from './openapi.js';
import { canonicalJson, clone, isObject, jsonPatch, mergePatch, strategicMerge, type Json, type JsonObject } from './patch.js';
import { authorize, bootstrapPolicy, escalationMessage, forbiddenMessage, uncoveredRules, type PolicyRule, type RbacView, type RequestAttributes, type UserInfo } from './rbac.js';
import { apiVersionOf, ResourceRegistry, storageApiVersion, storageKey, type CrdLike, type ResourceType } from './registry.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector, type FieldRequirement, type LabelRequirement } from './selectors.js';
import { ApiError, errors, successStatus, type StatusBody } from './status.js';
import { ObjectStore, type Change, type KubeObject } from './store.js';
import { prepareCreate, prepareUpdate, validateName, type StrategyContext } from './strategies.js';
import { tableFor, wantsTable } from './table.js';
import { WebhookAdmission } from './webhooks.js';

export interface RunningApiServer {
  url: string;
  port: number;
  /** Mints a ServiceAccount token as TokenRequest does (the account must exist). */
  mintServiceAccountToken(namespace: string, name: string, expirationSeconds?: number): string;
  close(): Promise<void>;
}

export interface StartApiServerOptions {
  /** Replaces webhook and policy admission (tests of the REST layer alone). */
  admission?: Admission;
  /** PEM of the cluster CA, put into ServiceAccount token Secrets as ca.crt. */
  caPem?: string;
}

const SA_TOKEN_TYPE = 'kubernetes.io/service-account-token';
const SA_NAME_ANNOTATION = 'kubernetes.io/service-account.name';
const SA_UID_ANNOTATION = 'kubernetes.io/service-account.uid';
/** Legacy ServiceAccount token Secrets hold long-lived tokens (one year here). */
const LEGACY_TOKEN_SECONDS = 365 * 24 * 3600;

const MAX_BODY = 3 * 1024 * 1024;
const NS_KEY = '/namespaces';
const GENERATE_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function nowSeconds(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += GENERATE_CHARS[Math.floor(Math.random() * GENERATE_CHARS.length)];
  return s;
}

interface Route {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

interface WriteContext {
  user: UserInfo;
  dryRun: boolean;
  /** Internal writes (bootstrap, garbage collection) skip admission. */
  internal?: boolean;
}

interface Selectors {
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

/** Types whose objects carry metadata.generation. */
function tracksGeneration(t: ResourceType): boolean {
  return t.subresources.includes('status') || !t.builtin || t.group === 'admissionregistration.k8s.io';
}

/** Types a PUT may create (as in kube-apiserver). */
function createsOnUpdate(t: ResourceType): boolean {
  return ['/endpoints', 'coordination.k8s.io/leases', 'rbac.authorization.k8s.io/roles', 'rbac.authorization.k8s.io/rolebindings',
    'rbac.authorization.k8s.io/clusterroles', 'rbac.authorization.k8s.io/clusterrolebindings'].includes(storageKey(t));
}

function withoutVolatile(o: KubeObject): unknown {
  const c = clone(o);
  delete c.metadata.resourceVersion;
  delete c.metadata.managedFields;
  return c;
}

function specPart(t: ResourceType, o: KubeObject): string {
  const c: JsonObject = { ...o };
  delete c.metadata;
  if (t.subresources.includes('status')) delete c.status;
  delete c.apiVersion;
  delete c.kind;
  return canonicalJson(c);
}

export class LabApiServer {
  readonly registry = new ResourceRegistry();
  readonly store: ObjectStore;
  readonly authn: TokenAuthenticator;
  private readonly network: NetworkSettings;
  private readonly admission: Admission;
  private readonly watches = new Set<() => void>();
  private sweepScheduled = false;
  private sweepTimer: NodeJS.Immediate | undefined;
  private closed = false;
  private readonly bookmarkMs: number;

  private readonly caPem: string | undefined;

  constructor(readonly config: ApiServerConfig, private readonly log: (line: string) => void, opts: StartApiServerOptions = {}) {
    this.caPem = opts.caPem;
    this.network = parseNetworkSettings(config);
    // resourceVersions start at the clock (ms), so that after a restart (which loses everything)
    // clients' remembered versions are older than the new history and they relist on 410.
    this.store = new ObjectStore(config.watchHistory ?? 2000, Date.now());
    this.authn = new TokenAuthenticator(config.users);
    this.bookmarkMs = (config.bookmarkIntervalSeconds ?? 10) * 1000;
    const namespace = (name: string): KubeObject | undefined => this.store.get(NS_KEY, undefined, name);
    this.admission = opts.admission ?? chainAdmission(
      new WebhookAdmission({
        webhookConfigs: () => this.store.list('admissionregistration.k8s.io/validatingwebhookconfigurations'),
        namespace,
        service: (ns, name) => this.store.get('/services', ns, name),
        endpointSlices: (ns) => this.store.list('discovery.k8s.io/endpointslices', ns),
      }),
      new PolicyAdmission({
        policies: () => this.store.list('admissionregistration.k8s.io/validatingadmissionpolicies'),
        bindings: () => this.store.list('admissionregistration.k8s.io/validatingadmissionpolicybindings'),
        namespace,
      }),
    );
    this.bootstrap();
  }

  // ------------------------------------------------------------------ bootstrap

  private bootstrap(): void {
    const system: WriteContext = { user: { username: 'system:apiserver', groups: ['system:masters'] }, dryRun: false, internal: true };
    const ns = this.type('', 'v1', 'namespaces');
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      this.createNow(ns, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, system);
    }
    for (const p of bootstrapPolicy()) {
      this.createNow(this.type('rbac.authorization.k8s.io', 'v1', p.resource), undefined, p.object as KubeObject, system);
    }
    const svc = this.type('', 'v1', 'services');
    const first = this.network.serviceRanges[0]!;
    const firstIp = first.family === 4 ? `${[24n, 16n, 8n, 0n].map((s) => String((first.first + 1n) >> s & 255n)).join('.')}` : undefined;
    if (firstIp) {
      this.createNow(svc, 'default', { apiVersion: 'v1', kind: 'Service',
        metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
        spec: { type: 'ClusterIP', clusterIP: firstIp, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: this.config.listen.port || 6443 }] } } as KubeObject, system);
    }
  }

  private type(group: string, version: string, resource: string): ResourceType {
    const t = this.registry.lookup(group, version, resource);
    if (!t) throw new Error(`unknown built-in type ${group}/${version}/${resource}`);
    return t;
  }

  // ------------------------------------------------------------------ HTTP entry

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    let who = '-';
    res.on('close', () => this.log(`${new Date().toISOString()} ${req.method} ${req.url} user=${who} status=${res.statusCode} ms=${Date.now() - started}`));
    try {
      const url = new URL(req.url ?? '/', 'https://lab.invalid');
      const auth = this.authn.authenticate(req.headers.authorization);
      if (!auth.ok && !auth.anonymous) throw errors.unauthorized();
      const authenticated: UserInfo = auth.ok ? auth.user : { username: 'system:anonymous', groups: ['system:unauthenticated'] };
      who = authenticated.username;
      const user = this.impersonate(authenticated, req);
      if (user !== authenticated) who = `${authenticated.username}(as ${user.username})`;
      await this.route(req, res, url, user);
    } catch (e) {
      this.sendError(res, e);
    }
  }

  /**
   * `Impersonate-User` / `Impersonate-Group` / `Impersonate-Uid` / `Impersonate-Extra-*` (kubectl
   * --as/--as-group): allowed when the caller may `impersonate` users (serviceaccounts for
   * `system:serviceaccount:NS:NAME`), groups and uids.
   */
  private impersonate(caller: UserInfo, req: IncomingMessage): UserInfo {
    const name = req.headers['impersonate-user'];
    const rawGroups = req.headers['impersonate-group'];
    const groups = rawGroups === undefined ? [] : Array.isArray(rawGroups) ? rawGroups : [rawGroups];
    const uid = req.headers['impersonate-uid'];
    const extra: Record<string, string[]> = {};
    for (const [h, v] of Object.entries(req.headers)) {
      if (h.startsWith('impersonate-extra-') && v !== undefined) extra[decodeURIComponent(h.slice('impersonate-extra-'.length))] = Array.isArray(v) ? v : [v];
    }
    if (typeof name !== 'string' || !name) {
      if (groups.length || uid || Object.keys(extra).length) throw errors.badRequest('requested impersonation of groups or extra without impersonating a user');
      return caller;
    }
    const check = (a: RequestAttributes): void => {
      if (!authorize(this.rbacView(), caller, a).allowed) throw errors.forbidden(forbiddenMessage(caller, a));
    };
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(name);
    if (sa) check({ kind: 'resource', verb: 'impersonate', group: '', resource: 'serviceaccounts', namespace: sa[1]!, name: sa[2]! });
    else check({ kind: 'resource', verb: 'impersonate', group: '', resource: 'users', name });
    for (const g of groups) check({ kind: 'resource', verb: 'impersonate', group: '', resource: 'groups', name: g });
    if (typeof uid === 'string') check({ kind: 'resource', verb: 'impersonate', group: 'authentication.k8s.io', resource: 'uids', name: uid });
    for (const [k, vs] of Object.entries(extra)) for (const v of vs) check({ kind: 'resource', verb: 'impersonate', group: 'authentication.k8s.io', resource: 'userextras', subresource: k, name: v });
    const all = [...groups];
    if (sa) for (const g of ['system:serviceaccounts', `system:serviceaccounts:${sa[1]}`]) if (!all.includes(g)) all.push(g);
    if (name !== 'system:anonymous' && !all.includes('system:authenticated')) all.push('system:authenticated');
    return { username: name, groups: all, ...(typeof uid === 'string' ? { uid } : {}), ...(Object.keys(extra).length ? { extra } : {}) };
  }

  private sendError(res: ServerResponse, e: unknown): void {
    const status: StatusBody = e instanceof ApiError ? e.status : errors.internal(e instanceof Error ? e.message : String(e)).status;
    if (!(e instanceof ApiError)) this.log(`internal error: ${e instanceof Error ? e.stack : String(e)}`);
    if (res.headersSent) {
      res.end();
      return;
    }
    this.send(res, status.code, status);
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
    res.end(text);
  }

  private checkNonResource(user: UserInfo, path: string, verb: string): void {
    const a: RequestAttributes = { kind: 'nonResource', verb, path };
    if (!authorize(this.rbacView(), user, a).allowed) throw errors.forbidden(forbiddenMessage(user, a));
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, user: UserInfo): Promise<void> {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const segs = path.split('/').filter(Boolean);
    const method = req.method ?? 'GET';
    if (['/healthz', '/livez', '/readyz'].includes(path) || /^\/(healthz|livez|readyz)\//.test(path)) {
      this.checkNonResource(user, path, 'get');
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    }
    if (path === '/version') {
      this.checkNonResource(user, path, 'get');
      this.send(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-bmlb-lab', gitCommit: '', gitTreeState: 'clean', buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'n/a', compiler: 'n/a', platform: 'linux/amd64' });
      return;
    }
    if (segs[0] === 'openapi') {
      this.checkNonResource(user, path, 'get');
      if (path === '/openapi/v3') {
        this.send(res, 200, openApiIndex(this.registry));
        return;
      }
      const m = /^\/openapi\/v3\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
      const doc = m ? openApiDocument(this.registry, m[2] ?? '', m[1] ?? m[3]!) : undefined;
      if (!doc) throw errors.pathNotFound();
      this.send(res, 200, doc);
      return;
    }
    if (segs[0] !== 'api' && segs[0] !== 'apis') throw errors.pathNotFound();
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api') {
      if (segs.length === 1) {
        this.checkNonResource(user, path, 'get');
        this.send(res, 200, apiVersions(`${this.config.listen.host}:${this.config.listen.port}`));
        return;
      }
      group = '';
      version = segs[1]!;
      rest = segs.slice(2);
    } else {
      if (segs.length === 1) {
        this.checkNonResource(user, path, 'get');
        this.send(res, 200, apiGroupList(this.registry));
        return;
      }
      if (segs.length === 2) {
        this.checkNonResource(user, path, 'get');
        const doc = apiGroup(this.registry, segs[1]!);
        if (!doc) throw errors.pathNotFound();
        this.send(res, 200, doc);
        return;
      }
      group = segs[1]!;
      version = segs[2]!;
      rest = segs.slice(3);
    }
    if (rest.length === 0) {
      this.checkNonResource(user, path, 'get');
      const doc = apiResourceList(this.registry, group, version);
      if (!doc) throw errors.pathNotFound();
      this.send(res, 200, doc);
      return;
    }
    const r = this.parseResourcePath(group, version, rest);
    const q = url.searchParams;
    const isWatch = method === 'GET' && (q.get('watch') === 'true' || q.get('watch') === '1');
    const verb = method === 'GET' ? (isWatch ? 'watch' : r.name ? 'get' : 'list')
      : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch'
        : method === 'DELETE' ? (r.name ? 'delete' : 'deletecollection') : undefined;
    if (!verb) throw errors.methodNotAllowed();
    const attrs: RequestAttributes = {
      kind: 'resource', verb, group, resource: r.type.resource,
      ...(r.subresource ? { subresource: r.subresource } : {}),
      ...(r.namespace !== undefined ? { namespace: r.namespace } : r.type.resource === 'namespaces' && r.name && !r.type.group ? { namespace: r.name } : {}),
      ...(r.name ? { name: r.name } : {}),
    };
    const decision = authorize(this.rbacView(), user, attrs);
    if (!decision.allowed) {
      throw errors.forbidden(forbiddenMessage(user, attrs), { ...(r.name ? { name: r.name } : {}), group, kind: r.subresource ? `${r.type.resource}/${r.subresource}` : r.type.resource });
    }
    const dryRun = q.getAll('dryRun').includes('All');
    const ctx: WriteContext = { user, dryRun };
    if (r.type.virtual) {
      if (method !== 'POST' || r.name) throw errors.methodNotAllowed();
      this.send(res, 201, this.review(r.type, await this.readJson(req), user));
      return;
    }
    if (r.subresource && !r.type.subresources.includes(r.subresource)) throw errors.pathNotFound();
    switch (verb) {
      case 'get': {
        const o = this.getOrThrow(r.type, r.namespace, r.name!);
        this.sendObject(req, res, 200, r.type, o);
        return;
      }
      case 'list': {
        this.sendList(req, res, r, q);
        return;
      }
      case 'watch':
        this.watch(req, res, r, q);
        return;
      case 'create': {
        const body = await this.readJson(req);
        if (r.subresource === 'token' && r.name) {
          this.send(res, 201, this.tokenRequest(r.namespace!, r.name, body));
          return;
        }
        if (r.name) throw errors.methodNotAllowed();
        const created = await this.create(r.type, r.namespace, body, ctx);
        this.sendObject(req, res, 201, r.type, created);
        return;
      }
      case 'update': {
        if (!r.name) throw errors.methodNotAllowed();
        const body = await this.readJson(req);
        const out = await this.update(r.type, r.namespace, r.name, body, r.subresource, ctx);
        this.sendObject(req, res, out.created ? 201 : 200, r.type, out.object);
        return;
      }
      case 'patch': {
        if (!r.name) throw errors.methodNotAllowed();
        const ctype = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const raw = await this.readBody(req);
        const out = await this.patch(r.type, r.namespace, r.name, r.subresource, ctype, raw, ctx, q);
        this.sendObject(req, res, out.created ? 201 : 200, r.type, out.object);
        return;
      }
      case 'delete': {
        const body = await this.readBody(req);
        const opts = body.length ? (JSON.parse(body.toString('utf8')) as JsonObject) : {};
        const policy = (q.get('propagationPolicy') ?? opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : 'Background')) as string;
        const out = await this.delete(r.type, r.namespace, r.name!, { ...ctx, dryRun: ctx.dryRun || (Array.isArray(opts.dryRun) && opts.dryRun.includes('All')) },
          policy, isObject(opts.preconditions) ? opts.preconditions : undefined);
        if ('status' in out) this.send(res, 200, out.status);
        else this.sendObject(req, res, 200, r.type, out.object);
        return;
      }
      case 'deletecollection': {
        const sel = this.selectors(r.type, q);
        const victims = this.store.list(storageKey(r.type), r.namespace).filter((o) => this.selected(sel, this.present(r.type, o)));
        for (const v of victims) await this.delete(r.type, v.metadata.namespace, v.metadata.name!, ctx, q.get('propagationPolicy') ?? 'Background', undefined);
        this.send(res, 200, { kind: `${r.type.kind}List`, apiVersion: apiVersionOf(r.type), metadata: { resourceVersion: String(this.store.currentRv()) }, items: victims.map((v) => this.present(r.type, v)) });
        return;
      }
    }
  }

  private parseResourcePath(group: string, version: string, rest: string[]): Route {
    let namespace: string | undefined;
    let parts = rest;
    if (parts[0] === 'namespaces' && parts.length >= 3 && !['status', 'finalize'].includes(parts[2]!)) {
      namespace = parts[1]!;
      parts = parts.slice(2);
    }
    if (parts.length > 3) throw errors.pathNotFound();
    const type = this.registry.lookup(group, version, parts[0]!);
    if (!type) throw errors.pathNotFound();
    if (namespace !== undefined && !type.namespaced) throw errors.pathNotFound();
    if (type.namespaced && namespace === undefined && parts.length > 1) throw errors.pathNotFound();
    return { type, ...(namespace !== undefined ? { namespace } : {}), ...(parts[1] ? { name: parts[1] } : {}), ...(parts[2] ? { subresource: parts[2] } : {}) };
  }

  private async readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) throw errors.tooLarge('the request body is too large');
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks);
  }

  private async readJson(req: IncomingMessage): Promise<JsonObject> {
    const ctype = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim();
    if (ctype === PROTOBUF_MEDIA_TYPE) {
      const decoded = decodeKubernetesProtobuf(await this.readBody(req));
      if (!decoded.ok) throw errors.unsupportedMediaType(decoded.reason);
      return decoded.object as JsonObject;
    }
    if (!['application/json', 'application/yaml', 'application/apply-patch+yaml', ''].includes(ctype)) {
      throw errors.unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
    }
    const raw = (await this.readBody(req)).toString('utf8');
    let v: unknown;
    try {
      v = ctype.includes('yaml') ? parseYaml(raw) : JSON.parse(raw);
    } catch (e) {
      throw errors.badRequest(`the request body is not valid ${ctype.includes('yaml') ? 'YAML' : 'JSON'}: ${(e as Error).message}`);
    }
    if (!isObject(v)) throw errors.badRequest('the request body must be a JSON object');
    return v;
  }

  // ------------------------------------------------------------------ reads

  private getOrThrow(t: ResourceType, ns: string | undefined, name: string): KubeObject {
    const o = this.store.get(storageKey(t), t.namespaced ? ns : undefined, name);
    if (!o) throw errors.notFound(t.resource, t.group, name);
    return o;
  }

  /** An object as served at a type's version (custom resources share storage across versions). */
  private present(t: ResourceType, o: KubeObject): KubeObject {
    if (t.storedAs) return t.storedAs.fromStorage(o) as KubeObject;
    return { ...o, apiVersion: apiVersionOf(t), kind: t.kind };
  }

  private sendObject(req: IncomingMessage, res: ServerResponse, code: number, t: ResourceType, o: KubeObject): void {
    const obj = this.present(t, o);
    if (wantsTable(req.headers.accept)) {
      this.send(res, code, tableFor(t, [obj], String(this.store.currentRv()), this.includeObject(req)));
      return;
    }
    this.send(res, code, obj);
  }

  private includeObject(req: IncomingMessage): 'None' | 'Metadata' | 'Object' {
    const v = new URL(req.url ?? '/', 'https://lab.invalid').searchParams.get('includeObject');
    return v === 'None' || v === 'Object' ? v : 'Metadata';
  }

  private selectors(t: ResourceType, q: URLSearchParams): Selectors {
    const labels = parseLabelSelector(q.get('labelSelector') ?? undefined);
    if (!labels.ok) throw errors.badRequest(`unable to parse requirement: ${labels.reason}`);
    const fields = parseFieldSelector(q.get('fieldSelector') ?? undefined, ['metadata.name', 'metadata.namespace', ...t.fieldSelectors]);
    if (!fields.ok) throw errors.badRequest(`"${q.get('fieldSelector')}" is not a known field selector: ${fields.reason}`);
    return { labels: labels.value, fields: fields.value };
  }

  private selected(sel: Selectors, o: KubeObject): boolean {
    return matchesLabels(sel.labels, o.metadata.labels) && matchesFields(sel.fields, o);
  }

  private sendList(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams): void {
    const sel = this.selectors(r.type, q);
    let items = this.store.list(storageKey(r.type), r.namespace).filter((o) => this.selected(sel, this.present(r.type, o)));
    const rv = String(this.store.currentRv());
    const limit = Number(q.get('limit') ?? 0);
    const cont = q.get('continue');
    let next: string | undefined;
    if (cont) {
      let after: string;
      try {
        after = (JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { after: string }).after;
      } catch {
        throw errors.badRequest('continue key is not valid');
      }
      items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > after);
    }
    let remaining: number | undefined;
    if (limit > 0 && items.length > limit) {
      remaining = items.length - limit;
      items = items.slice(0, limit);
      const last = items[items.length - 1]!;
      next = Buffer.from(JSON.stringify({ after: `${last.metadata.namespace ?? ''}/${last.metadata.name}` })).toString('base64url');
    }
    const presented = items.map((o) => this.present(r.type, o));
    if (wantsTable(req.headers.accept)) {
      this.send(res, 200, tableFor(r.type, presented, rv, this.includeObject(req), next));
      return;
    }
    this.send(res, 200, {
      kind: `${r.type.kind}List`, apiVersion: apiVersionOf(r.type),
      metadata: { resourceVersion: rv, ...(next ? { continue: next, remainingItemCount: remaining } : {}) },
      items: presented,
    });
  }

  // ------------------------------------------------------------------ watch

  private watch(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams): void {
    const sel = this.selectors(r.type, q);
    if (r.name) sel.fields.push({ field: 'metadata.name', op: 'eq', value: r.name });
    const key = storageKey(r.type);
    const table = wantsTable(req.headers.accept);
    const rvParam = q.get('resourceVersion') ?? '';
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? 0);
    const inScope = (o: KubeObject): boolean => r.namespace === undefined || o.metadata.namespace === r.namespace;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    const write = (type: string, object: unknown): void => {
      const wire = table && type !== 'ERROR' && type !== 'BOOKMARK'
        ? tableFor(r.type, [object as KubeObject], (object as KubeObject).metadata.resourceVersion ?? '', this.includeObject(req), undefined, true)
        : object;
      res.write(`${JSON.stringify({ type, object: wire })}\n`);
    };
    const toEvent = (c: Change): { type: string; object: KubeObject } | undefined => {
      if (c.key !== key) return undefined;
      const now = inScope(c.object) && this.selected(sel, this.present(r.type, c.object));
      const before = c.old !== undefined && inScope(c.old) && this.selected(sel, this.present(r.type, c.old));
      if (c.type === 'ADDED') return now ? { type: 'ADDED', object: c.object } : undefined;
      if (c.type === 'DELETED') return before ? { type: 'DELETED', object: c.object } : undefined;
      if (now && before) return { type: 'MODIFIED', object: c.object };
      if (now) return { type: 'ADDED', object: c.object };
      if (before) return { type: 'DELETED', object: c.object };
      return undefined;
    };
    let lastRv = this.store.currentRv();
    if (rvParam === '' || rvParam === '0') {
      for (const o of this.store.list(key, r.namespace)) if (this.selected(sel, this.present(r.type, o))) write('ADDED', this.present(r.type, o));
    } else {
      const from = Number(rvParam);
      if (!Number.isInteger(from) || from < 0) {
        write('ERROR', errors.badRequest(`invalid resource version "${rvParam}"`).status);
        res.end();
        return;
      }
      if (from > this.store.currentRv()) {
        // kube-apiserver would wait and then answer "Too large resource version"; here that only
        // happens to clients of a previous (restarted) server, so make them relist at once.
        write('ERROR', errors.gone(`too large resource version: ${from}, current: ${this.store.currentRv()}`).status);
        res.end();
        return;
      }
      const since = this.store.since(from);
      if (!since.ok) {
        write('ERROR', errors.gone(`too old resource version: ${from} (${since.oldest})`).status);
        res.end();
        return;
      }
      for (const c of since.changes) {
        const e = toEvent(c);
        if (e) write(e.type, this.present(r.type, e.object));
      }
    }
    const unsubscribe = this.store.subscribe((c) => {
      lastRv = c.rv;
      const e = toEvent(c);
      if (e) write(e.type, this.present(r.type, e.object));
    });
    const timers: NodeJS.Timeout[] = [];
    if (bookmarks) {
      timers.push(setInterval(() => write('BOOKMARK', { kind: r.type.kind, apiVersion: apiVersionOf(r.type), metadata: { resourceVersion: String(lastRv) } }), this.bookmarkMs));
    }
    const stop = (): void => {
      unsubscribe();
      for (const t of timers) clearInterval(t);
      this.watches.delete(stop);
      if (!res.writableEnded) res.end();
    };
    if (timeoutSeconds > 0) timers.push(setTimeout(stop, timeoutSeconds * 1000));
    this.watches.add(stop);
    req.on('close', stop);
    res.on('close', stop);
  }

  // ------------------------------------------------------------------ writes

  private strategyContext(): StrategyContext {
    return {
      network: this.network,
      otherServices: (self) => this.store.list('/services').filter((s) => !(s.metadata.namespace === self.namespace && s.metadata.name === self.name)),
    };
  }

  private async admit(op: Operation, t: ResourceType, ns: string | undefined, name: string, sub: string | undefined,
    object: KubeObject | undefined, oldObject: KubeObject | undefined, ctx: WriteContext): Promise<void> {
    if (ctx.internal) return;
    await this.admission.validate({ operation: op, type: t, ...(sub ? { subresource: sub } : {}), ...(ns !== undefined ? { namespace: ns } : {}), name,
      ...(object ? { object: this.present(t, object) } : {}), ...(oldObject ? { oldObject: this.present(t, oldObject) } : {}), user: ctx.user, dryRun: ctx.dryRun });
  }

  /** Everything up to storing a new object; returns it ready to store. */
  private prepareNew(t: ResourceType, ns: string | undefined, body: JsonObject): KubeObject {
    if (typeof body.apiVersion === 'string' && body.apiVersion !== apiVersionOf(t)) {
      throw errors.badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(t)})`);
    }
    if (typeof body.kind === 'string' && body.kind !== t.kind) {
      throw errors.badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${t.kind})`);
    }
    const o = clone(t.storedAs ? t.storedAs.toStorage(body) : body) as KubeObject;
    o.apiVersion = storageApiVersion(t);
    o.kind = t.kind;
    o.metadata = isObject(o.metadata) ? o.metadata : {};
    const m = o.metadata;
    if (t.namespaced) {
      if (m.namespace && m.namespace !== ns) throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      m.namespace = ns!;
    } else delete m.namespace;
    if (!m.name && m.generateName) m.name = `${m.generateName}${randomSuffix()}`;
    if (!m.name) throw errors.invalid(t.kind, t.group, '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    const bad = validateName(t, m.name);
    if (bad) throw errors.invalid(t.kind, t.group, m.name, [bad]);
    if (t.namespaced) {
      const nsObj = this.store.get(NS_KEY, undefined, ns!);
      if (!nsObj) throw errors.notFound('namespaces', '', ns!);
      if (nsObj.metadata.deletionTimestamp) {
        throw new ApiError({ ...errors.forbidden(`${t.resource} "${m.name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`).status,
          details: { name: m.name, group: t.group, kind: t.resource, causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }] } });
      }
    }
    if (this.store.get(storageKey(t), m.namespace, m.name)) throw errors.alreadyExists(t.resource, t.group, m.name);
    m.uid = randomUUID();
    m.creationTimestamp = nowSeconds();
    delete m.resourceVersion;
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete m.managedFields;
    delete m.selfLink;
    if (tracksGeneration(t)) m.generation = 1; else delete m.generation;
    prepareCreate(t, o, this.strategyContext());
    if (storageKey(t) === '/secrets' && o.type === SA_TOKEN_TYPE) this.fillServiceAccountToken(o);
    return o;
  }

  /** Synchronous create for internal callers (bootstrap): no admission. */
  private createNow(t: ResourceType, ns: string | undefined, body: JsonObject, _ctx: WriteContext): KubeObject {
    const o = this.prepareNew(t, ns, body);
    const stored = this.store.create(storageKey(t), o);
    this.afterWrite(t, stored, undefined);
    return stored;
  }

  async create(t: ResourceType, ns: string | undefined, body: JsonObject, ctx: WriteContext): Promise<KubeObject> {
    const o = this.prepareNew(t, ns, body);
    this.preventEscalation(t, o, ctx);
    await this.admit('CREATE', t, o.metadata.namespace, o.metadata.name!, undefined, o, undefined, ctx);
    if (ctx.dryRun) return o;
    // Admission is asynchronous: re-check for a racing create.
    if (this.store.get(storageKey(t), o.metadata.namespace, o.metadata.name!)) throw errors.alreadyExists(t.resource, t.group, o.metadata.name!);
    const stored = this.store.create(storageKey(t), o);
    this.afterWrite(t, stored, undefined);
    return stored;
  }

  /**
   * The token controller's job for a legacy `kubernetes.io/service-account-token` Secret: a token
   * for the annotated ServiceAccount (which must exist), the CA and the namespace.
   */
  private fillServiceAccountToken(o: KubeObject): void {
    const saName = o.metadata.annotations?.[SA_NAME_ANNOTATION];
    const sa = saName ? this.store.get('/serviceaccounts', o.metadata.namespace, saName) : undefined;
    if (!saName || !sa) {
      throw errors.invalid('Secret', '', o.metadata.name!, [{ reason: 'FieldValueNotFound', field: `metadata.annotations[${SA_NAME_ANNOTATION}]`,
        message: `Not found: ${JSON.stringify(saName ?? '')}: the ServiceAccount must exist` }]);
    }
    const minted = this.authn.mint(o.metadata.namespace!, saName, { uid: sa.metadata.uid!, expirationSeconds: LEGACY_TOKEN_SECONDS });
    o.metadata.annotations = { ...o.metadata.annotations, [SA_UID_ANNOTATION]: sa.metadata.uid! };
    o.data = {
      ...(isObject(o.data) ? o.data : {}),
      token: Buffer.from(minted.token).toString('base64'),
      namespace: Buffer.from(o.metadata.namespace!).toString('base64'),
      ...(this.caPem ? { 'ca.crt': Buffer.from(this.caPem).toString('base64') } : {}),
    };
  }

  /**
   * RBAC escalation prevention as kube-apiserver does it: a Role/ClusterRole may only grant what
   * its author holds (or the author has `escalate`); a binding may only reference a role whose
   * permissions its author holds (or the author has `bind` on that role).
   */
  private preventEscalation(t: ResourceType, o: KubeObject, ctx: WriteContext): void {
    if (ctx.internal || t.group !== 'rbac.authorization.k8s.io') return;
    const view = this.rbacView();
    const ns = t.namespaced ? o.metadata.namespace : undefined;
    const what = `${t.resource}.${t.group} "${o.metadata.name}"`;
    const allowedTo = (verb: string, resource: string, name?: string): boolean =>
      authorize(view, ctx.user, { kind: 'resource', verb, group: t.group, resource, ...(ns ? { namespace: ns } : {}), ...(name ? { name } : {}) }).allowed;
    let rules: PolicyRule[];
    if (t.resource === 'roles' || t.resource === 'clusterroles') {
      if (allowedTo('escalate', t.resource, o.metadata.name)) return;
      rules = Array.isArray(o.rules) ? (o.rules as unknown as PolicyRule[]) : [];
    } else {
      const ref = isObject(o.roleRef) ? o.roleRef : {};
      const refResource = ref.kind === 'Role' ? 'roles' : 'clusterroles';
      if (authorize(view, ctx.user, { kind: 'resource', verb: 'bind', group: t.group, resource: refResource,
        ...(refResource === 'roles' || ns ? { namespace: ns ?? '' } : {}), name: String(ref.name ?? '') }).allowed) return;
      const role = ref.kind === 'Role' ? this.store.get('rbac.authorization.k8s.io/roles', ns, String(ref.name)) : this.store.get('rbac.authorization.k8s.io/clusterroles', undefined, String(ref.name));
      rules = role && Array.isArray(role.rules) ? (role.rules as unknown as PolicyRule[]) : [];
    }
    const missing = uncoveredRules(view, ctx.user, rules, ns);
    if (missing.length) throw errors.forbidden(escalationMessage(what, ctx.user, missing), { name: o.metadata.name!, group: t.group, kind: t.resource });
  }

  /** Side effects of a stored write: CRD registration, default ServiceAccounts. */
  private afterWrite(t: ResourceType, o: KubeObject, old: KubeObject | undefined): void {
    const key = storageKey(t);
    if (key === 'apiextensions.k8s.io/customresourcedefinitions') this.registry.setCrd(o.metadata.name!, o as unknown as CrdLike);
    if (key === NS_KEY && !old) {
      const sa = this.type('', 'v1', 'serviceaccounts');
      if (!this.store.get(storageKey(sa), o.metadata.name, 'default')) {
        this.store.create(storageKey(sa), { apiVersion: 'v1', kind: 'ServiceAccount',
          metadata: { name: 'default', namespace: o.metadata.name!, uid: randomUUID(), creationTimestamp: nowSeconds() } });
      }
    }
  }

  async update(t: ResourceType, ns: string | undefined, name: string, body: JsonObject, sub: string | undefined, ctx: WriteContext):
    Promise<{ object: KubeObject; created: boolean }> {
    for (let attempt = 0; ; attempt++) {
      const existing = this.store.get(storageKey(t), t.namespaced ? ns : undefined, name);
      if (!existing) {
        if (!sub && createsOnUpdate(t)) return { object: await this.create(t, ns, body, ctx), created: true };
        throw errors.notFound(t.resource, t.group, name);
      }
      const bodyMeta = isObject(body.metadata) ? body.metadata : {};
      if (bodyMeta.name !== undefined && bodyMeta.name !== name) {
        throw errors.badRequest(`the name of the object (${String(bodyMeta.name)}) does not match the name on the URL (${name})`);
      }
      if (t.namespaced && bodyMeta.namespace !== undefined && bodyMeta.namespace !== ns) {
        throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      const wantRv = typeof bodyMeta.resourceVersion === 'string' && bodyMeta.resourceVersion !== '' ? bodyMeta.resourceVersion : undefined;
      if (wantRv !== undefined && wantRv !== existing.metadata.resourceVersion) throw errors.conflict(t.resource, t.group, name);
      const next = this.nextState(t, existing, body, sub);
      if (canonicalJson(withoutVolatile(next)) === canonicalJson(withoutVolatile(existing))) return { object: existing, created: false };
      this.preventEscalation(t, next, ctx);
      await this.admit('UPDATE', t, existing.metadata.namespace, name, sub, next, existing, ctx);
      if (ctx.dryRun) return { object: next, created: false };
      const current = this.store.get(storageKey(t), existing.metadata.namespace, name);
      if (!current || current.metadata.resourceVersion !== existing.metadata.resourceVersion) {
        if (wantRv !== undefined || attempt >= 5) throw errors.conflict(t.resource, t.group, name);
        continue; // unconditional update raced another write: start again from the new state
      }
      return { object: this.storeUpdate(t, next, existing), created: false };
    }
  }

  /** Stores an update; completes a pending deletion when the last finalizer is gone. */
  private storeUpdate(t: ResourceType, next: KubeObject, old: KubeObject): KubeObject {
    const stored = this.store.update(storageKey(t), next);
    this.afterWrite(t, stored, old);
    if (stored.metadata.deletionTimestamp && (stored.metadata.finalizers ?? []).length === 0 && storageKey(t) !== NS_KEY) {
      this.removeNow(t, stored);
    }
    if (stored.metadata.deletionTimestamp) this.scheduleSweep();
    return stored;
  }

  /** The object an update would store: status split, immutable metadata, defaults, generation. */
  private nextState(t: ResourceType, existing: KubeObject, body: JsonObject, sub: string | undefined): KubeObject {
    let next: KubeObject;
    if (sub === 'status') {
      next = clone(existing);
      if (body.status === undefined) delete next.status; else next.status = clone(body.status);
    } else if (sub === 'finalize') {
      next = clone(existing);
      const spec = isObject(body.spec) ? body.spec : {};
      next.spec = { ...(isObject(next.spec) ? next.spec : {}), finalizers: Array.isArray(spec.finalizers) ? spec.finalizers : [] };
    } else {
      if (typeof body.kind === 'string' && body.kind !== t.kind) throw errors.badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${t.kind})`);
      next = clone(t.storedAs ? t.storedAs.toStorage(body) : body) as KubeObject;
      next.metadata = isObject(next.metadata) ? next.metadata : {};
      if (t.subresources.includes('status')) {
        if (existing.status === undefined) delete next.status; else next.status = clone(existing.status);
      }
    }
    next.apiVersion = storageApiVersion(t);
    next.kind = t.kind;
    const m = next.metadata;
    const em = existing.metadata;
    for (const k of ['name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
      if (em[k] === undefined) delete m[k]; else (m as Record<string, unknown>)[k] = em[k];
    }
    m.resourceVersion = em.resourceVersion!;
    delete m.managedFields;
    delete m.selfLink;
    if (em.deletionTimestamp) {
      const added = (m.finalizers ?? []).filter((f) => !(em.finalizers ?? []).includes(f));
      if (added.length) {
        throw errors.invalid(t.kind, t.group, em.name!, [{ reason: 'FieldValueForbidden', field: 'metadata.finalizers', message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` }]);
      }
    }
    if (sub === undefined) prepareUpdate(t, next, existing, this.strategyContext());
    if (m.finalizers && m.finalizers.length === 0) delete m.finalizers;
    if (tracksGeneration(t) && specPart(t, next) !== specPart(t, existing)) m.generation = (em.generation ?? 0) + 1;
    return next;
  }

  async patch(t: ResourceType, ns: string | undefined, name: string, sub: string | undefined, ctype: string, raw: Buffer, ctx: WriteContext, q: URLSearchParams):
    Promise<{ object: KubeObject; created: boolean }> {
    const text = raw.toString('utf8');
    let patchDoc: unknown;
    try {
      patchDoc = ctype === 'application/apply-patch+yaml' ? parseYaml(text) : JSON.parse(text);
    } catch (e) {
      throw errors.badRequest(`the patch is not valid ${ctype.includes('yaml') ? 'YAML' : 'JSON'}: ${(e as Error).message}`);
    }
    const known = ['application/merge-patch+json', 'application/json-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
    if (!known.includes(ctype)) {
      throw errors.unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: ${known.join(', ')}`);
    }
    if (ctype === 'application/strategic-merge-patch+json' && !t.builtin) {
      throw errors.unsupportedMediaType('strategic merge patch is not supported for custom resources; use application/merge-patch+json or application/json-patch+json');
    }
    for (let attempt = 0; ; attempt++) {
      const existing = this.store.get(storageKey(t), t.namespaced ? ns : undefined, name);
      if (!existing) {
        if (ctype === 'application/apply-patch+yaml' && !sub) {
          if (!isObject(patchDoc)) throw errors.badRequest('an apply patch must be an object');
          if (q.get('fieldManager') === null) throw errors.badRequest('PATCH requests with apply-patch+yaml require fieldManager');
          return { object: await this.create(t, ns, patchDoc, ctx), created: true };
        }
        throw errors.notFound(t.resource, t.group, name);
      }
      let patched: Json;
      const base = this.present(t, existing) as Json;
      switch (ctype) {
        case 'application/merge-patch+json':
          if (!isObject(patchDoc)) throw errors.badRequest('a merge patch must be a JSON object');
          patched = mergePatch(base, patchDoc);
          break;
        case 'application/json-patch+json': {
          const r = jsonPatch(base, patchDoc);
          if (!r.ok) throw new ApiError({ ...errors.invalid(t.kind, t.group, name, []).status, message: `the server rejected our request due to an error in our request: ${r.reason}`, code: 422 });
          patched = r.value;
          break;
        }
        case 'application/strategic-merge-patch+json':
          if (!isObject(patchDoc)) throw errors.badRequest('a strategic merge patch must be a JSON object');
          patched = strategicMerge(base, patchDoc);
          break;
        default: // server-side apply, approximated: a merge of the applied configuration (no field ownership)
          if (!isObject(patchDoc)) throw errors.badRequest('an apply patch must be an object');
          if (q.get('fieldManager') === null) throw errors.badRequest('PATCH requests with apply-patch+yaml require fieldManager');
          { const applied = clone(patchDoc); if (isObject(applied.metadata)) delete applied.metadata.resourceVersion; patched = t.builtin ? strategicMerge(base, applied) : mergePatch(base, applied); }
      }
      if (!isObject(patched)) throw errors.badRequest('the patched object is not a JSON object');
      const pm = isObject(patched.metadata) ? patched.metadata : {};
      const wantRv = typeof pm.resourceVersion === 'string' && pm.resourceVersion !== existing.metadata.resourceVersion ? pm.resourceVersion : undefined;
      if (wantRv !== undefined) throw errors.conflict(t.resource, t.group, name);
      if (pm.name !== undefined && pm.name !== name) throw errors.badRequest(`the name of the object (${String(pm.name)}) does not match the name on the URL (${name})`);
      const next = this.nextState(t, existing, patched, sub);
      if (canonicalJson(withoutVolatile(next)) === canonicalJson(withoutVolatile(existing))) return { object: existing, created: false };
      this.preventEscalation(t, next, ctx);
      await this.admit('UPDATE', t, existing.metadata.namespace, name, sub, next, existing, ctx);
      if (ctx.dryRun) return { object: next, created: false };
      const current = this.store.get(storageKey(t), existing.metadata.namespace, name);
      if (!current || current.metadata.resourceVersion !== existing.metadata.resourceVersion) {
        if (attempt >= 5) throw errors.conflict(t.resource, t.group, name);
        continue;
      }
      return { object: this.storeUpdate(t, next, existing), created: false };
    }
  }

  async delete(t: ResourceType, ns: string | undefined, name: string, ctx: WriteContext, policy: string, preconditions: JsonObject | undefined):
    Promise<{ object: KubeObject } | { status: StatusBody }> {
    const existing = this.getOrThrow(t, ns, name);
    if (preconditions?.uid !== undefined && preconditions.uid !== existing.metadata.uid) {
      throw errors.conflict(t.resource, t.group, name, `Precondition failed: UID in precondition: ${String(preconditions.uid)}, UID in object meta: ${existing.metadata.uid}`);
    }
    if (preconditions?.resourceVersion !== undefined && preconditions.resourceVersion !== existing.metadata.resourceVersion) {
      throw errors.conflict(t.resource, t.group, name, `Precondition failed: ResourceVersion in precondition: ${String(preconditions.resourceVersion)}, ResourceVersion in object meta: ${existing.metadata.resourceVersion}`);
    }
    if (storageKey(t) === NS_KEY && ['default', 'kube-system', 'kube-public'].includes(name)) {
      throw errors.forbidden(`namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, group: '', kind: 'namespaces' });
    }
    if (!['Background', 'Foreground', 'Orphan'].includes(policy)) throw errors.badRequest(`propagationPolicy "${policy}" is not one of Background, Foreground, Orphan`);
    await this.admit('DELETE', t, existing.metadata.namespace, name, undefined, undefined, existing, ctx);
    if (ctx.dryRun) return { object: existing };
    const key = storageKey(t);
    if (policy === 'Orphan') this.orphanDependents(existing.metadata.uid!);
    const finalizers = [...(existing.metadata.finalizers ?? [])];
    if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (key === NS_KEY || finalizers.length > 0) {
      if (existing.metadata.deletionTimestamp && finalizers.length === (existing.metadata.finalizers ?? []).length) return { object: existing };
      const next = clone(existing);
      next.metadata.deletionTimestamp ??= nowSeconds();
      next.metadata.deletionGracePeriodSeconds ??= 0;
      if (finalizers.length) next.metadata.finalizers = finalizers;
      if (key === NS_KEY) next.status = { ...(isObject(next.status) ? next.status : {}), phase: 'Terminating' };
      const stored = this.store.update(key, next);
      this.scheduleSweep();
      return { object: stored };
    }
    const gone = this.removeNow(t, existing);
    return t.resource === 'pods' || t.resource === 'services' || !t.builtin ? { object: gone }
      : { status: successStatus({ name, group: t.group, kind: t.resource, uid: existing.metadata.uid! }) };
  }

  /** Removes an object from the store with its side effects, and schedules garbage collection. */
  private removeNow(t: ResourceType, o: KubeObject): KubeObject {
    const key = storageKey(t);
    const gone = this.store.remove(key, o.metadata.namespace, o.metadata.name!) ?? o;
    if (key === '/serviceaccounts') this.authn.revokeServiceAccount(o.metadata.namespace!, o.metadata.name!);
    if (key === '/secrets' && o.type === SA_TOKEN_TYPE && isObject(o.data) && typeof o.data.token === 'string') {
      this.authn.revoke(Buffer.from(o.data.token, 'base64').toString('utf8'));
    }
    if (key === 'apiextensions.k8s.io/customresourcedefinitions') {
      const types = this.registry.removeCrd(o.metadata.name!);
      const first = types[0];
      if (first) for (const cr of this.store.list(storageKey(first))) this.store.remove(storageKey(first), cr.metadata.namespace, cr.metadata.name!);
    }
    this.scheduleSweep();
    return gone;
  }

  private orphanDependents(uid: string): void {
    for (const key of this.store.keys()) {
      for (const o of this.store.list(key)) {
        const refs = o.metadata.ownerReferences ?? [];
        if (!refs.some((r) => r.uid === uid)) continue;
        const next = clone(o);
        next.metadata.ownerReferences = refs.filter((r) => r.uid !== uid);
        if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
        this.store.update(key, next);
      }
    }
  }

  // ------------------------------------------------------------------ garbage collection, namespace termination

  private scheduleSweep(): void {
    if (this.sweepScheduled || this.closed) return;
    this.sweepScheduled = true;
    this.sweepTimer = setImmediate(() => {
      this.sweepScheduled = false;
      this.sweep();
    });
  }

  private typeForKey(key: string): ResourceType | undefined {
    return this.registry.all().find((t) => storageKey(t) === key);
  }

  /**
   * One pass of the garbage collector (background: dependents whose owners are all gone are
   * deleted; foreground: a deleting owner's dependents are deleted, then the owner) and of the
   * namespace controller (a terminating namespace is emptied, then removed).
   */
  private sweep(): void {
    const system: WriteContext = { user: { username: 'system:serviceaccount:kube-system:generic-garbage-collector', groups: ['system:masters'] }, dryRun: false, internal: true };
    const uids = new Map<string, KubeObject>();
    const all: Array<{ key: string; o: KubeObject }> = [];
    for (const key of this.store.keys()) for (const o of this.store.list(key)) { uids.set(o.metadata.uid!, o); all.push({ key, o }); }
    let changed = false;
    for (const { key, o } of all) {
      const refs = o.metadata.ownerReferences ?? [];
      if (refs.length === 0) continue;
      const owners = refs.map((r) => uids.get(r.uid));
      const allGone = owners.every((x) => x === undefined);
      const foregroundOwner = owners.some((x) => x?.metadata.deletionTimestamp && (x.metadata.finalizers ?? []).includes('foregroundDeletion'));
      if ((allGone || foregroundOwner) && !o.metadata.deletionTimestamp) {
        const t = this.typeForKey(key);
        if (!t) continue;
        void this.delete(t, o.metadata.namespace, o.metadata.name!, system, 'Background', undefined).catch(() => {});
        changed = true;
      }
    }
    for (const { key, o } of all) {
      if (!o.metadata.deletionTimestamp || !(o.metadata.finalizers ?? []).includes('foregroundDeletion')) continue;
      const hasDependents = all.some((d) => (d.o.metadata.ownerReferences ?? []).some((r) => r.uid === o.metadata.uid));
      if (hasDependents) continue;
      const t = this.typeForKey(key);
      const current = this.store.get(key, o.metadata.namespace, o.metadata.name!);
      if (!t || !current) continue;
      current.metadata.finalizers = (current.metadata.finalizers ?? []).filter((f) => f !== 'foregroundDeletion');
      this.storeUpdate(t, current, o);
      changed = true;
    }
    for (const ns of this.store.list(NS_KEY)) {
      if (!ns.metadata.deletionTimestamp) continue;
      const name = ns.metadata.name!;
      let remaining = 0;
      for (const key of this.store.keys()) {
        const t = this.typeForKey(key);
        if (!t?.namespaced) continue;
        for (const o of this.store.list(key, name)) {
          remaining++;
          if (!o.metadata.deletionTimestamp) {
            void this.delete(t, name, o.metadata.name!, system, 'Background', undefined).catch(() => {});
            changed = true;
          }
        }
      }
      if (remaining === 0 && (ns.metadata.finalizers ?? []).length === 0) {
        this.store.remove(NS_KEY, undefined, name);
        changed = true;
      }
    }
    if (changed) this.scheduleSweep();
  }

  // ------------------------------------------------------------------ tokens and reviews

  mintServiceAccountToken(namespace: string, name: string, expirationSeconds?: number, audiences?: string[]): { token: string; expiresAt: Date } {
    const sa = this.store.get('/serviceaccounts', namespace, name);
    if (!sa) throw errors.notFound('serviceaccounts', '', name);
    const t = this.authn.mint(namespace, name, { uid: sa.metadata.uid!, ...(expirationSeconds ? { expirationSeconds } : {}), ...(audiences ? { audiences } : {}) });
    return { token: t.token, expiresAt: t.expiresAt };
  }

  private tokenRequest(namespace: string, name: string, body: JsonObject): object {
    const spec = isObject(body.spec) ? body.spec : {};
    const exp = typeof spec.expirationSeconds === 'number' ? spec.expirationSeconds : 3600;
    if (exp < 600) throw errors.invalid('TokenRequest', 'authentication.k8s.io', name, [{ reason: 'FieldValueInvalid', field: 'spec.expirationSeconds', message: 'Invalid value: may not specify a duration less than 10 minutes' }]);
    const audiences = Array.isArray(spec.audiences) ? (spec.audiences as string[]) : undefined;
    const t = this.mintServiceAccountToken(namespace, name, exp, audiences);
    return {
      kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, creationTimestamp: null },
      spec: { audiences: audiences ?? ['https://kubernetes.default.svc'], expirationSeconds: exp, boundObjectRef: spec.boundObjectRef ?? null },
      status: { token: t.token, expirationTimestamp: t.expiresAt.toISOString().replace(/\.\d+Z$/, 'Z') },
    };
  }

  private review(t: ResourceType, body: JsonObject, user: UserInfo): object {
    const spec = isObject(body.spec) ? body.spec : {};
    const base = { kind: t.kind, apiVersion: apiVersionOf(t), metadata: { creationTimestamp: null } };
    switch (t.resource) {
      case 'selfsubjectaccessreviews':
      case 'subjectaccessreviews': {
        const who: UserInfo = t.resource === 'subjectaccessreviews'
          ? { username: String(spec.user ?? ''), groups: Array.isArray(spec.groups) ? (spec.groups as string[]) : [] } : user;
        const ra = isObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
        const na = isObject(spec.nonResourceAttributes) ? spec.nonResourceAttributes : undefined;
        const attrs: RequestAttributes = ra
          ? { kind: 'resource', verb: String(ra.verb ?? ''), group: String(ra.group ?? ''), resource: String(ra.resource ?? ''),
            ...(ra.subresource ? { subresource: String(ra.subresource) } : {}), ...(ra.namespace ? { namespace: String(ra.namespace) } : {}), ...(ra.name ? { name: String(ra.name) } : {}) }
          : { kind: 'nonResource', verb: String(na?.verb ?? ''), path: String(na?.path ?? '') };
        const d = authorize(this.rbacView(), who, attrs);
        return { ...base, spec, status: { allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}) } };
      }
      case 'tokenreviews': {
        const r = this.authn.authenticate(`Bearer ${String(spec.token ?? '')}`);
        return { ...base, spec, status: r.ok ? { authenticated: true, user: r.user, audiences: ['https://kubernetes.default.svc'] } : { authenticated: false } };
      }
      default:
        return { ...base, status: { userInfo: user } };
    }
  }

  rbacView(): RbacView {
    const cast = (l: KubeObject[]) => l as unknown as never[];
    return {
      roles: (ns) => cast(this.store.list('rbac.authorization.k8s.io/roles', ns)),
      roleBindings: (ns) => cast(this.store.list('rbac.authorization.k8s.io/rolebindings', ns)),
      clusterRoles: () => cast(this.store.list('rbac.authorization.k8s.io/clusterroles')),
      clusterRoleBindings: () => cast(this.store.list('rbac.authorization.k8s.io/clusterrolebindings')),
    };
  }

  /** Ends every watch stream (on shutdown). */
  closeWatches(): void {
    this.closed = true;
    if (this.sweepTimer) clearImmediate(this.sweepTimer);
    for (const stop of [...this.watches]) stop();
  }
}

/** Starts the lab API server on the config's address; resolves once it listens. */
export async function startApiServer(config: ApiServerConfig, opts: StartApiServerOptions = {}): Promise<RunningApiServer> {
  const [cert, key] = await Promise.all([readFile(config.tls.certFile), readFile(config.tls.keyFile)]);
  const caPem = opts.caPem ?? (config.tls.caFile ? await readFile(config.tls.caFile, 'utf8').catch(() => undefined) : undefined);
  let logStream: WriteStream | undefined;
  if (config.logFile) logStream = createWriteStream(config.logFile, { flags: 'a' });
  const log = (line: string): void => {
    logStream?.write(`${line}\n`);
  };
  const api = new LabApiServer(config, log, { ...opts, ...(caPem ? { caPem } : {}) });
  const server: Server = createServer({ cert, key }, (req, res) => void api.handle(req, res));
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  log(`${new Date().toISOString()} listening on https://${host}:${port}`);
  return {
    url: `https://${host}:${port}`,
    port,
    mintServiceAccountToken: (ns, name, exp) => api.mintServiceAccountToken(ns, name, exp).token,
    close: async () => {
      api.closeWatches();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (logStream) await new Promise<void>((resolve) => logStream!.end(() => resolve()));
    },
  };
}

