/**
 * Service forwarding as kube-proxy does it, rendered as one nftables table: traffic to a Service's
 * clusterIP:port, load-balancer ingress IP:port and (on any local address) nodePort is DNATed to
 * the ready endpoints of its EndpointSlices, chosen at random per connection. Cluster traffic
 * policy masquerades so replies come back through this node; `externalTrafficPolicy: Local` uses
 * only this node's endpoints for external traffic and keeps the client's source address. A Service
 * with no usable endpoint is rejected, as kube-proxy does: TCP with a reset (not rate limited like
 * ICMP errors are), other protocols with ICMP port unreachable. Pure.
 */
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';

export const PROXY_TABLE = 'bmlb_lab_proxy';
export const MASQUERADE_MARK = '0x00004000';

export interface ProxyNode {
  name: string;
}

type Family = 'ip' | 'ip6';

interface Endpoint {
  address: string;
  port: number;
  local: boolean;
}

/** One Service port on one destination, with the endpoints it forwards to. */
export interface Forward {
  service: string;
  port: string;
  kind: 'clusterIP' | 'loadBalancer' | 'nodePort';
  family: Family;
  /** Destination address; absent for nodePort (any local address). */
  address?: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  dport: number;
  endpoints: { address: string; port: number }[];
  masquerade: boolean;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

function familyOf(address: string): Family {
  return address.includes(':') ? 'ip6' : 'ip';
}

/** The forwarding decisions for these Services on this node (the data the ruleset is rendered from). */
export function planForwards(services: V1Service[], slices: V1EndpointSlice[], node: ProxyNode): Forward[] {
  const out: Forward[] = [];
  const sorted = [...services].sort((a, b) => key(a).localeCompare(key(b)));
  for (const svc of sorted) {
    const spec = svc.spec;
    if (!spec) continue;
    const type = spec.type ?? 'ClusterIP';
    if (type === 'ExternalName') continue;
    const ns = svc.metadata?.namespace ?? 'default';
    const name = svc.metadata?.name ?? '';
    const mine = slices.filter(
      (s) => (s.metadata?.namespace ?? 'default') === ns && s.metadata?.labels?.[SERVICE_NAME_LABEL] === name,
    );
    const externalLocal = spec.externalTrafficPolicy === 'Local' && (type === 'LoadBalancer' || type === 'NodePort');
    for (const sp of spec.ports ?? []) {
      const protocol = (sp.protocol ?? 'TCP').toLowerCase() as Forward['protocol'];
      const portName = sp.name ?? '';
      const eps = endpointsFor(mine, portName, sp.protocol ?? 'TCP', node);
      const byFamily = (f: Family, localOnly: boolean) =>
        eps.filter((e) => familyOf(e.address) === f && (!localOnly || e.local)).map(({ address, port }) => ({ address, port }));
      const base = { service: `${ns}/${name}`, port: portName || String(sp.port), protocol };
      const clusterIPs = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => ip && ip !== 'None');
      for (const ip of clusterIPs) {
        const family = familyOf(ip);
        out.push({ ...base, kind: 'clusterIP', family, address: ip, dport: sp.port, endpoints: byFamily(family, false), masquerade: true });
      }
      if (type === 'LoadBalancer') {
        for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
          if (!ing.ip) continue;
          const family = familyOf(ing.ip);
          out.push({ ...base, kind: 'loadBalancer', family, address: ing.ip, dport: sp.port, endpoints: byFamily(family, externalLocal), masquerade: !externalLocal });
        }
      }
      if ((type === 'LoadBalancer' || type === 'NodePort') && sp.nodePort) {
        const families = new Set<Family>(clusterIPs.map(familyOf));
        if (families.size === 0) families.add('ip');
        for (const family of families) {
          out.push({ ...base, kind: 'nodePort', family, dport: sp.nodePort, endpoints: byFamily(family, externalLocal), masquerade: !externalLocal });
        }
      }
    }
  }
  return out;
}

function key(s: V1Service): string {
  return `${s.metadata?.namespace ?? 'default'}/${s.metadata?.name ?? ''}`;
}

function endpointsFor(slices: V1EndpointSlice[], portName: string, protocol: string, node: ProxyNode): Endpoint[] {
  const seen = new Set<string>();
  const out: Endpoint[] = [];
  for (const slice of slices) {
    if (slice.addressType === 'FQDN') continue;
    const port = (slice.ports ?? []).find((p) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === protocol);
    if (!port?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      for (const address of ep.addresses ?? []) {
        const id = `${address}|${port.port}`;
        if (seen.has(id)) continue;
        seen.add(id);
        out.push({ address, port: port.port, local: ep.nodeName === node.name });
      }
    }
  }
  return out.sort((a, b) => `${a.address}|${a.port}`.localeCompare(`${b.address}|${b.port}`));
}

function endpointText(family: Family, e: { address: string; port: number }): string {
  return family === 'ip6' ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '')}"`;
}

/** The nftables table for these Services on this node, as an `nft -f` script that replaces the table atomically. */
export function renderRuleset(services: V1Service[], slices: V1EndpointSlice[], node: ProxyNode): string {
  const forwards = planForwards(services, slices, node);
  const dispatch: string[] = [];
  const rejects: string[] = [];
  const chains: string[] = [];
  forwards.forEach((f, i) => {
    const comment = `comment ${quote(`${f.service}:${f.port} ${f.kind}`)}`;
    const match = `${f.address ? `${f.family} daddr ${f.address} ` : `meta nfproto ${f.family === 'ip' ? 'ipv4' : 'ipv6'} fib daddr type local `}${f.protocol} dport ${f.dport}`;
    if (f.endpoints.length === 0) {
      rejects.push(`    ${match} reject${f.protocol === 'tcp' ? ' with tcp reset' : ''} ${comment}`);
      return;
    }
    const chain = `fwd_${i}`;
    dispatch.push(`    ${match} jump ${chain} ${comment}`);
    const body: string[] = [];
    if (f.masquerade) body.push(`    meta mark set meta mark | ${MASQUERADE_MARK}`);
    if (f.endpoints.length === 1) {
      body.push(`    meta l4proto ${f.protocol} dnat ${f.family} to ${endpointText(f.family, f.endpoints[0]!)}`);
    } else {
      const elems = f.endpoints.map((e, j) => `${j} : ${e.address} . ${e.port}`).join(', ');
      body.push(`    meta l4proto ${f.protocol} dnat ${f.family} to numgen random mod ${f.endpoints.length} map { ${elems} }`);
    }
    chains.push(`  chain ${chain} {\n${body.join('\n')}\n  }`);
  });
  const lines = [
    `table inet ${PROXY_TABLE}`,
    `delete table inet ${PROXY_TABLE}`,
    `table inet ${PROXY_TABLE} {`,
    '  chain nat_prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    '    jump services',
    '  }',
    '  chain nat_output {',
    '    type nat hook output priority -100; policy accept;',
    '    jump services',
    '  }',
    '  chain nat_postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    meta mark & ${MASQUERADE_MARK} == ${MASQUERADE_MARK} masquerade`,
    '  }',
    '  chain filter_input {',
    '    type filter hook input priority filter - 1; policy accept;',
    '    ct state new jump no_endpoints',
    '  }',
    '  chain filter_forward {',
    '    type filter hook forward priority filter - 1; policy accept;',
    '    ct state new jump no_endpoints',
    '  }',
    '  chain filter_output {',
    '    type filter hook output priority filter - 1; policy accept;',
    '    ct state new jump no_endpoints',
    '  }',
    '  chain services {',
    ...dispatch,
    '  }',
    '  chain no_endpoints {',
    ...rejects,
    '  }',
    ...chains,
    '}',
  ];
  return lines.join('\n') + '\n';
}

/** Removes the table (idempotent). */
export function renderTableRemoval(): string {
  return `table inet ${PROXY_TABLE}\ndelete table inet ${PROXY_TABLE}\n`;
}
