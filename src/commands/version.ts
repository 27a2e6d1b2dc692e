import { BmlbCommand } from '../commands-base.js';
import { createRequire } from 'node:module';

export interface VersionResult {
  bmlb: string;
  node: string;
}

export default class Version extends BmlbCommand<VersionResult> {
  static override description = 'Print the bmlb version and the Node.js it runs on';

  async run(): Promise<VersionResult> {
    await this.parse(Version);
    const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };
    const result = { bmlb: pkg.version, node: process.version };
    this.log(`bmlb ${result.bmlb} (node ${result.node})`);
    return result;
  }
}
