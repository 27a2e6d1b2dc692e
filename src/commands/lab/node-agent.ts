import { Flags } from '@oclif/core';
import { BmlbCommand } from '../../commands-base.js';
import { loadNodeAgentConfig } from '../../lab/node-agent/config.js';
import { NodeAgent } from '../../lab/node-agent/agent.js';

export interface NodeAgentResult {
  node: string;
  stoppedBy: string;
}

export default class LabNodeAgent extends BmlbCommand<NodeAgentResult> {
  static override hidden = true;
  static override description =
    'Run the lab node agent (kubelet and kube-proxy stand-in) for one lab node; the lab starts it inside the node\'s namespaces';

  static override flags = {
    config: Flags.string({ description: 'node-agent.json written by the lab for this node', required: true, helpValue: 'FILE' }),
  };

  async run(): Promise<NodeAgentResult> {
    const { flags } = await this.parse(LabNodeAgent);
    const cfg = await loadNodeAgentConfig(flags.config);
    const agent = new NodeAgent(cfg);
    const stopped = new Promise<string>((resolve) => {
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve(sig));
    });
    const startFailure = agent.start().then(() => new Promise<never>(() => undefined));
    let signal: string;
    try {
      signal = await Promise.race([stopped, startFailure]);
    } finally {
      await agent.stop();
    }
    return { node: cfg.nodeName, stoppedBy: signal };
  }
}
