/**
 * Search's decoder step through TensorFlow's LSTMBlockCell and attendStep
 * (BackendTraits.fusedSearchStep) against the portable step on the same
 * backend: every token's probability and the attention weights of several
 * steps on a padded batch, for one- and two-layer decoders, dot and general
 * attention, with and without input feeding; the same greedy and beam
 * translations; no leaked tensors. Skipped where the tensorflow backend cannot load.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { nativeOpCounts, resetNativeOpCounts } from '../../src/backend/native-ops.ts';
import { useBackendTraits, type BackendTraits } from '../../src/backend/traits.ts';
import { DEFAULTS, type ModelConfig } from '../../src/config.ts';
import { search } from '../../src/decode/search.ts';
import { greedyStream } from '../../src/decode/greedy.ts';
import { searchOptions, type Hypothesis } from '../../src/decode/options.ts';
import { disposeDecoding, searchStep, startDecoding, searchWeights, type StepCandidates } from '../../src/decode/search-step.ts';
import { SOS } from '../../src/data/vocab.ts';
import { createModel, disposeModel, type Seq2Seq } from '../../src/model/seq2seq.ts';
import { FUSED, FUSED_SKIP, onFusedTensorflow } from '../helpers/fused.ts';

const fused = FUSED;
const portable: BackendTraits = { ...fused, fusedSearchStep: false };
const TGT_VOCAB = 12;
/** Lengths 5, 2, 4 and 1: a padded batch. */
const SOURCES = [[4, 5, 6, 7, 8], [9, 10], [11, 4, 12, 5], [13]];
/** Each row's previous tokens for steps 2, 3, … (the first step is fed <sos>). */
const FED = [
  [4, 5, 6, 7],
  [8, 9, 10, 11],
  [4, 4, 9, 3],
];

function modelWith(overrides: Partial<ModelConfig>): Seq2Seq {
  const config: ModelConfig = { ...DEFAULTS.model, embSize: 6, hiddenSize: 8, layers: 1, dropout: 0, ...overrides };
  return createModel(config, 16, TGT_VOCAB, 7);
}

/** Every token's probability (sorted, with its token) and the attention of 1 + FED.length steps. */
async function stepsWith(traits: BackendTraits, model: Seq2Seq): Promise<StepCandidates[]> {
  const previous = useBackendTraits(traits);
  const inputs = searchWeights(model, 1);
  let dec = startDecoding(model, inputs, SOURCES, [0, 1, 2, 3]);
  try {
    const out: StepCandidates[] = [];
    for (const fed of [SOURCES.map(() => SOS), ...FED]) {
      const step = await searchStep(model, dec, inputs, Int32Array.from(fed), TGT_VOCAB, true);
      dec = step.dec;
      out.push(step.candidates);
    }
    return out;
  } finally {
    disposeDecoding(dec);
    inputs.dispose();
    useBackendTraits(previous);
  }
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

describe('fused search step on tensorflow = the portable step', { skip: FUSED_SKIP }, () => {
  onFusedTensorflow();

  const cases: [string, Partial<ModelConfig>][] = [
    ['one layer, general attention, input feeding', {}],
    ['two layers, dot attention', { layers: 2, attention: 'dot' }],
    ['bidirectional encoder, general attention, no input feeding', { bidirectional: true, inputFeeding: false }],
  ];
  for (const [name, overrides] of cases) {
    test(`${name}: probabilities and attention within 1e-6 over ${1 + FED.length} steps`, async () => {
      const model = modelWith(overrides);
      const start = tf.memory().numTensors;
      resetNativeOpCounts();
      const withFused = await stepsWith(fused, model);
      assert.equal(nativeOpCounts().get('LSTMBlockCell')?.calls, (overrides.layers ?? 1) * withFused.length, 'one LSTMBlockCell per layer and step');
      resetNativeOpCounts();
      const withPortable = await stepsWith(portable, model);
      assert.equal(nativeOpCounts().get('LSTMBlockCell'), undefined);
      assert.equal(tf.memory().numTensors, start, 'no tensors leaked');
      withFused.forEach((f, t) => {
        const p = withPortable[t]!;
        assert.ok(maxDiff(f.probs, p.probs) < 1e-6, `step ${t}: probabilities differ by ${maxDiff(f.probs, p.probs)}`);
        assert.ok(maxDiff(f.attention!, p.attention!) < 1e-6, `step ${t}: attention differs by ${maxDiff(f.attention!, p.attention!)}`);
        // Tokens of equal probability may come in either order: compare where the probabilities are distinct.
        f.tokens.forEach((token, k) => {
          const distinct = (k === 0 || p.probs[k - 1]! - p.probs[k]! > 1e-5) && (k + 1 === p.probs.length || k % TGT_VOCAB === TGT_VOCAB - 1 || p.probs[k]! - p.probs[k + 1]! > 1e-5);
          if (distinct) assert.equal(token, p.tokens[k], `step ${t}, candidate ${k}`);
        });
      });
      disposeModel(model);
    });
  }

  test('concat attention keeps the portable step', async () => {
    const model = modelWith({ attention: 'concat' });
    resetNativeOpCounts();
    await stepsWith(fused, model);
    assert.equal(nativeOpCounts().get('LSTMBlockCell'), undefined);
    disposeModel(model);
  });

  test('greedy and beam search give the same translations and attention, without leaks', async () => {
    const model = modelWith({ layers: 2 });
    const start = tf.memory().numTensors;
    const translate = async (traits: BackendTraits) => {
      const prev = useBackendTraits(traits);
      try {
        const greedy = await search(model, SOURCES, { beam: 1, batchSize: 3, returnAttention: true });
        const beam = await search(model, SOURCES, { beam: 3, nbest: 2, batchSize: 4 });
        return { greedy: greedy.map((n) => n[0]!.ids), attention: greedy.map((n) => n[0]!.attention), beam: beam.map((n) => n.map((h) => h.ids)) };
      } finally {
        useBackendTraits(prev);
      }
    };
    resetNativeOpCounts();
    const withFused = await translate(fused);
    assert.ok((nativeOpCounts().get('LSTMBlockCell')?.calls ?? 0) > 0);
    const withPortable = await translate(portable);
    assert.deepEqual(withFused.greedy, withPortable.greedy);
    assert.deepEqual(withFused.beam, withPortable.beam);
    withFused.attention.forEach((a, s) => a!.forEach((row, t) => row.forEach((w, j) => assert.ok(Math.abs(w - withPortable.attention[s]![t]![j]!) < 1e-6))));
    assert.equal(tf.memory().numTensors, start);
    disposeModel(model);
  });

  test('greedy streaming (sentences joining a running search, merged memories padded) gives the same translations', async () => {
    const model = modelWith({});
    const start = tf.memory().numTensors;
    const stream = async (traits: BackendTraits): Promise<number[][]> => {
      const prev = useBackendTraits(traits);
      try {
        const found: Hypothesis[] = [];
        // One sentence per step joins: memories of different lengths are merged.
        let next = 0;
        const take = (max: number) => {
          if (max === 0 || next === SOURCES.length) return [];
          const i = next++;
          return [{ ids: SOURCES[i]!, found: (h: Hypothesis) => (found[i] = h) }];
        };
        await greedyStream(model, searchOptions({ beam: 1 }), 4, take);
        return found.map((h) => h.ids);
      } finally {
        useBackendTraits(prev);
      }
    };
    const withFused = await stream(fused);
    assert.equal(withFused.length, SOURCES.length);
    assert.deepEqual(withFused, await stream(portable));
    assert.equal(tf.memory().numTensors, start);
    disposeModel(model);
  });
});
