/**
 * The structure of a cluster file's documents as zod schemas: the single source for structural
 * validation (types, enums, ranges, unknown fields), the JSON Schema in schema/ and the field
 * reference in docs/cluster-file.md. Cross-field rules (addresses, overlaps, VIPs) live in
 * validate.ts. Defaults are declared as metadata here and applied by normalise.ts.
 */
import { z } from 'zod';
import { CLUSTER_API_VERSION, DEFAULT_ADMISSION, DEFAULT_CONTROL_PLANE_LB_PORT, DEFAULT_LB_TYPE, DEFAULT_LOGIN_USER, DEFAULT_SPEAKER, DEFAULT_VERSIONS, DEFAULT_VRRP } from './defaults.js';

/** Metadata key marking a GDCV field bmlb accepts and ignores. */
export const IGNORED_KEY = 'x-bmlb-ignored';
/** Metadata key marking a bmlb extension (not part of GDCV's format). */
export const EXTENSION_KEY = 'x-bmlb-extension';

/** A GDCV field bmlb accepts (any content) and ignores; reported as a notice. */
function ignored(what: string) {
  return z.unknown().optional().meta({ [IGNORED_KEY]: true, description: `GDCV: ${what}. Accepted and ignored by bmlb.` });
}

const str = z.string();
const port = z.number().int().min(1).max(65535);
const asn = z.number().int().min(1).max(4294967295);

const NodeSchema = z.strictObject({
  address: str.meta({ description: 'Address bmlb uses to reach the node over SSH (IPv4 or IPv6).' }),
  k8sIP: str.optional().meta({ description: "The node's cluster address (its Kubernetes InternalIP) when it differs from `address`. Immutable." }),
}).meta({ title: 'Node' });

const NodePoolSpecSchema = z.strictObject({
  nodes: z.array(NodeSchema).min(1).meta({ description: 'The machines of this pool.' }),
  clusterName: ignored('the cluster the pool belongs to (older bmctl samples write it here)'),
  kubeletConfig: ignored('kubelet settings of the pool\'s nodes'),
  taints: ignored('taints put on the pool\'s nodes'),
  labels: ignored('labels put on the pool\'s nodes'),
});

const AddressPoolSchema = z.strictObject({
  name: str.meta({ description: 'Pool name (a DNS label), unique. Immutable.' }),
  addresses: z.array(str).min(1).meta({ description: 'CIDRs (`198.51.100.0/28`, `2001:db8::/120`) or ranges `first-last` (no spaces). No overlap within or across pools. Immutable.' }),
  avoidBuggyIPs: z.boolean().optional().meta({ description: 'Skip addresses ending in .0 and .255. Mutable.', default: false }),
  manualAssign: z.boolean().optional().meta({ description: 'Only assign addresses of this pool when a Service asks for one of them. Mutable.', default: false }),
}).meta({ title: 'AddressPool' });

const BgpPeerSchema = z.strictObject({
  ip: str.meta({ description: 'Address of the BGP peer (router).' }),
  asn: asn.meta({ description: 'Autonomous system number of the peer.' }),
  controlPlaneNodes: z.array(str).optional().meta({ description: 'Control-plane node addresses that peer with this router; absent = all LB nodes.' }),
}).meta({ title: 'BgpPeer' });

const VrrpSchema = z.strictObject({
  advertIntervalMs: z.number().int().min(10).max(25500).multipleOf(10).optional().meta({ description: 'VRRPv3 advertisement interval in milliseconds, a multiple of 10 (keepalived counts centiseconds). Mutable.', default: DEFAULT_VRRP.advertIntervalMs }),
  virtualRouterId: z.number().int().min(1).max(255).optional().meta({ description: 'VRRP virtual router id; unique on the L2 segment. Mutable.', default: DEFAULT_VRRP.virtualRouterId }),
  unicast: z.boolean().optional().meta({ description: 'Send VRRP adverts unicast to the other LB nodes instead of multicast. Mutable.', default: DEFAULT_VRRP.unicast }),
  garpMasterRepeat: z.number().int().min(1).max(255).optional().meta({ description: 'Gratuitous ARPs sent when a node becomes VRRP master. Mutable.', default: DEFAULT_VRRP.garpMasterRepeat }),
}).meta({ title: 'VrrpSettings' });

const SpeakerSchema = z.strictObject({
  heartbeatIntervalMs: z.number().int().min(10).max(10000).optional().meta({ description: 'Membership heartbeat interval between speakers, ms. Mutable.', default: DEFAULT_SPEAKER.heartbeatIntervalMs }),
  failureTimeoutMs: z.number().int().min(30).max(60000).optional().meta({ description: 'A speaker silent this long is dead and its IPs move, ms; at least 3 heartbeats. Mutable.', default: DEFAULT_SPEAKER.failureTimeoutMs }),
  garpRepeat: z.number().int().min(0).max(100).optional().meta({ description: 'Gratuitous ARP / unsolicited NA messages sent on takeover. Mutable.', default: DEFAULT_SPEAKER.garpRepeat }),
  memberPort: port.optional().meta({ description: 'Membership port, UDP and TCP, on every LB node. Mutable.', default: DEFAULT_SPEAKER.memberPort }),
  metricsPort: port.optional().meta({ description: 'Prometheus metrics port of the speaker. Mutable.', default: DEFAULT_SPEAKER.metricsPort }),
}).meta({ title: 'SpeakerSettings' });

const VersionsSchema = z.strictObject({
  keepalived: str.optional().meta({ description: 'keepalived version of the static pod. Changed by `bmlb upgrade cluster`.', default: DEFAULT_VERSIONS.keepalived }),
  haproxy: str.optional().meta({ description: 'HAProxy version of the static pod. Changed by `bmlb upgrade cluster`.', default: DEFAULT_VERSIONS.haproxy }),
  bmlb: str.optional().meta({ description: 'bmlb speaker/controller version. Changed by `bmlb upgrade cluster`.', default: DEFAULT_VERSIONS.bmlb }),
}).meta({ title: 'ComponentVersions' });

export const BmlbSettingsSchema = z.strictObject({
  vrrp: VrrpSchema.optional().meta({ description: 'keepalived (control-plane VIP) tunables.' }),
  speaker: SpeakerSchema.optional().meta({ description: 'Speaker (Service IPs) tunables.' }),
  versions: VersionsSchema.optional().meta({ description: 'Component versions.' }),
  admission: z.enum(['webhook', 'policy', 'both']).optional().meta({ description: 'How direct edits of the speaker ConfigMap are refused: a validating webhook, a ValidatingAdmissionPolicy, or both.', default: DEFAULT_ADMISSION }),
}).meta({ title: 'BmlbSettings', [EXTENSION_KEY]: true });

const LoadBalancerSchema = z.strictObject({
  mode: z.enum(['bundled', 'manual']).meta({ description: '`bundled`: bmlb runs keepalived, HAProxy and the speaker; `manual`: an external load balancer. Immutable.' }),
  type: z.enum(['layer2', 'bgp']).optional().meta({ description: 'How Service IPs are announced (bundled mode only). Immutable.', default: DEFAULT_LB_TYPE }),
  ports: z.strictObject({
    controlPlaneLBPort: port.optional().meta({ description: 'Port HAProxy listens on at the control-plane VIP. Immutable.', default: DEFAULT_CONTROL_PLANE_LB_PORT }),
  }).optional().meta({ description: 'Load balancer ports.' }),
  vips: z.strictObject({
    controlPlaneVIP: str.meta({ description: 'The Kubernetes API address: one address, not a node address, outside every address pool. Immutable.' }),
    ingressVIP: str.optional().meta({ description: 'Address of the bundled ingress; inside an address pool; not for admin clusters. Immutable.' }),
  }).meta({ description: 'Virtual IPs.' }),
  addressPools: z.array(AddressPoolSchema).optional().meta({ description: 'Addresses for LoadBalancer Services. Pools may be added later, never removed.' }),
  nodePoolSpec: NodePoolSpecSchema.optional().meta({ description: 'The LB nodes; absent = the control-plane nodes.' }),
  localASN: asn.optional().meta({ description: 'Local autonomous system number (type bgp).' }),
  bgpPeers: z.array(BgpPeerSchema).optional().meta({ description: 'BGP peers (type bgp).' }),
  bmlb: BmlbSettingsSchema.optional().meta({ description: 'bmlb extension: settings GDCV does not have. Every one has a default.' }),
}).meta({ title: 'LoadBalancer' });

const MetadataSchema = z.strictObject({
  name: str.meta({ description: 'Name (a DNS label).' }),
  namespace: str.meta({ description: 'Namespace (GDCV: `cluster-NAME`).' }),
  annotations: z.record(z.string(), z.string()).optional().meta({ description: 'Annotations (e.g. `baremetal.cluster.gke.io/prevent-deletion`).' }),
  labels: z.record(z.string(), z.string()).optional().meta({ description: 'Labels.' }),
});

export const ClusterSpecSchema = z.strictObject({
  type: z.enum(['admin', 'user', 'hybrid', 'standalone']).meta({ description: 'GDCV cluster type; admin clusters carry no ingressVIP.' }),
  controlPlane: z.strictObject({
    nodePoolSpec: NodePoolSpecSchema.meta({ description: 'The control-plane nodes.' }),
    apiServerCertExtraSANs: ignored('extra SANs of the API server certificate'),
  }).meta({ description: 'The control plane.' }),
  clusterNetwork: z.strictObject({
    pods: z.strictObject({ cidrBlocks: z.array(str).meta({ description: 'CIDRs; address pools and the controlPlaneVIP must not overlap them.' }) }).optional().meta({ description: 'Pod networks.' }),
    services: z.strictObject({ cidrBlocks: z.array(str).meta({ description: 'CIDRs; address pools and the controlPlaneVIP must not overlap them.' }) }).optional().meta({ description: 'Service (ClusterIP) networks.' }),
    multipleNetworkInterfaces: ignored('multiple network interfaces for pods'),
    advancedNetworking: ignored('advanced networking (network gateway, BGP)'),
    flatIPv4: ignored('flat-mode IPv4 pod networking'),
    bundledIngress: ignored('the bundled ingress switch'),
    forwardMode: ignored('the Service forwarding mode'),
    srIOV: ignored('SR-IOV networking'),
  }).optional().meta({ description: 'Cluster networking; bmlb checks pools and VIPs against the pod and Service CIDRs.' }),
  loadBalancer: LoadBalancerSchema.meta({ description: 'The load balancer bmlb installs (mode bundled) or leaves alone (mode manual).' }),
  nodeAccess: z.strictObject({
    loginUser: str.optional().meta({ description: 'SSH user on the nodes.', default: DEFAULT_LOGIN_USER }),
  }).optional().meta({ description: 'How bmlb logs in to the nodes.' }),
  profile: ignored('cluster profile (default, edge)'),
  anthosBareMetalVersion: ignored('the GDCV release of the cluster'),
  bypassPreflightCheck: ignored('skip GDCV preflight checks'),
  gkeConnect: ignored('fleet registration (projectID, location)'),
  gkeOnPremAPI: ignored('GKE On-Prem API enrolment'),
  clusterOperations: ignored('Cloud Logging and Monitoring'),
  storage: ignored('local volume provisioner settings'),
  nodeConfig: ignored('node settings (podDensity, containerRuntime, registries)'),
  proxy: ignored('HTTP proxy for the nodes'),
  kubevirt: ignored('VM Runtime settings'),
  vmRuntime: ignored('VM Runtime settings (older name)'),
  authentication: ignored('OIDC authentication'),
  osEnvironmentConfig: ignored('OS package repository settings'),
  clusterSecurity: ignored('seccomp, rootless containers, authorization'),
  maintenanceBlocks: ignored('nodes in maintenance mode'),
  binaryAuthorization: ignored('Binary Authorization'),
  upgradeStrategy: ignored('upgrade strategy'),
  nodePoolUpgradeStrategy: ignored('node pool upgrade strategy'),
});

export const ClusterDocumentSchema = z.strictObject({
  apiVersion: z.literal(CLUSTER_API_VERSION),
  kind: z.literal('Cluster'),
  metadata: MetadataSchema.meta({ description: 'Name and namespace of the cluster.' }),
  spec: ClusterSpecSchema.meta({ description: 'The cluster specification.' }),
}).meta({ title: 'Cluster', description: 'The GDCV Cluster document, as bmlb reads it.' });

export const NodePoolDocumentSchema = z.strictObject({
  apiVersion: z.literal(CLUSTER_API_VERSION),
  kind: z.literal('NodePool'),
  metadata: MetadataSchema,
  spec: z.strictObject({
    clusterName: str.meta({ description: 'metadata.name of the Cluster this pool belongs to.' }),
    nodes: z.array(NodeSchema).min(1).meta({ description: 'Worker nodes (never LB nodes).' }),
    kubeletConfig: ignored('kubelet settings'),
    taints: ignored('taints'),
    labels: ignored('labels'),
    upgradeStrategy: ignored('upgrade strategy'),
  }),
}).meta({ title: 'NodePool', description: 'A GDCV worker NodePool document.' });

export const NamespaceDocumentSchema = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Namespace'),
  metadata: z.strictObject({ name: str, labels: z.record(z.string(), z.string()).optional(), annotations: z.record(z.string(), z.string()).optional() }),
}).meta({ title: 'Namespace', description: 'The namespace of the Cluster document.' });

export const HeaderDocumentSchema = z.strictObject({
  sshPrivateKeyPath: str.meta({ description: 'SSH private key for the nodes; relative paths are resolved against the cluster file\'s directory.' }),
  sshKnownHostsPath: str.optional().meta({ description: 'bmlb extension: known_hosts file to verify node host keys against.', [EXTENSION_KEY]: true }),
  kubeconfigPath: str.optional().meta({ description: 'bmlb extension: kubeconfig of the existing cluster bmlb installs into.', [EXTENSION_KEY]: true }),
  gcrKeyPath: ignored('Artifact Registry service account key'),
  gkeConnectAgentServiceAccountKeyPath: ignored('Connect agent service account key'),
  gkeConnectRegisterServiceAccountKeyPath: ignored('fleet registration service account key'),
  cloudOperationsServiceAccountKeyPath: ignored('Cloud Operations service account key'),
}).meta({ title: 'Credentials header', description: 'The first document: bmctl/bmlb variables (no kind).' });

export type ClusterDocument = z.infer<typeof ClusterDocumentSchema>;
export type NodePoolDocument = z.infer<typeof NodePoolDocumentSchema>;
export type NamespaceDocument = z.infer<typeof NamespaceDocumentSchema>;
export type HeaderDocument = z.infer<typeof HeaderDocumentSchema>;

/** Every document a cluster file may hold (what the JSON Schema validates, document by document). */
export const ClusterFileDocumentSchema = z.union([HeaderDocumentSchema, NamespaceDocumentSchema, ClusterDocumentSchema, NodePoolDocumentSchema]);
