/**
 * Preflight IO: read facts from each LB node over SSH, probe the VIPs with ARP/ND from an LB node,
 * and test TCP reachability between LB nodes on the membership port with short-lived listeners.
 *
 * Tools used on the nodes: sh, hostname, ip (iproute2, `-j`), ss, cat, date, arping (iputils, for
 * IPv4 VIPs), ping (IPv6 VIPs), timeout, and perl (perl-base, IO::Socket::IP) — or python3, or bash's
 * /dev/tcp for the connecting side — for the membership-port test. A missing tool turns its check
 * into a warning, never a false pass.
 */
import type { NodeSpec } from '../../config/model.js';
import { parseIp } from '../../net/address.js';
import type { NodeShell } from '../ssh/ssh-connection.js';
import { shQuote } from '../ssh/shell-quote.js';
import type { PeerProbe, VipOutcome } from './checks.js';
import {
  BMLB_KEEPALIVED_CONF,
  MANIFEST_DIR,
  type NodeFacts,
  SYSCTLS,
  interfaceHolding,
  parseArpingReplies,
  parseIpAddrJson,
  parseNeighLladdr,
  parseSs,
  parseSysctls,
  splitSections,
} from './facts.js';

const TOOLS = ['perl', 'python3', 'bash', 'arping', 'ping', 'ss', 'ip', 'timeout'];

export function gatherScript(): string {
  return [
    'export LC_ALL=C',
    'echo ==bmlb:hostname; hostname',
    'echo ==bmlb:ipaddr; ip -j addr show',
    `echo ==bmlb:sysctl; for k in ${SYSCTLS.join(' ')}; do printf '%s=' "$k"; cat "/proc/sys/$(echo "$k" | tr . /)" 2>/dev/null || echo; done`,
    `echo ==bmlb:manifests; if [ -d ${MANIFEST_DIR} ]; then echo yes; else echo no; fi`,
    'echo ==bmlb:listeners; ss -ltnupH 2>/dev/null',
    `echo ==bmlb:keepalived; if [ -f ${BMLB_KEEPALIVED_CONF} ]; then echo present; cat ${BMLB_KEEPALIVED_CONF}; fi`,
    `echo ==bmlb:tools; for t in ${TOOLS.join(' ')}; do command -v $t >/dev/null 2>&1 && echo $t; done`,
    'true',
  ].join('\n');
}

export class GatherError extends Error {}

/**
 * Node clock minus ours: `date +%s.%N` three times, keeping the sample with the shortest round
 * trip and assuming the node read its clock half-way through it.
 */
export async function measureClockOffset(shell: NodeShell, now: () => number = Date.now): Promise<number> {
  let best: { rtt: number; offset: number } | undefined;
  for (let i = 0; i < 3; i++) {
    const t0 = now();
    const r = await shell.run('date +%s.%N');
    const t1 = now();
    const remote = Number(r.stdout.trim()) * 1000;
    if (r.code !== 0 || !Number.isFinite(remote)) throw new GatherError(`date +%s.%N failed on ${shell.address}: ${r.stderr.trim()}`);
    const sample = { rtt: t1 - t0, offset: Math.round(remote - (t0 + t1) / 2) };
    if (!best || sample.rtt < best.rtt) best = sample;
  }
  return best?.offset ?? 0;
}

export async function gatherFacts(shell: NodeShell, node: NodeSpec): Promise<NodeFacts> {
  const r = await shell.run(gatherScript(), { logAs: 'preflight: gather facts (hostname, ip -j addr, sysctls, manifest dir, ss -ltnup, bmlb keepalived.conf, tools)' });
  if (r.code !== 0) throw new GatherError(`gathering facts on ${node.address} failed (exit ${r.code}): ${r.stderr.trim()}`);
  const s = splitSections(r.stdout);
  let interfaces;
  try {
    interfaces = parseIpAddrJson(s.get('ipaddr') ?? '');
  } catch (e) {
    throw new GatherError(`\`ip -j addr show\` on ${node.address} gave no JSON (iproute2 too old?): ${(e as Error).message}`);
  }
  const ka = (s.get('keepalived') ?? '').split('\n');
  const clockOffsetMs = await measureClockOffset(shell);
  return {
    address: node.address,
    k8sIP: node.k8sIP,
    hostname: (s.get('hostname') ?? '').trim(),
    interfaces,
    sysctls: parseSysctls(s.get('sysctl') ?? ''),
    manifestDirPresent: (s.get('manifests') ?? '').trim() === 'yes',
    listeners: parseSs(s.get('listeners') ?? ''),
    ...(ka[0] === 'present' ? { bmlbKeepalivedConf: ka.slice(1).join('\n') } : {}),
    clockOffsetMs,
    tools: (s.get('tools') ?? '').split('\n').map((t) => t.trim()).filter(Boolean),
  };
}

/** Is a VIP answered on the segment? Probed from `facts`' node, on the interface holding its k8sIP. */
export async function probeVip(shell: NodeShell, facts: NodeFacts, vip: string): Promise<VipOutcome> {
  const iface = interfaceHolding(facts.interfaces, facts.k8sIP)?.iface.name;
  if (!iface) return { kind: 'not-probed', reason: `no interface holds ${facts.k8sIP} on ${facts.address}` };
  const ip = parseIp(vip);
  if (!ip) return { kind: 'not-probed', reason: `${vip} is not an address` };
  if (ip.family === 4) {
    if (!facts.tools.includes('arping')) return { kind: 'not-probed', reason: `arping (iputils-arping) is not installed on ${facts.address}` };
    // Duplicate address detection: exit 0 = no reply, 1 = someone answered.
    const r = await shell.run(`arping -D -c 2 -w 3 -I ${shQuote(iface)} ${shQuote(vip)}`, { timeoutMs: 10_000 });
    if (r.code === 0) return { kind: 'free' };
    const macs = parseArpingReplies(r.stdout);
    if (macs.length > 0) return { kind: 'answered', macs };
    return { kind: 'not-probed', reason: `arping failed on ${facts.address}: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}` };
  }
  if (!facts.tools.includes('ping')) return { kind: 'not-probed', reason: `ping is not installed on ${facts.address}` };
  // IPv6: trigger neighbour discovery, then read the neighbour table.
  const r = await shell.run(
    `ping -6 -c 1 -W 1 -I ${shQuote(iface)} ${shQuote(vip)} >/dev/null 2>&1; ip -6 neigh show ${shQuote(vip)} dev ${shQuote(iface)}`,
    { timeoutMs: 10_000 },
  );
  const mac = parseNeighLladdr(r.stdout);
  return mac ? { kind: 'answered', macs: [mac] } : { kind: 'free' };
}

function listenerCommand(tool: string, addr: string, port: number, seconds: number): string | undefined {
  const a = shQuote(addr);
  if (tool === 'perl') {
    return `timeout ${seconds} perl -MIO::Socket::IP -e 'my $s = IO::Socket::IP->new(LocalHost=>$ARGV[0],LocalPort=>$ARGV[1],Proto=>"tcp",Listen=>128,ReuseAddr=>1) or exit 3; sleep $ARGV[2]' ${a} ${port} ${seconds}`;
  }
  if (tool === 'python3') {
    return `timeout ${seconds} python3 -c 'import socket,sys,time
s=socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind((sys.argv[1],int(sys.argv[2])))
s.listen(128)
time.sleep(int(sys.argv[3]))' ${a} ${port} ${seconds}`;
  }
  return undefined;
}

/** One process connects to every peer in turn (3 s each) and prints `PEER ok|fail` per line. */
function connectCommand(tool: string, peers: string[], port: number): string | undefined {
  const list = peers.map(shQuote).join(' ');
  const limit = 4 * peers.length + 2;
  if (tool === 'perl') {
    return `timeout ${limit} perl -MIO::Socket::IP -e '$| = 1; my $port = shift; for my $p (@ARGV) { my $s = IO::Socket::IP->new(PeerHost=>$p, PeerPort=>$port, Proto=>"tcp", Timeout=>3); print "$p ", ($s ? "ok" : "fail"), "\n"; close $s if $s; }' ${port} ${list}`;
  }
  if (tool === 'python3') {
    return `timeout ${limit} python3 -c 'import socket,sys
for p in sys.argv[2:]:
    try:
        socket.create_connection((p, int(sys.argv[1])), 3).close(); print(p, "ok", flush=True)
    except OSError:
        print(p, "fail", flush=True)' ${port} ${list}`;
  }
  if (tool === 'bash') {
    return `for p in ${list}; do if timeout 4 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$p" ${port} >/dev/null 2>&1; then echo "$p ok"; else echo "$p fail"; fi; done`;
  }
  return undefined;
}

export interface PeerNode {
  shell: NodeShell;
  facts: NodeFacts;
}

/**
 * TCP reachability between LB nodes on the membership port: where nothing listens on it yet, start a
 * listener that ends by itself (timeout) and is stopped by its PID afterwards; then every node
 * connects to every other node's k8sIP.
 */
export async function probePeers(nodes: PeerNode[], port: number): Promise<Record<string, PeerProbe>> {
  const out: Record<string, PeerProbe> = {};
  if (nodes.length < 2) {
    for (const n of nodes) out[n.facts.address] = { kind: 'tested', reached: [], unreachable: [] };
    return out;
  }
  const listening = new Set<string>();
  const whyNot = new Map<string, string>();
  const started: { node: PeerNode; pid: string }[] = [];
  await Promise.all(
    nodes.map(async (n) => {
      if (n.facts.listeners.some((l) => l.proto === 'tcp' && l.port === port)) {
        listening.add(n.facts.k8sIP);
        return;
      }
      const tool = ['perl', 'python3'].find((t) => n.facts.tools.includes(t));
      const cmd = tool ? listenerCommand(tool, n.facts.k8sIP, port, 20) : undefined;
      if (!cmd) {
        whyNot.set(n.facts.k8sIP, `no perl or python3 on ${n.facts.address} to listen with`);
        return;
      }
      const r = await n.shell.run(
        `${cmd} </dev/null >/dev/null 2>&1 & echo "$!"; i=0; while [ $i -lt 30 ]; do ss -ltnH "( sport = :${port} )" | grep -q . && exit 0; sleep 0.1; i=$((i+1)); done; exit 1`,
      );
      const pid = r.stdout.trim().split('\n')[0] ?? '';
      if (/^\d+$/.test(pid)) started.push({ node: n, pid });
      if (r.code === 0) listening.add(n.facts.k8sIP);
      else whyNot.set(n.facts.k8sIP, `a test listener on ${n.facts.address}:${port} did not start`);
    }),
  );
  try {
    await Promise.all(
      nodes.map(async (n) => {
        const peers = nodes.filter((o) => o !== n && listening.has(o.facts.k8sIP)).map((o) => o.facts.k8sIP);
        const untested = nodes.filter((o) => o !== n && !listening.has(o.facts.k8sIP)).map((o) => `${o.facts.k8sIP}: ${whyNot.get(o.facts.k8sIP) ?? 'no listener'}`);
        const tool = ['perl', 'python3', 'bash'].find((t) => n.facts.tools.includes(t));
        const cmd = tool ? connectCommand(tool, peers, port) : undefined;
        if (!cmd) {
          out[n.facts.address] = { kind: 'not-tested', reason: `no perl, python3 or bash on ${n.facts.address} to connect with` };
          return;
        }
        if (peers.length === 0) {
          out[n.facts.address] = { kind: 'not-tested', reason: untested.join('; ') };
          return;
        }
        const r = await n.shell.run(cmd, { timeoutMs: 5000 * peers.length + 5000 });
        const reached: string[] = [];
        const unreachable: { to: string; detail: string }[] = [];
        for (const line of r.stdout.split('\n')) {
          const [to, verdict] = line.trim().split(' ');
          if (!to) continue;
          if (!peers.includes(to)) continue;
          if (verdict === 'ok') reached.push(to);
          else unreachable.push({ to, detail: 'connect failed or timed out' });
        }
        for (const p of peers) {
          if (!reached.includes(p) && !unreachable.some((u) => u.to === p)) unreachable.push({ to: p, detail: `no result (probe exit ${r.code})` });
        }
        out[n.facts.address] =
          untested.length && unreachable.length === 0 ? { kind: 'not-tested', reason: `reached ${reached.join(', ') || 'none'}; untested ${untested.join('; ')}` } : { kind: 'tested', reached, unreachable };
      }),
    );
  } finally {
    await Promise.all(started.map(({ node, pid }) => node.shell.run(`kill ${pid} 2>/dev/null; true`).catch(() => undefined)));
  }
  return out;
}
