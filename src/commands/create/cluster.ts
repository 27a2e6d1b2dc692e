import { Flags } from '@oclif/core';
import { BmlbCommand } from '../../commands-base.js';
import { loadClusterConfig } from '../../config/load.js';
import { UserError } from '../../errors.js';
import { type CreateClusterResult, newCreateContext, summarize } from '../../provision/create/create-cluster.js';
import { runCreatePhases } from '../../provision/create/progress.js';
import { openSession } from '../../provision/session.js';

export default class CreateCluster extends BmlbCommand<CreateClusterResult> {
  static override description =
    'Create the bundled load balancer on a cluster: preflight, keepalived + HAProxy static pods on the LB nodes (restored on failure), the control-plane VIP, node labels, speaker and controller';

  static override examples = ['<%= config.bin %> create cluster -c lab', '<%= config.bin %> create cluster -c lab --json', '<%= config.bin %> create cluster -c lab --kubeconfig ~/.kube/config --accept-new-host-keys'];

  static override flags = {
    'skip-preflight': Flags.boolean({ description: 'do not run the preflight checks first (node facts are still read)', default: false }),
    'accept-new-host-keys': Flags.boolean({
      description: 'record host keys not yet in any known_hosts file (in bmlb-workspace/NAME/.ssh/known_hosts) instead of refusing them; a changed key is always refused',
      default: false,
    }),
    parallel: Flags.integer({ description: 'LB nodes worked on at the same time', default: 10, min: 1, max: 100 }),
    kubeconfig: Flags.string({ description: 'kubeconfig of the cluster (default: kubeconfigPath from the cluster file)', helpValue: 'PATH' }),
    'wait-timeout': Flags.integer({ description: 'seconds to wait for the VIP, the nodes and the workloads, each', default: 180, min: 1 }),
  };

  async run(): Promise<CreateClusterResult> {
    const { flags } = await this.parse(CreateCluster);
    if (!flags.cluster) {
      throw new UserError('no cluster given', { code: 'ClusterRequired', exitCode: 2, suggestions: ['Pass -c NAME or -c path/to/cluster.yaml.'] });
    }
    const { config } = await loadClusterConfig(flags.cluster);
    const session = openSession(config, { op: 'create-cluster', acceptNewHostKeys: flags['accept-new-host-keys'], parallelism: flags.parallel });
    const ctx = newCreateContext(config, session, {
      skipPreflight: flags['skip-preflight'],
      ...(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {}),
      waitTimeoutMs: flags['wait-timeout'] * 1000,
    });
    const mode = this.jsonEnabled() ? 'silent' : process.stdout.isTTY ? 'tty' : 'plain';
    try {
      await runCreatePhases(ctx, mode, (line) => this.log(line));
    } catch (e) {
      if (e instanceof UserError && session.log.dir) e.suggestions.push(`Every remote command and its output: ${session.log.dir}`);
      throw e;
    } finally {
      session.close();
    }
    const result = summarize(ctx);
    if (!this.jsonEnabled()) {
      this.log('');
      this.log(`Cluster ${result.cluster}: control-plane VIP ${result.controlPlaneVIP}:${result.controlPlaneLBPort}${result.holder ? ` held by ${result.holder.address} (${result.holder.hostname})` : ''}`);
      this.log(`kubeconfig: ${result.kubeconfig}`);
      this.log(result.changed ? 'Changes were applied.' : 'Everything was already in place; nothing changed.');
      if (result.logDir) this.log(`log: ${result.logDir}`);
    }
    return result;
  }
}
