/**
 * Offline schema validation of the Kubernetes objects bmlb renders, without an API server.
 *
 * Structure: every field is checked against the models @kubernetes/client-node generates from the
 * Kubernetes OpenAPI document (their attribute type maps): an unknown field (a typo such as
 * `hostNetwrok`) or a value of the wrong type is an error, at any depth.
 * On top, the rules the OpenAPI types do not carry and the API server would enforce for the kinds
 * bmlb emits: required fields, enum values, selector/label agreement, name syntax.
 * Pure: no IO.
 */
import * as k8s from '@kubernetes/client-node';

interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}
interface ModelClass {
  getAttributeTypeMap(): Attribute[];
}

function modelClass(name: string): ModelClass | undefined {
  const c = (k8s as unknown as Record<string, unknown>)[name];
  if (typeof c === 'function' && typeof (c as Partial<ModelClass>).getAttributeTypeMap === 'function') return c as unknown as ModelClass;
  return undefined;
}

/** The model class of each apiVersion/kind bmlb renders. */
const KINDS: Record<string, string> = {
  'v1/Namespace': 'V1Namespace',
  'v1/ServiceAccount': 'V1ServiceAccount',
  'v1/ConfigMap': 'V1ConfigMap',
  'v1/Secret': 'V1Secret',
  'v1/Service': 'V1Service',
  'v1/Pod': 'V1Pod',
  'apps/v1/DaemonSet': 'V1DaemonSet',
  'apps/v1/Deployment': 'V1Deployment',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'V1ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'V1ClusterRoleBinding',
  'rbac.authorization.k8s.io/v1/Role': 'V1Role',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'V1RoleBinding',
  'admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration': 'V1ValidatingWebhookConfiguration',
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': 'V1ValidatingAdmissionPolicy',
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': 'V1ValidatingAdmissionPolicyBinding',
};

export const SUPPORTED_KINDS = Object.keys(KINDS);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Check `value` against an OpenAPI-generated type name; push `path: problem` strings. */
function checkType(value: unknown, type: string, path: string, errors: string[]): void {
  if (value === null || value === undefined) return; // absent optional fields are fine; required ones are checked below
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (!Array.isArray(value)) { errors.push(`${path}: expected a list, got ${describe(value)}`); return; }
    value.forEach((v, i) => checkType(v, arr[1]!, `${path}[${i}]`, errors));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (!isPlainObject(value)) { errors.push(`${path}: expected a map, got ${describe(value)}`); return; }
    for (const [k, v] of Object.entries(value)) checkType(v, map[1]!, `${path}.${k}`, errors);
    return;
  }
  switch (type) {
    case 'string':
    case 'Date':
      if (typeof value !== 'string') errors.push(`${path}: expected a string, got ${describe(value)}`);
      return;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) errors.push(`${path}: expected a number, got ${describe(value)}`);
      else if (!Number.isInteger(value)) errors.push(`${path}: expected an integer, got ${value}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') errors.push(`${path}: expected true or false, got ${describe(value)}`);
      return;
    case 'IntOrString':
      if (typeof value !== 'string' && !(typeof value === 'number' && Number.isInteger(value))) {
        errors.push(`${path}: expected an integer or a string, got ${describe(value)}`);
      }
      return;
    case 'any':
    case 'object':
      return;
  }
  const cls = modelClass(type);
  if (!cls) {
    // Scalars with a named type that are not models (e.g. quantities): a string or a number.
    if (typeof value !== 'string' && typeof value !== 'number') errors.push(`${path}: expected a string or a number, got ${describe(value)}`);
    return;
  }
  if (!isPlainObject(value)) { errors.push(`${path}: expected an object (${type}), got ${describe(value)}`); return; }
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a]));
  for (const [k, v] of Object.entries(value)) {
    const a = attrs.get(k);
    if (!a) {
      const known = [...attrs.keys()];
      const near = known.find((n) => n.toLowerCase() === k.toLowerCase());
      errors.push(`${path}.${k}: unknown field${near ? ` (did you mean ${near}?)` : ''}`);
      continue;
    }
    checkType(v, a.type, `${path}.${k}`, errors);
  }
}

type Json = Record<string, unknown>;

function get(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const part of path.split('.')) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RBAC_NAME = /^[^/%]+$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

function requireFields(o: unknown, base: string, fields: string[], errors: string[]): void {
  for (const f of fields) {
    const v = get(o, f);
    if (v === undefined || v === null || v === '') errors.push(`${base}${base ? '.' : ''}${f}: required`);
  }
}

function oneOf(v: unknown, allowed: readonly string[], path: string, errors: string[]): void {
  if (v !== undefined && (typeof v !== 'string' || !allowed.includes(v))) {
    errors.push(`${path}: ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
  }
}

function checkLabels(labels: unknown, path: string, errors: string[]): void {
  if (!isPlainObject(labels)) return;
  for (const [k, v] of Object.entries(labels)) {
    if (k.length > 317 || !LABEL_KEY.test(k)) errors.push(`${path}: "${k}" is not a valid label key`);
    if (typeof v === 'string' && (v.length > 63 || !LABEL_VALUE.test(v))) errors.push(`${path}.${k}: "${v}" is not a valid label value`);
  }
}

function checkPodSpec(spec: unknown, path: string, errors: string[]): void {
  if (!isPlainObject(spec)) { errors.push(`${path}: required`); return; }
  const containers = spec.containers;
  if (!Array.isArray(containers) || containers.length === 0) errors.push(`${path}.containers: at least one container is required`);
  oneOf(spec.restartPolicy, ['Always', 'OnFailure', 'Never'], `${path}.restartPolicy`, errors);
  oneOf(spec.dnsPolicy, ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'], `${path}.dnsPolicy`, errors);
  const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
  const volumeNames = new Set<string>();
  volumes.forEach((v, i) => {
    requireFields(v, `${path}.volumes[${i}]`, ['name'], errors);
    const name = get(v, 'name');
    if (typeof name === 'string') {
      if (!DNS1123_LABEL.test(name)) errors.push(`${path}.volumes[${i}].name: "${name}" is not a DNS-1123 label`);
      if (volumeNames.has(name)) errors.push(`${path}.volumes[${i}].name: duplicate volume "${name}"`);
      volumeNames.add(name);
    }
    if (get(v, 'hostPath') !== undefined) {
      requireFields(v, `${path}.volumes[${i}]`, ['hostPath.path'], errors);
      oneOf(get(v, 'hostPath.type'), ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'],
        `${path}.volumes[${i}].hostPath.type`, errors);
    }
  });
  (Array.isArray(containers) ? containers : []).forEach((c, i) => {
    const cp = `${path}.containers[${i}]`;
    requireFields(c, cp, ['name', 'image'], errors);
    const name = get(c, 'name');
    if (typeof name === 'string' && !DNS1123_LABEL.test(name)) errors.push(`${cp}.name: "${name}" is not a DNS-1123 label`);
    oneOf(get(c, 'imagePullPolicy'), ['Always', 'IfNotPresent', 'Never'], `${cp}.imagePullPolicy`, errors);
    const ports = get(c, 'ports');
    (Array.isArray(ports) ? ports : []).forEach((p, j) => {
      requireFields(p, `${cp}.ports[${j}]`, ['containerPort'], errors);
      oneOf(get(p, 'protocol'), ['TCP', 'UDP', 'SCTP'], `${cp}.ports[${j}].protocol`, errors);
      const n = get(p, 'containerPort');
      if (typeof n === 'number' && (n < 1 || n > 65535)) errors.push(`${cp}.ports[${j}].containerPort: ${n} is not a port`);
      const pn = get(p, 'name');
      if (typeof pn === 'string' && (pn.length > 15 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(pn) || !/[a-z]/.test(pn))) {
        errors.push(`${cp}.ports[${j}].name: "${pn}" is not an IANA service name (max 15 chars)`);
      }
    });
    const mounts = get(c, 'volumeMounts');
    (Array.isArray(mounts) ? mounts : []).forEach((m, j) => {
      requireFields(m, `${cp}.volumeMounts[${j}]`, ['name', 'mountPath'], errors);
      const mn = get(m, 'name');
      if (typeof mn === 'string' && !volumeNames.has(mn)) errors.push(`${cp}.volumeMounts[${j}].name: no volume named "${mn}"`);
    });
    const env = get(c, 'env');
    (Array.isArray(env) ? env : []).forEach((e, j) => requireFields(e, `${cp}.env[${j}]`, ['name'], errors));
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      const p = get(c, probe);
      if (p === undefined) continue;
      const handlers = ['exec', 'httpGet', 'tcpSocket', 'grpc'].filter((h) => get(p, h) !== undefined);
      if (handlers.length !== 1) errors.push(`${cp}.${probe}: exactly one handler (exec, httpGet, tcpSocket, grpc) is required`);
      if (get(p, 'httpGet') !== undefined) requireFields(p, `${cp}.${probe}`, ['httpGet.port'], errors);
      if (get(p, 'tcpSocket') !== undefined) requireFields(p, `${cp}.${probe}`, ['tcpSocket.port'], errors);
    }
  });
}

function checkSelectorMatches(o: Json, path: string, errors: string[]): void {
  const match = get(o, 'spec.selector.matchLabels');
  const labels = get(o, 'spec.template.metadata.labels');
  if (!isPlainObject(match) || Object.keys(match).length === 0) { errors.push(`${path}spec.selector.matchLabels: required`); return; }
  for (const [k, v] of Object.entries(match)) {
    if (!isPlainObject(labels) || labels[k] !== v) errors.push(`${path}spec.selector: ${k}=${String(v)} does not select the pod template (spec.template.metadata.labels)`);
  }
}

function checkRules(rules: unknown, path: string, errors: string[]): void {
  if (!Array.isArray(rules)) return;
  rules.forEach((r, i) => {
    requireFields(r, `${path}[${i}]`, ['verbs'], errors);
    const verbs = get(r, 'verbs');
    if (Array.isArray(verbs)) {
      if (verbs.length === 0) errors.push(`${path}[${i}].verbs: at least one verb is required`);
      for (const v of verbs) {
        oneOf(v, ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', '*', 'use', 'bind', 'escalate', 'impersonate'],
          `${path}[${i}].verbs`, errors);
      }
    }
  });
}

function checkBinding(o: Json, errors: string[]): void {
  requireFields(o, '', ['roleRef.apiGroup', 'roleRef.kind', 'roleRef.name'], errors);
  oneOf(get(o, 'roleRef.kind'), ['Role', 'ClusterRole'], 'roleRef.kind', errors);
  const subjects = o.subjects;
  (Array.isArray(subjects) ? subjects : []).forEach((s, i) => {
    requireFields(s, `subjects[${i}]`, ['kind', 'name'], errors);
    oneOf(get(s, 'kind'), ['ServiceAccount', 'User', 'Group'], `subjects[${i}].kind`, errors);
    if (get(s, 'kind') === 'ServiceAccount') requireFields(s, `subjects[${i}]`, ['namespace'], errors);
  });
}

/** Validate one object; returns problems as `field.path: what is wrong` (empty when valid). */
export function validateManifest(obj: unknown): string[] {
  const errors: string[] = [];
  if (!isPlainObject(obj)) return ['the document is not an object'];
  const key = `${String(obj.apiVersion)}/${String(obj.kind)}`;
  const model = KINDS[key];
  if (!model) return [`apiVersion/kind ${key} is not one bmlb renders (${SUPPORTED_KINDS.join(', ')})`];
  checkType(obj, model, '', errors);
  // checkType prefixes paths with "." at the top level; strip it for readability.
  for (let i = 0; i < errors.length; i++) errors[i] = errors[i]!.replace(/^\./, '');

  requireFields(obj, '', ['metadata.name'], errors);
  const name = get(obj, 'metadata.name');
  const kind = String(obj.kind);
  if (typeof name === 'string') {
    const rbac = kind === 'ClusterRole' || kind === 'ClusterRoleBinding' || kind === 'Role' || kind === 'RoleBinding';
    const ok = rbac ? RBAC_NAME.test(name) : kind === 'Namespace' || kind === 'Service' ? DNS1123_LABEL.test(name) : DNS1123_SUBDOMAIN.test(name);
    if (!ok || name.length > 253) errors.push(`metadata.name: "${name}" is not a valid ${kind} name`);
  }
  const namespaced = !['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'ValidatingWebhookConfiguration',
    'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'].includes(kind);
  if (namespaced) requireFields(obj, '', ['metadata.namespace'], errors);
  else if (get(obj, 'metadata.namespace') !== undefined) errors.push(`metadata.namespace: ${kind} is cluster-scoped`);
  checkLabels(get(obj, 'metadata.labels'), 'metadata.labels', errors);

  switch (kind) {
    case 'Pod':
      checkPodSpec(obj.spec, 'spec', errors);
      break;
    case 'DaemonSet':
    case 'Deployment':
      checkSelectorMatches(obj, '', errors);
      checkLabels(get(obj, 'spec.template.metadata.labels'), 'spec.template.metadata.labels', errors);
      checkPodSpec(get(obj, 'spec.template.spec'), 'spec.template.spec', errors);
      if (kind === 'DaemonSet') oneOf(get(obj, 'spec.updateStrategy.type'), ['RollingUpdate', 'OnDelete'], 'spec.updateStrategy.type', errors);
      else oneOf(get(obj, 'spec.strategy.type'), ['RollingUpdate', 'Recreate'], 'spec.strategy.type', errors);
      break;
    case 'ClusterRole':
    case 'Role':
      checkRules(obj.rules, 'rules', errors);
      break;
    case 'ClusterRoleBinding':
    case 'RoleBinding':
      checkBinding(obj, errors);
      break;
    case 'Service': {
      oneOf(get(obj, 'spec.type'), ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'], 'spec.type', errors);
      const ports = get(obj, 'spec.ports');
      if (!Array.isArray(ports) || ports.length === 0) errors.push('spec.ports: at least one port is required');
      else ports.forEach((p, i) => {
        requireFields(p, `spec.ports[${i}]`, ['port'], errors);
        oneOf(get(p, 'protocol'), ['TCP', 'UDP', 'SCTP'], `spec.ports[${i}].protocol`, errors);
      });
      break;
    }
    case 'ConfigMap': {
      const data = obj.data;
      if (isPlainObject(data)) for (const k of Object.keys(data)) {
        if (!/^[-._a-zA-Z0-9]+$/.test(k)) errors.push(`data.${k}: not a valid ConfigMap key`);
      }
      break;
    }
    case 'ValidatingAdmissionPolicy': {
      oneOf(get(obj, 'spec.failurePolicy'), ['Fail', 'Ignore'], 'spec.failurePolicy', errors);
      const validations = get(obj, 'spec.validations');
      if (!Array.isArray(validations) || validations.length === 0) errors.push('spec.validations: at least one validation is required');
      else validations.forEach((v, i) => {
        requireFields(v, `spec.validations[${i}]`, ['expression'], errors);
        oneOf(get(v, 'reason'), ['Unauthorized', 'Forbidden', 'Invalid', 'RequestEntityTooLarge'], `spec.validations[${i}].reason`, errors);
      });
      const rules = get(obj, 'spec.matchConstraints.resourceRules');
      if (!Array.isArray(rules) || rules.length === 0) errors.push('spec.matchConstraints.resourceRules: required');
      break;
    }
    case 'ValidatingAdmissionPolicyBinding': {
      requireFields(obj, '', ['spec.policyName'], errors);
      const actions = get(obj, 'spec.validationActions');
      if (!Array.isArray(actions) || actions.length === 0) errors.push('spec.validationActions: required');
      else for (const a of actions) oneOf(a, ['Deny', 'Warn', 'Audit'], 'spec.validationActions', errors);
      break;
    }
    case 'ValidatingWebhookConfiguration': {
      const hooks = obj.webhooks;
      (Array.isArray(hooks) ? hooks : []).forEach((h, i) => {
        const hp = `webhooks[${i}]`;
        requireFields(h, hp, ['name', 'sideEffects', 'admissionReviewVersions', 'clientConfig'], errors);
        const hn = get(h, 'name');
        if (typeof hn === 'string' && (!DNS1123_SUBDOMAIN.test(hn) || hn.split('.').length < 3)) {
          errors.push(`${hp}.name: "${hn}" must be a fully qualified name with at least three segments`);
        }
        oneOf(get(h, 'sideEffects'), ['None', 'NoneOnDryRun'], `${hp}.sideEffects`, errors);
        oneOf(get(h, 'failurePolicy'), ['Fail', 'Ignore'], `${hp}.failurePolicy`, errors);
        oneOf(get(h, 'matchPolicy'), ['Exact', 'Equivalent'], `${hp}.matchPolicy`, errors);
        const url = get(h, 'clientConfig.url');
        const svc = get(h, 'clientConfig.service');
        if ((url === undefined) === (svc === undefined)) errors.push(`${hp}.clientConfig: exactly one of url and service is required`);
        if (svc !== undefined) requireFields(h, hp, ['clientConfig.service.namespace', 'clientConfig.service.name'], errors);
        const ca = get(h, 'clientConfig.caBundle');
        if (typeof ca === 'string' && !/^[A-Za-z0-9+/]+={0,2}$/.test(ca)) errors.push(`${hp}.clientConfig.caBundle: not base64`);
        const rules = get(h, 'rules');
        (Array.isArray(rules) ? rules : []).forEach((r, j) => {
          const ops = get(r, 'operations');
          for (const op of Array.isArray(ops) ? ops : []) oneOf(op, ['CREATE', 'UPDATE', 'DELETE', 'CONNECT', '*'], `${hp}.rules[${j}].operations`, errors);
          oneOf(get(r, 'scope'), ['Cluster', 'Namespaced', '*'], `${hp}.rules[${j}].scope`, errors);
        });
      });
      break;
    }
  }
  return errors;
}
