/**
 * Prepare's counting pass, shared by `s2s prepare` and `s2s vocab`: the
 * corpus streamed once (on worker threads for a tab-separated corpus, see
 * prepare-parallel.ts), every pair tokenized, its tokens counted and numbered
 * in order of first appearance, the validation pairs chosen and their tokens
 * taken back out of the counts. What it keeps is the token tables, the
 * validation pairs and a bounded set of hold-out candidates, never the corpus.
 */
import { statSync } from 'node:fs';
import type { DataConfig } from '../config.ts';
import { SkipLog, corpusColumns, readCorpusChunks, readDelimited, tabSeparatedCorpus, type CorpusPair } from './corpus.ts';
import { noUsablePairs, sideVocab } from './dataset.ts';
import { parallelFirstPass, type ArraySink } from './prepare-parallel.ts';
import { StreamingHoldout, loweredSourceHash, type SplitRecord } from './split.ts';
import { vocabUnits } from './subword.ts';
import { MAX_STORED_LEN, PairSpans, TokenTable, type IdSink, type Tokenized } from './token-count.ts';
import { tokenizeSide } from './tokenize.ts';
import { CaseCounts, casedTargetTokens, truecasedSide, withTruecasing } from './truecase.ts';
import type { Vocab } from './vocab.ts';

/** Where pass 1 writes the provisional ids and each pair's stored lengths. */
export interface Pass1Sink extends IdSink, ArraySink {}

export interface Pass1Sinks {
  src: Pass1Sink;
  tgt: Pass1Sink;
  srcLen: Pass1Sink;
  tgtLen: Pass1Sink;
}

/** Sinks that keep nothing, for a count without provisional ids (`s2s vocab`). */
export function discardSinks(): Pass1Sinks {
  const sink: Pass1Sink = { push: () => false, pushArray: () => false, flush: async () => {} };
  return { src: sink, tgt: sink, srcLen: sink, tgtLen: sink };
}

export interface CountOptions {
  data: Readonly<DataConfig>;
  /** The holdout split's seed (training.seed). */
  seed: number;
  /** Re-apply this split (a resumed run) instead of choosing one. */
  split?: SplitRecord;
  /** Threads for a tab-separated corpus of over four pieces (1 or absent: this thread alone). */
  workers?: number;
  /** Bytes of corpus per piece a worker takes (default 256 KiB; tests use small pieces). */
  pieceBytes?: number;
  /** Progress: which pass, and pairs read so far. */
  onProgress?: (pass: 1 | 2, pairs: number) => void;
}

export interface CountedCorpus {
  counts: { read: number; tooLong: number };
  skips: SkipLog;
  /** Pairs kept (not too long), validation pairs of a holdout included. */
  kept: number;
  split: SplitRecord;
  /** The validation pairs, tokenized, with their place among the kept pairs (a validation file's: in that file). */
  validPairs: { index: number; item: Tokenized }[];
  /** The kept pairs that are validation pairs (empty for a validation file). */
  validIndices: Set<number>;
  trainCount: number;
  /** Token (or BPE unit) → provisional id and count over the training pairs. */
  table: { src: TokenTable; tgt: TokenTable };
  /** The training targets' case counts, for a truecased target. */
  cases: CaseCounts | null;
}

/** The vocabularies of the training pairs' counts, as `buildVocabs` makes them from the pairs. */
export function countedVocabs(counted: CountedCorpus, data: Readonly<DataConfig>): { src: Vocab; tgt: Vocab } {
  return {
    src: sideVocab(counted.table.src.countMap(), data, 'src'),
    tgt: withTruecasing(sideVocab(counted.table.tgt.countMap(), data, 'tgt'), counted.cases),
  };
}

/** Pieces of corpus a worker takes by default. */
const PIECE_BYTES = 1 << 18;

/**
 * Whether to read on worker threads: a tab-separated corpus of more than four
 * pieces (starting the workers and warming up their tokenizers costs more
 * than they save on a smaller one).
 */
function parallelWorth(data: Readonly<DataConfig>, opts: CountOptions): boolean {
  if ((opts.workers ?? 1) <= 1 || !tabSeparatedCorpus(data)) return false;
  let bytes = 0;
  for (const file of data.data) bytes += statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  return bytes > 4 * (opts.pieceBytes ?? PIECE_BYTES);
}

/** Streams and counts the configured corpus, writing provisional ids to `out`. Throws when no pair is usable. */
export async function countCorpus(opts: CountOptions, out: Pass1Sinks): Promise<CountedCorpus> {
  const { data, seed } = opts;
  const skips = new SkipLog(data.strict);
  const counts = { read: 0, tooLong: 0 };
  const table = { src: new TokenTable(), tgt: new TokenTable() };
  const cases = truecasedSide(data) ? new CaseCounts() : null;
  const fixedValid = opts.split?.kind === 'holdout' ? new Set(opts.split.validKeys) : null;
  const fileSplit =
    opts.split?.kind === 'file' ? opts.split : data.valid !== null && !opts.split ? { kind: 'file' as const, valid: data.valid } : null;
  let kept = 0;
  let holdout: StreamingHoldout<Tokenized> | null = null;
  const fixedValidPairs: { index: number; item: Tokenized }[] = [];
  if (parallelWorth(data, opts)) {
    const pass = await parallelFirstPass({
      data,
      columns: corpusColumns(data),
      seed,
      workers: opts.workers!,
      pieceBytes: opts.pieceBytes ?? PIECE_BYTES,
      holdout: fixedValid === null && fileSplit === null,
      fixedValid,
      skips,
      counts,
      table,
      cases,
      out,
      onProgress: (pairs) => opts.onProgress?.(1, pairs),
    });
    kept = pass.kept;
    holdout = pass.holdout;
    fixedValidPairs.push(...pass.fixedValidPairs);
  } else {
    holdout = fixedValid === null && fileSplit === null ? new StreamingHoldout<Tokenized>(seed, data.validSize) : null;
    kept = await firstPass(data, skips, counts, { fixedValid, holdout, fixedValidPairs, cases, table, out, onProgress: opts.onProgress });
  }
  if (kept === 0) throw noUsablePairs(data, counts, skips);

  let split: SplitRecord;
  let validPairs: { index: number; item: Tokenized }[];
  if (holdout !== null) {
    const chosen = holdout.finish();
    split = chosen.record;
    validPairs = chosen.valid;
  } else if (fileSplit !== null) {
    split = fileSplit;
    validPairs = [];
    const columns = corpusColumns(data);
    const validReader = readDelimited(fileSplit.valid, { columns, delimiter: data.delimiter }, skips);
    for await (const { index, pair } of keptPairs(validReader, data, counts)) validPairs.push({ index, item: pair });
  } else {
    split = opts.split!;
    validPairs = fixedValidPairs;
  }
  const validIndices = fileSplit === null ? new Set(validPairs.map((v) => v.index)) : new Set<number>();
  if (fileSplit === null) {
    for (const { item } of validPairs) {
      table.src.uncount(vocabUnits(data, 'src', item.src));
      table.tgt.uncount(vocabUnits(data, 'tgt', item.tgt));
      cases?.add(casedTargetTokens(data, item.tgtText), -1);
    }
  }
  return { counts, skips, kept, split, validPairs, validIndices, trainCount: kept - validIndices.size, table, cases };
}

/** A pair tokenized, or null (and counted) when a side is over-long. */
function tokenizePair(raw: CorpusPair, data: Readonly<DataConfig>, counts: { read: number; tooLong: number }): Tokenized | null {
  counts.read += 1;
  const src = tokenizeSide(data, 'src', raw.src);
  const tgt = tokenizeSide(data, 'tgt', raw.tgt);
  const limit = Math.min(data.maxLen, MAX_STORED_LEN);
  if (src.length > limit || tgt.length > limit) {
    counts.tooLong += 1;
    return null;
  }
  return { src, tgt, origin: raw.origin, tgtText: raw.tgt };
}

/** Reads and tokenizes the corpus, dropping over-long pairs; `index` counts kept pairs. */
async function* keptPairs(
  pairs: AsyncIterable<CorpusPair>,
  data: Readonly<DataConfig>,
  counts: { read: number; tooLong: number },
): AsyncGenerator<{ index: number; raw: CorpusPair; pair: Tokenized }> {
  let index = 0;
  for await (const raw of pairs) {
    const pair = tokenizePair(raw, data, counts);
    if (pair !== null) yield { index: index++, raw, pair };
  }
}

interface FirstPassState {
  fixedValid: ReadonlySet<string> | null;
  holdout: StreamingHoldout<Tokenized> | null;
  fixedValidPairs: { index: number; item: Tokenized }[];
  cases: CaseCounts | null;
  table: { src: TokenTable; tgt: TokenTable };
  out: Pass1Sinks;
  onProgress?: (pass: 1 | 2, pairs: number) => void;
}

/** Pass 1 on this thread: tokenizes, counts and writes provisional ids; returns the number of kept pairs. */
async function firstPass(data: Readonly<DataConfig>, skips: SkipLog, counts: { read: number; tooLong: number }, state: FirstPassState): Promise<number> {
  const { fixedValid, holdout, fixedValidPairs, cases, table, out } = state;
  let kept = 0;
  const spans = new PairSpans(data);
  for await (const chunk of readCorpusChunks(data, skips)) {
    let full = false;
    for (const raw of chunk) {
      const pair = spans.cut(raw, counts);
      if (pair === null) continue;
      const index = kept++;
      if (index % 65536 === 0) state.onProgress?.(1, counts.read);
      if (fixedValid !== null && fixedValid.has(loweredSourceHash(pair.loweredSource()))) fixedValidPairs.push({ index, item: pair.detachedTokens() });
      holdout?.offerLowered(index, pair.loweredSource(), pair.detachedTokens);
      cases?.add(casedTargetTokens(data, raw.tgt));
      full = pair.count(table.src, table.tgt, out.src, out.tgt) || full;
      full = out.srcLen.push(pair.srcStored) || full;
      full = out.tgtLen.push(pair.tgtStored) || full;
    }
    if (full) for (const w of Object.values(out)) await w.flush();
  }
  return kept;
}

