/**
 * `s2s vocab`: read and split the corpus as prepare does (streamed, on
 * --workers threads, never held in memory), build both
 * vocabularies from the training side, and report their sizes, training-token
 * coverage and the validation OOV rate; with --out, save them as a vocabulary
 * set (the vocabularies, the split and the data settings) that
 * `s2s train --vocab DIR` trains with.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import type { DatasetReport } from '../../data/dataset.ts';
import { addConfigOptions, configFromOptions } from '../config-options.ts';
import { UserError } from '../../errors.ts';
import { globalOptions } from '../global-options.ts';
import { addWorkersOption, prepareWorkers } from '../prepared-data.ts';

export interface SideReport {
  side: 'src' | 'tgt';
  lang: string;
  size: number;
  minFreq: number;
  /** A BPE side: its rates are of pieces (unknown pieces come only from characters unseen in training). */
  subword?: 'bpe' | null;
  /** OOV rates: of training tokens, of validation tokens (null without validation pairs). */
  trainOov: number;
  validOov: number | null;
}

function percent(rate: number): string {
  return `${(100 * rate).toFixed(1)}%`;
}

/** The lines `s2s vocab` prints on stdout. */
export function formatVocabReport(report: DatasetReport, sides: SideReport[], files: string[]): string {
  const lines = [`pairs: ${report.read} read, ${report.train} train, ${report.valid} valid, ${report.tooLong} too long`];
  for (const s of sides) {
    const [made, unit, oov] = s.subword ? [s.subword, 'pieces', 'unknown pieces'] : [`min-freq ${s.minFreq}`, 'tokens', 'OOV'];
    const valid = s.validOov === null ? 'no valid pairs' : `valid ${oov} ${percent(s.validOov)}`;
    lines.push(`${s.side} (${s.lang}): ${s.size} entries (${made}), covers ${percent(1 - s.trainOov)} of train ${unit}, ${valid}`);
  }
  if (files.length > 0) lines.push(`wrote ${files.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** The stderr notes: malformed rows skipped and pairs dropped for length. */
export function dataWarnings(report: DatasetReport, maxLen: number, skipped: string | null): string[] {
  const out: string[] = [];
  if (skipped) out.push(`s2s: ${skipped}`);
  if (report.tooLong > 0) out.push(`s2s: dropped ${report.tooLong} pairs longer than ${maxLen} tokens (--max-len)`);
  return out;
}

export function register(program: Command): void {
  const cmd = program
    .command('vocab')
    .description('build the source and target vocabularies of a corpus and report their coverage')
    .option('--out <dir>', 'save the vocabularies, the split and their settings in DIR, for train --vocab DIR');
  addWorkersOption(cmd);
  addConfigOptions(cmd, ['data']);
  cmd.action(async (opts: Record<string, unknown>, command: Command) => {
    const config = configFromOptions(opts, ['data']);
    const workers = prepareWorkers(opts);
    const { quiet } = globalOptions(command);
    const { skippedSummary } = await import('../../data/dataset.ts');
    const { corpusVocabs } = await import('../../data/corpus-vocab.ts');
    const { coverage } = await import('../../data/vocab.ts');
    const { vocabSetFiles } = await import('../../data/vocab-set.ts');
    const { writeFileSetAtomic } = await import('../../fs-atomic.ts');
    const { checkInputFile, checkOutputSetDir } = await import('../../user-paths.ts');
    const out = typeof opts.out === 'string' ? opts.out : null;
    // Before reading the corpus: every input, then --out (a checkpoint, a directory of the user's files or an unwritable place is refused now).
    const data0 = config.data;
    for (const file of [...data0.data, data0.src, data0.tgt, data0.valid]) {
      if (file === null) continue;
      try {
        checkInputFile(file);
      } catch (err) {
        if (/cmn-eng/.test(file) && err instanceof UserError && err.message === 'file not found') {
          throw new UserError(err.message, { where: file, hint: 'run `s2s data get cmn-eng` to download the default corpus' });
        }
        throw err;
      }
    }
    if (out !== null) checkOutputSetDir(out, '--out');

    const data = config.data;
    const { report, split, vocabs, valid, trainOov } = await corpusVocabs(data, { seed: config.training.seed, workers });
    if (!quiet) {
      for (const line of dataWarnings(report, data.maxLen, skippedSummary(report))) {
        process.stderr.write(`${line}\n`);
      }
    }
    let files: string[] = [];
    if (out !== null) {
      const contents = vocabSetFiles(data, { split, srcVocab: vocabs.src, tgtVocab: vocabs.tgt });
      // The files are one set: written into a temporary directory and renamed into place together.
      writeFileSetAtomic(out, contents, out);
      files = Object.keys(contents).map((name) => join(out, name));
    }

    const side = (s: 'src' | 'tgt'): SideReport => ({
      side: s,
      lang: s === 'src' ? data.srcLang : data.tgtLang,
      size: vocabs[s].size,
      minFreq: s === 'src' ? data.srcMinFreq : data.tgtMinFreq,
      subword: vocabs[s].subword?.kind ?? null,
      // A BPE side is measured in its pieces (its unknown-token rate).
      trainOov: trainOov[s],
      validOov: valid.length === 0 ? null : coverage(vocabs[s], valid.map((p) => vocabs[s].pieces(p[s]))).rate,
    });
    process.stdout.write(formatVocabReport(report, [side('src'), side('tgt')], files));
  });
}
