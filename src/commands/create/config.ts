import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Flags } from '@oclif/core';
import { BmlbCommand } from '../../commands-base.js';
import { UserError } from '../../errors.js';
import { resolveClusterFile } from '../../config/load.js';
import { sampleClusterFile } from '../../config/sample.js';
import { DNS_LABEL } from '../../config/validate.js';

export interface CreateConfigResult {
  file: string;
  overwritten: boolean;
}

/** The package's schema/cluster.schema.json, found upwards from this file (src/ or dist/src/). */
function findSchema(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'schema', 'cluster.schema.json');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return undefined;
}

export default class CreateConfig extends BmlbCommand<CreateConfigResult> {
  static override description = 'Write a commented sample cluster file to bmlb-workspace/NAME/NAME.yaml';

  static override examples = ['<%= config.bin %> create config -c lab', '<%= config.bin %> create config -c lab --force'];

  static override flags = {
    force: Flags.boolean({ description: 'overwrite an existing cluster file', default: false }),
  };

  async run(): Promise<CreateConfigResult> {
    const { flags } = await this.parse(CreateConfig);
    const name = flags.cluster;
    if (!name) {
      throw new UserError('missing -c/--cluster', { code: 'UsageError', exitCode: 2, suggestions: ['Pass -c NAME; the file is written to bmlb-workspace/NAME/NAME.yaml.'] });
    }
    if (!DNS_LABEL.test(name)) {
      throw new UserError(`"${name}" is not a valid cluster name`, { code: 'ClusterNameInvalid', exitCode: 2, suggestions: ['Use lower-case letters, digits and "-" (a DNS label), e.g. -c lab.'] });
    }
    const file = resolveClusterFile(name);
    const exists = existsSync(file);
    if (exists && !flags.force) {
      throw new UserError(`${file} already exists`, { code: 'ConfigExists', suggestions: [`Edit it, or pass --force to replace it with a fresh sample.`] });
    }
    await mkdir(dirname(file), { recursive: true });
    const schemaRef = findSchema();
    await writeFile(file, sampleClusterFile({ name, ...(schemaRef ? { schemaRef } : {}) }), { mode: 0o644 });
    this.log(`Wrote ${file}`);
    this.log(`Fill in the <...> placeholders, then run: bmlb check config -c ${name}`);
    return { file, overwritten: exists };
  }
}
