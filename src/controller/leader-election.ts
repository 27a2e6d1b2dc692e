/**
 * Leader election on a coordination.k8s.io/v1 Lease, for running more than one controller replica:
 * exactly one allocates at a time. Pure decision (`decideLease`) + a small IO loop (`runLeaderElection`).
 *
 * As in client-go, expiry is judged by this process's own clock from the moment it last saw the
 * Lease record change (holder/renewTime), never by comparing another host's timestamps, so clock
 * skew between nodes does not matter. Writes carry the resourceVersion read, so two candidates
 * cannot both take over: the loser gets 409 and follows.
 */
import type { Kube } from '../kube/kube-client.js';
import { isKubeApiError, resourcePath } from '../kube/kube-client.js';

export interface LeaseRecord {
  holder?: string;
  /** The holder's renewTime, as written (only compared for change, never against our clock). */
  renewTime?: string;
  durationMs: number;
  transitions: number;
}

export type LeaseDecision =
  | { kind: 'create' }
  | { kind: 'renew' }
  | { kind: 'takeOver'; from?: string }
  | { kind: 'follow'; holder: string; expiresInMs: number };

/**
 * @param record  the Lease as read (undefined: none exists)
 * @param observedAt  our clock when we first saw this exact record (holder + renewTime)
 */
export function decideLease(input: { record: LeaseRecord | undefined; observedAt: number; me: string; now: number }): LeaseDecision {
  const { record, observedAt, me, now } = input;
  if (!record) return { kind: 'create' };
  if (!record.holder) return { kind: 'takeOver' };
  if (record.holder === me) return { kind: 'renew' };
  const expiresInMs = observedAt + record.durationMs - now;
  if (expiresInMs < 0) return { kind: 'takeOver', from: record.holder };
  return { kind: 'follow', holder: record.holder, expiresInMs };
}

export interface LeaderElectionOptions {
  kube: Kube;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  /** How often the leader renews and followers retry. Default leaseDuration / 3. */
  retryMs?: number;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
  log?: (line: string) => void;
  clock?: () => number;
}

interface LeaseObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface LeaderElection {
  isLeader(): boolean;
  /** Stop campaigning. By default a leader releases the Lease (empty holder) so a standby takes over
   *  at once; `release: false` leaves it to expire (what a crash looks like to the others). */
  stop(opts?: { release?: boolean }): Promise<void>;
}

export function runLeaderElection(opts: LeaderElectionOptions): LeaderElection {
  const clock = opts.clock ?? Date.now;
  const log = opts.log ?? (() => {});
  const durationMs = opts.leaseDurationMs ?? 15_000;
  const retryMs = opts.retryMs ?? Math.max(100, Math.floor(durationMs / 3));
  const path = resourcePath('coordination.k8s.io/v1', 'leases', opts.namespace, opts.name);
  let leader = false;
  let stopped = false;
  let lastRenewOk = 0;
  let observedKey = '';
  let observedAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function setLeader(v: boolean): Promise<void> {
    if (v === leader) return;
    leader = v;
    log(`leader election: ${v ? 'now leading' : 'stopped leading'} (lease ${opts.namespace}/${opts.name}, identity ${opts.identity})`);
    await (v ? opts.onStartedLeading() : opts.onStoppedLeading());
  }

  function body(lease: LeaseObject | undefined, transitions: number, acquire: boolean): LeaseObject {
    const now = clock();
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: opts.name, namespace: opts.namespace, resourceVersion: lease?.metadata?.resourceVersion },
      spec: {
        holderIdentity: opts.identity,
        leaseDurationSeconds: Math.max(1, Math.ceil(durationMs / 1000)),
        acquireTime: acquire ? microTime(now) : lease?.spec?.acquireTime ?? microTime(now),
        renewTime: microTime(now),
        leaseTransitions: transitions,
      },
    };
  }

  async function once(): Promise<void> {
    const now = clock();
    try {
      const lease = await opts.kube.rest.find<LeaseObject>(path);
      const record: LeaseRecord | undefined = lease
        ? {
            holder: lease.spec?.holderIdentity,
            renewTime: lease.spec?.renewTime,
            durationMs: (lease.spec?.leaseDurationSeconds ?? Math.ceil(durationMs / 1000)) * 1000,
            transitions: lease.spec?.leaseTransitions ?? 0,
          }
        : undefined;
      const key = `${record?.holder ?? ''}|${record?.renewTime ?? ''}`;
      if (key !== observedKey) {
        observedKey = key;
        observedAt = now;
      }
      const d = decideLease({ record, observedAt, me: opts.identity, now });
      switch (d.kind) {
        case 'create':
          await opts.kube.rest.create(resourcePath('coordination.k8s.io/v1', 'leases', opts.namespace), body(undefined, 0, true));
          break;
        case 'renew':
          await opts.kube.rest.replace(path, body(lease, record!.transitions, false));
          break;
        case 'takeOver':
          log(`leader election: taking over from ${d.from ?? '(nobody)'}`);
          await opts.kube.rest.replace(path, body(lease, record!.transitions + 1, true));
          break;
        case 'follow':
          lastRenewOk = 0;
          await setLeader(false);
          return;
      }
      lastRenewOk = clock();
      await setLeader(true);
    } catch (e) {
      if (isKubeApiError(e, 409) || isKubeApiError(e, 422)) {
        log('leader election: lost a race for the lease; following');
      } else {
        log(`leader election: ${(e as Error).message}`);
      }
      // A leader that cannot renew steps down before its lease can expire for the others.
      if (leader && clock() - lastRenewOk > durationMs - retryMs) await setLeader(false);
    }
  }

  const loop = () => {
    if (stopped) return;
    running = once().finally(() => {
      if (!stopped) timer = setTimeout(loop, retryMs);
    });
  };
  loop();

  return {
    isLeader: () => leader,
    async stop(stopOpts) {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      if (leader && stopOpts?.release === false) {
        await setLeader(false);
      } else if (leader) {
        // Release: an empty holder lets a follower take over at once.
        try {
          const lease = await opts.kube.rest.find<LeaseObject>(path);
          if (lease?.spec?.holderIdentity === opts.identity) {
            await opts.kube.rest.replace(path, { ...lease, spec: { ...lease.spec, holderIdentity: '' } });
          }
        } catch (e) {
          log(`leader election: could not release the lease: ${(e as Error).message}`);
        }
        await setLeader(false);
      }
    },
  };
}
