import { Flags } from '@oclif/core';
import { BmlbCommand } from '../../commands-base.js';
import type { LabDownResult } from '../../lab/lab-down.js';
import { labDown } from '../../lab/lab-down.js';
import { systemLabIo } from '../../lab/lab-io.js';
import { DEFAULT_LAB_OPTIONS } from '../../lab/lab-layout.js';

export default class LabDown extends BmlbCommand<LabDownResult> {
  static override description = 'Take the lab down: end its processes, delete its namespaces and its state (idempotent)';

  static override flags = {
    name: Flags.string({ description: 'lab name', default: DEFAULT_LAB_OPTIONS.name }),
    'keep-logs': Flags.boolean({ description: 'keep the log directory of the lab', default: false }),
  };

  async run(): Promise<LabDownResult> {
    const { flags } = await this.parse(LabDown);
    const r = await labDown(systemLabIo, { name: flags.name, keepLogs: flags['keep-logs'] });
    if (!r.existed) this.log(`no lab named ${r.name}: nothing to do`);
    else this.log(`lab ${r.name} is down: ${r.processesEnded} processes ended, ${r.namespacesDeleted.length} namespaces deleted${r.keptLogs ? `; logs kept in ${r.keptLogs}` : ''}`);
    return r;
  }
}
