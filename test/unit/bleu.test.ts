import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  closestRefLength,
  corpusBleu,
  defaultBleuTokenizer,
  formatBleu,
  looksTokenized,
  sentenceBleu,
  type BleuOptions,
  type BleuResult,
} from '../../src/eval/bleu.ts';
import { bleuSignature, shortSignature } from '../../src/eval/signature.ts';
import type { BleuTokenizer } from '../../src/eval/tokenizers.ts';
import type { SmoothMethod } from '../../src/eval/signature.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** sacreBLEU 2.6.0's outputs on 48 cases (test/fixtures/README.md). */
const VECTORS = path.resolve(repoRoot, 'test', 'fixtures', 'sacrebleu-2.6.0.json');

interface VectorCase {
  name: string;
  kind: 'corpus' | 'sentence';
  hypotheses: string[];
  references: string[][];
  tokenize: BleuTokenizer;
  smooth_method: SmoothMethod;
  smooth_value: number | null;
  lowercase: boolean;
  force: boolean;
  effective_order: boolean;
  expected: BleuResult & {
    score_2dp: number;
    signature_short: string;
    formatted: string;
    smoothed_counts?: number[];
    smoothed_totals?: number[];
  };
}

function optionsOf(c: VectorCase): BleuOptions {
  return {
    tokenize: c.tokenize,
    smoothMethod: c.smooth_method,
    smoothValue: c.smooth_value,
    lowercase: c.lowercase,
    effectiveOrder: c.effective_order,
    force: c.force,
  };
}

function assertClose(actual: number, expected: number, what: string, tolerance = 1e-9): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} vs expected ${expected}`,
  );
}

describe('BLEU matches sacreBLEU 2.6.0 on its test vectors', () => {
  const cases = JSON.parse(readFileSync(VECTORS, 'utf8')) as VectorCase[];
  test('the vector file has cases', () => assert.ok(cases.length >= 48));
  for (const c of cases) {
    test(c.name, () => {
      const options = optionsOf(c);
      const result =
        c.kind === 'sentence'
          ? sentenceBleu(c.hypotheses[0]!, c.references.map((stream) => stream[0]!), options)
          : corpusBleu(c.hypotheses, c.references, options);
      const e = c.expected;
      assert.deepEqual(result.counts, e.counts, 'counts');
      assert.deepEqual(result.totals, e.totals, 'totals');
      assert.equal(result.sys_len, e.sys_len, 'sys_len');
      assert.equal(result.ref_len, e.ref_len, 'ref_len');
      assert.equal(result.score.toFixed(2), e.score_2dp.toFixed(2), 'score (2 decimals)');
      assertClose(result.score, e.score, 'score');
      e.precisions.forEach((p, n) => assertClose(result.precisions[n]!, p, `precision ${n + 1}`));
      assertClose(result.bp, e.bp, 'bp');
      assertClose(result.ratio, e.ratio, 'ratio');
      assert.equal(result.signature, e.signature);
      assert.equal(bleuSignature({ nrefs: c.references.length, ...options }, true), e.signature_short);
      assert.equal(shortSignature(e.signature), e.signature_short);
      assert.equal(formatBleu(result, 2), e.formatted);
      if (e.smoothed_counts) assert.deepEqual(result.smoothed_counts, e.smoothed_counts);
      if (e.smoothed_totals) assert.deepEqual(result.smoothed_totals, e.smoothed_totals);
    });
  }
});

const EXP_13A: BleuOptions = {
  tokenize: '13a',
  smoothMethod: 'exp',
  smoothValue: null,
  lowercase: false,
  effectiveOrder: false,
};

describe('BLEU details', () => {
  test('a perfect match scores 100', () => {
    const line = 'the cat sat on the mat .';
    const result = corpusBleu([line], [[line]], EXP_13A);
    // exp(log(100)) is 100.00000000000004 in Python too (sacreBLEU prints 100.00).
    assert.ok(Math.abs(result.score - 100) < 1e-12);
    assert.match(formatBleu(result, 2), /^BLEU\|nrefs:1\|[^ ]*version:2\.6\.0 = 100\.00 /);
  });

  test('closest reference length: tie goes to the shorter reference', () => {
    assert.equal(closestRefLength(6, [8, 4]), 4);
    assert.equal(closestRefLength(6, [4, 8]), 4);
    assert.equal(closestRefLength(6, [9, 7, 5]), 5);
  });

  test('reference streams of the wrong length are rejected', () => {
    assert.throws(() => corpusBleu(['a', 'b'], [['a']], EXP_13A), RangeError);
  });

  test('floor smoothing writes its value with two decimals', () => {
    const result = sentenceBleu('a b c d', ['a b x y'], {
      ...EXP_13A,
      smoothMethod: 'floor',
      smoothValue: null,
      effectiveOrder: true,
    });
    assert.match(result.signature, /\|smooth:floor\[0\.10\]\|/);
    assert.match(result.signature, /\|eff:yes\|/);
  });

  test('formatting rounds exact ties like Python (half to even)', () => {
    // ratio 1/16 = 0.0625 exactly: Python prints 0.062, JS toFixed would print 0.063.
    const result = corpusBleu(['a'], [['a b c d e f g h i j k l m n o p']], EXP_13A);
    assert.equal(result.ratio, 0.0625);
    assert.match(formatBleu(result), /ratio = 0\.062 /);
  });

  test('default tokenizer by target language', () => {
    assert.equal(defaultBleuTokenizer('zh'), 'zh');
    assert.equal(defaultBleuTokenizer('cmn'), 'zh');
    assert.equal(defaultBleuTokenizer('en'), '13a');
    assert.equal(defaultBleuTokenizer('de'), '13a');
  });

  test('looksTokenized: spaces between Chinese characters', () => {
    assert.equal(looksTokenized(['我们 明天 去 公园 。', '这 本 书 很 有意思 。']), true);
    assert.equal(looksTokenized(['我们明天去公园。', '这本书很有意思。']), false);
    assert.equal(looksTokenized(['Hello world .']), false);
  });

  test("looksTokenized: sacreBLEU's 100 lines ending in ' .'", () => {
    assert.equal(looksTokenized(new Array(100).fill('a sentence .')), true);
    assert.equal(looksTokenized(new Array(99).fill('a sentence .')), false);
  });
});
