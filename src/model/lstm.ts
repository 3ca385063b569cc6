/**
 * The LSTM cell and a masked run over a sequence. Input projections x·W + b are
 * computed by the caller for all time steps in one matrix product; a step only
 * adds the recurrent product h·U. Gate order in the 4·H columns: i, f, g, o.
 */
import * as tf from '@tensorflow/tfjs-core';
import { productOverRows, tanh, timesTransposeOf, withGradient } from './ops.ts';

export interface LstmState {
  /** [batch, hidden] */
  h: tf.Tensor2D;
  /** [batch, hidden] */
  c: tf.Tensor2D;
}

/** One cell step's values: gate activations, the new cell state, tanh of it and the new output. */
export interface CellStep {
  i: tf.Tensor2D;
  f: tf.Tensor2D;
  g: tf.Tensor2D;
  o: tf.Tensor2D;
  c: tf.Tensor2D;
  tanhC: tf.Tensor2D;
  h: tf.Tensor2D;
}

/**
 * The LSTM cell: gates of the pre-activations z = x·W + h·U + b, then
 * c = f⊙c_prev + i⊙g and h = o⊙tanh(c).
 * @param z [batch, 4·hidden]
 * @param cPrev [batch, hidden]
 */
export function lstmCell(z: tf.Tensor2D, cPrev: tf.Tensor2D): CellStep {
  const [zi, zf, zg, zo] = tf.split(z, 4, 1) as tf.Tensor2D[];
  const i = tf.sigmoid(zi!);
  const f = tf.sigmoid(zf!);
  const g = tanh(zg!);
  const o = tf.sigmoid(zo!);
  const c = tf.add(tf.mul(f, cPrev), tf.mul(i, g)) as tf.Tensor2D;
  const tanhC = tanh(c);
  return { i, f, g, o, c, tanhC, h: tf.mul(o, tanhC) as tf.Tensor2D };
}

/** The gate activations packed as [i, f, g, o] ([batch, 4·hidden]): what the backward pass saves. */
export function packedGates(cell: CellStep): tf.Tensor2D {
  return tf.concat([cell.i, cell.f, cell.g, cell.o], 1) as tf.Tensor2D;
}

/**
 * Gate slopes for packed activations a = [i, f, g, o] (any leading shape, last axis 4·hidden):
 * σ' = a(1 − a) for i, f, o and tanh' = 1 − a² = (1 − a)(1 + a) for g, i.e. (1 − a)(a + [g]).
 * Computed for all steps at once.
 */
export function gateSlopes(acts: tf.Tensor): tf.Tensor {
  const hidden = acts.shape[acts.shape.length - 1]! / 4;
  const gOnes = tf.concat([tf.zeros([2 * hidden]), tf.ones([hidden]), tf.zeros([hidden])]);
  return tf.mul(tf.sub(1, acts), tf.add(acts, gOnes));
}

/** What a cell step's backward needs, per step: [batch, ·] each. */
export interface CellSaved {
  /** [i, f, g, o] packed */
  acts: tf.Tensor2D;
  /** gateSlopes(acts) */
  slope: tf.Tensor2D;
  /** 1 − tanh²(c) */
  cellSlope: tf.Tensor2D;
  cPrev: tf.Tensor2D;
  tanhC: tf.Tensor2D;
}

/**
 * The backward of lstmCell for one step.
 * @param dh gradient of the step's output h
 * @param dc gradient of the step's cell state c (null: none)
 * @returns dz for the pre-activations [batch, 4·hidden] and the gradient of c_prev through the cell
 */
export function lstmCellBackward(dh: tf.Tensor2D, dc: tf.Tensor2D | null, s: CellSaved): { dz: tf.Tensor2D; dcPrev: tf.Tensor2D } {
  const [i, f, g, o] = tf.split(s.acts, 4, 1) as tf.Tensor2D[];
  const fromH = tf.mul(tf.mul(dh, o!), s.cellSlope);
  const dcTotal = dc ? tf.add(dc, fromH) : fromH;
  const dActs = tf.concat([tf.mul(dcTotal, g!), tf.mul(dcTotal, s.cPrev), tf.mul(dcTotal, i!), tf.mul(dh, s.tanhC)], 1);
  return { dz: tf.mul(dActs, s.slope) as tf.Tensor2D, dcPrev: tf.mul(dcTotal, f!) as tf.Tensor2D };
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
    const run = forwardLoop(tf.unstack(xProj, 1) as tf.Tensor2D[], maskSteps(mask, opts.unpaddedSteps), u, initial, reverse, opts.unpaddedSteps, false);
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

/** The mask per position as [batch, 1] columns; none when no position is padded in any row. */
function maskSteps(mask: tf.Tensor2D, unpaddedSteps: number): tf.Tensor2D[] {
  return unpaddedSteps >= mask.shape[1] ? [] : (tf.unstack(tf.expandDims(mask, 2), 1) as tf.Tensor2D[]);
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
    const cell = lstmCell(tf.add(xs[t]!, tf.matMul(h, u)), c);
    const cNew = cell.c;
    const hNew = cell.h;
    if (kept) {
      kept.hPrev[t] = h;
      kept.cPrev[t] = c;
      kept.acts[t] = packedGates(cell);
      kept.tanhC[t] = cell.tanhC;
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
      maskSteps(mask as tf.Tensor2D, unpaddedSteps),
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
        const acts = tf.unstack(actsAll, 1) as tf.Tensor2D[];
        const slope = tf.unstack(gateSlopes(actsAll), 1) as tf.Tensor2D[];
        const tanhC = tf.unstack(tanhAll, 1) as tf.Tensor2D[];
        const cellSlope = tf.unstack(tf.sub(1, tf.square(tanhAll)), 1) as tf.Tensor2D[];
        const cPrev = tf.unstack(cPrevAll, 1) as tf.Tensor2D[];
        const msT = maskSteps(sMask, unpaddedSteps);
        const timesUT = timesTransposeOf(sU);
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
          const step = lstmCellBackward(dhNew, dcNew, { acts: acts[t]!, slope: slope[t]!, cellSlope: cellSlope[t]!, cPrev: cPrev[t]!, tanhC: tanhC[t]! });
          dz[t] = step.dz;
          const dhPrev = timesUT(step.dz);
          dh = masked ? (tf.add(tf.sub(dhAll, dhNew), dhPrev) as tf.Tensor2D) : dhPrev;
          dc = masked ? (tf.add(tf.sub(dc, dcNew), step.dcPrev) as tf.Tensor2D) : step.dcPrev;
        }
        const dzAll = tf.stack(dz, 1) as tf.Tensor3D;
        const dU = productOverRows(hPrevAll, dzAll);
        return [dzAll, tf.zerosLike(sMask), dU, dh!, dc];
      },
    };
  });
}
