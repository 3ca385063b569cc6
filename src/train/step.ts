/**
 * One optimizer step: teacher-forced mean token loss, gradients, global-norm
 * clipping and Adam, with dropout masks that depend only on (seed, step).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { S2SConfig } from '../config.ts';
import { UserError } from '../cli/errors.ts';
import type { Batch } from '../data/batches.ts';
import { noDropout, type Dropout } from '../model/encoder.ts';
import { batchTensors, lossSum, type Seq2Seq } from '../model/seq2seq.ts';
import { clipScale, type Adam } from './adam.ts';
import { Rng } from './rng.ts';

/** A non-finite loss or gradient: training stops, the last good checkpoint stays. */
export class NumericalError extends UserError {
  constructor(step: number, what: string, lr: number) {
    super(`${what} at step ${step}; stopped, the last saved checkpoint is kept`, {
      hint: `try a lower learning rate (e.g. --lr ${lr / 10}) or a smaller --clip-norm`,
    });
  }
}

/** Dropout whose masks depend only on (seed, step): identical after a resume. */
export function stepDropout(rate: number, seed: number, step: number): Dropout {
  if (rate <= 0) return noDropout;
  const rng = new Rng(`${seed}/dropout/${step}`);
  return (x) => tf.dropout(x, rate, undefined, rng.seed());
}

export interface StepResult {
  loss: number;
  gradNorm: number;
}

/**
 * One optimizer step on one batch: mean token loss, gradients, global-norm
 * clipping, Adam. Reads back only the loss and the gradient norm.
 */
export function trainStep(model: Seq2Seq, optimizer: Adam, batch: Batch, config: S2SConfig, step: number): StepResult {
  const { training, model: m } = config;
  const variables = [...model.params.values()];
  const nameOf = new Map(variables.map((v, i) => [v.name, [...model.params.keys()][i]!]));
  const { value, grads } = tf.variableGrads(() => {
    const tensors = batchTensors(batch);
    const drop = stepDropout(m.dropout, training.seed, step);
    return tf.div(lossSum(model, tensors, drop, training.labelSmoothing), batch.tgtTokens) as tf.Scalar;
  }, variables);
  const { scale, norm } = clipScale(Object.values(grads), training.clipNorm);
  const read = tf.tidy(() => tf.stack([value, norm]).dataSync());
  const loss = read[0]!;
  const gradNorm = read[1]!;
  try {
    if (!Number.isFinite(loss)) throw new NumericalError(step, `the loss became ${loss}`, optimizer.lr);
    if (!Number.isFinite(gradNorm)) throw new NumericalError(step, `the gradient norm became ${gradNorm}`, optimizer.lr);
    const byParam = new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k)!, g]));
    optimizer.apply(model.params, byParam, scale);
  } finally {
    tf.dispose([value, scale, norm, ...Object.values(grads)]);
  }
  return { loss, gradNorm };
}

