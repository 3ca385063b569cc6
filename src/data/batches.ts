/**
 * Batches: pairs of id sequences grouped by length so padding stays low,
 * shuffled with a seeded RNG, and laid out as flat typed arrays ready to
 * become tensors. No tensors here.
 */
import { EOS, PAD, SOS } from './vocab.ts';

/** A pair as vocabulary ids, without <sos>/<eos>. */
export interface EncodedPair {
  src: readonly number[];
  tgt: readonly number[];
}

export interface Batch {
  /** Sentences in the batch. */
  size: number;
  srcLen: number;
  /** Target length including the added <sos> (input) / <eos> (output). */
  tgtLen: number;
  /** [size·srcLen], row-major, PAD-padded */
  srcIds: Int32Array;
  srcMask: Float32Array;
  /** <sos> y1 … y_n, [size·tgtLen] */
  tgtIn: Int32Array;
  /** y1 … y_n <eos>, [size·tgtLen] */
  tgtOut: Int32Array;
  tgtMask: Float32Array;
  /** Real target tokens (including <eos>): the loss normaliser. */
  tgtTokens: number;
  /** Which pairs (indices into the dataset) the rows are. */
  indices: readonly number[];
}

export function makeBatch(pairs: readonly EncodedPair[], indices: readonly number[]): Batch {
  return fillBatch(indices, (i) => pairs[i]!.src, (i) => pairs[i]!.tgt);
}

/**
 * Lays out the pairs `indices` as a Batch; `srcOf(i)` / `tgtOf(i)` give pair
 * i's ids (from arrays in memory or from a prepared dataset on disk).
 */
export function fillBatch(
  indices: readonly number[],
  srcOf: (index: number) => ArrayLike<number>,
  tgtOf: (index: number) => ArrayLike<number>,
): Batch {
  const size = indices.length;
  const srcs = indices.map(srcOf);
  const tgts = indices.map(tgtOf);
  let srcLen = 1;
  let tgtLen = 0;
  for (let row = 0; row < size; row++) {
    srcLen = Math.max(srcLen, srcs[row]!.length);
    tgtLen = Math.max(tgtLen, tgts[row]!.length + 1);
  }
  const srcIds = new Int32Array(size * srcLen).fill(PAD);
  const srcMask = new Float32Array(size * srcLen);
  const tgtIn = new Int32Array(size * tgtLen).fill(PAD);
  const tgtOut = new Int32Array(size * tgtLen).fill(PAD);
  const tgtMask = new Float32Array(size * tgtLen);
  let tgtTokens = 0;
  for (let row = 0; row < size; row++) {
    const src = srcs[row]!;
    const tgt = tgts[row]!;
    for (let t = 0; t < src.length; t++) {
      srcIds[row * srcLen + t] = src[t]!;
      srcMask[row * srcLen + t] = 1;
    }
    tgtIn[row * tgtLen] = SOS;
    for (let t = 0; t < tgt.length; t++) {
      tgtIn[row * tgtLen + t + 1] = tgt[t]!;
      tgtOut[row * tgtLen + t] = tgt[t]!;
    }
    tgtOut[row * tgtLen + tgt.length] = EOS;
    for (let t = 0; t <= tgt.length; t++) tgtMask[row * tgtLen + t] = 1;
    tgtTokens += tgt.length + 1;
  }
  return { size, srcLen, tgtLen, srcIds, srcMask, tgtIn, tgtOut, tgtMask, tgtTokens, indices };
}

/**
 * The training pairs as the trainer sees them: their lengths (to plan
 * batches) and batches on demand. In memory (inMemoryPairs) or read from a
 * prepared dataset on disk (PreparedPairs).
 */
export interface TrainingPairs {
  readonly size: number;
  readonly srcLens: ArrayLike<number>;
  readonly tgtLens: ArrayLike<number>;
  batch(indices: readonly number[]): Batch;
}

export function inMemoryPairs(pairs: readonly EncodedPair[]): TrainingPairs {
  return {
    size: pairs.length,
    srcLens: Int32Array.from(pairs, (p) => p.src.length),
    tgtLens: Int32Array.from(pairs, (p) => p.tgt.length),
    batch: (indices) => makeBatch(pairs, indices),
  };
}

export interface BatchPlanOptions {
  /** Sentences per batch (when batchTokens is 0). */
  batchSize: number;
  /** Padded target tokens per batch; 0 = batch by sentences. */
  batchTokens: number;
}

/** Shuffles in place with a seeded RNG (Fisher–Yates), as Rng.shuffle does. */
export type ShuffleInts = (items: Int32Array) => void;

/**
 * A plan over an index of lengths only: `order` holds every pair index,
 * bucketed by (source length, target length); batch `b` of the epoch is
 * `order[starts[k] .. starts[k + 1])` with `k = sequence[b]`.
 */
export class BatchPlan {
  constructor(
    readonly order: Int32Array,
    readonly starts: Int32Array,
    readonly sequence: Int32Array,
  ) {}

  get length(): number {
    return this.sequence.length;
  }

  /** The pair indices of the epoch's `b`-th batch. */
  batch(b: number): number[] {
    const k = this.sequence[b]!;
    return Array.from(this.order.subarray(this.starts[k]!, this.starts[k + 1]!));
  }
}

/**
 * Splits pair indices into batches of similar lengths from the pairs'
 * lengths alone. `shuffle` (a seeded RNG's) randomises ties within a length
 * and the order of batches; without it the plan is in length order (for
 * validation). Memory: three Int32Arrays, O(pairs); the bucketing is a
 * stable counting sort by (source length, target length).
 */
export function planByLength(
  srcLens: ArrayLike<number>,
  tgtLens: ArrayLike<number>,
  options: BatchPlanOptions,
  shuffle?: ShuffleInts,
): BatchPlan {
  const n = srcLens.length;
  const shuffled = new Int32Array(n);
  for (let i = 0; i < n; i++) shuffled[i] = i;
  if (shuffle) shuffle(shuffled);
  let maxSrc = 0;
  let maxTgt = 0;
  for (let i = 0; i < n; i++) {
    maxSrc = Math.max(maxSrc, srcLens[i]!);
    maxTgt = Math.max(maxTgt, tgtLens[i]!);
  }
  const width = maxTgt + 1;
  const key = (i: number): number => srcLens[i]! * width + tgtLens[i]!;
  const bucketStart = new Int32Array((maxSrc + 1) * width + 1);
  for (let i = 0; i < n; i++) bucketStart[key(i) + 1]! += 1;
  for (let k = 1; k < bucketStart.length; k++) bucketStart[k]! += bucketStart[k - 1]!;
  const order = new Int32Array(n);
  for (const index of shuffled) order[bucketStart[key(index)]!++] = index;

  const starts: number[] = [];
  let size = 0;
  let longest = 0;
  for (let pos = 0; pos < n; pos++) {
    const tgt = tgtLens[order[pos]!]! + 1;
    const full =
      options.batchTokens > 0
        ? size > 0 && Math.max(longest, tgt) * (size + 1) > options.batchTokens
        : size >= options.batchSize;
    if (pos === 0 || full) {
      starts.push(pos);
      size = 0;
      longest = 0;
    }
    size += 1;
    longest = Math.max(longest, tgt);
  }
  starts.push(n);
  const batches = starts.length - 1;
  const sequence = new Int32Array(batches);
  for (let b = 0; b < batches; b++) sequence[b] = b;
  if (shuffle) shuffle(sequence);
  return new BatchPlan(order, Int32Array.from(starts), sequence);
}

/**
 * planByLength for pairs in memory, as lists of indices. `shuffle` is a
 * seeded RNG's shuffle of arrays (Rng.shuffle).
 */
export function planBatches(
  pairs: readonly EncodedPair[],
  options: BatchPlanOptions,
  shuffle?: <T>(items: T[]) => T[],
): number[][] {
  const shuffleInts = shuffle && ((items: Int32Array) => void items.set(shuffle(Array.from(items))));
  const plan = planByLength(
    pairs.map((p) => p.src.length),
    pairs.map((p) => p.tgt.length),
    options,
    shuffleInts,
  );
  return Array.from({ length: plan.length }, (_, b) => plan.batch(b));
}
