/**
 * Template contexts for the files on each LB node (keepalived.conf, haproxy.cfg and their static
 * pods), computed from the cluster model and the facts preflight read from the nodes. Pure.
 */
import type { ClusterConfig, NodeSpec } from '../config/model.js';
import { UserError } from '../errors.js';
import { type Family, formatIp, parseIp } from '../net/address.js';
import { GENERATED_NOTICE, HAPROXY_MONITOR, PORTS } from './layout.js';

/** What preflight read from one LB node. */
export interface NodeFacts {
  /** The interface that holds the node's k8sIP. */
  interface: string;
  /** That address's prefix length on the interface. */
  prefixLength: number;
  hostname: string;
}

/** Highest priority handed out (keepalived reserves 255 for an address owner). */
export const TOP_PRIORITY = 150;

/**
 * VRRP priority of the i-th LB node (cluster file order): distinct and deterministic, 150, 140, …
 * Steps of 10 while they fit above 0, smaller steps for larger pools (down to 1 for 150 nodes).
 */
export function vrrpPriority(index: number, nodeCount: number): number {
  if (nodeCount > TOP_PRIORITY) {
    throw new UserError(`The load balancer node pool has ${nodeCount} nodes; VRRP gives at most ${TOP_PRIORITY} of them distinct priorities.`, {
      code: 'TooManyLoadBalancerNodes',
      suggestions: [`Use at most ${TOP_PRIORITY} nodes in spec.loadBalancer.nodePoolSpec.nodes (3 to 5 is typical).`],
    });
  }
  const step = nodeCount <= 15 ? 10 : Math.max(1, Math.floor((TOP_PRIORITY - 1) / (nodeCount - 1)));
  return TOP_PRIORITY - step * index;
}

/** keepalived `advert_int` for an interval in ms: seconds with two decimals (VRRPv3 centiseconds). */
export function advertIntSeconds(ms: number): string {
  if (!Number.isFinite(ms) || ms < 10 || ms > 40950) {
    throw new UserError(`spec.loadBalancer.bmlb.vrrp.advertIntervalMs is ${ms}; VRRPv3 allows 10 to 40950 ms.`, {
      code: 'VrrpAdvertIntervalInvalid',
      suggestions: ['Set spec.loadBalancer.bmlb.vrrp.advertIntervalMs to a multiple of 10 between 10 and 40950 (default 200).'],
    });
  }
  return (Math.round(ms / 10) / 100).toFixed(2);
}

function mustParse(what: string, s: string): { family: Family; text: string } {
  const ip = parseIp(s);
  if (!ip) {
    throw new UserError(`${what} "${s}" is not an IP address.`, {
      code: 'RenderAddressInvalid',
      suggestions: ['Run `bmlb check config` to find and fix the cluster file.'],
    });
  }
  return { family: ip.family, text: formatIp(ip) };
}

const INTERFACE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function checkFacts(node: NodeSpec, facts: NodeFacts | undefined, family: Family): NodeFacts {
  const fix = 'Run `bmlb check preflight` and pass the facts it reads from every LB node to the renderer.';
  if (!facts) {
    throw new UserError(`No interface facts for LB node ${node.address}.`, { code: 'RenderNodeFactsMissing', suggestions: [fix] });
  }
  if (!INTERFACE_NAME.test(facts.interface)) {
    throw new UserError(`LB node ${node.address}: interface name "${facts.interface}" is not a Linux interface name.`, {
      code: 'RenderNodeFactsInvalid', suggestions: [fix],
    });
  }
  const max = family === 4 ? 32 : 128;
  if (!Number.isInteger(facts.prefixLength) || facts.prefixLength < 1 || facts.prefixLength > max) {
    throw new UserError(`LB node ${node.address}: prefix length ${facts.prefixLength} is not between 1 and ${max}.`, {
      code: 'RenderNodeFactsInvalid', suggestions: [fix],
    });
  }
  if (!HOSTNAME.test(facts.hostname)) {
    throw new UserError(`LB node ${node.address}: hostname "${facts.hostname}" is not a valid host name.`, {
      code: 'RenderNodeFactsInvalid', suggestions: [fix],
    });
  }
  return facts;
}

export interface KeepalivedContext {
  generatedNotice: string;
  clusterName: string;
  keepalivedVersion: string;
  node: { address: string; hostname: string; routerId: string; interface: string; priority: number };
  vip: { address: string; prefixLength: number };
  vrrp: { virtualRouterId: number; advertIntSeconds: string; garpMasterRepeat: number; garpMasterRefreshSeconds: number };
  checkName: string;
  check: { script: string; intervalSeconds: number; timeoutSeconds: number; fall: number; rise: number };
  instanceName: string;
  /** `false` for multicast adverts. */
  unicast: false | { srcIp: string; peers: string[] };
}

export interface HaproxyContext {
  generatedNotice: string;
  clusterName: string;
  haproxyVersion: string;
  node: { address: string; hostname: string };
  haproxy: { maxconn: number };
  monitor: { bind: string; path: string };
  frontend: { bind: string };
  backendName: string;
  servers: { name: string; address: string }[];
}

/** `addr:port` as HAProxy reads it (brackets around IPv6). */
export function hostPort(addr: { family: Family; text: string }, port: number): string {
  return addr.family === 6 ? `[${addr.text}]:${port}` : `${addr.text}:${port}`;
}

/** The track script: HAProxy's monitor URI answers 200 (curl runs in the node's network namespace). */
export function haproxyCheckCommand(): string {
  return `/usr/bin/curl -sf -o /dev/null --max-time 1 http://${HAPROXY_MONITOR.host}:${PORTS.haproxyMonitor}${HAPROXY_MONITOR.path}`;
}

/** Per LB node, in cluster file order: the keepalived and HAProxy template contexts. */
export function nodeContexts(
  config: ClusterConfig,
  nodeFacts: Record<string, NodeFacts>,
): { node: NodeSpec; keepalived: KeepalivedContext; haproxy: HaproxyContext }[] {
  const lb = config.loadBalancer;
  const vip = mustParse('spec.loadBalancer.vips.controlPlaneVIP', lb.controlPlaneVIP);
  const nodes = lb.nodes;
  const k8sIPs = nodes.map((n) => mustParse(`k8sIP of LB node ${n.address}`, n.k8sIP));
  const advert = advertIntSeconds(lb.bmlb.vrrp.advertIntervalMs);
  const servers = config.controlPlane.nodes.map((n, i) => ({
    name: `apiserver-${i + 1}`,
    address: hostPort(mustParse(`k8sIP of control-plane node ${n.address}`, n.k8sIP), PORTS.apiserver),
  }));
  if (servers.length === 0) {
    throw new UserError('The cluster file lists no control-plane nodes; HAProxy would have no kube-apiserver to forward to.', {
      code: 'RenderNoControlPlaneNodes',
      suggestions: ['Add the control-plane nodes under spec.controlPlane.nodePoolSpec.nodes.'],
    });
  }
  if (lb.bmlb.vrrp.unicast && k8sIPs.some((a) => a.family !== vip.family)) {
    throw new UserError(
      `Unicast VRRP needs the LB nodes' k8sIP in the family of the controlPlaneVIP ${vip.text} (IPv${vip.family}).`,
      {
        code: 'VrrpUnicastFamilyMismatch',
        suggestions: ['Set k8sIP of every LB node to an address of the VIP\'s family, or set spec.loadBalancer.bmlb.vrrp.unicast: false.'],
      },
    );
  }
  return nodes.map((node, i) => {
    const own = k8sIPs[i]!;
    const facts = checkFacts(node, nodeFacts[node.address], own.family);
    // The VIP takes the prefix of the node's subnet when it is of the same family (it must share
    // that subnet; preflight checks it); otherwise it is added as a host address.
    const prefixLength = own.family === vip.family ? facts.prefixLength : vip.family === 4 ? 32 : 128;
    const keepalived: KeepalivedContext = {
      generatedNotice: GENERATED_NOTICE,
      clusterName: config.name,
      keepalivedVersion: lb.bmlb.versions.keepalived,
      node: {
        address: node.address,
        hostname: facts.hostname,
        routerId: facts.hostname,
        interface: facts.interface,
        priority: vrrpPriority(i, nodes.length),
      },
      vip: { address: vip.text, prefixLength },
      vrrp: {
        virtualRouterId: lb.bmlb.vrrp.virtualRouterId,
        advertIntSeconds: advert,
        garpMasterRepeat: lb.bmlb.vrrp.garpMasterRepeat,
        garpMasterRefreshSeconds: 60,
      },
      checkName: 'bmlb_haproxy_healthy',
      check: { script: haproxyCheckCommand(), intervalSeconds: 1, timeoutSeconds: 2, fall: 2, rise: 2 },
      instanceName: 'bmlb_control_plane_vip',
      unicast: lb.bmlb.vrrp.unicast
        ? { srcIp: own.text, peers: k8sIPs.filter((_, j) => j !== i).map((a) => a.text) }
        : false,
    };
    const haproxy: HaproxyContext = {
      generatedNotice: GENERATED_NOTICE,
      clusterName: config.name,
      haproxyVersion: lb.bmlb.versions.haproxy,
      node: { address: node.address, hostname: facts.hostname },
      haproxy: { maxconn: 4000 },
      monitor: { bind: `${HAPROXY_MONITOR.host}:${PORTS.haproxyMonitor}`, path: HAPROXY_MONITOR.path },
      frontend: { bind: hostPort(vip, lb.controlPlaneLBPort) },
      backendName: 'kube_apiservers',
      servers,
    };
    return { node, keepalived, haproxy };
  });
}

