/**
 * The one place that turns errors into exit codes: a user mistake is one line
 * on stderr (exit 1, or 2 for usage), help and version exit 0, anything else is
 * an internal error (exit 70) whose stack goes to a crash file. S2S_DEBUG=1
 * adds the stack of either to stderr.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { firstLine, formatUserError, UserError } from '../errors.ts';
import { ioError, isErrno, writeNewFile } from '../fs-atomic.ts';
import { buildProgram } from './program.ts';

export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

export interface MainIO {
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Where the stack of an internal error is written (created new; an existing file is never overwritten). */
  crashFile: () => string;
}

/** A crash log in a fresh private directory (mkdtemp, mode 0700): no name to predict, no link to follow. */
export function privateCrashFile(): string {
  return join(mkdtempSync(join(tmpdir(), 's2s-crash-')), 'crash.log');
}

function defaultIO(): MainIO {
  return {
    stderr: (text) => void process.stderr.write(text),
    env: process.env,
    crashFile: privateCrashFile,
  };
}

/** commander's message as one line without its own `error: ` prefix. */
function commanderMessage(err: CommanderError): string {
  return err.message
    .replace(/^error: /, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
}

/** Writes what is printed for an error and returns the exit code. */
/** Hints that name s2s commands belong to the CLI: the library's errors carry a code instead. */
function withCommandHint(err: UserError): UserError {
  if (err.hint !== undefined) return err;
  let hint: string | undefined;
  if (err.code === 'NOT_FOUND' && /cmn-eng/.test(err.where ?? '')) hint = 'run `s2s data get cmn-eng` to download the default corpus';
  if (err.code === 'DOWNLOAD') hint = 'download the file yourself and import it with: s2s data get <corpus> --from FILE';
  return hint === undefined ? err : new UserError(err.message, { where: err.where, hint, exitCode: err.exitCode, code: err.code });
}

export function reportError(thrown: unknown, io: MainIO): number {
  // A filesystem error that reached here (any errno with a path) is the user's to fix: one line naming the path.
  const named = isErrno(thrown) && (thrown.path ?? thrown.dest) !== undefined;
  const err = named ? ioError(thrown, 'access the file') : thrown;
  if (err instanceof UserError) {
    io.stderr(`${formatUserError(withCommandHint(err))}\n`);
    if (io.env.S2S_DEBUG === '1' && err.stack) io.stderr(`${err.stack}\n`);
    return err.exitCode;
  }
  if (err instanceof CommanderError) {
    if (err.exitCode === 0) return 0; // --help, --version, --print-config
    if (err.code === 'commander.help') return EXIT_USAGE; // help already shown for a missing command
    io.stderr(`s2s: error: ${commanderMessage(err)}\n`);
    return EXIT_USAGE;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  const stack = e.stack ?? `${e.name}: ${e.message}`;
  io.stderr(`s2s: internal error: ${e.message.split('\n')[0]}\n`);
  try {
    const crashFile = io.crashFile();
    writeNewFile(crashFile, `${new Date().toISOString()} s2s ${process.argv.slice(2).join(' ')}\n${stack}\n`);
    io.stderr(`s2s: the full trace was written to ${crashFile}\n`);
  } catch {
    io.stderr(`${stack}\n`);
    return EXIT_INTERNAL;
  }
  if (io.env.S2S_DEBUG === '1') io.stderr(`${stack}\n`);
  return EXIT_INTERNAL;
}

/**
 * What a failed write to stdout does: a closed reader (`s2s translate … | head -1`,
 * EPIPE) ends s2s at once, quietly, with status 0, as it ends `cat`; any other
 * failure (a full disk: ENOSPC) is one line and status 1. Commands write their
 * output with process.stdout.write, whose errors arrive here as events.
 * @returns the exit code s2s ends with
 */
export function stdoutFailure(err: NodeJS.ErrnoException, io: Pick<MainIO, 'stderr'>): number {
  if (err.code === 'EPIPE') return 0;
  io.stderr(`s2s: error: cannot write the output: ${err.code ?? firstLine(err)} (stdout)\n`);
  return 1;
}

let stdoutWatched = false;

/** Runs s2s with `argv` (node, script, args…) and returns the exit code. */
export async function main(argv: string[], io: Partial<MainIO> = {}): Promise<number> {
  const fullIO = { ...defaultIO(), ...io };
  if (!stdoutWatched) process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(stdoutFailure(err, fullIO)));
  stdoutWatched = true;
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err, fullIO);
  }
}
