/**
 * The model as a whole: parameters plus dims, the teacher-forced loss used in
 * training, and the pieces search uses (encode, decoderStep, outputLogits).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config.ts';
import type { Batch } from '../data/batches.ts';
import { encode, noDropout, type Dropout } from './encoder.ts';
import { outputLogits, projectTargetInputs } from './decoder.ts';
import { decodeTeacherForced } from './decoder-sequence.ts';
import { maskedCrossEntropySum } from './ops.ts';
import { initParams, modelDims, type ModelDims } from './params.ts';

export interface Seq2Seq {
  readonly dims: ModelDims;
  readonly params: Map<string, tf.Variable>;
}

export function createModel(model: ModelConfig, srcVocab: number, tgtVocab: number, seed: number): Seq2Seq {
  const dims = modelDims(model, srcVocab, tgtVocab);
  return { dims, params: initParams(dims, model.initScale, seed) };
}

export function disposeModel(model: Seq2Seq): void {
  for (const v of model.params.values()) v.dispose();
}

/** A padded batch as tensors. */
export interface BatchTensors {
  /** int32 [batch, srcLen] */
  srcIds: tf.Tensor2D;
  /** float32 [batch, srcLen] */
  srcMask: tf.Tensor2D;
  /** int32 [batch, tgtLen]: <sos> y1 … y_{n-1} */
  tgtIn: tf.Tensor2D;
  /** int32 [batch, tgtLen]: y1 … y_n <eos> */
  tgtOut: tf.Tensor2D;
  /** float32 [batch, tgtLen] */
  tgtMask: tf.Tensor2D;
  /** The shortest source length: positions before it are real in every row (default 0: no such knowledge). */
  srcUnpadded?: number;
}

/**
 * Teacher-forced output logits for every target position.
 * @returns [batch·tgtLen, tgtVocab] (row b·tgtLen + t is position t of sentence b)
 */
export function forwardLogits(model: Seq2Seq, b: BatchTensors, drop: Dropout = noDropout, gradient: 'auto' | 'autodiff' = 'auto'): tf.Tensor2D {
  const { dims: d, params } = model;
  const [batch, tgtLen] = b.tgtIn.shape;
  const enc = encode(params, d, b.srcIds, b.srcMask, drop, { unpaddedSteps: b.srcUnpadded ?? 0, inference: false });
  // Embedding projections of every target input in one product, time-major: [tgtLen, batch, 4H].
  const timeMajorIds = tf.reshape(tf.transpose(b.tgtIn), [-1]) as tf.Tensor1D;
  const inputs = tf.reshape(projectTargetInputs(params, timeMajorIds, drop), [tgtLen, batch, 4 * d.hidden]) as tf.Tensor3D;
  const attentional = decodeTeacherForced(params, d, enc, inputs, drop, gradient);
  const all = tf.reshape(tf.transpose(attentional, [1, 0, 2]), [batch * tgtLen, d.hidden]) as tf.Tensor2D;
  return outputLogits(params, d, all);
}

/**
 * Teacher-forced loss: the sum over real target tokens of the (label-smoothed)
 * cross-entropy. Divide by the token count for the mean.
 * @returns scalar
 */
export function lossSum(
  model: Seq2Seq,
  b: BatchTensors,
  drop: Dropout = noDropout,
  labelSmoothing = 0,
  gradient: 'auto' | 'autodiff' = 'auto',
): tf.Scalar {
  return maskedCrossEntropySum(
    forwardLogits(model, b, drop, gradient),
    tf.reshape(b.tgtOut, [-1]) as tf.Tensor1D,
    tf.reshape(b.tgtMask, [-1]) as tf.Tensor1D,
    labelSmoothing,
  );
}

/** The padded batch as tensors (caller disposes). */
export function batchTensors(b: Batch): BatchTensors {
  return {
    srcIds: tf.tensor2d(b.srcIds, [b.size, b.srcLen], 'int32'),
    srcMask: tf.tensor2d(b.srcMask, [b.size, b.srcLen], 'float32'),
    tgtIn: tf.tensor2d(b.tgtIn, [b.size, b.tgtLen], 'int32'),
    tgtOut: tf.tensor2d(b.tgtOut, [b.size, b.tgtLen], 'int32'),
    tgtMask: tf.tensor2d(b.tgtMask, [b.size, b.tgtLen], 'float32'),
    srcUnpadded: shortestRow(b.srcMask, b.size, b.srcLen),
  };
}

/** The fewest leading 1s of any row of a right-padded [rows, len] mask. */
function shortestRow(mask: Float32Array, rows: number, len: number): number {
  let shortest = len;
  for (let r = 0; r < rows; r++) {
    let n = 0;
    while (n < len && mask[r * len + n] === 1) n++;
    shortest = Math.min(shortest, n);
  }
  return shortest;
}
