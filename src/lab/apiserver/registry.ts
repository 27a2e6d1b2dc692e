/**
 * The table of served resources: built-in types plus whatever CustomResourceDefinitions add.
 * One generic store serves them all; this table says how each one is addressed and behaves.
 */
export interface ResourceType {
  group: string;
  version: string;
  /** Plural, lower case: the path segment. */
  resource: string;
  kind: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Subresources served: `status` (spec/status split), `token`, `finalize`, `scale`. */
  subresources: string[];
  /** Built-in types accept strategic-merge-patch; custom resources do not (as in kube-apiserver). */
  builtin: boolean;
  /** Field selector keys beyond metadata.name / metadata.namespace. */
  fieldSelectors: string[];
  /** Verbs advertised in discovery. */
  verbs: string[];
  /** Virtual (create-only, never stored) resources such as SubjectAccessReview. */
  virtual?: boolean;
  /** Stored as another type's objects (events.k8s.io Events are core Events), with converters. */
  storedAs?: { group: string; resource: string; apiVersion: string; toStorage(o: JsonObject): JsonObject; fromStorage(o: JsonObject): JsonObject };
  /** A CRD version's additionalPrinterColumns (for `kubectl get`). */
  printerColumns?: Array<{ name: string; type: string; jsonPath: string; priority: number; description: string }>;
}

import { eventFromCore, eventToCore } from './event-conversion.js';
import type { JsonObject } from './patch.js';

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function t(group: string, version: string, resource: string, kind: string, namespaced: boolean,
  extra: Partial<Pick<ResourceType, 'shortNames' | 'categories' | 'subresources' | 'fieldSelectors' | 'verbs' | 'virtual'>> = {}): ResourceType {
  return {
    group, version, resource, kind, singular: kind.toLowerCase(), namespaced,
    shortNames: extra.shortNames ?? [], categories: extra.categories ?? [], subresources: extra.subresources ?? [],
    builtin: true, fieldSelectors: extra.fieldSelectors ?? [], verbs: extra.verbs ?? ALL_VERBS,
    ...(extra.virtual ? { virtual: true } : {}),
  };
}

const ALL = ['all'];
const INVOLVED = ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid',
  'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'];

export const BUILTIN_TYPES: readonly ResourceType[] = [
  t('', 'v1', 'namespaces', 'Namespace', false, { shortNames: ['ns'], subresources: ['status', 'finalize'], fieldSelectors: ['status.phase'] }),
  t('', 'v1', 'nodes', 'Node', false, { shortNames: ['no'], subresources: ['status'], fieldSelectors: ['spec.unschedulable'] }),
  t('', 'v1', 'pods', 'Pod', true, { shortNames: ['po'], categories: ALL, subresources: ['status'],
    fieldSelectors: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'] }),
  t('', 'v1', 'services', 'Service', true, { shortNames: ['svc'], categories: ALL, subresources: ['status'], fieldSelectors: ['spec.clusterIP', 'spec.type'] }),
  t('', 'v1', 'endpoints', 'Endpoints', true, { shortNames: ['ep'] }),
  t('', 'v1', 'configmaps', 'ConfigMap', true, { shortNames: ['cm'] }),
  t('', 'v1', 'secrets', 'Secret', true, { fieldSelectors: ['type'] }),
  t('', 'v1', 'events', 'Event', true, { shortNames: ['ev'], fieldSelectors: INVOLVED }),
  t('', 'v1', 'serviceaccounts', 'ServiceAccount', true, { shortNames: ['sa'], subresources: ['token'] }),
  { ...t('events.k8s.io', 'v1', 'events', 'Event', true, { shortNames: ['ev'],
    fieldSelectors: ['regarding.kind', 'regarding.namespace', 'regarding.name', 'regarding.uid', 'regarding.apiVersion', 'reason', 'reportingController', 'type'] }),
  storedAs: { group: '', resource: 'events', apiVersion: 'v1', toStorage: eventToCore, fromStorage: eventFromCore } },
  t('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', true, { fieldSelectors: ['addressType'] }),
  t('apps', 'v1', 'daemonsets', 'DaemonSet', true, { shortNames: ['ds'], categories: ALL, subresources: ['status'] }),
  t('apps', 'v1', 'deployments', 'Deployment', true, { shortNames: ['deploy'], categories: ALL, subresources: ['status'] }),
  t('apps', 'v1', 'replicasets', 'ReplicaSet', true, { shortNames: ['rs'], categories: ALL, subresources: ['status'] }),
  t('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', true),
  t('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', true),
  t('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false),
  t('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', false),
  t('coordination.k8s.io', 'v1', 'leases', 'Lease', true),
  t('admissionregistration.k8s.io', 'v1', 'validatingwebhookconfigurations', 'ValidatingWebhookConfiguration', false),
  t('admissionregistration.k8s.io', 'v1', 'mutatingwebhookconfigurations', 'MutatingWebhookConfiguration', false),
  t('admissionregistration.k8s.io', 'v1', 'validatingadmissionpolicies', 'ValidatingAdmissionPolicy', false, { subresources: ['status'] }),
  t('admissionregistration.k8s.io', 'v1', 'validatingadmissionpolicybindings', 'ValidatingAdmissionPolicyBinding', false),
  t('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', false, { shortNames: ['crd', 'crds'], subresources: ['status'] }),
  t('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews', 'SelfSubjectAccessReview', false, { verbs: ['create'], virtual: true }),
  t('authorization.k8s.io', 'v1', 'subjectaccessreviews', 'SubjectAccessReview', false, { verbs: ['create'], virtual: true }),
  t('authentication.k8s.io', 'v1', 'tokenreviews', 'TokenReview', false, { verbs: ['create'], virtual: true }),
  t('authentication.k8s.io', 'v1', 'selfsubjectreviews', 'SelfSubjectReview', false, { verbs: ['create'], virtual: true }),
];

/** The store key of a resource: all versions of a group/resource share one storage. */
export function storageKey(r: Pick<ResourceType, 'group' | 'resource' | 'storedAs'>): string {
  return r.storedAs ? `${r.storedAs.group}/${r.storedAs.resource}` : `${r.group}/${r.resource}`;
}

/** The apiVersion objects of a type carry in storage. */
export function storageApiVersion(r: Pick<ResourceType, 'group' | 'version' | 'storedAs'>): string {
  return r.storedAs ? r.storedAs.apiVersion : apiVersionOf(r);
}

export function apiVersionOf(r: Pick<ResourceType, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

export interface CrdLike {
  metadata?: { name?: string };
  spec?: {
    group?: string;
    scope?: string;
    names?: { plural?: string; singular?: string; kind?: string; shortNames?: string[]; categories?: string[] };
    versions?: Array<{ name?: string; served?: boolean; storage?: boolean; subresources?: { status?: unknown; scale?: unknown };
      selectableFields?: Array<{ jsonPath?: string }>;
      additionalPrinterColumns?: Array<{ name?: string; type?: string; jsonPath?: string; priority?: number; description?: string }> }>;
  };
}

/** Resource types a CRD serves (one per served version). Invalid CRDs yield none (validated elsewhere). */
export function typesFromCrd(crd: CrdLike): ResourceType[] {
  const s = crd.spec;
  if (!s?.group || !s.names?.plural || !s.names.kind || !s.versions) return [];
  const out: ResourceType[] = [];
  for (const v of s.versions) {
    if (!v.name || v.served === false) continue;
    out.push({
      group: s.group, version: v.name, resource: s.names.plural, kind: s.names.kind,
      singular: s.names.singular ?? s.names.kind.toLowerCase(), namespaced: s.scope !== 'Cluster',
      shortNames: s.names.shortNames ?? [], categories: s.names.categories ?? [],
      subresources: v.subresources?.status !== undefined ? ['status'] : [], builtin: false,
      fieldSelectors: (v.selectableFields ?? []).map((f) => (f.jsonPath ?? '').replace(/^\./, '')).filter(Boolean),
      verbs: ALL_VERBS,
      printerColumns: (v.additionalPrinterColumns ?? []).filter((c) => c.name && c.jsonPath)
        .map((c) => ({ name: c.name!, type: c.type ?? 'string', jsonPath: c.jsonPath!, priority: c.priority ?? 0, description: c.description ?? '' })),
    });
  }
  return out;
}

export class ResourceRegistry {
  private readonly types = new Map<string, ResourceType>();
  private readonly crdTypes = new Map<string, ResourceType[]>();

  constructor(builtins: readonly ResourceType[] = BUILTIN_TYPES) {
    for (const r of builtins) this.types.set(`${r.group}/${r.version}/${r.resource}`, r);
  }

  lookup(group: string, version: string, resource: string): ResourceType | undefined {
    return this.types.get(`${group}/${version}/${resource}`);
  }

  /** All served types, built-ins first, in a stable order. */
  all(): ResourceType[] {
    return [...this.types.values()];
  }

  /** Groups with their versions (the first listed version is the preferred one). */
  groups(): Array<{ group: string; versions: string[] }> {
    const m = new Map<string, string[]>();
    for (const r of this.types.values()) {
      const vs = m.get(r.group) ?? [];
      if (!vs.includes(r.version)) vs.push(r.version);
      m.set(r.group, vs);
    }
    return [...m.entries()].map(([group, versions]) => ({ group, versions }));
  }

  resourcesIn(group: string, version: string): ResourceType[] {
    return this.all().filter((r) => r.group === group && r.version === version);
  }

  /** The type a kind is stored as in a group (any version), for ownerReferences and webhooks. */
  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') as [string, string] : ['', apiVersion];
    return this.all().find((r) => r.group === group && r.version === version && r.kind === kind);
  }

  /** Registers (or re-registers) the types of a CRD; returns them. */
  setCrd(crdName: string, crd: CrdLike): ResourceType[] {
    this.removeCrd(crdName);
    const types = typesFromCrd(crd);
    for (const r of types) this.types.set(`${r.group}/${r.version}/${r.resource}`, r);
    this.crdTypes.set(crdName, types);
    return types;
  }

  removeCrd(crdName: string): ResourceType[] {
    const old = this.crdTypes.get(crdName) ?? [];
    for (const r of old) this.types.delete(`${r.group}/${r.version}/${r.resource}`);
    this.crdTypes.delete(crdName);
    return old;
  }
}
