/**
 * Validating admission webhooks: for every write, the ValidatingWebhookConfigurations whose rules
 * (operations, apiGroups, apiVersions, resources incl. subresources and `*`, scope),
 * namespaceSelector and objectSelector match are called with an AdmissionReview v1, at
 * clientConfig.url or at a ready endpoint of clientConfig.service (TLS verified with caBundle,
 * server name `SERVICE.NAMESPACE.svc`), honouring timeoutSeconds and failurePolicy.
 * ValidatingAdmissionPolicies are stored but not evaluated (no CEL here).
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:https';
import type { Admission, AdmissionRequest } from './admission.js';
import { isObject, type JsonObject } from './patch.js';
import { fromLabelSelectorObject, matchesLabels } from './selectors.js';
import { ApiError, errors } from './status.js';
import type { KubeObject } from './store.js';

export interface WebhookDeps {
  webhookConfigs(): KubeObject[];
  namespace(name: string): KubeObject | undefined;
  service(namespace: string, name: string): KubeObject | undefined;
  endpointSlices(namespace: string): KubeObject[];
}

interface Rule { operations?: string[]; apiGroups?: string[]; apiVersions?: string[]; resources?: string[]; scope?: string }

function listHas(list: string[] | undefined, v: string): boolean {
  return (list ?? []).some((x) => x === '*' || x === v);
}

function resourceMatches(entries: string[] | undefined, resource: string, sub: string | undefined): boolean {
  return (entries ?? []).some((e) => {
    const [r, s] = e.split('/') as [string, string | undefined];
    if (s === undefined) return sub === undefined && (r === '*' || r === resource);
    return (r === '*' || r === resource) && (s === '*' || s === sub);
  });
}

export function ruleMatches(rule: Rule, req: Pick<AdmissionRequest, 'operation' | 'type' | 'subresource'>): boolean {
  if (!listHas(rule.operations, req.operation)) return false;
  if (!listHas(rule.apiGroups, req.type.group)) return false;
  if (!listHas(rule.apiVersions, req.type.version)) return false;
  if (!resourceMatches(rule.resources, req.type.resource, req.subresource)) return false;
  const scope = rule.scope ?? '*';
  if (scope === 'Cluster' && req.type.namespaced) return false;
  if (scope === 'Namespaced' && !req.type.namespaced) return false;
  return true;
}

interface Target { url: URL; servername: string }

/**
 * namespaceSelector and objectSelector as admission applies them: the object selector is tried on
 * the new and the old object; the namespace selector on the object's namespace (or the Namespace
 * itself); cluster-scoped objects always pass the namespace selector.
 */
export function matchesSelectors(namespaceSelector: unknown, objectSelector: unknown, req: AdmissionRequest,
  namespace: (name: string) => KubeObject | undefined): boolean {
  const objSel = fromLabelSelectorObject(objectSelector as never);
  if (objSel.length) {
    const hit = [req.object, req.oldObject].some((o) => o !== undefined && matchesLabels(objSel, o.metadata.labels));
    if (!hit) return false;
  }
  const nsSel = fromLabelSelectorObject(namespaceSelector as never);
  if (nsSel.length) {
    let labels: Record<string, string> | undefined;
    if (req.type.group === '' && req.type.resource === 'namespaces') labels = (req.object ?? req.oldObject)?.metadata.labels;
    else if (req.type.namespaced && req.namespace) labels = namespace(req.namespace)?.metadata.labels;
    else return true;
    if (!matchesLabels(nsSel, labels)) return false;
  }
  return true;
}

export class WebhookAdmission implements Admission {
  constructor(private readonly deps: WebhookDeps) {}

  async validate(req: AdmissionRequest): Promise<void> {
    if (req.type.group === 'admissionregistration.k8s.io') return; // as kube-apiserver: never for webhook/policy objects
    for (const cfg of this.deps.webhookConfigs()) {
      const hooks = Array.isArray(cfg.webhooks) ? (cfg.webhooks as JsonObject[]) : [];
      for (const h of hooks) {
        if (!this.matches(h, req)) continue;
        await this.call(h, req);
      }
    }
  }

  private matches(h: JsonObject, req: AdmissionRequest): boolean {
    const rules = (Array.isArray(h.rules) ? h.rules : []) as Rule[];
    if (!rules.some((r) => ruleMatches(r, req))) return false;
    return matchesSelectors(h.namespaceSelector, h.objectSelector, req, (n) => this.deps.namespace(n));
  }

  private target(h: JsonObject): Target {
    const cc = isObject(h.clientConfig) ? h.clientConfig : {};
    if (typeof cc.url === 'string') {
      const url = new URL(cc.url);
      return { url, servername: url.hostname.replace(/^\[|\]$/g, '') };
    }
    const svcRef = isObject(cc.service) ? cc.service : {};
    const ns = String(svcRef.namespace ?? '');
    const name = String(svcRef.name ?? '');
    const port = typeof svcRef.port === 'number' ? svcRef.port : 443;
    const svc = this.deps.service(ns, name);
    if (!svc) throw new Error(`service "${ns}/${name}" not found`);
    const sp = ((isObject(svc.spec) ? svc.spec.ports : []) as JsonObject[]).find((p) => p.port === port);
    if (!sp) throw new Error(`service "${ns}/${name}" has no port ${port}`);
    for (const slice of this.deps.endpointSlices(ns)) {
      if (slice.metadata.labels?.['kubernetes.io/service-name'] !== name) continue;
      const ports = (Array.isArray(slice.ports) ? slice.ports : []) as JsonObject[];
      const ep = ports.find((p) => (p.name ?? '') === (sp.name ?? '')) ?? (ports.length === 1 ? ports[0] : undefined);
      const targetPort = typeof ep?.port === 'number' ? ep.port : typeof sp.targetPort === 'number' ? sp.targetPort : port;
      for (const e of (Array.isArray(slice.endpoints) ? slice.endpoints : []) as JsonObject[]) {
        const ready = !isObject(e.conditions) || e.conditions.ready !== false;
        const addr = Array.isArray(e.addresses) ? String(e.addresses[0]) : undefined;
        if (!ready || !addr) continue;
        const host = addr.includes(':') ? `[${addr}]` : addr;
        const path = typeof svcRef.path === 'string' ? svcRef.path : '/';
        return { url: new URL(`https://${host}:${targetPort}${path}`), servername: `${name}.${ns}.svc` };
      }
    }
    throw new Error(`no endpoints available for service "${ns}/${name}"`);
  }

  private review(req: AdmissionRequest, uid: string): object {
    const t = req.type;
    const kind = { group: t.group, version: t.version, kind: t.kind };
    const resource = { group: t.group, version: t.version, resource: t.resource };
    const optionsKind = req.operation === 'CREATE' ? 'CreateOptions' : req.operation === 'UPDATE' ? 'UpdateOptions' : 'DeleteOptions';
    return {
      apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
      request: {
        uid, kind, resource, requestKind: kind, requestResource: resource,
        ...(req.subresource ? { subResource: req.subresource, requestSubResource: req.subresource } : {}),
        name: req.name, ...(req.namespace ? { namespace: req.namespace } : {}), operation: req.operation,
        userInfo: { username: req.user.username, ...(req.user.uid ? { uid: req.user.uid } : {}), groups: req.user.groups, ...(req.user.extra ? { extra: req.user.extra } : {}) },
        object: req.object ?? null, oldObject: req.oldObject ?? null, dryRun: req.dryRun,
        options: { apiVersion: 'meta.k8s.io/v1', kind: optionsKind, ...(req.options ?? {}) },
      },
    };
  }

  private async call(h: JsonObject, req: AdmissionRequest): Promise<void> {
    const name = String(h.name);
    const uid = randomUUID();
    const timeoutMs = Math.min(30, Math.max(1, typeof h.timeoutSeconds === 'number' ? h.timeoutSeconds : 10)) * 1000;
    let response: JsonObject;
    try {
      const target = this.target(h);
      const cc = isObject(h.clientConfig) ? h.clientConfig : {};
      const ca = typeof cc.caBundle === 'string' && cc.caBundle ? Buffer.from(cc.caBundle, 'base64') : undefined;
      const body = await post(target, JSON.stringify(this.review(req, uid)), ca, timeoutMs);
      const parsed = JSON.parse(body) as JsonObject;
      if (!isObject(parsed.response)) throw new Error('the webhook response has no "response"');
      response = parsed.response;
      if (response.uid !== uid) throw new Error(`expected response.uid="${uid}", got "${String(response.uid)}"`);
    } catch (e) {
      if (h.failurePolicy === 'Ignore') return;
      const msg = e instanceof Error ? e.message : String(e);
      throw errors.internal(`failed calling webhook "${name}": failed to call webhook: ${msg}`);
    }
    if (response.allowed === true) return;
    const st = isObject(response.status) ? response.status : {};
    const message = typeof st.message === 'string' && st.message
      ? `admission webhook "${name}" denied the request: ${st.message}` : `admission webhook "${name}" denied the request without explanation`;
    const code = typeof st.code === 'number' && st.code >= 400 ? st.code : 403;
    throw new ApiError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message,
      reason: typeof st.reason === 'string' && st.reason ? st.reason : code === 403 ? 'Forbidden' : 'BadRequest', code });
  }
}

function post(target: Target, body: string, ca: Buffer | undefined, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(target.url, {
      method: 'POST', servername: target.servername, ...(ca ? { ca } : {}),
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body) },
      timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`the server responded with HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
        else resolve(text);
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`context deadline exceeded (timeout ${timeoutMs / 1000}s)`)), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy(new Error(`context deadline exceeded (timeout ${timeoutMs / 1000}s)`)));
    req.on('error', reject);
    req.end(body);
  });
}
