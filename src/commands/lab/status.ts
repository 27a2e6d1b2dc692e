import { Flags } from '@oclif/core';
import { BmlbCommand } from '../../commands-base.js';
import { systemLabIo } from '../../lab/lab-io.js';
import { DEFAULT_LAB_OPTIONS } from '../../lab/lab-layout.js';
import type { LabStatus } from '../../lab/lab-state.js';
import { labStatus } from '../../lab/lab-state.js';
import { printSummary } from '../../lab/lab-summary.js';

export default class LabStatusCommand extends BmlbCommand<LabStatus> {
  static override description = 'Show the lab: files, namespaces, nodes and whether its processes are alive';

  static override flags = {
    name: Flags.string({ description: 'lab name', default: DEFAULT_LAB_OPTIONS.name }),
  };

  async run(): Promise<LabStatus> {
    const { flags } = await this.parse(LabStatusCommand);
    const s = labStatus(flags.name, systemLabIo);
    this.log(`lab ${s.name}: ${s.phase}${s.healthy ? ', healthy' : ', NOT healthy'}${s.error ? ` (${s.error})` : ''}`);
    printSummary((line) => this.log(line), s);
    for (const p of s.processes) this.log(`  ${p.alive ? 'alive' : 'DEAD '} ${String(p.pid).padStart(7)}  ${p.what}`);
    return s;
  }
}
