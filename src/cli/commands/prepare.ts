/**
 * `s2s prepare`: read, tokenize, filter, split and encode the corpus once into
 * a prepared binary dataset that `s2s train` reads batch by batch (train
 * also prepares it when no matching set exists). Takes the same flags as
 * `train`; an up-to-date set is left as it is unless --force.
 */
import type { Command } from 'commander';
import { GROUPS } from '../../config.ts';
import { addConfigOptions, configFromOptions } from '../config-options.ts';
import { globalOptions } from '../global-options.ts';
import { addPreparedOption, prepareWorkers, preparedDir, withRebuildHint } from '../prepared-data.ts';
import type { PreparedIndex } from '../../data/prepared.ts';

/** The summary `s2s prepare` prints on stdout. */
export function formatPrepared(index: PreparedIndex, vocab: { src: number; tgt: number }, dir: string, fresh: boolean): string {
  const r = index.report;
  return [
    `${fresh ? 'prepared' : 'up to date'}: ${dir}`,
    `pairs: ${r.read} read, ${r.train} train, ${r.valid} valid, ${r.tooLong} too long, ${r.skipped} malformed`,
    `tokens: ${index.tokens.src} source, ${index.tokens.tgt} target; vocabulary: ${vocab.src} source, ${vocab.tgt} target`,
  ].join('\n') + '\n';
}

export function register(program: Command): void {
  const cmd = program
    .command('prepare')
    .description('prepare the corpus as a binary dataset for training (takes the same flags as train)')
    .option('--force', 'prepare again even if an up-to-date set exists');
  addPreparedOption(cmd);
  addConfigOptions(cmd, [...GROUPS]);
  cmd.action(async (opts: Record<string, unknown>, command: Command) => {
    const config = configFromOptions(opts, [...GROUPS]);
    const workers = prepareWorkers(opts);
    const { quiet } = globalOptions(command);
    const { ensurePrepared, prepareDataset, openPrepared } = await import('../../data/prepared.ts');
    const { skippedSummary } = await import('../../data/dataset.ts');
    const dir = preparedDir(opts, config);
    const note = (line: string): void => {
      if (!quiet) process.stderr.write(`${line}\n`);
    };
    let fresh = false;
    const prepare = { data: config.data, seed: config.training.seed, dir, workers };
    let set;
    try {
      if (opts.force === true) {
        fresh = true;
        set = await openPrepared(dir, await prepareDataset(prepare));
      } else {
        set = await ensurePrepared({ ...prepare, onPrepare: (reason) => ((fresh = true), note(`preparing the dataset (${reason})`)) });
      }
    } catch (err) {
      throw withRebuildHint(err, dir);
    }
    set.train.close();
    const skipped = skippedSummary(set.index.report);
    if (skipped) note(`s2s: ${skipped}`);
    process.stdout.write(formatPrepared(set.index, { src: set.srcVocab.size, tgt: set.tgtVocab.size }, dir, fresh));
  });
}
