/**
 * The LSTM cell and a masked run over a sequence. Input projections x·W + b are
 * computed by the caller for all time steps in one matrix product; a step only
 * adds the recurrent product h·U. Gate order in the 4·H columns: i, f, g, o.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tanh, withGradient } from './ops.ts';

export interface LstmState {
  /** [batch, hidden] */
  h: tf.Tensor2D;
  /** [batch, hidden] */
  c: tf.Tensor2D;
}

/**
 * Runs one LSTM direction over a padded batch. At padded positions the state
 * is carried over unchanged, so the final state is the one after each
 * sequence's last real token (for `reverse`, after its first token).
 *
 * The whole run has one hand-written gradient: the backward pass walks the
 * steps once with a few elementwise ops each, and the recurrent weight
 * gradient is a single [hidden, batch·len]·[batch·len, 4·hidden] product
 * instead of one product (and two transposes) per step.
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
  const [batch, len] = xProj.shape;
  const hidden = u.shape[0];
  const packed = (reverse ? lstmSequenceReverse : lstmSequence)(xProj, mask, u, initial.h, initial.c) as tf.Tensor3D;
  const outputs = tf.slice(packed, [0, 0, 0], [batch, len, hidden]) as tf.Tensor3D;
  const lastH = tf.reshape(tf.slice(packed, [0, reverse ? 0 : len - 1, 0], [batch, 1, hidden]), [batch, hidden]) as tf.Tensor2D;
  const lastC = tf.reshape(tf.slice(packed, [0, len, 0], [batch, 1, hidden]), [batch, hidden]) as tf.Tensor2D;
  return { outputs, final: { h: lastH, c: lastC } };
}

/** Gate activations i, f, g, o of pre-activations z: [batch, 4·hidden] each. */
function gates(z: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] {
  const [zi, zf, zg, zo] = tf.split(z, 4, 1) as tf.Tensor2D[];
  return [tf.sigmoid(zi!), tf.sigmoid(zf!), tanh(zg!), tf.sigmoid(zo!)];
}

/**
 * The masked LSTM over all steps as one op with its own gradient.
 * Inputs: xProj [B, T, 4H], mask [B, T], u [H, 4H], h0 [B, H], c0 [B, H].
 * Value: [B, T + 1, H]: the outputs h_1…h_T, then the final cell state.
 */
function lstmSequenceOp(reverse: boolean) {
  return withGradient(([xProj, mask, u, h0, c0], save) => {
    const [batch, len] = xProj!.shape as [number, number, number];
    const xs = tf.unstack(xProj!, 1) as tf.Tensor2D[];
    const ms = tf.unstack(tf.expandDims(mask!, 2), 1) as tf.Tensor2D[];
    let h = h0 as tf.Tensor2D;
    let c = c0 as tf.Tensor2D;
    const outputs: tf.Tensor2D[] = new Array(len);
    const acts: tf.Tensor2D[] = new Array(len);
    const tanhC: tf.Tensor2D[] = new Array(len);
    const hPrev: tf.Tensor2D[] = new Array(len);
    const cPrev: tf.Tensor2D[] = new Array(len);
    for (let k = 0; k < len; k++) {
      const t = reverse ? len - 1 - k : k;
      const [i, f, g, o] = gates(tf.add(xs[t]!, tf.matMul(h, u as tf.Tensor2D)));
      const cNew = tf.add(tf.mul(f, c), tf.mul(i, g)) as tf.Tensor2D;
      const tc = tanh(cNew) as tf.Tensor2D;
      const hNew = tf.mul(o, tc) as tf.Tensor2D;
      hPrev[t] = h;
      cPrev[t] = c;
      acts[t] = tf.concat([i, f, g, o], 1) as tf.Tensor2D;
      tanhC[t] = tc;
      const m = ms[t]!;
      h = tf.add(h, tf.mul(m, tf.sub(hNew, h))) as tf.Tensor2D;
      c = tf.add(c, tf.mul(m, tf.sub(cNew, c))) as tf.Tensor2D;
      outputs[t] = h;
    }
    save([tf.stack(acts, 1), tf.stack(tanhC, 1), tf.stack(hPrev, 1), tf.stack(cPrev, 1), mask!, u!]);
    return {
      value: tf.concat([tf.stack(outputs, 1), tf.expandDims(c, 1)], 1),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [actsAll, tanhAll, hPrevAll, cPrevAll, sMask, sU] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor2D, tf.Tensor2D];
        const hidden = sU.shape[0];
        const dOut = tf.unstack(tf.slice(dy, [0, 0, 0], [batch, len, hidden]), 1) as tf.Tensor2D[];
        const actsT = tf.unstack(actsAll, 1) as tf.Tensor2D[];
        const tanhT = tf.unstack(tanhAll, 1) as tf.Tensor2D[];
        const cPrevT = tf.unstack(cPrevAll, 1) as tf.Tensor2D[];
        const msT = tf.unstack(tf.expandDims(sMask, 2), 1) as tf.Tensor2D[];
        const uT = tf.transpose(sU) as tf.Tensor2D;
        let dh = tf.zerosLike(dOut[0]!) as tf.Tensor2D;
        let dc = tf.reshape(tf.slice(dy, [0, len, 0], [batch, 1, hidden]), [batch, hidden]) as tf.Tensor2D;
        const dz: tf.Tensor2D[] = new Array(len);
        for (let k = len - 1; k >= 0; k--) {
          const t = reverse ? len - 1 - k : k;
          dh = tf.add(dh, dOut[t]!);
          const m = msT[t]!;
          const dhNew = tf.mul(m, dh);
          const dcNew = tf.mul(m, dc);
          const [i, f, g, o] = tf.split(actsT[t]!, 4, 1) as tf.Tensor2D[];
          const tc = tanhT[t]!;
          const dcTotal = tf.add(dcNew, tf.mul(tf.mul(dhNew, o!), tf.sub(1, tf.square(tc))));
          const dzt = tf.concat(
            [
              tf.mul(tf.mul(dcTotal, g!), tf.mul(i!, tf.sub(1, i!))),
              tf.mul(tf.mul(dcTotal, cPrevT[t]!), tf.mul(f!, tf.sub(1, f!))),
              tf.mul(tf.mul(dcTotal, i!), tf.sub(1, tf.square(g!))),
              tf.mul(tf.mul(dhNew, tc), tf.mul(o!, tf.sub(1, o!))),
            ],
            1,
          ) as tf.Tensor2D;
          dz[t] = dzt;
          dh = tf.add(tf.sub(dh, dhNew), tf.matMul(dzt, uT)) as tf.Tensor2D;
          dc = tf.add(tf.sub(dc, dcNew), tf.mul(dcTotal, f!)) as tf.Tensor2D;
        }
        const dzAll = tf.stack(dz, 1) as tf.Tensor3D;
        const rows = batch * len;
        const dU = tf.matMul(tf.transpose(tf.reshape(hPrevAll, [rows, hidden])) as tf.Tensor2D, tf.reshape(dzAll, [rows, 4 * hidden]) as tf.Tensor2D);
        return [dzAll, tf.zerosLike(sMask), dU, dh, dc];
      },
    };
  });
}

const lstmSequence = lstmSequenceOp(false);
const lstmSequenceReverse = lstmSequenceOp(true);
