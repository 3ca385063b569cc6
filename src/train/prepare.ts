/**
 * The data a training run needs, prepared from the config: the corpus read,
 * tokenized, filtered and split; the vocabularies (built from the training
 * side, or a resumed checkpoint's); both splits encoded; and the validation
 * references as text. The CLI and library users call `prepareTraining` and
 * hand the result to the Trainer.
 *
 * With `preparedDir`, the training pairs come from a prepared dataset on disk
 * (data/prepared.ts), prepared first when none there matches the config, the
 * corpus and a resumed run's split and vocabularies; the corpus is never held
 * in memory. Without it, the corpus is read into memory (small corpora, tests).
 */
import type { S2SConfig } from '../config.ts';
import { inMemoryPairs, type EncodedPair, type TrainingPairs } from '../data/batches.ts';
import { buildVocabs, loadDataset, type DatasetReport, type TokenizedPair } from '../data/dataset.ts';
import { ensurePrepared } from '../data/prepared.ts';
import type { SplitRecord } from '../data/split.ts';
import { detokenize, sideTokenizer, tokenizeSide, type SideSettings } from '../data/tokenize.ts';
import type { Vocab } from '../data/vocab.ts';
import { UserError } from '../errors.ts';
import type { ValidationSet } from './validate.ts';

export interface Vocabs {
  src: Vocab;
  tgt: Vocab;
}

export interface TrainingData {
  vocabs: Vocabs;
  split: SplitRecord;
  train: TrainingPairs;
  valid: ValidationSet;
  /** Releases the prepared dataset's open files (a no-op in memory). */
  close(): void;
  /** What reading the corpus skipped and filtered, for the caller to report. */
  report: DatasetReport;
}

/** What a resumed run keeps from its checkpoint: the split and the vocabularies. */
export interface ResumedData {
  /** null when the checkpoint holds no split record (then the split is made again from the seed). */
  split: SplitRecord | null;
  srcVocab: Vocab;
  tgtVocab: Vocab;
}

export interface PrepareTrainingOptions {
  /** Read training pairs from the prepared dataset in this directory (prepared when needed). */
  preparedDir?: string;
  /** Called with why the dataset is (re-)prepared before it is. */
  onPrepare?: (reason: string) => void;
  /** Threads that prepare the set (PrepareOptions.workers; default 1). */
  workers?: number;
}

export async function prepareTraining(
  config: Readonly<S2SConfig>,
  resume?: ResumedData,
  opts: PrepareTrainingOptions = {},
): Promise<TrainingData> {
  if (opts.preparedDir !== undefined) return fromPrepared(config, opts.preparedDir, resume, opts.onPrepare, opts.workers);
  const dataset = await loadDataset(config.data, { seed: config.training.seed, split: resume?.split ?? undefined });
  if (dataset.train.length === 0) throw new UserError('no training pairs left after filtering', { where: config.data.data.join(', ') });
  const vocabs = resume ? { src: resume.srcVocab, tgt: resume.tgtVocab } : buildVocabs(dataset.train, config.data, dataset.trainTargets);
  return {
    vocabs,
    split: dataset.split,
    train: inMemoryPairs(encodePairs(dataset.train, vocabs)),
    valid: validationSet(dataset.valid, vocabs, config.data),
    report: dataset.report,
    close: () => {},
  };
}

async function fromPrepared(
  config: Readonly<S2SConfig>,
  dir: string,
  resume: ResumedData | undefined,
  onPrepare: ((reason: string) => void) | undefined,
  workers: number | undefined,
): Promise<TrainingData> {
  const set = await ensurePrepared({
    data: config.data,
    seed: config.training.seed,
    dir,
    split: resume?.split ?? undefined,
    vocabs: resume ? { src: resume.srcVocab, tgt: resume.tgtVocab } : undefined,
    onPrepare,
    workers,
  });
  const vocabs = { src: set.srcVocab, tgt: set.tgtVocab };
  return {
    vocabs,
    split: set.index.split,
    train: set.train,
    valid: validationSet(set.valid, vocabs, config.data),
    report: set.index.report,
    close: () => set.train.close(),
  };
}

export function encodePairs(pairs: readonly TokenizedPair[], vocabs: Vocabs): EncodedPair[] {
  return pairs.map((p) => ({ src: vocabs.src.encode(vocabs.src.pieces(p.src)), tgt: vocabs.tgt.encode(vocabs.tgt.pieces(p.tgt)) }));
}

/**
 * The validation pairs encoded, with their references as the model sees text:
 * normalised by the target side's tokenizer (the same rule as training, so a
 * char-tokenized target keeps its case), then detokenized.
 */
export function validationSet(pairs: readonly TokenizedPair[], vocabs: Vocabs, data: Readonly<SideSettings>): ValidationSet {
  const kind = sideTokenizer(data, 'tgt').kind;
  return {
    pairs: encodePairs(pairs, vocabs),
    references: pairs.map((p) => detokenize(kind, tokenizeSide(data, 'tgt', detokenize(kind, p.tgt)))),
  };
}
