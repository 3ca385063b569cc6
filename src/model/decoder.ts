/**
 * The decoder step, shared by teacher-forced training and by greedy and beam
 * search so the two can never drift apart:
 *   s_t = LSTM_dec([emb(y_{t-1}); h̃_{t-1}], s_{t-1})   (input feeding; h̃_0 = 0)
 *   c_t = Σ_j α_tj h_j,  α_t = softmax(score(s_t, h_j))
 *   h̃_t = tanh(W_c [c_t; s_t]),  p(y_t | y<t, x) = softmax(W_s h̃_t + b_s)
 */
import * as tf from '@tensorflow/tfjs-core';
import { dense, embedLookup, matMul } from './ops.ts';
import { lstmStep, type LstmState } from './lstm.ts';
import { attend } from './attention.ts';
import { param, type ModelDims, type Params } from './params.ts';
import type { Dropout, EncodedSource } from './encoder.ts';

export interface DecoderState {
  /** One LSTM state per layer: [batch, hidden] each */
  layers: LstmState[];
  /** The previous attentional vector h̃_{t-1}: [batch, hidden]; null without input feeding */
  feed: tf.Tensor2D | null;
}

/** s_0 = the encoder's last state (bridged when bidirectional), h̃_0 = 0. */
export function initialDecoderState(d: ModelDims, enc: EncodedSource): DecoderState {
  const batch = enc.states.shape[0];
  return { layers: enc.initial, feed: d.inputFeeding ? (tf.zeros([batch, d.hidden]) as tf.Tensor2D) : null };
}

/**
 * The word-embedding part of the first decoder layer's input projection,
 * emb(y)·W_emb + b, for any number of target positions at once.
 * @param ids int32 [n]
 * @returns [n, 4·hidden]
 */
export function projectTargetInputs(params: Params, ids: tf.Tensor1D, drop: Dropout): tf.Tensor2D {
  const emb = drop(embedLookup(param(params, 'tgt_emb'), ids)) as tf.Tensor2D;
  return dense(emb, param(params, 'dec/l0/W_emb'), param(params, 'dec/l0/b'));
}

export interface StepOutput {
  state: DecoderState;
  /** h̃_t: [batch, hidden] */
  attentional: tf.Tensor2D;
  /** α_t: [batch, srcLen] */
  attention: tf.Tensor2D;
}

/**
 * One decoder time step.
 * @param inputProj [batch, 4·hidden]: projectTargetInputs of y_{t-1}
 */
export function decodeStep(
  params: Params,
  d: ModelDims,
  enc: EncodedSource,
  state: DecoderState,
  inputProj: tf.Tensor2D,
  drop: Dropout,
): StepOutput {
  const layers: LstmState[] = [];
  let x: tf.Tensor2D = state.feed ? tf.add(inputProj, matMul(state.feed, param(params, 'dec/l0/W_feed'))) : inputProj;
  for (let l = 0; l < d.layers; l++) {
    if (l > 0) {
      const below = drop(layers[l - 1]!.h) as tf.Tensor2D;
      x = dense(below, param(params, `dec/l${l}/W`), param(params, `dec/l${l}/b`));
    }
    layers.push(lstmStep(x, state.layers[l]!, param(params, `dec/l${l}/U`)));
  }
  const top = layers[d.layers - 1]!.h;
  const { context, weights } = attend(params, d, top, enc.keys, enc.states, enc.maskBias);
  const attentional = drop(tf.tanh(matMul(tf.concat([context, top], 1), param(params, 'out/W_c')))) as tf.Tensor2D;
  return { state: { layers, feed: d.inputFeeding ? attentional : null }, attentional, attention: weights };
}

/**
 * Output layer: W_s h̃ + b_s (W_s is the transposed target embedding with --tie-output).
 * @param attentional [n, hidden]
 * @returns logits [n, tgtVocab]
 */
export function outputLogits(params: Params, d: ModelDims, attentional: tf.Tensor2D): tf.Tensor2D {
  const w = d.tieOutput ? (tf.transpose(param(params, 'tgt_emb')) as tf.Tensor2D) : param<tf.Rank.R2>(params, 'out/W_s');
  return dense(attentional, w, param(params, 'out/b_s'));
}
