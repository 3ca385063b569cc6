/**
 * One error type for everything a user can cause (a missing file, a malformed
 * line, a bad flag, a corrupt checkpoint). The CLI turns it into one line on
 * stderr and an exit code; library code never calls process.exit itself.
 */
export interface UserErrorOptions {
  /** Where the problem is: `file:line`, a file, or a flag such as `--beam`. */
  where?: string;
  /** A suggestion printed on a second line, e.g. the command that fixes it. */
  hint?: string;
  /** 1 for bad input (default), 2 for usage errors, 130 for interrupts. */
  exitCode?: number;
}

export class UserError extends Error {
  readonly where?: string;
  readonly hint?: string;
  readonly exitCode: number;

  constructor(message: string, options: UserErrorOptions = {}) {
    super(message);
    this.name = 'UserError';
    this.where = options.where;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** A usage error (bad flag value, conflicting flags): exit code 2. */
export function usageError(message: string, flag: string, hint?: string): UserError {
  return new UserError(message, { where: flag, hint, exitCode: 2 });
}

/** The one line the CLI prints for a user error: `s2s: error: <what> (<where>)`. */
export function formatUserError(err: UserError): string {
  const where = err.where ? ` (${err.where})` : '';
  const hint = err.hint ? `\ns2s: hint: ${err.hint}` : '';
  return `s2s: error: ${err.message}${where}${hint}`;
}

/** The first line of an error's message (or of its string form), trimmed. */
export function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.trim();
}
