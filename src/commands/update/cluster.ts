import { Flags } from '@oclif/core';
import { BmlbCommand } from '../../commands-base.js';
import { loadClusterConfig } from '../../config/load.js';
import { UserError } from '../../errors.js';
import { openSession } from '../../provision/session.js';
import { show } from '../../provision/update/update-plan.js';
import { type UpdateClusterResult, updateCluster } from '../../provision/update/update-cluster.js';

export default class UpdateCluster extends BmlbCommand<UpdateClusterResult> {
  static override description =
    'Apply the mutable changes of the cluster file to a running cluster (new pools, avoidBuggyIPs, manualAssign, LB nodes, VRRP and speaker tunables); refuse immutable ones';

  static override examples = [
    '<%= config.bin %> update cluster -c lab --dry-run',
    '<%= config.bin %> update cluster -c lab',
    '<%= config.bin %> update cluster -c lab --kubeconfig bmlb-workspace/lab/lab-kubeconfig --json',
  ];

  static override flags = {
    'dry-run': Flags.boolean({ description: 'print the plan and stop (nothing is changed)', default: false }),
    kubeconfig: Flags.string({ description: 'kubeconfig of the cluster (default: bmlb-workspace/NAME/NAME-kubeconfig from create cluster)', helpValue: 'PATH' }),
    'accept-new-host-keys': Flags.boolean({ description: 'record host keys of new LB nodes not yet in any known_hosts file', default: false }),
    parallel: Flags.integer({ description: 'LB nodes worked on at the same time', default: 10, min: 1, max: 100 }),
    'wait-timeout': Flags.integer({ description: 'seconds to wait for new LB nodes to appear in the cluster', default: 180, min: 1 }),
  };

  async run(): Promise<UpdateClusterResult> {
    const { flags } = await this.parse(UpdateCluster);
    if (!flags.cluster) {
      throw new UserError('no cluster given', { code: 'ClusterRequired', exitCode: 2, suggestions: ['Pass -c NAME or -c path/to/cluster.yaml.'] });
    }
    const { config } = await loadClusterConfig(flags.cluster);
    const quiet = this.jsonEnabled();
    const result = await updateCluster(config, {
      dryRun: flags['dry-run'],
      ...(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {}),
      waitTimeoutMs: flags['wait-timeout'] * 1000,
      openSession: () => openSession(config, { op: 'update-cluster', acceptNewHostKeys: flags['accept-new-host-keys'], parallelism: flags.parallel }),
      progress: quiet ? undefined : (line) => this.log(line),
    });
    if (!quiet) {
      const p = result.plan;
      if (p.changes.length === 0) this.log(`Cluster ${result.cluster} already matches its cluster file.`);
      else {
        this.log(`Plan for cluster ${result.cluster}:`);
        for (const c of p.changes) this.log(`  ${c.path}: ${show(c.old)} → ${show(c.new)}`);
        for (const [t, why] of Object.entries(p.targets)) this.log(`  will update ${t} (${why.length} change${why.length === 1 ? '' : 's'})`);
      }
      for (const i of result.invalidatedIPs) this.log(`  warning: Service ${i.service} keeps ${i.ips.join(', ')}: ${i.reason}`);
      if (result.dryRun) this.log('Dry run: nothing was changed.');
      else this.log(result.changed ? 'Changes applied; the speakers and the controller reload them live.' : 'Nothing changed.');
    }
    return result;
  }
}
