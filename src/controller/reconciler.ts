/**
 * The controller: watches LoadBalancer Services and the speaker configuration, asks the pure
 * Allocator for each Service's IPs, and writes the outcome back (status.loadBalancer.ingress, the
 * bmlb.io/address-pool annotation, and an Event explaining every assignment and every refusal).
 *
 * Order on start: the Service informer and the ConfigMap are synced first, then every Service that
 * already has IPs in its status is reconciled before any Service without, so live IPs are re-held
 * (never handed to someone else) before anything new is allocated. Work is serial, one Service at
 * a time, with per-Service retry on API errors.
 */
import type { V1ConfigMap, V1Service, KubernetesObject } from '@kubernetes/client-node';
import type { Kube } from '../kube/kube-client.js';
import { resourcePath } from '../kube/kube-client.js';
import { Informer, objectKey } from '../kube/informer.js';
import { newEventRecorder, type EventRecorder } from '../kube/event-recorder.js';
import { parseSpeakerConfig } from '../config/speaker-config.js';
import { NAMES, type SpeakerConfig } from '../config/model.js';
import { Allocator, type PoolUsage } from './allocator.js';
import { isManagedService, serviceKey, statusIPs, toServiceRequest } from './service-request.js';
import { ControllerMetrics } from './metrics.js';

export const DEFAULT_INGRESS_SERVICE = 'gke-system/istio-ingress';

export interface ControllerOptions {
  kube: Kube;
  namespace: string;
  configMap: string;
  /** `namespace/name` of the Service that gets the ingressVIP. Default gke-system/istio-ingress (GDCV's). */
  ingressService?: string;
  recorder?: EventRecorder;
  log?: (line: string) => void;
  /** First retry delay after an API error, ms (doubles to 30 s). Default 500. */
  retryMs?: number;
  /** Services reconciled in parallel. Default 4. */
  concurrency?: number;
}

export interface ControllerHandle {
  /** True once the configuration is loaded and the first full pass over the Services is done. */
  ready(): boolean;
  /** Prometheus text. */
  metrics(): string;
  usage(): PoolUsage[];
  /** Resolves when no Service is waiting to be reconciled (tests, benchmarks). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

type ServiceObj = V1Service & KubernetesObject;

export async function startController(opts: ControllerOptions): Promise<ControllerHandle> {
  const log = opts.log ?? (() => {});
  const { kube } = opts;
  const recorder = opts.recorder ?? newEventRecorder(kube, 'bmlb-controller', undefined, log);
  const ingressService = opts.ingressService ?? DEFAULT_INGRESS_SERVICE;
  const metrics = new ControllerMetrics();
  const allocator = new Allocator({ pools: [], ingressService });
  const retryBase = opts.retryMs ?? 500;

  let config: SpeakerConfig | undefined;
  let configText: string | undefined;
  let lastBadText: string | undefined;
  let servicesSynced = false;
  let begun = false;
  let firstPassLeft = new Set<string>();
  let isReady = false;
  let stopped = false;

  const pending = new Set<string>();
  const retries = new Map<string, { delay: number; timer: NodeJS.Timeout }>();
  const lastFailure = new Map<string, string>();
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const inFlight = new Set<string>();
  const workers = new Set<Promise<void>>();
  const eventsInFlight = new Set<Promise<void>>();
  const idleWaiters: (() => void)[] = [];

  const services = new Informer<ServiceObj>(kube, { path: '/api/v1/services', log });
  const configMaps = new Informer<V1ConfigMap & KubernetesObject>(kube, {
    path: resourcePath('v1', 'configmaps', opts.namespace),
    log,
  });

  const asService = (s: V1Service): ServiceObj => ({ ...s, apiVersion: 'v1', kind: 'Service' });

  function enqueue(key: string): void {
    if (stopped) return;
    pending.add(key);
    kick();
  }

  /** Up to `concurrency` Services are reconciled at once, never the same one twice at a time.
   *  Allocation order is still the queue order: each reconcile decides (synchronously) before its
   *  first API write, and workers take keys in order. */
  function kick(): void {
    if (!begun || stopped) return;
    while (inFlight.size < concurrency) {
      let key: string | undefined;
      for (const k of pending) {
        if (!inFlight.has(k)) {
          key = k;
          break;
        }
      }
      if (key === undefined) break;
      pending.delete(key);
      inFlight.add(key);
      const k = key;
      const work = reconcile(k)
        .then(
          () => {
            const r = retries.get(k);
            if (r) {
              clearTimeout(r.timer);
              retries.delete(k);
            }
          },
          (e: unknown) => {
            metrics.reconcileErrors += 1;
            const prev = retries.get(k);
            const delay = prev ? Math.min(prev.delay * 2, 30_000) : retryBase;
            if (prev) clearTimeout(prev.timer);
            log(`controller: reconcile ${k} failed: ${(e as Error).message}; retry in ${delay} ms`);
            const timer = setTimeout(() => enqueue(k), delay);
            timer.unref?.();
            retries.set(k, { delay, timer });
          },
        )
        .finally(() => {
          inFlight.delete(k);
          workers.delete(work);
          if (firstPassLeft.delete(k) && firstPassLeft.size === 0) isReady = true;
          kick();
        });
      workers.add(work);
    }
    notifyIdle();
  }

  function notifyIdle(): void {
    if (!begun || inFlight.size > 0 || pending.size > 0) return;
    for (const w of idleWaiters.splice(0)) w();
  }

  /** Events are best effort and must not slow allocation: sent in the background, awaited on stop. */
  function emitEvent(obj: KubernetesObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const p = recorder.record(obj, type, reason, message).catch(() => {});
    eventsInFlight.add(p);
    void p.finally(() => eventsInFlight.delete(p));
  }

  /** Begin once the Services are synced and a valid configuration is known. */
  function maybeBegin(): void {
    if (begun || !servicesSynced || !config) return;
    begun = true;
    const all = services.list();
    const withIps = all.filter((s) => statusIPs(s).length > 0);
    const without = all.filter((s) => statusIPs(s).length === 0);
    const byAge = (a: V1Service, b: V1Service) =>
      String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')) ||
      serviceKey(a).localeCompare(serviceKey(b));
    const ordered = [...withIps.sort(byAge), ...without.sort(byAge)].map(serviceKey);
    const rest = [...pending].filter((k) => !ordered.includes(k));
    pending.clear();
    for (const k of [...ordered, ...rest]) pending.add(k);
    firstPassLeft = new Set(pending);
    if (firstPassLeft.size === 0) isReady = true;
    log(`controller: configuration loaded, ${ordered.length} Services to reconcile (${withIps.length} with IPs first)`);
    kick();
  }

  function onConfigMap(cm: V1ConfigMap & KubernetesObject): void {
    if (cm.metadata?.name !== opts.configMap) return;
    const text = cm.data?.[NAMES.configKey];
    if (text === configText) return;
    if (text === undefined) {
      reportBadConfig(cm, [`key ${NAMES.configKey} is missing`], '');
      return;
    }
    const parsed = parseSpeakerConfig(text);
    if (!parsed.ok) {
      reportBadConfig(cm, parsed.errors, text);
      return;
    }
    config = parsed.config;
    configText = text;
    lastBadText = undefined;
    metrics.configValid = true;
    allocator.setConfig({
      pools: config.addressPools,
      controlPlaneVIP: config.controlPlaneVIP,
      ingressVIP: config.ingressVIP,
      ingressService,
    });
    log(`controller: configuration applied (pools ${config.addressPools.map((p) => p.name).join(', ') || 'none'})`);
    if (!begun) maybeBegin();
    else for (const s of services.list()) enqueue(serviceKey(s));
  }

  function reportBadConfig(cm: V1ConfigMap & KubernetesObject, errors: string[], text: string): void {
    metrics.configValid = false;
    if (text === lastBadText) return;
    lastBadText = text;
    metrics.configErrors += 1;
    const shown = errors.slice(0, 5).join('; ') + (errors.length > 5 ? `; and ${errors.length - 5} more` : '');
    const kept = config ? 'the last good configuration stays in force' : 'no Service IPs are allocated until it is fixed';
    const msg = `ConfigMap ${opts.namespace}/${opts.configMap} is invalid (${shown}); ${kept}. It is generated from the cluster file: run \`bmlb update cluster -c CLUSTER\``;
    log(`controller: ${msg}`);
    emitEvent({ ...cm, apiVersion: 'v1', kind: 'ConfigMap' }, 'Warning', 'ConfigInvalid', msg);
  }

  async function patchService(svc: V1Service, body: unknown, status: boolean): Promise<void> {
    const ns = svc.metadata?.namespace ?? 'default';
    const name = svc.metadata?.name ?? '';
    await kube.rest.patch(resourcePath('v1', 'services', ns, name, status ? 'status' : undefined), body, 'merge');
  }

  function reportFailure(svc: ServiceObj, key: string, reason: string, message: string): void {
    metrics.fail(reason);
    if (lastFailure.get(key) === message) return;
    lastFailure.set(key, message);
    log(`controller: ${key}: ${message}`);
    emitEvent(svc, 'Warning', 'AllocationFailed', message);
  }

  async function reconcile(key: string): Promise<void> {
    metrics.reconciles += 1;
    const raw = services.get(key);
    if (!raw) {
      allocator.release(key);
      lastFailure.delete(key);
      return;
    }
    const svc = asService(raw);
    if (!isManagedService(svc)) {
      allocator.release(key);
      lastFailure.delete(key);
      // A Service that stopped being ours (type change): take back what we wrote.
      if (svc.metadata?.annotations?.[NAMES.allocatedPoolAnnotation] !== undefined) {
        if (statusIPs(svc).length > 0) await patchService(svc, { status: { loadBalancer: { ingress: null } } }, true);
        await patchService(svc, { metadata: { annotations: { [NAMES.allocatedPoolAnnotation]: null } } }, false);
        log(`controller: ${key} is no longer a bmlb LoadBalancer Service; its IPs are released`);
      }
      return;
    }
    const parsed = toServiceRequest(svc);
    if (!parsed.ok) {
      reportFailure(svc, key, parsed.reason, parsed.message);
      return;
    }
    const current = statusIPs(svc);
    const d = allocator.assign(parsed.request, current);
    if (!d.ok) {
      reportFailure(svc, key, d.reason, d.message);
      return;
    }
    lastFailure.delete(key);
    const statusDiffers = current.join(',') !== d.ips.join(',');
    if (statusDiffers) {
      await patchService(svc, { status: { loadBalancer: { ingress: d.ips.map((ip) => ({ ip })) } } }, true);
      metrics.allocations += 1;
    }
    if (svc.metadata?.annotations?.[NAMES.allocatedPoolAnnotation] !== d.pool) {
      await patchService(svc, { metadata: { annotations: { [NAMES.allocatedPoolAnnotation]: d.pool } } }, false);
    }
    if (statusDiffers) {
      const what = d.ips.length === 1 ? `IP ${d.ips[0]}` : `IPs ${d.ips.join(', ')}`;
      const from = d.pool.includes(',') ? `pools ${d.pool.split(',').join(', ')}` : `pool ${d.pool}`;
      const msg = `Assigned ${what} from ${from}`;
      log(`controller: ${key}: ${msg}`);
      emitEvent(svc, 'Normal', 'IPAllocated', msg);
    }
  }

  services.on((e) => {
    if (e.type === 'synced') {
      servicesSynced = true;
      maybeBegin();
      return;
    }
    enqueue(objectKey(e.object));
  });
  configMaps.on((e) => {
    if (e.type === 'add' || e.type === 'update') onConfigMap(e.object);
    else if (e.type === 'delete' && e.object.metadata?.name === opts.configMap) {
      log(`controller: ConfigMap ${opts.namespace}/${opts.configMap} was deleted; the last good configuration stays in force`);
    }
  });

  await configMaps.start();
  await services.start();
  if (!config) log(`controller: waiting for ConfigMap ${opts.namespace}/${opts.configMap} (key ${NAMES.configKey})`);

  return {
    ready: () => isReady,
    usage: () => allocator.usage(),
    metrics: () => {
      metrics.managedServices = services.list().filter(isManagedService).length;
      return metrics.render(allocator.usage());
    },
    idle: () =>
      new Promise<void>((resolve) => {
        if (begun && inFlight.size === 0 && pending.size === 0) return resolve();
        idleWaiters.push(resolve);
      }),
    async stop() {
      stopped = true;
      services.stop();
      configMaps.stop();
      for (const r of retries.values()) clearTimeout(r.timer);
      await Promise.all([...workers]);
      await Promise.all([...eventsInFlight]);
      for (const w of idleWaiters.splice(0)) w();
    },
  };
}
