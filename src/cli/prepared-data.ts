/**
 * Where a run's prepared dataset lives, and turning a damaged set into an
 * error that says which command rebuilds it. Shared by `prepare` and `train`.
 *
 * The rule: `--prepared DIR` if given, else `prepared/` inside the run's
 * output directory (`--out`, default checkpoints/<config name>), so
 * `s2s prepare` and `s2s train` with the same flags find the same set.
 */
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { S2SConfig } from '../config.ts';
import { UserError, usageError } from '../errors.ts';
import { checkpointsDir } from './config-options.ts';

/** The run's output directory: --out, or checkpoints/<config name> under the working directory. */
export function outputDir(config: S2SConfig): string {
  return resolve(config.training.out ?? join(checkpointsDir(), config.name));
}

export function preparedDir(opts: Record<string, unknown>, config: S2SConfig): string {
  return typeof opts.prepared === 'string' ? resolve(opts.prepared) : join(outputDir(config), 'prepared');
}

export function addPreparedOption(cmd: Command): Command {
  return addWorkersOption(cmd.option('--prepared <dir>', 'the prepared dataset\'s directory (default: <out>/prepared)'));
}

export function addWorkersOption(cmd: Command): Command {
  return cmd.option('--workers <n>', 'threads that read a tab-separated corpus (default: the available cores)');
}

/** --workers as a number: a positive integer, by default the available cores. */
export function prepareWorkers(opts: Record<string, unknown>): number {
  if (opts.workers === undefined) return availableParallelism();
  const n = Number(opts.workers);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw usageError(`--workers must be a whole number from 1 to 256, got ${JSON.stringify(opts.workers)}`, '--workers');
  return n;
}

/** A DamagedPreparedData error with the command that rebuilds the set as its hint. */
export function withRebuildHint(err: unknown, dir: string): unknown {
  if (!(err instanceof UserError) || err.name !== 'DamagedPreparedData') return err;
  return new UserError(err.message, {
    where: err.where,
    hint: `rebuild it with \`s2s prepare --force --prepared ${dir}\` and the same data flags, or delete ${dir}`,
  });
}
