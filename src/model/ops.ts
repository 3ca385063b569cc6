/**
 * Tensor building blocks with gradients that run on every backend
 * (`tensorflow`, `wasm`, `cpu`) and avoid the slow paths of `wasm`:
 * - matMul whose gradient transposes explicitly (wasm's transposed matMul is ~10× slower);
 * - embedding lookup whose gradient is a scatter-add (`ScatterNd`), not the
 *   `UnsortedSegmentSum` that `tf.gather`'s gradient needs and wasm lacks;
 * - masked softmax cross-entropy with label smoothing and its own gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendTraits } from '../backend/traits.ts';

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];

/** tf.customGrad with the inputs as an array and the save function second (typed). */
export function withGradient(
  f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradFunc },
): (...inputs: tf.Tensor[]) => tf.Tensor {
  const custom = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    return f(args as tf.Tensor[], save);
  });
  return (...inputs: tf.Tensor[]) => custom(...inputs);
}

/**
 * a·b for 2-D matrices with a gradient that uses only plain matMuls.
 * @param a [m, k]
 * @param b [k, n]
 * @returns [m, n]
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return matMulWithPlainGrad(a, b) as tf.Tensor2D;
}

const matMulWithPlainGrad = withGradient(([a, b], save) => {
  save([a!, b!]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [
        tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)),
        tf.matMul(tf.transpose(sa), dy as tf.Tensor2D),
      ];
    },
  };
});

/** tanh: 2σ(2x) − 1 where the backend's traits say so (wasm), else the backend's own. */
export function tanh<T extends tf.Tensor>(x: T): T {
  if (!backendTraits().tanhFromSigmoid) return tf.tanh(x);
  return tf.sub(tf.mul(tf.sigmoid(tf.mul(x, 2)), 2), 1) as T;
}

/**
 * x·w + b for a batch of rows.
 * @param x [m, k]
 * @param w [k, n]
 * @param b [n] (optional)
 * @returns [m, n]
 */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D {
  const y = matMul(x, w);
  return b ? addBias(y, b) : y;
}

/**
 * y + b with b added to every row. The bias gradient, a sum over rows, is a
 * ones-row product: wasm sums over the first axis by transposing first,
 * while a plain 2-D matMul takes its fast path.
 * @param y [m, n]
 * @param b [n]
 */
export function addBias(y: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return addBiasWithProductGrad(y, b) as tf.Tensor2D;
}

const addBiasWithProductGrad = withGradient(([y, b]) => ({
  value: tf.add(y!, b!),
  gradFunc: (dy: tf.Tensor) => [tf.reshape(dy, dy.shape), sumOfRows(dy)],
}));

/**
 * Σ over every leading axis of x [..., n] → [n], as a ones-row product (wasm
 * sums over leading axes by transposing first; a plain 2-D matMul is fast).
 */
export function sumOfRows(x: tf.Tensor): tf.Tensor1D {
  const n = x.shape[x.shape.length - 1]!;
  const rows = x.size / n;
  return tf.reshape(tf.matMul(tf.ones([1, rows]), tf.reshape(x, [rows, n]) as tf.Tensor2D), [n]);
}

/**
 * aᵀ·b summed over every leading position: a [..., m], b [..., n] with the
 * same leading shape → [m, n] (e.g. a weight gradient over all steps and rows
 * as one product). The transpose is explicit: wasm's transposed matMul is slow.
 */
export function productOverRows(a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const m = a.shape[a.shape.length - 1]!;
  const n = b.shape[b.shape.length - 1]!;
  return tf.matMul(tf.transpose(tf.reshape(a, [a.size / m, m])) as tf.Tensor2D, tf.reshape(b, [b.size / n, n]) as tf.Tensor2D);
}

/** x ↦ x·mᵀ for many x and one m (e.g. in a backward walk): m is transposed once, explicitly. */
export function timesTransposeOf(m: tf.Tensor2D): (x: tf.Tensor2D) => tf.Tensor2D {
  const mT = tf.transpose(m) as tf.Tensor2D;
  return (x) => tf.matMul(x, mT);
}

/**
 * Embedding lookup: rows of `table` for `ids`. The gradient scatter-adds the
 * incoming rows into a dense [vocab, dim] tensor with ScatterNd (summing
 * repeated ids), which every backend implements.
 * @param table [vocab, dim]
 * @param ids int32 [n]
 * @returns [n, dim]
 */
export function embedLookup(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  return embedWithScatterGrad(table, ids) as tf.Tensor2D;
}

const embedWithScatterGrad = withGradient(([table, ids], save) => {
  save([ids!]);
  const shape = table!.shape as [number, number];
  return {
    value: tf.gather(table!, ids!),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sids] = saved as [tf.Tensor1D];
      const rows = tf.scatterND(tf.reshape(sids, [-1, 1]), dy, shape);
      // ids are integers: they get no gradient (a zero tensor keeps customGrad happy).
      return [rows, tf.zerosLike(sids)];
    },
  };
});

/**
 * Sum over rows of the masked (label-smoothed) cross-entropy of `logits`
 * against `targets`. The gradient w.r.t. logits is
 * (softmax − q) · mask · dy, where q = (1−ε)·onehot + ε/V.
 * Everything comes from one softmax over the logits (a single fused kernel;
 * a separate exp is slow on wasm) without taking the log of tiny
 * probabilities: with m = max logit, the largest probability is 1/S for
 * S = Σ exp(x − m), so log S = −log max p and
 *   −log p_y = log S + m − x_y,   −mean_v log p_v = log S + m − mean(x).
 * @param logits [n, vocab]
 * @param targets int32 [n]
 * @param mask float [n], 1 for real tokens and 0 for padding
 * @param smoothing ε in [0, 1)
 * @returns scalar: Σ_i mask_i · (−Σ_v q_iv log p_iv)
 */
export function maskedCrossEntropySum(
  logits: tf.Tensor2D,
  targets: tf.Tensor1D,
  mask: tf.Tensor1D,
  smoothing: number,
): tf.Scalar {
  const [rows, vocab] = logits.shape;
  const fn = withGradient(([lg, tg, mk], save) => {
    const probs = tf.softmax(lg!);
    // log S + m, per row
    const logNormaliser = tf.sub(tf.max(lg!, 1), tf.log(tf.max(probs, 1)));
    const flatIndex = tf.add(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(vocab, 'int32')), tg!);
    let perRow: tf.Tensor = tf.sub(logNormaliser, tf.gather(tf.reshape(lg!, [-1]), flatIndex));
    if (smoothing > 0) {
      const uniform = tf.sub(logNormaliser, tf.mean(lg!, 1));
      perRow = tf.add(tf.mul(perRow, 1 - smoothing), tf.mul(uniform, smoothing));
    }
    save([probs, tg!, mk!]);
    return {
      value: tf.sum(tf.mul(perRow, mk!)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sProbs, stg, smk] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        const rowWeight = tf.mul(smk, dy); // mask · dy per row
        const softmaxPart = tf.mul(sProbs, tf.reshape(rowWeight, [-1, 1]));
        // (1−ε)·onehot·weight built with ScatterNd: wasm's OneHot kernel ignores a float dtype.
        const at = tf.stack([tf.range(0, rows, 1, 'int32'), stg], 1);
        const targetPart = tf.scatterND(at, tf.mul(rowWeight, 1 - smoothing), [rows, vocab]);
        let grad = tf.sub(softmaxPart, targetPart);
        if (smoothing > 0) grad = tf.sub(grad, tf.reshape(tf.mul(rowWeight, smoothing / vocab), [-1, 1]));
        return [grad, tf.zerosLike(stg), tf.zerosLike(smk)];
      },
    };
  });
  return fn(logits, targets, mask) as tf.Scalar;
}
