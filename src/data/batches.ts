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
  const size = indices.length;
  const srcLen = Math.max(1, ...indices.map((i) => pairs[i]!.src.length));
  const tgtLen = Math.max(...indices.map((i) => pairs[i]!.tgt.length)) + 1;
  const srcIds = new Int32Array(size * srcLen).fill(PAD);
  const srcMask = new Float32Array(size * srcLen);
  const tgtIn = new Int32Array(size * tgtLen).fill(PAD);
  const tgtOut = new Int32Array(size * tgtLen).fill(PAD);
  const tgtMask = new Float32Array(size * tgtLen);
  let tgtTokens = 0;
  indices.forEach((index, row) => {
    const { src, tgt } = pairs[index]!;
    src.forEach((id, t) => {
      srcIds[row * srcLen + t] = id;
      srcMask[row * srcLen + t] = 1;
    });
    tgtIn[row * tgtLen] = SOS;
    tgt.forEach((id, t) => {
      tgtIn[row * tgtLen + t + 1] = id;
      tgtOut[row * tgtLen + t] = id;
    });
    tgtOut[row * tgtLen + tgt.length] = EOS;
    for (let t = 0; t <= tgt.length; t++) tgtMask[row * tgtLen + t] = 1;
    tgtTokens += tgt.length + 1;
  });
  return { size, srcLen, tgtLen, srcIds, srcMask, tgtIn, tgtOut, tgtMask, tgtTokens, indices };
}

export interface BatchPlanOptions {
  /** Sentences per batch (when batchTokens is 0). */
  batchSize: number;
  /** Padded target tokens per batch; 0 = batch by sentences. */
  batchTokens: number;
}

/**
 * Splits pair indices into batches of similar lengths. `shuffle` (a seeded
 * RNG's shuffle) randomises ties within a length and the order of batches;
 * without it the plan is in length order (for validation).
 */
export function planBatches(
  pairs: readonly EncodedPair[],
  options: BatchPlanOptions,
  shuffle?: <T>(items: T[]) => T[],
): number[][] {
  const order = pairs.map((_, i) => i);
  if (shuffle) shuffle(order);
  // Stable sort by (src length, tgt length) keeps the shuffled order within a bucket.
  order.sort((a, b) => pairs[a]!.src.length - pairs[b]!.src.length || pairs[a]!.tgt.length - pairs[b]!.tgt.length);
  const batches: number[][] = [];
  let current: number[] = [];
  let maxTgt = 0;
  for (const index of order) {
    const tgt = pairs[index]!.tgt.length + 1;
    const full =
      options.batchTokens > 0
        ? current.length > 0 && Math.max(maxTgt, tgt) * (current.length + 1) > options.batchTokens
        : current.length >= options.batchSize;
    if (full) {
      batches.push(current);
      current = [];
      maxTgt = 0;
    }
    current.push(index);
    maxTgt = Math.max(maxTgt, tgt);
  }
  if (current.length > 0) batches.push(current);
  return shuffle ? shuffle(batches) : batches;
}
