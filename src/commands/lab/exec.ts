import { Flags } from '@oclif/core';
import { BmlbCommand } from '../../commands-base.js';
import { labSpawn } from '../../lab/lab-exec.js';
import { systemLabIo } from '../../lab/lab-io.js';
import { DEFAULT_LAB_OPTIONS } from '../../lab/lab-layout.js';
import { labStatus } from '../../lab/lab-state.js';

export interface LabExecResult {
  target: string;
  exitCode: number;
}

export default class LabExec extends BmlbCommand<LabExecResult> {
  static override description =
    'Run a command inside the lab: in the admin (default), client, router or segment namespace, or on a node (its network, mount and UTS namespaces)';

  static override examples = [
    '<%= config.bin %> lab exec -- ping -c1 198.51.100.21',
    '<%= config.bin %> lab exec --ns lb1 -- ip addr show eth0',
  ];

  static override strict = false;

  static override flags = {
    name: Flags.string({ description: 'lab name', default: DEFAULT_LAB_OPTIONS.name }),
    ns: Flags.string({ description: 'admin, client, router, segment or a node name', default: 'admin' }),
  };

  async run(): Promise<LabExecResult> {
    // Everything after `--` is the command, verbatim (oclif would reorder its dash options).
    const raw = [...this.argv];
    const dashes = raw.indexOf('--');
    const { flags, argv } = await this.parse(LabExec, dashes >= 0 ? raw.slice(0, dashes) : raw);
    const command = dashes >= 0 ? raw.slice(dashes + 1) : (argv as string[]);
    const lab = labStatus(flags.name, systemLabIo);
    const child = labSpawn(lab, flags.ns, command, { stdio: 'inherit' });
    const exitCode = await new Promise<number>((resolve) => {
      child.on('error', () => resolve(127));
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
    });
    if (exitCode !== 0) this.exit(exitCode);
    return { target: flags.ns, exitCode };
  }
}
