import { BmlbCommand } from '../commands-base.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package.json above this module (src/ under tsx, dist/src/ when built). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

export interface VersionResult {
  bmlb: string;
  node: string;
}

export default class Version extends BmlbCommand<VersionResult> {
  static override description = 'Print the bmlb version and the Node.js it runs on';

  async run(): Promise<VersionResult> {
    await this.parse(Version);
    const result = { bmlb: packageVersion(), node: process.version };
    this.log(`bmlb ${result.bmlb} (node ${result.node})`);
    return result;
  }
}
