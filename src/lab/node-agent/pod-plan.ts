/**
 * Pod manifest → what the node agent runs: per container the exact argv, environment, bind mounts
 * and readiness probe; per volume how it is provided. Pure: ConfigMap/Secret contents and command
 * lookup on PATH come in through `PodPlanContext`; nothing here touches files or processes.
 */
import type { V1Container, V1Pod, V1Probe, V1Volume } from '@kubernetes/client-node';
import { expandVars, lookupIn } from './env-expansion.js';

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
export const AUTOMOUNT_VOLUME = 'kube-api-access-lab';

export interface PodPlanContext {
  nodeName: string;
  nodeIP: string;
  nodeIPv6?: string;
  /** Host and port of the API server, for KUBERNETES_SERVICE_HOST/PORT. */
  apiServerHost: string;
  apiServerPort: string;
  /** Absolute path of bmlb's bin/run.js, run for containers of bmlb's image. */
  bmlbBin: string;
  /** The node binary that runs bmlbBin. */
  nodeBinary: string;
  /** PATH given to containers (and used to resolve command[0]). */
  path: string;
  /** Per-pod directory (volumes, tokens) under the agent's stateDir. */
  podDir: string;
  /** `file` for static pods (no ServiceAccount), `api` for Pods bound by the API. */
  source: 'file' | 'api';
  /** Finds an executable on the given PATH (IO is the caller's). */
  resolveCommand: (name: string, path: string) => string | undefined;
  /** Contents of the ConfigMaps/Secrets of the pod's namespace the pod refers to (secret values decoded). */
  configMaps: ReadonlyMap<string, Readonly<Record<string, string>>>;
  secrets: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

export interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

export type ProbeAction =
  | { kind: 'httpGet'; scheme: 'HTTP' | 'HTTPS'; host: string; port: number; path: string; headers: Record<string, string> }
  | { kind: 'tcpSocket'; host: string; port: number }
  | { kind: 'exec'; argv: string[] };

export interface ProbePlan {
  action: ProbeAction;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export interface ContainerPlan {
  name: string;
  image: string;
  /** argv[0] is an absolute path. */
  argv: string[];
  env: Record<string, string>;
  workingDir?: string;
  /** Bind mounts into the container's private mount namespace (hostPath volumes need none). */
  mounts: Mount[];
  readinessProbe?: ProbePlan;
  /** On failureThreshold consecutive failures the container is killed and restarted per restartPolicy. */
  livenessProbe?: ProbePlan;
  /** securityContext.capabilities.add, reported in status (processes run as root in the lab). */
  capabilities: string[];
}

export type FileSource =
  | { kind: 'configMap'; name: string; items?: { key: string; path: string; mode?: number }[]; optional: boolean; defaultMode?: number }
  | { kind: 'secret'; name: string; items?: { key: string; path: string; mode?: number }[]; optional: boolean; defaultMode?: number }
  | { kind: 'serviceAccountToken'; path: string; serviceAccountName: string; expirationSeconds: number; audience?: string }
  | { kind: 'caCert'; path: string }
  | { kind: 'text'; path: string; content: string };

export type VolumePlan =
  | { name: string; kind: 'hostPath'; path: string; type: string }
  | { name: string; kind: 'emptyDir'; dir: string }
  | { name: string; kind: 'files'; dir: string; sources: FileSource[] };

export interface PodPlan {
  containers: ContainerPlan[];
  volumes: VolumePlan[];
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  terminationGracePeriodSeconds: number;
}

export type PodPlanResult =
  | { ok: true; plan: PodPlan }
  | { ok: false; reason: string; message: string };

class PlanError extends Error {
  constructor(readonly reason: string, message: string) { super(message); }
}

/** An image is bmlb's own when its repository is `bmlb` or ends with `/bmlb` (any tag or digest). */
export function isBmlbImage(image: string | undefined): boolean {
  if (!image) return false;
  let repo = image.split('@')[0]!;
  const lastSlash = repo.lastIndexOf('/');
  const colon = repo.lastIndexOf(':');
  if (colon > lastSlash) repo = repo.slice(0, colon);
  return repo === 'bmlb' || repo.endsWith('/bmlb');
}

/** Names of the ConfigMaps and Secrets a pod refers to (env, envFrom, volumes). */
export function referencedObjects(pod: V1Pod): { configMaps: string[]; secrets: string[] } {
  const cms = new Set<string>();
  const secrets = new Set<string>();
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef?.name) cms.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
    }
    for (const f of c.envFrom ?? []) {
      if (f.configMapRef?.name) cms.add(f.configMapRef.name);
      if (f.secretRef?.name) secrets.add(f.secretRef.name);
    }
  }
  for (const v of pod.spec?.volumes ?? []) {
    if (v.configMap?.name) cms.add(v.configMap.name);
    if (v.secret?.secretName) secrets.add(v.secret.secretName);
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap?.name) cms.add(s.configMap.name);
      if (s.secret?.name) secrets.add(s.secret.name);
    }
  }
  return { configMaps: [...cms].sort(), secrets: [...secrets].sort() };
}

export function planPod(pod: V1Pod, ctx: PodPlanContext): PodPlanResult {
  try {
    return { ok: true, plan: buildPlan(pod, ctx) };
  } catch (e) {
    if (e instanceof PlanError) return { ok: false, reason: e.reason, message: e.message };
    throw e;
  }
}

function buildPlan(pod: V1Pod, ctx: PodPlanContext): PodPlan {
  const spec = pod.spec;
  const podName = pod.metadata?.name ?? '';
  if (!spec || !spec.containers?.length) throw new PlanError('InvalidPod', `pod ${podName} has no containers`);
  if (spec.hostNetwork !== true) {
    throw new PlanError(
      'HostNetworkRequired',
      `pod ${podName}: the lab node agent runs only hostNetwork pods (set spec.hostNetwork: true)`,
    );
  }
  if (spec.initContainers?.length) {
    throw new PlanError('InitContainersUnsupported', `pod ${podName}: init containers are not supported by the lab node agent`);
  }
  const volumes = planVolumes(pod, ctx);
  const containers = spec.containers.map((c) => planContainer(pod, c, volumes, ctx));
  const restartPolicy = (spec.restartPolicy ?? 'Always') as PodPlan['restartPolicy'];
  return {
    containers,
    volumes,
    restartPolicy,
    terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 30,
  };
}

function automountWanted(pod: V1Pod, ctx: PodPlanContext): boolean {
  if (ctx.source !== 'api') return false;
  if (pod.spec?.automountServiceAccountToken === false) return false;
  const mounted = pod.spec?.containers.some((c) => (c.volumeMounts ?? []).some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT));
  return !mounted;
}

function planVolumes(pod: V1Pod, ctx: PodPlanContext): VolumePlan[] {
  const out: VolumePlan[] = [];
  const seen = new Set<string>();
  for (const v of pod.spec?.volumes ?? []) {
    if (seen.has(v.name)) throw new PlanError('InvalidPod', `volume "${v.name}" is defined twice`);
    seen.add(v.name);
    out.push(planVolume(pod, v, ctx));
  }
  if (automountWanted(pod, ctx)) {
    out.push({
      name: AUTOMOUNT_VOLUME,
      kind: 'files',
      dir: `${ctx.podDir}/volumes/${AUTOMOUNT_VOLUME}`,
      sources: [
        { kind: 'serviceAccountToken', path: 'token', serviceAccountName: serviceAccountOf(pod), expirationSeconds: 3607 },
        { kind: 'caCert', path: 'ca.crt' },
        { kind: 'text', path: 'namespace', content: pod.metadata?.namespace ?? 'default' },
      ],
    });
  }
  return out;
}

function serviceAccountOf(pod: V1Pod): string {
  return pod.spec?.serviceAccountName || pod.spec?.serviceAccount || 'default';
}

function planVolume(pod: V1Pod, v: V1Volume, ctx: PodPlanContext): VolumePlan {
  const dir = `${ctx.podDir}/volumes/${v.name}`;
  if (v.hostPath) return { name: v.name, kind: 'hostPath', path: v.hostPath.path, type: v.hostPath.type ?? '' };
  if (v.emptyDir) return { name: v.name, kind: 'emptyDir', dir };
  if (v.configMap) {
    return {
      name: v.name,
      kind: 'files',
      dir,
      sources: [{ kind: 'configMap', name: v.configMap.name ?? '', items: v.configMap.items, optional: v.configMap.optional ?? false, defaultMode: v.configMap.defaultMode }],
    };
  }
  if (v.secret) {
    return {
      name: v.name,
      kind: 'files',
      dir,
      sources: [{ kind: 'secret', name: v.secret.secretName ?? '', items: v.secret.items, optional: v.secret.optional ?? false, defaultMode: v.secret.defaultMode }],
    };
  }
  if (v.projected || v.downwardAPI) {
    const sources: FileSource[] = [];
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap) sources.push({ kind: 'configMap', name: s.configMap.name ?? '', items: s.configMap.items, optional: s.configMap.optional ?? false, defaultMode: v.projected?.defaultMode });
      else if (s.secret) sources.push({ kind: 'secret', name: s.secret.name ?? '', items: s.secret.items, optional: s.secret.optional ?? false, defaultMode: v.projected?.defaultMode });
      else if (s.serviceAccountToken) {
        if (ctx.source !== 'api') throw new PlanError('ServiceAccountUnavailable', `volume "${v.name}": static pods cannot use ServiceAccount tokens`);
        sources.push({ kind: 'serviceAccountToken', path: s.serviceAccountToken.path, serviceAccountName: serviceAccountOf(pod), expirationSeconds: s.serviceAccountToken.expirationSeconds ?? 3607, audience: s.serviceAccountToken.audience });
      } else if (s.downwardAPI) {
        for (const item of s.downwardAPI.items ?? []) sources.push(downwardItem(pod, v.name, item.path, item.fieldRef?.fieldPath, ctx));
      } else {
        throw new PlanError('VolumeUnsupported', `volume "${v.name}": this projected source is not supported by the lab node agent`);
      }
    }
    for (const item of v.downwardAPI?.items ?? []) sources.push(downwardItem(pod, v.name, item.path, item.fieldRef?.fieldPath, ctx));
    return { name: v.name, kind: 'files', dir, sources };
  }
  throw new PlanError(
    'VolumeUnsupported',
    `volume "${v.name}": only hostPath, emptyDir, configMap, secret, projected and downwardAPI volumes are supported by the lab node agent`,
  );
}

function downwardItem(pod: V1Pod, volume: string, path: string, fieldPath: string | undefined, ctx: PodPlanContext): FileSource {
  if (!fieldPath) throw new PlanError('VolumeUnsupported', `volume "${volume}" item ${path}: only fieldRef items are supported`);
  if (fieldPath === 'metadata.labels' || fieldPath === 'metadata.annotations') {
    const m = fieldPath === 'metadata.labels' ? pod.metadata?.labels : pod.metadata?.annotations;
    const content = Object.entries(m ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([k, val]) => `${k}=${JSON.stringify(val)}`).join('\n');
    return { kind: 'text', path, content };
  }
  return { kind: 'text', path, content: fieldValue(pod, fieldPath, ctx) };
}

/** The value of an env `fieldRef` / downward API field, as kubelet reports it. */
export function fieldValue(pod: V1Pod, fieldPath: string, ctx: Pick<PodPlanContext, 'nodeName' | 'nodeIP' | 'nodeIPv6'>): string {
  const md = pod.metadata ?? {};
  const ips = [ctx.nodeIP, ...(ctx.nodeIPv6 ? [ctx.nodeIPv6] : [])];
  switch (fieldPath) {
    case 'metadata.name': return md.name ?? '';
    case 'metadata.namespace': return md.namespace ?? 'default';
    case 'metadata.uid': return md.uid ?? '';
    case 'spec.nodeName': return pod.spec?.nodeName ?? ctx.nodeName;
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP': case 'status.podIP': return ctx.nodeIP;
    case 'status.hostIPs': case 'status.podIPs': return ips.join(',');
  }
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? md.labels : md.annotations)?.[m[2]!] ?? '';
  throw new PlanError('CreateContainerConfigError', `fieldRef ${fieldPath} is not supported`);
}

function planContainer(pod: V1Pod, c: V1Container, volumes: VolumePlan[], ctx: PodPlanContext): ContainerPlan {
  const env = containerEnv(pod, c, ctx);
  const lookup = (name: string) => env.get(name);
  const command = (c.command ?? []).map((s) => expandVars(s, lookup));
  const args = (c.args ?? []).map((s) => expandVars(s, lookup));
  const bmlb = isBmlbImage(c.image);
  let argv: string[];
  if (bmlb && (command.length === 0 || command[0] === 'bmlb')) {
    argv = [ctx.nodeBinary, ctx.bmlbBin, ...command.slice(1), ...args];
  } else if (command.length === 0) {
    throw new PlanError(
      'CommandRequired',
      `container "${c.name}" (image ${c.image ?? '?'}) has no command; the lab does not pull images, so it cannot know the entrypoint — set command`,
    );
  } else {
    const resolved = command[0]!.includes('/') ? command[0]! : ctx.resolveCommand(command[0]!, env.get('PATH') ?? ctx.path);
    if (!resolved) {
      throw new PlanError('CommandNotFound', `container "${c.name}": command "${command[0]}" not found on PATH ${env.get('PATH') ?? ctx.path}`);
    }
    argv = [resolved, ...command.slice(1), ...args];
  }
  return {
    name: c.name,
    image: c.image ?? '',
    argv,
    env: Object.fromEntries(env),
    workingDir: c.workingDir,
    mounts: containerMounts(c, volumes),
    readinessProbe: c.readinessProbe ? planProbe(c, c.readinessProbe, ctx, lookup) : undefined,
    livenessProbe: c.livenessProbe ? planProbe(c, c.livenessProbe, ctx, lookup) : undefined,
    capabilities: c.securityContext?.capabilities?.add ?? [],
  };
}

function containerEnv(pod: V1Pod, c: V1Container, ctx: PodPlanContext): Map<string, string> {
  const service = new Map<string, string>([
    ['KUBERNETES_SERVICE_HOST', ctx.apiServerHost],
    ['KUBERNETES_SERVICE_PORT', ctx.apiServerPort],
    ['KUBERNETES_SERVICE_PORT_HTTPS', ctx.apiServerPort],
  ]);
  const env = new Map<string, string>([
    ['PATH', ctx.path],
    ['HOSTNAME', ctx.nodeName],
    ['HOME', '/root'],
    ...service,
  ]);
  const declared = new Map<string, string>();
  const set = (k: string, v: string) => { env.set(k, v); declared.set(k, v); };
  for (const f of c.envFrom ?? []) {
    const prefix = f.prefix ?? '';
    if (f.configMapRef) {
      const data = ctx.configMaps.get(f.configMapRef.name ?? '');
      if (!data) {
        if (f.configMapRef.optional) continue;
        throw new PlanError('CreateContainerConfigError', `container "${c.name}": configmap "${f.configMapRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(data)) set(prefix + k, v);
    } else if (f.secretRef) {
      const data = ctx.secrets.get(f.secretRef.name ?? '');
      if (!data) {
        if (f.secretRef.optional) continue;
        throw new PlanError('CreateContainerConfigError', `container "${c.name}": secret "${f.secretRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(data)) set(prefix + k, v);
    }
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom) {
      const vf = e.valueFrom;
      if (vf.fieldRef) set(e.name, fieldValue(pod, vf.fieldRef.fieldPath, ctx));
      else if (vf.configMapKeyRef) {
        const v = ctx.configMaps.get(vf.configMapKeyRef.name ?? '')?.[vf.configMapKeyRef.key];
        if (v === undefined) {
          if (vf.configMapKeyRef.optional) continue;
          throw new PlanError('CreateContainerConfigError', `container "${c.name}" env ${e.name}: key "${vf.configMapKeyRef.key}" of configmap "${vf.configMapKeyRef.name}" not found`);
        }
        set(e.name, v);
      } else if (vf.secretKeyRef) {
        const v = ctx.secrets.get(vf.secretKeyRef.name ?? '')?.[vf.secretKeyRef.key];
        if (v === undefined) {
          if (vf.secretKeyRef.optional) continue;
          throw new PlanError('CreateContainerConfigError', `container "${c.name}" env ${e.name}: key "${vf.secretKeyRef.key}" of secret "${vf.secretKeyRef.name}" not found`);
        }
        set(e.name, v);
      } else {
        throw new PlanError('CreateContainerConfigError', `container "${c.name}" env ${e.name}: only fieldRef, configMapKeyRef and secretKeyRef are supported`);
      }
    } else {
      set(e.name, expandVars(e.value ?? '', lookupIn(declared, service)));
    }
  }
  return env;
}

function containerMounts(c: V1Container, volumes: VolumePlan[]): Mount[] {
  const mounts: Mount[] = [];
  for (const m of c.volumeMounts ?? []) {
    const v = volumes.find((x) => x.name === m.name);
    if (!v) throw new PlanError('InvalidPod', `container "${c.name}": volumeMount "${m.name}" names no volume of the pod`);
    const sub = m.subPath ? `/${m.subPath.replace(/^\/+/, '')}` : '';
    if (v.kind === 'hostPath') {
      const hostPath = `${v.path.replace(/\/+$/, '')}${sub}`;
      if (normalise(hostPath) !== normalise(m.mountPath)) {
        throw new PlanError(
          'HostPathMismatch',
          `container "${c.name}": volumeMount "${m.name}" mounts hostPath ${hostPath} at ${m.mountPath}; ` +
            'the lab node agent runs containers in the node\'s own filesystem, so mountPath must equal the hostPath path',
        );
      }
      continue;
    }
    mounts.push({ source: `${v.dir}${sub}`, target: m.mountPath, readOnly: m.readOnly ?? false });
  }
  const auto = volumes.find((v) => v.name === AUTOMOUNT_VOLUME);
  if (auto && auto.kind === 'files') mounts.push({ source: auto.dir, target: SERVICE_ACCOUNT_MOUNT, readOnly: true });
  return mounts;
}

function normalise(p: string): string {
  return p.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
}

function planProbe(c: V1Container, p: V1Probe, ctx: PodPlanContext, lookup: (n: string) => string | undefined): ProbePlan {
  const port = (value: number | string | undefined): number => {
    if (typeof value === 'number') return value;
    if (value !== undefined && /^\d+$/.test(value)) return Number(value);
    const named = c.ports?.find((x) => x.name === value);
    if (!named) throw new PlanError('InvalidPod', `container "${c.name}": probe port "${value}" names no container port`);
    return named.containerPort;
  };
  let action: ProbeAction;
  if (p.httpGet) {
    const headers: Record<string, string> = {};
    for (const h of p.httpGet.httpHeaders ?? []) headers[h.name] = h.value;
    action = {
      kind: 'httpGet',
      scheme: p.httpGet.scheme === 'HTTPS' ? 'HTTPS' : 'HTTP',
      host: p.httpGet.host || ctx.nodeIP,
      port: port(p.httpGet.port as number | string),
      path: p.httpGet.path || '/',
      headers,
    };
  } else if (p.tcpSocket) {
    action = { kind: 'tcpSocket', host: p.tcpSocket.host || ctx.nodeIP, port: port(p.tcpSocket.port as number | string) };
  } else if (p.exec?.command?.length) {
    const argv = p.exec.command.map((s) => expandVars(s, lookup));
    const resolved = argv[0]!.includes('/') ? argv[0]! : ctx.resolveCommand(argv[0]!, lookup('PATH') ?? ctx.path);
    if (!resolved) throw new PlanError('CommandNotFound', `container "${c.name}": probe command "${argv[0]}" not found`);
    action = { kind: 'exec', argv: [resolved, ...argv.slice(1)] };
  } else {
    throw new PlanError('ProbeUnsupported', `container "${c.name}": only httpGet, tcpSocket and exec probes are supported`);
  }
  return {
    action,
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
    periodSeconds: p.periodSeconds ?? 10,
    timeoutSeconds: p.timeoutSeconds ?? 1,
    successThreshold: p.successThreshold ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
  };
}

/** Files of a `files` volume given current ConfigMap/Secret data (token and CA content are the caller's). */
export type RenderedFile = { path: string; mode: number; content: string } | { path: string; mode: number; token: FileSource & { kind: 'serviceAccountToken' } } | { path: string; mode: number; caCert: true };

export function renderVolumeFiles(
  v: VolumePlan & { kind: 'files' },
  data: Pick<PodPlanContext, 'configMaps' | 'secrets'>,
): { ok: true; files: RenderedFile[] } | { ok: false; message: string } {
  const files: RenderedFile[] = [];
  for (const s of v.sources) {
    if (s.kind === 'configMap' || s.kind === 'secret') {
      const content = (s.kind === 'configMap' ? data.configMaps : data.secrets).get(s.name);
      if (!content) {
        if (s.optional) continue;
        return { ok: false, message: `volume "${v.name}": ${s.kind === 'configMap' ? 'configmap' : 'secret'} "${s.name}" not found` };
      }
      const mode = s.defaultMode ?? 0o644;
      if (s.items?.length) {
        for (const it of s.items) {
          const value = content[it.key];
          if (value === undefined) {
            if (s.optional) continue;
            return { ok: false, message: `volume "${v.name}": key "${it.key}" not found in ${s.kind} "${s.name}"` };
          }
          files.push({ path: it.path, mode: it.mode ?? mode, content: value });
        }
      } else {
        for (const [k, value] of Object.entries(content)) files.push({ path: k, mode, content: value });
      }
    } else if (s.kind === 'serviceAccountToken') {
      files.push({ path: s.path, mode: 0o600, token: s });
    } else if (s.kind === 'caCert') {
      files.push({ path: s.path, mode: 0o644, caCert: true });
    } else {
      files.push({ path: s.path, mode: 0o644, content: s.content });
    }
  }
  for (const f of files) {
    if (f.path.startsWith('/') || f.path.split('/').includes('..')) {
      return { ok: false, message: `volume "${v.name}": file path "${f.path}" must be relative and must not contain ".."` };
    }
  }
  return { ok: true, files };
}
