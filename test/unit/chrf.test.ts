import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chrfFromStats, corpusChrf, formatChrf, sentenceChrf, type ChrfOptions } from '../../src/eval/chrf.ts';
import { shortSignature } from '../../src/eval/signature.ts';

const SIGNATURE = 'nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0';

/**
 * Expected scores computed with sacreBLEU 2.6.0 (`sacrebleu.metrics.CHRF`,
 * `corpus_score`) during development, hard-coded here.
 */
const SACREBLEU_CASES: ReadonlyArray<{
  name: string;
  hypotheses: string[];
  references: string[][];
  options?: Partial<ChrfOptions>;
  score: number;
  formatted: string;
}> = [
  {
    name: 'Chinese, defaults',
    hypotheses: ['我们明天早上去公园散步。', '这本书非常有意思。'],
    references: [['我们明天上午去公园散步。', '这本书很有意思。']],
    score: 46.25123961902173,
    formatted: `chrF2|${SIGNATURE} = 46.25`,
  },
  {
    name: 'English, defaults',
    hypotheses: ['The cat sat on the mat.', 'Hello there, world!'],
    references: [['The cat is on the mat.', 'Hello, world!']],
    score: 65.50545521674152,
    formatted: `chrF2|${SIGNATURE} = 65.51`,
  },
  {
    name: 'two references: each line takes the reference with the best F-score',
    hypotheses: ['the quick brown fox'],
    references: [['a quick brown dog'], ['the quick red fox']],
    score: 63.398434932133405,
    formatted: `chrF2|${SIGNATURE.replace('nrefs:1', 'nrefs:2')} = 63.40`,
  },
  {
    name: 'an empty hypothesis line',
    hypotheses: ['', 'abc'],
    references: [['abc', 'abc']],
    score: 55.55555555555556,
    formatted: `chrF2|${SIGNATURE} = 55.56`,
  },
  {
    name: 'lowercase',
    hypotheses: ['The CAT'],
    references: [['the cat']],
    options: { lowercase: true },
    score: 100,
    formatted: `chrF2|${SIGNATURE.replace('case:mixed', 'case:lc')} = 100.00`,
  },
  {
    name: 'chrF++ (word order 2)',
    hypotheses: ['The cat sat on the mat.'],
    references: [['The cat is on the mat.']],
    options: { wordOrder: 2 },
    score: 69.43695278069349,
    formatted: `chrF2++|${SIGNATURE.replace('nw:0', 'nw:2')} = 69.44`,
  },
  {
    name: 'whitespace kept',
    hypotheses: ['a b c'],
    references: [['abc']],
    options: { whitespace: true },
    score: 29.411764705882348,
    formatted: `chrF2|${SIGNATURE.replace('space:no', 'space:yes')} = 29.41`,
  },
  {
    name: 'epsilon smoothing',
    hypotheses: ['ab'],
    references: [['abcdefgh']],
    options: { epsSmoothing: true },
    score: 7.775524002704529,
    formatted: `chrF2|${SIGNATURE.replace('eff:yes', 'eff:no')} = 7.78`,
  },
  {
    name: 'U+3000 and U+00A0 are removed like spaces',
    hypotheses: ['我们\u3000明天\u00a0去'],
    references: [['我们明天去']],
    score: 100,
    formatted: `chrF2|${SIGNATURE} = 100.00`,
  },
  {
    name: 'U+200B is a character, not whitespace',
    hypotheses: ['我们\u200b明天'],
    references: [['我们明天']],
    score: 39.44174757281553,
    formatted: `chrF2|${SIGNATURE} = 39.44`,
  },
];

describe('chrF matches sacreBLEU 2.6.0', () => {
  for (const c of SACREBLEU_CASES) {
    test(c.name, () => {
      const result = corpusChrf(c.hypotheses, c.references, c.options);
      assert.ok(Math.abs(result.score - c.score) < 1e-9, `${result.score} vs ${c.score}`);
      assert.equal(formatChrf(result), c.formatted);
    });
  }

  test('sentence level', () => {
    // sacreBLEU 2.6.0: CHRF().sentence_score('the cat', ['the cat sat', 'a cat']).score
    const result = sentenceChrf('the cat', ['the cat sat', 'a cat']);
    assert.ok(Math.abs(result.score - 55.77101053281037) < 1e-9);
  });
});

describe('chrF by hand', () => {
  test('statistics are summed over lines, then P and R averaged over effective orders', () => {
    // 'ab' vs 'ab' and 'c' vs 'cd'. Order 1: hyp 3, ref 4, match 3.
    // Order 2: hyp 1, ref 2, match 1. Orders 3..6: no reference n-grams, not counted.
    // P = (1 + 1) / 2 = 1, R = (3/4 + 1/2) / 2 = 0.625, F2 = 5·1·0.625 / (4·1 + 0.625) = 0.675675…
    const result = corpusChrf(['ab', 'c'], [['ab', 'cd']]);
    assert.deepEqual(result.stats.slice(0, 6), [3, 4, 3, 1, 2, 1]);
    assert.ok(Math.abs(result.score - (100 * 3.125) / 4.625) < 1e-12);
  });

  test('no matching character scores 0', () => {
    assert.equal(corpusChrf(['xyz'], [['abc']]).score, 0);
  });

  test('all-zero statistics score 0', () => {
    assert.equal(chrfFromStats(new Array(18).fill(0)), 0);
  });

  test('one line with the signature, long or short (`sacrebleu -m chrf -sh -w 2`)', () => {
    const result = corpusChrf(['abc'], [['abc']]);
    assert.equal(formatChrf(result, 2), `chrF2|${SIGNATURE} = 100.00`);
    assert.equal(formatChrf({ ...result, signature: shortSignature(result.signature) }), 'chrF2|#:1|c:mixed|e:yes|nc:6|nw:0|s:no|v:2.6.0 = 100.00');
  });

  test('characters are code points: an astral character is one unigram', () => {
    const result = corpusChrf(['𠀀'], [['𠀀']]);
    assert.deepEqual(result.stats.slice(0, 3), [1, 1, 1]);
  });
});
