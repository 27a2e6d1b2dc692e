/**
 * Pod status as kubelet reports it, from the runtime state of the pod's containers. Pure.
 */
import type { V1ContainerState, V1ContainerStatus, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';

export type ContainerRuntime =
  | { state: 'waiting'; reason: string; message?: string }
  | { state: 'running'; pid: number; startedAt: Date; ready: boolean }
  | { state: 'terminated'; exitCode: number; reason: string; startedAt?: Date; finishedAt: Date };

export interface ContainerRecord {
  name: string;
  image: string;
  runtime: ContainerRuntime;
  last?: Extract<ContainerRuntime, { state: 'terminated' }>;
  restartCount: number;
  capabilities: string[];
}

export interface PodRuntime {
  nodeIP: string;
  nodeIPv6?: string;
  startTime: Date;
  /** Set when the pod could not be planned or set up (then no container runs). */
  failure?: { reason: string; message: string; permanent: boolean };
  containers: ContainerRecord[];
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  /** Names and images of the spec's containers (for a pod that failed before running anything). */
  specContainers: { name: string; image: string }[];
}

function iso(d: Date | undefined): string | undefined {
  return d ? d.toISOString() : undefined;
}

function stateOf(r: ContainerRuntime): V1ContainerState {
  switch (r.state) {
    case 'waiting': return { waiting: { reason: r.reason, message: r.message } };
    case 'running': return { running: { startedAt: iso(r.startedAt) as unknown as Date } };
    case 'terminated':
      return { terminated: { exitCode: r.exitCode, reason: r.reason, startedAt: iso(r.startedAt) as unknown as Date, finishedAt: iso(r.finishedAt) as unknown as Date } };
  }
}

function condition(type: string, ok: boolean, now: string, reason?: string, message?: string): V1PodCondition {
  return { type, status: ok ? 'True' : 'False', lastTransitionTime: now as unknown as Date, reason, message };
}

/** The status to report; `now` keeps it deterministic for tests. */
export function podStatus(rt: PodRuntime, now: Date): V1PodStatus {
  const ts = now.toISOString();
  const podIPs = [{ ip: rt.nodeIP }, ...(rt.nodeIPv6 ? [{ ip: rt.nodeIPv6 }] : [])];
  const base: V1PodStatus = {
    hostIP: rt.nodeIP,
    hostIPs: podIPs,
    podIP: rt.nodeIP,
    podIPs,
    startTime: iso(rt.startTime) as unknown as Date,
    qosClass: 'BestEffort',
  };
  if (rt.failure) {
    const waiting = rt.specContainers.map<V1ContainerStatus>((c) => ({
      name: c.name,
      image: c.image,
      imageID: '',
      ready: false,
      restartCount: 0,
      started: false,
      state: { waiting: { reason: rt.failure!.reason, message: rt.failure!.message } },
    }));
    return {
      ...base,
      phase: rt.failure.permanent ? 'Failed' : 'Pending',
      reason: rt.failure.reason,
      message: rt.failure.message,
      conditions: [
        condition('PodScheduled', true, ts),
        condition('Initialized', true, ts),
        condition('ContainersReady', false, ts, rt.failure.reason, rt.failure.message),
        condition('Ready', false, ts, rt.failure.reason, rt.failure.message),
      ],
      containerStatuses: waiting,
    };
  }
  const statuses = rt.containers.map<V1ContainerStatus & { allocatedResources?: unknown }>((c) => ({
    name: c.name,
    image: c.image,
    imageID: '',
    containerID: c.runtime.state === 'running' ? `lab://${c.runtime.pid}` : undefined,
    ready: c.runtime.state === 'running' && c.runtime.ready,
    started: c.runtime.state === 'running',
    restartCount: c.restartCount,
    state: stateOf(c.runtime),
    lastState: c.last ? stateOf(c.last) : {},
  }));
  const allReady = statuses.length > 0 && statuses.every((s) => s.ready);
  const notReady = statuses.filter((s) => !s.ready).map((s) => s.name);
  const allTerminated = rt.containers.every((c) => c.runtime.state === 'terminated');
  let phase: string = 'Pending';
  if (rt.containers.some((c) => c.runtime.state === 'running')) phase = 'Running';
  else if (allTerminated && rt.restartPolicy !== 'Always') {
    const failed = rt.containers.some((c) => c.runtime.state === 'terminated' && c.runtime.exitCode !== 0);
    phase = failed && rt.restartPolicy === 'Never' ? 'Failed' : failed ? 'Running' : 'Succeeded';
  } else if (rt.containers.some((c) => c.restartCount > 0)) phase = 'Running';
  const message = notReady.length ? `containers with unready status: [${notReady.join(' ')}]` : undefined;
  const capabilities = rt.containers.filter((c) => c.capabilities.length).map((c) => `${c.name}: ${c.capabilities.join(',')}`);
  return {
    ...base,
    phase,
    conditions: [
      condition('PodScheduled', true, ts),
      condition('Initialized', true, ts),
      condition('ContainersReady', allReady, ts, allReady ? undefined : 'ContainersNotReady', message),
      condition('Ready', allReady, ts, allReady ? undefined : 'ContainersNotReady', message),
    ],
    containerStatuses: statuses,
    ...(capabilities.length ? { message: `capabilities (processes run as root in the lab): ${capabilities.join('; ')}` } : {}),
  };
}

/** Restart back-off: 1 s doubling to 10 s. */
export function restartDelayMs(consecutiveFailures: number): number {
  return Math.min(10_000, 1000 * 2 ** Math.max(0, consecutiveFailures - 1));
}
