/**
 * The node agents inside a real lab (started by `lab up`): every node registers, and a client on
 * the segment reaches a LoadBalancer Service IP held by one node whose only endpoint runs on
 * another node (Cluster policy: DNAT + masquerade), or only on the holding node (Local policy:
 * the backend sees the client's own address). All API access goes through kubectl in the lab's
 * admin namespace: the lab's addresses are never contacted from the host's own namespace.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node } from '@kubernetes/client-node';
import { startTestLab, type TestLab } from '../../helpers/lab.js';
import { startBackend, type Backend } from '../../helpers/backend.js';
import { waitFor } from './netns-node.js';

describe('lab node agents: registration and Service forwarding across nodes', () => {
  let lab: TestLab;
  const backends: Backend[] = [];
  before(async () => {
    lab = await startTestLab({ tag: 'nafwd', nodes: 3, lbNodes: 2 });
  }, { timeout: 120_000 });
  after(async () => {
    for (const b of backends) await b.stop().catch(() => undefined);
    await lab?.down();
  }, { timeout: 60_000 });

  const node = (name: string) => lab.status.nodes.find((n) => n.name === name)!;
  const curl = (url: string) => lab.exec('client', ['curl', '-s', '-m', '2', '-D', '-', url]);
  const kubectl = async (args: string[], input?: string) => {
    const r = await lab.kubectl(args, { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const loadBalancer = async (name: string, ip: string, targetPort: number, policy: 'Cluster' | 'Local') => {
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: policy, ports: [{ name: 'http', port: 80, targetPort }] },
    }));
    await kubectl(['patch', 'service', name, '-n', 'default', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { loadBalancer: { ingress: [{ ip }] } } })]);
    // what the speaker would do: make the client send the Service IP to lb1's MAC
    const mac = (await lab.nodeExec('lb1', ['cat', '/sys/class/net/eth0/address'])).stdout.trim();
    const r = await lab.exec('client', ['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'dev', 'eth0', 'nud', 'permanent']);
    assert.equal(r.code, 0, r.stderr);
  };
  const backendOn = async (nodeName: string, service: string, port: number) => {
    backends.push(await startBackend({
      spawn: (argv) => lab.nodeSpawn(nodeName, argv, { stdio: ['ignore', 'pipe', 'pipe'] }),
      kubectl: (args, input) => lab.kubectl(args, { input }),
      node: { name: nodeName, address: node(nodeName).address },
      port,
      service: { namespace: 'default', name: service, portName: 'http' },
    }));
  };

  it('GIVEN a lab WHEN it is up THEN every node is registered Ready with its InternalIP', async () => {
    const nodes = await waitFor('nodes ready', async () => {
      const list = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json'])) as { items: V1Node[] };
      const ready = list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === lab.status.nodes.length ? list.items : undefined;
    });
    for (const n of lab.status.nodes) {
      const got = nodes.find((x) => x.metadata?.name === n.name);
      assert.equal(got?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address, n.address, n.name);
    }
  });

  it('GIVEN an LB IP answered by lb1 and a backend on lb2 WHEN the client connects THEN it is forwarded across nodes (Cluster policy, masqueraded)', async () => {
    await loadBalancer('cross', '198.51.100.230', 8080, 'Cluster');
    await backendOn('lb2', 'cross', 8080);
    const res = await waitFor('client reaches the Service through lb1', async () => {
      const r = await curl('http://198.51.100.230/');
      return r.stdout.includes('lb2') ? r.stdout : undefined;
    }, 20_000, 300);
    assert.match(res, new RegExp(`x-client-address: ${node('lb1').address.replaceAll('.', '\\.')}\\r?\\n`));
  });

  it('GIVEN externalTrafficPolicy Local and a backend on the announcing node WHEN the client connects THEN the backend sees the client address', async () => {
    await loadBalancer('local', '198.51.100.231', 8081, 'Local');
    await backendOn('lb1', 'local', 8081);
    const res = await waitFor('client reaches the Local Service', async () => {
      const r = await curl('http://198.51.100.231/');
      return r.stdout.includes('lb1') ? r.stdout : undefined;
    }, 20_000, 300);
    assert.match(res, /x-client-address: 198\.51\.100\.3\r?\n/);
  });

  it('GIVEN externalTrafficPolicy Local with the only backend on another node WHEN the client connects to lb1 THEN it is refused, not forwarded', async () => {
    await loadBalancer('remote', '198.51.100.232', 8082, 'Local');
    await backendOn('lb2', 'remote', 8082);
    await waitFor('refused', async () => {
      const r = await lab.exec('client', ['curl', '-s', '-m', '2', 'http://198.51.100.232/']);
      return r.code === 7 ? true : undefined;
    }, 20_000, 300);
  });
});
