/**
 * Tokenizers: pure functions from a sentence to tokens, each with a
 * detokenizer that turns tokens back into text that reads naturally.
 *
 * - `word` (English and other space-separated languages): NFKC, optional
 *   lowercasing, punctuation split off; contractions (`don't`, `i'm`,
 *   `tom's`), hyphenated words (`well-known`) and numbers (`3.14`, `1,000`,
 *   `10:30`) stay whole.
 * - `char` (Chinese, Japanese): one token per CJK character or punctuation
 *   mark; runs of other letters and digits (`iPhone`, `3.5`) stay whole.
 *   Full-width ASCII letters and digits become half-width, but Chinese
 *   punctuation (`，。？！：；`) is kept as written, because that is how
 *   references are written. Lowercasing applies only when asked for
 *   (`loadDataset` asks only for word tokenizers).
 */

import { CJK_CLASS, charTextStable, nfkc, scanCharSpans, scanCharTokens, scanWordSpans, scanWordTokens, type Spans } from './token-scan.ts';

export type TokenizerKind = 'word' | 'char';

export interface TokenizeOptions {
  lowercase: boolean;
}

/** Languages written without spaces between words. */
const CHAR_LANGUAGES = new Set(['zh', 'zho', 'chi', 'cmn', 'yue', 'wuu', 'lzh', 'ja', 'jpn']);

/** The tokenizer a language uses unless configured: `char` for zh/ja (and `zh-TW` etc.), `word` otherwise. */
export function defaultTokenizer(lang: string): TokenizerKind {
  const base = lang.toLowerCase().split(/[-_]/)[0] ?? '';
  return CHAR_LANGUAGES.has(base) ? 'char' : 'word';
}

/** What decides how one side of a corpus is tokenized (a subset of the data config). */
export interface SideSettings {
  srcLang: string;
  tgtLang: string;
  /** `bpe`: the language's tokenizer, then subword pieces (subword.ts). */
  srcTokenizer: TokenizerKind | 'bpe' | null;
  tgtTokenizer: TokenizerKind | 'bpe' | null;
  lowercase: boolean;
}

/** How one side is tokenized: the one rule training, validation and decoding share. */
export interface SideTokenizer {
  /** The tokenizer text goes through first (for a subword side, the one its pieces are cut from). */
  kind: TokenizerKind;
  /** Whether the side's vocabulary is a subword model trained on the tokens. */
  subword: 'bpe' | null;
  /** `lowercase` applies to word tokenizers only; char tokenizers keep case. */
  options: TokenizeOptions;
}

export function sideTokenizer(data: Readonly<SideSettings>, side: 'src' | 'tgt'): SideTokenizer {
  const configured = side === 'src' ? data.srcTokenizer : data.tgtTokenizer;
  const subword = configured === 'bpe' ? configured : null;
  const kind = configured === null || configured === 'bpe' ? defaultTokenizer(side === 'src' ? data.srcLang : data.tgtLang) : configured;
  return { kind, subword, options: { lowercase: data.lowercase && kind === 'word' } };
}

/** Tokenizes text of one side as training does. */
export function tokenizeSide(data: Readonly<SideSettings>, side: 'src' | 'tgt', text: string): string[] {
  const { kind, options } = sideTokenizer(data, side);
  return tokenize(kind, text, options);
}

/**
 * tokenizeSide without making the token strings: fills `spans` with where
 * each token is in the returned (normalised) text; null for a tokenizer
 * whose tokens are not pieces of its text.
 */
export function tokenSpans(data: Readonly<SideSettings>, side: 'src' | 'tgt', text: string, spans: Spans): string | null {
  return sideSpans(sideTokenizer(data, side), text, spans);
}

/** tokenSpans for a side whose tokenizer is already known (a caller tokenizing many texts works it out once). */
export function sideSpans({ kind, options }: SideTokenizer, text: string, spans: Spans): string | null {
  if (kind === 'word') {
    const normal = normaliseWordText(text, options);
    scanWordSpans(normal, spans);
    return normal;
  }
  if (kind === 'char') {
    const normal = normaliseCharText(text, options);
    scanCharSpans(normal, spans);
    return normal;
  }
  return null;
}

export function tokenize(kind: TokenizerKind, text: string, opts: TokenizeOptions): string[] {
  return kind === 'word' ? tokenizeWords(text, opts) : tokenizeChars(text, opts);
}

export function detokenize(kind: TokenizerKind, tokens: readonly string[]): string {
  return kind === 'word' ? detokenizeWords(tokens) : detokenizeChars(tokens);
}

// ---------------------------------------------------------------- word

/**
 * The word tokenizer's tokens (scanWordTokens in token-scan.ts matches the
 * same, faster). In order: a number with inner separators (`1,000`, `3.14`, `8:30`); a dotted
 * abbreviation (`a.m.`, `u.s.`); a word with inner apostrophes or hyphens
 * (`don't`, `well-known`) and a plural possessive's apostrophe (`girls'`);
 * a run of dots or dashes; any other character.
 */
export const WORD_TOKEN = new RegExp(
  [
    String.raw`\p{N}+(?:[.,:]\p{N}+)+`,
    String.raw`(?:\p{L}\.){2,}`,
    String.raw`[\p{L}\p{M}\p{N}]+(?:['-][\p{L}\p{M}\p{N}]+)*(?:(?<=[sS])'(?![\p{L}\p{N}]))?`,
    String.raw`\.{2,}`,
    String.raw`-{2,}`,
    String.raw`\S`,
  ].join('|'),
  'gu',
);

/** Typographic apostrophes inside a word (`don’t`) become ASCII. */
const CURLY_APOSTROPHE = /(?<=[\p{L}\p{N}])[\u2018\u2019\u02BC](?=\p{L})/gu;
const ANY_CURLY_APOSTROPHE = /[\u2018\u2019\u02BC]/;

export function normaliseWordText(text: string, opts: TokenizeOptions): string {
  const normal = nfkc(text);
  const straight = ANY_CURLY_APOSTROPHE.test(normal) ? normal.replace(CURLY_APOSTROPHE, "'") : normal;
  return opts.lowercase ? straight.toLowerCase() : straight;
}

function tokenizeWords(text: string, opts: TokenizeOptions): string[] {
  return scanWordTokens(normaliseWordText(text, opts));
}

/** Tokens written against the previous token: `tom .` → `tom.` */
const CLOSERS = new Set([',', '.', '!', '?', ';', ':', '%', ')', ']', '}', '...', '”', '’', '»', '/']);
/** Tokens the next token is written against: `( a` → `(a`, `$ 3` → `$3`. */
const OPENERS = new Set(['(', '[', '{', '$', '£', '€', '¥', '#', '“', '‘', '«', '¿', '¡', '/']);
/** Quotes that open the first time they appear and close the next. */
const TOGGLING_QUOTES = new Set(['"', "'"]);

function detokenizeWords(tokens: readonly string[]): string {
  let out = '';
  let glueNext = true;
  const open = new Set<string>();
  for (const token of tokens) {
    let glueLeft = glueNext || CLOSERS.has(token);
    glueNext = OPENERS.has(token);
    if (TOGGLING_QUOTES.has(token)) {
      if (open.has(token)) {
        open.delete(token);
        glueLeft = true;
      } else {
        open.add(token);
        glueNext = true;
      }
    }
    out += (glueLeft ? '' : ' ') + token;
  }
  return out;
}

// ---------------------------------------------------------------- char

const CJK = CJK_CLASS;
const LATINISH = String.raw`(?:(?![${CJK}])[\p{L}\p{M}\p{N}])`;
/**
 * A run of non-CJK letters/digits (with inner `.`, `,`, `:`, `'`, `-`), or any
 * other single character (scanCharTokens in token-scan.ts matches the same, faster).
 */
export const CHAR_TOKEN = new RegExp(String.raw`${LATINISH}+(?:[.,:'-]${LATINISH}+)*|\S`, 'gu');
const STARTS_LATINISH = new RegExp(`^${LATINISH}`, 'u');
const ENDS_LATINISH = new RegExp(`${LATINISH}$`, 'u');

/** Full-width ASCII block U+FF01–U+FF5E: kept as is (punctuation) unless a letter or digit. */
const FULLWIDTH_BLOCK = /[\uFF01-\uFF5E]/;
const OUTSIDE_FULLWIDTH_BLOCK = /[^\uFF01-\uFF5E]+/g;
const FULLWIDTH_ALNUM = /[\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A]/g;

/** NFKC everywhere except on full-width punctuation; full-width letters and digits go half-width. */
export function normaliseCharText(text: string, opts: TokenizeOptions): string {
  if (charTextStable(text)) return opts.lowercase ? text.toLowerCase() : text;
  const fullWidth = FULLWIDTH_BLOCK.test(text);
  const normal = fullWidth ? text.replace(OUTSIDE_FULLWIDTH_BLOCK, nfkc) : nfkc(text);
  const halfWidth = fullWidth ? normal.replace(FULLWIDTH_ALNUM, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0)) : normal;
  return opts.lowercase ? halfWidth.toLowerCase() : halfWidth;
}

function tokenizeChars(text: string, opts: TokenizeOptions): string[] {
  return scanCharTokens(normaliseCharText(text, opts));
}

/** Joins without spaces, except between two tokens that are both Latin words or numbers (`iPhone 5`). */
function detokenizeChars(tokens: readonly string[]): string {
  let out = '';
  let previous = '';
  for (const token of tokens) {
    const spaced = ENDS_LATINISH.test(previous) && STARTS_LATINISH.test(token);
    out += (spaced ? ' ' : '') + token;
    previous = token;
  }
  return out;
}
