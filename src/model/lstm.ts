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

/** How runLstm may save work. */
export interface LstmRunOptions {
  /** Positions 0 … unpaddedSteps−1 are real tokens in every row: no carry-over masking there. */
  unpaddedSteps: number;
  /** No gradient will be taken (search): the values a backward pass needs are not kept. */
  inference: boolean;
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
  opts: LstmRunOptions = { unpaddedSteps: 0, inference: false },
): { outputs: tf.Tensor3D; final: LstmState } {
  const [batch, len] = xProj.shape;
  if (opts.inference) {
    const run = forwardLoop(tf.unstack(xProj, 1) as tf.Tensor2D[], maskSteps(mask), u, initial, reverse, opts.unpaddedSteps, false);
    const last = run.outputs[reverse ? 0 : len - 1]!;
    return { outputs: tf.stack(run.outputs, 1) as tf.Tensor3D, final: { h: last, c: run.c } };
  }
  const hidden = u.shape[0];
  const packed = lstmSequenceOp(reverse, opts.unpaddedSteps)(xProj, mask, u, initial.h, initial.c) as tf.Tensor3D;
  const outputs = tf.slice(packed, [0, 0, 0], [batch, len, hidden]) as tf.Tensor3D;
  const lastH = tf.reshape(tf.slice(packed, [0, reverse ? 0 : len - 1, 0], [batch, 1, hidden]), [batch, hidden]) as tf.Tensor2D;
  const lastC = tf.reshape(tf.slice(packed, [0, len, 0], [batch, 1, hidden]), [batch, hidden]) as tf.Tensor2D;
  return { outputs, final: { h: lastH, c: lastC } };
}

/** The mask per position as [batch, 1] columns. */
function maskSteps(mask: tf.Tensor2D): tf.Tensor2D[] {
  return tf.unstack(tf.expandDims(mask, 2), 1) as tf.Tensor2D[];
}

/** Per-step values the backward pass needs (indexed by position). */
interface Kept {
  acts: tf.Tensor2D[];
  tanhC: tf.Tensor2D[];
  hPrev: tf.Tensor2D[];
  cPrev: tf.Tensor2D[];
}

/**
 * The forward walk: at padded positions (mask 0) the state is carried over;
 * positions < unpaddedSteps skip the masking. `keep`: also return what the
 * backward pass needs.
 */
function forwardLoop(
  xs: tf.Tensor2D[],
  ms: tf.Tensor2D[],
  u: tf.Tensor2D,
  initial: LstmState,
  reverse: boolean,
  unpaddedSteps: number,
  keep: boolean,
): { outputs: tf.Tensor2D[]; c: tf.Tensor2D; kept: Kept | null } {
  const len = xs.length;
  let h = initial.h;
  let c = initial.c;
  const outputs: tf.Tensor2D[] = new Array(len);
  const kept: Kept | null = keep ? { acts: new Array(len), tanhC: new Array(len), hPrev: new Array(len), cPrev: new Array(len) } : null;
  for (let k = 0; k < len; k++) {
    const t = reverse ? len - 1 - k : k;
    const [i, f, g, o] = gates(tf.add(xs[t]!, tf.matMul(h, u)));
    const cNew = tf.add(tf.mul(f, c), tf.mul(i, g)) as tf.Tensor2D;
    const tc = tanh(cNew) as tf.Tensor2D;
    const hNew = tf.mul(o, tc) as tf.Tensor2D;
    if (kept) {
      kept.hPrev[t] = h;
      kept.cPrev[t] = c;
      kept.acts[t] = tf.concat([i, f, g, o], 1) as tf.Tensor2D;
      kept.tanhC[t] = tc;
    }
    if (t < unpaddedSteps) {
      h = hNew;
      c = cNew;
    } else {
      const m = ms[t]!;
      h = tf.add(h, tf.mul(m, tf.sub(hNew, h))) as tf.Tensor2D;
      c = tf.add(c, tf.mul(m, tf.sub(cNew, c))) as tf.Tensor2D;
    }
    outputs[t] = h;
  }
  return { outputs, c, kept };
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
function lstmSequenceOp(reverse: boolean, unpaddedSteps: number) {
  return withGradient(([xProj, mask, u, h0, c0], save) => {
    const [batch, len] = xProj!.shape as [number, number, number];
    const run = forwardLoop(
      tf.unstack(xProj!, 1) as tf.Tensor2D[],
      maskSteps(mask as tf.Tensor2D),
      u as tf.Tensor2D,
      { h: h0 as tf.Tensor2D, c: c0 as tf.Tensor2D },
      reverse,
      unpaddedSteps,
      true,
    );
    const kept = run.kept!;
    save([tf.stack(kept.acts, 1), tf.stack(kept.tanhC, 1), tf.stack(kept.hPrev, 1), tf.stack(kept.cPrev, 1), mask!, u!]);
    return {
      value: tf.concat([tf.stack(run.outputs, 1), tf.expandDims(run.c, 1)], 1),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [actsAll, tanhAll, hPrevAll, cPrevAll, sMask, sU] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor2D, tf.Tensor2D];
        const hidden = sU.shape[0];
        const dOut = tf.unstack(tf.slice(dy, [0, 0, 0], [batch, len, hidden]), 1) as tf.Tensor2D[];
        const actsT = tf.unstack(actsAll, 1) as tf.Tensor2D[];
        // Slopes for all steps at once: σ' = a(1 − a) for i, f, o and tanh' = 1 − a² = (1 − a)(1 + a) for g.
        const gOnes = tf.concat([tf.zeros([2 * hidden]), tf.ones([hidden]), tf.zeros([hidden])]);
        const slopeT = tf.unstack(tf.mul(tf.sub(1, actsAll), tf.add(actsAll, gOnes)), 1) as tf.Tensor2D[];
        const tanhT = tf.unstack(tanhAll, 1) as tf.Tensor2D[];
        const cellSlopeT = tf.unstack(tf.sub(1, tf.square(tanhAll)), 1) as tf.Tensor2D[];
        const cPrevT = tf.unstack(cPrevAll, 1) as tf.Tensor2D[];
        const msT = maskSteps(sMask);
        const uT = tf.transpose(sU) as tf.Tensor2D;
        let dh: tf.Tensor2D | null = null;
        let dc = tf.reshape(tf.slice(dy, [0, len, 0], [batch, 1, hidden]), [batch, hidden]) as tf.Tensor2D;
        const dz: tf.Tensor2D[] = new Array(len);
        for (let k = len - 1; k >= 0; k--) {
          const t = reverse ? len - 1 - k : k;
          const dhAll: tf.Tensor2D = dh ? (tf.add(dh, dOut[t]!) as tf.Tensor2D) : dOut[t]!;
          // At a real position the new state takes the whole gradient; at padding the carried one does.
          const masked = t >= unpaddedSteps;
          const dhNew = masked ? (tf.mul(msT[t]!, dhAll) as tf.Tensor2D) : dhAll;
          const dcNew = masked ? (tf.mul(msT[t]!, dc) as tf.Tensor2D) : dc;
          const [i, f, g, o] = tf.split(actsT[t]!, 4, 1) as tf.Tensor2D[];
          const tc = tanhT[t]!;
          const dcTotal = tf.add(dcNew, tf.mul(tf.mul(dhNew, o!), cellSlopeT[t]!));
          const dActs = tf.concat([tf.mul(dcTotal, g!), tf.mul(dcTotal, cPrevT[t]!), tf.mul(dcTotal, i!), tf.mul(dhNew, tc)], 1);
          const dzt = tf.mul(dActs, slopeT[t]!) as tf.Tensor2D;
          dz[t] = dzt;
          const dhPrev = tf.matMul(dzt, uT) as tf.Tensor2D;
          const dcPrev = tf.mul(dcTotal, f!) as tf.Tensor2D;
          dh = masked ? (tf.add(tf.sub(dhAll, dhNew), dhPrev) as tf.Tensor2D) : dhPrev;
          dc = masked ? (tf.add(tf.sub(dc, dcNew), dcPrev) as tf.Tensor2D) : dcPrev;
        }
        const dzAll = tf.stack(dz, 1) as tf.Tensor3D;
        const rows = batch * len;
        const dU = tf.matMul(tf.transpose(tf.reshape(hPrevAll, [rows, hidden])) as tf.Tensor2D, tf.reshape(dzAll, [rows, 4 * hidden]) as tf.Tensor2D);
        return [dzAll, tf.zerosLike(sMask), dU, dh!, dc];
      },
    };
  });
}
