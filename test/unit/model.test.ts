import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { DEFAULTS, type ModelConfig } from '../../src/config.ts';
import { attend, attentionKeys } from '../../src/model/attention.ts';
import { encode, noDropout } from '../../src/model/encoder.ts';
import { embedLookup, maskedCrossEntropySum } from '../../src/model/ops.ts';
import { modelDims, parameterShapes, type ModelDims } from '../../src/model/params.ts';
import { batchTensors, createModel, disposeModel, lossSum, type BatchTensors, type Seq2Seq } from '../../src/model/seq2seq.ts';
import * as adamModule from '../../src/train/adam.ts';
import { Adam } from '../../src/train/adam.ts';
import { makeBatch } from '../../src/data/batches.ts';
import { stepDropout, trainStep } from '../../src/train/step.ts';
import { buildConfig } from '../../src/config.ts';

before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

function config(overrides: Partial<ModelConfig>): ModelConfig {
  return { ...DEFAULTS.model, embSize: 4, hiddenSize: 4, layers: 1, dropout: 0, ...overrides };
}

/** A padded batch of two sentences: the first has source and target padding. */
function toyBatch(): BatchTensors {
  return {
    srcIds: tf.tensor2d([[4, 5, 6, 0], [7, 8, 9, 10]], undefined, 'int32'),
    srcMask: tf.tensor2d([[1, 1, 1, 0], [1, 1, 1, 1]]),
    tgtIn: tf.tensor2d([[2, 4, 5], [2, 6, 0]], undefined, 'int32'),
    tgtOut: tf.tensor2d([[4, 5, 3], [6, 3, 0]], undefined, 'int32'),
    tgtMask: tf.tensor2d([[1, 1, 1], [1, 1, 0]]),
  };
}

function paramsOf(entries: Record<string, number[][]>): Map<string, tf.Variable> {
  return new Map(Object.entries(entries).map(([k, v]) => [k, tf.variable(tf.tensor2d(v))]));
}

const softmax = (xs: number[]): number[] => {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

describe('attention against hand-computed examples', () => {
  // Two encoder states h1 = [1, 0], h2 = [0, 1]; query s = [1, 1].
  const states = () => tf.tensor3d([[[1, 0], [0, 1]]]);
  const query = () => tf.tensor2d([[1, 1]]);
  const dims = (attention: ModelDims['attention']): ModelDims => ({
    ...modelDims(config({ attention, embSize: 2, hiddenSize: 2 }), 5, 5),
  });
  const noMask = () => tf.zeros([1, 2]) as tf.Tensor2D;

  function run(attention: ModelDims['attention'], params: Map<string, tf.Variable>, maskBias = noMask()) {
    const d = dims(attention);
    const h = states();
    const keys = attentionKeys(params, d, h);
    const { context, weights } = attend(params, d, query(), keys, h, maskBias);
    return { context: Array.from(context.dataSync()), weights: Array.from(weights.dataSync()) };
  }

  test('dot: scores s·h_j', () => {
    const { weights, context } = run('dot', new Map());
    assert.deepEqual(weights.map((w) => +w.toFixed(6)), [0.5, 0.5]);
    assert.deepEqual(context.map((w) => +w.toFixed(6)), [0.5, 0.5]);
  });

  test('general: scores sᵀ W_a h_j', () => {
    // W_a h1 = [1, 0], W_a h2 = [0, 2] → scores [1, 2]
    const { weights, context } = run('general', paramsOf({ 'att/W': [[1, 0], [0, 2]] }));
    const expected = softmax([1, 2]);
    weights.forEach((w, i) => assert.ok(Math.abs(w - expected[i]!) < 1e-6));
    context.forEach((c, i) => assert.ok(Math.abs(c - expected[i]!) < 1e-6));
  });

  test('concat: scores v_aᵀ tanh(W_s s + W_h h_j)', () => {
    const params = paramsOf({ 'att/W_h': [[1, 0], [0, 1]], 'att/W_s': [[1, 0], [0, 1]], 'att/v': [[1], [0]] });
    const { weights } = run('concat', params);
    // tanh([2, 1])·[1, 0] = tanh 2; tanh([1, 2])·[1, 0] = tanh 1
    const expected = softmax([Math.tanh(2), Math.tanh(1)]);
    weights.forEach((w, i) => assert.ok(Math.abs(w - expected[i]!) < 1e-6));
  });

  test('padding gets no attention', () => {
    const { weights, context } = run('general', paramsOf({ 'att/W': [[1, 0], [0, 2]] }), tf.tensor2d([[0, -1e9]]));
    assert.deepEqual(weights, [1, 0]);
    assert.deepEqual(context, [1, 0]);
  });
});

describe('model', () => {
  test('parameter shapes cover every option', () => {
    const names = parameterShapes(modelDims(config({ attention: 'concat', bidirectional: true, layers: 2 }), 10, 9)).map(([n]) => n);
    for (const n of ['enc/l1/bw/U', 'bridge/h/W', 'dec/l0/W_feed', 'dec/l1/W', 'att/v', 'out/W_s']) assert.ok(names.includes(n), n);
    const tied = parameterShapes(modelDims(config({ tieOutput: true, inputFeeding: false }), 10, 9)).map(([n]) => n);
    assert.ok(!tied.includes('out/W_s') && !tied.includes('dec/l0/W_feed'));
  });

  test('embedding gradient is a scatter-add that sums repeated ids', () => {
    const table = tf.variable(tf.tensor2d([[1, 1], [2, 2], [3, 3]]));
    const g = tf.grad((t: tf.Tensor) => tf.sum(embedLookup(t as tf.Tensor2D, tf.tensor1d([1, 1, 2], 'int32'))))(table);
    assert.deepEqual(Array.from(g.dataSync()), [0, 0, 2, 2, 1, 1]);
  });

  test('cross-entropy gradient matches the stock composition, with label smoothing', () => {
    const logits = tf.tensor2d([[1, 2, 3], [0, 1, 0], [2, 2, 2]]);
    const targets = tf.tensor1d([0, 1, 2], 'int32');
    const mask = tf.tensor1d([1, 1, 0]);
    for (const eps of [0, 0.1]) {
      const ours = tf.grad((x: tf.Tensor) => maskedCrossEntropySum(x as tf.Tensor2D, targets, mask, eps))(logits);
      const reference = tf.grad((x: tf.Tensor) => {
        const q = tf.add(tf.mul(tf.oneHot(targets, 3).toFloat(), 1 - eps), eps / 3);
        return tf.sum(tf.mul(tf.sum(tf.mul(q, tf.neg(tf.logSoftmax(x))), 1), mask));
      })(logits);
      const diff = tf.max(tf.abs(tf.sub(ours, reference))).dataSync()[0]!;
      assert.ok(diff < 1e-6, `eps ${eps}: max diff ${diff}`);
    }
  });

  for (const variant of [
    { attention: 'general' as const },
    { attention: 'dot' as const, layers: 2 },
    { attention: 'concat' as const, bidirectional: true },
    { attention: 'general' as const, inputFeeding: false, tieOutput: true },
  ]) {
    test(`finite-difference gradient check of the full loss (${JSON.stringify(variant)})`, () => {
      const model = createModel(config({ ...variant, initScale: 0.5 }), 12, 9, 3);
      const batch = toyBatch();
      const loss = () => lossSum(model, batch);
      const variables = [...model.params.values()];
      const { grads } = tf.variableGrads(loss, variables);
      const eps = 1e-2;
      let checked = 0;
      for (const [name, v] of model.params) {
        const g = grads[v.name]!.dataSync();
        const values = v.dataSync().slice();
        // The entry with the largest gradient, and one more.
        let k = 0;
        for (let i = 0; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[k]!)) k = i;
        for (const i of [k, (k * 7 + 3) % g.length]) {
          const at = (delta: number): number => {
            const copy = values.slice();
            copy[i] = values[i]! + delta;
            v.assign(tf.tensor(copy, v.shape));
            return tf.tidy(() => loss().dataSync()[0]!);
          };
          const numeric = (at(eps) - at(-eps)) / (2 * eps);
          v.assign(tf.tensor(values, v.shape));
          const analytic = g[i]!;
          assert.ok(
            Math.abs(numeric - analytic) <= 2e-3 + 0.03 * Math.abs(analytic),
            `${name}[${i}]: numeric ${numeric} vs analytic ${analytic}`,
          );
          checked++;
        }
      }
      assert.ok(checked >= 2 * model.params.size);
      disposeModel(model);
    });
  }

  // The decoder's hand-written gradient (dot/general attention) against autodiff of the same step function.
  for (const variant of [
    { attention: 'general' as const },
    { attention: 'dot' as const, layers: 3 },
    { attention: 'general' as const, inputFeeding: false, layers: 2 },
    { attention: 'general' as const, bidirectional: true, layers: 2 },
    { attention: 'dot' as const, inputFeeding: false },
  ]) {
    for (const dropout of [0, 0.3]) {
      test(`decoder: hand-written gradient equals autodiff (${JSON.stringify({ ...variant, dropout })})`, () => {
        const model = createModel(config({ ...variant, hiddenSize: 6, embSize: 5, initScale: 0.5 }), 12, 9, 7);
        const batch = toyBatch();
        const variables = [...model.params.values()];
        const gradsOf = (gradient: 'auto' | 'autodiff'): { loss: number; grads: Map<string, number[]> } => {
          let result: { loss: number; grads: Map<string, number[]> } | undefined;
          tf.tidy(() => {
            const { value, grads } = tf.variableGrads(() => lossSum(model, batch, stepDropout(dropout, 11, 3), 0, gradient), variables);
            result = { loss: value.dataSync()[0]!, grads: new Map(Object.entries(grads).map(([k, g]) => [k, Array.from(g.dataSync())])) };
          });
          return result!;
        };
        const before = tf.memory().numTensors;
        const fused = gradsOf('auto');
        const reference = gradsOf('autodiff');
        assert.equal(tf.memory().numTensors, before);
        assert.ok(Math.abs(fused.loss - reference.loss) < 1e-5, `loss ${fused.loss} vs ${reference.loss}`);
        let nonZero = 0;
        for (const [name, ref] of reference.grads) {
          const ours = fused.grads.get(name)!;
          const scale = Math.max(1e-3, ...ref.map(Math.abs));
          ref.forEach((r, i) => assert.ok(Math.abs(ours[i]! - r) <= 1e-4 * scale, `${name}[${i}]: ${ours[i]} vs ${r}`));
          if (ref.some((r) => r !== 0)) nonZero++;
        }
        assert.equal(nonZero, model.params.size, 'every parameter gets a gradient');
        disposeModel(model);
      });
    }
  }

  test('padding content does not change the loss', () => {
    const model = createModel(config({ bidirectional: true, attention: 'concat' }), 12, 9, 5);
    const a = tf.tidy(() => lossSum(model, toyBatch()).dataSync()[0]!);
    const changed: BatchTensors = {
      ...toyBatch(),
      srcIds: tf.tensor2d([[4, 5, 6, 11], [7, 8, 9, 10]], undefined, 'int32'),
      tgtIn: tf.tensor2d([[2, 4, 5], [2, 6, 7]], undefined, 'int32'),
      tgtOut: tf.tensor2d([[4, 5, 3], [6, 3, 8]], undefined, 'int32'),
    };
    const b = tf.tidy(() => lossSum(model, changed).dataSync()[0]!);
    assert.equal(a, b);
    disposeModel(model);
  });

  test('encoder keeps the state of the last real token at padded positions', () => {
    const model = createModel(config({}), 12, 9, 5);
    const d = model.dims;
    const run = (ids: number[][], mask: number[][]) =>
      tf.tidy(() => {
        const enc = encode(model.params, d, tf.tensor2d(ids, undefined, 'int32'), tf.tensor2d(mask), noDropout);
        return Array.from(enc.initial[0]!.h.dataSync());
      });
    assert.deepEqual(run([[4, 5, 0, 0]], [[1, 1, 0, 0]]), run([[4, 5]], [[1, 1]]));
    disposeModel(model);
  });

  for (const variant of [{}, { bidirectional: true, layers: 2 }]) {
    test(`encoder: skipping the masking of unpadded positions, and the inference path, change nothing (${JSON.stringify(variant)})`, () => {
      const model = createModel(config({ ...variant, initScale: 0.5 }), 12, 9, 5);
      const batch = toyBatch(); // shortest source: 3 tokens
      const flat = (e: ReturnType<typeof encode>): number[] => [
        ...e.states.dataSync(),
        ...e.keys.dataSync(),
        ...e.initial.flatMap(({ h, c }) => [...h.dataSync(), ...c.dataSync()]),
      ];
      const encoded = (unpaddedSteps: number, inference: boolean): number[] =>
        tf.tidy(() => flat(encode(model.params, model.dims, batch.srcIds, batch.srcMask, noDropout, { unpaddedSteps, inference })));
      const reference = encoded(0, false);
      for (const [steps, inference] of [[3, false], [3, true], [0, true]] as const) {
        encoded(steps, inference).forEach((x, i) => assert.ok(Math.abs(x - reference[i]!) < 1e-6, `${steps}/${inference} [${i}]: ${x} vs ${reference[i]}`));
      }
      const gradsOf = (srcUnpadded: number): number[][] => {
        let out: number[][] = [];
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => lossSum(model, { ...batch, srcUnpadded }), [...model.params.values()]);
          out = Object.values(grads).map((g) => Array.from(g.dataSync()));
        });
        return out;
      };
      const masked = gradsOf(0);
      gradsOf(3).forEach((g, k) => g.forEach((x, i) => assert.ok(Math.abs(x - masked[k]![i]!) <= 1e-5 * Math.max(1, Math.abs(x)), `grad ${k}[${i}]: ${x} vs ${masked[k]![i]}`)));
      disposeModel(model);
    });
  }

  test('batchTensors records the shortest source length', () => {
    const b = makeBatch([{ src: [4, 5, 6], tgt: [4] }, { src: [7, 8], tgt: [5, 6] }], [0, 1]);
    const t = batchTensors(b);
    assert.equal(t.srcUnpadded, 2);
    tf.dispose([t.srcIds, t.srcMask, t.tgtIn, t.tgtOut, t.tgtMask]);
  });
});

describe('training steps', () => {
  function tinyModel(): Seq2Seq {
    return createModel(config({ dropout: 0.3 }), 12, 9, 7);
  }
  const pairs = [
    { src: [4, 5, 6], tgt: [4, 5] },
    { src: [7, 8, 9, 10], tgt: [6] },
    { src: [4, 11], tgt: [7, 8, 4] },
  ];
  const cfg = buildConfig('test', { model: { dropout: 0.3 }, training: { seed: 3 } });

  test('tf.memory().numTensors is identical before and after 20 training steps', () => {
    const model = tinyModel();
    const opt = new Adam({ lr: 1e-2, beta1: 0.9, beta2: 0.999 });
    const batch = makeBatch(pairs, [0, 1, 2]);
    trainStep(model, opt, batch, cfg, 1); // creates the optimizer's moments
    const before = tf.memory().numTensors;
    for (let step = 2; step <= 21; step++) trainStep(model, opt, batch, cfg, step);
    assert.equal(tf.memory().numTensors, before);
    opt.dispose();
    disposeModel(model);
  });

  test('the loss goes down and training is repeatable with a seed (dropout included)', () => {
    const run = (): number[] => {
      const model = tinyModel();
      const opt = new Adam({ lr: 3e-2, beta1: 0.9, beta2: 0.999 });
      const batch = makeBatch(pairs, [0, 1, 2]);
      const losses: number[] = [];
      for (let step = 1; step <= 30; step++) losses.push(trainStep(model, opt, batch, cfg, step).loss);
      opt.dispose();
      disposeModel(model);
      return losses;
    };
    const a = run();
    assert.deepEqual(run(), a);
    assert.ok(a[29]! < a[0]! * 0.8, `loss ${a[0]} → ${a[29]}`);
  });

  test('batch tensors have the documented layout', () => {
    const batch = makeBatch(pairs, [1, 0]);
    const t = batchTensors(batch);
    assert.deepEqual(t.srcIds.shape, [2, 4]);
    assert.deepEqual(Array.from(t.tgtIn.dataSync()), [2, 6, 0, 2, 4, 5]);
    assert.deepEqual(Array.from(t.tgtOut.dataSync()), [6, 3, 0, 4, 5, 3]);
    assert.equal(batch.tgtTokens, 5);
    tf.dispose(Object.values(t));
  });
});

describe('Adam and clipping', () => {
  test('clipScale is min(1, maxNorm / norm), and 1 when clipping is off', () => {
    const { clipScale } = adamModule;
    assert.equal(clipScale(10, 5), 0.5);
    assert.equal(clipScale(2, 5), 1);
    assert.equal(clipScale(10, 0), 1);
  });

  test('a scale folded into the update equals scaling the gradients first', () => {
    // Per-step scales (Adam is invariant to one constant scale, not to changing ones).
    const run = (scales: number[], pre: number[]): number[] => {
      const params = new Map([['w', tf.variable(tf.tensor1d([0.5, -1, 2]))]]);
      const opt = new Adam({ lr: 0.1, beta1: 0.9, beta2: 0.999 });
      [[1, -2, 3], [0.5, 4, -1], [-3, 1, 1]].forEach((g, k) => {
        tf.tidy(() => opt.apply(params, new Map([['w', tf.mul(tf.tensor1d(g), pre[k]!)]]), scales[k]));
      });
      const out = Array.from(params.get('w')!.dataSync());
      opt.dispose();
      params.get('w')!.dispose();
      return out;
    };
    const folded = run([1, 0.3, 0.1], [1, 1, 1]);
    const scaled = run([1, 1, 1], [1, 0.3, 0.1]);
    folded.forEach((x, i) => assert.ok(Math.abs(x - scaled[i]!) < 1e-6, `${x} vs ${scaled[i]}`));
    const unclipped = run([1, 1, 1], [1, 1, 1]);
    assert.ok(folded.some((x, i) => Math.abs(x - unclipped[i]!) > 1e-4), 'the scale changes the update');
  });

  test('globalNorm is the norm of all gradients together', () => {
    const n = tf.tidy(() => adamModule.globalNorm([tf.tensor1d([3]), tf.tensor2d([[4, 0]])]).dataSync()[0]!);
    assert.ok(Math.abs(n - 5) < 1e-6);
  });
});
