/**
 * What `bmlb update cluster` will do (pure): from diffForUpdate's allowed changes to the parts
 * that must be touched, and which Service IPs the new configuration would no longer allow.
 */
import type { V1Service } from '@kubernetes/client-node';
import type { AddressPool, ClusterConfig } from '../../config/model.js';
import { parseIp } from '../../net/address.js';
import { parsePoolEntry, rangeContains } from '../../net/range.js';
import type { ServiceRequest } from '../../controller/allocator.js';
import type { FieldChange, UpdateDiff } from '../../config/update-diff.js';
import { Allocator } from '../../controller/allocator.js';
import { isManagedService, serviceKey, statusIPs, toServiceRequest } from '../../controller/service-request.js';

export type UpdateTarget = 'nodeFiles' | 'speakerConfig' | 'clusterObjects' | 'nodeLabels';

export interface UpdatePlan {
  cluster: string;
  changes: FieldChange[];
  /** What will be written, and why (the change paths behind each target). */
  targets: Partial<Record<UpdateTarget, string[]>>;
  /** LB node k8sIPs to label / unlabel. */
  labels: { add: string[]; remove: string[] };
}

const NODE_FILE_PATHS = [/^spec\.loadBalancer\.bmlb\.vrrp\./, /^spec\.loadBalancer\.nodePoolSpec/, /^spec\.controlPlane\.nodePoolSpec/];
const SPEAKER_CONFIG_PATHS = [/^spec\.loadBalancer\.addressPools/, /^spec\.loadBalancer\.nodePoolSpec/, /^spec\.loadBalancer\.bmlb\.speaker\./, /^spec\.loadBalancer\.bgpPeers/];
const OBJECT_PATHS = [/^spec\.loadBalancer\.bmlb\.speaker\.(memberPort|metricsPort)$/, /^spec\.loadBalancer\.bmlb\.admission$/];

/** The refused changes as one message line each: `path: old → new (reason)`. */
export function describeRefused(diff: UpdateDiff): string[] {
  return diff.refused.map((c) => `${c.path}: ${show(c.old)} → ${show(c.new)} (${c.reason ?? 'immutable'})`);
}

export function show(v: unknown): string {
  if (v === undefined) return '(absent)';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function planUpdate(applied: ClusterConfig, desired: ClusterConfig, diff: UpdateDiff): UpdatePlan {
  const targets: UpdatePlan['targets'] = {};
  const add = (t: UpdateTarget, path: string) => {
    (targets[t] ??= []).push(path);
  };
  for (const c of diff.allowed) {
    // With the LB on the control-plane nodes, control-plane node changes are LB node changes too.
    const lbNodes = c.path.startsWith('spec.loadBalancer.nodePoolSpec') || (desired.loadBalancer.nodesFromControlPlane && c.path.startsWith('spec.controlPlane.nodePoolSpec'));
    if (NODE_FILE_PATHS.some((r) => r.test(c.path))) add('nodeFiles', c.path);
    if (SPEAKER_CONFIG_PATHS.some((r) => r.test(c.path)) || lbNodes) add('speakerConfig', c.path);
    if (OBJECT_PATHS.some((r) => r.test(c.path))) add('clusterObjects', c.path);
  }
  const before = new Set(applied.loadBalancer.nodes.map((n) => n.k8sIP));
  const after = new Set(desired.loadBalancer.nodes.map((n) => n.k8sIP));
  const labels = { add: [...after].filter((ip) => !before.has(ip)), remove: [...before].filter((ip) => !after.has(ip)) };
  if (labels.add.length || labels.remove.length) add('nodeLabels', 'spec.loadBalancer nodes');
  return { cluster: desired.name, changes: diff.allowed, targets, labels };
}

export interface InvalidatedIp {
  service: string;
  ips: string[];
  /** Why the new configuration no longer allows them (the allocator's message). */
  reason: string;
}

function allocatorFor(c: ClusterConfig, ingressService: string): Allocator {
  const lb = c.loadBalancer;
  return new Allocator({ pools: lb.addressPools, controlPlaneVIP: lb.controlPlaneVIP, ...(lb.ingressVIP ? { ingressVIP: lb.ingressVIP } : {}), ingressService });
}

/**
 * Services whose current IPs the applied configuration allows and the desired one would not
 * (e.g. avoidBuggyIPs turned on while a Service holds x.x.x.0). The controller keeps such IPs and
 * reports them; update cluster lists them so nothing moves silently.
 */
export function invalidatedAllocations(services: V1Service[], applied: ClusterConfig, desired: ClusterConfig, ingressService: string): InvalidatedIp[] {
  const held = services
    .filter((s) => isManagedService(s) && statusIPs(s).length > 0)
    .sort((a, b) => serviceKey(a).localeCompare(serviceKey(b)));
  const before = allocatorFor(applied, ingressService);
  const after = allocatorFor(desired, ingressService);
  const out: InvalidatedIp[] = [];
  for (const s of held) {
    const r = toServiceRequest(s);
    if (!r.ok) continue;
    const ips = statusIPs(s);
    const was = before.assign(r.request, ips);
    const now = after.assign(r.request, ips);
    if (was.ok && !now.ok) out.push({ service: serviceKey(s), ips, reason: now.message });
    else if (was.ok && now.ok && now.changed) out.push({ service: serviceKey(s), ips, reason: `would move to ${now.ips.join(', ')}` });
    else if (was.ok) {
      // The allocator keeps a live IP; say when the new pool rules would no longer hand it out.
      const broken = ruleBreaks(r.request, ips, applied, desired);
      if (broken) out.push({ service: serviceKey(s), ips, reason: broken });
    }
  }
  return out;
}

function poolHolding(c: ClusterConfig, ip: string): AddressPool | undefined {
  const p = parseIp(ip);
  if (!p) return undefined;
  return c.loadBalancer.addressPools.find((pool) => pool.addresses.some((a) => {
    const r = parsePoolEntry(a);
    return r.ok && rangeContains(r.range, p);
  }));
}

function isBuggyV4(ip: string): boolean {
  const p = parseIp(ip);
  return p?.family === 4 && ((p.value & 0xffn) === 0n || (p.value & 0xffn) === 255n);
}

/** Why the desired pool rules (not the applied ones) would refuse these live IPs to this Service. */
function ruleBreaks(req: ServiceRequest, ips: string[], applied: ClusterConfig, desired: ClusterConfig): string | undefined {
  for (const ip of ips) {
    const was = poolHolding(applied, ip);
    const now = poolHolding(desired, ip);
    if (!was || !now) continue;
    if (now.avoidBuggyIPs && !was.avoidBuggyIPs && isBuggyV4(ip)) {
      return `pool ${now.name} now avoids .0/.255 addresses; the Service keeps ${ip} (recreate the Service to move it)`;
    }
    const asked = req.requestedIPs.includes(ip) || req.requestedPool === now.name;
    if (now.manualAssign && !was.manualAssign && !asked) {
      return `pool ${now.name} is now manualAssign; the Service keeps ${ip}, which it did not request (request it with the address-pool annotation to keep it explicitly)`;
    }
  }
  return undefined;
}
