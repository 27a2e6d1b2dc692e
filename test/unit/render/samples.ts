/**
 * The render test samples: a cluster file, the node facts preflight would have read, and the
 * optional webhook CA. The cluster files are parsed by the real config parser.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseClusterFile } from '../../../src/config/parse.js';
import type { ClusterConfig } from '../../../src/config/model.js';
import type { RenderInput } from '../../../src/render/render-all.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURES = join(REPO, 'test', 'fixtures', 'render');

export function loadCluster(path: string): ClusterConfig {
  const r = parseClusterFile(readFileSync(path, 'utf8'), path);
  if (!r.ok) throw new Error(`${path} does not validate: ${JSON.stringify(r.errors, null, 1)}`);
  return r.config;
}

export interface Sample {
  name: string;
  input: RenderInput;
}

export function samples(): Sample[] {
  const lab = loadCluster(join(REPO, 'cluster-samples', 'lab.yaml'));
  const v6 = loadCluster(join(FIXTURES, 'v6-cp.cluster.yaml'));
  return [
    {
      // The default lab (docs/lab.md): three LB nodes on eth0 /24, multicast VRRP, no webhook CA yet.
      name: 'lab',
      input: {
        config: lab,
        nodeFacts: {
          '198.51.100.21': { interface: 'eth0', prefixLength: 24, hostname: 'lb1' },
          '198.51.100.22': { interface: 'eth0', prefixLength: 24, hostname: 'lb2' },
          '198.51.100.23': { interface: 'eth0', prefixLength: 24, hostname: 'lb3' },
        },
        bmlbImage: `bmlb:${lab.loadBalancer.bmlb.versions.bmlb}`,
      },
    },
    {
      // IPv6 VIP on the control-plane nodes, unicast VRRP, webhook and admission policy rendered.
      name: 'v6-cp',
      input: {
        config: v6,
        nodeFacts: {
          '2001:db8:100::11': { interface: 'eth0', prefixLength: 64, hostname: 'cp1' },
          '198.51.100.12': { interface: 'ens3', prefixLength: 64, hostname: 'cp2.example.test' },
          '2001:db8:100::13': { interface: 'eth0', prefixLength: 64, hostname: 'cp3' },
        },
        webhookCA: readFileSync(join(FIXTURES, 'webhook-ca.pem'), 'utf8'),
        bmlbImage: `registry.example.test/bmlb/bmlb:${v6.loadBalancer.bmlb.versions.bmlb}`,
        installerUsername: 'bmlb-installer',
      },
    },
  ];
}
