import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { buildConfig, DEFAULTS, type ModelConfig } from '../../src/config.ts';
import { EOS, PAD, SOS, UNK, Vocab } from '../../src/data/vocab.ts';
import { detokenize } from '../../src/data/tokenize.ts';
import { translate } from '../../src/decode/translator.ts';
import { createModel, disposeModel, lossSum, type Seq2Seq } from '../../src/model/seq2seq.ts';
import { encode, noDropout } from '../../src/model/encoder.ts';
import { decodeStep, initialDecoderState, outputLogits, projectTargetInputs, type DecoderState } from '../../src/model/decoder.ts';
import { search, searchOptions, type Hypothesis } from '../../src/decode/search.ts';
import { greedySearch, greedyStream } from '../../src/decode/greedy.ts';
import { beamSearch, bestExtensions } from '../../src/decode/beam.ts';
import { batchesByLength } from '../../src/decode/search-step.ts';
import { normalisedScore, outputLimit } from '../../src/decode/options.ts';

const SRC_VOCAB = 20;
const TGT_VOCAB = 16;

function tinyModel(overrides: Partial<ModelConfig> = {}, seed = 3): Seq2Seq {
  const config: ModelConfig = { ...DEFAULTS.model, embSize: 16, hiddenSize: 16, dropout: 0, initScale: 1, ...overrides };
  return createModel(config, SRC_VOCAB, TGT_VOCAB, seed);
}

/** Sets one entry of the output bias (crafting which token the model prefers). */
function biasOutput(model: Seq2Seq, token: number, value: number): void {
  const b = model.params.get('out/b_s')!;
  const values = b.arraySync() as number[];
  values[token] = value;
  tf.tidy(() => b.assign(tf.tensor1d(values)));
}

/** Deterministic pseudo-random sources of lengths 1..8 over the non-special ids. */
function sources(n: number, seed = 1): number[][] {
  const rng = seedrandom(String(seed));
  const int = (k: number): number => Math.floor(rng() * k);
  return Array.from({ length: n }, () => Array.from({ length: 1 + int(8) }, () => 4 + int(SRC_VOCAB - 4)));
}

const close = (a: number, b: number, tol = 1e-4): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(a));

function assertSameHypotheses(actual: Hypothesis[][], expected: Hypothesis[][]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((list, i) => {
    assert.deepEqual(list.map((h) => h.ids), expected[i]!.map((h) => h.ids), `sentence ${i}`);
    list.forEach((h, k) => assert.ok(close(h.score, expected[i]![k]!.score), `sentence ${i}: ${h.score} vs ${expected[i]![k]!.score}`));
  });
}

/** log p(ids <eos> | src) under teacher forcing, from the training loss. */
function teacherForcedLogProb(model: Seq2Seq, src: number[], ids: number[]): number {
  return tf.tidy(() => {
    const n = ids.length + 1;
    const loss = lossSum(model, {
      srcIds: tf.tensor2d([src], [1, src.length], 'int32'),
      srcMask: tf.ones([1, src.length]) as tf.Tensor2D,
      tgtIn: tf.tensor2d([[2, ...ids]], [1, n], 'int32'),
      tgtOut: tf.tensor2d([[...ids, EOS]], [1, n], 'int32'),
      tgtMask: tf.ones([1, n]) as tf.Tensor2D,
    });
    return -loss.dataSync()[0]!;
  });
}

/**
 * A plain reference beam search: one sentence, one decoder call per
 * hypothesis, no stopping bound (runs until no hypothesis is live or `beam`
 * have finished), never outputting <pad> or <sos>. The batched search with
 * its stopping bound must find exactly the same n-best.
 */
function referenceBeam(model: Seq2Seq, src: number[], o: ReturnType<typeof searchOptions>): Hypothesis[] {
  const { params, dims } = model;
  const limit = outputLimit(src.length, o);
  const finished: Hypothesis[] = [];
  const cutOff: Hypothesis[] = [];
  tf.tidy(() => {
    const enc = encode(params, dims, tf.tensor2d([src], [1, src.length], 'int32'), tf.ones([1, src.length]) as tf.Tensor2D, noDropout);
    type Live = { ids: number[]; logProb: number; state: DecoderState };
    let live: Live[] = [{ ids: [], logProb: 0, state: initialDecoderState(dims, enc) }];
    while (live.length > 0 && finished.length < o.beam) {
      const candidates: { parent: Live; token: number; logProb: number; state: DecoderState }[] = [];
      for (const h of live) {
        const previous = tf.tensor1d([h.ids.at(-1) ?? SOS], 'int32');
        const out = decodeStep(params, dims, enc, h.state, projectTargetInputs(params, previous, noDropout), noDropout);
        const logp = tf.logSoftmax(outputLogits(params, dims, out.attentional)).dataSync();
        logp.forEach((lp, token) => {
          if (token !== PAD && token !== SOS) candidates.push({ parent: h, token, logProb: h.logProb + lp, state: out.state });
        });
      }
      candidates.sort((a, b) => b.logProb - a.logProb);
      live = [];
      for (const c of candidates.slice(0, o.beam)) {
        const length = c.parent.ids.length + 1;
        const score = normalisedScore(c.logProb, length, o.lengthPenalty);
        if (c.token === EOS) finished.push({ ids: c.parent.ids, score });
        else if (length >= limit) cutOff.push({ ids: [...c.parent.ids, c.token], score });
        else live.push({ ids: [...c.parent.ids, c.token], logProb: c.logProb, state: c.state });
      }
    }
  });
  const byScore = (a: Hypothesis, b: Hypothesis): number => b.score - a.score;
  finished.sort(byScore);
  const topUp = cutOff.sort(byScore).slice(0, Math.max(0, o.nbest - finished.length));
  return finished.concat(topUp).sort(byScore).slice(0, o.nbest);
}

before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

describe('options', () => {
  test('the output limit is min(maxOutputLen, ratio·srcLen + extra)', () => {
    assert.equal(outputLimit(5, { maxOutputLen: 80, maxLenRatio: 2, maxLenExtra: 10 }), 20);
    assert.equal(outputLimit(50, { maxOutputLen: 80, maxLenRatio: 2, maxLenExtra: 10 }), 80);
    assert.equal(outputLimit(3, { maxOutputLen: 80, maxLenRatio: 1.5, maxLenExtra: 0 }), 4);
  });

  test('length normalisation divides by length^alpha; alpha 0 is the raw log-probability', () => {
    assert.equal(normalisedScore(-6, 4, 0), -6);
    assert.equal(normalisedScore(-6, 4, 1), -1.5);
    assert.equal(normalisedScore(-8, 4, 0.5), -4);
  });

  test('nbest above beam is rejected', () => {
    assert.throws(() => searchOptions({ beam: 2, nbest: 3 }), RangeError);
  });

  test('batches are sorted by length, longest first, covering every sentence once', () => {
    const srcs = [[1], [1, 2, 3], [1, 2], [1, 2, 3], []];
    const batches = batchesByLength(srcs, 2);
    assert.deepEqual(batches, [[1, 3], [2, 0], [4]]);
  });
});

describe('bestExtensions: each sentence\'s k best from its rows\' k most probable tokens', () => {
  /** Brute force: log-softmax of every row, score added, the k best of a sentence's width·V by total, then row·V + token. */
  function bruteForce(logits: Float32Array[], scores: Float32Array, width: number, k: number, vocab: number): { values: number[]; indices: number[] } {
    const values: number[] = [];
    const indices: number[] = [];
    for (let b = 0; b < scores.length / width; b++) {
      const all: { total: number; index: number }[] = [];
      for (let j = 0; j < width; j++) {
        const row = logits[b * width + j]!;
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
        row.forEach((x, v) => {
          if (v !== PAD && v !== SOS) all.push({ total: scores[b * width + j]! + x - lse, index: j * vocab + v });
        });
      }
      all.sort((x, y) => y.total - x.total || x.index - y.index);
      all.slice(0, k).forEach((c) => (values.push(c.total), indices.push(c.index)));
    }
    return { values, indices };
  }

  test('equals a topk over [sentences, width·V] of the summed log-probabilities without <pad> and <sos>, with dead rows and ties', () => {
    const random = seedrandom('best-extensions');
    const vocab = 12;
    const k = 3;
    const perRow = k + 2;
    const width = 3;
    const sentences = 5;
    const logits = Array.from({ length: sentences * width }, () => Float32Array.from({ length: vocab }, () => Math.round((random() * 8 - 4) * 4) / 4));
    logits[4] = new Float32Array(vocab).fill(1); // every token tied
    logits[5]![PAD] = logits[5]![SOS] = 9; // <pad> and <sos> most probable
    const scores = Float32Array.from({ length: sentences * width }, (_, r) => (r % width === 2 && r < 9 ? -Infinity : -random() * 3));
    scores[12] = scores[13] = scores[14] = -2; // three identical rows: ties across rows
    logits[13] = logits[12]!;
    logits[14] = logits[12]!;
    const rowTop = logits.map((row) =>
      Array.from(row, (x, v) => ({ x, v }))
        .sort((a, b) => b.x - a.x || a.v - b.v)
        .slice(0, perRow),
    );
    const probs = rowTop.flatMap((top, r) => {
      const row = logits[r]!;
      const m = Math.max(...row);
      const sum = row.reduce((a, x) => a + Math.exp(x - m), 0);
      return top.map((c) => Math.exp(c.x - m) / sum);
    });
    const got = bestExtensions({
      probs: Float32Array.from(probs),
      tokens: Int32Array.from(rowTop.flatMap((r) => r.map((c) => c.v))),
      perRow,
      scores,
      width,
      k,
      vocab,
    });
    const want = bruteForce(logits, scores, width, k, vocab);
    assert.deepEqual(Array.from(got.indices), want.indices);
    Array.from(got.values).forEach((v, i) => assert.ok(Math.abs(v - want.values[i]!) < 1e-5, `${v} vs ${want.values[i]}`));
  });

  test('a sentence with fewer than k finite candidates is topped up with −∞', () => {
    const got = bestExtensions({
      probs: Float32Array.from([0.5, 0.25, 0.9, 0.05]),
      tokens: Int32Array.from([3, 1, 4, 5]),
      perRow: 2,
      scores: Float32Array.from([-1, -Infinity]),
      width: 2,
      k: 2,
      vocab: 4,
    });
    assert.deepEqual(Array.from(got.values), [-1 + Math.log(0.5), -1 + Math.log(0.25)]);
    assert.deepEqual(Array.from(got.indices), [3, 1]);
    const single = bestExtensions({
      probs: Float32Array.from([0.5, 0.25]),
      tokens: Int32Array.from([3, 1]),
      perRow: 2,
      scores: Float32Array.from([-Infinity]),
      width: 1,
      k: 2,
      vocab: 4,
    });
    assert.deepEqual(Array.from(single.values), [-Infinity, -Infinity]);
  });
});

describe('search', () => {
  let model: Seq2Seq;
  before(() => {
    model = tinyModel();
    biasOutput(model, EOS, 0.5); // some hypotheses end early, others run to the limit
  });

  const opts = (o: Partial<ReturnType<typeof searchOptions>> = {}) =>
    searchOptions({ maxOutputLen: 12, maxLenRatio: 2, maxLenExtra: 3, ...o });

  test('beam search with beam 1 equals greedy search token for token', async () => {
    const srcs = sources(24);
    for (const lengthPenalty of [0, 1]) {
      const greedy = await greedySearch(model, srcs, opts({ lengthPenalty }));
      const beam1 = await beamSearch(model, srcs, opts({ lengthPenalty }));
      assertSameHypotheses(beam1, greedy);
    }
  });

  test('pause is awaited once per decoder step and changes nothing (greedy and beam)', async () => {
    const srcs = sources(6, 5);
    for (const beam of [1, 3]) {
      let pauses = 0;
      const pause = async (): Promise<void> => {
        pauses += 1;
        await new Promise((resolve) => setImmediate(resolve));
      };
      const paused = await search(model, srcs, opts({ beam, nbest: beam, batchSize: 64, pause }));
      assertSameHypotheses(paused, await search(model, srcs, opts({ beam, nbest: beam, batchSize: 64 })));
      // One batch: as many steps as the longest output, plus its <eos> when it has one.
      const longest = Math.max(...paused.flat().map((h) => h.ids.length));
      assert.ok(pauses >= longest && pauses <= longest + 1, `${pauses} pauses, longest output ${longest}`);
    }
  });

  test('search() dispatches: beam 1 is greedy, beam > 1 differs in n-best size', async () => {
    const srcs = sources(5);
    assertSameHypotheses(await search(model, srcs, opts({ beam: 1 })), await greedySearch(model, srcs, opts()));
    const beam = await search(model, srcs, opts({ beam: 3, nbest: 3 }));
    assert.ok(beam.every((list) => list.length === 3));
  });

  test('batched greedy equals one sentence at a time, in input order', async () => {
    const srcs = sources(17, 7);
    const batched = await search(model, srcs, opts({ batchSize: 5 }));
    const single: Hypothesis[][] = [];
    for (const s of srcs) single.push(...(await search(model, [s], opts({ batchSize: 1 }))));
    assertSameHypotheses(batched, single);
  });

  test('batched beam search equals one sentence at a time, in input order', async () => {
    const srcs = sources(13, 11);
    for (const lengthPenalty of [0, 1]) {
      const o = opts({ beam: 4, nbest: 3, lengthPenalty });
      const batched = await search(model, srcs, { ...o, batchSize: 6 });
      const single: Hypothesis[][] = [];
      for (const s of srcs) single.push(...(await search(model, [s], { ...o, batchSize: 1 })));
      assertSameHypotheses(batched, single);
    }
  });

  test('the stopping bound loses nothing: same n-best as a plain search run to the end', async () => {
    const srcs = sources(10, 21);
    for (const lengthPenalty of [0, 1]) {
      const o = opts({ beam: 3, nbest: 2, lengthPenalty, maxOutputLen: 10 });
      const batched = await search(model, srcs, o);
      assertSameHypotheses(batched, srcs.map((s) => referenceBeam(model, s, o)));
    }
  });

  test('n-best lists have the requested size, distinct hypotheses, best first', async () => {
    const result = await search(model, sources(10, 5), opts({ beam: 5, nbest: 4, lengthPenalty: 0.6 }));
    for (const list of result) {
      assert.equal(list.length, 4);
      for (let k = 1; k < list.length; k++) assert.ok(list[k - 1]!.score >= list[k]!.score, 'sorted by score');
      assert.equal(new Set(list.map((h) => h.ids.join(' '))).size, list.length, 'distinct');
    }
  });

  test('scores are the teacher-forced log-probability of ids + <eos>, length-normalised', async () => {
    const srcs = sources(8, 9);
    const o = opts({ beam: 3, nbest: 3, lengthPenalty: 1, maxOutputLen: 40, maxLenExtra: 30 });
    const checked = { greedy: 0, beam: 0 };
    for (const [name, result] of [
      ['greedy', await search(model, srcs, { ...o, beam: 1, nbest: 1 })],
      ['beam', await search(model, srcs, o)],
    ] as const) {
      result.forEach((list, i) => {
        for (const h of list) {
          if (h.ids.length >= outputLimit(srcs[i]!.length, o)) continue; // cut off: no <eos>
          const logProb = teacherForcedLogProb(model, srcs[i]!, h.ids);
          assert.ok(close(h.score, logProb / (h.ids.length + 1), 1e-3), `${name} ${i}: ${h.score} vs ${logProb / (h.ids.length + 1)}`);
          checked[name]++;
        }
      });
    }
    assert.ok(checked.greedy > 0 && checked.beam > 0, 'some hypotheses ended with <eos>');
  });

  test('outputs never contain <eos> and respect the length limit', async () => {
    const srcs = sources(20, 3);
    const o = opts({ beam: 3, nbest: 2, maxOutputLen: 6, maxLenRatio: 1, maxLenExtra: 1 });
    for (const result of [await search(model, srcs, { ...o, beam: 1, nbest: 1 }), await search(model, srcs, o)]) {
      result.forEach((list, i) => {
        for (const h of list) {
          assert.ok(!h.ids.includes(EOS));
          assert.ok(h.ids.length <= outputLimit(srcs[i]!.length, o));
        }
      });
    }
  });

  test('attention has one row per output token over the real source tokens, each summing to 1', async () => {
    const srcs = sources(6, 2);
    for (const beam of [1, 3]) {
      const result = await search(model, srcs, opts({ beam, returnAttention: true }));
      result.forEach((list, i) => {
        const h = list[0]!;
        assert.equal(h.attention!.length, h.ids.length);
        for (const row of h.attention!) {
          assert.equal(row.length, srcs[i]!.length);
          assert.ok(close(row.reduce((a, b) => a + b, 0), 1, 1e-4));
        }
      });
    }
    const without = await search(model, srcs, opts());
    assert.equal(without[0]![0]!.attention, undefined);
  });

  test('an empty source and a zero length limit give an empty output', async () => {
    const result = await search(model, [[], [5, 6]], opts({ maxOutputLen: 0, beam: 2 }));
    assert.deepEqual(result.map((l) => l[0]!.ids), [[], []]);
  });
});

describe('crafted models', () => {
  test('a model that strongly favours <eos> yields empty outputs (greedy and beam)', async () => {
    const model = tinyModel({}, 5);
    biasOutput(model, EOS, 100);
    const srcs = sources(6);
    for (const beam of [1, 4]) {
      const result = await search(model, srcs, { beam, nbest: 1 });
      assert.deepEqual(result.map((l) => l[0]!.ids), srcs.map(() => []));
    }
    disposeModel(model);
  });

  test('a model that favours <pad> and <sos> never outputs them; scores stay log-probabilities under the full softmax', async () => {
    const model = tinyModel({}, 6);
    biasOutput(model, PAD, 4);
    biasOutput(model, SOS, 5);
    const srcs = sources(12, 4);
    const o = searchOptions({ beam: 3, nbest: 3, lengthPenalty: 0, maxOutputLen: 12 });
    let scored = 0;
    for (const beam of [1, 3]) {
      const result = await search(model, srcs, { ...o, beam, nbest: beam });
      result.forEach((list, i) =>
        list.forEach((h) => {
          assert.ok(h.ids.length > 0 && !h.ids.includes(PAD) && !h.ids.includes(SOS), JSON.stringify(h.ids));
          if (h.ids.length >= outputLimit(srcs[i]!.length, o)) return;
          assert.ok(close(h.score, teacherForcedLogProb(model, srcs[i]!, h.ids), 1e-3), `beam ${beam}, ${i}`);
          scored++;
        }),
      );
    }
    assert.ok(scored > 0, 'some hypotheses ended with <eos>');
    // Without the exclusion these would be the most probable tokens: the test would not show anything otherwise.
    const first = tf.tidy(() => {
      const enc = encode(model.params, model.dims, tf.tensor2d([srcs[0]!], [1, srcs[0]!.length], 'int32'), tf.ones([1, srcs[0]!.length]) as tf.Tensor2D, noDropout);
      const out = decodeStep(model.params, model.dims, enc, initialDecoderState(model.dims, enc), projectTargetInputs(model.params, tf.tensor1d([SOS], 'int32'), noDropout), noDropout);
      return tf.argMax(outputLogits(model.params, model.dims, out.attentional), 1).dataSync()[0];
    });
    assert.ok(first === PAD || first === SOS);
    disposeModel(model);
  });

  test('with <unk> favoured, attention at each step is the model step attention (what replace-unk uses)', async () => {
    const model = tinyModel({ attention: 'dot' }, 8);
    biasOutput(model, UNK, 100);
    const src = [4, 9, 13, 6, 11];
    const [[h]] = (await search(model, [src], { maxOutputLen: 3, returnAttention: true })) as [[Hypothesis]];
    assert.deepEqual(h.ids, [UNK, UNK, UNK]);
    const expected = tf.tidy(() => {
      const enc = encode(model.params, model.dims, tf.tensor2d([src], [1, 5], 'int32'), tf.ones([1, 5]) as tf.Tensor2D, noDropout);
      const step = decodeStep(model.params, model.dims, enc, initialDecoderState(model.dims, enc), projectTargetInputs(model.params, tf.tensor1d([2], 'int32'), noDropout), noDropout);
      return step.attention.arraySync()[0]!;
    });
    expected.forEach((w, j) => assert.ok(close(h.attention![0]![j]!, w, 1e-5)));
    disposeModel(model);
  });
});

describe('translator', () => {
  const srcVocab = Vocab.build([['tom', 'likes', 'cats', '.']], { minFreq: 1, maxSize: 0 });
  const tgtVocab = Vocab.build([['我', '喜', '欢', '猫']], { minFreq: 1, maxSize: 0 });
  const config = buildConfig('test', { data: { maxLen: 4 }, model: { embSize: 16, hiddenSize: 16, dropout: 0, initScale: 1 } });

  test('replace-unk puts the most attended source token in place of each <unk>; inputs over maxInputLen are truncated', async () => {
    const model = createModel(config.model, srcVocab.size, tgtVocab.size, 1); // a seed whose attention moves between steps
    biasOutput(model, UNK, 100);
    const m = { config, model, srcVocab, tgtVocab };
    const decoding = { ...config.decoding, maxOutputLen: 4, maxInputLen: 4, replaceUnk: true };
    const [t] = await translate(m, ['Tom likes Zebras and cats .'], { decoding, attention: true });
    assert.deepEqual(t!.sourceTokens, ['tom', 'likes', 'zebras', 'and']);
    assert.equal(t!.truncated, 2);
    assert.equal(t!.tokens.length, 4);
    t!.tokens.forEach((token, i) => {
      const row = t!.attention![i]!;
      assert.equal(token, t!.sourceTokens[row.indexOf(Math.max(...row))]);
    });
    assert.ok(new Set(t!.tokens).size >= 2, `attention moves: ${t!.tokens}`);
    assert.ok(t!.tokens.includes('zebras'), 'a source word outside the source vocabulary is copied too');
    assert.equal(t!.translation, detokenize('char', t!.tokens));
    const [plain] = await translate(m, ['Tom likes Zebras and cats .'], { decoding: { ...decoding, replaceUnk: false }, attention: false });
    assert.deepEqual(plain!.tokens, ['<unk>', '<unk>', '<unk>', '<unk>']);
    assert.equal(plain!.attention, undefined);
    disposeModel(model);
  });

  test('empty inputs give empty translations without decoding; the rest keep their order', async () => {
    const model = createModel(config.model, srcVocab.size, tgtVocab.size, 2);
    const m = { config, model, srcVocab, tgtVocab };
    const texts = ['', 'tom likes cats .', '  ', 'cats .'];
    const results = await translate(m, texts, { decoding: config.decoding, attention: false });
    assert.deepEqual(results.map((r) => r.source), texts);
    assert.equal(results[0]!.translation, '');
    assert.equal(results[2]!.translation, '');
    const alone = await translate(m, ['cats .'], { decoding: config.decoding, attention: false });
    assert.deepEqual(results[3]!.tokens, alone[0]!.tokens);
    assert.ok(close(results[3]!.score, alone[0]!.score));
    disposeModel(model);
  });
});

/**
 * greedyStream fed `srcs` in waves: before each step it takes up to `max`
 * of the next wave (wave k is available from step k on), as a server's
 * requests arrive while it decodes. Returns the hypotheses in input order,
 * the rows searched at each step and the order sentences ended in.
 */
async function streamed(model: Seq2Seq, waves: number[][][], o: ReturnType<typeof searchOptions>, maxRows: number) {
  const all = waves.flat();
  const found: Hypothesis[][] = new Array(all.length);
  const rowsPerStep: number[] = [];
  const ended: number[] = [];
  let step = 0;
  let searching = 0;
  let next = 0;
  const offsets = waves.map((_, k) => waves.slice(0, k + 1).flat().length);
  await greedyStream(model, o, maxRows, (max) => {
    const available = offsets[Math.min(step, waves.length - 1)]!;
    const taken = [];
    while (taken.length < max && next < available) {
      const i = next++;
      searching += 1;
      taken.push({ ids: all[i]!, found: (h: Hypothesis) => ((found[i] = [h]), ended.push(i), (searching -= 1)) });
    }
    rowsPerStep.push(searching + 0);
    step += 1;
    return taken;
  });
  return { found, rowsPerStep, ended };
}

describe('greedyStream: sentences join a running search', () => {
  for (const attention of ['general', 'dot'] as const) {
    test(`each sentence's result equals greedySearch's, whenever it joins (${attention} attention, with attention weights)`, async () => {
      const model = tinyModel({ attention, layers: 2, bidirectional: attention === 'general' }, 6); // dot needs encoder states of the decoder's size
      biasOutput(model, EOS, 0.5);
      const o = searchOptions({ maxOutputLen: 12, maxLenRatio: 2, maxLenExtra: 3, returnAttention: true });
      const waves = [sources(3, 21), sources(1, 22), [], sources(5, 23), sources(7, 24)];
      const want = await greedySearch(model, waves.flat(), o);
      const before = tf.memory().numTensors;
      const { found, rowsPerStep, ended } = await streamed(model, waves, o, 6);
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      assertSameHypotheses(found, want);
      found.forEach((list, i) => {
        assert.equal(list[0]!.attention!.length, want[i]![0]!.attention!.length);
        list[0]!.attention!.forEach((row, t) =>
          row.forEach((w, j) => assert.ok(close(w, want[i]![0]!.attention![t]![j]!), `sentence ${i} step ${t} source ${j}: ${w}`)),
        );
      });
      assert.ok(Math.max(...rowsPerStep) <= 6, `at most maxRows searching: ${rowsPerStep.join(' ')}`);
      assert.ok(rowsPerStep.some((n) => n === 6), `the batch fills up: ${rowsPerStep.join(' ')}`);
      assert.notDeepEqual(ended, [...ended].sort((a, b) => a - b), 'sentences leave as they end, not in input order');
      disposeModel(model);
    });
  }

  test('a step\'s finished sentences are handed out before its pause, not after the next step', async () => {
    const model = tinyModel();
    biasOutput(model, EOS, 0.5);
    const events: string[] = [];
    let given = false;
    const o = searchOptions({ maxOutputLen: 6, pause: async () => void events.push('pause') });
    await greedyStream(model, o, 4, () => {
      events.push('take');
      if (given) return [];
      given = true;
      return sources(4, 31).map((ids) => ({ ids, found: () => void events.push('found') }));
    });
    assert.equal(events.filter((e) => e === 'found').length, 4);
    // Between two steps' takes: the sentences that ended, then the pause (a server answers them in it).
    const steps = events.join(' ').split('take').slice(1, -1).map((s) => s.trim());
    for (const between of steps) assert.match(between, /^(found )*pause$/, events.join(' '));
    disposeModel(model);
  });

  test('a zero length limit ends a sentence at once; nothing taken ends the search', async () => {
    const model = tinyModel();
    const o = searchOptions({ maxOutputLen: 0 });
    const { found } = await streamed(model, [sources(2, 3)], o, 4);
    assert.deepEqual(found.map((l) => l[0]!.ids), [[], []]);
    let calls = 0;
    await greedyStream(model, searchOptions(), 4, () => ((calls += 1), []));
    assert.equal(calls, 1);
    disposeModel(model);
  });
});

describe('memory', () => {
  test('tf.memory().numTensors is unchanged across 100 search calls (greedy and beam)', async () => {
    const model = tinyModel({ layers: 2, bidirectional: true }, 4);
    biasOutput(model, EOS, 0.5);
    const srcs = sources(5, 13);
    const o = { maxOutputLen: 6, batchSize: 2, returnAttention: true };
    await search(model, srcs, o); // warm-up (backend-internal tensors)
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) await search(model, srcs, { ...o, beam: 1 });
    for (let i = 0; i < 50; i++) await search(model, srcs, { ...o, beam: 3, nbest: 2 });
    assert.equal(tf.memory().numTensors, before);
    disposeModel(model);
  });
});
