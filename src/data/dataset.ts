/**
 * The data stage as the trainer and the `vocab` command see it: read the
 * configured corpus, tokenize both sides, drop pairs longer than `maxLen`,
 * split into train/valid, and build the vocabularies from the training side.
 */
import { UserError } from '../errors.ts';
import type { DataConfig } from '../config.ts';
import { type CorpusPair, SkipLog, corpusColumns, formatSkip, formatSkipped, readCorpus, readDelimited } from './corpus.ts';
import { type SplitRecord, applySplit, holdoutSplit, sourceHash } from './split.ts';
import { type TokenizerKind, sideTokenizer, tokenizeSide } from './tokenize.ts';
import { CaseCounts, casedTargetTokens, truecasedSide, withTruecasing } from './truecase.ts';
import { vocabUnits } from './subword.ts';
import { trainBpe } from './subword-train.ts';
import { Vocab, countTokens } from './vocab.ts';

export interface TokenizedPair {
  src: string[];
  tgt: string[];
  /** `file:line` the pair was read from. */
  origin: string;
}

/** Counts for the CLI to print. Always `read = tooLong + train + valid`. */
export interface DatasetReport {
  /** Well-formed pairs read (training corpus and validation file). */
  read: number;
  /** Malformed rows skipped. */
  skipped: number;
  /** The first skipped row, `file:line: reason`. */
  firstSkip: string | null;
  /** Pairs dropped for having more than `maxLen` tokens on either side. */
  tooLong: number;
  train: number;
  valid: number;
}

export interface Dataset {
  train: TokenizedPair[];
  /** The training pairs' targets as written (for the truecasing table). */
  trainTargets: string[];
  valid: TokenizedPair[];
  split: SplitRecord;
  report: DatasetReport;
}

export interface Tokenizers {
  src: TokenizerKind;
  tgt: TokenizerKind;
}

/** The configured tokenizers, or each language's default. */
export function tokenizersOf(data: Readonly<DataConfig>): Tokenizers {
  return { src: sideTokenizer(data, 'src').kind, tgt: sideTokenizer(data, 'tgt').kind };
}

/** A tokenized pair with its raw sides (the source decides the split). */
interface Loaded {
  pair: TokenizedPair;
  source: string;
  tgt: string;
}

/** Tokenizes a stream of pairs; `lowercase` applies to word tokenizers only. Counts reads and over-long pairs. */
async function tokenizeAll(
  pairs: AsyncIterable<CorpusPair>,
  data: Readonly<DataConfig>,
  counts: { read: number; tooLong: number },
): Promise<Loaded[]> {
  const out: Loaded[] = [];
  for await (const { src, tgt, origin } of pairs) {
    counts.read += 1;
    const pair = { src: tokenizeSide(data, 'src', src), tgt: tokenizeSide(data, 'tgt', tgt), origin };
    if (pair.src.length > data.maxLen || pair.tgt.length > data.maxLen) counts.tooLong += 1;
    else out.push({ pair, source: src, tgt });
  }
  return out;
}

/** Why a corpus gave no pair at all: empty, every row malformed, or every pair too long. */
export function noUsablePairs(data: Readonly<DataConfig>, counts: { read: number; tooLong: number }, skips: SkipLog): UserError {
  const where = data.src !== null && data.tgt !== null ? `${data.src}, ${data.tgt}` : data.data.join(', ');
  if (counts.tooLong > 0) {
    return new UserError(`all ${counts.tooLong} pairs are longer than ${data.maxLen} tokens`, { where, hint: 'raise --max-len' });
  }
  if (skips.count > 0) {
    const first = skips.first!;
    const columns = /missing (source|target) column/.test(first.reason);
    return new UserError(`no usable sentence pairs: ${formatSkipped(skips.count, formatSkip(first))}`, {
      where,
      hint: columns
        ? 'each row needs a source and a target column; check --delimiter (tab for .tsv, comma for .csv) and --src-col/--tgt-col'
        : undefined,
    });
  }
  return new UserError('the corpus is empty (no sentence pairs)', { where });
}

const sourceOf = (loaded: Loaded): string => loaded.source;
const pairsOf = (loaded: readonly Loaded[]): TokenizedPair[] => loaded.map((l) => l.pair);

/**
 * Reads, tokenizes, filters and splits the configured corpus. `opts.split`
 * re-applies a saved split (a resumed run); otherwise the split is the
 * `valid` file if configured, else a holdout of `validSize` pairs by `seed`.
 */
export async function loadDataset(data: Readonly<DataConfig>, opts: { seed: number; split?: SplitRecord }): Promise<Dataset> {
  const skips = new SkipLog(data.strict);
  const counts = { read: 0, tooLong: 0 };
  const corpus = await tokenizeAll(readCorpus(data, skips), data, counts);
  if (corpus.length === 0) throw noUsablePairs(data, counts, skips);

  let split: SplitRecord;
  let train: Loaded[];
  let valid: Loaded[];
  const record = opts.split ?? (data.valid !== null ? { kind: 'file' as const, valid: data.valid } : null);
  if (record === null) {
    const held = holdoutSplit(corpus, sourceOf, opts.seed, data.validSize);
    ({ train, valid } = held.split);
    split = held.record;
  } else if (record.kind === 'file') {
    const columns = corpusColumns(data);
    train = corpus;
    valid = await tokenizeAll(readDelimited(record.valid, { columns, delimiter: data.delimiter }, skips), data, counts);
    split = record;
  } else {
    ({ train, valid } = applySplit(corpus, record, sourceOf));
    split = record;
  }

  const report: DatasetReport = {
    read: counts.read,
    skipped: skips.count,
    firstSkip: skips.first && formatSkip(skips.first),
    tooLong: counts.tooLong,
    train: train.length,
    valid: valid.length,
  };
  return { train: pairsOf(train), trainTargets: train.map((l) => l.tgt), valid: pairsOf(valid), split, report };
}

/**
 * Source and target vocabularies from the training pairs, with the configured
 * min-freq and size limits (or BPE models of the configured sizes); with the
 * targets as written (`trainTargets`), a lowercased word target's vocabulary
 * gets its truecasing table.
 */
export function buildVocabs(
  train: readonly TokenizedPair[],
  data: Readonly<DataConfig>,
  trainTargets?: readonly string[],
): { src: Vocab; tgt: Vocab } {
  const counted = (side: 'src' | 'tgt'): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const pair of train) countTokens(counts, vocabUnits(data, side, pair[side]));
    return counts;
  };
  let cases: CaseCounts | null = null;
  if (trainTargets !== undefined && truecasedSide(data)) {
    cases = new CaseCounts();
    for (const text of trainTargets) cases.add(casedTargetTokens(data, text));
  }
  return {
    src: sideVocab(counted('src'), data, 'src'),
    tgt: withTruecasing(sideVocab(counted('tgt'), data, 'tgt'), cases),
  };
  return { src: sideVocab(counted('src'), data, 'src'), tgt: sideVocab(counted('tgt'), data, 'tgt') };
}

/**
 * One side's vocabulary from its training counts (of `vocabUnits`): the
 * tokens seen at least min-freq times, up to max-vocab; or, for a BPE side, a
 * BPE model of `--src-vocab-size` / `--tgt-vocab-size` pieces trained on them.
 */
export function sideVocab(counts: ReadonlyMap<string, number>, data: Readonly<DataConfig>, side: 'src' | 'tgt'): Vocab {
  const { kind, subword } = sideTokenizer(data, side);
  if (subword === 'bpe') {
    const vocabSize = side === 'src' ? data.srcVocabSize : data.tgtVocabSize;
    const trained = trainBpe(counts, kind, { vocabSize, label: `--${side}-vocab-size` });
    return Vocab.ofSubword(trained.subword, trained.counts);
  }
  return side === 'src'
    ? Vocab.fromCounts(counts, { minFreq: data.srcMinFreq, maxSize: data.srcMaxVocab })
    : Vocab.fromCounts(counts, { minFreq: data.tgtMinFreq, maxSize: data.tgtMaxVocab });
}

/** `skipped 3 malformed rows (first: data/x.tsv:17: missing target column)`, or null. */
export function skippedSummary(report: Pick<DatasetReport, 'skipped' | 'firstSkip'>): string | null {
  return formatSkipped(report.skipped, report.firstSkip);
}

/** A saved split's two sides as raw corpus pairs. */
export interface SplitSides {
  /** sourceHash()es of the training side's source sentences. */
  trainSources: Set<string>;
  /** The validation side's pairs as written in the corpus (or the validation file), in corpus order. */
  valid: CorpusPair[];
}

/**
 * Re-reads a run's corpus and re-applies its saved split, filtering pairs
 * longer than `maxLen` as training did: what a run trained on (by source
 * sentence) and the pairs it held out, as text, for scoring or writing out.
 */
export async function splitSides(data: Readonly<DataConfig>, split: SplitRecord): Promise<SplitSides> {
  const skips = new SkipLog(false);
  const counts = { read: 0, tooLong: 0 };
  const corpus = await tokenizeAll(readCorpus(data, skips), data, counts);
  const raw = (loaded: readonly Loaded[]): CorpusPair[] => loaded.map((l) => ({ src: l.source, tgt: l.tgt, origin: l.pair.origin }));
  if (split.kind === 'file') {
    const valid = await tokenizeAll(readDelimited(split.valid, { columns: corpusColumns(data), delimiter: data.delimiter }, skips), data, counts);
    return { trainSources: new Set(corpus.map((l) => sourceHash(l.source))), valid: raw(valid) };
  }
  const sides = applySplit(corpus, split, sourceOf);
  return { trainSources: new Set(sides.train.map((l) => sourceHash(l.source))), valid: raw(sides.valid) };
}

/** How many of `sources` are, as normalised source sentences, on the training side. */
export function trainingOverlap(sources: readonly string[], trainSources: ReadonlySet<string>): number {
  return sources.filter((s) => trainSources.has(sourceHash(s))).length;
}
