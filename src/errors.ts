/**
 * One error type for everything a user can cause (a missing file, a malformed
 * line, a bad flag, a corrupt checkpoint). The CLI turns it into one line on
 * stderr and an exit code; library code never calls process.exit itself. The
 * library exports it as `S2SError`; `code` tells kinds apart without parsing
 * the message.
 */

/** What kind of mistake: the codes a program can branch on. */
export type S2SErrorCode =
  /** A malformed or missing input file, corpus line or value (the default). */
  | 'BAD_INPUT'
  /** A bad flag or option value, or options that conflict (exit code 2). */
  | 'USAGE'
  /** An input file that does not exist. */
  | 'NOT_FOUND'
  /** A download that failed (network or HTTP status). */
  | 'DOWNLOAD'
  /** No model where one was looked for. */
  | 'MODEL_NOT_FOUND'
  /** A checkpoint or model directory that is incomplete, corrupt, or does not match itself. */
  | 'BAD_MODEL'
  /** A text to translate that is empty or too long. */
  | 'BAD_TEXT'
  /** An output that cannot be written, or would overwrite something that is not ours. */
  | 'OUTPUT'
  /** Stopped by a signal (exit code 130). */
  | 'INTERRUPTED';

export interface UserErrorOptions {
  /** Where the problem is: `file:line`, a file, or a flag such as `--beam`. */
  where?: string;
  /** A suggestion printed on a second line, e.g. the command that fixes it. */
  hint?: string;
  /** 1 for bad input (default), 2 for usage errors, 130 for interrupts. */
  exitCode?: number;
  /** Default: USAGE for exit code 2, INTERRUPTED for 130, else BAD_INPUT. */
  code?: S2SErrorCode;
}

export class UserError extends Error {
  readonly where?: string;
  readonly hint?: string;
  readonly exitCode: number;
  readonly code: S2SErrorCode;

  constructor(message: string, options: UserErrorOptions = {}) {
    super(message);
    this.name = 'S2SError';
    this.where = options.where;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
    this.code = options.code ?? (this.exitCode === 2 ? 'USAGE' : this.exitCode === 130 ? 'INTERRUPTED' : 'BAD_INPUT');
  }

  /** The same error with another code (e.g. any failure to load a checkpoint is BAD_MODEL). */
  withCode(code: S2SErrorCode): UserError {
    return new UserError(this.message, { where: this.where, hint: this.hint, exitCode: this.exitCode, code });
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
