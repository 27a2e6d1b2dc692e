import { createInterface } from 'node:readline/promises';
import { Flags } from '@oclif/core';
import { BmlbCommand } from '../../commands-base.js';
import { loadClusterConfig } from '../../config/load.js';
import { UserError } from '../../errors.js';
import { type ResetClusterResult, resetCluster } from '../../provision/reset/reset-cluster.js';
import { confirmed, resetGate } from '../../provision/reset/reset-plan.js';
import { openSession } from '../../provision/session.js';
import { connectApi, kubeconfigCandidates } from '../../status/cluster-api.js';
import { tcpOpen } from '../../status/gather-status.js';

export default class ResetCluster extends BmlbCommand<ResetClusterResult> {
  static override description =
    'Remove the bundled load balancer from a cluster: bmlb\'s in-cluster objects (namespace bmlb-system, RBAC, admission guards), the LB node label, then on every LB node the keepalived/HAProxy static pods (the VIP is released), their configs, /etc/bmlb, /var/lib/bmlb (backups) and the sysctl file. Idempotent; unreachable nodes are reported and the rest proceeds. Refused when the Cluster carries baremetal.cluster.gke.io/prevent-deletion: "true".';

  static override examples = ['<%= config.bin %> reset cluster -c lab', '<%= config.bin %> reset cluster -c lab --force --json'];

  static override flags = {
    force: Flags.boolean({ description: 'do not ask for confirmation (required when not on a terminal)', default: false }),
    'accept-new-host-keys': Flags.boolean({ description: 'record host keys not yet in any known_hosts file instead of refusing them', default: false }),
    parallel: Flags.integer({ description: 'LB nodes worked on at the same time', default: 10, min: 1, max: 100 }),
    kubeconfig: Flags.string({ description: 'kubeconfig to use when the one create cluster wrote does not answer (default: kubeconfigPath from the cluster file)', helpValue: 'PATH' }),
    'wait-timeout': Flags.integer({ description: 'seconds to wait for the static pods to stop, the namespace to go and the VIP to fall silent, each', default: 60, min: 1 }),
  };

  async run(): Promise<ResetClusterResult> {
    const { flags } = await this.parse(ResetCluster);
    if (!flags.cluster) {
      throw new UserError('no cluster given', { code: 'ClusterRequired', exitCode: 2, suggestions: ['Pass -c NAME or -c path/to/cluster.yaml.'] });
    }
    const { config } = await loadClusterConfig(flags.cluster);
    const interactive = !this.jsonEnabled() && process.stdin.isTTY === true && process.stdout.isTTY === true;
    const gate = resetGate(config, { force: flags.force, interactive });
    if (gate.kind === 'refuse') throw gate.error;
    if (gate.kind === 'ask') {
      const lb = config.loadBalancer;
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      const answer = await rl.question(
        `This removes the load balancer of cluster ${config.name}: the control-plane VIP ${lb.controlPlaneVIP} stops answering, ` +
          `Service IPs are no longer announced, and bmlb's files go from ${lb.nodes.map((n) => n.address).join(', ')}.\n` +
          `Type the cluster name (${config.name}) or "yes" to continue: `,
      );
      rl.close();
      if (!confirmed(answer, config.name)) {
        throw new UserError('reset cancelled; nothing was changed', { code: 'ResetCancelled', exitCode: 1, suggestions: [`Run it again and type ${config.name} to confirm, or pass --force.`] });
      }
    }
    const session = openSession(config, { op: 'reset-cluster', acceptNewHostKeys: flags['accept-new-host-keys'], parallelism: flags.parallel });
    let result: ResetClusterResult;
    try {
      result = await resetCluster(
        config,
        { nodes: session.pool, api: () => connectApi(kubeconfigCandidates(config, session.workspaceDir, flags.kubeconfig)), tcpOpen },
        { waitMs: flags['wait-timeout'] * 1000, onProgress: (m) => (this.jsonEnabled() ? undefined : this.log(`  ${m}`)) },
      );
    } finally {
      session.close();
    }
    if (session.log.dir) result.logDir = session.log.dir;
    if (!this.jsonEnabled()) {
      this.log('');
      for (const n of result.nodes) {
        const what = n.outcome === 'nothing-to-do' ? 'nothing to remove' : n.outcome === 'failed' ? `FAILED at ${n.error?.step}: ${n.error?.message}` : `removed ${n.removed.length} path(s)`;
        this.log(`${n.address}: ${what}${n.sysctls.length ? `; ${n.sysctls.map((s) => `${s.key}=${s.to}`).join(', ')}` : ''}${n.keptForeign.length ? `; left ${n.keptForeign.join(', ')} (not bmlb's)` : ''}`);
      }
      const o = result.clusterObjects;
      if (o) this.log(`cluster: ${o.deleted.length} object(s) deleted, ${o.unlabelled.length} node label(s) removed`);
      this.log(`control-plane VIP ${result.controlPlaneVIP.address}:${result.controlPlaneVIP.port}: ${result.controlPlaneVIP.answering ? 'STILL ANSWERS' : 'silent'}`);
      if (!result.changed) this.log('Nothing to do: bmlb was not installed here (or was already reset).');
      else if (result.clean) this.log(`Cluster ${result.cluster} no longer has bmlb's load balancer.`);
    }
    if (!result.clean) {
      throw new UserError(`reset of cluster ${config.name} is incomplete: ${result.problems.join('; ')}`, {
        code: 'ResetIncomplete',
        exitCode: 1,
        data: result,
        suggestions: ['Fix what is named (an unreachable node: bring it back or clean it by hand), then rerun bmlb reset cluster; it only does what is left.', ...(result.logDir ? [`Every remote command and its output: ${result.logDir}`] : [])],
      });
    }
    return result;
  }
}
