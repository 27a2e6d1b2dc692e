import { Command, Flags } from '@oclif/core';
import { UserError, isUserError } from './errors.js';

/**
 * Base for every bmlb command: commands stay thin (parse flags, call a core function, return a
 * typed result). `--json` is free: oclif prints the returned value. User errors print their code,
 * message and suggestions (or a JSON error object) and exit with their exit code; usage errors
 * exit 2; anything else is reported as a bug.
 */
export abstract class BmlbCommand<T> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    cluster: Flags.string({
      char: 'c',
      description: 'cluster name (bmlb-workspace/NAME/NAME.yaml) or path to a cluster file',
      helpValue: 'NAME|PATH',
    }),
  };

  abstract override run(): Promise<T>;

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (isUserError(err)) {
      this.reportUserError(err);
      this.exit(err.exitCode);
    }
    // oclif parse errors (unknown flag, missing arg) are usage errors: exit 2.
    const name = err?.constructor?.name ?? '';
    if (/^(CLIParseError|RequiredArgsError|NonExistentFlagsError|UnexpectedArgsError|FailedFlagValidationError|ArgInvalidOptionError|FlagInvalidOptionError)$/.test(name)) {
      const ue = new UserError(err.message.split('\n')[0] ?? err.message, {
        code: 'UsageError',
        exitCode: 2,
        suggestions: [`Run \`bmlb ${this.id?.replaceAll(':', ' ') ?? ''} --help\` for the flags and arguments.`],
      });
      this.reportUserError(ue);
      this.exit(2);
    }
    if (err?.oclif?.exit !== undefined) throw err; // this.exit() and friends
    if (process.env.BMLB_DEBUG !== '1') {
      const ue = new UserError(`internal error (a bug in bmlb): ${err.message}`, {
        code: 'InternalError',
        exitCode: 1,
        suggestions: ['Rerun with BMLB_DEBUG=1 for the stack trace and report it.'],
      });
      this.reportUserError(ue);
      this.exit(1);
    }
    throw err;
  }

  protected reportUserError(err: UserError): void {
    if (this.jsonEnabled()) {
      this.logJson({
        status: err.exitCode,
        error: { code: err.code, message: err.message, suggestions: err.suggestions, data: err.data },
      });
      return;
    }
    process.stderr.write(`Error (${err.code}): ${err.message}\n`);
    for (const s of err.suggestions) process.stderr.write(`  Try this: ${s}\n`);
  }
}
