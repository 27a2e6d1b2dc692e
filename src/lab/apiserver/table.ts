/**
 * `meta.k8s.io/v1` Table responses, which kubectl asks for (`Accept: ...;as=Table`) to print
 * `kubectl get`. A few columns per well-known type; Name and Age for everything else.
 */
import { isObject, type JsonObject } from './patch.js';
import type { ResourceType } from './registry.js';
import type { KubeObject } from './store.js';

export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept);
}

interface Column { name: string; type: string; format?: string; description: string; priority?: number; cell(o: KubeObject): string | number }

function age(o: KubeObject): string {
  const t = Date.parse(o.metadata.creationTimestamp ?? '');
  if (Number.isNaN(t)) return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function o2(v: unknown): JsonObject {
  return isObject(v) ? v : {};
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}

function ports(o: KubeObject): string {
  const ps = (o2(o.spec).ports ?? []) as JsonObject[];
  if (!Array.isArray(ps) || ps.length === 0) return '<none>';
  return ps.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
}

function externalIp(o: KubeObject): string {
  const spec = o2(o.spec);
  const ing = (o2(o2(o.status).loadBalancer).ingress ?? []) as JsonObject[];
  const ips = [...(Array.isArray(ing) ? ing.map((i) => String(i.ip ?? i.hostname ?? '')) : []), ...((spec.externalIPs as string[] | undefined) ?? [])].filter(Boolean);
  if (ips.length) return ips.join(',');
  return spec.type === 'LoadBalancer' ? '<pending>' : '<none>';
}

const EXTRA: Record<string, Column[]> = {
  '/pods': [
    { name: 'Ready', type: 'string', description: 'ready containers', cell: (o) => {
      const cs = (o2(o.status).containerStatuses ?? []) as JsonObject[];
      const total = Array.isArray(o2(o.spec).containers) ? (o2(o.spec).containers as unknown[]).length : 0;
      return `${Array.isArray(cs) ? cs.filter((c) => c.ready === true).length : 0}/${total}`;
    } },
    { name: 'Status', type: 'string', description: 'phase', cell: (o) => (o.metadata.deletionTimestamp ? 'Terminating' : String(o2(o.status).phase ?? 'Unknown')) },
    { name: 'Restarts', type: 'integer', description: 'restarts', cell: (o) => {
      const cs = (o2(o.status).containerStatuses ?? []) as JsonObject[];
      return Array.isArray(cs) ? cs.reduce((n, c) => n + num(c.restartCount), 0) : 0;
    } },
  ],
  '/services': [
    { name: 'Type', type: 'string', description: 'type', cell: (o) => String(o2(o.spec).type ?? '') },
    { name: 'Cluster-IP', type: 'string', description: 'cluster IP', cell: (o) => String(o2(o.spec).clusterIP ?? '') },
    { name: 'External-IP', type: 'string', description: 'external IPs', cell: externalIp },
    { name: 'Port(s)', type: 'string', description: 'ports', cell: ports },
  ],
  '/nodes': [
    { name: 'Status', type: 'string', description: 'ready condition', cell: (o) => {
      const c = ((o2(o.status).conditions ?? []) as JsonObject[]).find((x) => x.type === 'Ready');
      return c?.status === 'True' ? 'Ready' : c ? 'NotReady' : 'Unknown';
    } },
    { name: 'Roles', type: 'string', description: 'roles', cell: (o) => Object.keys(o.metadata.labels ?? {}).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.split('/')[1]).join(',') || '<none>' },
  ],
  '/namespaces': [{ name: 'Status', type: 'string', description: 'phase', cell: (o) => String(o2(o.status).phase ?? '') }],
  '/configmaps': [{ name: 'Data', type: 'integer', description: 'keys', cell: (o) => Object.keys(o2(o.data)).length + Object.keys(o2(o.binaryData)).length }],
  '/secrets': [
    { name: 'Type', type: 'string', description: 'type', cell: (o) => String(o.type ?? '') },
    { name: 'Data', type: 'integer', description: 'keys', cell: (o) => Object.keys(o2(o.data)).length },
  ],
  'apps/deployments': [
    { name: 'Ready', type: 'string', description: 'ready/desired', cell: (o) => `${num(o2(o.status).readyReplicas)}/${num(o2(o.spec).replicas)}` },
    { name: 'Up-to-date', type: 'integer', description: 'updated', cell: (o) => num(o2(o.status).updatedReplicas) },
    { name: 'Available', type: 'integer', description: 'available', cell: (o) => num(o2(o.status).availableReplicas) },
  ],
  'apps/daemonsets': [
    { name: 'Desired', type: 'integer', description: 'desired', cell: (o) => num(o2(o.status).desiredNumberScheduled) },
    { name: 'Current', type: 'integer', description: 'current', cell: (o) => num(o2(o.status).currentNumberScheduled) },
    { name: 'Ready', type: 'integer', description: 'ready', cell: (o) => num(o2(o.status).numberReady) },
  ],
  '/events': [
    { name: 'Type', type: 'string', description: 'type', cell: (o) => String(o.type ?? '') },
    { name: 'Reason', type: 'string', description: 'reason', cell: (o) => String(o.reason ?? '') },
    { name: 'Object', type: 'string', description: 'involved object', cell: (o) => `${String(o2(o.involvedObject).kind ?? '').toLowerCase()}/${String(o2(o.involvedObject).name ?? '')}` },
    { name: 'Message', type: 'string', description: 'message', cell: (o) => String(o.message ?? '') },
  ],
  'coordination.k8s.io/leases': [{ name: 'Holder', type: 'string', description: 'holder', cell: (o) => String(o2(o.spec).holderIdentity ?? '') }],
};

/** Reads a simple JSONPath (`.spec.size`, `.status.conditions[0].type`) as a table cell. */
function jsonPathCell(o: KubeObject, path: string): string | number {
  let cur: unknown = o;
  for (const seg of path.replace(/^\./, '').split('.').filter(Boolean)) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(seg);
    if (!m) return '';
    if (m[1]) cur = isObject(cur) ? cur[m[1]] : undefined;
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) cur = Array.isArray(cur) ? cur[Number(idx[1])] : undefined;
  }
  if (cur === undefined || cur === null) return '';
  if (typeof cur === 'number') return cur;
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

export function tableFor(t: ResourceType, objects: KubeObject[], resourceVersion: string, includeObject: 'None' | 'Metadata' | 'Object',
  continueToken?: string, withoutColumns = false): object {
  const cols: Column[] = [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', cell: (o) => o.metadata.name ?? '' },
    ...(EXTRA[`${t.group}/${t.resource}`] ?? []),
    ...(t.printerColumns ?? []).map((c): Column => ({ name: c.name, type: c.type, description: c.description, priority: c.priority, cell: (o) => jsonPathCell(o, c.jsonPath) })),
    { name: 'Age', type: 'string', description: 'time since creation', cell: age },
  ];
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion, ...(continueToken ? { continue: continueToken } : {}) },
    columnDefinitions: withoutColumns ? null : cols.map(({ name, type, format, description, priority }) => ({ name, type, format: format ?? '', description, priority: priority ?? 0 })),
    rows: objects.map((o) => ({
      cells: cols.map((c) => c.cell(o)),
      ...(includeObject === 'None' ? {} : {
        object: includeObject === 'Object' ? o : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
      }),
    })),
  };
}
