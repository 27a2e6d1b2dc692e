/**
 * Writes core/v1 Events about objects, the way controllers do: one Event per (object, reason,
 * message), with its count bumped when the same thing happens again.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Kube } from './kube-client.js';
import { isKubeApiError, resourcePath } from './kube-client.js';
import { createHash } from 'node:crypto';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** `obj` must carry apiVersion and kind (items of a list response do not: set them). */
  record(obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void>;
}

interface CoreEvent {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  count?: number;
  lastTimestamp?: string;
}

export function newEventRecorder(kube: Kube, component: string, host?: string, log?: (l: string) => void): EventRecorder {
  return {
    async record(obj, type, reason, message) {
      const ns = obj.metadata?.namespace ?? 'default';
      const digest = createHash('sha256')
        .update(`${obj.kind}/${ns}/${obj.metadata?.name}/${obj.metadata?.uid}/${reason}/${message}`)
        .digest('hex')
        .slice(0, 10);
      const name = `${obj.metadata?.name}.${digest}`;
      const path = resourcePath('v1', 'events', ns, name);
      const now = new Date().toISOString();
      try {
        const existing = await kube.rest.find<CoreEvent>(path);
        if (existing) {
          await kube.rest.patch(path, { count: (existing.count ?? 1) + 1, lastTimestamp: now }, 'merge');
          return;
        }
        await kube.rest.create(resourcePath('v1', 'events', ns), {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name, namespace: ns },
          involvedObject: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name: obj.metadata?.name,
            namespace: obj.metadata?.namespace,
            uid: obj.metadata?.uid,
            resourceVersion: obj.metadata?.resourceVersion,
          },
          type,
          reason,
          message,
          source: { component, host },
          reportingComponent: component,
          reportingInstance: host ?? component,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        });
      } catch (e) {
        // Events are best effort: never fail the caller's reconcile because of one.
        if (!isKubeApiError(e, 409)) log?.(`event ${reason} on ${obj.kind} ${ns}/${obj.metadata?.name} not recorded: ${(e as Error).message}`);
      }
    },
  };
}
