/**
 * The whole model can learn: a small model overfits 20 toy pairs until greedy
 * decoding reproduces every target exactly (fixed seed). It runs on the
 * single-threaded wasm backend, about ten times faster than cpu here for the
 * same 70 steps; what it shows does not depend on the backend.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.ts';
import { buildConfig } from '../../src/config.ts';
import { makeBatch } from '../../src/data/batches.ts';
import { buildVocabs, loadDataset } from '../../src/data/dataset.ts';
import { search } from '../../src/decode/search.ts';
import { createModel, disposeModel } from '../../src/model/seq2seq.ts';
import { Adam } from '../../src/train/adam.ts';
import { trainStep } from '../../src/train/step.ts';

before(async () => {
  tf.enableProdMode();
  await initBackend('wasm', () => {}, {}, { threads: 1 });
  assert.equal(tf.getBackend(), 'wasm');
});

test('the tiny model overfits 20 pairs until greedy decoding reproduces every target', async () => {
  const config = buildConfig('overfit', {
    data: { data: ['data/toy/toy.tsv'], validSize: 0, srcMinFreq: 1, tgtMinFreq: 1 },
    model: { embSize: 32, hiddenSize: 64, dropout: 0 },
    training: { lr: 0.01, seed: 2 },
  });
  const dataset = await loadDataset(config.data, { seed: 2 });
  const pairs20 = dataset.train.slice(0, 20);
  const vocabs = buildVocabs(pairs20, config.data);
  const pairs = pairs20.map((p) => ({ src: vocabs.src.encode(p.src), tgt: vocabs.tgt.encode(p.tgt) }));
  const model = createModel(config.model, vocabs.src.size, vocabs.tgt.size, 2);
  const optimizer = new Adam({ lr: 0.01, beta1: 0.9, beta2: 0.999 });
  const batch = makeBatch(pairs, pairs.map((_, i) => i));
  let exact = 0;
  for (let step = 1; step <= 600 && exact < pairs.length; step++) {
    trainStep(model, optimizer, batch, config, step);
    if (step % 10 === 0) {
      const outputs = await search(model, pairs.map((p) => p.src), { beam: 1 });
      exact = outputs.filter((n, i) => n[0]!.ids.join(' ') === pairs[i]!.tgt.join(' ')).length;
    }
  }
  assert.equal(exact, pairs.length, `only ${exact} of ${pairs.length} targets reproduced`);
  optimizer.dispose();
  disposeModel(model);
});
