/**
 * The one error type shown to users. Anything else that escapes a command is a bug and is
 * reported as such (with a stack trace only under BMLB_DEBUG=1).
 */
export type ExitCode = 1 | 2 | 3;

export interface UserErrorOptions {
  /** Stable machine-readable code, e.g. `ConfigInvalid`, `SshHostKeyUnknown`. */
  code: string;
  /** What to do about it; each entry is one actionable sentence. */
  suggestions?: string[];
  /** 1: the input or the environment is wrong (default); 2: usage error; 3: a remote operation failed. */
  exitCode?: ExitCode;
  /** Structured details for `--json` consumers. */
  data?: unknown;
  cause?: unknown;
}

export class UserError extends Error {
  readonly code: string;
  readonly suggestions: string[];
  readonly exitCode: ExitCode;
  readonly data: unknown;

  constructor(message: string, options: UserErrorOptions) {
    super(message, { cause: options.cause });
    this.name = 'UserError';
    this.code = options.code;
    this.suggestions = options.suggestions ?? [];
    this.exitCode = options.exitCode ?? 1;
    this.data = options.data;
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
