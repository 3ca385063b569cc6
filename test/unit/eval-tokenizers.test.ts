import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  guessTextLanguage,
  isZhChineseChar,
  tokenizeLine,
  ZH_CHINESE_RANGES,
  type BleuTokenizer,
} from '../../src/eval/tokenizers.ts';
import { formatFixed, pyRstrip, pySplit, pyStrip } from '../../src/eval/python-compat.ts';

/** Expected outputs produced by sacreBLEU 2.6.0's tokenizers on these inputs during development. */
const SACREBLEU_TOKENIZATIONS: ReadonlyArray<readonly [BleuTokenizer, string, string]> = [
  ['13a', 'Hello, world! It\'s "fine".', 'Hello , world ! It\'s " fine " .'],
  ['13a', 'a-b 1-2 3,000.5 end.', 'a-b 1 - 2 3,000.5 end .'],
  ['13a', 'x &amp;lt; y &quot;q&quot; <skipped> z', 'x < y " q " z'],
  [
    '13a',
    'e-mail (test) [x] {y} a/b @c #d $5 %e ^f *g _h +i =j ~k |l `m',
    'e-mail ( test ) [ x ] { y } a / b @ c # d $ 5 % e ^ f * g _ h + i = j ~ k | l ` m',
  ],
  ['13a', 'ok😀 café', 'ok😀 café'],
  ['zh', '我们明天去公园。', '我 们 明 天 去 公 园 。'],
  ['zh', '他有3,000元.', '他 有 3,000 元 .'],
  ['zh', '“你好”—…€→', '“ 你 好 ” — … € →'],
  ['zh', '𠀀𠀁か한', '𠀀𠀁か한'],
  ['zh', '  全角ＡＢＣ！  ', '全 角 Ａ Ｂ Ｃ ！'],
  ['zh', 'iPhone 12很好用.', 'iPhone 12 很 好 用 .'],
  ['intl', 'Hello, world! 2019.', 'Hello , world ! 2019.'],
  ['intl', '1,000.5 a.b «x» €5 +', '1,000.5 a . b « x » € 5 +'],
  ['intl', '你好，世界。', '你好 ， 世界 。'],
  ['char', '我们 go', '我 们   g o'],
  ['char', '👍🏽e\u0301', '👍 🏽 e \u0301'],
  ['none', ' a  b ', ' a  b '],
];

describe('tokenizers match sacreBLEU 2.6.0', () => {
  for (const [name, input, expected] of SACREBLEU_TOKENIZATIONS) {
    test(`${name}: ${input}`, () => assert.equal(tokenizeLine(input, name), expected));
  }
});

describe('zh character ranges as sacreBLEU evaluates them', () => {
  test("the 'Extension B' entry really covers U+2001..U+2A6D", () => {
    assert.deepEqual(ZH_CHINESE_RANGES[6], [0x2001, 0x2a6d]);
    assert.deepEqual(ZH_CHINESE_RANGES[7], [0x2f81, 0x2fa1]);
    assert.equal(isZhChineseChar('\u2000'), false);
    assert.equal(isZhChineseChar('\u2001'), true);
    assert.equal(isZhChineseChar('\u2a6d'), true);
    assert.equal(isZhChineseChar('\u2a6e'), false);
  });

  test('CJK Extension B, kana and Hangul are not split; CJK and full-width forms are', () => {
    assert.equal(isZhChineseChar('𠀀'), false);
    assert.equal(isZhChineseChar('か'), false);
    assert.equal(isZhChineseChar('한'), false);
    assert.equal(isZhChineseChar('中'), true);
    assert.equal(isZhChineseChar('Ａ'), true);
    assert.equal(isZhChineseChar('\u3000'), true);
  });
});

describe("Python's str semantics", () => {
  test('split() uses Unicode whitespace but not U+200B or U+FEFF', () => {
    assert.deepEqual(pySplit('a\u00a0b\u3000c\u2028d\u0085e\u001cf\tg'), ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    assert.deepEqual(pySplit('a\u200bb\ufeffc'), ['a\u200bb\ufeffc']);
    assert.deepEqual(pySplit('  '), []);
  });

  test('strip() and rstrip()', () => {
    assert.equal(pyRstrip(' a \u3000\r'), ' a');
    assert.equal(pyStrip('\u00a0a b\u2009'), 'a b');
  });

  test('fixed-point formatting rounds exact ties to even, like f"{x:.2f}"', () => {
    assert.equal(formatFixed(0.125, 2), '0.12');
    assert.equal(formatFixed(0.375, 2), '0.38');
    assert.equal(formatFixed(0.0625, 3), '0.062');
    assert.equal(formatFixed(2.675, 2), '2.67'); // 2.67499999… in binary
    assert.equal(formatFixed(66.02013135290711, 2), '66.02');
    assert.equal(formatFixed(100, 2), '100.00');
    assert.equal(formatFixed(0, 1), '0.0');
    assert.equal(formatFixed(99.95, 1), '100.0'); // 99.9500000000000028…
    assert.equal(formatFixed(1e-7, 3), '0.000');
  });
});

describe('guessTextLanguage: the references\' script, for the default BLEU tokenizer', () => {
  test('Chinese, Japanese, Korean, and everything else', () => {
    assert.equal(guessTextLanguage(['我们明天上午去公园散步。', '这本书很有意思。']), 'zh');
    assert.equal(guessTextLanguage(['我在2019年买了一部iPhone 11，花了5,999元。']), 'zh', 'Latin words inside Chinese');
    assert.equal(guessTextLanguage(['私は猫が好きです。', '東京に行きました。']), 'ja');
    assert.equal(guessTextLanguage(['나는 고양이를 좋아해요.']), 'ko');
    assert.equal(guessTextLanguage(['The cat sat on the mat.']), null);
    assert.equal(guessTextLanguage(['I ate ramen (拉面) in Beijing yesterday evening.']), null, 'a few Han characters in English');
    assert.equal(guessTextLanguage(['I love ラーメン and sushi very much.']), null);
    assert.equal(guessTextLanguage(['123 456', '']), null);
    assert.equal(guessTextLanguage([]), null);
  });
});
