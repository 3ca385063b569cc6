/**
 * The encoder's LSTM through TensorFlow's fused kernels, on the `tensorflow`
 * backend only (BackendTraits.fusedEncoder): BlockLSTMV2 runs a whole
 * direction forward in one kernel, and the backward pass runs one
 * LSTMBlockCellGrad per step in place of the portable cell backward's
 * elementwise ops. The weight gradients stay single large products over all
 * steps. Everything here is time-major ([len, batch, ·]), as the kernels are.
 *
 * BlockLSTMV2 takes one length for the whole batch, so it runs over padding
 * too: a row's final state is picked at its last real token, and the backward
 * direction runs on each row's real tokens reversed in place
 * (ReverseSequence), its padding left at the end. Outputs at padded positions
 * therefore differ from the portable path's (which carries the state over),
 * but no one reads them: attention gives padding exactly zero weight.
 *
 * Gate order: BlockLSTMV2 uses i, f, ci, o (s2s's i, f, g, o), so w = [W; U]
 * as stored; LSTMBlockCellGrad returns its gate gradients as i, ci, f, o.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attr, runNativeOp } from '../backend/native-ops.ts';
import type { LstmState } from './lstm.ts';
import { productOverRows, sumOfRows, timesTransposeOf, withGradient } from './ops.ts';

/** Real lengths of a right-padded batch, and where each row's last real token sits in a time-major [len·batch] layout. */
export interface PaddedLengths {
  /** int32 [batch] */
  lengths: tf.Tensor1D;
  /** int32 [batch]: (length − 1)·batch + row */
  lastRows: tf.Tensor1D;
}

/**
 * @param mask [batch, len], 1 for real tokens then 0
 * @param known the rows' lengths when the caller has them (a search does): two
 *   small tensors made from them, in place of five ops over the mask
 */
export function paddedLengths(mask: tf.Tensor2D, known?: readonly number[]): PaddedLengths {
  const batch = mask.shape[0];
  if (known) {
    return {
      lengths: tf.tensor1d(Int32Array.from(known), 'int32'),
      lastRows: tf.tensor1d(Int32Array.from(known, (n, row) => (n - 1) * batch + row), 'int32'),
    };
  }
  const lengths = tf.cast(tf.sum(mask, 1), 'int32') as tf.Tensor1D;
  const lastRows = tf.add(tf.mul(tf.sub(lengths, tf.scalar(1, 'int32')), tf.scalar(batch, 'int32')), tf.range(0, batch, 1, 'int32')) as tf.Tensor1D;
  return { lengths, lastRows };
}

/**
 * One encoder LSTM direction's weights as BlockLSTMV2 takes them, arranged
 * once for a search (a type, so tf.tidy can return it): without them every
 * encoder run concatenates W and U again.
 */
export type BlockLstmWeights = {
  /** [in + hidden, 4·hidden]: [W; U] */
  wu: tf.Tensor2D;
  b: tf.Tensor1D;
  /** [hidden] zeros: the op's peephole weights, unused */
  noPeephole: tf.Tensor1D;
};

export function blockLstmWeights(w: tf.Tensor2D, u: tf.Tensor2D, b: tf.Tensor1D): BlockLstmWeights {
  return { wu: tf.concat([w, u], 0), b, noPeephole: tf.zeros([u.shape[0]]) };
}

/** The tensors blockLstmWeights made (the bias is the parameter itself). */
export function blockLstmTensors(weights: BlockLstmWeights): tf.Tensor[] {
  return [weights.wu, weights.noPeephole];
}

/**
 * One LSTM direction over a padded time-major batch.
 * @param x [len, batch, in]
 * @param w [in, 4·hidden], u [hidden, 4·hidden], b [4·hidden]
 * @returns outputs [len, batch, hidden] (input order; meaningless at padding) and the state after each row's last real token (for `reverse`, after its first)
 */
export function runFusedLstm(
  x: tf.Tensor3D,
  w: tf.Tensor2D,
  u: tf.Tensor2D,
  b: tf.Tensor1D,
  padding: PaddedLengths,
  reverse: boolean,
): { outputs: tf.Tensor3D; final: LstmState } {
  const [len, batch] = x.shape;
  const hidden = u.shape[0];
  const input = reverse ? reverseWithin(x, padding.lengths) : x;
  const hc = blockLstm(input, w, u, b) as tf.Tensor3D; // [len, batch, 2·hidden]: h, then c
  const last = tf.gather(tf.reshape(hc, [len * batch, 2 * hidden]), padding.lastRows);
  const [h, c] = tf.split(last, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
  const hs = tf.slice(hc, [0, 0, 0], [len, batch, hidden]) as tf.Tensor3D;
  return { outputs: reverse ? reverseWithin(hs, padding.lengths) : hs, final: { h, c } };
}

/**
 * runFusedLstm without a gradient (search): one op on weights arranged once
 * (blockLstmWeights), outside tf.customGrad, and the final states gathered
 * from the op's h and c outputs as they are.
 */
export function runFusedLstmInference(x: tf.Tensor3D, weights: BlockLstmWeights, padding: PaddedLengths, reverse: boolean): { outputs: tf.Tensor3D; final: LstmState } {
  const [len, batch] = x.shape;
  const hidden = weights.noPeephole.shape[0];
  const out = blockLstmV2(reverse ? reverseSequence(x, padding.lengths) : x, weights);
  const lastOf = (t: tf.Tensor3D): tf.Tensor2D => tf.gather(tf.reshape(t, [len * batch, hidden]), padding.lastRows) as tf.Tensor2D;
  const hs = out[6];
  return { outputs: reverse ? (reverseSequence(hs, padding.lengths) as tf.Tensor3D) : hs, final: { h: lastOf(hs), c: lastOf(out[1]) } };
}

/** The first `lengths[b]` steps of each row b of x [len, batch, n] reversed, the rest in place; its own inverse. */
function reverseWithin(x: tf.Tensor3D, lengths: tf.Tensor1D): tf.Tensor3D {
  return reverseOp(x, lengths) as tf.Tensor3D;
}

const reverseSequence = (x: tf.Tensor, lengths: tf.Tensor): tf.Tensor =>
  runNativeOp('ReverseSequence', [attr.int('seq_dim', 0), attr.int('batch_dim', 1), attr.floatType(), attr.int32Type('Tlen')], [x, lengths], 1)[0]!;

const reverseOp = withGradient(([x, lengths], save) => {
  save([lengths!]);
  return {
    value: reverseSequence(x!, lengths!),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [reverseSequence(dy, saved[0]!), tf.zerosLike(saved[0]!)],
  };
});

/** BlockLSTMV2's outputs, time-major [len, batch, hidden] each. */
type BlockOutputs = [i: tf.Tensor3D, cs: tf.Tensor3D, f: tf.Tensor3D, o: tf.Tensor3D, ci: tf.Tensor3D, co: tf.Tensor3D, h: tf.Tensor3D];

/**
 * The LSTM over every step of x from a zero state, as one op with its own gradient.
 * Inputs: x [T, B, I], w [I, 4H], u [H, 4H], b [4H]. Value: [T, B, 2H]: h_t, then c_t.
 */
function blockLstm(x: tf.Tensor, w: tf.Tensor, u: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return blockLstmOp(x, w, u, b);
}

/** BlockLSTMV2 over every step of x [T, B, I] from a zero state. */
function blockLstmV2(x: tf.Tensor, weights: BlockLstmWeights): BlockOutputs {
  const { wu, b, noPeephole } = weights;
  const zeros = tf.zeros([x.shape[1]!, noPeephole.shape[0]]);
  return runNativeOp(
    'BlockLSTMV2',
    [attr.float('cell_clip', 0), attr.bool('use_peephole', false), attr.floatType()],
    [{ int64: x.shape[0]! }, x, zeros, zeros, wu, noPeephole, noPeephole, noPeephole, b],
    7,
  ) as BlockOutputs;
}

const blockLstmOp = withGradient(([x, w, u, b], save) => {
  const weights = blockLstmWeights(w as tf.Tensor2D, u as tf.Tensor2D, b as tf.Tensor1D);
  const out = blockLstmV2(x!, weights);
  const { wu } = weights;
  save([x!, w!, u!, b!, wu, ...out]);
  return {
    value: tf.concat([out[6], out[1]], 2),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw, su, sb, swu, ...kept] = saved as [tf.Tensor3D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, ...BlockOutputs];
      return blockLstmBackward(dy as tf.Tensor3D, sx, sw, su, sb, swu, kept);
    },
  };
});

/** The backward of blockLstmOp: gradients of x, w, u and b for dy [T, B, 2H] (of h_t and c_t). */
function blockLstmBackward(
  dy: tf.Tensor3D,
  x: tf.Tensor3D,
  w: tf.Tensor2D,
  u: tf.Tensor2D,
  b: tf.Tensor1D,
  wu: tf.Tensor2D,
  kept: BlockOutputs,
): tf.Tensor[] {
  const [len, batch, inSize] = x.shape;
  const hidden = u.shape[0];
  const [dhOut, dcOut] = tf.split(dy, 2, 2).map((t) => tf.unstack(t)) as [tf.Tensor2D[], tf.Tensor2D[]];
  const [i, cs, f, o, ci, co, h] = kept.map((t) => tf.unstack(t)) as tf.Tensor2D[][] as [
    tf.Tensor2D[], tf.Tensor2D[], tf.Tensor2D[], tf.Tensor2D[], tf.Tensor2D[], tf.Tensor2D[], tf.Tensor2D[],
  ];
  const xs = tf.unstack(x) as tf.Tensor2D[];
  const zeros = tf.zeros([batch, hidden]) as tf.Tensor2D;
  const noPeephole = tf.zeros([hidden]);
  // dh_{t−1} = dz_t·Uᵀ with dz in the kernel's i, ci, f, o order: U's columns reordered once.
  const [ui, uf, ug, uo] = tf.split(u, 4, 1);
  const timesUT = timesTransposeOf(tf.concat([ui!, ug!, uf!, uo!], 1) as tf.Tensor2D);
  const cellGradAttrs = [attr.bool('use_peephole', false), attr.floatType()];
  const dz: tf.Tensor2D[] = new Array(len);
  let dh: tf.Tensor2D | null = null;
  let dc: tf.Tensor2D | null = null;
  for (let t = len - 1; t >= 0; t--) {
    const dhAll = dh ? tf.add(dhOut[t]!, dh) : dhOut[t]!;
    const dcAll = dc ? tf.add(dcOut[t]!, dc) : dcOut[t]!;
    const [csPrevGrad, dicfo, ...peephole] = runNativeOp(
      'LSTMBlockCellGrad',
      cellGradAttrs,
      [xs[t]!, t > 0 ? cs[t - 1]! : zeros, t > 0 ? h[t - 1]! : zeros, wu, noPeephole, noPeephole, noPeephole, b,
        i[t]!, cs[t]!, f[t]!, o[t]!, ci[t]!, co[t]!, dcAll, dhAll],
      5,
    );
    tf.dispose(peephole);
    dz[t] = dicfo as tf.Tensor2D;
    dc = csPrevGrad as tf.Tensor2D;
    // The initial state is a constant: no gradient for it.
    dh = t > 0 ? timesUT(dicfo as tf.Tensor2D) : null;
  }
  const [gi, gci, gf, go] = tf.split(tf.stack(dz) as tf.Tensor3D, 4, 2);
  const dzAll = tf.concat([gi!, gf!, gci!, go!], 2) as tf.Tensor3D; // back to i, f, g, o
  const hPrev = len > 1 ? tf.concat([tf.expandDims(zeros, 0), tf.slice(kept[6], [0, 0, 0], [len - 1, batch, hidden])], 0) : tf.expandDims(zeros, 0);
  const dx = tf.reshape(timesTransposeOf(w)(tf.reshape(dzAll, [len * batch, 4 * hidden]) as tf.Tensor2D), [len, batch, inSize]);
  return [dx, productOverRows(x, dzAll), productOverRows(hPrev, dzAll), sumOfRows(dzAll)];
}

/**
 * Columns of t's last axis (4·hidden, s2s's gate order i, f, g, o) in the
 * order LSTMBlockCell reads them: i, ci, f, o (ci = s2s's g).
 */
export function toBlockCellOrder(t: tf.Tensor): tf.Tensor {
  const [i, f, g, o] = tf.split(t, 4, t.rank - 1);
  return tf.concat([i!, g!, f!, o!], t.rank - 1);
}

/** An LSTM layer's weights as LSTMBlockCell takes them (a type, so tf.tidy can return it). */
export type BlockCellWeights = {
  /** [in + hidden, 4·hidden]: [W; U], columns in the cell's gate order (toBlockCellOrder) */
  w: tf.Tensor2D;
  /** [4·hidden], in the cell's gate order */
  b: tf.Tensor1D;
  /** [hidden] zeros: the cell's peephole weights, unused */
  noPeephole: tf.Tensor1D;
};

const blockCellAttrs = (): ReturnType<typeof attr.float>[] => [
  attr.float('forget_bias', 0),
  attr.float('cell_clip', 0),
  attr.bool('use_peephole', false),
  attr.floatType(),
];

/**
 * One LSTM step as one TensorFlow LSTMBlockCell op (no gradient: search only):
 * z = [x, h_prev]·w + b, then the same cell as lstmCell.
 * @param x [batch, in]
 * @returns the new h and c, [batch, hidden] each
 */
export function lstmBlockCell(x: tf.Tensor2D, prev: LstmState, cell: BlockCellWeights): LstmState {
  const { w, b, noPeephole } = cell;
  // Outputs: i, cs, f, o, ci, co, h (the gate values are left to the caller's tf.tidy).
  const out = runNativeOp('LSTMBlockCell', blockCellAttrs(), [x, prev.c, prev.h, w, noPeephole, noPeephole, noPeephole, b], 7);
  return { h: out[6] as tf.Tensor2D, c: out[1] as tf.Tensor2D };
}
