/**
 * The kube-controller-manager stand-in: DaemonSet, Deployment and EndpointSlice controllers over
 * shared informers. Every change schedules one serialised reconcile pass over all objects; Pods
 * just created or deleted are remembered until the informer shows them, so a pass never acts on
 * a stale cache twice.
 */
import type { V1DaemonSet, V1Deployment, V1EndpointSlice, V1Lease, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import type { Kube } from '../../kube/kube-client.js';
import { isKubeApiError, resourcePath } from '../../kube/kube-client.js';
import { Informer } from '../../kube/informer.js';
import { ownedBy, planDaemonSet } from './daemonset.js';
import { planDeployment } from './deployment.js';
import { staleNodes } from './node-lifecycle.js';
import { CONTROLLER_NAME, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, desiredEndpointSlices, diffSlices } from './endpoint-slice.js';

const EXPECTATION_TTL_MS = 30_000;

export class ControllerManager {
  private nodes!: Informer<V1Node>;
  private pods!: Informer<V1Pod>;
  private daemonSets!: Informer<V1DaemonSet>;
  private deployments!: Informer<V1Deployment>;
  private services!: Informer<V1Service>;
  private slices!: Informer<V1EndpointSlice>;
  private leases!: Informer<V1Lease>;
  private lifecycle?: NodeJS.Timeout;
  private timer?: NodeJS.Timeout;
  private resync?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private stopped = false;
  /** Pods created (by name) or deleted (by name) that the informer has not shown yet. */
  private created = new Map<string, { pod: V1Pod; at: number }>();
  private deleted = new Map<string, number>();
  private lastStatus = new Map<string, string>();
  /** Back-off for re-creating pods after failed ones (key: owner uid, or owner uid + node for DaemonSets). */
  private backoff = new Map<string, { failures: number; until: number }>();
  private backoffTimer?: NodeJS.Timeout;

  private noteFailure(key: string): void {
    const b = this.backoff.get(key) ?? { failures: 0, until: 0 };
    b.failures += 1;
    b.until = Date.now() + Math.min(60_000, 1000 * 2 ** (b.failures - 1));
    this.backoff.set(key, b);
  }

  /** True when creation for this key must wait; schedules a pass for when it may go on. */
  private backingOff(key: string): boolean {
    const b = this.backoff.get(key);
    if (!b || Date.now() >= b.until) return false;
    if (!this.backoffTimer) {
      this.backoffTimer = setTimeout(() => { this.backoffTimer = undefined; this.schedule(); }, Math.max(50, b.until - Date.now()));
    }
    return true;
  }

  constructor(private readonly kube: Kube, private readonly log: (l: string) => void) {}

  async start(): Promise<void> {
    const mk = <T extends V1Node | V1Pod | V1DaemonSet | V1Deployment | V1Service | V1EndpointSlice | V1Lease>(path: string) => {
      const inf = new Informer<T>(this.kube, { path, log: this.log });
      inf.on(() => this.schedule());
      return inf;
    };
    this.nodes = mk<V1Node>('/api/v1/nodes');
    this.pods = mk<V1Pod>('/api/v1/pods');
    this.daemonSets = mk<V1DaemonSet>('/apis/apps/v1/daemonsets');
    this.deployments = mk<V1Deployment>('/apis/apps/v1/deployments');
    this.services = mk<V1Service>('/api/v1/services');
    this.slices = mk<V1EndpointSlice>('/apis/discovery.k8s.io/v1/endpointslices');
    this.leases = new Informer<V1Lease>(this.kube, { path: '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', log: this.log });
    await Promise.all([this.nodes, this.pods, this.daemonSets, this.deployments, this.services, this.slices, this.leases].map((i) => i.start()));
    this.resync = setInterval(() => this.schedule(), 10_000);
    this.lifecycle = setInterval(() => void this.markStaleNodes().catch((e) => this.log(`node lifecycle: ${(e as Error).message}`)), 5000);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.resync) clearInterval(this.resync);
    if (this.lifecycle) clearInterval(this.lifecycle);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    for (const i of [this.nodes, this.pods, this.daemonSets, this.deployments, this.services, this.slices, this.leases]) i?.stop();
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, 50);
  }

  private async run(): Promise<void> {
    if (this.running) { this.again = true; return; }
    this.running = true;
    try {
      do {
        this.again = false;
        await this.reconcileAll();
      } while (this.again && !this.stopped);
    } catch (e) {
      this.log(`controllers: ${(e as Error).stack ?? e}`);
      setTimeout(() => this.schedule(), 1000);
    } finally {
      this.running = false;
    }
  }

  /** The informer's pods, corrected by what this controller did and has not seen back yet. */
  private currentPods(): V1Pod[] {
    const now = Date.now();
    const listed = this.pods.list();
    const listedNames = new Set(listed.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`));
    for (const [k, v] of this.created) if (listedNames.has(k) || now - v.at > EXPECTATION_TTL_MS) this.created.delete(k);
    for (const [k, at] of this.deleted) if (!listedNames.has(k) || now - at > EXPECTATION_TTL_MS) this.deleted.delete(k);
    const pods = listed.filter((p) => {
      const k = `${p.metadata?.namespace}/${p.metadata?.name}`;
      return !this.deleted.has(k) || p.metadata?.deletionTimestamp;
    });
    return [...pods, ...[...this.created.values()].map((v) => v.pod)];
  }

  private async createPod(pod: V1Pod): Promise<void> {
    const created = await this.kube.rest.create<V1Pod>(resourcePath('v1', 'pods', pod.metadata?.namespace), pod);
    this.created.set(`${created.metadata?.namespace}/${created.metadata?.name}`, { pod: created, at: Date.now() });
    this.log(`controllers: created pod ${created.metadata?.namespace}/${created.metadata?.name} on ${created.spec?.nodeName}`);
  }

  private async deletePod(ns: string, name: string, reason: string): Promise<void> {
    await this.kube.rest.delete(resourcePath('v1', 'pods', ns, name));
    this.deleted.set(`${ns}/${name}`, Date.now());
    this.log(`controllers: deleted pod ${ns}/${name} (${reason})`);
  }

  private async writeStatus(apiVersion: string, plural: string, ns: string, name: string, status: object): Promise<void> {
    const key = `${plural}/${ns}/${name}`;
    const text = JSON.stringify(status, (k, v) => (k === 'lastTransitionTime' || k === 'lastUpdateTime' ? undefined : v));
    if (this.lastStatus.get(key) === text) return;
    try {
      await this.kube.rest.patch(resourcePath(apiVersion, plural, ns, name, 'status'), { status }, 'merge');
      this.lastStatus.set(key, text);
    } catch (e) {
      if (!isKubeApiError(e, 404)) throw e;
    }
  }

  private async markStaleNodes(): Promise<void> {
    if (this.stopped) return;
    for (const stale of staleNodes(this.nodes.list(), this.leases.list(), new Date())) {
      const now = new Date().toISOString();
      const node = this.nodes.get(stale.name);
      const conditions = (node?.status?.conditions ?? []).map((c) => (c.type === 'Ready'
        ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown', message: `Kubelet stopped posting node status (no heartbeat for ${stale.silentSeconds}s).`, lastTransitionTime: now }
        : c));
      await this.kube.rest.patch(resourcePath('v1', 'nodes', undefined, stale.name, 'status'), { status: { conditions } }, 'merge');
      this.log(`controllers: node ${stale.name} Ready=Unknown (no heartbeat for ${stale.silentSeconds}s)`);
    }
  }

  private async reconcileAll(): Promise<void> {
    const nodes = this.nodes.list();
    for (const ds of this.daemonSets.list()) {
      if (ds.metadata?.deletionTimestamp) continue;
      const plan = planDaemonSet(ds, nodes, ownedBy(this.currentPods(), ds.metadata?.uid));
      for (const d of plan.delete) {
        if (d.reason === 'failed') this.noteFailure(`${ds.metadata?.uid}/${d.nodeName}`);
        await this.deletePod(d.namespace, d.name, `daemonset ${ds.metadata?.name}: ${d.reason}`);
      }
      for (const p of plan.create) {
        if (this.backingOff(`${ds.metadata?.uid}/${p.spec?.nodeName}`)) continue;
        await this.createPod(p);
      }
      await this.writeStatus('apps/v1', 'daemonsets', ds.metadata?.namespace ?? 'default', ds.metadata?.name ?? '', plan.status);
    }
    for (const d of this.deployments.list()) {
      if (d.metadata?.deletionTimestamp) continue;
      const all = this.currentPods();
      const plan = planDeployment(d, nodes, ownedBy(all, d.metadata?.uid), all);
      for (const x of plan.delete) {
        if (x.reason === 'failed') this.noteFailure(`${d.metadata?.uid}`);
        await this.deletePod(x.namespace, x.name, `deployment ${d.metadata?.name}: ${x.reason}`);
      }
      for (const p of plan.create) {
        if (this.backingOff(`${d.metadata?.uid}`)) break;
        await this.createPod(p);
      }
      await this.writeStatus('apps/v1', 'deployments', d.metadata?.namespace ?? 'default', d.metadata?.name ?? '', plan.status);
    }
    const pods = this.pods.list();
    const slices = this.slices.list();
    for (const svc of this.services.list()) {
      const desired = desiredEndpointSlices(svc, pods);
      if (!desired) continue;
      const ns = svc.metadata?.namespace ?? 'default';
      const existing = slices.filter((s) =>
        (s.metadata?.namespace ?? 'default') === ns &&
        s.metadata?.labels?.[SERVICE_NAME_LABEL] === svc.metadata?.name &&
        s.metadata?.labels?.[MANAGED_BY_LABEL] === CONTROLLER_NAME);
      const diff = diffSlices(desired, existing);
      const base = resourcePath('discovery.k8s.io/v1', 'endpointslices', ns);
      for (const s of diff.create) {
        await this.kube.rest.create(base, s).catch((e) => { if (!isKubeApiError(e, 409)) throw e; });
      }
      for (const s of diff.update) {
        await this.kube.rest.replace(`${base}/${s.metadata?.name}`, s).catch((e) => { if (!isKubeApiError(e, 409)) throw e; this.again = true; });
      }
      for (const s of diff.delete) await this.kube.rest.delete(`${base}/${s.name}`);
    }
  }
}
