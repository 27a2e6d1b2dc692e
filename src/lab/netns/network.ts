/**
 * The lab's layer-2 segment: one bridge in its own namespace and a veth from it to every other
 * namespace (eth0 there). Everything is created inside namespaces this module creates; nothing is
 * added to the host's own namespace (the veth pair is created in the segment namespace with its
 * peer directly in the target namespace).
 */
import type { LabIo } from '../lab-io.js';
import { mustRun, settleAll } from '../lab-io.js';
import type { LabLayout } from '../lab-layout.js';
import { allNamespaces, isLabNamespace } from '../lab-layout.js';

/** The existing namespaces that belong to the lab `name` (by their exact name pattern). */
export async function existingLabNamespaces(io: LabIo, name: string): Promise<string[]> {
  const r = await io.run(['ip', '-j', 'netns', 'list']);
  if (r.code !== 0 || !r.stdout.trim()) return [];
  const list = JSON.parse(r.stdout) as { name: string }[];
  return list.map((n) => n.name).filter((n) => isLabNamespace(n, name));
}

/** PIDs of the processes whose network namespace is `ns`. */
export async function namespacePids(io: LabIo, ns: string): Promise<number[]> {
  const r = await io.run(['ip', 'netns', 'pids', ns]);
  if (r.code !== 0) return [];
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
}

export async function deleteNamespace(io: LabIo, ns: string): Promise<void> {
  await mustRun(io, ['ip', 'netns', 'delete', ns], `deleting namespace ${ns}`);
}

function sysctl(io: LabIo, ns: string, settings: Record<string, string>, what: string): Promise<string> {
  const kv = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  return mustRun(io, ['nsenter', `--net=/run/netns/${ns}`, '--', 'sysctl', '-q', '-w', ...kv], what);
}

export interface Port {
  namespace: string;
  segmentPort: string;
  address: string;
  addressV6?: string;
  /** A node (routes, ip_forward=1) rather than a plain host. */
  node: boolean;
}

async function wirePort(io: LabIo, layout: LabLayout, p: Port): Promise<void> {
  const seg = layout.segment.namespace;
  const ns = p.namespace;
  await mustRun(io, ['ip', '-n', seg, 'link', 'add', p.segmentPort, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns], `creating the veth of ${ns}`);
  await mustRun(io, ['ip', '-n', seg, 'link', 'set', p.segmentPort, 'master', layout.segment.bridge, 'up'], `attaching ${ns} to the bridge`);
  const settings: Record<string, string> = {
    'net.ipv6.conf.eth0.accept_dad': '0',
    'net.ipv6.conf.eth0.dad_transmits': '0',
  };
  if (p.node) {
    settings['net.ipv4.ip_forward'] = '1';
    if (p.addressV6) settings['net.ipv6.conf.all.forwarding'] = '1';
  }
  await sysctl(io, ns, settings, `setting sysctls in ${ns}`);
  await mustRun(io, ['ip', '-n', ns, 'link', 'set', 'lo', 'up'], `bringing up lo in ${ns}`);
  await mustRun(io, ['ip', '-n', ns, 'addr', 'add', `${p.address}/24`, 'dev', 'eth0'], `addressing ${ns}`);
  if (p.addressV6) {
    await mustRun(io, ['ip', '-n', ns, 'addr', 'add', `${p.addressV6}/64`, 'dev', 'eth0', 'nodad'], `addressing ${ns} (IPv6)`);
  }
  await mustRun(io, ['ip', '-n', ns, 'link', 'set', 'eth0', 'up'], `bringing up eth0 in ${ns}`);
}

/** Create every namespace of the lab, the bridge, and wire each namespace to it. */
export async function createLabNetwork(io: LabIo, layout: LabLayout): Promise<void> {
  await settleAll(allNamespaces(layout).map((ns) => mustRun(io, ['ip', 'netns', 'add', ns], `creating namespace ${ns}`)));
  const seg = layout.segment.namespace;
  const br = layout.segment.bridge;
  await mustRun(io, ['ip', '-n', seg, 'link', 'set', 'lo', 'up'], 'bringing up lo in the segment');
  await mustRun(
    io,
    ['ip', '-n', seg, 'link', 'add', br, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0', 'mcast_snooping', '0'],
    'creating the bridge',
  );
  await mustRun(io, ['ip', '-n', seg, 'link', 'set', br, 'up'], 'bringing up the bridge');
  const ports: Port[] = [
    ...layout.extras.map((e) => ({ namespace: e.namespace, segmentPort: e.segmentPort, address: e.address, ...(e.addressV6 ? { addressV6: e.addressV6 } : {}), node: false })),
    ...layout.nodes.map((n) => ({ namespace: n.namespace, segmentPort: n.segmentPort, address: n.address, ...(n.addressV6 ? { addressV6: n.addressV6 } : {}), node: true })),
  ];
  await settleAll(ports.map((p) => wirePort(io, layout, p)));
}
