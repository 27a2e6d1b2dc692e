/**
 * The lab node agent (kubelet stand-in): registers the Node, runs the static pods of manifestDir
 * and the API Pods bound to this node as processes, reports their status (mirror Pods for static
 * ones), records child PIDs in stateDir/pids.json, and runs Service forwarding (and, on the node
 * chosen by the lab, the lab controllers). `stop()` ends every pod and removes what it set up.
 */
import { watch as fsWatch, type FSWatcher, accessSync, constants as fsConstants, statSync } from 'node:fs';
import { mkdir, readFile, writeFile, rename, appendFile } from 'node:fs/promises';
import { join, delimiter } from 'node:path';
import type { V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { Kube } from '../../kube/kube-client.js';
import { isKubeApiError, loadKube, resourcePath } from '../../kube/kube-client.js';
import { Informer } from '../../kube/informer.js';
import { newEventRecorder, type EventRecorder } from '../../kube/event-recorder.js';
import type { NodeAgentConfig } from './config.js';
import { readManifestDir, staticPod, type Manifest } from './manifest-dir.js';
import { NodeRegistration } from './node-registration.js';
import { planPod, referencedObjects, type PodPlanContext, type FileSource } from './pod-plan.js';
import { PodRunner } from './pod-runner.js';
import { podStatus, type PodRuntime } from './pod-status.js';
import { ServiceProxy } from '../service-proxy/service-proxy.js';
import { ControllerManager } from '../controllers/controller-manager.js';

const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

interface PodEntry {
  key: string;
  source: 'file' | 'api';
  pod: V1Pod;
  runner?: PodRunner;
  /** Set when the pod could not be planned (no runner). */
  failed?: PodRuntime;
  lastStatus?: string;
  mirrorOk?: boolean;
  /** Static pods: the manifest hash the entry was started from. */
  hash?: string;
  stopping?: Promise<void>;
}

/** Finds an executable on a PATH string. */
export function whichOnPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, fsConstants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch { /* next */ }
  }
  return undefined;
}

/** The agent's PATH plus the standard directories (so keepalived in /usr/sbin is found whatever PATH the lab had). */
export function containerPath(agentPath: string | undefined): string {
  const dirs = [...(agentPath ?? '').split(delimiter), ...'/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'.split(':')];
  return [...new Set(dirs.filter(Boolean))].join(delimiter);
}

export function kubeconfigFor(cfg: Pick<NodeAgentConfig, 'apiServer' | 'caFile' | 'token' | 'nodeName'>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server: cfg.apiServer, 'certificate-authority': cfg.caFile } }],
    users: [{ name: `system:node:${cfg.nodeName}`, user: { token: cfg.token } }],
    contexts: [{ name: 'lab', context: { cluster: 'lab', user: `system:node:${cfg.nodeName}` } }],
    'current-context': 'lab',
  });
}

export class NodeAgent {
  private kube!: Kube;
  private registration!: NodeRegistration;
  private readonly pods = new Map<string, PodEntry>();
  private podInformer?: Informer<V1Pod>;
  private watcher?: FSWatcher;
  private rescanTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;
  private pidsTimer?: NodeJS.Timeout;
  private syncing = false;
  private syncDone: Promise<void> = Promise.resolve();
  private syncAgain = false;
  private stopped = false;
  private proxy?: ServiceProxy;
  private events?: EventRecorder;
  private controllers?: ControllerManager;
  private caCert = '';
  private pidsSeq = 0;
  private nodeUid?: string;
  private readonly apiHost: string;
  private readonly apiPort: string;

  constructor(readonly cfg: NodeAgentConfig, private readonly logSink?: (line: string) => void) {
    const u = new URL(cfg.apiServer);
    this.apiHost = u.hostname.replace(/^\[|\]$/g, '');
    this.apiPort = u.port || '443';
  }

  log(line: string): void {
    const text = `${new Date().toISOString()} [${this.cfg.nodeName}] ${line}\n`;
    if (this.logSink) this.logSink(text);
    else if (this.cfg.logFile) void appendFile(this.cfg.logFile, text).catch(() => process.stderr.write(text));
    else process.stderr.write(text);
  }

  private lastLogged = new Map<string, string>();
  /** Logs a line for `key` only when it differs from the last one (retry loops stay quiet). */
  private logChanged(key: string, line: string): void {
    if (this.lastLogged.get(key) === line) return;
    this.lastLogged.set(key, line);
    this.log(line);
  }

  get podDirRoot(): string { return join(this.cfg.stateDir, 'pods'); }
  get logDir(): string { return join(this.cfg.stateDir, 'logs'); }

  async start(): Promise<void> {
    await mkdir(this.podDirRoot, { recursive: true });
    await mkdir(this.logDir, { recursive: true });
    await mkdir(this.cfg.manifestDir, { recursive: true });
    const kubeconfigPath = join(this.cfg.stateDir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigFor(this.cfg), { mode: 0o600 });
    this.kube = loadKube({ kubeconfigPath });
    this.events = newEventRecorder(this.kube, 'kubelet', this.cfg.nodeName, (l) => this.log(l));
    this.caCert = await readFile(this.cfg.caFile, 'utf8');
    await this.writePids();

    // static pods do not wait for the API (kubelet runs them before the API server is up)
    this.watcher = fsWatch(this.cfg.manifestDir, () => this.requestSync());
    this.watcher.on('error', () => undefined);
    this.rescanTimer = setInterval(() => this.requestSync(), this.cfg.rescanMs);
    this.requestSync();

    this.registration = new NodeRegistration(this.kube, this.cfg, (l) => this.log(l));
    const node = await this.retryUntilStopped('register node', () => this.registration.register());
    this.nodeUid = node?.metadata?.uid;
    if (this.stopped) return;
    this.registration.startHeartbeat();
    this.log(`node ${this.cfg.nodeName} registered (${this.cfg.nodeIP})`);

    this.podInformer = new Informer<V1Pod>(this.kube, {
      path: '/api/v1/pods',
      fieldSelector: `spec.nodeName=${this.cfg.nodeName}`,
      log: (l) => this.log(l),
    });
    this.podInformer.on(() => this.requestSync());
    await this.podInformer.start();
    this.statusTimer = setInterval(() => void this.pushStatuses(), 1000);

    if (this.cfg.serviceProxy) {
      this.proxy = new ServiceProxy(this.kube, { name: this.cfg.nodeName }, (l) => this.log(l));
      await this.proxy.start();
    }
    if (this.cfg.runControllers) {
      this.controllers = new ControllerManager(this.kube, (l) => this.log(l));
      await this.controllers.start();
    }
    this.requestSync();
  }

  private async retryUntilStopped<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    let delay = 200;
    while (!this.stopped) {
      try {
        return await fn();
      } catch (e) {
        this.log(`${what} failed: ${(e as Error).message}; retrying in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
    return undefined;
  }

  private requestSync(): void {
    if (this.stopped) return;
    if (this.syncing) { this.syncAgain = true; return; }
    this.syncing = true;
    this.syncDone = (async () => {
      try {
        do {
          this.syncAgain = false;
          await this.sync();
        } while (this.syncAgain && !this.stopped);
      } catch (e) {
        this.log(`sync failed: ${(e as Error).stack ?? e}`);
      } finally {
        this.syncing = false;
      }
    })();
  }

  private async sync(): Promise<void> {
    const manifests = await readManifestDir(this.cfg.manifestDir);
    const wanted = new Map<string, { source: 'file' | 'api'; pod: V1Pod; hash?: string; manifest?: Manifest }>();
    for (const m of manifests.values()) {
      if (!m.ok) {
        this.reportBadManifest(m);
        continue;
      }
      wanted.set(`file:${m.file}`, { source: 'file', pod: staticPod(m, this.cfg.nodeName), hash: m.hash });
    }
    for (const pod of this.podInformer?.list() ?? []) {
      if (pod.metadata?.annotations?.[MIRROR_ANNOTATION]) continue;
      if (pod.metadata?.deletionTimestamp) continue;
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
        if (!this.pods.has(`api:${pod.metadata?.uid}`)) continue;
      }
      wanted.set(`api:${pod.metadata?.uid}`, { source: 'api', pod });
    }
    // stop what is no longer wanted (or changed)
    for (const [key, entry] of this.pods) {
      const w = wanted.get(key);
      if (w && (entry.source === 'api' || w.hash === entry.hash)) continue;
      // not awaited: a grace period must not hold up other pods; the next sync starts the replacement
      if (!entry.stopping) entry.stopping = this.stopEntry(entry, w ? 'manifest changed' : 'removed');
    }
    for (const [key, w] of wanted) {
      if (this.pods.has(key)) continue;
      await this.startEntry(key, w.source, w.pod, w.hash);
    }
    // mirror pods: recreate deleted ones, drop orphans of removed manifests
    const mirrors = (this.podInformer?.list() ?? []).filter((p) => p.metadata?.annotations?.[MIRROR_ANNOTATION]);
    for (const entry of this.pods.values()) {
      if (entry.source !== 'file' || !this.podInformer) continue;
      const mirror = mirrors.find((p) => p.metadata?.name === entry.pod.metadata?.name && p.metadata?.namespace === entry.pod.metadata?.namespace);
      if (!mirror || mirror.metadata?.annotations?.[MIRROR_ANNOTATION] !== entry.hash) entry.mirrorOk = false;
    }
    if (this.podInformer?.synced) {
      for (const m of mirrors) {
        const owned = [...this.pods.values()].some((e) => e.source === 'file' && e.pod.metadata?.name === m.metadata?.name && e.pod.metadata?.namespace === m.metadata?.namespace);
        if (!owned) await this.kube.rest.delete(resourcePath('v1', 'pods', m.metadata?.namespace, m.metadata?.name)).catch(() => undefined);
      }
      // finalise API pods being deleted gracefully: stop, then delete with grace 0
      for (const pod of this.podInformer.list()) {
        if (!pod.metadata?.deletionTimestamp || pod.metadata.annotations?.[MIRROR_ANNOTATION]) continue;
        const entry = this.pods.get(`api:${pod.metadata.uid}`);
        if (entry) continue; // stopping above
        await this.kube.rest.delete(resourcePath('v1', 'pods', pod.metadata.namespace, pod.metadata.name), { gracePeriodSeconds: 0 }).catch(() => undefined);
      }
    }
    this.schedulePidsWrite();
  }

  private badManifests = new Map<string, string>();
  private reportBadManifest(m: Manifest & { ok: false }): void {
    if (this.badManifests.get(m.file) === m.hash) return;
    this.badManifests.set(m.file, m.hash);
    this.log(`static pod manifest ${m.file} ignored: ${m.error}`);
  }

  private podDir(pod: V1Pod): string {
    return join(this.podDirRoot, `${pod.metadata?.namespace}_${pod.metadata?.name}_${pod.metadata?.uid}`);
  }

  private async fetchData(pod: V1Pod): Promise<Pick<PodPlanContext, 'configMaps' | 'secrets'>> {
    const ns = pod.metadata?.namespace ?? 'default';
    const refs = referencedObjects(pod);
    const configMaps = new Map<string, Record<string, string>>();
    const secrets = new Map<string, Record<string, string>>();
    if (!this.kube || (refs.configMaps.length === 0 && refs.secrets.length === 0)) return { configMaps, secrets };
    for (const name of refs.configMaps) {
      const cm = await this.kube.rest.find<{ data?: Record<string, string> }>(resourcePath('v1', 'configmaps', ns, name));
      if (cm) configMaps.set(name, cm.data ?? {});
    }
    for (const name of refs.secrets) {
      const s = await this.kube.rest.find<{ data?: Record<string, string>; stringData?: Record<string, string> }>(resourcePath('v1', 'secrets', ns, name));
      if (s) {
        const decoded: Record<string, string> = {};
        for (const [k, v] of Object.entries(s.data ?? {})) decoded[k] = Buffer.from(v, 'base64').toString('utf8');
        for (const [k, v] of Object.entries(s.stringData ?? {})) decoded[k] = v;
        secrets.set(name, decoded);
      }
    }
    return { configMaps, secrets };
  }

  private async startEntry(key: string, source: 'file' | 'api', pod: V1Pod, hash?: string): Promise<void> {
    const entry: PodEntry = { key, source, pod, hash };
    this.pods.set(key, entry);
    const podDir = this.podDir(pod);
    let data: Pick<PodPlanContext, 'configMaps' | 'secrets'>;
    try {
      data = await this.fetchData(pod);
    } catch (e) {
      data = { configMaps: new Map(), secrets: new Map() };
      this.log(`pod ${key}: reading its ConfigMaps/Secrets failed: ${(e as Error).message}`);
    }
    const ctx: PodPlanContext = {
      nodeName: this.cfg.nodeName,
      nodeIP: this.cfg.nodeIP,
      nodeIPv6: this.cfg.nodeIPv6,
      apiServerHost: this.apiHost,
      apiServerPort: this.apiPort,
      bmlbBin: this.cfg.bmlbBin,
      nodeBinary: process.execPath,
      path: containerPath(process.env.PATH),
      podDir,
      source,
      resolveCommand: whichOnPath,
      ...data,
    };
    const result = planPod(pod, ctx);
    const specContainers = (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '' }));
    if (!result.ok) {
      this.log(`pod ${key} (${pod.metadata?.namespace}/${pod.metadata?.name}) not started: ${result.reason}: ${result.message}`);
      const permanent = result.reason !== 'CreateContainerConfigError';
      if (source === 'api') void this.events?.record({ ...pod, apiVersion: 'v1', kind: 'Pod' }, 'Warning', result.reason, result.message);
      entry.failed = {
        nodeIP: this.cfg.nodeIP,
        nodeIPv6: this.cfg.nodeIPv6,
        startTime: new Date(),
        failure: { reason: result.reason, message: result.message, permanent },
        containers: [],
        restartPolicy: 'Always',
        specContainers,
      };
      if (!permanent) {
        // retry later, as kubelet does for missing ConfigMaps/Secrets
        setTimeout(() => {
          if (this.pods.get(key) === entry && !entry.stopping) {
            this.pods.delete(key);
            this.requestSync();
          }
        }, 2000);
      }
      return;
    }
    const runner = new PodRunner(
      { key, namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', nodeIP: this.cfg.nodeIP, nodeIPv6: this.cfg.nodeIPv6 },
      result.plan,
      {
        log: (l) => this.log(l),
        logDir: this.logDir,
        fetchData: () => this.fetchData(pod),
        mintToken: (s) => this.mintToken(pod, s),
        caCert: async () => this.caCert,
        changed: () => { this.schedulePidsWrite(); this.scheduleStatusPush(); },
      },
    );
    entry.runner = runner;
    if (this.stopped) return; // stop() takes the entry down; nothing was started
    this.log(`pod ${key} (${pod.metadata?.namespace}/${pod.metadata?.name}) starting`);
    await runner.start();
  }

  private async mintToken(pod: V1Pod, s: FileSource & { kind: 'serviceAccountToken' }): Promise<string> {
    const ns = pod.metadata?.namespace ?? 'default';
    const res = await this.kube.rest.create<{ status?: { token?: string } }>(
      resourcePath('v1', 'serviceaccounts', ns, s.serviceAccountName, 'token'),
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          audiences: s.audience ? [s.audience] : [],
          expirationSeconds: s.expirationSeconds,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid },
        },
      },
    );
    const token = res.status?.token;
    if (!token) throw new Error(`TokenRequest for serviceaccount ${ns}/${s.serviceAccountName} returned no token`);
    return token;
  }

  private async stopEntry(entry: PodEntry, why: string): Promise<void> {
    const grace = entry.pod.metadata?.deletionGracePeriodSeconds ?? entry.pod.spec?.terminationGracePeriodSeconds ?? 30;
    this.log(`pod ${entry.key} (${entry.pod.metadata?.namespace}/${entry.pod.metadata?.name}) stopping: ${why}`);
    if (entry.runner) {
      await entry.runner.stop(grace);
      await entry.runner.cleanUp(this.podDir(entry.pod));
    }
    this.pods.delete(entry.key);
    this.schedulePidsWrite();
    this.requestSync();
    if (!this.kube || this.stopped) return;
    const path = resourcePath('v1', 'pods', entry.pod.metadata?.namespace, entry.pod.metadata?.name);
    if (entry.source === 'api') {
      // a gracefully deleted pod is finalised by its node (delete with grace 0)
      const cur = this.podInformer?.get(`${entry.pod.metadata?.namespace}/${entry.pod.metadata?.name}`);
      if (cur?.metadata?.deletionTimestamp) await this.kube.rest.delete(path, { gracePeriodSeconds: 0 }).catch(() => undefined);
    } else {
      await this.kube.rest.delete(path).catch(() => undefined);
    }
  }

  private statusPushTimer?: NodeJS.Timeout;
  private scheduleStatusPush(): void {
    if (this.statusPushTimer || !this.podInformer) return;
    this.statusPushTimer = setTimeout(() => {
      this.statusPushTimer = undefined;
      void this.pushStatuses();
    }, 100);
  }

  private pushing = false;
  private async pushStatuses(): Promise<void> {
    if (this.pushing || this.stopped || !this.podInformer) return;
    this.pushing = true;
    try {
      for (const entry of [...this.pods.values()]) {
        if (entry.stopping) continue;
        const rt = entry.runner?.runtime ?? entry.failed;
        if (!rt) continue;
        const status = podStatus(rt, new Date());
        const fingerprint = JSON.stringify(status, (k, v) => (k === 'lastTransitionTime' ? undefined : v));
        if (entry.source === 'file' && !entry.mirrorOk) {
          const ok = await this.ensureMirror(entry);
          if (!ok) continue;
          entry.lastStatus = undefined;
        }
        if (fingerprint === entry.lastStatus) continue;
        try {
          await this.patchStatus(entry.pod, status);
          entry.lastStatus = fingerprint;
        } catch (e) {
          if (isKubeApiError(e, 404)) entry.mirrorOk = false;
          else this.logChanged(`status ${entry.key}`, `status of pod ${entry.pod.metadata?.namespace}/${entry.pod.metadata?.name}: ${(e as Error).message}`);
        }
      }
    } finally {
      this.pushing = false;
    }
  }

  private async patchStatus(pod: V1Pod, status: V1PodStatus): Promise<void> {
    await this.kube.rest.patch(resourcePath('v1', 'pods', pod.metadata?.namespace, pod.metadata?.name, 'status'), { status }, 'merge');
  }

  private async ensureMirror(entry: PodEntry): Promise<boolean> {
    const pod = entry.pod;
    const path = resourcePath('v1', 'pods', pod.metadata?.namespace, pod.metadata?.name);
    try {
      const cur = await this.kube.rest.find<V1Pod>(path);
      if (cur && cur.metadata?.annotations?.[MIRROR_ANNOTATION] !== entry.hash) {
        await this.kube.rest.delete(path, { gracePeriodSeconds: 0 });
      } else if (cur) {
        entry.mirrorOk = true;
        return true;
      }
      const { uid: _uid, ...metadata } = pod.metadata ?? {};
      await this.kube.rest.create(resourcePath('v1', 'pods', pod.metadata?.namespace), {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          ...metadata,
          ...(this.nodeUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.cfg.nodeName, uid: this.nodeUid, controller: true }] } : {}),
        },
        spec: pod.spec,
      });
      entry.mirrorOk = true;
      return true;
    } catch (e) {
      this.logChanged(`mirror ${entry.key}`, `mirror pod ${pod.metadata?.namespace}/${pod.metadata?.name}: ${(e as Error).message} (retrying every second)`);
      return false;
    }
  }

  private schedulePidsWrite(): void {
    if (this.pidsTimer) return;
    this.pidsTimer = setTimeout(() => {
      this.pidsTimer = undefined;
      void this.writePids().catch((e) => this.log(`pids.json: ${(e as Error).message}`));
    }, 50);
  }

  /** Every child process of the agent, by pod and container. */
  children(): { namespace: string; pod: string; container: string; pid: number }[] {
    const out: { namespace: string; pod: string; container: string; pid: number }[] = [];
    for (const e of this.pods.values()) {
      for (const p of e.runner?.pids() ?? []) out.push({ namespace: e.pod.metadata?.namespace ?? '', pod: e.pod.metadata?.name ?? '', container: p.container, pid: p.pid });
    }
    return out;
  }

  private pidsWrite: Promise<void> = Promise.resolve();
  /** Writes pids.json; writes are serialised and each records the children at the time it runs. */
  private writePids(): Promise<void> {
    const file = join(this.cfg.stateDir, 'pids.json');
    this.pidsWrite = this.pidsWrite.catch(() => undefined).then(async () => {
      const tmp = `${file}.${process.pid}.${++this.pidsSeq}.tmp`;
      await writeFile(tmp, JSON.stringify({ agent: process.pid, node: this.cfg.nodeName, children: this.children() }, null, 2) + '\n');
      await rename(tmp, file);
    });
    return this.pidsWrite;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.statusPushTimer) clearTimeout(this.statusPushTimer);
    this.podInformer?.stop();
    this.registration?.stop();
    this.controllers?.stop();
    await this.proxy?.stop();
    await this.syncDone; // a pass in flight may still be starting a pod
    await Promise.all([...this.pods.values()].map((e) => e.stopping ?? this.stopEntry(e, 'node agent stopping')));
    if (this.pidsTimer) clearTimeout(this.pidsTimer);
    this.pidsTimer = undefined;
    await this.writePids().catch(() => undefined);
    this.log('node agent stopped');
  }
}
