import { Flags } from '@oclif/core';
import { BmlbCommand } from '../../commands-base.js';
import { loadConfigFile } from '../../lab/apiserver/config.js';
import { startApiServer } from '../../lab/apiserver/server.js';

export interface LabApiServerResult {
  url: string;
  stopped: string;
}

/** Runs the lab's in-memory Kubernetes API server until SIGTERM/SIGINT (used by `bmlb lab up`). */
export default class LabApiserver extends BmlbCommand<LabApiServerResult> {
  static override hidden = true;
  static override description = 'Run the lab Kubernetes API server (in-memory, for the lab only)';
  static override flags = {
    config: Flags.string({ description: 'API server config file (apiserver.json written by the lab)', required: true, helpValue: 'FILE' }),
  };

  async run(): Promise<LabApiServerResult> {
    const { flags } = await this.parse(LabApiserver);
    const config = await loadConfigFile(flags.config);
    const server = await startApiServer(config);
    if (!this.jsonEnabled()) this.log(`lab API server listening on ${server.url}`);
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    await server.close();
    return { url: server.url, stopped: signal };
  }
}
