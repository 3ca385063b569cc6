/**
 * The search step greedy and beam search share (searchStep: decode every row,
 * read back each row's most probable tokens) and what it works on: sentences
 * batched by length, the weights arranged once per search (SearchWeights), the
 * batch's SearchState (encoder memory and decoder state, encoded once per
 * batch), and selecting its rows as hypotheses end or are reordered.
 */
import * as tf from '@tensorflow/tfjs-core';
import { encode, encoderWeightTensors, encoderWeights, noDropout, type EncoderMemory, type EncoderWeights } from '../model/encoder.ts';
import {
  blockCellTensors,
  blockCellWeights,
  decoderStep,
  decoderWeights,
  fusedDecoderStep,
  initialDecoderState,
  outputLogits,
  projectTargetInputs,
  type DecoderState,
  type DecoderWeights,
} from '../model/decoder.ts';
import type { BlockCellWeights } from '../model/fused-lstm.ts';
import { param } from '../model/params.ts';
import { backendTraits } from '../backend/traits.ts';
import type { Seq2Seq } from '../model/seq2seq.ts';
import { PAD } from '../data/vocab.ts';
import { outputLimit, type SearchOptions } from './options.ts';

/**
 * Sentence indices sorted by source length (longest first, ties in input
 * order) and cut into batches of at most `batchSize`.
 */
export function batchesByLength(sources: readonly (readonly number[])[], batchSize: number): number[][] {
  const order = sources.map((_, i) => i).sort((a, b) => sources[b]!.length - sources[a]!.length || a - b);
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  return batches;
}

/**
 * Runs `decodeBatch` on length-sorted batches of `opts.batchSize` and returns
 * its results in input order. The search's weights (see SearchWeights) are
 * arranged once for the whole search and disposed after it.
 * @param rowsPerSentence decoder rows per sentence (the beam size)
 */
export async function inInputOrder<T>(
  model: Seq2Seq,
  sources: readonly (readonly number[])[],
  opts: SearchOptions,
  rowsPerSentence: number,
  decodeBatch: (batch: readonly (readonly number[])[], inputs: SearchWeights) => Promise<T[]>,
): Promise<T[]> {
  const rowSteps = sources.reduce((sum, s) => sum + outputLimit(s.length, opts) * rowsPerSentence, 0);
  const inputs = searchWeights(model, rowSteps);
  try {
    const results = new Array<T>(sources.length);
    for (const indices of batchesByLength(sources, opts.batchSize)) {
      const out = await decodeBatch(indices.map((i) => sources[i]!), inputs);
      indices.forEach((index, k) => (results[index] = out[k]!));
    }
    return results;
  } finally {
    inputs.dispose();
  }
}

/** The padded source batch: ids int32 [batch, srcLen] and mask float32 [batch, srcLen] (srcLen ≥ 1). */
export function sourceTensors(sources: readonly (readonly number[])[]): { srcIds: tf.Tensor2D; srcMask: tf.Tensor2D } {
  const len = Math.max(1, ...sources.map((s) => s.length));
  const ids = new Int32Array(sources.length * len).fill(PAD);
  const mask = new Float32Array(sources.length * len);
  sources.forEach((s, row) => {
    s.forEach((id, t) => {
      ids[row * len + t] = id;
      mask[row * len + t] = 1;
    });
  });
  return {
    srcIds: tf.tensor2d(ids, [sources.length, len], 'int32'),
    srcMask: tf.tensor2d(mask, [sources.length, len], 'float32'),
  };
}

/**
 * tf.tidy for a function returning a typed structure of tensors (tidy walks
 * plain objects and arrays, but its type accepts only index-signature objects).
 */
export function tidyKeep<T extends object>(fn: () => T): T {
  return tf.tidy(fn as () => tf.TensorContainer) as T;
}

/** A batch being searched: its encoder memory and decoder state, one row per hypothesis, and the decoder weights. */
export interface SearchState {
  enc: EncoderMemory;
  state: DecoderState;
  /** The decoder weights, the search's (SearchWeights.decoder): not the batch's to dispose. */
  weights: DecoderWeights;
  /**
   * For the fused step (see fusedStep): the attention mask bias as
   * [rows, 1, srcLen], or null when no row is padded or the step is not fused.
   */
  stepMask: tf.Tensor3D | null;
}

/**
 * Whether searches run the decoder step through TensorFlow's LSTMBlockCell and
 * attendStep (BackendTraits.fusedSearchStep; dot and general attention).
 */
export function fusedStep(model: Seq2Seq): boolean {
  return backendTraits().fusedSearchStep && model.dims.attention !== 'concat';
}

/**
 * Encodes the batch once and builds the initial decoder state, then keeps the
 * rows `rows` (one per hypothesis: a sentence's row repeated per beam entry).
 * The returned tensors are owned by the caller (see disposeDecoding), except
 * the decoder weights, which are the search's (`inputs`).
 * @param sources source ids per sentence, each with at least one
 */
export function startDecoding(model: Seq2Seq, inputs: SearchWeights, sources: readonly (readonly number[])[], rows: readonly number[]): SearchState {
  return tidyKeep(() => {
    const { srcIds, srcMask } = sourceTensors(sources);
    const lengths = sources.map((s) => s.length);
    const unpaddedSteps = Math.min(...lengths);
    const full = encode(model.params, model.dims, srcIds, srcMask, noDropout, { unpaddedSteps, inference: true, lengths, arranged: inputs.encoder });
    const state = initialDecoderState(model.dims, full);
    const enc: EncoderMemory = { states: full.states, keys: full.keys, maskBias: full.maskBias };
    const weights = inputs.decoder;
    const padded = unpaddedSteps < srcIds.shape[1];
    const mask = fusedStep(model) && padded ? (tf.expandDims(enc.maskBias, 1) as tf.Tensor3D) : null;
    const identity = rows.length === sources.length && rows.every((r, i) => r === i);
    if (identity) return { enc, state, weights, stepMask: mask };
    const at = tf.tensor1d(Int32Array.from(rows), 'int32');
    return { enc: gatherEncoderRows(enc, at), state: gatherStateRows(state, at), weights, stepMask: mask && tf.gather(mask, at) };
  });
}

/**
 * Rows `at` of the encoder memory (call inside tf.tidy).
 * @param at int32 [n]: row indices, repeats allowed
 * @returns states [n, srcLen, encOut], keys [n, srcLen, hidden], maskBias [n, srcLen]
 */
export function gatherEncoderRows(enc: EncoderMemory, at: tf.Tensor1D): EncoderMemory {
  const states = tf.gather(enc.states, at);
  // Dot attention uses the states as keys: keep them one tensor.
  const keys = enc.keys === enc.states ? states : tf.gather(enc.keys, at);
  return { states, keys, maskBias: tf.gather(enc.maskBias, at) };
}

/**
 * Rows `at` of every tensor of the decoder state (call inside tf.tidy).
 * @param at int32 [n]: row indices, repeats allowed
 * @returns h, c per layer and feed: [n, hidden] each
 */
export function gatherStateRows(state: DecoderState, at: tf.Tensor1D): DecoderState {
  return {
    layers: state.layers.map(({ h, c }) => ({ h: tf.gather(h, at), c: tf.gather(c, at) })),
    feed: state.feed ? tf.gather(state.feed, at) : null,
  };
}

export function stateTensors(state: DecoderState): tf.Tensor[] {
  return [...state.layers.flatMap(({ h, c }) => [h, c]), ...(state.feed ? [state.feed] : [])];
}

export function encoderTensors(enc: EncoderMemory): tf.Tensor[] {
  return [enc.states, enc.keys, enc.maskBias];
}

/**
 * Replaces the decoding's tensors by their rows `rows` (the state always, the
 * encoder output when `encoderToo`), disposing the old ones.
 * @param srcLen with encoderToo: keep only the first srcLen source positions
 *   of the encoder output (the kept rows' longest source; what lies beyond is
 *   padding, which gets no attention)
 */
export function keepRows(d: SearchState, rows: readonly number[], encoderToo: boolean, srcLen?: number): SearchState {
  const next = tidyKeep(() => {
    const at = tf.tensor1d(Int32Array.from(rows), 'int32');
    const width = d.enc.states.shape[1];
    // Source positions are axis 1, but the last axis of stepMask [rows, 1, srcLen].
    const trim = <T extends tf.Tensor>(t: T, srcAxis = 1): T =>
      srcLen === undefined || srcLen >= width ? t : (tf.slice(t, t.shape.map(() => 0), t.shape.map((n, axis) => (axis === srcAxis ? srcLen : n))) as T);
    const stepMask = encoderToo && d.stepMask ? tf.gather(trim(d.stepMask, 2), at) : d.stepMask;
    const enc = encoderToo ? gatherEncoderRows(trimmed(d.enc, trim), at) : d.enc;
    return { enc, state: gatherStateRows(d.state, at), weights: d.weights, stepMask };
  });
  if (encoderToo) tf.dispose([...encoderTensors(d.enc), ...(d.stepMask ? [d.stepMask] : [])]);
  tf.dispose(stateTensors(d.state));
  return next;
}

/**
 * Two decodings of one search as one: the rows of `a`, then the rows of `b`
 * (sentences that join a running search). The shorter source memory is padded
 * to the longer one's length with zero states and the mask's large negative
 * bias, so the padding gets no attention. The old tensors of both are
 * disposed (not the search's weights).
 */
export function mergeDecoding(a: SearchState, b: SearchState): SearchState {
  const len = Math.max(a.enc.states.shape[1], b.enc.states.shape[1]);
  const pad = <T extends tf.Tensor>(t: T, value: number): T => {
    const missing = len - t.shape[1]!;
    if (missing === 0) return t;
    return tf.pad(t, t.shape.map((_, axis) => (axis === 1 ? [0, missing] : [0, 0])) as [number, number][], value) as T;
  };
  const next = tidyKeep(() => {
    const states = tf.concat([pad(a.enc.states, 0), pad(b.enc.states, 0)], 0);
    const keys = a.enc.keys === a.enc.states ? states : tf.concat([pad(a.enc.keys, 0), pad(b.enc.keys, 0)], 0);
    const maskBias = tf.concat([pad(a.enc.maskBias, -1e9), pad(b.enc.maskBias, -1e9)], 0);
    const state: DecoderState = {
      layers: a.state.layers.map((l, i) => ({ h: tf.concat([l.h, b.state.layers[i]!.h], 0), c: tf.concat([l.c, b.state.layers[i]!.c], 0) })),
      feed: a.state.feed && b.state.feed ? tf.concat([a.state.feed, b.state.feed], 0) : null,
    };
    // Whatever padding the merged rows have (the portable step ignores stepMask).
    const stepMask = tf.expandDims(maskBias, 1) as tf.Tensor3D;
    return { enc: { states, keys, maskBias }, state, stepMask };
  });
  const masks = [a.stepMask, b.stepMask].filter((m): m is tf.Tensor3D => m !== null);
  tf.dispose([...encoderTensors(a.enc), ...stateTensors(a.state), ...encoderTensors(b.enc), ...stateTensors(b.state), ...masks]);
  return { ...next, weights: a.weights };
}

/** The encoder memory with `trim` applied to each of its tensors (dot attention's keys stay its states). */
function trimmed(enc: EncoderMemory, trim: <T extends tf.Tensor>(t: T, srcAxis?: number) => T): EncoderMemory {
  const states = trim(enc.states);
  return { states, keys: enc.keys === enc.states ? states : trim(enc.keys), maskBias: trim(enc.maskBias) };
}

/** Disposes the decoding's tensors (not the search's weights). */
export function disposeDecoding(d: SearchState): void {
  tf.dispose([...encoderTensors(d.enc), ...stateTensors(d.state), ...(d.stepMask ? [d.stepMask] : [])]);
}

/**
 * What a search arranges once and every batch of it uses: the decoder's
 * weights, the fused encoder's (EncoderWeights), and the first decoder layer's
 * word-embedding input emb(y)·W_emb + b of each row's previous token. When a
 * search will take more row-steps than the target vocabulary has words, the
 * projection of every word is computed once ([tgtVocab, 4·hidden], the same
 * product) and a step only gathers rows. A server's stream is one search,
 * however many sentences join it, so a joining group costs an encoder run and
 * not also three large copies of weights.
 */
export interface SearchWeights {
  /** [rows, 4·hidden] for the tokens `previous` (call inside tf.tidy). */
  of(previous: Int32Array): tf.Tensor2D;
  /**
   * With the fused step (fusedStep): the decoder's layers as LSTMBlockCell
   * takes them, arranged once per search; its first layer takes the word
   * embeddings themselves (their product is part of the cell's). Else null.
   */
  cells: BlockCellWeights[] | null;
  /** The decoder's weights as the portable step takes them (decoderWeights). */
  decoder: DecoderWeights;
  /** The fused encoder's weights (encoderWeights), or null on backends without it. */
  encoder: EncoderWeights | null;
  dispose(): void;
}

/** @param rowSteps an upper bound on the decoder rows × steps the search will run */
export function searchWeights(model: Seq2Seq, rowSteps: number): SearchWeights {
  const { params, dims } = model;
  const arranged = tidyKeep(() => ({
    cells: fusedStep(model) ? blockCellWeights(params, dims) : null,
    decoder: decoderWeights(params, dims),
    encoder: encoderWeights(params, dims),
    table: rowSteps >= dims.tgtVocab && !fusedStep(model) ? projectTargetInputs(params, tf.range(0, dims.tgtVocab, 1, 'int32') as tf.Tensor1D, noDropout) : null,
  }));
  const { cells, decoder, encoder, table } = arranged;
  return {
    of: table ? (previous) => tf.gather(table, tf.tensor1d(previous, 'int32')) : (previous) => projectTargetInputs(params, tf.tensor1d(previous, 'int32'), noDropout),
    cells,
    decoder,
    encoder,
    dispose: () => tf.dispose([...(cells ? blockCellTensors(cells) : []), ...decoder.owned, ...encoderWeightTensors(encoder), ...(table ? [table] : [])]),
  };
}

/**
 * One decoder step for every row, fed the previous output ids (call inside
 * tf.tidy). The same decoderStep as training, without dropout.
 * @param previous [rows]: y_{t-1} of each row (<sos> at the start)
 * @returns the new state, logits [rows, tgtVocab], attention [rows, srcLen] (fused step: [rows, 1, srcLen])
 */
function decodeRows(model: Seq2Seq, d: SearchState, inputs: SearchWeights, previous: Int32Array): { state: DecoderState; logits: tf.Tensor2D; attention: tf.Tensor } {
  const { params, dims } = model;
  if (inputs.cells) {
    const emb = tf.gather(param<tf.Rank.R2>(params, 'tgt_emb'), tf.tensor1d(previous, 'int32'));
    const out = fusedDecoderStep(dims, d.weights, inputs.cells, d.enc, d.stepMask, d.state, emb);
    return { state: out.state, logits: outputLogits(params, dims, out.attentional), attention: out.attention };
  }
  const inputProj = inputs.of(previous);
  const out = decoderStep(params, dims, d.weights, d.enc, d.state, inputProj, null);
  return { state: out.state, logits: outputLogits(params, dims, out.attentional), attention: out.attention };
}

/** What one search step reads back: each row's most probable tokens and, when asked for, the attention. */
export interface StepCandidates {
  /** [rows·perRow] each row's perRow largest probabilities, largest first */
  probs: Float32Array;
  /** [rows·perRow] their tokens */
  tokens: Int32Array;
  /** [rows·paddedSrcLen] or null */
  attention: Float32Array | null;
}

/**
 * One search step for every row: decodes, takes each row's `perRow` most
 * probable tokens (topk over the softmax) and reads them back, with the
 * attention when asked for: the one small read-back per step. The previous
 * state's tensors and everything read back are disposed.
 * @returns the decoding advanced to the new state, and the candidates
 */
export async function searchStep(
  model: Seq2Seq,
  d: SearchState,
  inputs: SearchWeights,
  previous: Int32Array,
  perRow: number,
  withAttention: boolean,
): Promise<{ dec: SearchState; candidates: StepCandidates }> {
  const step = tidyKeep(() => {
    const s = decodeRows(model, d, inputs, previous);
    const { values, indices } = tf.topk(tf.softmax(s.logits), perRow);
    return { state: s.state, values, indices, attention: s.attention };
  });
  tf.dispose(stateTensors(d.state));
  const dec = { ...d, state: step.state };
  try {
    const [probs, tokens, attention] = await Promise.all([
      step.values.data() as Promise<Float32Array>,
      step.indices.data() as Promise<Int32Array>,
      withAttention ? (step.attention.data() as Promise<Float32Array>) : Promise.resolve(null),
    ]);
    return { dec, candidates: { probs, tokens, attention } };
  } finally {
    tf.dispose([step.values, step.indices, step.attention]);
  }
}
