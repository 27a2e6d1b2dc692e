/**
 * Just enough OpenAPI v3 for kubectl: the `/openapi/v3` index and one document per group-version
 * whose PATCH operations carry `x-kubernetes-group-version-kind` and the `fieldValidation` query
 * parameter. kubectl then leaves validation to the server (which does not check unknown fields:
 * there are no schemas here) and computes strategic merge patches from its compiled-in types.
 * No component schemas are served; /openapi/v2 is not served (kubectl copes without it).
 */
import { createHash } from 'node:crypto';
import type { ResourceRegistry, ResourceType } from './registry.js';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

const QUERY = (name: string) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } });

function operation(r: ResourceType, action: string): object {
  return {
    operationId: `${action}${r.kind}`,
    parameters: [QUERY('dryRun'), QUERY('fieldManager'), QUERY('fieldValidation')],
    responses: { '200': { description: 'OK' } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
  };
}

export function openApiDocument(reg: ResourceRegistry, group: string, version: string): object | undefined {
  const types = reg.resourcesIn(group, version).filter((r) => !r.virtual);
  if (types.length === 0 && !reg.groups().some((g) => g.group === group && g.versions.includes(version))) return undefined;
  const paths: Record<string, object> = {};
  for (const r of types) {
    const prefix = `/${gvPath(group, version)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`;
    paths[prefix] = { post: operation(r, 'post') };
    paths[`${prefix}/{name}`] = { get: operation(r, 'get'), put: operation(r, 'put'), patch: operation(r, 'patch'), delete: operation(r, 'delete') };
    for (const s of r.subresources.filter((x) => x === 'status')) {
      paths[`${prefix}/{name}/${s}`] = { get: operation(r, 'get'), put: operation(r, 'put'), patch: operation(r, 'patch') };
    }
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes (bmlb lab)', version: 'v1.32.0' }, paths, components: { schemas: {} } };
}

export function openApiIndex(reg: ResourceRegistry): object {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const g of reg.groups()) {
    for (const v of g.versions) {
      const doc = openApiDocument(reg, g.group, v);
      const hash = createHash('sha256').update(JSON.stringify(doc)).digest('hex').slice(0, 32).toUpperCase();
      paths[gvPath(g.group, v)] = { serverRelativeURL: `/openapi/v3/${gvPath(g.group, v)}?hash=${hash}` };
    }
  }
  return { paths };
}
