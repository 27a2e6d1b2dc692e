/**
 * The lab's layout: names, namespaces, addresses and paths, computed from the `lab up` options.
 * Pure: no processes, no files. Every other lab module (and `lab status`) reads names from here,
 * so the layout contract in docs/lab.md lives in one place.
 */
import { join } from 'node:path';
import { UserError } from '../errors.js';

export const LAB_BASE_DIR = '/var/lib/bmlb-lab';
export const LAB_SUBNET_PREFIX = '198.51.100.';
export const LAB_V6_PREFIX = '2001:db8:100::';
export const LAB_VIP = '198.51.100.10';
export const LAB_INGRESS_VIP = '198.51.100.200';
export const LAB_API_PORT = 6444;
export const LAB_SERVICE_CIDR = '203.0.113.0/24';
/** The IPv6 Service CIDR of an `--ipv6` lab (dual-stack ClusterIPs). */
export const LAB_SERVICE_CIDR_V6 = '2001:db8:203::/112';
export const LAB_NODE_PORT_RANGE = '30000-32767';
/** The directories a node has of its own; bind-mounted in its private mount namespace. */
export const NODE_PRIVATE_DIRS = [
  { mountPoint: '/etc/kubernetes', dirName: 'etc-kubernetes' },
  { mountPoint: '/etc/bmlb', dirName: 'etc-bmlb' },
  { mountPoint: '/var/lib/bmlb', dirName: 'var-lib-bmlb' },
  { mountPoint: '/run', dirName: 'run' },
  // create cluster persists sysctls in /etc/sysctl.d/60-bmlb.conf: a node's own, never the host's.
  { mountPoint: '/etc/sysctl.d', dirName: 'etc-sysctl.d' },
] as const;

const MAX_CONTROL_PLANE = 9; // .11 … .19
const MAX_LB_NODES = 20; // .21 … .40 (below the pools at .200)

export interface LabOptions {
  name: string;
  /** Total number of nodes (control plane + LB). Default 4. */
  nodes: number;
  /** LB nodes among them. Default 3; 0 means the control plane runs the load balancer. */
  lbNodes: number;
  ipv6: boolean;
  /** Parent of the lab's state directory. Default /var/lib/bmlb-lab. */
  baseDir?: string;
}

export const DEFAULT_LAB_OPTIONS: LabOptions = { name: 'lab', nodes: 4, lbNodes: 3, ipv6: false };

export type NodeRole = 'control-plane' | 'lb';
export type ExtraRole = 'admin' | 'client' | 'router';

export interface LabNodeLayout {
  name: string;
  role: NodeRole;
  address: string;
  addressV6?: string;
  namespace: string;
  /** The bridge port in the segment namespace (the node's own end is always eth0). */
  segmentPort: string;
  /** Host directory of this node: its private dirs, sshd files, node-agent.json. */
  dir: string;
}

export interface LabExtraLayout {
  role: ExtraRole;
  namespace: string;
  address: string;
  addressV6?: string;
  segmentPort: string;
}

export interface LabPaths {
  stateDir: string;
  stateFile: string;
  sshDir: string;
  sshKey: string;
  sshPublicKey: string;
  authorizedKeys: string;
  knownHosts: string;
  pkiDir: string;
  caCert: string;
  caKey: string;
  apiServerCert: string;
  apiServerKey: string;
  apiServerConfig: string;
  kubeconfig: string;
  adminUserKubeconfig: string;
  clusterFile: string;
  logDir: string;
  nodesDir: string;
}

export interface LabLayout {
  name: string;
  ipv6: boolean;
  /** Namespace names start with this (`bmlb-NAME-`). */
  prefix: string;
  paths: LabPaths;
  segment: { namespace: string; bridge: string };
  extras: LabExtraLayout[];
  nodes: LabNodeLayout[];
  controlPlaneVIP: string;
  apiServer: { host: string; port: number; url: string };
}

/** Lab names become namespace names and a directory name: keep them short and plain. */
export function checkLabName(name: string): void {
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(name) || name.endsWith('-')) {
    throw new UserError(`lab name "${name}" is not usable: use 1-20 lowercase letters, digits or dashes, starting with a letter`, {
      code: 'LabNameInvalid',
      exitCode: 2,
      suggestions: ['Pick a name such as `lab` or `lab2` (`--name lab2`).'],
    });
  }
}

export function labPaths(name: string, baseDir = LAB_BASE_DIR): LabPaths {
  const stateDir = join(baseDir, name);
  const sshDir = join(stateDir, 'ssh');
  const pkiDir = join(stateDir, 'pki');
  return {
    stateDir,
    stateFile: join(stateDir, 'state.json'),
    sshDir,
    sshKey: join(sshDir, 'id_ed25519'),
    sshPublicKey: join(sshDir, 'id_ed25519.pub'),
    authorizedKeys: join(sshDir, 'authorized_keys'),
    knownHosts: join(sshDir, 'known_hosts'),
    pkiDir,
    caCert: join(pkiDir, 'ca.crt'),
    caKey: join(pkiDir, 'ca.key'),
    apiServerCert: join(pkiDir, 'apiserver.crt'),
    apiServerKey: join(pkiDir, 'apiserver.key'),
    apiServerConfig: join(stateDir, 'apiserver.json'),
    kubeconfig: join(stateDir, 'kubeconfig'),
    adminUserKubeconfig: join(stateDir, 'admin-user.kubeconfig'),
    clusterFile: join(stateDir, 'cluster.yaml'),
    logDir: join(stateDir, 'log'),
    nodesDir: join(stateDir, 'nodes'),
  };
}

export function namespacePrefix(name: string): string {
  return `bmlb-${name}-`;
}

/** True when `ns` is one of the namespaces a lab called `name` creates (never another lab's). */
export function isLabNamespace(ns: string, name: string): boolean {
  const prefix = namespacePrefix(name);
  if (!ns.startsWith(prefix)) return false;
  return /^(seg|admin|client|router|cp[0-9]+|lb[0-9]+)$/.test(ns.slice(prefix.length));
}

/** 198.51.100.N → 2001:db8:100::N (the same digits, as docs/lab.md promises). */
export function v6For(address: string): string {
  const last = address.slice(address.lastIndexOf('.') + 1);
  return `${LAB_V6_PREFIX}${last}`;
}

export function planLabLayout(opts: LabOptions): LabLayout {
  checkLabName(opts.name);
  const problems: string[] = [];
  if (!Number.isInteger(opts.lbNodes) || opts.lbNodes < 0 || opts.lbNodes > MAX_LB_NODES) {
    problems.push(`--lb-nodes ${opts.lbNodes} is out of range: use 0-${MAX_LB_NODES}`);
  }
  const controlPlane = opts.nodes - opts.lbNodes;
  if (!Number.isInteger(opts.nodes) || controlPlane < 1 || controlPlane > MAX_CONTROL_PLANE) {
    problems.push(`--nodes ${opts.nodes} with --lb-nodes ${opts.lbNodes} leaves ${controlPlane} control-plane nodes: need 1-${MAX_CONTROL_PLANE}`);
  }
  if (problems.length) {
    throw new UserError(problems.join('; '), {
      code: 'LabSizeInvalid',
      exitCode: 2,
      suggestions: [`--nodes counts every node; it must exceed --lb-nodes by 1 to ${MAX_CONTROL_PLANE} (default: --nodes 4 --lb-nodes 3).`],
    });
  }
  const paths = labPaths(opts.name, opts.baseDir);
  const prefix = namespacePrefix(opts.name);
  const withV6 = (address: string): { address: string; addressV6?: string } =>
    opts.ipv6 ? { address, addressV6: v6For(address) } : { address };

  const nodes: LabNodeLayout[] = [];
  const addNode = (name: string, role: NodeRole, address: string): void => {
    nodes.push({ name, role, ...withV6(address), namespace: prefix + name, segmentPort: `p-${name}`, dir: join(paths.nodesDir, name) });
  };
  for (let i = 1; i <= controlPlane; i++) addNode(`cp${i}`, 'control-plane', `${LAB_SUBNET_PREFIX}${10 + i}`);
  for (let i = 1; i <= opts.lbNodes; i++) addNode(`lb${i}`, 'lb', `${LAB_SUBNET_PREFIX}${20 + i}`);

  const extras: LabExtraLayout[] = (
    [['admin', 2], ['client', 3], ['router', 4]] as const
  ).map(([role, n]) => ({ role, namespace: prefix + role, ...withV6(`${LAB_SUBNET_PREFIX}${n}`), segmentPort: `p-${role}` }));

  const cp1 = nodes[0]!;
  return {
    name: opts.name,
    ipv6: opts.ipv6,
    prefix,
    paths,
    segment: { namespace: `${prefix}seg`, bridge: 'br0' },
    extras,
    nodes,
    controlPlaneVIP: LAB_VIP,
    apiServer: { host: cp1.address, port: LAB_API_PORT, url: `https://${cp1.address}:${LAB_API_PORT}` },
  };
}

/** Every namespace of the lab, segment first. */
export function allNamespaces(layout: LabLayout): string[] {
  return [layout.segment.namespace, ...layout.extras.map((e) => e.namespace), ...layout.nodes.map((n) => n.namespace)];
}

export function extraNamespace(layout: LabLayout, role: ExtraRole): string {
  return layout.extras.find((e) => e.role === role)!.namespace;
}
