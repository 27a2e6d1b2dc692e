/**
 * The agent's Node object and heartbeat, as kubelet keeps them: create the Node with its labels,
 * addresses and Ready condition; on restart merge our labels in without touching labels others
 * added (bmlb adds baremetal.cluster.gke.io/lbnode); renew a Lease in kube-node-lease.
 */
import type { V1Node, V1NodeStatus } from '@kubernetes/client-node';
import type { Kube } from '../../kube/kube-client.js';
import { isKubeApiError, resourcePath } from '../../kube/kube-client.js';
import type { NodeAgentConfig } from './config.js';

export function nodeLabels(cfg: Pick<NodeAgentConfig, 'nodeName' | 'role' | 'labels'>): Record<string, string> {
  return {
    'kubernetes.io/hostname': cfg.nodeName,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch,
    ...(cfg.role === 'control-plane' ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
    ...cfg.labels,
  };
}

export function nodeStatus(cfg: Pick<NodeAgentConfig, 'nodeName' | 'nodeIP' | 'nodeIPv6'>, now: Date, ready = true): V1NodeStatus {
  const ts = now.toISOString() as unknown as Date;
  return {
    addresses: [
      { type: 'InternalIP', address: cfg.nodeIP },
      ...(cfg.nodeIPv6 ? [{ type: 'InternalIP', address: cfg.nodeIPv6 }] : []),
      { type: 'Hostname', address: cfg.nodeName },
    ],
    conditions: [{
      type: 'Ready',
      status: ready ? 'True' : 'False',
      reason: ready ? 'KubeletReady' : 'KubeletNotReady',
      message: ready ? 'lab node agent is posting ready status' : 'lab node agent stopped',
      lastHeartbeatTime: ts,
      lastTransitionTime: ts,
    }],
    nodeInfo: {
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      bootID: '',
      containerRuntimeVersion: 'lab://processes',
      kernelVersion: '',
      kubeProxyVersion: 'v1.32.0-lab',
      kubeletVersion: 'v1.32.0-lab',
      machineID: '',
      operatingSystem: 'linux',
      osImage: 'bmlb lab node',
      systemUUID: '',
    },
    capacity: { cpu: '2', memory: '2Gi', pods: '110' },
    allocatable: { cpu: '2', memory: '2Gi', pods: '110' },
  };
}

export class NodeRegistration {
  private timer?: NodeJS.Timeout;
  private beats = 0;

  constructor(private readonly kube: Kube, private readonly cfg: NodeAgentConfig, private readonly log: (l: string) => void) {}

  async register(): Promise<V1Node> {
    const path = resourcePath('v1', 'nodes', undefined, this.cfg.nodeName);
    const labels = nodeLabels(this.cfg);
    let node = await this.kube.rest.find<V1Node>(path);
    if (!node) {
      try {
        node = await this.kube.rest.create<V1Node>(resourcePath('v1', 'nodes'), {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name: this.cfg.nodeName, labels },
          spec: {},
          status: nodeStatus(this.cfg, new Date(), true),
        });
      } catch (e) {
        if (!isKubeApiError(e, 409)) throw e;
      }
    }
    // merge-patch adds/overwrites only our keys: labels others added stay
    node = await this.kube.rest.patch<V1Node>(path, { metadata: { labels } }, 'merge');
    await this.postStatus(true);
    return node;
  }

  async postStatus(ready: boolean): Promise<void> {
    const path = resourcePath('v1', 'nodes', undefined, this.cfg.nodeName, 'status');
    await this.kube.rest.patch(path, { status: nodeStatus(this.cfg, new Date(), ready) }, 'merge');
  }

  private async renewLease(): Promise<void> {
    const ns = 'kube-node-lease';
    const path = resourcePath('coordination.k8s.io/v1', 'leases', ns, this.cfg.nodeName);
    const now = new Date().toISOString();
    const spec = { holderIdentity: this.cfg.nodeName, leaseDurationSeconds: 40, renewTime: now };
    try {
      await this.kube.rest.patch(path, { spec }, 'merge');
    } catch (e) {
      if (!isKubeApiError(e, 404)) throw e;
      try {
        await this.kube.rest.create(resourcePath('coordination.k8s.io/v1', 'leases', ns), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.cfg.nodeName, namespace: ns },
          spec,
        });
      } catch (e2) {
        if (!isKubeApiError(e2, 404)) throw e2;
        await this.kube.rest.create(resourcePath('v1', 'namespaces'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch(() => undefined);
      }
    }
  }

  startHeartbeat(): void {
    const beat = async () => {
      try {
        await this.renewLease();
        this.beats += 1;
        // re-post status periodically, and at once when someone (the node lifecycle controller) changed Ready
        const node = await this.kube.rest.find<V1Node>(resourcePath('v1', 'nodes', undefined, this.cfg.nodeName));
        if (!node) {
          this.log('the Node object is gone; registering again');
          await this.register();
          return;
        }
        const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
        if (this.beats % 4 === 0 || ready !== 'True') await this.postStatus(true);
      } catch (e) {
        this.log(`heartbeat failed: ${(e as Error).message}`);
      }
    };
    void beat();
    this.timer = setInterval(() => void beat(), this.cfg.heartbeatSeconds * 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
