import { Flags } from '@oclif/core';
import { BmlbCommand } from '../../commands-base.js';
import { systemLabIo } from '../../lab/lab-io.js';
import { DEFAULT_LAB_OPTIONS } from '../../lab/lab-layout.js';
import type { LabUpResult } from '../../lab/lab-up.js';
import { labUp } from '../../lab/lab-up.js';
import { printSummary } from '../../lab/lab-summary.js';

export default class LabUp extends BmlbCommand<LabUpResult> {
  static override description =
    'Build the lab: an L2 segment of network namespaces with SSH nodes, a lab Kubernetes API and node agents (root only)';

  static override examples = ['<%= config.bin %> lab up', '<%= config.bin %> lab up --name lab2 --nodes 3 --lb-nodes 2 --ipv6'];

  static override flags = {
    name: Flags.string({ description: 'lab name (namespaces bmlb-NAME-*, state in /var/lib/bmlb-lab/NAME)', default: DEFAULT_LAB_OPTIONS.name }),
    nodes: Flags.integer({ description: 'number of nodes, control plane and LB together', default: DEFAULT_LAB_OPTIONS.nodes }),
    'lb-nodes': Flags.integer({ description: 'how many of the nodes are LB nodes (0: the control plane runs the LB)', default: DEFAULT_LAB_OPTIONS.lbNodes }),
    ipv6: Flags.boolean({ description: 'give every namespace an IPv6 address too (2001:db8:100::/64)', default: false }),
    kube: Flags.boolean({ description: 'start the lab API server and node agents', default: true, allowNo: true }),
    'keep-on-failure': Flags.boolean({ description: 'leave a lab that failed to come up in place, for inspection', default: false }),
  };

  async run(): Promise<LabUpResult> {
    const { flags } = await this.parse(LabUp);
    const result = await labUp(systemLabIo, {
      name: flags.name,
      nodes: flags.nodes,
      lbNodes: flags['lb-nodes'],
      ipv6: flags.ipv6,
      kube: flags.kube,
      keepOnFailure: flags['keep-on-failure'],
    });
    this.log(`lab ${result.name} is up (${(result.timings.total! / 1000).toFixed(1)} s)`);
    printSummary((s) => this.log(s), result);
    return result;
  }
}
