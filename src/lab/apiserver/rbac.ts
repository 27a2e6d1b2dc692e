/**
 * RBAC evaluation as kube-apiserver's RBAC authorizer does it: ClusterRoleBindings grant their
 * ClusterRole's rules everywhere; RoleBindings grant a Role's or ClusterRole's rules inside the
 * binding's namespace. Rules match verbs, apiGroups, resources (`res`, `res/sub`, `*`, `* /sub`),
 * resourceNames and nonResourceURLs (`/path`, `/prefix*`, `*`). Aggregated ClusterRoles take the
 * rules of the ClusterRoles their selectors match. `system:masters` is allowed everything. Pure.
 */
import { fromLabelSelectorObject, matchesLabels } from './selectors.js';
import { qualified } from './status.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export type RequestAttributes =
  | { kind: 'resource'; verb: string; group: string; resource: string; subresource?: string; namespace?: string; name?: string }
  | { kind: 'nonResource'; verb: string; path: string };

export interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Subject { kind?: string; name?: string; namespace?: string; apiGroup?: string }
interface RoleObject { metadata: { name?: string; namespace?: string; labels?: Record<string, string> }; rules?: PolicyRule[] | null;
  aggregationRule?: { clusterRoleSelectors?: Array<Parameters<typeof fromLabelSelectorObject>[0]> } }
interface BindingObject { metadata: { name?: string; namespace?: string }; subjects?: Subject[] | null; roleRef?: { kind?: string; name?: string } }

/** What the authorizer needs to read: the four RBAC kinds, as stored. */
export interface RbacView {
  roles(namespace: string): RoleObject[];
  roleBindings(namespace: string): BindingObject[];
  clusterRoles(): RoleObject[];
  clusterRoleBindings(): BindingObject[];
}

export type Decision = { allowed: true; reason: string } | { allowed: false; reason: string };

export const SUPERUSER_GROUP = 'system:masters';

function has(list: string[] | undefined, v: string): boolean {
  return (list ?? []).some((x) => x === '*' || x === v);
}

function resourceMatches(rule: PolicyRule, resource: string, subresource: string | undefined): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  return (rule.resources ?? []).some((r) => r === '*' || r === combined || (subresource !== undefined && r === `*/${subresource}`));
}

function nonResourceMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
}

export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (a.kind === 'nonResource') return nonResourceMatches(rule, a.path);
  if (!has(rule.apiGroups, a.group)) return false;
  if (!resourceMatches(rule, a.resource, a.subresource)) return false;
  const names = rule.resourceNames ?? [];
  if (names.length === 0) return true;
  return a.name !== undefined && a.name !== '' && names.includes(a.name);
}

function subjectMatches(s: Subject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  switch (s.kind) {
    case 'User': return s.name === user.username;
    case 'Group': return s.name !== undefined && user.groups.includes(s.name);
    case 'ServiceAccount': {
      const ns = s.namespace || bindingNamespace;
      return user.username === `system:serviceaccount:${ns}:${s.name}`;
    }
    default: return false;
  }
}

function clusterRoleRules(view: RbacView, name: string | undefined): PolicyRule[] {
  const all = view.clusterRoles();
  const role = all.find((r) => r.metadata.name === name);
  if (!role) return [];
  const rules = [...(role.rules ?? [])];
  for (const sel of role.aggregationRule?.clusterRoleSelectors ?? []) {
    const reqs = fromLabelSelectorObject(sel);
    for (const other of all) if (other !== role && matchesLabels(reqs, other.metadata.labels)) rules.push(...(other.rules ?? []));
  }
  return rules;
}

export function authorize(view: RbacView, user: UserInfo, a: RequestAttributes): Decision {
  if (user.groups.includes(SUPERUSER_GROUP)) return { allowed: true, reason: `group ${SUPERUSER_GROUP}` };
  for (const b of view.clusterRoleBindings()) {
    if (!(b.subjects ?? []).some((s) => subjectMatches(s, user, undefined))) continue;
    if (b.roleRef?.kind !== 'ClusterRole') continue;
    if (clusterRoleRules(view, b.roleRef.name).some((r) => ruleAllows(r, a))) {
      return { allowed: true, reason: `RBAC: allowed by ClusterRoleBinding "${b.metadata.name}" of ClusterRole "${b.roleRef.name}"` };
    }
  }
  if (a.kind === 'resource' && a.namespace) {
    for (const b of view.roleBindings(a.namespace)) {
      if (!(b.subjects ?? []).some((s) => subjectMatches(s, user, a.namespace))) continue;
      const rules = b.roleRef?.kind === 'ClusterRole' ? clusterRoleRules(view, b.roleRef.name)
        : b.roleRef?.kind === 'Role' ? (view.roles(a.namespace).find((r) => r.metadata.name === b.roleRef?.name)?.rules ?? []) : [];
      if (rules.some((r) => ruleAllows(r, a))) {
        return { allowed: true, reason: `RBAC: allowed by RoleBinding "${b.metadata.name}/${a.namespace}" of ${b.roleRef?.kind} "${b.roleRef?.name}"` };
      }
    }
  }
  return { allowed: false, reason: '' };
}

/** kube-apiserver's 403 message for a denied request. */
export function forbiddenMessage(user: UserInfo, a: RequestAttributes): string {
  if (a.kind === 'nonResource') return `forbidden: User "${user.username}" cannot ${a.verb} path "${a.path}"`;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const what = `${qualified(res, a.group)}${a.name ? ` "${a.name}"` : ''}`;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `${what} is forbidden: User "${user.username}" cannot ${a.verb} resource "${res}" in API group "${a.group}" ${scope}`;
}

/** The bootstrap policy objects every cluster starts with (a subset of kube-apiserver's). */
export function bootstrapPolicy(): Array<{ resource: 'clusterroles' | 'clusterrolebindings'; object: Record<string, unknown> }> {
  const labels = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };
  const annotations = { 'rbac.authorization.kubernetes.io/autoupdate': 'true' };
  const role = (name: string, rules: PolicyRule[]) => ({ resource: 'clusterroles' as const,
    object: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name, labels, annotations }, rules } });
  const binding = (name: string, groups: string[]) => ({ resource: 'clusterrolebindings' as const,
    object: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name, labels, annotations },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: groups.map((g) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: g })) } });
  return [
    role('cluster-admin', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['*'], verbs: ['*'] }]),
    binding('cluster-admin', [SUPERUSER_GROUP]),
    role('system:discovery', [{ nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/readyz', '/openapi', '/openapi/*', '/version', '/version/'], verbs: ['get'] }]),
    binding('system:discovery', ['system:authenticated']),
    role('system:public-info-viewer', [{ nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] }]),
    binding('system:public-info-viewer', ['system:authenticated', 'system:unauthenticated']),
    role('system:basic-user', [{ apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] },
      { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] }]),
    binding('system:basic-user', ['system:authenticated']),
  ];
}

/**
 * Escalation prevention: the parts of `rules` the user does not hold (in `namespace`, or cluster
 * wide), each as one atomic rule. `*` in a requested rule is only covered by `*` in a held one.
 */
export function uncoveredRules(view: RbacView, user: UserInfo, rules: PolicyRule[], namespace: string | undefined): PolicyRule[] {
  const missing: PolicyRule[] = [];
  for (const r of rules) {
    for (const verb of r.verbs ?? []) {
      for (const path of r.nonResourceURLs ?? []) {
        if (!authorize(view, user, { kind: 'nonResource', verb, path }).allowed) missing.push({ verbs: [verb], nonResourceURLs: [path] });
      }
      for (const group of r.apiGroups ?? []) {
        for (const res of r.resources ?? []) {
          const [resource, subresource] = res.split('/') as [string, string | undefined];
          const names = r.resourceNames?.length ? r.resourceNames : [undefined];
          for (const name of names) {
            const a: RequestAttributes = { kind: 'resource', verb, group, resource, ...(subresource ? { subresource } : {}),
              ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) };
            if (!authorize(view, user, a).allowed) missing.push({ apiGroups: [group], resources: [res], verbs: [verb], ...(name ? { resourceNames: [name] } : {}) });
          }
        }
      }
    }
  }
  return missing;
}

export function escalationMessage(what: string, user: UserInfo, missing: PolicyRule[]): string {
  const fmt = (r: PolicyRule): string => r.nonResourceURLs
    ? `{NonResourceURLs:[${JSON.stringify(r.nonResourceURLs[0])}], Verbs:[${JSON.stringify(r.verbs![0])}]}`
    : `{APIGroups:[${JSON.stringify(r.apiGroups![0])}], Resources:[${JSON.stringify(r.resources![0])}]${r.resourceNames ? `, ResourceNames:[${JSON.stringify(r.resourceNames[0])}]` : ''}, Verbs:[${JSON.stringify(r.verbs![0])}]}`;
  return `${what} is forbidden: user "${user.username}" (groups=[${user.groups.map((g) => JSON.stringify(g)).join(' ')}]) is attempting to grant RBAC permissions not currently held:\n${missing.map(fmt).join('\n')}`;
}
