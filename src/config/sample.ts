/**
 * The commented cluster file `bmlb create config` writes. Addresses are placeholders (`<...>`)
 * that `check config` refuses by name until they are filled in; everything else is a working
 * default. Pure: returns text.
 */
import { DEFAULT_SPEAKER, DEFAULT_VRRP } from './defaults.js';

export interface SampleOptions {
  name: string;
  /** Where editors find the JSON Schema (absolute path or URL) for the yaml-language-server modeline. */
  schemaRef?: string;
}

export function sampleClusterFile(o: SampleOptions): string {
  const modeline = o.schemaRef ? `# yaml-language-server: $schema=${o.schemaRef}\n` : '';
  return `${modeline}# bmlb cluster file for "${o.name}" (GDCV / bmctl format; an existing GDCV cluster file works as is).
# Replace every <...> placeholder, then run: bmlb check config -c ${o.name}
# Reference of every field: docs/cluster-file.md in the bmlb package.
sshPrivateKeyPath: <path to the SSH private key that logs in to the nodes>
# bmlb extensions (optional):
# sshKnownHostsPath: /path/to/known_hosts    # verify node host keys against this file
# kubeconfigPath: /path/to/kubeconfig        # the cluster bmlb installs into
---
apiVersion: v1
kind: Namespace
metadata:
  name: cluster-${o.name}
---
apiVersion: baremetal.cluster.gke.io/v1
kind: Cluster
metadata:
  name: ${o.name}
  namespace: cluster-${o.name}
spec:
  # admin, user, hybrid or standalone (admin clusters take no ingressVIP).
  type: hybrid
  controlPlane:
    nodePoolSpec:
      nodes:
      # One entry per control-plane machine (1, 3 or 5). k8sIP is optional: the node's cluster
      # address when it differs from the SSH address.
      - address: <control-plane node 1 address>
  clusterNetwork:
    pods:
      cidrBlocks:
      - 192.168.0.0/16
    services:
      cidrBlocks:
      - 10.96.0.0/20
  loadBalancer:
    mode: bundled
    # layer2 (ARP/NDP) or bgp (then localASN and bgpPeers are required).
    type: layer2
    ports:
      controlPlaneLBPort: 443
    vips:
      # One free address on the nodes' subnet, outside every address pool. Immutable.
      controlPlaneVIP: <control-plane VIP>
      # An address inside one of the address pools below. Immutable.
      ingressVIP: <ingress VIP>
    addressPools:
    - name: pool-1
      addresses:
      # A range first-last (no spaces) or a CIDR such as 198.51.100.192/27, on the nodes' subnet.
      - <first address>-<last address>
    # LB nodes. Without nodePoolSpec the load balancer runs on the control-plane nodes.
    # nodePoolSpec:
    #   nodes:
    #   - address: <LB node 1 address>
    #   - address: <LB node 2 address>
    # bmlb extensions; every value shown is the default.
    # bmlb:
    #   vrrp:
    #     advertIntervalMs: ${DEFAULT_VRRP.advertIntervalMs}
    #     virtualRouterId: ${DEFAULT_VRRP.virtualRouterId}
    #   speaker:
    #     heartbeatIntervalMs: ${DEFAULT_SPEAKER.heartbeatIntervalMs}
    #     failureTimeoutMs: ${DEFAULT_SPEAKER.failureTimeoutMs}
  nodeAccess:
    loginUser: root
`;
}
