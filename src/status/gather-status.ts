/**
 * The IO shell of `bmlb status`: reads the API objects, asks every LB node over SSH which of its
 * interfaces holds the controlPlaneVIP (`ip -j addr show`), tries a TCP connect to VIP:port and
 * scrapes each speaker's /metrics. Every source that fails becomes a fact ("unreachable"), never
 * an exception, so a degraded cluster still gets a full report.
 */
import http from 'node:http';
import type { ClusterConfig } from '../config/model.js';
import { NAMES } from '../config/model.js';
import { type KubeRest, isKubeApiError, resourcePath } from '../kube/kube-client.js';
import { parseIp } from '../net/address.js';
import { mapSettled } from '../provision/parallel.js';
import { interfaceHolding, parseIpAddrJson } from '../provision/preflight/facts.js';
import type { NodeConnector } from '../provision/ssh/ssh-pool.js';
import { parsePrometheus } from '../speaker/metrics.js';
import type { MetricsFact, NodeFact, ServiceFact, SpeakerPodFact, StatusFacts, VipNodeFact } from './status-report.js';
import { tcpOpen } from '../provision/tcp-probe.js';
export { tcpOpen };

export interface StatusIo {
  nodes: NodeConnector;
  rest: KubeRest;
  tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean>;
  httpGet(url: string, timeoutMs: number): Promise<string>;
}


export function httpGet(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) resolve(Buffer.concat(chunks).toString('utf8'));
        else reject(new Error(`HTTP ${res.statusCode}`));
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

function hostPort(ip: string, port: number): string {
  return parseIp(ip)?.family === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

interface ServiceObj {
  metadata: { namespace?: string; name: string; annotations?: Record<string, string> };
  spec?: { type?: string; externalTrafficPolicy?: string };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}
interface NodeObj {
  metadata: { name: string };
  status?: { addresses?: { type: string; address: string }[] };
}
interface PodObj {
  metadata: { name: string };
  spec?: { nodeName?: string };
  status?: { conditions?: { type: string; status: string }[]; containerStatuses?: { restartCount?: number }[] };
}
interface DeploymentObj {
  spec?: { replicas?: number };
  status?: { readyReplicas?: number };
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export async function gatherStatus(config: ClusterConfig, io: StatusIo, api: StatusFacts['api'], opts: { timeoutMs?: number } = {}): Promise<StatusFacts> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const lb = config.loadBalancer;
  const ns = NAMES.namespace;

  const [vipNodes, vipAnswering, nodeList, svcList, podList, deployment] = await Promise.all([
    mapSettled(lb.nodes, io.nodes.parallelism, async (n) => {
      const sh = await io.nodes.get(n.address);
      const r = await sh.run('ip -j addr show', { timeoutMs: timeoutMs * 3 });
      if (r.code !== 0) throw new Error(r.stderr.trim() || `ip -j addr show exited ${r.code}`);
      return interfaceHolding(parseIpAddrJson(r.stdout), lb.controlPlaneVIP);
    }).then((rs) =>
      rs.map((r, i): VipNodeFact => {
        const n = lb.nodes[i] as (typeof lb.nodes)[number];
        if (!r.ok) return { address: n.address, k8sIP: n.k8sIP, state: { kind: 'unreachable', error: errText(r.error) } };
        return { address: n.address, k8sIP: n.k8sIP, state: r.value ? { kind: 'holds', iface: r.value.iface.name } : { kind: 'free' } };
      }),
    ),
    io.tcpOpen(lb.controlPlaneVIP, lb.controlPlaneLBPort, timeoutMs),
    io.rest.get<{ items: NodeObj[] }>(resourcePath('v1', 'nodes')),
    io.rest.get<{ items: ServiceObj[] }>(resourcePath('v1', 'services')),
    io.rest.get<{ items: PodObj[] }>(resourcePath('v1', 'pods', ns), { labelSelector: 'app.kubernetes.io/name=bmlb-speaker' }),
    io.rest.find<DeploymentObj>(resourcePath('apps/v1', 'deployments', ns, 'bmlb-controller')).catch((e: unknown) => {
      if (isKubeApiError(e, 404)) return undefined;
      throw e;
    }),
  ]);

  const nodes: NodeFact[] = nodeList.items.map((n) => ({
    name: n.metadata.name,
    internalIPs: (n.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
  }));
  const services: ServiceFact[] = svcList.items.map((s) => ({
    namespace: s.metadata.namespace ?? 'default',
    name: s.metadata.name,
    type: s.spec?.type ?? 'ClusterIP',
    ips: (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => !!ip),
    annotations: s.metadata.annotations ?? {},
    externalTrafficPolicy: s.spec?.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
  }));
  const speakerPods: SpeakerPodFact[] = podList.items.map((p) => ({
    name: p.metadata.name,
    ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
    ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    restarts: (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
  }));

  // Metrics: the speaker is hostNetwork, so it listens on the node's InternalIP.
  const speakerMetrics: Record<string, MetricsFact> = {};
  await Promise.all(
    speakerPods.map(async (p) => {
      if (!p.nodeName) return;
      const ip = nodes.find((n) => n.name === p.nodeName)?.internalIPs[0];
      if (!ip) {
        speakerMetrics[p.nodeName] = { reachable: false, error: 'the Node has no InternalIP' };
        return;
      }
      try {
        const text = await io.httpGet(`http://${hostPort(ip, lb.bmlb.speaker.metricsPort)}/metrics`, timeoutMs);
        speakerMetrics[p.nodeName] = { reachable: true, announcedIPs: parsePrometheus(text).get('bmlb_speaker_announced_ips') };
      } catch (e) {
        speakerMetrics[p.nodeName] = { reachable: false, error: errText(e) };
      }
    }),
  );

  return {
    cluster: config.name,
    api,
    controlPlaneVIP: lb.controlPlaneVIP,
    controlPlaneLBPort: lb.controlPlaneLBPort,
    ...(lb.ingressVIP ? { ingressVIP: lb.ingressVIP } : {}),
    pools: lb.addressPools,
    vipNodes,
    vipAnswering,
    nodes,
    services,
    speakerPods,
    speakerMetrics,
    controller: { found: deployment !== undefined, replicas: deployment?.spec?.replicas ?? 0, readyReplicas: deployment?.status?.readyReplicas ?? 0 },
    announcingAnnotation: NAMES.announcingNodeAnnotation,
    poolAnnotation: NAMES.allocatedPoolAnnotation,
  };
}
