/**
 * `s2s eval [--checkpoint DIR] --data TEST.tsv` (or --src/--tgt, or --split
 * valid: the pairs the run held out): translate the test sources with the
 * model that `s2s translate` would load (the library's loadTranslator; without
 * --checkpoint the default model), its decoding config with the decoding
 * flags laid over it,
 * optionally write the hypotheses, and hand hypotheses and references to
 * scoring. A test corpus whose sources the run trained on is scored with a
 * warning giving the overlap.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { buildConfig, type DecodingConfig, type S2SConfig } from '../config.ts';
import { UserError, usageError } from '../errors.ts';
import { MAX_TEXT_LENGTH, type Translator } from '../api/translator.ts';
import { checkInputFile, checkOutputFile } from '../user-paths.ts';
import { initBackendFor } from './global-options.ts';

export interface ModelEvalFlags {
  /** null: the default model (model-dir.ts defaultModel), as for translate. */
  checkpoint: string | null;
  data?: string;
  src?: string;
  tgt?: string;
  output?: string;
  /** Decoding flags, laid over the checkpoint's decoding config. */
  decoding: Partial<DecodingConfig>;
  /** `valid`: the checkpoint's own held-out pairs. */
  split?: string;
}

export interface DecodedTestSet {
  hypotheses: string[];
  references: string[];
  /** The checkpoint's target language (picks the default BLEU tokenizer). */
  tgtLang: string;
  /** The skipped-rows summary, if any. */
  skipped: string | null;
}

/** Checks which test corpus the flags name (before a model is looked for). */
function checkTestFlags(flags: ModelEvalFlags): void {
  if (flags.data !== undefined && (flags.src !== undefined || flags.tgt !== undefined)) {
    throw usageError('give either --data or --src/--tgt, not both', '--data');
  }
  if ((flags.src === undefined) !== (flags.tgt === undefined)) {
    throw usageError('--src and --tgt go together', flags.src === undefined ? '--tgt' : '--src');
  }
  if (flags.data === undefined && flags.src === undefined) {
    throw usageError('model mode needs a test corpus: --data TEST.tsv, --src FILE --tgt FILE, or --split valid', '--data');
  }
  for (const file of [flags.data, flags.src, flags.tgt]) {
    if (file !== undefined && !existsSync(file)) throw new UserError('test corpus not found', { where: file });
  }
}

/** The checkpoint's data config pointed at the test files (columns, languages and tokenizers kept). */
function testDataConfig(config: S2SConfig, flags: ModelEvalFlags): S2SConfig['data'] {
  return {
    ...config.data,
    data: flags.data !== undefined ? [flags.data] : [],
    src: flags.src ?? null,
    tgt: flags.tgt ?? null,
  };
}

/**
 * Decodes the test set; `note` receives, as they happen, the line naming the
 * model loaded and warnings (a test corpus overlapping the training split,
 * sources cut to --max-input-len), which start `s2s: warning:`.
 */
export async function decodeTestSet(flags: ModelEvalFlags, cmd: Command, note: (line: string) => void): Promise<DecodedTestSet> {
  const { loadTranslator } = await import('../api/load.ts');
  const { readCorpus, SkipLog, formatSkipped, formatSkip } = await import('../data/corpus.ts');
  const { splitSides, trainingOverlap } = await import('../data/dataset.ts');
  const { writeFileAtomic } = await import('../fs-atomic.ts');
  const { loadedLine, locateModel } = await import('./commands/translate.ts');
  if (flags.split !== undefined && (flags.data !== undefined || flags.src !== undefined || flags.tgt !== undefined)) {
    throw usageError('--split scores the model\'s own held-out pairs: give it without --data/--src/--tgt', '--split');
  }
  if (flags.split === undefined) checkTestFlags(flags);
  const dir = await locateModel({ checkpoint: flags.checkpoint });
  // Every path is checked before the model is loaded and the test set decoded.
  for (const [flag, file] of [['--data', flags.data], ['--src', flags.src], ['--tgt', flags.tgt]] as const) {
    if (file !== undefined) checkInputFile(file, flag);
  }
  if (flags.output !== undefined) checkOutputFile(flags.output, '--output');
  note(loadedLine(dir));
  await initBackendFor(cmd, { decoding: true });
  const translator = await loadTranslator(dir, { backend: false });
  try {
    // Only the best hypothesis is scored: nbest 1 whatever the checkpoint says.
    const decoding = buildConfig(translator.config.name, { decoding: { ...translator.config.decoding, ...flags.decoding, nbest: 1 } }).decoding;
    const log = new SkipLog(false);
    const sources: string[] = [];
    const references: string[] = [];
    if (flags.split !== undefined) {
      for (const pair of (await heldOut(translator, flags.checkpoint ?? dir, splitSides)).valid) {
        sources.push(pair.src);
        references.push(pair.tgt);
      }
    } else {
      for await (const pair of readCorpus(testDataConfig(translator.config, flags), log)) {
        sources.push(pair.src);
        references.push(pair.tgt);
      }
      const overlap = await overlapNote(translator, sources, splitSides, trainingOverlap);
      if (overlap) note(overlap);
    }
    if (sources.length === 0) throw new UserError('the test corpus has no usable pairs', { where: flags.data ?? flags.src ?? '--split' });
    const { hypotheses, truncated } = await translateAll(translator, sources, decoding);
    if (truncated > 0) {
      note(`s2s: warning: ${truncated} of ${sources.length} test sentences are longer than --max-input-len (${decoding.maxInputLen} tokens); their first ${decoding.maxInputLen} tokens were translated`);
    }
    if (flags.output !== undefined) writeFileAtomic(flags.output, hypotheses.map((h) => `${h}\n`).join(''));
    return {
      hypotheses,
      references,
      tgtLang: translator.config.data.tgtLang,
      skipped: formatSkipped(log.count, log.first ? formatSkip(log.first) : null),
    };
  } finally {
    translator.dispose();
  }
}

/** The best translation of each source, in chunks, and how many sources were longer than the model reads. */
async function translateAll(
  translator: Translator,
  sources: readonly string[],
  decoding: DecodingConfig,
): Promise<{ hypotheses: string[]; truncated: number }> {
  const hypotheses: string[] = [];
  let truncated = 0;
  const chunkSize = decoding.batchSize * 8;
  for (let i = 0; i < sources.length; i += chunkSize) {
    // The translator refuses texts over MAX_TEXT_LENGTH characters; the model reads only their first max-input-len tokens anyway.
    const chunk = sources.slice(i, i + chunkSize).map((source) => source.slice(0, MAX_TEXT_LENGTH));
    const out = await translator.translate(chunk, decoding);
    hypotheses.push(...out.map((t) => t.translation));
    truncated += out.filter((t) => t.truncated > 0).length;
  }
  return { hypotheses, truncated };
}

type SplitSidesFn = typeof import('../data/dataset.ts').splitSides;

/** The checkpoint's split re-applied to its corpus; errors say what is missing. */
export async function heldOut(
  checkpoint: Pick<Translator, 'config' | 'split'>,
  where: string,
  splitSides: SplitSidesFn,
): Promise<Awaited<ReturnType<SplitSidesFn>>> {
  if (checkpoint.split === null) throw new UserError('this model directory holds no train/validation split (split.json)', { where });
  for (const file of [...checkpoint.config.data.data, checkpoint.config.data.src, checkpoint.config.data.tgt]) {
    if (file !== null && !existsSync(file)) {
      throw new UserError('the corpus this run was trained on is not there any more', { where: file, hint: 'the held-out pairs are chosen from it' });
    }
  }
  return splitSides(checkpoint.config.data, checkpoint.split);
}

/** A warning when test sources are in the run's training split; null when none are, or the training corpus is not there. */
async function overlapNote(
  checkpoint: Pick<Translator, 'config' | 'split'>,
  sources: readonly string[],
  splitSides: SplitSidesFn,
  trainingOverlap: typeof import('../data/dataset.ts').trainingOverlap,
): Promise<string | null> {
  let sides: Awaited<ReturnType<SplitSidesFn>>;
  try {
    sides = await heldOut(checkpoint, '', splitSides);
  } catch (err) {
    if (err instanceof UserError) return null;
    throw err;
  }
  const n = trainingOverlap(sources, sides.trainSources);
  if (n === 0) return null;
  return `s2s: warning: ${n} of ${sources.length} test sentences are in the model's training split (as source sentences); ` +
    'their scores measure memory, not translation (--split valid scores the pairs it held out)';
}
