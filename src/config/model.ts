/**
 * The validated, normalised cluster configuration every other module consumes.
 * Produced only by `loadClusterConfig` (src/config/load.ts) from a cluster file in GDCV's format;
 * nothing outside src/config parses YAML. Defaults are filled in here, so consumers never guess.
 */

export type IpFamily = 'IPv4' | 'IPv6';

/** One node as the installer sees it. */
export interface NodeSpec {
  /** SSH address (GDCV `address`). */
  address: string;
  /** The node's cluster address (GDCV `k8sIP`); equals `address` when the file omits it.
   *  The Kubernetes Node is found by this InternalIP (node names are the machines' hostnames). */
  k8sIP: string;
}

export interface AddressPool {
  name: string;
  /** As written in the file: CIDRs (`198.51.100.0/28`) or ranges (`a-b`). */
  addresses: string[];
  avoidBuggyIPs: boolean;
  manualAssign: boolean;
}

export interface BgpPeer {
  ip: string;
  asn: number;
  /** Control-plane node addresses that peer (GDCV field); empty = all LB nodes. */
  controlPlaneNodes: string[];
}

/** bmlb-only settings (`spec.loadBalancer.bmlb` in the file); every field has a safe default. */
export interface VrrpSettings {
  /** VRRPv3 advertisement interval in milliseconds (keepalived `advert_int`, centisecond steps). Default 200. */
  advertIntervalMs: number;
  /** VRRP virtual router id, 1–255. Default 51. */
  virtualRouterId: number;
  /** Send adverts unicast to the other LB nodes instead of multicast 224.0.0.18. Default false. */
  unicast: boolean;
  /** Gratuitous ARPs sent on becoming master (keepalived `garp_master_repeat`). Default 5. */
  garpMasterRepeat: number;
}

export interface SpeakerSettings {
  /** Membership heartbeat interval, ms. Default 50. */
  heartbeatIntervalMs: number;
  /** A peer silent for this long is dead, ms. Default 250. */
  failureTimeoutMs: number;
  /** Gratuitous ARP / unsolicited NA count on takeover. Default 3. */
  garpRepeat: number;
  /** Membership port (UDP and TCP). Default 7946. */
  memberPort: number;
  /** Prometheus metrics port. Default 7472. */
  metricsPort: number;
}

export interface ComponentVersions {
  keepalived: string;
  haproxy: string;
  bmlb: string;
}

export interface BmlbSettings {
  vrrp: VrrpSettings;
  speaker: SpeakerSettings;
  versions: ComponentVersions;
  /** How direct ConfigMap edits are refused: webhook (default), ValidatingAdmissionPolicy, or both. */
  admission: 'webhook' | 'policy' | 'both';
}

export interface LoadBalancerSpec {
  mode: 'bundled' | 'manual';
  type: 'layer2' | 'bgp';
  controlPlaneLBPort: number;
  controlPlaneVIP: string;
  ingressVIP?: string;
  addressPools: AddressPool[];
  /** LB node pool; when the file has none, the control-plane nodes (GDCV behaviour). */
  nodes: NodeSpec[];
  /** True when `nodes` came from the control plane because `loadBalancer.nodePoolSpec` was absent. */
  nodesFromControlPlane: boolean;
  localASN?: number;
  bgpPeers: BgpPeer[];
  bmlb: BmlbSettings;
}

export interface ClusterConfig {
  /** metadata.name of the Cluster document. */
  name: string;
  /** metadata.namespace of the Cluster document (GDCV: cluster-NAME). */
  namespace: string;
  /** GDCV spec.type: admin, user, hybrid, standalone. */
  clusterType: 'admin' | 'user' | 'hybrid' | 'standalone';
  /** Absolute path of the cluster file this came from. */
  sourcePath: string;
  credentials: {
    /** Absolute path (resolved against the cluster file's directory). Never read by anything but the SSH layer. */
    sshPrivateKeyPath: string;
    /** bmlb extension: known_hosts file to verify node host keys against (before ~/.ssh/known_hosts). */
    sshKnownHostsPath?: string;
    /** bmlb extension: kubeconfig of the existing cluster bmlb installs into. */
    kubeconfigPath?: string;
  };
  loginUser: string;
  controlPlane: { nodes: NodeSpec[] };
  /** Worker NodePool documents (their nodes are never LB nodes). */
  nodePools: { name: string; nodes: NodeSpec[] }[];
  loadBalancer: LoadBalancerSpec;
  /** `metadata.annotations` of the Cluster (e.g. baremetal.cluster.gke.io/prevent-deletion). */
  annotations: Record<string, string>;
}

/**
 * The in-cluster configuration the speakers and the controller run on: the `config.yaml` key of
 * ConfigMap `bmlb-system/bmlb-config`, derived from the cluster file only (see toSpeakerConfig in
 * src/config/speaker-config.ts). Never edited by hand; the controller restores it on drift.
 */
export interface SpeakerConfig {
  /** Schema version of this document. */
  apiVersion: 'bmlb.io/v1';
  clusterName: string;
  type: 'layer2' | 'bgp';
  controlPlaneVIP: string;
  ingressVIP?: string;
  addressPools: AddressPool[];
  /** LB nodes by cluster address; the speaker on a node whose InternalIP is here is a candidate. */
  lbNodes: { address: string; k8sIP: string }[];
  speaker: SpeakerSettings;
  localASN?: number;
  bgpPeers: BgpPeer[];
}

/** Well-known names shared by the installer, the daemons and the lab. */
export const NAMES = {
  namespace: 'bmlb-system',
  configMap: 'bmlb-config',
  configKey: 'config.yaml',
  memberSecret: 'bmlb-memberlist',
  memberSecretKey: 'secretkey',
  lbNodeLabel: 'baremetal.cluster.gke.io/lbnode',
  announcingNodeAnnotation: 'bmlb.io/announcing-node',
  allocatedPoolAnnotation: 'bmlb.io/address-pool',
  webhookService: 'bmlb-webhook',
  speakerServiceAccount: 'bmlb-speaker',
  controllerServiceAccount: 'bmlb-controller',
  installerFieldManager: 'bmlb',
} as const;
