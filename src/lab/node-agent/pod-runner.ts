/**
 * Runs one planned pod: materialises its volumes under the pod's state dir, starts one process per
 * container, restarts them with back-off per restartPolicy, runs readiness probes, refreshes
 * ConfigMap/Secret/token files, and stops everything with SIGTERM, the grace period, then SIGKILL.
 */
import { mkdir, rename, rm, writeFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { signalContainer, startContainer, type StartedContainer } from './container-process.js';
import type { ContainerPlan, FileSource, PodPlan, PodPlanContext, VolumePlan } from './pod-plan.js';
import { renderVolumeFiles } from './pod-plan.js';
import { runProbe } from './probes.js';
import type { ContainerRecord, PodRuntime } from './pod-status.js';
import { restartDelayMs } from './pod-status.js';

export interface PodRunnerDeps {
  log: (line: string) => void;
  /** Directory for container logs. */
  logDir: string;
  /** Current ConfigMap/Secret data the pod refers to. */
  fetchData: () => Promise<Pick<PodPlanContext, 'configMaps' | 'secrets'>>;
  /** A ServiceAccount token (TokenRequest) for the pod. */
  mintToken: (source: FileSource & { kind: 'serviceAccountToken' }) => Promise<string>;
  caCert: () => Promise<string>;
  /** Called whenever the status or the set of PIDs may have changed. */
  changed: () => void;
}

export interface PodIdentity {
  key: string;
  namespace: string;
  name: string;
  nodeIP: string;
  nodeIPv6?: string;
}

interface ContainerSlot {
  plan: ContainerPlan;
  record: ContainerRecord;
  proc?: StartedContainer;
  failures: number;
  restartTimer?: NodeJS.Timeout;
  probeTimer?: NodeJS.Timeout;
  livenessTimer?: NodeJS.Timeout;
  livenessFailures: number;
  probeSuccesses: number;
  probeFailures: number;
}

export class PodRunner {
  readonly runtime: PodRuntime;
  private readonly slots: ContainerSlot[];
  private stopping = false;
  private refreshTimer?: NodeJS.Timeout;
  private tokenMintedAt = new Map<string, number>();
  private written = new Map<string, Set<string>>();

  constructor(readonly id: PodIdentity, readonly plan: PodPlan, private readonly deps: PodRunnerDeps) {
    this.slots = plan.containers.map((c) => ({
      plan: c,
      record: { name: c.name, image: c.image, runtime: { state: 'waiting', reason: 'ContainerCreating' }, restartCount: 0, capabilities: c.capabilities },
      failures: 0,
      livenessFailures: 0,
      probeSuccesses: 0,
      probeFailures: 0,
    }));
    this.runtime = {
      nodeIP: id.nodeIP,
      nodeIPv6: id.nodeIPv6,
      startTime: new Date(),
      containers: this.slots.map((s) => s.record),
      restartPolicy: plan.restartPolicy,
      specContainers: plan.containers.map((c) => ({ name: c.name, image: c.image })),
    };
  }

  pids(): { container: string; pid: number }[] {
    return this.slots.filter((s) => s.proc && s.record.runtime.state === 'running').map((s) => ({ container: s.plan.name, pid: s.proc!.pid }));
  }

  async start(): Promise<void> {
    try {
      await this.setUpVolumes();
    } catch (e) {
      this.runtime.failure = { reason: 'VolumeSetupFailed', message: (e as Error).message, permanent: false };
      this.deps.log(`pod ${this.id.key}: volume setup failed: ${(e as Error).message}`);
      this.deps.changed();
      // retried by the refresh loop
    }
    this.refreshTimer = setInterval(() => void this.refresh(), 3000);
    if (!this.runtime.failure) for (const s of this.slots) this.launch(s);
    this.deps.changed();
  }

  private async refresh(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.setUpVolumes();
      if (this.runtime.failure) {
        this.runtime.failure = undefined;
        for (const s of this.slots) if (!s.proc) this.launch(s);
        this.deps.changed();
      }
    } catch (e) {
      this.deps.log(`pod ${this.id.key}: volume refresh failed: ${(e as Error).message}`);
    }
  }

  private async setUpVolumes(): Promise<void> {
    const needData = this.plan.volumes.some((v) => v.kind === 'files' && v.sources.some((s) => s.kind === 'configMap' || s.kind === 'secret'));
    const data = needData ? await this.deps.fetchData() : { configMaps: new Map(), secrets: new Map() };
    for (const v of this.plan.volumes) await this.setUpVolume(v, data);
  }

  private async setUpVolume(v: VolumePlan, data: Pick<PodPlanContext, 'configMaps' | 'secrets'>): Promise<void> {
    if (v.kind === 'hostPath') {
      if (v.type === 'DirectoryOrCreate') await mkdir(v.path, { recursive: true });
      else if (v.type === 'FileOrCreate') {
        await mkdir(dirname(v.path), { recursive: true });
        await writeFile(v.path, '', { flag: 'a' });
      } else if (v.type === 'Directory' || v.type === 'File') {
        const st = await stat(v.path).catch(() => undefined);
        if (!st || (v.type === 'Directory' ? !st.isDirectory() : !st.isFile())) {
          throw new Error(`hostPath ${v.path} is not an existing ${v.type === 'Directory' ? 'directory' : 'file'} (volume "${v.name}")`);
        }
      }
      return;
    }
    await mkdir(v.dir, { recursive: true });
    if (v.kind === 'emptyDir') return;
    const rendered = renderVolumeFiles(v, data);
    if (!rendered.ok) throw new Error(rendered.message);
    const now = Date.now();
    const present = new Set<string>();
    for (const f of rendered.files) {
      present.add(f.path);
      let content: string;
      if ('token' in f) {
        const id = `${v.name}/${f.path}`;
        const minted = this.tokenMintedAt.get(id);
        // refresh at 80% of the token's lifetime, as kubelet does
        if (minted !== undefined && now - minted < f.token.expirationSeconds * 800) continue;
        content = await this.deps.mintToken(f.token);
        this.tokenMintedAt.set(id, now);
      } else if ('caCert' in f) content = await this.deps.caCert();
      else content = f.content;
      await writeAtomically(join(v.dir, f.path), content, f.mode);
    }
    const before = this.written.get(v.name) ?? new Set<string>();
    for (const p of before) if (!present.has(p)) await unlink(join(v.dir, p)).catch(() => undefined);
    this.written.set(v.name, present);
  }

  private launch(s: ContainerSlot): void {
    if (this.stopping) return;
    const logFile = join(this.deps.logDir, `${this.id.namespace}_${this.id.name}_${s.plan.name}.log`);
    let proc: StartedContainer;
    try {
      proc = startContainer(s.plan, logFile);
    } catch (e) {
      s.record.runtime = { state: 'waiting', reason: 'RunContainerError', message: (e as Error).message };
      this.scheduleRestart(s);
      return;
    }
    s.proc = proc;
    s.record.runtime = { state: 'running', pid: proc.pid, startedAt: proc.startedAt, ready: !s.plan.readinessProbe };
    s.probeSuccesses = 0;
    s.probeFailures = 0;
    this.deps.log(`pod ${this.id.key}: container ${s.plan.name} started, pid ${proc.pid}: ${s.plan.argv.join(' ')}`);
    if (s.plan.readinessProbe) this.scheduleProbe(s, s.plan.readinessProbe.initialDelaySeconds * 1000);
    s.livenessFailures = 0;
    if (s.plan.livenessProbe) this.scheduleLiveness(s, s.plan.livenessProbe.initialDelaySeconds * 1000 + s.plan.livenessProbe.periodSeconds * 1000);
    this.deps.changed();
    void proc.exited.then(({ code, signal }) => {
      if (s.proc !== proc) return;
      if (s.probeTimer) clearTimeout(s.probeTimer);
      if (s.livenessTimer) clearTimeout(s.livenessTimer);
      const finishedAt = new Date();
      const ranMs = finishedAt.getTime() - proc.startedAt.getTime();
      const terminated = {
        state: 'terminated' as const,
        exitCode: code,
        reason: code === 0 ? 'Completed' : 'Error',
        startedAt: proc.startedAt,
        finishedAt,
      };
      s.record.last = terminated;
      s.record.runtime = terminated;
      s.proc = undefined;
      this.deps.log(`pod ${this.id.key}: container ${s.plan.name} (pid ${proc.pid}) exited, code ${code}${signal ? ` (${signal})` : ''}`);
      if (this.stopping) { this.deps.changed(); return; }
      s.failures = ranMs >= 10_000 ? 1 : s.failures + 1;
      const restart = this.plan.restartPolicy === 'Always' || (this.plan.restartPolicy === 'OnFailure' && code !== 0);
      if (restart) {
        s.record.runtime = { state: 'waiting', reason: 'CrashLoopBackOff', message: `back-off ${restartDelayMs(s.failures) / 1000}s restarting container ${s.plan.name}` };
        this.scheduleRestart(s);
      }
      this.deps.changed();
    });
  }

  private scheduleRestart(s: ContainerSlot): void {
    if (this.stopping) return;
    const delay = restartDelayMs(Math.max(1, s.failures));
    s.restartTimer = setTimeout(() => {
      s.restartTimer = undefined;
      if (this.stopping) return;
      s.record.restartCount += 1;
      this.launch(s);
    }, delay);
  }

  private scheduleProbe(s: ContainerSlot, delayMs: number): void {
    const probe = s.plan.readinessProbe;
    if (!probe || this.stopping) return;
    s.probeTimer = setTimeout(async () => {
      const proc = s.proc;
      if (!proc || this.stopping) return;
      const ok = await runProbe(probe.action, probe.timeoutSeconds * 1000, s.plan.env);
      if (s.proc !== proc || s.record.runtime.state !== 'running') return;
      if (ok) { s.probeSuccesses += 1; s.probeFailures = 0; } else { s.probeFailures += 1; s.probeSuccesses = 0; }
      const rt = s.record.runtime;
      const before = rt.ready;
      if (ok && s.probeSuccesses >= probe.successThreshold) rt.ready = true;
      if (!ok && (s.probeFailures >= probe.failureThreshold || !rt.ready)) rt.ready = false;
      if (before !== rt.ready) this.deps.changed();
      // until ready the first time, probe every second so pods become ready promptly
      const next = rt.ready ? probe.periodSeconds * 1000 : Math.min(1000, probe.periodSeconds * 1000);
      this.scheduleProbe(s, next);
    }, delayMs);
  }

  private scheduleLiveness(s: ContainerSlot, delayMs: number): void {
    const probe = s.plan.livenessProbe;
    if (!probe || this.stopping) return;
    s.livenessTimer = setTimeout(async () => {
      const proc = s.proc;
      if (!proc || this.stopping) return;
      const ok = await runProbe(probe.action, probe.timeoutSeconds * 1000, s.plan.env);
      if (s.proc !== proc || this.stopping) return;
      s.livenessFailures = ok ? 0 : s.livenessFailures + 1;
      if (s.livenessFailures >= probe.failureThreshold) {
        this.deps.log(`pod ${this.id.key}: container ${s.plan.name} failed its liveness probe ${s.livenessFailures} times; restarting it`);
        signalContainer(proc.pid, 'SIGTERM');
        const grace = this.plan.terminationGracePeriodSeconds * 1000;
        const killer = setTimeout(() => signalContainer(proc.pid, 'SIGKILL'), grace);
        void proc.exited.finally(() => clearTimeout(killer));
        return;
      }
      this.scheduleLiveness(s, probe.periodSeconds * 1000);
    }, delayMs);
  }

  /** SIGTERM every container, SIGKILL after the grace period; resolves when all have exited. */
  async stop(graceSeconds = this.plan.terminationGracePeriodSeconds): Promise<void> {
    this.stopping = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    const waits: Promise<unknown>[] = [];
    for (const s of this.slots) {
      if (s.restartTimer) clearTimeout(s.restartTimer);
      if (s.probeTimer) clearTimeout(s.probeTimer);
      if (s.livenessTimer) clearTimeout(s.livenessTimer);
      const proc = s.proc;
      if (!proc) continue;
      signalContainer(proc.pid, 'SIGTERM');
      const killer = setTimeout(() => signalContainer(proc.pid, 'SIGKILL'), Math.max(0, graceSeconds) * 1000);
      waits.push(proc.exited.finally(() => clearTimeout(killer)));
    }
    await Promise.all(waits);
    this.deps.changed();
  }

  /** Removes the pod's state dir (volumes, tokens); call after stop(). */
  async cleanUp(podDir: string): Promise<void> {
    await rm(podDir, { recursive: true, force: true });
  }
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, path);
}
