/**
 * The encoder through TensorFlow's fused LSTM kernels (src/model/fused-lstm.ts)
 * against the portable LSTM on the same backend: outputs at every real
 * position, final states, keys, the gradient of every parameter, on padded
 * batches with uni- and bidirectional, one- and two-layer encoders; and no
 * leaked tensors. Skipped where the tensorflow backend cannot load.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '../../src/model/gradients.ts';
import { nativeOpCounts, resetNativeOpCounts } from '../../src/backend/native-ops.ts';
import { useBackendTraits, type BackendTraits } from '../../src/backend/traits.ts';
import { DEFAULTS, type ModelConfig } from '../../src/config.ts';
import { search } from '../../src/decode/search.ts';
import { encode, encoderWeightTensors, encoderWeights, noDropout, type EncodeOptions } from '../../src/model/encoder.ts';
import { createModel, disposeModel, lossSum, type BatchTensors, type Seq2Seq } from '../../src/model/seq2seq.ts';
import { FUSED, FUSED_SKIP, onFusedTensorflow } from '../helpers/fused.ts';

const fused = FUSED;
const portable: BackendTraits = { ...fused, fusedEncoder: false };

/** Source rows of lengths 5, 2, 4 and 1 (padded with 0), targets of lengths 3, 2, 4 and 1. */
function paddedBatch(): BatchTensors {
  const src = [
    [4, 5, 6, 7, 8],
    [9, 10, 0, 0, 0],
    [11, 4, 12, 5, 0],
    [13, 0, 0, 0, 0],
  ];
  const tgtIn = [
    [1, 4, 5, 0],
    [1, 6, 0, 0],
    [1, 7, 8, 9],
    [1, 0, 0, 0],
  ];
  const tgtOut = [
    [4, 5, 2, 0],
    [6, 2, 0, 0],
    [7, 8, 9, 2],
    [2, 0, 0, 0],
  ];
  const mask = (rows: number[][]) => tf.tensor2d(rows.map((r) => r.map((v, j) => (v !== 0 || j === 0 ? 1 : 0))));
  return {
    srcIds: tf.tensor2d(src, undefined, 'int32'),
    srcMask: mask(src),
    tgtIn: tf.tensor2d(tgtIn, undefined, 'int32'),
    tgtOut: tf.tensor2d(tgtOut, undefined, 'int32'),
    tgtMask: mask(tgtOut),
  };
}

function modelWith(overrides: Partial<ModelConfig>): Seq2Seq {
  const config: ModelConfig = { ...DEFAULTS.model, embSize: 6, hiddenSize: 8, layers: 1, dropout: 0, ...overrides };
  return createModel(config, 16, 12, 7);
}

interface Run {
  /** Encoder states at real positions only (padding zeroed), keys likewise, and every initial decoder state. */
  encoded: Float32Array[];
  /** d loss / d parameter, by name. */
  grads: Map<string, Float32Array>;
  loss: number;
}

function runWith(traits: BackendTraits, model: Seq2Seq, b: BatchTensors): Run {
  const previous = useBackendTraits(traits);
  try {
    const encoded = tf.tidy(() => {
      const enc = encode(model.params, model.dims, b.srcIds, b.srcMask, noDropout);
      const real = tf.expandDims(b.srcMask, 2);
      return [tf.mul(enc.states, real), tf.mul(enc.keys, real), ...enc.initial.flatMap((s) => [s.h, s.c])].map((t) => t.dataSync() as Float32Array);
    });
    const names = [...model.params.keys()];
    const variables = [...model.params.values()];
    const { value, grads } = tf.variableGrads(() => lossSum(model, b, noDropout, 0.1), variables);
    const byName = new Map(names.map((n, i) => [n, grads[variables[i]!.name]!.dataSync() as Float32Array]));
    const loss = value.dataSync()[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    return { encoded, grads: byName, loss };
  } finally {
    useBackendTraits(previous);
  }
}

/** max |a − b| / max(|b|, 1e-3). */
function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 1e-3;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

describe('fused LSTM encoder on tensorflow = the portable encoder', { skip: FUSED_SKIP }, () => {
  onFusedTensorflow();

  const cases: [string, Partial<ModelConfig>][] = [
    ['one layer, unidirectional, general attention', {}],
    ['bidirectional, two layers, general attention', { bidirectional: true, layers: 2 }],
    ['two layers, dot attention', { layers: 2, attention: 'dot' }],
    ['bidirectional, concat attention, no input feeding', { bidirectional: true, attention: 'concat', inputFeeding: false }],
  ];
  for (const [name, overrides] of cases) {
    test(`${name}: states, final states, loss and every gradient within 1e-5`, () => {
      const model = modelWith(overrides);
      const b = paddedBatch();
      const start = tf.memory().numTensors;
      resetNativeOpCounts();
      const withFused = runWith(fused, model, b);
      const counts = nativeOpCounts();
      const withPortable = runWith(portable, model, b);
      assert.equal(tf.memory().numTensors, start, 'no tensors leaked');
      const directions = (overrides.bidirectional ? 2 : 1) * (overrides.layers ?? 1);
      // encode() twice (values, then the loss): one BlockLSTMV2 per direction and layer each time; one cell gradient per step.
      assert.equal(counts.get('BlockLSTMV2')?.calls, 2 * directions, 'the fused kernels ran');
      assert.equal(counts.get('LSTMBlockCellGrad')?.calls, directions * 5);
      assert.equal(withFused.encoded.length, withPortable.encoded.length);
      withFused.encoded.forEach((v, k) => assert.ok(relativeError(v, withPortable.encoded[k]!) < 1e-5, `encoded value ${k}: ${relativeError(v, withPortable.encoded[k]!)}`));
      assert.ok(Math.abs(withFused.loss - withPortable.loss) < 1e-5 * Math.abs(withPortable.loss), `loss ${withFused.loss} vs ${withPortable.loss}`);
      assert.deepEqual([...withFused.grads.keys()], [...withPortable.grads.keys()]);
      for (const [param, g] of withPortable.grads) {
        const err = relativeError(withFused.grads.get(param)!, g);
        assert.ok(err < 1e-5, `d loss / d ${param}: relative error ${err}`);
      }
      tf.dispose(Object.values(b));
      disposeModel(model);
    });
  }

  for (const [name, overrides] of cases) {
    test(`${name}: a search's encoder run (weights arranged once, lengths given, no gradient) gives the training run's values exactly`, () => {
      const model = modelWith(overrides);
      const b = paddedBatch();
      const previous = useBackendTraits(fused);
      try {
        const start = tf.memory().numTensors;
        const arranged = encoderWeights(model.params, model.dims);
        assert.ok(arranged, 'the fused encoder arranges its weights');
        const values = (opts?: EncodeOptions): Float32Array[] =>
          tf.tidy(() => {
            const enc = encode(model.params, model.dims, b.srcIds, b.srcMask, noDropout, opts);
            const real = tf.expandDims(b.srcMask, 2);
            return [tf.mul(enc.states, real), tf.mul(enc.keys, real), ...enc.initial.flatMap((st) => [st.h, st.c])].map((t) => t.dataSync() as Float32Array);
          });
        const training = values();
        resetNativeOpCounts();
        const search = values({ unpaddedSteps: 1, inference: true, lengths: [5, 2, 4, 1], arranged });
        assert.equal(nativeOpCounts().get('BlockLSTMV2')?.calls, (overrides.bidirectional ? 2 : 1) * (overrides.layers ?? 1));
        assert.equal(search.length, training.length);
        search.forEach((v, k) => assert.deepEqual(v, training[k], `encoded value ${k}`));
        tf.dispose(encoderWeightTensors(arranged));
        assert.equal(tf.memory().numTensors, start, 'no tensors leaked');
      } finally {
        useBackendTraits(previous);
        tf.dispose(Object.values(b));
        disposeModel(model);
      }
    });
  }

  test('greedy and beam search give the same translations, without leaks', async () => {
    const model = modelWith({ bidirectional: true });
    const sources = [[4, 5, 6, 7, 8], [9, 10], [11, 4, 12, 5], [13]];
    const start = tf.memory().numTensors;
    const translate = async (traits: BackendTraits) => {
      const prev = useBackendTraits(traits);
      try {
        return [
          (await search(model, sources, { beam: 1, batchSize: 4 })).map((n) => n[0]!.ids),
          (await search(model, sources, { beam: 3, nbest: 1, batchSize: 4 })).map((n) => n[0]!.ids),
        ];
      } finally {
        useBackendTraits(prev);
      }
    };
    assert.deepEqual(await translate(fused), await translate(portable));
    assert.equal(tf.memory().numTensors, start);
    disposeModel(model);
  });
});
