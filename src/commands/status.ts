import { Flags } from '@oclif/core';
import { BmlbCommand } from '../commands-base.js';
import { loadClusterConfig } from '../config/load.js';
import { UserError } from '../errors.js';
import { openSession } from '../provision/session.js';
import { apiUnreachableError, connectApi, kubeconfigCandidates } from '../status/cluster-api.js';
import { gatherStatus, httpGet, tcpOpen } from '../status/gather-status.js';
import { type StatusReport, buildStatusReport, formatStatus } from '../status/status-report.js';

export default class Status extends BmlbCommand<StatusReport> {
  static override description =
    'Show the load balancer of a cluster: which LB node holds the control-plane VIP and whether it answers, every LoadBalancer Service with its IP, pool and announcing node, pool usage, speaker and controller health. Exits 0 when degraded (and says so), 1 when the API cannot be reached.';

  static override examples = ['<%= config.bin %> status -c lab', '<%= config.bin %> status -c lab --json'];

  static override flags = {
    kubeconfig: Flags.string({ description: 'kubeconfig to use when the one create cluster wrote does not answer (default: kubeconfigPath from the cluster file)', helpValue: 'PATH' }),
    timeout: Flags.integer({ description: 'seconds to wait for each probe (API, SSH command, VIP connect, metrics)', default: 5, min: 1 }),
  };

  async run(): Promise<StatusReport> {
    const { flags } = await this.parse(Status);
    if (!flags.cluster) {
      throw new UserError('no cluster given', { code: 'ClusterRequired', exitCode: 2, suggestions: ['Pass -c NAME or -c path/to/cluster.yaml.'] });
    }
    const { config } = await loadClusterConfig(flags.cluster);
    const session = openSession(config, { op: 'status', acceptNewHostKeys: false });
    try {
      const api = await connectApi(kubeconfigCandidates(config, session.workspaceDir, flags.kubeconfig), flags.timeout * 1000);
      if (!api.ok) throw apiUnreachableError(config.name, api.failed);
      const facts = await gatherStatus(
        config,
        { nodes: session.pool, rest: api.kube.rest, tcpOpen, httpGet },
        { kubeconfig: api.kubeconfig, via: api.via },
        { timeoutMs: flags.timeout * 1000 },
      ).catch((e: unknown) => {
        if (e instanceof UserError) throw e;
        throw apiUnreachableError(config.name, [{ path: api.kubeconfig, via: api.via, error: e instanceof Error ? e.message : String(e) }]);
      });
      const report = buildStatusReport(facts);
      if (!this.jsonEnabled()) for (const line of formatStatus(report)) this.log(line);
      return report;
    } finally {
      session.close();
    }
  }
}
