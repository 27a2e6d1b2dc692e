/**
 * EndpointSlice controller core: for a Service with a selector, the slices that list every
 * non-finished Pod matching it (ready or not, with conditions), per address family and per
 * resolved port set, labelled `kubernetes.io/service-name` and managed-by the controller. Slice
 * names are derived from the Service name and the slice's content key, so a restarted controller
 * finds its own slices. Pure: returns the desired slices and the create/update/delete diff.
 */
import { createHash } from 'node:crypto';
import type { DiscoveryV1EndpointPort, V1Endpoint, V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import { podFinished, podReady, podTerminating } from './pod-facts.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const CONTROLLER_NAME = 'endpointslice-controller.k8s.io';

export function selectorMatches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function resolvePorts(svc: V1Service, pod: V1Pod): DiscoveryV1EndpointPort[] | undefined {
  const out: DiscoveryV1EndpointPort[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const target = (sp.targetPort ?? sp.port) as number | string;
    let port: number | undefined;
    if (typeof target === 'number') port = target;
    else if (/^\d+$/.test(target)) port = Number(target);
    else {
      for (const c of pod.spec?.containers ?? []) {
        const named = (c.ports ?? []).find((p) => p.name === target && (p.protocol ?? 'TCP') === (sp.protocol ?? 'TCP'));
        if (named) { port = named.containerPort; break; }
      }
    }
    if (port === undefined) continue; // this pod does not serve that port
    out.push({ name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP', appProtocol: sp.appProtocol });
  }
  return out.length ? out : undefined;
}

function podAddresses(pod: V1Pod, family: 'IPv4' | 'IPv6'): string[] {
  const ips = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  return ips.filter((ip) => (family === 'IPv6') === ip.includes(':')).slice(0, 1);
}

function sliceName(svcName: string, key: string): string {
  const h = createHash('sha256').update(key).digest('hex').slice(0, 5);
  return `${svcName.slice(0, 63 - 6)}-${h}`;
}

/** The slices the Service should have (empty for a selector-less Service: those are managed by others). */
export function desiredEndpointSlices(svc: V1Service, pods: V1Pod[]): V1EndpointSlice[] | undefined {
  const selector = svc.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) return undefined;
  if (svc.spec?.type === 'ExternalName') return undefined;
  const ns = svc.metadata?.namespace ?? 'default';
  const name = svc.metadata?.name ?? '';
  const families = (svc.spec?.ipFamilies?.length ? svc.spec.ipFamilies : ['IPv4']) as ('IPv4' | 'IPv6')[];
  const groups = new Map<string, { family: 'IPv4' | 'IPv6'; ports: DiscoveryV1EndpointPort[]; endpoints: V1Endpoint[] }>();
  const matching = pods
    .filter((p) => (p.metadata?.namespace ?? 'default') === ns && selectorMatches(selector, p.metadata?.labels) && !podFinished(p) && p.spec?.nodeName)
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const family of families) {
    for (const pod of matching) {
      const addresses = podAddresses(pod, family);
      const ports = resolvePorts(svc, pod);
      if (!addresses.length || (svc.spec?.ports?.length && !ports)) continue;
      const key = `${family}|${JSON.stringify(ports ?? [])}`;
      const group = groups.get(key) ?? { family, ports: ports ?? [], endpoints: [] };
      const terminating = podTerminating(pod);
      const ready = podReady(pod) && !terminating;
      group.endpoints.push({
        addresses,
        conditions: { ready, serving: podReady(pod), terminating },
        nodeName: pod.spec?.nodeName,
        targetRef: { kind: 'Pod', name: pod.metadata?.name, namespace: ns, uid: pod.metadata?.uid },
      });
      groups.set(key, group);
    }
    // a Service with no endpoints still gets one placeholder slice per family (no ports, no endpoints)
    if (![...groups.values()].some((g) => g.family === family)) groups.set(`${family}|empty`, { family, ports: [], endpoints: [] });
  }
  return [...groups.entries()].map(([key, g]) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: sliceName(name, key),
      namespace: ns,
      labels: { [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: CONTROLLER_NAME },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, uid: svc.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    addressType: g.family,
    endpoints: g.endpoints,
    ports: g.ports,
  }));
}

export interface SliceDiff {
  create: V1EndpointSlice[];
  update: V1EndpointSlice[];
  delete: { name: string; namespace: string }[];
}

function sameContent(a: V1EndpointSlice, b: V1EndpointSlice): boolean {
  const norm = (s: V1EndpointSlice) => JSON.stringify({
    addressType: s.addressType,
    endpoints: (s.endpoints ?? []).map((e) => ({ a: e.addresses, r: e.conditions?.ready ?? null, s: e.conditions?.serving ?? null, t: e.conditions?.terminating ?? null, n: e.nodeName ?? null, u: e.targetRef?.uid ?? null })),
    ports: (s.ports ?? []).map((p) => ({ n: p.name ?? '', p: p.port ?? null, pr: p.protocol ?? 'TCP' })),
    labels: s.metadata?.labels ?? {},
  });
  return norm(a) === norm(b);
}

/** Diff of desired slices against the controller's existing slices for one Service. */
export function diffSlices(desired: V1EndpointSlice[], existing: V1EndpointSlice[]): SliceDiff {
  const byName = new Map(existing.map((s) => [s.metadata?.name ?? '', s]));
  const create: V1EndpointSlice[] = [];
  const update: V1EndpointSlice[] = [];
  for (const d of desired) {
    const cur = byName.get(d.metadata?.name ?? '');
    if (!cur) create.push(d);
    else if (!sameContent(cur, d)) update.push({ ...d, metadata: { ...d.metadata, resourceVersion: cur.metadata?.resourceVersion } });
    byName.delete(d.metadata?.name ?? '');
  }
  const del = [...byName.values()].map((s) => ({ name: s.metadata?.name ?? '', namespace: s.metadata?.namespace ?? 'default' }));
  return { create, update, delete: del };
}
