/**
 * The speaker daemon (`bmlb speaker`): the IO shell around the pure plan (speaker-plan.ts).
 *
 * Informers keep the ConfigMap, the membership Secret, Nodes, Services and EndpointSlices in
 * memory; membership (UDP/TCP, independent of the API) says which LB nodes are live. On every
 * change — and immediately on a membership change, the fast path of failover — the speaker
 * recomputes the plan from memory and applies it to the L2 announcer; the API is only written to
 * afterwards (Events, the announcing-node annotation), never waited for.
 */
import { createHash } from 'node:crypto';
import type { NetworkInterfaceInfo } from 'node:os';
import type { KubernetesObject, V1ConfigMap, V1EndpointSlice, V1Node, V1Secret, V1Service } from '@kubernetes/client-node';
import type { SpeakerConfig } from '../config/model.js';
import { NAMES } from '../config/model.js';
import { newEventRecorder, type EventRecorder } from '../kube/event-recorder.js';
import { Informer, type InformerEvent } from '../kube/informer.js';
import { resourcePath, type Kube } from '../kube/kube-client.js';
import { canonicalIp } from '../net/address.js';
import type { L2Announcer } from './layer2/announcer.js';
import type { Membership, MembershipOptions } from './membership.js';
import { startMetricsServer, type MetricFamily, type MetricsServer, type Sample } from './metrics.js';
import {
  diffAnnouncements, lbNodeNames, nodeView, planAnnouncements, readyEndpointNodes, serviceView,
  newElectionMemo, type ServiceView, type SpeakerPlan,
} from './speaker-plan.js';

export interface SpeakerOptions {
  nodeName: string;
  namespace: string;
  configMap: string;
  memberSecret: string;
  /** `auto`: the interface carrying the node's InternalIP. */
  interfaceName: string;
  metricsPort: number;
  /** Default: all addresses. */
  metricsHost?: string;
  /** Gap between gratuitous packets of a burst. Default 100 ms. */
  garpIntervalMs?: number;
}

export interface SpeakerDeps {
  kube: Kube;
  openAnnouncer(opts: { interfaceName: string; garpRepeat: number; garpIntervalMs?: number; log: (l: string) => void }): Promise<L2Announcer>;
  startMembership(opts: MembershipOptions): Promise<Membership>;
  parseConfig(text: string): { ok: true; config: SpeakerConfig } | { ok: false; errors: string[] };
  /** os.networkInterfaces of the speaker's network namespace. */
  interfaces(): NodeJS.Dict<NetworkInterfaceInfo[]>;
  log(line: string): void;
}

export interface SpeakerSnapshot {
  configLoaded: boolean;
  configInvalid: boolean;
  selfIp?: string;
  interfaceName?: string;
  lbNode: boolean;
  live: string[];
  announced: string[];
  failovers: number;
  plan?: SpeakerPlan;
}

export interface RunningSpeaker {
  metricsPort: number;
  snapshot(): SpeakerSnapshot;
  /** Withdraw everything, leave the membership (peers take over at once), stop watching. */
  stop(): Promise<void>;
}

interface MembershipParams {
  bindAddress: string;
  port: number;
  heartbeatIntervalMs: number;
  failureTimeoutMs: number;
  secretDigest: string;
}

const ANNOTATION_RETRY_MS = 2000;
const MIN_RECONCILE_GAP_MS = 25;
const API_WRITE_CONCURRENCY = 8;
const SECRET_RETRY_MS = 2000;
const SECRET_REFRESH_MS = 30_000;

function sameParams(a: MembershipParams | undefined, b: MembershipParams): boolean {
  return !!a && a.bindAddress === b.bindAddress && a.port === b.port && a.heartbeatIntervalMs === b.heartbeatIntervalMs
    && a.failureTimeoutMs === b.failureTimeoutMs && a.secretDigest === b.secretDigest;
}

/** The interface that carries `ip` (canonical), if any. */
export function interfaceWithAddress(ifaces: NodeJS.Dict<NetworkInterfaceInfo[]>, ip: string): string | undefined {
  for (const [name, addrs] of Object.entries(ifaces)) {
    if (name === 'lo') continue;
    if ((addrs ?? []).some((a) => canonicalIp(a.address.split('%')[0] ?? '') === ip)) return name;
  }
  return undefined;
}

export async function runSpeaker(opts: SpeakerOptions, deps: SpeakerDeps): Promise<RunningSpeaker> {
  const { kube, log } = deps;
  const self = opts.nodeName;
  const recorder: EventRecorder = newEventRecorder(kube, 'bmlb-speaker', self, log);
  const ilog = (l: string): void => log(l);

  const cmInformer = new Informer<V1ConfigMap>(kube, {
    path: resourcePath('v1', 'configmaps', opts.namespace), fieldSelector: `metadata.name=${opts.configMap}`, log: ilog,
  });
  const nodeInformer = new Informer<V1Node>(kube, { path: resourcePath('v1', 'nodes'), log: ilog });
  const serviceInformer = new Informer<V1Service>(kube, { path: resourcePath('v1', 'services'), log: ilog });
  const sliceInformer = new Informer<V1EndpointSlice>(kube, { path: resourcePath('discovery.k8s.io/v1', 'endpointslices'), log: ilog });

  // State owned by this closure (no module globals).
  let stopped = false;
  let config: SpeakerConfig | undefined;
  let configText: string | undefined;
  let configInvalid = false;
  let secret: Buffer | undefined;
  let announcer: L2Announcer | undefined;
  let announcerOpening = false;
  let interfaceName: string | undefined;
  let interfaceComplaint = '';
  let membership: Membership | undefined;
  let membershipParams: MembershipParams | undefined;
  let membershipBusy = false;
  let membershipComplaint = '';
  let peers: string[] = [];
  /** After membership (re)starts it has heard nobody yet and would claim every IP for a moment.
   *  Until every LB node is heard or one failure timeout has passed, the plan uses `settleView`
   *  instead: nobody on a first start (announce nothing), the last live set on a restart (keep
   *  announcing what we announced). `restartView` is that last live set while the restart runs. */
  let settleUntil = 0;
  let settleView: string[] = [];
  let restartView: string[] | undefined;
  let selfIp: string | undefined;
  let lbNode = false;
  let failovers = 0;
  /** The live member set the last reconcile saw (comma-joined), to notice membership changes. */
  let lastLive = '';
  let lastPlan: SpeakerPlan | undefined;
  /** IP → services it was announced for (for metrics). */
  const announcedFor = new Map<string, string[]>();
  /** Service key → last annotation write attempted (value and when), to pace retries. */
  const annotationAttempts = new Map<string, { value: string | null; at: number }>();
  let scheduled = false;

  const memo = newElectionMemo();
  let lastReconcileAt = 0;
  // Informer events are coalesced: at most one re-plan per MIN_RECONCILE_GAP_MS, so a burst of
  // thousands of watch events costs a few plans, not one each. Membership changes do not wait.
  const schedule = (): void => {
    if (scheduled || stopped) return;
    scheduled = true;
    const run = (): void => {
      scheduled = false;
      reconcile();
    };
    const wait = lastReconcileAt + MIN_RECONCILE_GAP_MS - Date.now();
    if (wait > 0) setTimeout(run, wait);
    else setImmediate(run);
  };

  const withKind = <T extends KubernetesObject>(o: T, apiVersion: string, kind: string): T => ({ ...o, apiVersion, kind });

  const readConfig = (): void => {
    const cm = cmInformer.get(`${opts.namespace}/${opts.configMap}`);
    const text = cm?.data?.[NAMES.configKey];
    if (text === undefined || text === configText) return;
    configText = text;
    const parsed = deps.parseConfig(text);
    if (parsed.ok) {
      if (configInvalid) log(`config: ${opts.namespace}/${opts.configMap} is valid again`);
      config = parsed.config;
      configInvalid = false;
      log(`config: loaded (${config.addressPools.length} pools, ${config.lbNodes.length} LB nodes, heartbeat ${config.speaker.heartbeatIntervalMs} ms, failure timeout ${config.speaker.failureTimeoutMs} ms)`);
      return;
    }
    configInvalid = true;
    const msg = `${opts.namespace}/${opts.configMap} key ${NAMES.configKey} is invalid; ${config ? 'keeping the last valid configuration' : 'no valid configuration yet, announcing nothing'}: ${parsed.errors.join('; ')}`;
    log(`config: ${msg}`);
    if (cm) enqueueWrite(() => recorder.record(withKind(cm, 'v1', 'ConfigMap'), 'Warning', 'ConfigInvalid', `${msg}. Change the cluster file and run \`bmlb update cluster\` instead of editing this ConfigMap.`));
  };

  // The Secret is read with GET only (the speaker's Role grants get on that one name, not list or
  // watch): polled every few seconds while missing, then every SECRET_REFRESH_MS for key rotation.
  let secretTimer: NodeJS.Timeout | undefined;
  let secretComplaint = '';
  const pollSecret = async (): Promise<void> => {
    let next: Buffer | undefined;
    let ok = false;
    try {
      const s = await kube.rest.find<V1Secret>(resourcePath('v1', 'secrets', opts.namespace, opts.memberSecret));
      const b64 = s?.data?.[NAMES.memberSecretKey];
      next = b64 ? Buffer.from(b64, 'base64') : undefined;
      if (next && next.length === 0) next = undefined;
      ok = true;
      secretComplaint = '';
    } catch (e) {
      const c = `reading Secret ${opts.namespace}/${opts.memberSecret}: ${(e as Error).message}`;
      if (c !== secretComplaint) log(`membership: ${c}`);
      secretComplaint = c;
    }
    if (stopped) return;
    // A failed read keeps the key we have (the API may be down; membership must go on).
    if (ok && !(next && secret && next.equals(secret)) && !(next === undefined && secret === undefined)) {
      secret = next;
      schedule();
    }
    secretTimer = setTimeout(() => void pollSecret(), secret ? SECRET_REFRESH_MS : SECRET_RETRY_MS);
    secretTimer.unref();
  };

  const readSelf = (): void => {
    const node = nodeInformer.get(self);
    if (!node) {
      selfIp = undefined;
      return;
    }
    const view = nodeView(node);
    const lbAddrs = new Set((config?.lbNodes ?? []).map((n) => canonicalIp(n.k8sIP)));
    selfIp = view.internalIPs.find((ip) => lbAddrs.has(ip)) ?? view.internalIPs[0];
  };

  const ensureAnnouncer = (): void => {
    if (announcer || announcerOpening || !config || stopped) return;
    let name = opts.interfaceName;
    if (name === 'auto') {
      if (!selfIp) return;
      const found = interfaceWithAddress(deps.interfaces(), selfIp);
      if (!found) {
        const c = `no interface carries this node's InternalIP ${selfIp}; pass --interface NAME`;
        if (c !== interfaceComplaint) log(`layer2: ${c}`);
        interfaceComplaint = c;
        return;
      }
      name = found;
    }
    announcerOpening = true;
    const garpRepeat = config.speaker.garpRepeat;
    deps.openAnnouncer({ interfaceName: name, garpRepeat, ...(opts.garpIntervalMs !== undefined ? { garpIntervalMs: opts.garpIntervalMs } : {}), log })
      .then((a) => {
        if (stopped) {
          a.close();
          return;
        }
        announcer = a;
        interfaceName = name;
        log(`layer2: answering on ${name} (${a.mac})`);
        schedule();
      })
      .catch((e: Error) => {
        const c = `cannot open ${name}: ${e.message}`;
        if (c !== interfaceComplaint) log(`layer2: ${c}`);
        interfaceComplaint = c;
        setTimeout(schedule, 2000).unref();
      })
      .finally(() => { announcerOpening = false; });
  };

  const ensureMembership = (): void => {
    if (membershipBusy || stopped) return;
    const want = config && secret && selfIp && lbNode;
    if (!want) {
      if (membership) {
        const m = membership;
        membership = undefined;
        membershipParams = undefined;
        membershipBusy = true;
        log('membership: this node is no longer an LB node (or lost its config/secret); leaving');
        void m.close({ leave: true }).finally(() => { membershipBusy = false; schedule(); });
      } else if (config && lbNode && !secret) {
        const c = `Secret ${opts.namespace}/${opts.memberSecret} (key ${NAMES.memberSecretKey}) is missing; not joining, announcing nothing`;
        if (c !== membershipComplaint) log(`membership: ${c}`);
        membershipComplaint = c;
      }
      return;
    }
    const cfg = config as SpeakerConfig;
    const params: MembershipParams = {
      bindAddress: selfIp as string,
      port: cfg.speaker.memberPort,
      heartbeatIntervalMs: cfg.speaker.heartbeatIntervalMs,
      failureTimeoutMs: cfg.speaker.failureTimeoutMs,
      secretDigest: createHash('sha256').update(secret as Buffer).digest('hex'),
    };
    const wantPeers = cfg.lbNodes.map((n) => canonicalIp(n.k8sIP) ?? n.k8sIP).filter((ip) => ip !== selfIp).sort();
    if (membership && sameParams(membershipParams, params)) {
      if (wantPeers.join(',') !== peers.join(',')) {
        peers = wantPeers;
        membership.setPeers(peers);
        log(`membership: peers now ${peers.join(', ') || '(none)'}`);
      }
      return;
    }
    // First start, or timers/port/address/secret changed: (re)start in place, no pod restart.
    membershipBusy = true;
    const old = membership;
    membership = undefined;
    if (old) restartView = old.live();
    void (async () => {
      try {
        if (old) {
          log('membership: settings changed; restarting membership');
          await old.close();
        }
        const m = await deps.startMembership({
          nodeName: self,
          bindAddress: params.bindAddress,
          port: params.port,
          peers: wantPeers,
          secret: secret as Buffer,
          heartbeatIntervalMs: params.heartbeatIntervalMs,
          failureTimeoutMs: params.failureTimeoutMs,
          log,
        });
        if (stopped) {
          await m.close({ leave: true });
          return;
        }
        membership = m;
        membershipParams = params;
        settleView = restartView ?? [];
        restartView = undefined;
        settleUntil = Date.now() + params.failureTimeoutMs;
        setTimeout(schedule, params.failureTimeoutMs + 10).unref();
        peers = wantPeers;
        membershipComplaint = '';
        m.on('change', () => reconcile()); // fast path: straight from memory, no API round trip
        log(`membership: joined on ${params.bindAddress}:${params.port}, peers ${wantPeers.join(', ') || '(none)'}`);
      } catch (e) {
        restartView = undefined;
        const c = (e as Error).message;
        if (c !== membershipComplaint) log(`membership: ${c}`);
        membershipComplaint = c;
        setTimeout(schedule, 2000).unref();
      } finally {
        membershipBusy = false;
        schedule();
      }
    })();
  };

  const serviceViews = (): ServiceView[] => {
    const out: ServiceView[] = [];
    for (const s of serviceInformer.list()) {
      const v = serviceView(s, NAMES.announcingNodeAnnotation);
      if (v) out.push(v);
    }
    return out;
  };

  // API writes (Events, annotations) go through a small queue: a takeover of a thousand IPs must
  // not open a thousand connections at once. Nothing on the announcing path waits for it.
  const writeQueue: (() => Promise<unknown>)[] = [];
  let writesRunning = 0;
  const pumpWrites = (): void => {
    while (writesRunning < API_WRITE_CONCURRENCY && writeQueue.length > 0 && !stopped) {
      const job = writeQueue.shift() as () => Promise<unknown>;
      writesRunning++;
      void job().catch(() => {}).finally(() => {
        writesRunning--;
        pumpWrites();
      });
    }
  };
  const enqueueWrite = (job: () => Promise<unknown>): void => {
    writeQueue.push(job);
    pumpWrites();
  };
  const annotationInFlight = new Set<string>();
  let annotationRetry: NodeJS.Timeout | undefined;
  const retryAnnotationsIn = (ms: number): void => {
    if (annotationRetry || stopped) return;
    annotationRetry = setTimeout(() => {
      annotationRetry = undefined;
      schedule();
    }, ms);
    annotationRetry.unref();
  };

  /**
   * Set the announcing-node annotation to this node, or remove it (`null`). The same write is
   * repeated at most every ANNOTATION_RETRY_MS (until the informer shows it landed); a re-plan is
   * scheduled for the retry, so it happens even when nothing else changes.
   */
  const patchAnnotation = (key: string, value: string | null = self): void => {
    if (annotationInFlight.has(key)) return;
    const last = annotationAttempts.get(key);
    const wait = last && last.value === value ? last.at + ANNOTATION_RETRY_MS - Date.now() : 0;
    if (wait > 0) {
      retryAnnotationsIn(wait);
      return;
    }
    annotationInFlight.add(key);
    annotationAttempts.set(key, { value, at: Date.now() });
    const [ns = 'default', name = ''] = key.split('/');
    enqueueWrite(() => kube.rest.patch(resourcePath('v1', 'services', ns, name), { metadata: { annotations: { [NAMES.announcingNodeAnnotation]: value } } }, 'merge')
      .catch((e: Error) => log(`annotation on Service ${key} not written (will retry): ${e.message}`))
      .finally(() => {
        annotationInFlight.delete(key);
        annotationAttempts.set(key, { value, at: Date.now() });
        retryAnnotationsIn(ANNOTATION_RETRY_MS);
      }));
  };

  const reconcile = (): void => {
    if (stopped) return;
    try {
      reconcileOnce();
    } finally {
      lastReconcileAt = Date.now();
    }
  };

  const reconcileOnce = (): void => {
    readConfig();
    readSelf();
    lbNode = !!config && nodeInformer.synced && lbNodeNames(config, [...nodeInformer.list()].map(nodeView)).includes(self);
    ensureAnnouncer();
    ensureMembership();
    if (!config || !announcer) return;
    const services = serviceViews();
    let liveMembers: string[];
    if (!membership) {
      liveMembers = restartView ?? [];
    } else {
      liveMembers = membership.live();
      if (Date.now() < settleUntil) {
        const lbNodes = lbNodeNames(config, nodeInformer.list().map(nodeView));
        if (!lbNodes.every((n) => liveMembers.includes(n))) liveMembers = settleView; // not settled yet
        else settleUntil = 0;
      }
    }
    const plan = planAnnouncements({
      config,
      self,
      nodes: nodeInformer.list().map(nodeView),
      services,
      readyEndpointNodes: readyEndpointNodes(sliceInformer.list()),
      liveMembers,
      memo,
    });
    lastPlan = plan;
    const changes = diffAnnouncements(announcer.announced(), plan, services, self);
    for (const c of changes) {
      if (c.kind === 'withdraw') {
        announcer.withdraw(c.ip);
        announcedFor.delete(c.ip);
        continue;
      }
      announcer.announce(c.ip);
      announcedFor.set(c.ip, c.services);
      if (c.takeoverFrom) {
        failovers++;
        log(`takeover: ${c.ip} from ${c.takeoverFrom}`);
      }
      for (const key of c.services) {
        const svc = serviceInformer.get(key);
        const mac = announcer.mac;
        if (svc) enqueueWrite(() => recorder.record(withKind(svc, 'v1', 'Service'), 'Normal', 'nodeAssigned', `announcing from node ${self}: ${c.ip} (layer2, ${mac})`));
      }
    }
    // After any membership change, re-claim what we keep announcing: if this node was cut off, the
    // others took its IPs and neighbours learnt their MACs; now that it is back and elected again it
    // must say so, or clients keep the stale MAC until that node dies too (then for an ARP timeout).
    const live = liveMembers.join(',');
    if (live !== lastLive) {
      const fresh = new Set(changes.filter((c) => c.kind !== 'withdraw').map((c) => c.ip));
      if (lastLive !== '') for (const ip of announcer.announced()) if (!fresh.has(ip)) announcer.refresh(ip);
      lastLive = live;
    }
    // Keep the services' announcing-node annotation on us for what we announce (retried, rate limited).
    const byKey = new Map(services.map((s) => [s.key, s]));
    const planByIp = new Map(plan.ips.map((p) => [p.ip, p]));
    for (const [ip, keys] of announcedFor) {
      const p = planByIp.get(ip);
      announcedFor.set(ip, p?.services ?? keys);
      for (const key of p?.services ?? keys) {
        if (byKey.get(key)?.announcingNode !== self) patchAnnotation(key);
        else annotationAttempts.delete(key);
      }
    }
    // When every speaker agrees nobody announces an IP (no candidate, or outside every pool), the
    // node the annotation still names removes it, so nothing claims an announcer that is not there.
    const servingFor = new Set([...announcedFor.values()].flat());
    for (const p of plan.ips) {
      if (p.decision.announce || (p.decision.reason !== 'noCandidates' && p.decision.reason !== 'notInAnyPool')) continue;
      for (const key of p.services) {
        if (byKey.get(key)?.announcingNode === self && !servingFor.has(key)) patchAnnotation(key, null);
      }
    }
  };

  const onEvent = (e: InformerEvent<KubernetesObject>): void => {
    if (e.type !== 'synced') schedule();
  };
  for (const inf of [cmInformer, nodeInformer, serviceInformer, sliceInformer] as Informer<KubernetesObject>[]) inf.on(onEvent);

  const counter = (name: string, help: string, value: () => number): MetricFamily => ({ name, help, type: 'counter', samples: () => [{ value: value() }] });
  const gauge = (name: string, help: string, value: () => number): MetricFamily => ({ name, help, type: 'gauge', samples: () => [{ value: value() }] });
  const stat = (k: keyof ReturnType<L2Announcer['stats']>): number => announcer?.stats()[k] ?? 0;
  const families: MetricFamily[] = [
    gauge('bmlb_speaker_announced_ips', 'Service IPs this node announces.', () => announcer?.announced().length ?? 0),
    {
      name: 'bmlb_speaker_announced', help: 'Service IPs this node announces, per IP and Service (value 1).', type: 'gauge',
      samples: () => {
        const out: Sample[] = [];
        for (const [ip, keys] of announcedFor) for (const k of keys) out.push({ labels: { ip, service: k, node: self, protocol: 'layer2' }, value: 1 });
        return out;
      },
    },
    counter('bmlb_speaker_arp_requests_total', 'ARP who-has received for announced IPv4 addresses.', () => stat('arpRequests')),
    counter('bmlb_speaker_arp_replies_total', 'ARP replies sent.', () => stat('arpReplies')),
    counter('bmlb_speaker_ndp_solicitations_total', 'Neighbor Solicitations received for announced IPv6 addresses.', () => stat('ndpSolicitations')),
    counter('bmlb_speaker_ndp_adverts_total', 'Solicited Neighbor Advertisements sent.', () => stat('ndpAdverts')),
    counter('bmlb_speaker_gratuitous_sent_total', 'Gratuitous ARPs and unsolicited Neighbor Advertisements sent.', () => stat('gratuitousSent')),
    counter('bmlb_speaker_send_errors_total', 'Frames the kernel refused to send.', () => stat('sendErrors')),
    gauge('bmlb_speaker_members', 'Live LB-node speakers in the membership, this one included.', () => {
      if (!membership) return 0;
      const lbNodes = lastPlan?.lbNodes;
      return membership.live().filter((n) => !lbNodes || lbNodes.includes(n)).length;
    }),
    counter('bmlb_speaker_failovers_total', 'Service IPs this node took over from another node.', () => failovers),
    gauge('bmlb_speaker_config_invalid', '1 while the ConfigMap holds an invalid configuration (the last valid one stays in force).', () => (configInvalid ? 1 : 0)),
    gauge('bmlb_speaker_config_loaded', '1 once a valid configuration was loaded.', () => (config ? 1 : 0)),
    gauge('bmlb_speaker_lb_node', '1 when this node is an LB node.', () => (lbNode ? 1 : 0)),
    {
      name: 'bmlb_speaker_membership_messages_total', help: 'Membership messages sent and accepted.', type: 'counter',
      samples: () => {
        const s = membership?.stats();
        return [{ labels: { direction: 'sent' }, value: s?.sent ?? 0 }, { labels: { direction: 'received' }, value: s?.received ?? 0 }];
      },
    },
    {
      name: 'bmlb_speaker_membership_dropped_total', help: 'Membership messages dropped, by reason.', type: 'counter',
      samples: () => {
        const s = membership?.stats();
        return [
          { labels: { reason: 'auth' }, value: s?.droppedAuth ?? 0 },
          { labels: { reason: 'replay' }, value: s?.droppedReplay ?? 0 },
          { labels: { reason: 'stale' }, value: s?.droppedStale ?? 0 },
          { labels: { reason: 'malformed' }, value: s?.droppedMalformed ?? 0 },
        ];
      },
    },
  ];

  const metrics: MetricsServer = await startMetricsServer({
    port: opts.metricsPort,
    ...(opts.metricsHost !== undefined ? { host: opts.metricsHost } : {}),
    families: () => families,
    health: {
      live: () => !stopped,
      ready: () => {
        const reasons: string[] = [];
        if (!config) reasons.push(configInvalid ? 'the configuration is invalid' : 'no configuration yet');
        if (!announcer) reasons.push('layer 2 not open');
        if (lbNode && !membership) reasons.push('membership not running');
        return { ready: reasons.length === 0, reasons };
      },
    },
  });
  log(`metrics on :${metrics.port} (/metrics, /healthz, /readyz)`);

  const informers = [cmInformer, nodeInformer, serviceInformer, sliceInformer];
  // Start watching; do not block on the API (it may be down); reconcile as caches fill.
  for (const inf of informers) void inf.start().then(schedule);
  void pollSecret();

  return {
    metricsPort: metrics.port,
    snapshot: () => ({
      configLoaded: !!config,
      configInvalid,
      ...(selfIp !== undefined ? { selfIp } : {}),
      ...(interfaceName !== undefined ? { interfaceName } : {}),
      lbNode,
      live: membership?.live() ?? [],
      announced: announcer?.announced() ?? [],
      failovers,
      ...(lastPlan ? { plan: lastPlan } : {}),
    }),
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const inf of informers) inf.stop();
      if (secretTimer) clearTimeout(secretTimer);
      if (annotationRetry) clearTimeout(annotationRetry);
      announcer?.close();
      announcer = undefined;
      const m = membership;
      membership = undefined;
      if (m) await m.close({ leave: true });
      await metrics.close();
    },
  };
}
