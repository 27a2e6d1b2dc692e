/**
 * Text of a cluster file → validated, normalised ClusterConfig, or every error at once. Pure:
 * the caller reads the file (see load.ts).
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { canonicalIp } from '../net/address.js';
import { DEFAULT_CONTROL_PLANE_LB_PORT, DEFAULT_LB_TYPE, DEFAULT_LOGIN_USER, defaultBmlbSettings } from './defaults.js';
import type { ConfigError, ConfigNotice } from './issues.js';
import type { AddressPool, BgpPeer, BmlbSettings, ClusterConfig, NodeSpec } from './model.js';
import {
  ClusterDocumentSchema, HeaderDocumentSchema, NamespaceDocumentSchema, NodePoolDocumentSchema,
  type ClusterDocument, type HeaderDocument, type NodePoolDocument,
} from './schema.js';
import { checkStructure } from './structure.js';
import { validateSemantics, type WorkerPoolInput } from './validate.js';
import { parseYamlDocuments, type SourceDocument } from './yaml-source.js';

export type ParseResult =
  | { ok: true; config: ClusterConfig; notices: ConfigNotice[] }
  | { ok: false; errors: ConfigError[]; notices: ConfigNotice[] };

function byPosition(a: { line: number; column: number }, b: { line: number; column: number }): number {
  return a.line - b.line || a.column - b.column;
}

function docError(doc: SourceDocument, code: ConfigError['code'], path: string, message: string, suggestion: string, values?: unknown[]): ConfigError {
  return { code, path, line: doc.line, column: doc.column, message, suggestion, ...(values ? { values } : {}) };
}

/** Parse and validate the text of a cluster file. `sourcePath` (absolute) anchors relative paths. */
export interface ParseOptions {
  /** Home directory for `~/` in file paths (the loader passes the user's). */
  homeDir?: string;
}

export function parseClusterFile(text: string, sourcePath: string, options: ParseOptions = {}): ParseResult {
  const yaml = parseYamlDocuments(text);
  const errors: ConfigError[] = [...yaml.errors];
  const notices: ConfigNotice[] = [];
  if (errors.some((e) => e.code === 'YamlSyntax')) return { ok: false, errors, notices };

  let header: SourceDocument | undefined;
  let namespaceDoc: SourceDocument | undefined;
  let cluster: SourceDocument | undefined;
  const nodePools: SourceDocument[] = [];

  yaml.documents.forEach((doc, position) => {
    const d = doc.data;
    if (d === null || typeof d !== 'object' || Array.isArray(d)) {
      errors.push(docError(doc, 'NotAMapping', `document[${doc.index}]`, `document ${doc.index} is ${Array.isArray(d) ? 'a list' : `the scalar ${JSON.stringify(d)}`}, not a mapping`, 'Each document of a cluster file is a mapping (key: value lines).'));
      return;
    }
    const kind = (d as Record<string, unknown>).kind;
    if (kind === undefined) {
      if (position === 0 && !('apiVersion' in d)) { header = doc; return; }
      errors.push(docError(doc, 'UnknownDocument', `document[${doc.index}]`, `document ${doc.index} has no kind`, 'Only the first document (the credentials header) has no kind; add kind: Cluster, Namespace or NodePool, or remove the document.'));
      return;
    }
    const dup = (existing: SourceDocument | undefined, what: string): boolean => {
      if (!existing) return false;
      errors.push(docError(doc, 'DuplicateDocument', `document[${doc.index}]`, `a second ${what} document (the first is document ${existing.index})`, `A cluster file describes one cluster: keep one ${what} document.`));
      return true;
    };
    if (kind === 'Cluster') { if (!dup(cluster, 'Cluster')) cluster = doc; }
    else if (kind === 'Namespace') { if (!dup(namespaceDoc, 'Namespace')) namespaceDoc = doc; }
    else if (kind === 'NodePool') nodePools.push(doc);
    else {
      errors.push(docError(doc, 'UnknownDocument', `document[${doc.index}]`, `document ${doc.index} has kind ${JSON.stringify(kind)}, which is not part of a cluster file`,
        'A cluster file holds the credentials header, a Namespace, a Cluster and NodePool documents; apply other resources with kubectl.', [kind]));
    }
  });

  if (yaml.documents.length === 0 && errors.length === 0) {
    errors.push({ code: 'EmptyFile', path: '', line: 1, column: 1, message: 'the cluster file is empty', suggestion: 'Run `bmlb create config -c NAME` for a commented sample to fill in.' });
    return { ok: false, errors, notices };
  }

  const absorb = (r: { errors: ConfigError[]; notices: ConfigNotice[] }) => { errors.push(...r.errors); notices.push(...r.notices); };
  if (header) absorb(checkStructure(HeaderDocumentSchema, header, ''));
  else {
    errors.push({ code: 'RequiredField', path: 'sshPrivateKeyPath', line: 1, column: 1, message: 'the credentials header (first document, with sshPrivateKeyPath) is missing',
      suggestion: 'Start the file with a document holding sshPrivateKeyPath: /path/to/key, then "---".' });
  }
  if (namespaceDoc) absorb(checkStructure(NamespaceDocumentSchema, namespaceDoc, 'Namespace'));
  const poolPrefix = (doc: SourceDocument) => {
    const n = (doc.data as { metadata?: { name?: unknown } }).metadata?.name;
    return `NodePool(${typeof n === 'string' ? n : `document ${doc.index}`})`;
  };
  const workerPools: WorkerPoolInput[] = nodePools.map((doc) => ({ doc, prefix: poolPrefix(doc) }));
  for (const wp of workerPools) absorb(checkStructure(NodePoolDocumentSchema, wp.doc, wp.prefix));
  if (!cluster) {
    errors.push({ code: 'MissingDocument', path: 'kind: Cluster', line: 1, column: 1, message: 'the file has no Cluster document (apiVersion: baremetal.cluster.gke.io/v1, kind: Cluster)',
      suggestion: 'Add the Cluster document; `bmlb create config -c NAME` writes a complete sample.' });
  } else {
    absorb(checkStructure(ClusterDocumentSchema, cluster, ''));
    errors.push(...validateSemantics({ cluster, clusterPrefix: '', ...(namespaceDoc ? { namespaceDoc: { doc: namespaceDoc, prefix: 'Namespace' } } : {}), workerPools }));
  }

  // Unused BGP fields in layer2 mode: a notice, not an error.
  if (cluster) {
    const lb = (cluster.data as ClusterDocument).spec?.loadBalancer as Record<string, unknown> | undefined;
    if (lb && lb.mode === 'manual' && lb.type === 'layer2') {
      notices.push({ code: 'IgnoredField', path: 'spec.loadBalancer.type', ...cluster.locate(['spec', 'loadBalancer', 'type'], 'key'), message: 'spec.loadBalancer.type is used only with mode: bundled; ignored' });
    }
    if (lb && lb.type !== 'bgp') {
      for (const k of ['localASN', 'bgpPeers']) {
        if (lb[k] !== undefined) {
          notices.push({ code: 'IgnoredField', path: `spec.loadBalancer.${k}`, ...cluster.locate(['spec', 'loadBalancer', k], 'key'), message: `spec.loadBalancer.${k} is used only with type: bgp; ignored` });
        }
      }
    }
  }

  errors.sort(byPosition);
  notices.sort(byPosition);
  if (errors.length > 0 || !cluster || !header) return { ok: false, errors, notices };
  return { ok: true, config: normalise(header.data as HeaderDocument, cluster.data as ClusterDocument, nodePools.map((d) => d.data as NodePoolDocument), sourcePath, options.homeDir), notices };
}

function ip(text: string): string {
  return canonicalIp(text) ?? text;
}

function nodeSpec(n: { address: string; k8sIP?: string | undefined }): NodeSpec {
  return { address: ip(n.address), k8sIP: ip(n.k8sIP ?? n.address) };
}

function resolvePath(p: string, base: string, homeDir?: string): string {
  if (homeDir && (p === '~' || p.startsWith('~/'))) return resolve(homeDir, p.slice(2));
  return isAbsolute(p) ? p : resolve(base, p);
}

/** Fill in every default; addresses in canonical form. Only called on a valid file. */
function normalise(h: HeaderDocument, c: ClusterDocument, pools: NodePoolDocument[], sourcePath: string, homeDir?: string): ClusterConfig {
  const base = dirname(sourcePath);
  const lb = c.spec.loadBalancer;
  const cpNodes = c.spec.controlPlane.nodePoolSpec.nodes.map(nodeSpec);
  const lbNodes = lb.nodePoolSpec ? lb.nodePoolSpec.nodes.map(nodeSpec) : cpNodes.map((n) => ({ ...n }));
  const addressPools: AddressPool[] = (lb.addressPools ?? []).map((p) => ({
    name: p.name,
    addresses: [...p.addresses],
    avoidBuggyIPs: p.avoidBuggyIPs ?? false,
    manualAssign: p.manualAssign ?? false,
  }));
  const bgpPeers: BgpPeer[] = lb.type === 'bgp'
    ? (lb.bgpPeers ?? []).map((p) => ({ ip: ip(p.ip), asn: p.asn, controlPlaneNodes: (p.controlPlaneNodes ?? []).map(ip) }))
    : [];
  const d = defaultBmlbSettings();
  const bmlb: BmlbSettings = {
    vrrp: { ...d.vrrp, ...stripUndefined(lb.bmlb?.vrrp) },
    speaker: { ...d.speaker, ...stripUndefined(lb.bmlb?.speaker) },
    versions: { ...d.versions, ...stripUndefined(lb.bmlb?.versions) },
    admission: lb.bmlb?.admission ?? d.admission,
  };
  const config: ClusterConfig = {
    name: c.metadata.name,
    namespace: c.metadata.namespace,
    clusterType: c.spec.type,
    sourcePath,
    credentials: {
      sshPrivateKeyPath: resolvePath(h.sshPrivateKeyPath, base, homeDir),
      ...(h.sshKnownHostsPath !== undefined ? { sshKnownHostsPath: resolvePath(h.sshKnownHostsPath, base, homeDir) } : {}),
      ...(h.kubeconfigPath !== undefined ? { kubeconfigPath: resolvePath(h.kubeconfigPath, base, homeDir) } : {}),
    },
    loginUser: c.spec.nodeAccess?.loginUser ?? DEFAULT_LOGIN_USER,
    controlPlane: { nodes: cpNodes },
    nodePools: pools.map((p) => ({ name: p.metadata.name, nodes: p.spec.nodes.map(nodeSpec) })),
    loadBalancer: {
      mode: lb.mode,
      type: lb.type ?? DEFAULT_LB_TYPE,
      controlPlaneLBPort: lb.ports?.controlPlaneLBPort ?? DEFAULT_CONTROL_PLANE_LB_PORT,
      controlPlaneVIP: ip(lb.vips.controlPlaneVIP),
      ...(lb.vips.ingressVIP !== undefined ? { ingressVIP: ip(lb.vips.ingressVIP) } : {}),
      addressPools,
      nodes: lbNodes,
      nodesFromControlPlane: lb.nodePoolSpec === undefined,
      ...(lb.type === 'bgp' && lb.localASN !== undefined ? { localASN: lb.localASN } : {}),
      bgpPeers,
      bmlb,
    },
    annotations: { ...(c.metadata.annotations ?? {}) },
  };
  return config;
}

function stripUndefined<T extends object>(o: T | undefined): Partial<T> {
  if (!o) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
