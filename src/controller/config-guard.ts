/**
 * Drift repair: the speaker configuration (ConfigMap bmlb-system/bmlb-config) must always be what
 * the cluster file says. The desired text is derived from the applied cluster model the installer
 * records (ConfigMap bmlb-applied, key cluster.json); when bmlb-config differs — someone edited it
 * while the admission webhook was down or absent — the controller restores it at once and records
 * a Warning Event naming the command to use. When the installer itself moved the record forward
 * (`bmlb update cluster` writes bmlb-applied first), catching up is not drift: a Normal Event.
 *
 * `planGuard` is the pure decision; `startConfigGuard` the watch-and-write shell.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import type { ClusterConfig } from '../config/model.js';
import { NAMES } from '../config/model.js';
import { formatSpeakerConfig, toSpeakerConfig } from '../config/speaker-config.js';
import type { EventRecorder } from '../kube/event-recorder.js';
import { Informer } from '../kube/informer.js';
import { type Kube, isKubeApiError, resourcePath } from '../kube/kube-client.js';
import { APPLIED_CONFIGMAP } from '../provision/create/cluster-objects.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_CONFIGMAP, parseOwnerRecord } from './webhook/ownership.js';

export const CONFIG_SHA_ANNOTATION = 'bmlb.io/config-sha256';

type ConfigMapObj = V1ConfigMap & KubernetesObject;

export type DesiredConfig = { ok: true; text: string; clusterName: string } | { ok: false; reason: string };

/** The bmlb-config text the applied cluster model calls for. */
export function desiredConfigText(applied: { data?: Record<string, string> | null } | undefined): DesiredConfig {
  const json = applied?.data?.['cluster.json'];
  if (json === undefined) return { ok: false, reason: `no applied cluster model yet (ConfigMap ${APPLIED_CONFIGMAP} key cluster.json)` };
  let config: ClusterConfig;
  try {
    config = JSON.parse(json) as ClusterConfig;
    return { ok: true, text: formatSpeakerConfig(toSpeakerConfig(config)), clusterName: config.name };
  } catch (e) {
    return { ok: false, reason: `${APPLIED_CONFIGMAP} cluster.json cannot be read: ${(e as Error).message}` };
  }
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export type GuardPlan =
  | { action: 'none'; reason: 'inSync' }
  | { action: 'restore'; cause: 'drift' | 'catchUp'; body: ConfigMapObj; changed: string[] }
  | { action: 'recreate'; body: ConfigMapObj };

/** What differs between the ConfigMap and what it must be (empty = in sync). */
export function driftOf(cm: ConfigMapObj, desired: string, key: string = NAMES.configKey): string[] {
  const out: string[] = [];
  const data = cm.data ?? {};
  if (data[key] !== desired) out.push(data[key] === undefined ? `key ${key} missing` : `key ${key} changed`);
  for (const k of Object.keys(data)) if (k !== key) out.push(`extra key ${k}`);
  for (const k of Object.keys(cm.binaryData ?? {})) out.push(`extra binary key ${k}`);
  if (cm.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) out.push(`label ${MANAGED_BY_LABEL} changed`);
  const ann = cm.metadata?.annotations?.[CONFIG_SHA_ANNOTATION];
  if (ann !== undefined && ann !== sha256(desired)) out.push(`annotation ${CONFIG_SHA_ANNOTATION} changed`);
  return out;
}

/**
 * Decide what to do about the ConfigMap (`current`, undefined when deleted) given the desired text
 * and the desired text the guard knew before (undefined on start).
 */
export function planGuard(current: ConfigMapObj | undefined, desired: string, previousDesired: string | undefined, names: { namespace: string; configMap: string; key?: string } = { namespace: NAMES.namespace, configMap: NAMES.configMap }): GuardPlan {
  const key = names.key ?? NAMES.configKey;
  const labels = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, 'app.kubernetes.io/part-of': 'bmlb' };
  if (!current) {
    return {
      action: 'recreate',
      body: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: names.configMap, namespace: names.namespace, labels, annotations: { [CONFIG_SHA_ANNOTATION]: sha256(desired) } },
        data: { [key]: desired },
      },
    };
  }
  const changed = driftOf(current, desired, key);
  if (changed.length === 0) return { action: 'none', reason: 'inSync' };
  const catchUp = previousDesired !== undefined && previousDesired !== desired && driftOf(current, previousDesired, key).length === 0;
  const body: ConfigMapObj = {
    ...current,
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      ...current.metadata,
      labels: { ...(current.metadata?.labels ?? {}), ...labels },
      annotations: { ...(current.metadata?.annotations ?? {}), [CONFIG_SHA_ANNOTATION]: sha256(desired) },
    },
    data: { [key]: desired },
  };
  delete body.binaryData;
  return { action: 'restore', cause: catchUp ? 'catchUp' : 'drift', body, changed };
}

export interface ConfigGuardOptions {
  kube: Kube;
  namespace: string;
  configMap: string;
  recorder: EventRecorder;
  log?: (line: string) => void;
}

export interface ConfigGuardStats {
  /** Drifts reverted since start. */
  reverted: number;
  /** Catch-ups after `bmlb update cluster`. */
  caughtUp: number;
  /** Milliseconds from seeing the drift to the restored write, last time. */
  lastRepairMs?: number;
  lastError?: string;
}

export interface ConfigGuard {
  stats(): ConfigGuardStats;
  /** Prometheus text. */
  metrics(): string;
  stop(): void;
}

export async function startConfigGuard(opts: ConfigGuardOptions): Promise<ConfigGuard> {
  const log = opts.log ?? (() => {});
  const { kube, namespace, configMap } = opts;
  const informer = new Informer<ConfigMapObj>(kube, { path: resourcePath('v1', 'configmaps', namespace), log });
  const stats: ConfigGuardStats = { reverted: 0, caughtUp: 0 };
  let knownDesired: string | undefined;
  let running = false;
  let again = false;
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;
  const path = resourcePath('v1', 'configmaps', namespace, configMap);

  const command = (name: string): string => `bmlb update cluster -c ${name}`;

  async function pass(): Promise<void> {
    const seen = Date.now();
    const desired = desiredConfigText(informer.get(`${namespace}/${APPLIED_CONFIGMAP}`));
    if (!desired.ok) return;
    const current = informer.get(`${namespace}/${configMap}`);
    const plan = planGuard(current, desired.text, knownDesired, { namespace, configMap });
    const file = parseOwnerRecord(informer.get(`${namespace}/${OWNER_CONFIGMAP}`))?.clusterFile;
    const source = file ? `the cluster file ${file}` : `the cluster file of cluster ${desired.clusterName}`;
    if (plan.action === 'none') {
      knownDesired = desired.text;
      return;
    }
    if (plan.action === 'recreate') {
      await kube.rest.create(resourcePath('v1', 'configmaps', namespace), plan.body);
      stats.reverted += 1;
      stats.lastRepairMs = Date.now() - seen;
      knownDesired = desired.text;
      log(`config guard: ${namespace}/${configMap} was deleted; recreated it from ${source}`);
      void opts.recorder.record(plan.body, 'Warning', 'ConfigDriftReverted',
        `${namespace}/${configMap} was deleted outside bmlb; recreated it from ${source}. Change the cluster file and run \`${command(desired.clusterName)}\` instead.`);
      return;
    }
    const written = await kube.rest.replace<ConfigMapObj>(path, plan.body);
    knownDesired = desired.text;
    const obj: ConfigMapObj = { ...written, apiVersion: 'v1', kind: 'ConfigMap' };
    if (plan.cause === 'catchUp') {
      stats.caughtUp += 1;
      log(`config guard: ${namespace}/${configMap} updated to the newly applied cluster model`);
      void opts.recorder.record(obj, 'Normal', 'ConfigUpdated', `${namespace}/${configMap} follows the cluster model applied by \`${command(desired.clusterName)}\`.`);
      return;
    }
    stats.reverted += 1;
    stats.lastRepairMs = Date.now() - seen;
    log(`config guard: ${namespace}/${configMap} drifted (${plan.changed.join(', ')}); restored in ${stats.lastRepairMs} ms`);
    void opts.recorder.record(obj, 'Warning', 'ConfigDriftReverted',
      `${namespace}/${configMap} was changed outside bmlb (${plan.changed.join(', ')}); restored the content generated from ${source}. ` +
        `Change the cluster file and run \`${command(desired.clusterName)}\` instead.`);
  }

  function schedule(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    pass().then(
      () => {
        stats.lastError = undefined;
      },
      (e: unknown) => {
        stats.lastError = (e as Error).message;
        // A conflict means a newer version arrived: the watch event will run the next pass. Other
        // failures (API unreachable, forbidden) are retried after a second.
        if (!isKubeApiError(e, 409)) {
          log(`config guard: ${namespace}/${configMap} not restored: ${(e as Error).message}; retrying`);
          if (retryTimer) clearTimeout(retryTimer);
          retryTimer = setTimeout(schedule, 1000);
        }
      },
    ).finally(() => {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    });
  }

  informer.on((e) => {
    if (e.type === 'synced') return schedule();
    const name = e.object.metadata?.name;
    if (name === configMap || name === APPLIED_CONFIGMAP) schedule();
  });
  await informer.start();
  return {
    stats: () => ({ ...stats }),
    metrics: () =>
      `# HELP bmlb_config_drift_reverted_total Direct edits of the speaker ConfigMap undone by the controller.\n# TYPE bmlb_config_drift_reverted_total counter\nbmlb_config_drift_reverted_total ${stats.reverted}\n`,
    stop: () => {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      informer.stop();
    },
  };
}
