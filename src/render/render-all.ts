/**
 * renderAll: everything the installer puts on LB nodes and in the cluster, rendered purely from
 * the cluster model and a few facts read at preflight. No IO besides reading the package's own
 * templates when none are passed in.
 */
import { createHash } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import type { ClusterConfig } from '../config/model.js';
import { NAMES } from '../config/model.js';
import { formatSpeakerConfig, toSpeakerConfig } from '../config/speaker-config.js';
import { UserError } from '../errors.js';
import type { KubeObject } from './kube-object.js';
import {
  CONTROLLER_LEASE,
  GENERATED_NOTICE,
  HAPROXY_MONITOR,
  IMAGE_REPOSITORIES,
  NODE_FILE_MODES,
  NODE_PATHS,
  PORTS,
  WEBHOOK_PATH,
  WEBHOOK_TLS,
} from './layout.js';
import { type NodeFacts, nodeContexts } from './node-context.js';
import { type TemplateName, type Templates, loadTemplates } from './templates.js';

export type { KubeObject } from './kube-object.js';
export type { NodeFacts } from './node-context.js';

export interface RenderInput {
  config: ClusterConfig;
  /** Per LB node (keyed by its `address`): the interface that holds its k8sIP, its prefix and hostname. */
  nodeFacts: Record<string, NodeFacts>;
  /** PEM CA bundle of the cluster API, if known. Nothing rendered today needs it (pods use their ServiceAccount's CA). */
  apiServerCA?: string;
  /** PEM CA of the controller's webhook serving certificate; the webhook objects are rendered only when given. */
  webhookCA?: string;
  /** Image of the speaker and controller, e.g. `bmlb:0.1.0`. */
  bmlbImage: string;
  /**
   * The Kubernetes username the installer authenticates as (e.g. `bmlb-installer`). With
   * `bmlb.admission` policy or both, the ValidatingAdmissionPolicy lets only this user and the
   * controller's ServiceAccount write bmlb-owned ConfigMaps/Secrets; without it no policy is rendered.
   */
  installerUsername?: string;
}

/** A file for an LB node: absolute path on the node, mode, content. */
export interface NodeFile {
  path: string;
  mode: number;
  content: string;
}

export interface RenderedNode {
  /** The node's `address` from the cluster file (what the installer connects to). */
  address: string;
  /** keepalived.conf, haproxy.cfg, then the two static pod manifests (write the manifests last). */
  files: NodeFile[];
}

export interface Rendered {
  nodes: RenderedNode[];
  /** In-cluster objects in apply order. */
  manifests: KubeObject[];
  /** The `config.yaml` text of ConfigMap bmlb-config (also inside `manifests`). */
  configMapData: string;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** keepalived's command line in its static pod (keepalived 2.2 flags). */
export function keepalivedCommand(): string[] {
  return [
    'keepalived',
    '--dont-fork',
    '--log-console',
    '--log-detail',
    '--no-syslog',
    '--vrrp',
    '-f', NODE_PATHS.keepalivedConf,
    '-p', NODE_PATHS.keepalivedPid,
    '-r', NODE_PATHS.keepalivedVrrpPid,
  ];
}

/** HAProxy's command line in its static pod: foreground (-db), one config file. */
export function haproxyCommand(): string[] {
  return ['haproxy', '-db', '-f', NODE_PATHS.haproxyCfg];
}

/** The speaker configuration as stored in ConfigMap bmlb-config (`config.yaml`). */
export function speakerConfigYaml(config: ClusterConfig): string {
  return formatSpeakerConfig(toSpeakerConfig(config));
}

function parseManifests(name: TemplateName, text: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`template ${name} rendered invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const o = value as KubeObject;
    if (typeof o !== 'object' || typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') {
      throw new Error(`template ${name} rendered a document that is not a Kubernetes object`);
    }
    out.push(o);
  }
  return out;
}

function base64Pem(what: string, pem: string): string {
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(pem)) {
    throw new UserError(`The ${what} is not a PEM certificate bundle.`, {
      code: 'RenderCaInvalid',
      suggestions: [`Pass the ${what} as PEM text (-----BEGIN CERTIFICATE----- …).`],
    });
  }
  return Buffer.from(pem, 'utf8').toString('base64');
}

function checkUsername(user: string): string {
  if (user.length === 0 || user.length > 253 || /[\s"\\]/.test(user)) {
    throw new UserError(`"${user}" is not a Kubernetes username bmlb can put in its admission policy.`, {
      code: 'RenderInstallerUserInvalid',
      suggestions: ['Pass the username the installer authenticates as (for the lab: bmlb-installer).'],
    });
  }
  return user;
}

/** The CEL rule and message of the ValidatingAdmissionPolicy guarding bmlb's generated objects. */
export function admissionPolicy(clusterName: string, installerUsername: string): { expression: string; message: string } {
  const controller = `system:serviceaccount:${NAMES.namespace}:${NAMES.controllerServiceAccount}`;
  return {
    expression: `request.userInfo.username in ${JSON.stringify([installerUsername, controller])}`,
    message: `bmlb generates the ConfigMaps and Secrets of ${NAMES.namespace} from the cluster file of cluster ${clusterName}; ` +
      `edit the cluster file and run \`bmlb update cluster -c ${clusterName}\` instead.`,
  };
}

function checkImage(image: string): string {
  if (!/^[a-z0-9]([a-z0-9._\/:@-]*[a-zA-Z0-9_])?$/.test(image) || image.length > 255) {
    throw new UserError(`"${image}" is not a container image reference.`, {
      code: 'RenderImageInvalid',
      suggestions: ['Use an image reference such as `bmlb:0.1.0` or `registry.example/bmlb:0.1.0`.'],
    });
  }
  return image;
}

/** The in-cluster objects, in apply order, and the ConfigMap's config text. */
export function renderManifests(input: RenderInput, templates: Templates): { manifests: KubeObject[]; configMapData: string } {
  const { config } = input;
  const speakerSettings = config.loadBalancer.bmlb.speaker;
  const configYaml = speakerConfigYaml(config);
  // Speaker and controller read their configuration live: no config hash on their pod templates.
  const admission = config.loadBalancer.bmlb.admission;
  const webhook = input.webhookCA !== undefined && admission !== 'policy'
    ? { service: NAMES.webhookService, path: WEBHOOK_PATH, caBundle: base64Pem('webhook CA', input.webhookCA) }
    : undefined;
  const policy = input.installerUsername !== undefined && admission !== 'webhook'
    ? admissionPolicy(config.name, checkUsername(input.installerUsername))
    : undefined;
  const ctx = {
    generatedNotice: GENERATED_NOTICE,
    clusterName: config.name,
    namespace: NAMES.namespace,
    configMap: NAMES.configMap,
    configKey: NAMES.configKey,
    memberSecret: NAMES.memberSecret,
    lbNodeLabel: NAMES.lbNodeLabel,
    image: checkImage(input.bmlbImage),
    version: config.loadBalancer.bmlb.versions.bmlb,
    configYaml,
    configSha256: sha256Hex(configYaml),
    speaker: {
      serviceAccount: NAMES.speakerServiceAccount,
      metricsPort: speakerSettings.metricsPort,
      memberPort: speakerSettings.memberPort,
      args: [
        '--node-name=$(NODE_NAME)',
        `--namespace=${NAMES.namespace}`,
        `--config-map=${NAMES.configMap}`,
        `--member-secret=${NAMES.memberSecret}`,
        `--metrics-port=${speakerSettings.metricsPort}`,
      ],
    },
    controller: {
      serviceAccount: NAMES.controllerServiceAccount,
      leaseName: CONTROLLER_LEASE,
      metricsPort: PORTS.controllerMetrics,
      webhookPort: PORTS.controllerWebhook,
      args: [
        `--namespace=${NAMES.namespace}`,
        `--config-map=${NAMES.configMap}`,
        `--metrics-port=${PORTS.controllerMetrics}`,
        ...(webhook ? [`--webhook-cert-dir=${WEBHOOK_TLS.certDir}`] : []),
      ],
      tls: WEBHOOK_TLS,
    },
    webhook: webhook ?? false,
    policy: policy ?? false,
  };
  const order: TemplateName[] = [
    'namespace.yaml',
    'service-accounts.yaml',
    'rbac-speaker.yaml',
    'rbac-controller.yaml',
    'config-map.yaml',
    'controller.yaml',
    'speaker.yaml',
  ];
  // The admission guards go last: with failurePolicy Fail the webhook must not be in place before
  // the controller that serves it, and neither may block the objects above.
  if (webhook) order.push('webhook.yaml');
  if (policy) order.push('admission-policy.yaml');
  const manifests = order.flatMap((name) => parseManifests(name, templates[name](ctx)));
  return { manifests, configMapData: configYaml };
}

/** The four files of every LB node, in cluster file order. */
export function renderNodes(input: RenderInput, templates: Templates): RenderedNode[] {
  const { config } = input;
  const versions = config.loadBalancer.bmlb.versions;
  return nodeContexts(config, input.nodeFacts).map(({ node, keepalived, haproxy }) => {
    const keepalivedConf = templates['keepalived.conf'](keepalived);
    const haproxyCfg = templates['haproxy.cfg'](haproxy);
    const keepalivedPod = templates['keepalived-pod.yaml']({
      generatedNotice: GENERATED_NOTICE,
      vipAddress: keepalived.vip.address,
      configSha256: sha256Hex(keepalivedConf),
      image: checkImage(`${IMAGE_REPOSITORIES.keepalived}:${versions.keepalived}`),
      command: keepalivedCommand(),
      configDir: NODE_PATHS.keepalivedDir,
      runDir: NODE_PATHS.runDir,
    });
    const haproxyPod = templates['haproxy-pod.yaml']({
      generatedNotice: GENERATED_NOTICE,
      frontendAddress: haproxy.frontend.bind,
      configSha256: sha256Hex(haproxyCfg),
      image: checkImage(`${IMAGE_REPOSITORIES.haproxy}:${versions.haproxy}`),
      command: haproxyCommand(),
      configDir: NODE_PATHS.haproxyDir,
      monitorHost: HAPROXY_MONITOR.host,
      monitorPort: PORTS.haproxyMonitor,
      monitorPath: HAPROXY_MONITOR.path,
    });
    return {
      address: node.address,
      files: [
        { path: NODE_PATHS.keepalivedConf, mode: NODE_FILE_MODES.config, content: keepalivedConf },
        { path: NODE_PATHS.haproxyCfg, mode: NODE_FILE_MODES.config, content: haproxyCfg },
        { path: NODE_PATHS.keepalivedManifest, mode: NODE_FILE_MODES.manifest, content: keepalivedPod },
        { path: NODE_PATHS.haproxyManifest, mode: NODE_FILE_MODES.manifest, content: haproxyPod },
      ],
    };
  });
}

/**
 * Render everything for a bundled load balancer. Throws UserError when the model or the node facts
 * cannot be rendered (manual mode, missing facts, impossible VRRP settings).
 */
export function renderAll(input: RenderInput, templates: Templates = loadTemplates()): Rendered {
  if (input.config.loadBalancer.mode !== 'bundled') {
    throw new UserError(`Cluster ${input.config.name} uses spec.loadBalancer.mode: ${input.config.loadBalancer.mode}; bmlb installs nothing for it.`, {
      code: 'LoadBalancerNotBundled',
      suggestions: ['Set spec.loadBalancer.mode: bundled for bmlb to run the load balancer (the mode is immutable on an existing cluster).'],
    });
  }
  const nodes = renderNodes(input, templates);
  const { manifests, configMapData } = renderManifests(input, templates);
  return { nodes, manifests, configMapData };
}
