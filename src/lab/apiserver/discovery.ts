/** Discovery documents (legacy, non-aggregated) built from the resource registry. */
import type { ResourceRegistry, ResourceType } from './registry.js';

export function apiVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupDoc(group: string, versions: string[]): object {
  const vs = versions.map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { name: group, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(reg: ResourceRegistry): object {
  return {
    kind: 'APIGroupList', apiVersion: 'v1',
    groups: reg.groups().filter((g) => g.group !== '').map((g) => groupDoc(g.group, g.versions)),
  };
}

export function apiGroup(reg: ResourceRegistry, group: string): object | undefined {
  const g = reg.groups().find((x) => x.group === group && group !== '');
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(g.group, g.versions) } : undefined;
}

function entries(r: ResourceType): object[] {
  const main = {
    name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs,
    ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
    ...(r.categories.length ? { categories: r.categories } : {}),
    storageVersionHash: Buffer.from(`${r.group}/${r.version}/${r.kind}`).toString('base64').slice(0, 11),
  };
  const subs = r.subresources.map((s) => {
    if (s === 'token') return { name: `${r.resource}/token`, singularName: '', namespaced: r.namespaced, group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] };
    if (s === 'finalize') return { name: `${r.resource}/finalize`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['update'] };
    return { name: `${r.resource}/${s}`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] };
  });
  return [main, ...subs];
}

export function apiResourceList(reg: ResourceRegistry, group: string, version: string): object | undefined {
  const rs = reg.resourcesIn(group, version);
  if (rs.length === 0) return undefined;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources: rs.flatMap(entries) };
}
