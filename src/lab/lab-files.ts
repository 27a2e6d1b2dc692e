/**
 * The files a lab writes, rendered from its layout: cluster file, kubeconfigs, sshd config,
 * known_hosts, certificate extensions, and the configs of the lab API server and node agents.
 * Pure: text in, text out.
 */
import type { LabLayout, LabNodeLayout } from './lab-layout.js';
import { LAB_INGRESS_VIP, LAB_NODE_PORT_RANGE, LAB_SERVICE_CIDR, LAB_SERVICE_CIDR_V6, LAB_V6_PREFIX } from './lab-layout.js';

export interface LabUser {
  token: string;
  user: string;
  groups: string[];
}

export const INSTALLER_USER = 'bmlb-installer';
export const ADMIN_USER = 'admin-user';

/** The cluster file for this lab; for the default lab the same values as cluster-samples/lab.yaml. */
export function renderClusterFile(layout: LabLayout): string {
  const cps = layout.nodes.filter((n) => n.role === 'control-plane');
  const lbs = layout.nodes.filter((n) => n.role === 'lb');
  const lines = [
    `# bmlb cluster file for the lab "${layout.name}" (written by \`bmlb lab up\`). GDCV (bmctl) format.`,
    `sshPrivateKeyPath: ${layout.paths.sshKey}`,
    '# bmlb extensions to the credentials header (optional):',
    `sshKnownHostsPath: ${layout.paths.knownHosts}`,
    `kubeconfigPath: ${layout.paths.kubeconfig}`,
    '---',
    'apiVersion: v1',
    'kind: Namespace',
    'metadata:',
    `  name: cluster-${layout.name}`,
    '---',
    'apiVersion: baremetal.cluster.gke.io/v1',
    'kind: Cluster',
    'metadata:',
    `  name: ${layout.name}`,
    `  namespace: cluster-${layout.name}`,
    'spec:',
    '  type: hybrid',
    '  profile: default',
    '  anthosBareMetalVersion: 1.30.0',
    '  controlPlane:',
    '    nodePoolSpec:',
    '      nodes:',
    ...cps.map((n) => `      - address: ${n.address}`),
    '  clusterNetwork:',
    '    pods:',
    '      cidrBlocks:',
    '      - 192.168.0.0/16',
    '    services:',
    '      cidrBlocks:',
    `      - ${LAB_SERVICE_CIDR}`,
    '  loadBalancer:',
    '    mode: bundled',
    '    type: layer2',
    '    ports:',
    '      controlPlaneLBPort: 443',
    '    vips:',
    `      controlPlaneVIP: ${layout.controlPlaneVIP}`,
    `      ingressVIP: ${LAB_INGRESS_VIP}`,
    '    addressPools:',
    '    - name: pool-1',
    '      addresses:',
    '      - 198.51.100.200-198.51.100.239',
    '    - name: pool-2',
    '      addresses:',
    '      - 198.51.100.240/29',
    '      manualAssign: true',
    ...(layout.ipv6 ? ['    - name: pool-v6', '      addresses:', `      - ${LAB_V6_PREFIX}200-${LAB_V6_PREFIX}2ff`] : []),
    ...(lbs.length
      ? ['    nodePoolSpec:', '      nodes:', ...lbs.map((n) => `      - address: ${n.address}`)]
      : ['    # no nodePoolSpec: the control-plane nodes run the load balancer']),
    '  nodeAccess:',
    '    loginUser: root',
  ];
  return lines.join('\n') + '\n';
}

/** A kubeconfig with a bearer token and the CA embedded. */
export function renderKubeconfig(opts: { clusterName: string; server: string; caPem: string; user: string; token: string }): string {
  const ca = Buffer.from(opts.caPem).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${opts.clusterName}`,
    '  cluster:',
    `    server: ${opts.server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    `- name: ${opts.user}`,
    '  user:',
    `    token: ${opts.token}`,
    'contexts:',
    `- name: ${opts.user}@${opts.clusterName}`,
    '  context:',
    `    cluster: ${opts.clusterName}`,
    `    user: ${opts.user}`,
    `current-context: ${opts.user}@${opts.clusterName}`,
    '',
  ].join('\n');
}

export function sshdFiles(layout: LabLayout, node: LabNodeLayout): { config: string; hostKey: string; log: string } {
  return {
    config: `${node.dir}/sshd/sshd_config`,
    hostKey: `${node.dir}/sshd/ssh_host_ed25519_key`,
    log: `${layout.paths.logDir}/sshd-${node.name}.log`,
  };
}

/** OpenSSH server config for one node: key auth only, root with the lab key only. */
export function renderSshdConfig(layout: LabLayout, node: LabNodeLayout): string {
  const f = sshdFiles(layout, node);
  return [
    `# sshd of lab node ${node.name} (lab ${layout.name}); started by \`bmlb lab up\` inside the node's namespaces`,
    'Port 22',
    `HostKey ${f.hostKey}`,
    'PidFile none',
    `AuthorizedKeysFile ${layout.paths.authorizedKeys}`,
    'AllowUsers root',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'AuthenticationMethods publickey',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    'UsePAM no',
    'UseDNS no',
    'StrictModes yes',
    'PrintMotd no',
    'X11Forwarding no',
    'MaxStartups 64:30:128',
    'MaxSessions 64',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

/** known_hosts: every node's host key under each of its addresses. */
export function renderKnownHosts(entries: { node: LabNodeLayout; publicKey: string }[]): string {
  return entries
    .map(({ node, publicKey }) => {
      const [type, key] = publicKey.trim().split(/\s+/);
      const hosts = [node.address, ...(node.addressV6 ? [node.addressV6] : [])].join(',');
      return `${hosts} ${type} ${key}\n`;
    })
    .join('');
}

/** Subject alternative names of the lab API server's serving certificate. */
export function apiServerSans(layout: LabLayout): { dns: string[]; ip: string[] } {
  const cps = layout.nodes.filter((n) => n.role === 'control-plane');
  const ip = [
    ...cps.map((n) => n.address),
    ...cps.flatMap((n) => (n.addressV6 ? [n.addressV6] : [])),
    layout.controlPlaneVIP,
    '127.0.0.1',
    '203.0.113.1',
  ];
  const dns = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost'];
  return { dns, ip };
}

/** An openssl `-extfile` for the API server's serving certificate. */
export function renderServerCertExtensions(sans: { dns: string[]; ip: string[] }): string {
  const alt = [...sans.dns.map((d) => `DNS:${d}`), ...sans.ip.map((i) => `IP:${i}`)].join(',');
  return [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=${alt}`,
    '',
  ].join('\n');
}

export interface ApiServerConfigFile {
  listen: { host: string; port: number };
  tls: { certFile: string; keyFile: string; caFile: string };
  users: LabUser[];
  serviceCIDR: string;
  nodePortRange: string;
  logFile: string;
}

export function apiServerConfig(layout: LabLayout, users: LabUser[]): ApiServerConfigFile {
  return {
    listen: { host: layout.apiServer.host, port: layout.apiServer.port },
    tls: { certFile: layout.paths.apiServerCert, keyFile: layout.paths.apiServerKey, caFile: layout.paths.caCert },
    users,
    serviceCIDR: layout.ipv6 ? `${LAB_SERVICE_CIDR},${LAB_SERVICE_CIDR_V6}` : LAB_SERVICE_CIDR,
    nodePortRange: LAB_NODE_PORT_RANGE,
    logFile: `${layout.paths.logDir}/apiserver.log`,
  };
}

export interface NodeAgentConfigFile {
  nodeName: string;
  nodeIP: string;
  nodeIPv6?: string;
  role: 'control-plane' | 'lb';
  labels: Record<string, string>;
  apiServer: string;
  caFile: string;
  token: string;
  manifestDir: string;
  stateDir: string;
  bmlbBin: string;
  runControllers: boolean;
  logFile: string;
}

export function nodeAgentConfig(layout: LabLayout, node: LabNodeLayout, token: string, bmlbBin: string): NodeAgentConfigFile {
  const labels: Record<string, string> = { 'bmlb.io/lab': layout.name };
  if (node.role === 'control-plane') labels['node-role.kubernetes.io/control-plane'] = '';
  return {
    nodeName: node.name,
    nodeIP: node.address,
    ...(node.addressV6 ? { nodeIPv6: node.addressV6 } : {}),
    role: node.role,
    labels,
    apiServer: layout.apiServer.url,
    caFile: layout.paths.caCert,
    token,
    manifestDir: '/etc/kubernetes/manifests',
    stateDir: '/run/bmlb-node-agent',
    bmlbBin,
    runControllers: node === layout.nodes[0],
    logFile: `${layout.paths.logDir}/node-agent-${node.name}.log`,
  };
}

export function nodeAgentConfigPath(node: LabNodeLayout): string {
  return `${node.dir}/node-agent.json`;
}
