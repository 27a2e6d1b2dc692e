/**
 * The node agent's configuration file (`node-agent.json`, written by the lab for each node).
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { UserError } from '../../errors.js';

export const nodeAgentConfigSchema = z.object({
  nodeName: z.string().min(1),
  nodeIP: z.string().min(1),
  nodeIPv6: z.string().min(1).optional(),
  role: z.enum(['control-plane', 'lb']),
  labels: z.record(z.string(), z.string()).default({}),
  apiServer: z.string().url(),
  caFile: z.string().min(1),
  token: z.string().min(1),
  manifestDir: z.string().min(1).default('/etc/kubernetes/manifests'),
  stateDir: z.string().min(1).default('/run/bmlb-node-agent'),
  bmlbBin: z.string().min(1),
  runControllers: z.boolean().default(false),
  /** Service forwarding with nftables (kube-proxy stand-in); on unless switched off. */
  serviceProxy: z.boolean().default(true),
  logFile: z.string().min(1).optional(),
  /** Node heartbeat (Lease renewal) interval, seconds. */
  heartbeatSeconds: z.number().positive().default(10),
  /** Rescan interval of manifestDir, ms (fs.watch also triggers a rescan). */
  rescanMs: z.number().int().positive().default(1000),
});

export type NodeAgentConfig = z.infer<typeof nodeAgentConfigSchema>;

export async function loadNodeAgentConfig(path: string): Promise<NodeAgentConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read the node agent config ${path}: ${(e as Error).message}`, {
      code: 'NodeAgentConfigMissing',
      suggestions: ['Pass --config with the node-agent.json the lab wrote for this node (nodes/NODE/node-agent.json).'],
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(`the node agent config ${path} is not JSON: ${(e as Error).message}`, {
      code: 'NodeAgentConfigInvalid',
      suggestions: ['Recreate the lab (bmlb lab down && bmlb lab up) so it rewrites node-agent.json.'],
    });
  }
  const parsed = nodeAgentConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new UserError(`the node agent config ${path} is invalid: ${errors.join('; ')}`, {
      code: 'NodeAgentConfigInvalid',
      data: { errors },
      suggestions: ['Fix the named fields, or recreate the lab so it rewrites node-agent.json.'],
    });
  }
  return parsed.data;
}
