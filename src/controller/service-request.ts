/**
 * From a Kubernetes Service to the allocator's ServiceRequest (pure). Reads MetalLB's annotations
 * under both prefixes so existing Services move over unchanged.
 */
import type { V1Service } from '@kubernetes/client-node';
import { canonicalIp } from '../net/address.js';
import type { IpFamily } from '../config/model.js';
import type { Protocol, ServiceRequest } from './allocator.js';

export const LB_CLASS = 'bmlb.io/lb';
export const ANNOTATIONS = {
  loadBalancerIPs: ['metallb.io/loadBalancerIPs', 'metallb.universe.tf/loadBalancerIPs'],
  addressPool: ['metallb.io/address-pool', 'metallb.universe.tf/address-pool'],
  allowSharedIp: ['metallb.io/allow-shared-ip', 'metallb.universe.tf/allow-shared-ip'],
} as const;

export function serviceKey(svc: V1Service): string {
  return `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`;
}

/** Is this a Service bmlb serves? type LoadBalancer, and loadBalancerClass unset or ours. */
export function isManagedService(svc: V1Service): boolean {
  if (svc.spec?.type !== 'LoadBalancer') return false;
  const cls = svc.spec.loadBalancerClass;
  return cls === undefined || cls === null || cls === '' || cls === LB_CLASS;
}

function annotation(svc: V1Service, names: readonly string[]): { name: string; value: string } | undefined {
  const a = svc.metadata?.annotations ?? {};
  for (const n of names) {
    const v = a[n];
    if (v !== undefined) return { name: n, value: v.trim() };
  }
  return undefined;
}

export type ServiceRequestParse =
  | { ok: true; request: ServiceRequest }
  | { ok: false; reason: 'invalidRequest'; message: string };

export function toServiceRequest(svc: V1Service): ServiceRequestParse {
  const spec = svc.spec ?? {};
  const bad = (message: string): ServiceRequestParse => ({ ok: false, reason: 'invalidRequest', message });

  const requestedIPs: string[] = [];
  const ipsAnn = annotation(svc, ANNOTATIONS.loadBalancerIPs);
  if (ipsAnn && ipsAnn.value !== '') {
    for (const part of ipsAnn.value.split(',').map((s) => s.trim()).filter(Boolean)) {
      const c = canonicalIp(part);
      if (!c) return bad(`annotation ${ipsAnn.name}: "${part}" is not an IP address`);
      requestedIPs.push(c);
    }
    if (spec.loadBalancerIP && !requestedIPs.includes(canonicalIp(spec.loadBalancerIP.trim()) ?? spec.loadBalancerIP)) {
      return bad(`spec.loadBalancerIP ${spec.loadBalancerIP} and annotation ${ipsAnn.name} ${ipsAnn.value} disagree; use only the annotation`);
    }
  } else if (spec.loadBalancerIP) {
    const c = canonicalIp(spec.loadBalancerIP.trim());
    if (!c) return bad(`spec.loadBalancerIP "${spec.loadBalancerIP}" is not an IP address`);
    requestedIPs.push(c);
  }

  const families = (spec.ipFamilies ?? []).filter((f): f is IpFamily => f === 'IPv4' || f === 'IPv6');
  const policy = spec.ipFamilyPolicy;
  const ipFamilyPolicy = policy === 'PreferDualStack' || policy === 'RequireDualStack' ? policy : 'SingleStack';

  const ports = (spec.ports ?? []).map((p) => ({
    port: p.port,
    protocol: (p.protocol === 'UDP' || p.protocol === 'SCTP' ? p.protocol : 'TCP') as Protocol,
  }));
  const pool = annotation(svc, ANNOTATIONS.addressPool);
  const share = annotation(svc, ANNOTATIONS.allowSharedIp);
  const request: ServiceRequest = {
    key: serviceKey(svc),
    ipFamilies: families,
    ipFamilyPolicy,
    requestedIPs,
    ports,
    externalTrafficPolicy: spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
    selector: { ...(spec.selector ?? {}) },
  };
  if (pool && pool.value !== '') request.requestedPool = pool.value;
  if (share && share.value !== '') request.sharingKey = share.value;
  return { ok: true, request };
}

/** IPs in status.loadBalancer.ingress (canonical). */
export function statusIPs(svc: V1Service): string[] {
  const out: string[] = [];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    const c = ing.ip ? canonicalIp(ing.ip) : undefined;
    if (c) out.push(c);
  }
  return out;
}
