/**
 * Luong attention. Scores e_j = score(s, h_j):
 *   dot      s · h_j
 *   general  sᵀ W_a h_j          (keys W_a h_j precomputed once per batch)
 *   concat   v_aᵀ tanh(W_a [s; h_j]) = v_aᵀ tanh(W_s s + W_h h_j)   (W_h h_j precomputed)
 * α = softmax over unmasked positions; context c = Σ_j α_j h_j.
 * Written as 2-D matrix products and elementwise multiply + sum: batched
 * matMuls run a slow scalar loop on the wasm backend. Where the backend's
 * traits say so (tensorflow) the two per-position products (s · k_j and
 * Σ_j α_j h_j) are batched matMuls instead.
 */
import * as tf from '@tensorflow/tfjs-core';
import { matMul, tanh } from './ops.ts';
import { param, type ModelDims, type Params } from './params.ts';
import { backendTraits } from '../backend/traits.ts';

/**
 * The part of the score that depends only on the encoder states.
 * @param states [batch, srcLen, encOut]
 * @returns keys [batch, srcLen, hidden] (dot: the states, encOut = hidden)
 */
export function attentionKeys(params: Params, d: ModelDims, states: tf.Tensor3D): tf.Tensor3D {
  if (d.attention === 'dot') return states;
  const [batch, len, encOut] = states.shape;
  const w = param<tf.Rank.R2>(params, d.attention === 'general' ? 'att/W' : 'att/W_h');
  return tf.reshape(matMul(tf.reshape(states, [batch * len, encOut]) as tf.Tensor2D, w), [batch, len, d.hidden]) as tf.Tensor3D;
}

/**
 * Attention scores before the softmax.
 * @param query decoder state s: [batch, hidden]
 * @param keys [batch, srcLen, hidden]
 * @returns [batch, srcLen]
 */
export function attentionScores(params: Params, d: ModelDims, query: tf.Tensor2D, keys: tf.Tensor3D): tf.Tensor2D {
  if (d.attention === 'concat') {
    const [batch, len, hidden] = keys.shape;
    const q = tf.expandDims(matMul(query, param(params, 'att/W_s')), 1);
    const hiddenAct = tf.reshape(tanh(tf.add(keys, q)), [batch * len, hidden]) as tf.Tensor2D;
    return tf.reshape(matMul(hiddenAct, param(params, 'att/v')), [batch, len]) as tf.Tensor2D;
  }
  if (backendTraits().batchedAttentionProducts) return tf.reshape(tf.matMul(keys, tf.expandDims(query, 2)), [keys.shape[0], keys.shape[1]]) as tf.Tensor2D;
  return tf.sum(tf.mul(keys, tf.expandDims(query, 1)), 2) as tf.Tensor2D;
}

/**
 * @param query [batch, hidden]
 * @param keys [batch, srcLen, hidden]
 * @param values encoder states h_j: [batch, srcLen, encOut]
 * @param maskBias [batch, srcLen]: 0 at real tokens, −1e9 at padding
 * @returns context [batch, encOut] and weights α [batch, srcLen]
 */
export function attend(
  params: Params,
  d: ModelDims,
  query: tf.Tensor2D,
  keys: tf.Tensor3D,
  values: tf.Tensor3D,
  maskBias: tf.Tensor2D,
): { context: tf.Tensor2D; weights: tf.Tensor2D } {
  const weights = tf.softmax(tf.add(attentionScores(params, d, query, keys), maskBias)) as tf.Tensor2D;
  const context = backendTraits().batchedAttentionProducts
    ? (tf.reshape(tf.matMul(tf.expandDims(weights, 1), values), [values.shape[0], values.shape[2]]) as tf.Tensor2D)
    : (tf.sum(tf.mul(values, tf.expandDims(weights, 2)), 1) as tf.Tensor2D);
  return { context, weights };
}

/**
 * Attention for one search step with the fewest kernels (dot or general
 * scores; tensorflow, where batched products are fast): the scores s·k_jᵀ
 * as one batched product of the query [batch, 1, hidden] with the keys,
 * the context as one batched product of the weights with the values.
 * @param query [batch, hidden]
 * @param maskBias [batch, 1, srcLen] (0 at real tokens, −1e9 at padding), or null when no row is padded
 * @returns context [batch, encOut] and weights α [batch, 1, srcLen]
 */
export function attendStep(
  query: tf.Tensor2D,
  keys: tf.Tensor3D,
  values: tf.Tensor3D,
  maskBias: tf.Tensor3D | null,
): { context: tf.Tensor2D; weights: tf.Tensor3D } {
  const scores = tf.matMul(tf.expandDims(query, 1) as tf.Tensor3D, keys, false, true);
  const weights = tf.softmax(maskBias ? tf.add(scores, maskBias) : scores) as tf.Tensor3D;
  const context = tf.reshape(tf.matMul(weights, values), [values.shape[0], values.shape[2]]) as tf.Tensor2D;
  return { context, weights };
}
