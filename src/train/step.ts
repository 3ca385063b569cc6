/**
 * One optimizer step: teacher-forced mean token loss, gradients, global-norm
 * clipping and Adam, with dropout masks that depend only on (seed, step).
 */
import * as tf from '@tensorflow/tfjs-core';
// The stock gradients of the ops inside the custom gradients of model/ops.ts.
import '../model/gradients.ts';
import type { S2SConfig } from '../config.ts';
import { UserError } from '../errors.ts';
import type { Batch } from '../data/batches.ts';
import { noDropout, type Dropout } from '../model/encoder.ts';
import { batchTensors, lossSum, type Seq2Seq } from '../model/seq2seq.ts';
import { clipScale, globalNorm, type Adam } from './adam.ts';
import { Rng } from './rng.ts';

/**
 * A non-finite loss or gradient: training stops before the update, and the
 * last good checkpoint stays. `kept` names it (the trainer fills it in).
 */
export class NumericalError extends UserError {
  constructor(
    readonly step: number,
    readonly what: string,
    readonly lr: number,
    kept?: string | null,
  ) {
    const checkpoint =
      kept === undefined ? 'the last saved checkpoint is kept' : kept === null ? 'no checkpoint had been saved yet' : `kept the last checkpoint, ${kept}`;
    super(`${what} at step ${step}; training stopped, ${checkpoint}`, {
      hint: `try a lower learning rate (e.g. --lr ${lr / 10}) or a smaller --clip-norm`,
    });
  }

  /** The same error, naming the checkpoint that was kept (null: none yet). */
  keeping(kept: string | null): NumericalError {
    return new NumericalError(this.step, this.what, this.lr, kept);
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
  const norm = globalNorm(Object.values(grads));
  const read = tf.tidy(() => tf.stack([value, norm]).dataSync());
  const loss = read[0]!;
  const gradNorm = read[1]!;
  try {
    if (!Number.isFinite(loss)) throw new NumericalError(step, `the loss became ${loss}`, optimizer.lr);
    if (!Number.isFinite(gradNorm)) throw new NumericalError(step, `the gradient norm became ${gradNorm}`, optimizer.lr);
    const byParam = new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k)!, g]));
    optimizer.apply(model.params, byParam, clipScale(gradNorm, training.clipNorm));
  } finally {
    tf.dispose([value, norm, ...Object.values(grads)]);
  }
  return { loss, gradNorm };
}

