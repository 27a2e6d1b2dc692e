import { relative } from 'node:path';
import { BmlbCommand } from '../../commands-base.js';
import { UserError } from '../../errors.js';
import { checkClusterFile } from '../../config/load.js';
import type { ConfigError, ConfigNotice } from '../../config/issues.js';

export interface CheckConfigResult {
  valid: boolean;
  file: string;
  errors: ConfigError[];
  notices: ConfigNotice[];
}

export default class CheckConfig extends BmlbCommand<CheckConfigResult> {
  static override description = 'Validate a cluster file: every error at once, with its field path, line:column and the fix';

  static override examples = [
    '<%= config.bin %> check config -c lab',
    '<%= config.bin %> check config -c cluster-samples/minimal.yaml --json',
  ];

  async run(): Promise<CheckConfigResult> {
    const { flags } = await this.parse(CheckConfig);
    if (!flags.cluster) {
      throw new UserError('missing -c/--cluster', { code: 'UsageError', exitCode: 2, suggestions: ['Pass -c NAME (bmlb-workspace/NAME/NAME.yaml) or -c path/to/cluster.yaml.'] });
    }
    const r = await checkClusterFile(flags.cluster);
    const result: CheckConfigResult = { valid: r.valid, file: r.file, errors: r.errors, notices: r.notices };
    const shown = relative(process.cwd(), r.file).startsWith('..') ? r.file : relative(process.cwd(), r.file);
    if (this.jsonEnabled()) {
      if (!result.valid) {
        this.logJson(result);
        this.exit(1);
      }
      return result;
    }
    for (const e of r.errors) {
      this.log(`${shown}:${e.line}:${e.column}  ${e.path || '(file)'}  ${e.message}  [${e.code}]`);
      this.log(`    fix: ${e.suggestion}`);
    }
    for (const n of r.notices) this.log(`${shown}:${n.line}:${n.column}  ${n.path}  note: ${n.message}`);
    if (!result.valid) {
      this.log(`${shown}: invalid, ${r.errors.length} error${r.errors.length === 1 ? '' : 's'}`);
      this.exit(1);
    }
    this.log(`${shown}: valid${r.notices.length ? ` (${r.notices.length} notice${r.notices.length === 1 ? '' : 's'})` : ''}`);
    return result;
  }
}
