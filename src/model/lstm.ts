/**
 * The LSTM cell and a masked run over a sequence. Input projections x·W + b are
 * computed by the caller for all time steps in one matrix product; a step only
 * adds the recurrent product h·U. Gate order in the 4·H columns: i, f, g, o.
 */
import * as tf from '@tensorflow/tfjs-core';
import { matMul } from './ops.ts';

export interface LstmState {
  /** [batch, hidden] */
  h: tf.Tensor2D;
  /** [batch, hidden] */
  c: tf.Tensor2D;
}

/**
 * One LSTM step.
 * @param xProj [batch, 4·hidden]: x_t·W + b
 * @param state h, c: [batch, hidden]
 * @param u [hidden, 4·hidden]
 */
export function lstmStep(xProj: tf.Tensor2D, state: LstmState, u: tf.Tensor2D): LstmState {
  const z = tf.add(xProj, matMul(state.h, u));
  const [i, f, g, o] = tf.split(z, 4, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  const c: tf.Tensor2D = tf.add(tf.mul(tf.sigmoid(f), state.c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
  const h: tf.Tensor2D = tf.mul(tf.sigmoid(o), tf.tanh(c));
  return { h, c };
}

/**
 * Runs one LSTM direction over a padded batch. At padded positions the state
 * is carried over unchanged, so the final state is the one after each
 * sequence's last real token (for `reverse`, after its first token).
 * @param xProj [batch, len, 4·hidden]: inputs already multiplied by W, plus b
 * @param mask [batch, len]: 1 for real tokens, 0 for padding
 * @param u [hidden, 4·hidden]
 * @param initial h, c: [batch, hidden]
 * @returns outputs [batch, len, hidden] (in input order), and the final state
 */
export function runLstm(
  xProj: tf.Tensor3D,
  mask: tf.Tensor2D,
  u: tf.Tensor2D,
  initial: LstmState,
  reverse: boolean,
): { outputs: tf.Tensor3D; final: LstmState } {
  const len = xProj.shape[1];
  const inputs = tf.unstack(xProj, 1) as tf.Tensor2D[];
  const masks = tf.unstack(tf.expandDims(mask, 2), 1) as tf.Tensor2D[];
  const outputs: tf.Tensor2D[] = new Array(len);
  let state = initial;
  for (let k = 0; k < len; k++) {
    const t = reverse ? len - 1 - k : k;
    const next = lstmStep(inputs[t]!, state, u);
    const m = masks[t]!;
    state = {
      h: tf.add(state.h, tf.mul(m, tf.sub(next.h, state.h))) as tf.Tensor2D,
      c: tf.add(state.c, tf.mul(m, tf.sub(next.c, state.c))) as tf.Tensor2D,
    };
    outputs[t] = state.h;
  }
  return { outputs: tf.stack(outputs, 1) as tf.Tensor3D, final: state };
}
