import { Flags } from '@oclif/core';
import { BmlbCommand } from '../../commands-base.js';
import { loadClusterConfig } from '../../config/load.js';
import { UserError } from '../../errors.js';
import type { PreflightResult } from '../../provision/preflight/checks.js';
import { formatPreflight, preflightFailedError } from '../../provision/preflight/report.js';
import { runPreflight } from '../../provision/preflight/run-preflight.js';
import { openSession } from '../../provision/session.js';

export interface PreflightCommandResult extends PreflightResult {
  cluster: string;
  logDir?: string;
}

export default class CheckPreflight extends BmlbCommand<PreflightCommandResult> {
  static override description =
    'SSH to every load balancer node and check it can run the bundled load balancer: one L2 subnet for VIPs, pools and nodes, VIPs not in use, ports free, sysctls, kubelet manifest dir, peers on the membership port, clock skew';

  static override examples = ['<%= config.bin %> check preflight -c lab', '<%= config.bin %> check preflight -c lab --json', '<%= config.bin %> check preflight -c lab --accept-new-host-keys'];

  static override flags = {
    'accept-new-host-keys': Flags.boolean({
      description: 'record host keys not yet in any known_hosts file (in bmlb-workspace/NAME/.ssh/known_hosts) instead of refusing them; a changed key is always refused',
      default: false,
    }),
    parallel: Flags.integer({ description: 'LB nodes worked on at the same time', default: 10, min: 1, max: 100 }),
  };

  async run(): Promise<PreflightCommandResult> {
    const { flags } = await this.parse(CheckPreflight);
    if (!flags.cluster) {
      throw new UserError('no cluster given', { code: 'ClusterRequired', exitCode: 2, suggestions: ['Pass -c NAME or -c path/to/cluster.yaml.'] });
    }
    const { config } = await loadClusterConfig(flags.cluster);
    const session = openSession(config, { op: 'check-preflight', acceptNewHostKeys: flags['accept-new-host-keys'], parallelism: flags.parallel });
    try {
      const { result } = await runPreflight(config, session.pool);
      const out: PreflightCommandResult = { cluster: config.name, ...result, ...(session.log.dir ? { logDir: session.log.dir } : {}) };
      if (!this.jsonEnabled()) this.log(formatPreflight(result, session.log.dir));
      if (!result.ok) throw preflightFailedError(out, flags.cluster);
      return out;
    } catch (e) {
      if (e instanceof UserError && session.log.dir) e.suggestions.push(`Every remote command and its output: ${session.log.dir}`);
      throw e;
    } finally {
      session.close();
    }
  }
}
