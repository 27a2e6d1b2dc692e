/**
 * The in-cluster speaker configuration (ConfigMap bmlb-system/bmlb-config, key config.yaml):
 * derived from the cluster file only, and validated fully when read back, so a speaker or the
 * controller refuses a hand-edited or corrupted ConfigMap instead of acting on it.
 */
import { parse as parseYaml, stringify } from 'yaml';
import { z } from 'zod';
import { parseIp } from '../net/address.js';
import { parsePoolEntry, rangesOverlap, type IpRange } from '../net/range.js';
import { MIN_HEARTBEATS_PER_TIMEOUT } from './defaults.js';
import type { ClusterConfig, SpeakerConfig } from './model.js';
import { DNS_LABEL } from './validate.js';

const address = z.string().refine((s) => parseIp(s) !== undefined, { message: 'not an IPv4 or IPv6 address' });
const port = z.number().int().min(1).max(65535);

const SpeakerConfigSchema = z.strictObject({
  apiVersion: z.literal('bmlb.io/v1'),
  clusterName: z.string().regex(DNS_LABEL),
  type: z.enum(['layer2', 'bgp']),
  controlPlaneVIP: address,
  ingressVIP: address.optional(),
  addressPools: z.array(z.strictObject({
    name: z.string().regex(DNS_LABEL),
    addresses: z.array(z.string()).min(1),
    avoidBuggyIPs: z.boolean(),
    manualAssign: z.boolean(),
  })),
  lbNodes: z.array(z.strictObject({ address, k8sIP: address })).min(1),
  speaker: z.strictObject({
    heartbeatIntervalMs: z.number().int().min(10).max(10000),
    failureTimeoutMs: z.number().int().min(30).max(60000),
    garpRepeat: z.number().int().min(0).max(100),
    memberPort: port,
    metricsPort: port,
  }),
  localASN: z.number().int().min(1).max(4294967295).optional(),
  bgpPeers: z.array(z.strictObject({
    ip: address,
    asn: z.number().int().min(1).max(4294967295),
    controlPlaneNodes: z.array(address),
  })),
}).superRefine((c, ctx) => {
  const seen = new Set<string>();
  const ranges: { range: IpRange; text: string }[] = [];
  c.addressPools.forEach((p, i) => {
    if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['addressPools', i, 'name'], message: `duplicate pool name "${p.name}"` });
    seen.add(p.name);
    p.addresses.forEach((a, k) => {
      const r = parsePoolEntry(a);
      if (!r.ok) { ctx.addIssue({ code: 'custom', path: ['addressPools', i, 'addresses', k], message: r.reason }); return; }
      const clash = ranges.find((x) => rangesOverlap(x.range, r.range));
      if (clash) ctx.addIssue({ code: 'custom', path: ['addressPools', i, 'addresses', k], message: `${a} overlaps ${clash.text}` });
      ranges.push({ range: r.range, text: a });
    });
  });
  if (c.speaker.failureTimeoutMs < MIN_HEARTBEATS_PER_TIMEOUT * c.speaker.heartbeatIntervalMs) {
    ctx.addIssue({ code: 'custom', path: ['speaker', 'failureTimeoutMs'], message: `must be at least ${MIN_HEARTBEATS_PER_TIMEOUT} × heartbeatIntervalMs` });
  }
  if (c.type === 'bgp' && (c.localASN === undefined || c.bgpPeers.length === 0)) {
    ctx.addIssue({ code: 'custom', path: ['type'], message: 'type bgp needs localASN and at least one bgpPeer' });
  }
});

/** Derive the speaker configuration from a validated cluster configuration. */
export function toSpeakerConfig(c: ClusterConfig): SpeakerConfig {
  const lb = c.loadBalancer;
  return {
    apiVersion: 'bmlb.io/v1',
    clusterName: c.name,
    type: lb.type,
    controlPlaneVIP: lb.controlPlaneVIP,
    ...(lb.ingressVIP !== undefined ? { ingressVIP: lb.ingressVIP } : {}),
    addressPools: lb.addressPools.map((p) => ({ name: p.name, addresses: [...p.addresses], avoidBuggyIPs: p.avoidBuggyIPs, manualAssign: p.manualAssign })),
    lbNodes: lb.nodes.map((n) => ({ address: n.address, k8sIP: n.k8sIP })),
    speaker: { ...lb.bmlb.speaker },
    ...(lb.localASN !== undefined ? { localASN: lb.localASN } : {}),
    bgpPeers: lb.bgpPeers.map((p) => ({ ip: p.ip, asn: p.asn, controlPlaneNodes: [...p.controlPlaneNodes] })),
  };
}

/** The ConfigMap text (YAML, stable key order) of a speaker configuration. */
export function formatSpeakerConfig(c: SpeakerConfig): string {
  return stringify(c, { lineWidth: 0 });
}

/** Read and fully validate a speaker configuration (YAML or JSON text). */
export function parseSpeakerConfig(text: string): { ok: true; config: SpeakerConfig } | { ok: false; errors: string[] } {
  let data: unknown;
  try {
    data = parseYaml(text, { uniqueKeys: true, maxAliasCount: 0 });
  } catch (e) {
    return { ok: false, errors: [`not valid YAML: ${(e as Error).message.split('\n')[0]}`] };
  }
  const r = SpeakerConfigSchema.safeParse(data);
  if (!r.success) {
    return { ok: false, errors: r.error.issues.map((i) => `${i.path.map(String).join('.') || '(document)'}: ${i.message}`) };
  }
  return { ok: true, config: r.data as SpeakerConfig };
}
