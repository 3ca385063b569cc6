/**
 * sacreBLEU 2.6.0's BLEU tokenizers, reproduced from their published source
 * (`sacrebleu/tokenizers/tokenizer_{13a,re,zh,intl,char,none}.py`). Each maps
 * one line to the tokenized line, tokens joined by spaces; BLEU then splits
 * it with Python's `str.split()` (see python-compat.ts). All of them work on
 * Unicode code points, never UTF-16 units, and do no Unicode normalization.
 */
import { pyNormalizeSpaces, pyStrip } from './python-compat.ts';

export type BleuTokenizer = 'zh' | '13a' | 'intl' | 'char' | 'none';
export const BLEU_TOKENIZERS: readonly BleuTokenizer[] = ['zh', '13a', 'intl', 'char', 'none'];

export function isBleuTokenizer(name: string): name is BleuTokenizer {
  return (BLEU_TOKENIZERS as readonly string[]).includes(name);
}

/** The tokenizer sacreBLEU picks for a target language: `zh` for Chinese, else `13a`. */
export function defaultBleuTokenizer(targetLang: string): BleuTokenizer {
  const lang = targetLang.toLowerCase();
  return lang === 'zh' || lang === 'cmn' || lang.startsWith('zh-') || lang.startsWith('zh_')
    ? 'zh'
    : '13a';
}

/** sacreBLEU's tokenizer for targets s2s cannot tokenize the same way (its `BLEU._TOKENIZER_MAP`). */
export const SACREBLEU_ONLY_TOKENIZERS: Readonly<Record<string, string>> = { ja: 'ja-mecab', ko: 'ko-mecab' };

/** Lines looked at by guessTextLanguage. */
const GUESS_LINES = 2000;

/**
 * The language of reference text, when its script tells it: `ja` (Han and
 * kana at least 30% of all letters, a tenth of them kana), `ko` (Hangul at
 * least 30%), `zh` (Han at least 30%), else null. For choosing the BLEU
 * tokenizer when no target language is given.
 */
export function guessTextLanguage(lines: readonly string[]): 'zh' | 'ja' | 'ko' | null {
  let letters = 0;
  let han = 0;
  let kana = 0;
  let hangul = 0;
  for (const line of lines.slice(0, GUESS_LINES)) {
    letters += line.match(/\p{L}/gu)?.length ?? 0;
    han += line.match(/\p{Script=Han}/gu)?.length ?? 0;
    kana += line.match(/[\p{Script=Hiragana}\p{Script=Katakana}]/gu)?.length ?? 0;
    hangul += line.match(/\p{Script=Hangul}/gu)?.length ?? 0;
  }
  if (letters === 0) return null;
  const cjk = han + kana;
  if (cjk >= 0.3 * letters && kana >= 0.1 * cjk) return 'ja';
  if (hangul >= 0.3 * letters) return 'ko';
  if (han >= 0.3 * letters) return 'zh';
  return null;
}

/** Tokenize one line the way sacreBLEU's tokenizer `name` does. */
export function tokenizeLine(line: string, name: BleuTokenizer): string {
  switch (name) {
    case '13a':
      return tokenize13a(line);
    case 'zh':
      return tokenizeZh(line);
    case 'intl':
      return tokenizeIntl(line);
    case 'char':
      return tokenizeChar(line);
    case 'none':
      return line;
  }
}

/**
 * `TokenizerRegexp` (tokenizer_re.py), shared by 13a and zh: split off ASCII
 * punctuation and symbols except `'` `,` `-` `.`; split `.`/`,` unless between
 * digits; split `-` after a digit; collapse whitespace.
 */
const MTEVAL_RULES: ReadonlyArray<readonly [RegExp, string]> = [
  // Python: ([\{-\~\[-\` -\&\(-\+\:-\@\/])
  [/([\u007B-\u007E\u005B-\u0060\u0020-\u0026\u0028-\u002B\u003A-\u0040\u002F])/gu, ' $1 '],
  // period and comma unless preceded by a digit
  [/([^0-9])([.,])/gu, '$1 $2 '],
  // period and comma unless followed by a digit
  [/([.,])([^0-9])/gu, ' $1 $2'],
  // dash when preceded by a digit
  [/([0-9])(-)/gu, '$1 $2 '],
];

function applyMtevalRules(line: string): string {
  let out = line;
  for (const [pattern, replacement] of MTEVAL_RULES) out = out.replace(pattern, replacement);
  return pyNormalizeSpaces(out);
}

/** `13a` (mteval-v13a): unescape four HTML entities, drop `<skipped>`, pad, apply the rules. */
export function tokenize13a(line: string): string {
  let out = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  if (out.includes('&')) {
    out = out
      .replaceAll('&quot;', '"')
      .replaceAll('&amp;', '&')
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>');
  }
  return applyMtevalRules(` ${out} `);
}

/**
 * `_UCODE_RANGES` of tokenizer_zh.py, copied as written. Two entries were
 * meant as 5-hex-digit code points, but `'\u20000'` is U+2000 followed by
 * '0' (in Python as in JavaScript), and Python compares the one-character
 * string against these two-character bounds. See `ZH_CHINESE_RANGES`.
 */
const ZH_UCODE_RANGES_AS_WRITTEN: ReadonlyArray<readonly [string, string]> = [
  ['\u3400', '\u4db5'], // CJK Unified Ideographs Extension A, release 3.0
  ['\u4e00', '\u9fa5'], // CJK Unified Ideographs, release 1.1
  ['\u9fa6', '\u9fbb'], // CJK Unified Ideographs, release 4.1
  ['\uf900', '\ufa2d'], // CJK Compatibility Ideographs, release 1.1
  ['\ufa30', '\ufa6a'], // CJK Compatibility Ideographs, release 3.2
  ['\ufa70', '\ufad9'], // CJK Compatibility Ideographs, release 4.1
  ['\u20000', '\u2a6d6'], // meant: CJK Extension B; evaluates to U+2001..U+2A6D
  ['\u2f800', '\u2fa1d'], // meant: CJK Compatibility Supplement; evaluates to U+2F81..U+2FA1
  ['\uff00', '\uffef'], // full-width ASCII and punctuation, half-width kana, Korean alphabet
  ['\u2e80', '\u2eff'], // CJK Radicals Supplement
  ['\u3000', '\u303f'], // CJK punctuation mark
  ['\u31c0', '\u31ef'], // CJK stroke
  ['\u2f00', '\u2fdf'], // Kangxi Radicals
  ['\u2ff0', '\u2fff'], // Chinese character structure
  ['\u3100', '\u312f'], // Phonetic symbols
  ['\u31a0', '\u31bf'], // Phonetic symbols (Taiwanese and Hakka expansion)
  ['\ufe10', '\ufe1f'],
  ['\ufe30', '\ufe4f'],
  ['\u2600', '\u26ff'],
  ['\u2700', '\u27bf'],
  ['\u3200', '\u32ff'],
  ['\u3300', '\u33ff'],
];

/** Python's `a <= b` on strings: lexicographic by code point. */
function pyStringLessOrEqual(a: string, b: string): boolean {
  const left = Array.from(a, (c) => c.codePointAt(0)!);
  const right = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    if (left[i] !== right[i]) return left[i]! < right[i]!;
  }
  return left.length <= right.length;
}

/**
 * The inclusive code-point ranges `start <= char <= end` actually accepts
 * for a single character (what sacreBLEU really does): a two-character lower
 * bound `XY` admits code points > X, a two-character upper bound `XY` admits
 * code points <= X.
 */
export const ZH_CHINESE_RANGES: ReadonlyArray<readonly [number, number]> =
  ZH_UCODE_RANGES_AS_WRITTEN.map(([start, end]) => {
    const first = start.codePointAt(0)!;
    const low = Array.from(start).length > 1 ? first + 1 : first;
    const high = end.codePointAt(0)!;
    return [low, high] as const;
  });

/** Whether tokenizer `zh` puts spaces around this code point. */
export function isZhChineseChar(char: string): boolean {
  return ZH_UCODE_RANGES_AS_WRITTEN.some(
    ([start, end]) => pyStringLessOrEqual(start, char) && pyStringLessOrEqual(char, end),
  );
}

/** `zh`: strip, space out every char in the ranges above, then the 13a rules (no padding). */
export function tokenizeZh(line: string): string {
  let spaced = '';
  for (const char of pyStrip(line)) {
    spaced += isZhChineseChar(char) ? ` ${char} ` : char;
  }
  return applyMtevalRules(spaced);
}

/** `intl` (mteval-v14 international): Unicode punctuation unless between digits, and every symbol. */
const INTL_RULES: ReadonlyArray<readonly [RegExp, string]> = [
  [/(\P{N})(\p{P})/gu, '$1 $2 '],
  [/(\p{P})(\P{N})/gu, ' $1 $2'],
  [/(\p{S})/gu, ' $1 '],
];

export function tokenizeIntl(line: string): string {
  let out = line;
  for (const [pattern, replacement] of INTL_RULES) out = out.replace(pattern, replacement);
  return pyNormalizeSpaces(out);
}

/** `char`: every code point is a token (whitespace disappears when BLEU splits). */
export function tokenizeChar(line: string): string {
  return Array.from(line).join(' ');
}
