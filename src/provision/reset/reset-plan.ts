/**
 * `reset cluster`, the decisions: whether to run at all (prevent-deletion annotation, confirmation),
 * what an LB node still carries (parsed from one inspection script) and what to do about it, which
 * value each sysctl goes back to, and which in-cluster objects go, in which order. Pure.
 */
import { posix } from 'node:path';
import type { ClusterConfig } from '../../config/model.js';
import { NAMES } from '../../config/model.js';
import { UserError } from '../../errors.js';
import { NODE_PATHS } from '../../render/layout.js';
import { type Iface, type Listener, interfaceHolding, parseIpAddrJson, parseSs, splitSections } from '../preflight/facts.js';
import { APPLIED_CONFIGMAP } from '../create/cluster-objects.js';
import { SYSCTL_FILE } from '../create/node-plan.js';

export const PREVENT_DELETION_ANNOTATION = 'baremetal.cluster.gke.io/prevent-deletion';

// ------------------------------------------------------------------------------------------------
// Whether to run.

export type ResetGate = { kind: 'proceed' } | { kind: 'ask' } | { kind: 'refuse'; error: UserError };

/** The Cluster's own veto first, then the confirmation rule: a TTY asks, anything else needs --force. */
export function resetGate(config: ClusterConfig, opts: { force: boolean; interactive: boolean }): ResetGate {
  const v = config.annotations[PREVENT_DELETION_ANNOTATION];
  if (v !== undefined && v.trim().toLowerCase() === 'true') {
    return {
      kind: 'refuse',
      error: new UserError(`cluster ${config.name} carries the annotation ${PREVENT_DELETION_ANNOTATION}: "${v}"; bmlb does not reset it`, {
        code: 'ResetPrevented',
        data: { annotation: PREVENT_DELETION_ANNOTATION, value: v, file: config.sourcePath },
        suggestions: [
          `If the cluster really is to lose its load balancer, remove the annotation ${PREVENT_DELETION_ANNOTATION} from metadata.annotations of the Cluster in ${config.sourcePath} (or set it to "false"), then rerun bmlb reset cluster -c ${config.name}.`,
        ],
      }),
    };
  }
  if (opts.force) return { kind: 'proceed' };
  if (opts.interactive) return { kind: 'ask' };
  return {
    kind: 'refuse',
    error: new UserError(`reset cluster removes the load balancer of cluster ${config.name} (the control-plane VIP stops answering); it needs a confirmation, and there is no terminal to ask on`, {
      code: 'ResetNotConfirmed',
      exitCode: 2,
      suggestions: [`Run it on a terminal to be asked, or pass --force: bmlb reset cluster -c ${config.name} --force.`],
    }),
  };
}

/** The answer to the confirmation prompt: the cluster name, or yes. */
export function confirmed(answer: string, clusterName: string): boolean {
  const a = answer.trim();
  return a === clusterName || /^(y|yes)$/i.test(a);
}

// ------------------------------------------------------------------------------------------------
// LB nodes.

/** Where bmlb's things are on a node. Tests point these into a temp dir. */
export interface ResetPaths {
  /** The static pod manifests bmlb writes. */
  manifests: string[];
  /** Directories bmlb owns: their content goes, the directory too when it can (it may be a mount point). */
  dirs: string[];
  sysctlFile: string;
  /** sysctl configuration directories, lowest precedence first (systemd-sysctl/procps order). */
  sysctlConfDirs: string[];
  /** Read after the directories (procps `sysctl --system`). */
  sysctlConf: string;
  procSys: string;
  keepalivedPid: string;
}

export const RESET_PATHS: ResetPaths = {
  manifests: [NODE_PATHS.keepalivedManifest, NODE_PATHS.haproxyManifest],
  /** /var/lib/bmlb holds the backups create cluster made (BACKUP_ROOT). */
  dirs: ['/etc/bmlb', NODE_PATHS.runDir, '/var/lib/bmlb'],
  sysctlFile: SYSCTL_FILE,
  sysctlConfDirs: ['/lib/sysctl.d', '/usr/lib/sysctl.d', '/usr/local/lib/sysctl.d', '/run/sysctl.d', '/etc/sysctl.d'],
  sysctlConf: '/etc/sysctl.conf',
  procSys: '/proc/sys',
  keepalivedPid: NODE_PATHS.keepalivedPid,
};

/** The sysctls bmlb may set, and the value a kernel boots with when no configuration sets them. */
export const SYSCTL_KERNEL_DEFAULTS: Record<string, string> = {
  'net.ipv4.ip_nonlocal_bind': '0',
  'net.ipv6.ip_nonlocal_bind': '0',
};

/** A marker only bmlb's static pod manifests carry. */
export const BMLB_MANIFEST_MARKER = 'app.kubernetes.io/part-of: bmlb';

export interface NodeInspection {
  /** Manifests present, and whether they are bmlb's. */
  manifests: { path: string; bmlb: boolean }[];
  /** Every entry under bmlb's directories (deepest last), and the directories that exist. */
  entries: string[];
  dirsPresent: string[];
  /** Content of bmlb's sysctl file, when present. */
  sysctlFile: string | undefined;
  /** Other sysctl configuration files, in the order they are read: path → content. */
  sysctlConf: { path: string; content: string }[];
  /** Runtime values of SYSCTL_KERNEL_DEFAULTS keys. */
  sysctls: Record<string, string | undefined>;
  keepalivedRunning: boolean;
  listeners: Listener[];
  interfaces: Iface[];
}

function q(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function procPath(paths: ResetPaths, key: string): string {
  return `${paths.procSys}/${key.replaceAll('.', '/')}`;
}

/** One shell script printing `==bmlb:` sections that parseInspection reads. Read-only. */
export function inspectionScript(paths: ResetPaths): string {
  const lines: string[] = [];
  lines.push('echo ==bmlb:manifests');
  for (const m of paths.manifests) lines.push(`if [ -f ${q(m)} ]; then if grep -qF ${q(BMLB_MANIFEST_MARKER)} ${q(m)}; then echo "bmlb ${m}"; else echo "foreign ${m}"; fi; fi`);
  lines.push('echo ==bmlb:dirs');
  for (const d of paths.dirs) lines.push(`[ -d ${q(d)} ] && echo ${q(d)}`);
  lines.push('echo ==bmlb:entries');
  for (const d of paths.dirs) lines.push(`[ -d ${q(d)} ] && find ${q(d)} -mindepth 1 2>/dev/null`);
  lines.push('echo ==bmlb:sysctl-file');
  lines.push(`[ -f ${q(paths.sysctlFile)} ] && { echo present; cat ${q(paths.sysctlFile)}; }`);
  lines.push('echo ==bmlb:sysctl-conf');
  lines.push(`for d in ${paths.sysctlConfDirs.map(q).join(' ')}; do for f in "$d"/*.conf; do [ -f "$f" ] || continue; [ "$f" = ${q(paths.sysctlFile)} ] && continue; echo "@@file $f"; cat "$f"; echo; done; done`);
  lines.push(`[ -f ${q(paths.sysctlConf)} ] && { echo "@@file ${paths.sysctlConf}"; cat ${q(paths.sysctlConf)}; echo; }`);
  lines.push('echo ==bmlb:proc');
  for (const k of Object.keys(SYSCTL_KERNEL_DEFAULTS)) lines.push(`printf '%s=%s\\n' ${q(k)} "$(cat ${q(procPath(paths, k))} 2>/dev/null)"`);
  lines.push('echo ==bmlb:keepalived');
  lines.push(`p=$(cat ${q(paths.keepalivedPid)} 2>/dev/null); if [ -n "$p" ] && kill -0 "$p" 2>/dev/null && grep -q keepalived /proc/"$p"/comm 2>/dev/null; then echo running; else echo stopped; fi`);
  lines.push('echo ==bmlb:listen');
  lines.push('ss -ltnupH 2>/dev/null');
  lines.push('echo ==bmlb:addr');
  lines.push('ip -j addr show');
  lines.push('true');
  return lines.join('\n');
}

export function parseInspection(text: string): NodeInspection {
  const s = splitSections(text);
  const nonEmpty = (name: string): string[] => (s.get(name) ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const manifests = nonEmpty('manifests').flatMap((l) => {
    const m = /^(bmlb|foreign) (.+)$/.exec(l);
    return m?.[2] ? [{ path: m[2], bmlb: m[1] === 'bmlb' }] : [];
  });
  const sf = (s.get('sysctl-file') ?? '').split('\n');
  const sysctlFile = sf[0]?.trim() === 'present' ? sf.slice(1).join('\n') : undefined;
  const sysctlConf: { path: string; content: string }[] = [];
  for (const line of (s.get('sysctl-conf') ?? '').split('\n')) {
    const m = /^@@file (.+)$/.exec(line);
    if (m?.[1]) sysctlConf.push({ path: m[1], content: '' });
    else if (sysctlConf.length) {
      const last = sysctlConf[sysctlConf.length - 1] as { path: string; content: string };
      last.content += `${line}\n`;
    }
  }
  const sysctls: Record<string, string | undefined> = {};
  for (const l of nonEmpty('proc')) {
    const eq = l.indexOf('=');
    if (eq > 0) sysctls[l.slice(0, eq)] = l.slice(eq + 1).trim() || undefined;
  }
  const addr = (s.get('addr') ?? '').trim();
  return {
    manifests,
    entries: nonEmpty('entries'),
    dirsPresent: nonEmpty('dirs'),
    sysctlFile,
    sysctlConf,
    sysctls,
    keepalivedRunning: nonEmpty('keepalived')[0] === 'running',
    listeners: parseSs(s.get('listen') ?? ''),
    interfaces: addr ? parseIpAddrJson(addr) : [],
  };
}

/** `key = value` assignments of a sysctl.d file, in order (`-key` prefix ignored, `key/with/slashes` accepted). */
export function parseSysctlConf(text: string): { key: string; value: string }[] {
  const out: { key: string; value: string }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim().replace(/^-/, '').replaceAll('/', '.');
    out.push({ key, value: line.slice(eq + 1).trim() });
  }
  return out;
}

/**
 * The value `key` gets at boot without bmlb's file: files of the same name in a later directory
 * replace earlier ones; all files are read in file-name order; sysctl.conf last; the last
 * assignment wins. `dirs` is the precedence order of ResetPaths.sysctlConfDirs.
 */
export function bootValue(key: string, conf: { path: string; content: string }[], dirs: string[], sysctlConf: string): { value: string; source: string } | undefined {
  const byName = new Map<string, { path: string; content: string; rank: number }>();
  let main: { path: string; content: string } | undefined;
  for (const c of conf) {
    if (c.path === sysctlConf) {
      main = c;
      continue;
    }
    const rank = dirs.indexOf(posix.dirname(c.path));
    const name = posix.basename(c.path);
    const prev = byName.get(name);
    if (!prev || rank >= prev.rank) byName.set(name, { ...c, rank });
  }
  const ordered = [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, c]) => c);
  if (main) ordered.push({ ...main, rank: Infinity });
  let found: { value: string; source: string } | undefined;
  for (const c of ordered) for (const a of parseSysctlConf(c.content)) if (a.key === key) found = { value: a.value, source: c.path };
  return found;
}

export interface SysctlRestore {
  key: string;
  from: string | undefined;
  to: string;
  /** The configuration file the value comes from, or "kernel default". */
  source: string;
}

export type NodeStep =
  | { kind: 'remove-manifest'; path: string }
  | { kind: 'keep-foreign-manifest'; path: string }
  | { kind: 'wait-static-pods' }
  | { kind: 'remove-entries'; dirs: string[]; entries: string[] }
  | { kind: 'remove-sysctl-file'; path: string }
  | { kind: 'restore-sysctls'; restores: SysctlRestore[] };

/** What the node still has of bmlb's control-plane load balancer. */
export function staticPodsActive(i: NodeInspection, vip: string, port: number): { keepalived: boolean; haproxy: boolean; vipOn: string | undefined } {
  const haproxy = i.listeners.some((l) => l.proto === 'tcp' && l.port === port && l.processes.includes('haproxy'));
  return { keepalived: i.keepalivedRunning, haproxy, vipOn: interfaceHolding(i.interfaces, vip)?.iface.name };
}

/** Steps, in order: manifests first (kubelet stops the pods, keepalived drops the VIP), then files, then sysctls. */
export function planNodeReset(i: NodeInspection, paths: ResetPaths, vip: string, port: number): NodeStep[] {
  const steps: NodeStep[] = [];
  for (const m of i.manifests) steps.push(m.bmlb ? { kind: 'remove-manifest', path: m.path } : { kind: 'keep-foreign-manifest', path: m.path });
  const active = staticPodsActive(i, vip, port);
  if (i.manifests.some((m) => m.bmlb) || active.keepalived || active.haproxy || active.vipOn) steps.push({ kind: 'wait-static-pods' });
  // An empty directory that stays (a mount point on some nodes, like the lab's) is not worth a step.
  const dirsPresent = paths.dirs.filter((d) => i.dirsPresent.includes(d));
  if (i.entries.length) steps.push({ kind: 'remove-entries', dirs: dirsPresent, entries: i.entries });
  if (i.sysctlFile !== undefined) {
    steps.push({ kind: 'remove-sysctl-file', path: paths.sysctlFile });
    const restores: SysctlRestore[] = [];
    for (const { key } of parseSysctlConf(i.sysctlFile)) {
      const def = SYSCTL_KERNEL_DEFAULTS[key];
      if (def === undefined) continue; // not one bmlb sets: leave the running value alone
      const boot = bootValue(key, i.sysctlConf, paths.sysctlConfDirs, paths.sysctlConf);
      const to = boot?.value ?? def;
      const from = i.sysctls[key];
      if (from !== to) restores.push({ key, from, to, source: boot?.source ?? 'kernel default' });
    }
    if (restores.length) steps.push({ kind: 'restore-sysctls', restores });
  }
  return steps;
}

/** Shell text for the removal steps (manifests; entries; sysctl file; sysctl values). */
export function stepCommand(step: NodeStep, paths: ResetPaths): string | undefined {
  switch (step.kind) {
    case 'remove-manifest':
      return `rm -f ${q(step.path)}`;
    case 'remove-entries':
      // Contents first; the directory itself only if it is not a mount point (rmdir fails then: fine).
      return ['set -e', ...step.dirs.map((d) => `find ${q(d)} -mindepth 1 -maxdepth 1 -exec rm -rf {} +`), ...step.dirs.map((d) => `rmdir ${q(d)} 2>/dev/null || true`)].join('\n');
    case 'remove-sysctl-file':
      return `rm -f ${q(step.path)}`;
    case 'restore-sysctls':
      return step.restores.map((r) => `echo ${q(r.to)} > ${q(procPath(paths, r.key))}`).join(' && ');
    default:
      return undefined;
  }
}

// ------------------------------------------------------------------------------------------------
// In-cluster objects.

export interface ObjectKind {
  kind: string;
  apiVersion: string;
  plural: string;
  namespaced: boolean;
  /** Names bmlb creates (also found by label when renamed labels are missing). */
  names: string[];
}

export const MANAGED_BY_SELECTOR = 'app.kubernetes.io/managed-by=bmlb';

/** Reverse apply order: admission guards, workloads, Services, config, RBAC, ServiceAccounts. The namespace goes last, separately. */
export const DELETE_ORDER: ObjectKind[] = [
  { kind: 'ValidatingWebhookConfiguration', apiVersion: 'admissionregistration.k8s.io/v1', plural: 'validatingwebhookconfigurations', namespaced: false, names: ['bmlb-config-guard'] },
  { kind: 'ValidatingAdmissionPolicyBinding', apiVersion: 'admissionregistration.k8s.io/v1', plural: 'validatingadmissionpolicybindings', namespaced: false, names: ['bmlb-config-guard'] },
  { kind: 'ValidatingAdmissionPolicy', apiVersion: 'admissionregistration.k8s.io/v1', plural: 'validatingadmissionpolicies', namespaced: false, names: ['bmlb-config-guard'] },
  { kind: 'DaemonSet', apiVersion: 'apps/v1', plural: 'daemonsets', namespaced: true, names: ['bmlb-speaker'] },
  { kind: 'Deployment', apiVersion: 'apps/v1', plural: 'deployments', namespaced: true, names: ['bmlb-controller'] },
  { kind: 'Service', apiVersion: 'v1', plural: 'services', namespaced: true, names: [NAMES.webhookService] },
  { kind: 'ConfigMap', apiVersion: 'v1', plural: 'configmaps', namespaced: true, names: [NAMES.configMap, APPLIED_CONFIGMAP] },
  { kind: 'Secret', apiVersion: 'v1', plural: 'secrets', namespaced: true, names: [NAMES.memberSecret] },
  { kind: 'RoleBinding', apiVersion: 'rbac.authorization.k8s.io/v1', plural: 'rolebindings', namespaced: true, names: ['bmlb-speaker', 'bmlb-controller'] },
  { kind: 'Role', apiVersion: 'rbac.authorization.k8s.io/v1', plural: 'roles', namespaced: true, names: ['bmlb-speaker', 'bmlb-controller'] },
  { kind: 'ClusterRoleBinding', apiVersion: 'rbac.authorization.k8s.io/v1', plural: 'clusterrolebindings', namespaced: false, names: ['bmlb-speaker', 'bmlb-controller'] },
  { kind: 'ClusterRole', apiVersion: 'rbac.authorization.k8s.io/v1', plural: 'clusterroles', namespaced: false, names: ['bmlb-speaker', 'bmlb-controller'] },
  { kind: 'ServiceAccount', apiVersion: 'v1', plural: 'serviceaccounts', namespaced: true, names: [NAMES.speakerServiceAccount, NAMES.controllerServiceAccount] },
];

/** Names to delete of one kind: the known ones plus any found by label, each once, known first. */
export function namesToDelete(k: ObjectKind, labelled: string[]): string[] {
  return [...new Set([...k.names, ...labelled])];
}

/** The bmlb annotations to strip from a user's Service (it keeps its status and everything else). */
export const SERVICE_ANNOTATIONS = [NAMES.announcingNodeAnnotation, NAMES.allocatedPoolAnnotation];
