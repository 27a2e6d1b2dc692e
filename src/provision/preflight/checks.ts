/**
 * Preflight verdicts, pure: from the facts gathered on the LB nodes (facts.ts) and the probes'
 * outcomes, decide per node and per check pass / warn / fail, with the reason and the fix.
 */
import type { ClusterConfig } from '../../config/model.js';
import { formatIp, parseIp } from '../../net/address.js';
import { type IpRange, formatRange, parsePoolEntry, rangeContains } from '../../net/range.js';
import { type NodeFacts, type Listener, MANIFEST_DIR, interfaceHolding, subnetOf } from './facts.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  message: string;
  fix?: string;
}

export interface NodePreflight {
  address: string;
  hostname?: string;
  checks: CheckResult[];
}

export interface PreflightResult {
  ok: boolean;
  nodes: NodePreflight[];
}

export type VipOutcome =
  | { kind: 'free' }
  | { kind: 'answered'; macs: string[] }
  | { kind: 'not-probed'; reason: string };

export interface VipProbe {
  field: 'controlPlaneVIP' | 'ingressVIP';
  vip: string;
  /** LB node address the probe ran from. */
  from?: string;
  outcome: VipOutcome;
}

export type PeerProbe =
  | { kind: 'tested'; reached: string[]; unreachable: { to: string; detail: string }[] }
  | { kind: 'not-tested'; reason: string };

export interface NodeGather {
  address: string;
  k8sIP: string;
  facts?: NodeFacts;
  /** Why facts are missing (SSH failure etc.). */
  error?: { code: string; message: string; suggestions: string[] };
}

export interface PreflightEvidence {
  config: ClusterConfig;
  nodes: NodeGather[];
  vipProbes: VipProbe[];
  /** By node address. */
  peerProbes: Record<string, PeerProbe>;
}

export const CLOCK_WARN_MS = 1000;
export const CLOCK_FAIL_MS = 5000;

function pass(name: string, message: string): CheckResult {
  return { name, status: 'pass', message };
}
function warn(name: string, message: string, fix?: string): CheckResult {
  return { name, status: 'warn', message, ...(fix ? { fix } : {}) };
}
function fail(name: string, message: string, fix?: string): CheckResult {
  return { name, status: 'fail', message, ...(fix ? { fix } : {}) };
}

/** Does the node's bmlb keepalived.conf hold this VIP (a rerun of create on a created cluster)? */
export function heldByBmlb(f: NodeFacts, vip: string): boolean {
  const conf = f.bmlbKeepalivedConf;
  if (!conf) return false;
  const want = parseIp(vip);
  if (!want) return false;
  return [...conf.matchAll(/([0-9a-fA-F:.]+)\/\d+/g)].some((m) => {
    const ip = parseIp(m[1] ?? '');
    return ip !== undefined && ip.family === want.family && ip.value === want.value;
  });
}

function isWildcard(a: string): boolean {
  return a === '*' || a === '0.0.0.0' || a === '::';
}

function subnetChecks(ev: PreflightEvidence, g: NodeGather, f: NodeFacts): CheckResult[] {
  const lb = ev.config.loadBalancer;
  const held = interfaceHolding(f.interfaces, g.k8sIP);
  if (!held) {
    return [
      fail('interface', `no interface on ${g.address} holds its k8sIP ${g.k8sIP}`, `Set k8sIP of ${g.address} in the cluster file to the address the node uses on the cluster network (see \`ip addr\` on the node).`),
    ];
  }
  const { iface, addr } = held;
  const out: CheckResult[] = [pass('interface', `${g.k8sIP}/${addr.prefixlen} on ${iface.name}${iface.up ? '' : ' (DOWN)'}`)];
  if (!iface.up) out[0] = fail('interface', `${iface.name} holding ${g.k8sIP} is down`, `Bring ${iface.name} up on ${g.address}.`);
  // The L2 subnet per family: the k8sIP's own, or another address of the other family on the same interface.
  const subnets = new Map<number, { range: IpRange; text: string }>();
  for (const a of iface.addrs) {
    const ip = parseIp(a.local);
    if (!ip || subnets.has(ip.family)) continue;
    if (ip.family === 6 && /^fe80:/i.test(a.local)) continue;
    const r = subnetOf(a);
    if (r) subnets.set(ip.family, { range: r, text: `${formatIp({ family: r.family, value: r.first })}/${a.prefixlen}` });
  }
  const own = subnetOf(addr);
  if (own) subnets.set(own.family, { range: own, text: `${formatIp({ family: own.family, value: own.first })}/${addr.prefixlen}` });

  const outside: string[] = [];
  const check = (what: string, ip: string): void => {
    const p = parseIp(ip);
    if (!p) return;
    const s = subnets.get(p.family);
    if (!s) outside.push(`${what} ${ip} (no IPv${p.family} address on ${iface.name})`);
    else if (!rangeContains(s.range, p)) outside.push(`${what} ${ip} (not in ${s.text})`);
  };
  check('controlPlaneVIP', lb.controlPlaneVIP);
  if (lb.ingressVIP) check('ingressVIP', lb.ingressVIP);
  for (const pool of lb.addressPools) {
    for (const entry of pool.addresses) {
      const r = parsePoolEntry(entry);
      if (!r.ok) continue;
      const s = subnets.get(r.range.family);
      const inside = s && s.range.first <= r.range.first && r.range.last <= s.range.last;
      if (!s) outside.push(`pool ${pool.name} ${entry} (no IPv${r.range.family} address on ${iface.name})`);
      else if (!inside) outside.push(`pool ${pool.name} ${formatRange(r.range)} (not inside ${s.text})`);
    }
  }
  for (const other of ev.nodes) if (other.address !== g.address) check(`LB node`, other.k8sIP);
  const subnetText = [...subnets.values()].map((s) => s.text).join(' and ');
  out.push(
    outside.length === 0
      ? pass('l2-subnet', `VIPs, pools and LB nodes are inside ${subnetText} on ${iface.name}`)
      : fail(
          'l2-subnet',
          `outside ${iface.name}'s subnet ${subnetText}: ${outside.join('; ')}`,
          'VIPs, address pools and LB nodes must share one layer-2 subnet: pick VIPs and pools from the LB nodes\' subnet, or LB nodes on the VIPs\' network.',
        ),
  );
  return out;
}

function portChecks(ev: PreflightEvidence, f: NodeFacts): CheckResult {
  const lb = ev.config.loadBalancer;
  const bmlbHere = f.bmlbKeepalivedConf !== undefined;
  const lbPort = lb.controlPlaneLBPort;
  const memberPort = lb.bmlb.speaker.memberPort;
  const conflicts: string[] = [];
  const own: string[] = [];
  const vip = parseIp(lb.controlPlaneVIP);
  const describe = (l: Listener): string => `${l.proto} ${l.address}:${l.port}${l.processes.length ? ` (${l.processes.join(', ')})` : ''}`;
  for (const l of f.listeners) {
    if (l.port === lbPort && l.proto === 'tcp') {
      const a = parseIp(l.address);
      const onVip = a && vip && a.family === vip.family && a.value === vip.value;
      if (!isWildcard(l.address) && !onVip) continue; // another address: HAProxy binds the VIP only
      if (bmlbHere && l.processes.every((p) => p === 'haproxy')) own.push(describe(l));
      else conflicts.push(describe(l));
    }
    if (l.port === memberPort) {
      if (bmlbHere && l.processes.length > 0 && l.processes.every((p) => p === 'node' || p === 'bmlb')) own.push(describe(l));
      else conflicts.push(describe(l));
    }
  }
  if (conflicts.length) {
    return fail('ports', `in use: ${conflicts.join('; ')} (bmlb needs tcp ${lbPort} on the VIP and tcp/udp ${memberPort})`, `Stop what listens there, or change ports.controlPlaneLBPort / the speaker's memberPort in the cluster file.`);
  }
  return pass('ports', own.length ? `tcp ${lbPort} and ${memberPort} are bmlb's own (${own.join('; ')})` : `tcp ${lbPort} and tcp/udp ${memberPort} are free`);
}

function sysctlChecks(ev: PreflightEvidence, f: NodeFacts): CheckResult[] {
  const s = f.sysctls;
  const v6 = parseIp(ev.config.loadBalancer.controlPlaneVIP)?.family === 6;
  const out: CheckResult[] = [];
  const nb = v6 ? 'net.ipv6.ip_nonlocal_bind' : 'net.ipv4.ip_nonlocal_bind';
  out.push(
    s[nb] === '1'
      ? pass(nb, '1 (HAProxy can bind the VIP on backup nodes)')
      : warn(nb, `${s[nb] ?? 'unset'}: HAProxy cannot bind the VIP where it is not held`, `create cluster sets it to 1 (persisted in /etc/sysctl.d/60-bmlb.conf); nothing to do.`),
  );
  const fwd = s['net.ipv4.ip_forward'];
  out.push(fwd === '1' ? pass('net.ipv4.ip_forward', '1') : warn('net.ipv4.ip_forward', `${fwd ?? 'unset'}: Kubernetes networking normally needs forwarding`, 'Set net.ipv4.ip_forward=1 (kubeadm requires it).'));
  const ai = s['net.ipv4.conf.all.arp_ignore'];
  out.push(
    ai === undefined || ai === '0' || ai === '1'
      ? pass('net.ipv4.conf.all.arp_ignore', ai ?? 'unset')
      : warn('net.ipv4.conf.all.arp_ignore', `${ai}: the node may not answer ARP for the VIP`, 'Use arp_ignore 0 or 1 on the LB interface.'),
  );
  const aa = s['net.ipv4.conf.all.arp_announce'];
  out.push(
    aa === undefined || aa === '0' || aa === '1' || aa === '2'
      ? pass('net.ipv4.conf.all.arp_announce', aa ?? 'unset')
      : warn('net.ipv4.conf.all.arp_announce', `${aa}: unexpected value`, 'Use arp_announce 0, 1 or 2.'),
  );
  return out;
}

function clockCheck(f: NodeFacts): CheckResult {
  const off = Math.abs(f.clockOffsetMs);
  const text = `${f.clockOffsetMs >= 0 ? '+' : '-'}${(off / 1000).toFixed(3)} s from this machine`;
  if (off >= CLOCK_FAIL_MS) return fail('clock', text, 'Synchronise the clocks (chrony/systemd-timesyncd); certificates and leases need agreeing clocks.');
  if (off >= CLOCK_WARN_MS) return warn('clock', text, 'Synchronise the clocks (chrony/systemd-timesyncd).');
  return pass('clock', text);
}

function peerCheck(ev: PreflightEvidence, g: NodeGather): CheckResult {
  const p = ev.peerProbes[g.address];
  const port = ev.config.loadBalancer.bmlb.speaker.memberPort;
  if (!p) return warn('peers', `not tested`);
  if (p.kind === 'not-tested') return warn('peers', `tcp ${port} to the other LB nodes not tested: ${p.reason}`);
  if (p.unreachable.length === 0) return pass('peers', p.reached.length ? `reaches ${p.reached.join(', ')} on tcp ${port}` : 'no other LB nodes');
  return fail(
    'peers',
    `cannot reach ${p.unreachable.map((u) => `${u.to} (${u.detail})`).join(', ')} on tcp ${port}`,
    `Allow TCP and UDP ${port} between the LB nodes (the speakers' membership).`,
  );
}

function vipCheck(ev: PreflightEvidence, probe: VipProbe): { node: string; result: CheckResult } | undefined {
  const name = `${probe.field}-free`;
  // Already held by bmlb (rerun)?
  for (const g of ev.nodes) {
    const f = g.facts;
    if (!f) continue;
    if (interfaceHolding(f.interfaces, probe.vip)) {
      if (probe.field === 'controlPlaneVIP' && heldByBmlb(f, probe.vip)) {
        return { node: g.address, result: pass(name, `${probe.vip} is held by bmlb's keepalived on ${g.address}`) };
      }
      return {
        node: g.address,
        result: fail(name, `${probe.vip} is already configured on ${g.address} (${interfaceHolding(f.interfaces, probe.vip)?.iface.name}) by something other than bmlb`, `Remove ${probe.vip} from ${g.address}, or pick a free address for ${probe.field}.`),
      };
    }
  }
  const at = probe.from ?? ev.nodes.find((g) => g.facts)?.address;
  if (!at) return undefined;
  switch (probe.outcome.kind) {
    case 'free':
      return { node: at, result: pass(name, `${probe.vip}: no answer to ARP/ND from ${at}`) };
    case 'not-probed':
      return { node: at, result: warn(name, `${probe.vip} not probed: ${probe.outcome.reason}`) };
    case 'answered': {
      const macs = probe.outcome.macs;
      const owners = ev.nodes.filter((g) => g.facts && g.facts.bmlbKeepalivedConf !== undefined && g.facts.interfaces.some((i) => i.mac && macs.includes(i.mac)));
      if (owners.length > 0 && owners.length === macs.length) {
        return { node: at, result: pass(name, `${probe.vip} is answered by bmlb on ${owners.map((o) => o.address).join(', ')}`) };
      }
      return {
        node: at,
        result: fail(name, `${probe.vip} is in use: ${macs.join(', ')} answered ARP/ND from ${at}`, `Pick a free address for ${probe.field}, or find and stop the machine with MAC ${macs[0] ?? '?'}.`),
      };
    }
  }
}

export function evaluatePreflight(ev: PreflightEvidence): PreflightResult {
  const nodes: NodePreflight[] = ev.nodes.map((g) => {
    if (!g.facts) {
      return {
        address: g.address,
        checks: [fail('ssh', g.error ? `${g.error.code}: ${g.error.message}` : 'not reachable', g.error?.suggestions[0])],
      };
    }
    const f = g.facts;
    const checks: CheckResult[] = [pass('ssh', `reachable; hostname ${f.hostname}`)];
    checks.push(...subnetChecks(ev, g, f));
    checks.push(portChecks(ev, f));
    checks.push(...sysctlChecks(ev, f));
    checks.push(
      f.manifestDirPresent
        ? pass('manifest-dir', `${MANIFEST_DIR} present`)
        : fail('manifest-dir', `${MANIFEST_DIR} is missing: no kubelet static pods on this node`, `Run bmlb on nodes where kubelet is set up with staticPodPath ${MANIFEST_DIR} (kubeadm's default).`),
    );
    checks.push(peerCheck(ev, g));
    checks.push(clockCheck(f));
    return { address: g.address, hostname: f.hostname, checks };
  });
  for (const probe of ev.vipProbes) {
    const r = vipCheck(ev, probe);
    if (!r) continue;
    nodes.find((n) => n.address === r.node)?.checks.push(r.result);
  }
  return { ok: nodes.every((n) => n.checks.every((c) => c.status !== 'fail')), nodes };
}
