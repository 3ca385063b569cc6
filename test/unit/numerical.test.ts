/**
 * Numerical health: a non-finite loss or gradient norm stops training before
 * the update, names the step and suggests a lower learning rate (through the
 * CLI: test/e2e/numerical.test.ts).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildConfig } from '../../src/config.ts';
import { makeBatch } from '../../src/data/batches.ts';
import { createModel, disposeModel } from '../../src/model/seq2seq.ts';
import { Adam } from '../../src/train/adam.ts';
import { NumericalError, trainStep } from '../../src/train/step.ts';

before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

const config = buildConfig('unit', { model: { embSize: 8, hiddenSize: 8, dropout: 0 } });
const batch = makeBatch([{ src: [4, 5, 6], tgt: [4, 5] }, { src: [7], tgt: [6] }], [0, 1]);

describe('trainStep on a non-finite loss', () => {
  test('throws a NumericalError naming the step, suggests a lower lr, and leaves the weights and tensors alone', () => {
    const model = createModel(config.model, 10, 10, 1);
    const adam = new Adam({ lr: 0.5, beta1: 0.9, beta2: 0.999 });
    trainStep(model, adam, batch, config, 1); // creates Adam's moments
    // Poison one weight: every logit that reads it becomes NaN.
    const w = model.params.get('out/b_s')!;
    w.assign(tf.tidy(() => tf.fill(w.shape, Number.NaN)));
    const snapshot = new Map([...model.params].map(([k, v]) => [k, Array.from(v.dataSync())]));
    const tensorsBefore = tf.memory().numTensors;
    assert.throws(
      () => trainStep(model, adam, batch, config, 2),
      (err: unknown) => {
        assert.ok(err instanceof NumericalError);
        assert.match(err.message, /loss became NaN at step 2/);
        assert.match(err.hint ?? '', /lower learning rate \(e\.g\. --lr 0\.05\)/);
        assert.equal(err.exitCode, 1);
        return true;
      },
    );
    assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor leaks on the error path');
    for (const [k, v] of model.params) assert.deepEqual(Array.from(v.dataSync()), snapshot.get(k), `${k} unchanged`);
    adam.dispose();
    disposeModel(model);
  });

  test('keeping() names the kept checkpoint, or says none was saved', () => {
    const err = new NumericalError(7, 'the gradient norm became Infinity', 1e-3);
    assert.match(err.keeping('/x/last (step 6)').message, /gradient norm became Infinity at step 7; training stopped, kept the last checkpoint, \/x\/last \(step 6\)/);
    assert.match(err.keeping(null).message, /no checkpoint had been saved yet/);
  });
});
