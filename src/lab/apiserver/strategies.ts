/**
 * Per-resource behaviour on create and update: defaults, validation (the subset the product and
 * the lab rely on), status reset, ClusterIP/NodePort allocation for Services. Everything else is
 * generic. Functions mutate the object they are given and throw ApiError (422) when invalid.
 */
import { formatIp, parseIp, type Family } from '../../net/address.js';
import { rangeContains } from '../../net/range.js';
import type { NetworkSettings } from './config.js';
import { canonicalJson, isObject, type Json, type JsonObject } from './patch.js';
import type { ResourceType } from './registry.js';
import { errors, type StatusCause } from './status.js';
import type { KubeObject } from './store.js';
import { fromLabelSelectorObject, matchesLabels } from './selectors.js';

export interface StrategyContext {
  network: NetworkSettings;
  /** Every stored Service (for allocation), excluding the one being written. */
  otherServices(self: { namespace?: string; name?: string }): KubeObject[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const LABEL_NAMED = new Set(['/namespaces']);
const DNS1035_NAMED = new Set(['/services']);
const PATH_SEGMENT_NAMED = new Set(['rbac.authorization.k8s.io/roles', 'rbac.authorization.k8s.io/rolebindings',
  'rbac.authorization.k8s.io/clusterroles', 'rbac.authorization.k8s.io/clusterrolebindings']);

export function validateName(type: ResourceType, name: string): StatusCause | undefined {
  const key = `${type.group}/${type.resource}`;
  if (PATH_SEGMENT_NAMED.has(key)) {
    if (name === '.' || name === '..' || /[/%]/.test(name)) return { reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": may not contain '/' or '%'` };
    return undefined;
  }
  if (LABEL_NAMED.has(key)) {
    if (name.length > 63 || !DNS_LABEL.test(name)) {
      return { reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character` };
    }
    return undefined;
  }
  if (DNS1035_NAMED.has(key)) {
    if (name.length > 63 || !DNS_1035.test(name)) {
      return { reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character` };
    }
    return undefined;
  }
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    return { reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` };
  }
  return undefined;
}

function cause(field: string, message: string, reason = 'FieldValueInvalid'): StatusCause {
  return { reason, field, message };
}

function obj(v: Json | undefined): JsonObject {
  return isObject(v) ? v : {};
}

function fail(o: KubeObject, causes: StatusCause[]): never {
  throw errors.invalid(o.kind ?? '', groupOf(o.apiVersion), o.metadata.name ?? '', causes);
}

function groupOf(apiVersion: string | undefined): string {
  return apiVersion?.includes('/') ? apiVersion.split('/')[0]! : '';
}

// ---------------------------------------------------------------- Services

function familyOfIp(s: string): Family | undefined {
  return parseIp(s)?.family;
}

function usedServiceAddresses(ctx: StrategyContext, self: KubeObject): { ips: Set<string>; ports: Set<number> } {
  const ips = new Set<string>();
  const ports = new Set<number>();
  for (const s of ctx.otherServices({ namespace: self.metadata.namespace, name: self.metadata.name })) {
    const spec = obj(s.spec);
    for (const ip of (spec.clusterIPs as string[] | undefined) ?? []) ips.add(ip);
    for (const p of (spec.ports as JsonObject[] | undefined) ?? []) if (typeof p.nodePort === 'number') ports.add(p.nodePort);
    if (typeof spec.healthCheckNodePort === 'number') ports.add(spec.healthCheckNodePort);
  }
  return { ips, ports };
}

function allocateIp(ctx: StrategyContext, family: Family, used: Set<string>): string | undefined {
  const r = ctx.network.serviceRanges.find((x) => x.family === family);
  if (!r) return undefined;
  // Skip the network address and the first host address (kept for the `kubernetes` Service).
  for (let v = r.first + 2n; v <= r.last - (family === 4 ? 1n : 0n); v++) {
    const ip = formatIp({ family, value: v });
    if (!used.has(ip)) return ip;
  }
  return undefined;
}

function allocatePort(ctx: StrategyContext, used: Set<number>): number | undefined {
  for (let p = ctx.network.nodePorts.first; p <= ctx.network.nodePorts.last; p++) if (!used.has(p)) return p;
  return undefined;
}

function prepareService(o: KubeObject, old: KubeObject | undefined, ctx: StrategyContext): void {
  const spec = obj(o.spec);
  o.spec = spec;
  const oldSpec = old ? obj(old.spec) : undefined;
  const causes: StatusCause[] = [];
  const type = (spec.type as string | undefined) ?? 'ClusterIP';
  spec.type = type;
  if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(type)) {
    causes.push(cause('spec.type', `Unsupported value: "${type}": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`, 'FieldValueNotSupported'));
  }
  spec.sessionAffinity ??= 'None';
  const ports = Array.isArray(spec.ports) ? (spec.ports as JsonObject[]) : [];
  if (type !== 'ExternalName' && ports.length === 0 && spec.clusterIP !== 'None') causes.push(cause('spec.ports', 'Required value', 'FieldValueRequired'));
  const names = new Set<string>();
  ports.forEach((p, i) => {
    p.protocol ??= 'TCP';
    if (!['TCP', 'UDP', 'SCTP'].includes(p.protocol as string)) causes.push(cause(`spec.ports[${i}].protocol`, `Unsupported value: "${p.protocol}": supported values: "SCTP", "TCP", "UDP"`, 'FieldValueNotSupported'));
    if (!Number.isInteger(p.port) || (p.port as number) < 1 || (p.port as number) > 65535) causes.push(cause(`spec.ports[${i}].port`, `Invalid value: ${JSON.stringify(p.port ?? null)}: must be between 1 and 65535, inclusive`));
    if (p.targetPort === undefined || p.targetPort === 0) p.targetPort = p.port as Json;
    if (ports.length > 1 && !p.name) causes.push(cause(`spec.ports[${i}].name`, 'Required value', 'FieldValueRequired'));
    if (typeof p.name === 'string') {
      if (names.has(p.name)) causes.push(cause(`spec.ports[${i}].name`, `Duplicate value: "${p.name}"`, 'FieldValueDuplicate'));
      names.add(p.name);
    }
  });
  if (type === 'ExternalName') {
    delete spec.clusterIP; delete spec.clusterIPs; delete spec.ipFamilies; delete spec.ipFamilyPolicy;
    if (causes.length) fail(o, causes);
    return;
  }
  spec.internalTrafficPolicy ??= 'Cluster';
  const external = type === 'NodePort' || type === 'LoadBalancer';
  if (external) spec.externalTrafficPolicy ??= 'Cluster';
  else if (spec.externalTrafficPolicy !== undefined) {
    if (old) delete spec.externalTrafficPolicy;
    else causes.push(cause('spec.externalTrafficPolicy', 'Invalid value: may only be set for NodePort or LoadBalancer Services'));
  }
  if (type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  else delete spec.allocateLoadBalancerNodePorts;

  // Cluster IPs: immutable once set; kept from the old object when omitted.
  if (oldSpec && spec.clusterIP === undefined && spec.clusterIPs === undefined && oldSpec.type !== 'ExternalName') {
    if (oldSpec.clusterIP !== undefined) spec.clusterIP = oldSpec.clusterIP;
    if (oldSpec.clusterIPs !== undefined) spec.clusterIPs = oldSpec.clusterIPs;
    spec.ipFamilies ??= oldSpec.ipFamilies ?? null;
    spec.ipFamilyPolicy ??= oldSpec.ipFamilyPolicy ?? null;
    if (spec.ipFamilies === null) delete spec.ipFamilies;
    if (spec.ipFamilyPolicy === null) delete spec.ipFamilyPolicy;
  }
  if (spec.clusterIP !== undefined && spec.clusterIPs === undefined && spec.clusterIP !== '') spec.clusterIPs = [spec.clusterIP as string];
  if (oldSpec && oldSpec.clusterIP !== undefined && oldSpec.type !== 'ExternalName' && spec.clusterIP !== oldSpec.clusterIP) {
    causes.push(cause('spec.clusterIPs[0]', `Invalid value: ${JSON.stringify(spec.clusterIP ?? '')}: may not change once set`));
  }
  const used = usedServiceAddresses(ctx, o);
  const families = ctx.network.serviceRanges.map((r) => r.family);
  const headless = spec.clusterIP === 'None';
  const policy = (spec.ipFamilyPolicy as string | undefined) ?? 'SingleStack';
  spec.ipFamilyPolicy = policy;
  if (!['SingleStack', 'PreferDualStack', 'RequireDualStack'].includes(policy)) {
    causes.push(cause('spec.ipFamilyPolicy', `Unsupported value: "${policy}": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"`, 'FieldValueNotSupported'));
  }
  let wanted: Family[] = ((spec.ipFamilies as string[] | undefined) ?? []).map((f) => (f === 'IPv6' ? 6 : 4));
  if (!headless && Array.isArray(spec.clusterIPs) && wanted.length === 0) {
    wanted = (spec.clusterIPs as string[]).map((ip) => familyOfIp(ip) ?? 4);
  }
  if (wanted.length === 0) wanted = policy === 'SingleStack' ? [families[0]!] : families.length > 1 ? [families[0]!, families[1]!] : [families[0]!];
  else if (policy !== 'SingleStack' && wanted.length === 1 && families.length > 1) wanted.push(families.find((f) => f !== wanted[0])!);
  if (policy === 'RequireDualStack' && families.length < 2) causes.push(cause('spec.ipFamilyPolicy', 'Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services'));
  for (const f of wanted) if (!families.includes(f)) causes.push(cause('spec.ipFamilies', `Invalid value: "IPv${f}": not configured on this cluster`));
  spec.ipFamilies = wanted.map((f) => `IPv${f}`);
  if (!headless) {
    const ips = Array.isArray(spec.clusterIPs) ? [...(spec.clusterIPs as string[])] : [];
    wanted.forEach((f, i) => {
      const given = ips[i];
      if (given) {
        const p = parseIp(given);
        const r = ctx.network.serviceRanges.find((x) => x.family === f);
        if (!p || p.family !== f || !r || !rangeContains(r, p)) {
          causes.push(cause(`spec.clusterIPs[${i}]`, `Invalid value: "${given}": failed to allocate IP ${given}: the provided IP (${given}) is not in the valid range`));
        } else if (!old && used.ips.has(given)) {
          causes.push(cause(`spec.clusterIPs[${i}]`, `Invalid value: "${given}": failed to allocate IP ${given}: provided IP is already allocated`));
        }
        return;
      }
      const ip = allocateIp(ctx, f, used.ips);
      if (!ip) throw errors.internal(`failed to allocate a serviceIP: range is full`);
      used.ips.add(ip);
      ips[i] = ip;
    });
    spec.clusterIPs = ips.slice(0, wanted.length);
    spec.clusterIP = ips[0] ?? '';
  } else {
    spec.clusterIPs = ['None'];
  }

  // Node ports.
  const oldPorts = oldSpec && (oldSpec.type === 'NodePort' || oldSpec.type === 'LoadBalancer') ? ((oldSpec.ports as JsonObject[] | undefined) ?? []) : [];
  const wantNodePorts = type === 'NodePort' || (type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
  ports.forEach((p, i) => {
    if (!external) {
      if (p.nodePort !== undefined && !old) causes.push(cause(`spec.ports[${i}].nodePort`, 'Forbidden: may not be used when `type` is \'ClusterIP\'', 'FieldValueForbidden'));
      delete p.nodePort;
      return;
    }
    if (p.nodePort === undefined || p.nodePort === 0) {
      const prev = oldPorts.find((q) => q.port === p.port && (q.protocol ?? 'TCP') === p.protocol);
      if (prev && typeof prev.nodePort === 'number') { p.nodePort = prev.nodePort; return; }
      if (!wantNodePorts) { delete p.nodePort; return; }
      const np = allocatePort(ctx, used.ports);
      if (np === undefined) throw errors.internal('failed to allocate a nodePort: range is full');
      used.ports.add(np);
      p.nodePort = np;
      return;
    }
    const np = p.nodePort as number;
    const { first, last } = ctx.network.nodePorts;
    if (!Number.isInteger(np) || np < first || np > last) {
      causes.push(cause(`spec.ports[${i}].nodePort`, `Invalid value: ${np}: provided port is not in the valid range. The range of valid ports is ${first}-${last}`));
    } else if (used.ports.has(np) && !oldPorts.some((q) => q.nodePort === np)) {
      causes.push(cause(`spec.ports[${i}].nodePort`, `Invalid value: ${np}: provided port is already allocated`));
    } else used.ports.add(np);
  });
  if (type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local') {
    if (spec.healthCheckNodePort === undefined || spec.healthCheckNodePort === 0) {
      const prev = oldSpec?.healthCheckNodePort;
      const hc = typeof prev === 'number' ? prev : allocatePort(ctx, used.ports);
      if (hc === undefined) throw errors.internal('failed to allocate a healthCheckNodePort');
      spec.healthCheckNodePort = hc;
    }
  } else delete spec.healthCheckNodePort;
  if (!['Cluster', 'Local'].includes(spec.internalTrafficPolicy as string)) causes.push(cause('spec.internalTrafficPolicy', `Unsupported value: "${spec.internalTrafficPolicy}": supported values: "Cluster", "Local"`, 'FieldValueNotSupported'));
  if (spec.externalTrafficPolicy !== undefined && !['Cluster', 'Local'].includes(spec.externalTrafficPolicy as string)) {
    causes.push(cause('spec.externalTrafficPolicy', `Unsupported value: "${spec.externalTrafficPolicy}": supported values: "Cluster", "Local"`, 'FieldValueNotSupported'));
  }
  if (causes.length) fail(o, causes);
}

// ---------------------------------------------------------------- workloads

function preparePodSpec(spec: JsonObject, field: string, causes: StatusCause[]): void {
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  if (spec.serviceAccountName === undefined && typeof spec.serviceAccount === 'string') spec.serviceAccountName = spec.serviceAccount;
  spec.serviceAccountName ??= 'default';
  spec.serviceAccount = spec.serviceAccountName;
  const containers = Array.isArray(spec.containers) ? (spec.containers as JsonObject[]) : [];
  if (containers.length === 0) causes.push(cause(`${field}.containers`, 'Required value', 'FieldValueRequired'));
  containers.forEach((c, i) => {
    if (!isObject(c) || typeof c.name !== 'string' || !c.name) causes.push(cause(`${field}.containers[${i}].name`, 'Required value', 'FieldValueRequired'));
    if (!isObject(c) || typeof c.image !== 'string' || !c.image) causes.push(cause(`${field}.containers[${i}].image`, 'Required value', 'FieldValueRequired'));
    if (isObject(c)) {
      c.terminationMessagePath ??= '/dev/termination-log';
      c.terminationMessagePolicy ??= 'File';
      c.imagePullPolicy ??= typeof c.image === 'string' && (c.image.endsWith(':latest') || !c.image.includes(':')) ? 'Always' : 'IfNotPresent';
      c.resources ??= {};
      for (const p of (Array.isArray(c.ports) ? c.ports : []) as JsonObject[]) if (isObject(p)) p.protocol ??= 'TCP';
    }
  });
}

function prepareWorkload(o: KubeObject, old: KubeObject | undefined): void {
  const spec = obj(o.spec);
  o.spec = spec;
  const causes: StatusCause[] = [];
  const selector = spec.selector;
  const template = obj(spec.template);
  const tmeta = obj(template.metadata);
  if (!isObject(selector)) causes.push(cause('spec.selector', 'Required value', 'FieldValueRequired'));
  else {
    const reqs = fromLabelSelectorObject(selector as never);
    if (reqs.length === 0) causes.push(cause('spec.selector', 'Invalid value: empty selector is invalid for deployment'));
    else if (!matchesLabels(reqs, tmeta.labels as Record<string, string> | undefined)) {
      causes.push(cause('spec.template.metadata.labels', `Invalid value: ${JSON.stringify(tmeta.labels ?? {})}: \`selector\` does not match template \`labels\``));
    }
    if (old && canonicalJson(obj(old.spec).selector) !== canonicalJson(selector)) causes.push(cause('spec.selector', `Invalid value: ${JSON.stringify(selector)}: field is immutable`));
  }
  const podSpec = obj(template.spec);
  template.spec = podSpec;
  spec.template = template;
  preparePodSpec(podSpec, 'spec.template.spec', causes);
  if (o.kind === 'Deployment') {
    spec.replicas ??= 1;
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
  } else if (o.kind === 'DaemonSet') {
    spec.revisionHistoryLimit ??= 10;
    spec.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
  } else if (o.kind === 'ReplicaSet') {
    spec.replicas ??= 1;
  }
  if (causes.length) fail(o, causes);
}

// ---------------------------------------------------------------- the rest

function prepareSecret(o: KubeObject): void {
  o.type ??= 'Opaque';
  const data = obj(o.data);
  const causes: StatusCause[] = [];
  for (const [k, v] of Object.entries(data)) {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) causes.push(cause(`data[${k}]`, 'Invalid value: illegal base64 data'));
  }
  for (const [k, v] of Object.entries(obj(o.stringData))) data[k] = Buffer.from(String(v)).toString('base64');
  delete o.stringData;
  if (Object.keys(data).length) o.data = data;
  if (causes.length) fail(o, causes);
}

function prepareEndpointSlice(o: KubeObject): void {
  const causes: StatusCause[] = [];
  if (!['IPv4', 'IPv6', 'FQDN'].includes(o.addressType as string)) causes.push(cause('addressType', `Unsupported value: ${JSON.stringify(o.addressType ?? '')}: supported values: "FQDN", "IPv4", "IPv6"`, 'FieldValueNotSupported'));
  const eps = Array.isArray(o.endpoints) ? (o.endpoints as JsonObject[]) : [];
  o.endpoints = eps;
  eps.forEach((e, i) => {
    const addrs = isObject(e) && Array.isArray(e.addresses) ? (e.addresses as string[]) : [];
    if (addrs.length === 0) causes.push(cause(`endpoints[${i}].addresses`, 'Required value: must contain at least 1 address', 'FieldValueRequired'));
    for (const a of addrs) {
      const fam = familyOfIp(a);
      if ((o.addressType === 'IPv4' && fam !== 4) || (o.addressType === 'IPv6' && fam !== 6)) causes.push(cause(`endpoints[${i}].addresses`, `Invalid value: "${a}": must be a valid ${o.addressType} address`));
    }
  });
  if (causes.length) fail(o, causes);
}

function prepareWebhookConfig(o: KubeObject): void {
  const causes: StatusCause[] = [];
  const hooks = Array.isArray(o.webhooks) ? (o.webhooks as JsonObject[]) : [];
  const names = new Set<string>();
  hooks.forEach((h, i) => {
    const f = `webhooks[${i}]`;
    if (typeof h.name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?){2,}$/.test(h.name)) {
      causes.push(cause(`${f}.name`, `Invalid value: ${JSON.stringify(h.name ?? '')}: should be a domain with at least three segments separated by dots`));
    } else if (names.has(h.name)) causes.push(cause(`${f}.name`, `Duplicate value: "${h.name}"`, 'FieldValueDuplicate'));
    else names.add(h.name);
    const cc = obj(h.clientConfig);
    if ((cc.url === undefined) === (cc.service === undefined)) causes.push(cause(`${f}.clientConfig`, 'Required value: exactly one of url or service is required', 'FieldValueRequired'));
    if (isObject(cc.service)) cc.service.port ??= 443;
    if (!Array.isArray(h.admissionReviewVersions) || !(h.admissionReviewVersions as string[]).includes('v1')) {
      causes.push(cause(`${f}.admissionReviewVersions`, 'Invalid value: must include at least one of v1', 'FieldValueInvalid'));
    }
    if (!['None', 'NoneOnDryRun'].includes(h.sideEffects as string)) causes.push(cause(`${f}.sideEffects`, `Unsupported value: ${JSON.stringify(h.sideEffects ?? '')}: supported values: "None", "NoneOnDryRun"`, 'FieldValueNotSupported'));
    h.failurePolicy ??= 'Fail';
    h.matchPolicy ??= 'Equivalent';
    h.timeoutSeconds ??= 10;
    h.namespaceSelector ??= {};
    h.objectSelector ??= {};
    for (const r of (Array.isArray(h.rules) ? h.rules : []) as JsonObject[]) if (isObject(r)) r.scope ??= '*';
  });
  if (causes.length) fail(o, causes);
}

function prepareCrd(o: KubeObject): void {
  const spec = obj(o.spec);
  const names = obj(spec.names);
  const causes: StatusCause[] = [];
  if (typeof spec.group !== 'string' || !spec.group.includes('.')) causes.push(cause('spec.group', `Invalid value: ${JSON.stringify(spec.group ?? '')}: should be a domain with at least one dot`));
  if (typeof names.plural !== 'string' || !DNS_LABEL.test(names.plural)) causes.push(cause('spec.names.plural', 'Required value', 'FieldValueRequired'));
  if (typeof names.kind !== 'string' || !names.kind) causes.push(cause('spec.names.kind', 'Required value', 'FieldValueRequired'));
  if (!['Namespaced', 'Cluster'].includes(spec.scope as string)) causes.push(cause('spec.scope', `Unsupported value: ${JSON.stringify(spec.scope ?? '')}: supported values: "Cluster", "Namespaced"`, 'FieldValueNotSupported'));
  const versions = Array.isArray(spec.versions) ? (spec.versions as JsonObject[]) : [];
  if (versions.length === 0) causes.push(cause('spec.versions', 'Required value', 'FieldValueRequired'));
  if (versions.filter((v) => v.storage === true).length !== 1) causes.push(cause('spec.versions', 'Invalid value: must have exactly one version marked as storage version'));
  if (typeof names.plural === 'string' && typeof spec.group === 'string' && o.metadata.name !== `${names.plural}.${spec.group}`) {
    causes.push(cause('metadata.name', `Invalid value: "${o.metadata.name}": must be spec.names.plural+"."+spec.group`));
  }
  if (causes.length) fail(o, causes);
  names.singular ??= (names.kind as string).toLowerCase();
  names.listKind ??= `${names.kind}List`;
  spec.names = names;
  o.status = {
    acceptedNames: names,
    storedVersions: versions.filter((v) => v.storage === true).map((v) => v.name as string),
    conditions: [
      { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
      { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
    ],
  };
}

/** ConfigMaps and Secrets marked `immutable: true` keep their data (and the mark) forever. */
function checkImmutableData(o: KubeObject, old: KubeObject | undefined): void {
  if (!old || old.immutable !== true) return;
  const causes: StatusCause[] = [];
  if (o.immutable !== true) causes.push(cause('immutable', 'Forbidden: field is immutable when `immutable` is set', 'FieldValueForbidden'));
  for (const f of ['data', 'binaryData']) {
    if (canonicalJson(old[f] ?? {}) !== canonicalJson(o[f] ?? {})) causes.push(cause(f, 'Forbidden: field is immutable when `immutable` is set', 'FieldValueForbidden'));
  }
  if (causes.length) fail(o, causes);
}

/** Status written on create for types with a status subresource (other than Nodes, which keep theirs). */
function initialStatus(type: ResourceType, o: KubeObject): Json | undefined {
  switch (`${type.group}/${type.resource}`) {
    case '/nodes': return o.status;
    case '/pods': return { phase: 'Pending', qosClass: 'BestEffort' };
    case '/namespaces': return { phase: 'Active' };
    case '/services': return { loadBalancer: {} };
    default:
      if (!type.builtin) return undefined; // custom resources: create cannot set status
      return type.group === 'apiextensions.k8s.io' ? o.status : {};
  }
}

/** Applies create-time defaults and validation. */
export function prepareCreate(type: ResourceType, o: KubeObject, ctx: StrategyContext): void {
  if (type.subresources.includes('status')) {
    const s = initialStatus(type, o);
    if (s === undefined) delete o.status; else o.status = s;
  }
  prepareCommon(type, o, undefined, ctx);
}

/** Applies update-time defaults and validation (immutable fields checked against `old`). */
export function prepareUpdate(type: ResourceType, o: KubeObject, old: KubeObject, ctx: StrategyContext): void {
  prepareCommon(type, o, old, ctx);
}

function prepareCommon(type: ResourceType, o: KubeObject, old: KubeObject | undefined, ctx: StrategyContext): void {
  switch (`${type.group}/${type.resource}`) {
    case '/namespaces':
      o.spec = { finalizers: ['kubernetes'], ...obj(o.spec) };
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name! };
      break;
    case '/services': prepareService(o, old, ctx); break;
    case '/pods': {
      const spec = obj(o.spec);
      o.spec = spec;
      const causes: StatusCause[] = [];
      preparePodSpec(spec, 'spec', causes);
      if (old && JSON.stringify(obj(old.spec).nodeName ?? null) !== JSON.stringify(spec.nodeName ?? null) && obj(old.spec).nodeName !== undefined) {
        causes.push(cause('spec.nodeName', 'Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations) or `spec.terminationGracePeriodSeconds`', 'FieldValueForbidden'));
      }
      if (causes.length) fail(o, causes);
      break;
    }
    case 'apps/deployments':
    case 'apps/daemonsets':
    case 'apps/replicasets': prepareWorkload(o, old); break;
    case '/secrets':
      prepareSecret(o);
      if (old && old.type !== o.type) fail(o, [cause('type', `Invalid value: "${o.type}": field is immutable`)]);
      checkImmutableData(o, old);
      break;
    case '/configmaps': checkImmutableData(o, old); break;
    case 'discovery.k8s.io/endpointslices': prepareEndpointSlice(o); break;
    case 'admissionregistration.k8s.io/validatingwebhookconfigurations':
    case 'admissionregistration.k8s.io/mutatingwebhookconfigurations': prepareWebhookConfig(o); break;
    case 'apiextensions.k8s.io/customresourcedefinitions': prepareCrd(o); break;
    case 'rbac.authorization.k8s.io/rolebindings':
    case 'rbac.authorization.k8s.io/clusterrolebindings':
      if (!isObject(o.roleRef) || !o.roleRef.name || !['Role', 'ClusterRole'].includes(o.roleRef.kind as string)) {
        fail(o, [cause('roleRef', 'Required value: kind Role or ClusterRole and a name', 'FieldValueRequired')]);
      }
      if (old && canonicalJson(old.roleRef) !== canonicalJson(o.roleRef)) {
        fail(o, [cause('roleRef', `Invalid value: ${JSON.stringify(o.roleRef)}: cannot change roleRef`)]);
      }
      break;
    case 'coordination.k8s.io/leases': o.spec ??= {}; break;
    default: break;
  }
}
