/**
 * The tokenizers' hot paths, written out by hand: NFKC that returns the text
 * itself when no character can change, and scanners that cut text into the
 * tokens the regular expressions in tokenize.ts (the specification) would
 * match, a character code at a time. Character classes come from those same
 * Unicode property escapes, evaluated once per code point and cached, so the
 * scanners agree with the regular expressions on every input
 * (test/unit/token-scan.test.ts compares them). Pure and browser-safe.
 */

const L = 1;
const M = 2;
const N = 4;
const SPACE = 8;
const CJK = 16;
const KNOWN = 128;
const WORDISH = L | M | N;

/** Scripts written one token per character. `scx` so that e.g. the prolonged sound mark ー counts as Japanese. */
export const CJK_CLASS = String.raw`\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}\p{scx=Bopomofo}`;

const IS_L = /^\p{L}$/u;
const IS_M = /^\p{M}$/u;
const IS_N = /^\p{N}$/u;
const IS_SPACE = /^\s$/u;
const IS_CJK = new RegExp(`^[${CJK_CLASS}]$`, 'u');

/** Class bits of each BMP code unit, filled on first use (0 = not yet known). */
const bmpClasses = new Uint8Array(0x10000);
const astralClasses = new Map<number, number>();

function computeClass(cp: number): number {
  const s = String.fromCodePoint(cp);
  return (
    KNOWN |
    (IS_L.test(s) ? L : 0) |
    (IS_M.test(s) ? M : 0) |
    (IS_N.test(s) ? N : 0) |
    (IS_SPACE.test(s) ? SPACE : 0) |
    (IS_CJK.test(s) ? CJK : 0)
  );
}

function classOf(cp: number): number {
  if (cp < 0x10000) {
    let c = bmpClasses[cp]!;
    if (c === 0) bmpClasses[cp] = c = computeClass(cp);
    return c;
  }
  let c = astralClasses.get(cp);
  if (c === undefined) astralClasses.set(cp, (c = computeClass(cp)));
  return c;
}

/** The code point at `i` as a `u`-flag regular expression reads it: a surrogate pair is one, a lone surrogate stands alone. */
function codePointAt(text: string, i: number): number {
  const unit = text.charCodeAt(i);
  if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
    const low = text.charCodeAt(i + 1);
    if (low >= 0xdc00 && low <= 0xdfff) return (unit - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
  }
  return unit;
}

const width = (cp: number): number => (cp > 0xffff ? 2 : 1);

/** Where the tokens of one text are: token k is text.slice(start(k), end(k)). Reused from text to text. */
export class Spans {
  private bounds = new Int32Array(512);
  length = 0;

  clear(): void {
    this.length = 0;
  }

  push(start: number, end: number): void {
    if (2 * this.length + 2 > this.bounds.length) {
      const grown = new Int32Array(this.bounds.length * 2);
      grown.set(this.bounds);
      this.bounds = grown;
    }
    this.bounds[2 * this.length] = start;
    this.bounds[2 * this.length + 1] = end;
    this.length += 1;
  }

  start(k: number): number {
    return this.bounds[2 * k]!;
  }

  end(k: number): number {
    return this.bounds[2 * k + 1]!;
  }

  /** The tokens as strings. */
  strings(text: string): string[] {
    const out: string[] = new Array(this.length);
    for (let k = 0; k < this.length; k++) out[k] = text.slice(this.start(k), this.end(k));
    return out;
  }
}

/** The end of the run of code points from `i` whose class has one of `bits`. */
function skip(text: string, i: number, bits: number): number {
  while (i < text.length) {
    const cp = codePointAt(text, i);
    if ((classOf(cp) & bits) === 0) break;
    i += width(cp);
  }
  return i;
}

function isLatinish(c: number): boolean {
  return (c & WORDISH) !== 0 && (c & CJK) === 0;
}

function skipLatinish(text: string, i: number): number {
  while (i < text.length) {
    const cp = codePointAt(text, i);
    if (!isLatinish(classOf(cp))) break;
    i += width(cp);
  }
  return i;
}

/**
 * Whether `unit` may be whitespace: true for every code unit `\s` matches
 * (what trim() removes and whitespace collapsing changes), and for the C1
 * controls and DEL, which are not; a quick test before a slower exact one.
 */
export function maybeSpace(unit: number): boolean {
  if (unit < 0x7f) return unit <= 0x20;
  return unit <= 0xa0 || unit === 0x1680 || (unit >= 0x2000 && unit <= 0x200a) || unit === 0x2028 || unit === 0x2029 || unit === 0x202f || unit === 0x205f || unit === 0x3000 || unit === 0xfeff;
}

// ---------------------------------------------------------------- NFKC

/**
 * 1 = this code unit is its own NFKC and can neither compose with nor reorder
 * against its neighbours (below U+0300, where no combining mark lives, or in
 * a few blocks without compositions: general punctuation, 、。, CJK unified
 * ideographs); 2 = it may change. A text of such units only is already NFKC.
 */
const nfkcStable = new Uint8Array(0x10000);

function stableUnit(unit: number): boolean {
  let s = nfkcStable[unit]!;
  if (s === 0) {
    const inSafeBlock = unit < 0x300 || (unit >= 0x2010 && unit <= 0x205e) || unit === 0x3001 || unit === 0x3002 || (unit >= 0x4e00 && unit <= 0x9fff);
    const c = String.fromCharCode(unit);
    nfkcStable[unit] = s = inSafeBlock && c.normalize('NFKC') === c ? 1 : 2;
  }
  return s === 1;
}

/** `text.normalize('NFKC')`, without the call when no character of `text` can change. */
export function nfkc(text: string): string {
  for (let i = 0; i < text.length; i++) if (!stableUnit(text.charCodeAt(i))) return text.normalize('NFKC');
  return text;
}

/**
 * Whether the char tokenizer's normalisation (normaliseCharText in
 * tokenize.ts) leaves `text` as it is: every code unit is its own NFKC, as
 * nfkc() checks, or full-width punctuation (U+FF01–U+FF5E but letters and
 * digits), which that normalisation keeps as written. One pass, no regular
 * expression, for the common Chinese sentence with ，？！.
 */
export function charTextStable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xff01 && unit <= 0xff5e) {
      if ((unit >= 0xff10 && unit <= 0xff19) || (unit >= 0xff21 && unit <= 0xff3a) || (unit >= 0xff41 && unit <= 0xff5a)) return false;
    } else if (!stableUnit(unit)) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- word tokens

const DOT = 0x2e;
const COMMA = 0x2c;
const COLON = 0x3a;
const APOSTROPHE = 0x27;
const HYPHEN = 0x2d;

/** `\p{N}+(?:[.,:]\p{N}+)+` at `i` (a digit): its end, or -1. */
function matchNumber(text: string, i: number): number {
  let j = skip(text, i, N);
  let groups = 0;
  for (;;) {
    const sep = text.charCodeAt(j);
    if (sep !== DOT && sep !== COMMA && sep !== COLON) break;
    const k = skip(text, j + 1, N);
    if (k === j + 1) break;
    j = k;
    groups += 1;
  }
  return groups > 0 ? j : -1;
}

/** `(?:\p{L}\.){2,}` at `i` (a letter): its end, or -1. */
function matchAbbreviation(text: string, i: number): number {
  let j = i;
  let pairs = 0;
  while (j < text.length) {
    const cp = codePointAt(text, j);
    if ((classOf(cp) & L) === 0 || text.charCodeAt(j + width(cp)) !== DOT) break;
    j += width(cp) + 1;
    pairs += 1;
  }
  return pairs >= 2 ? j : -1;
}

/** `[\p{L}\p{M}\p{N}]+(?:['-][\p{L}\p{M}\p{N}]+)*(?:(?<=[sS])'(?![\p{L}\p{N}]))?` at `i` (a letter, mark or digit): its end. */
function matchWord(text: string, i: number): number {
  let j = skip(text, i, WORDISH);
  for (;;) {
    const sep = text.charCodeAt(j);
    if (sep !== APOSTROPHE && sep !== HYPHEN) break;
    const k = skip(text, j + 1, WORDISH);
    if (k === j + 1) break;
    j = k;
  }
  const last = text.charCodeAt(j - 1);
  if ((last === 0x73 || last === 0x53) && text.charCodeAt(j) === APOSTROPHE) {
    if (j + 1 >= text.length || (classOf(codePointAt(text, j + 1)) & (L | N)) === 0) j += 1;
  }
  return j;
}

/** The end of a run of `unit` from `i` if it is at least two long, else -1. */
function matchRun(text: string, i: number, unit: number): number {
  let j = i;
  while (text.charCodeAt(j) === unit) j += 1;
  return j - i >= 2 ? j : -1;
}

/** What `text.match(WORD_TOKEN)` returns for the word tokenizer's pattern (tokenize.ts), or []. */
export function scanWordTokens(text: string): string[] {
  const spans = new Spans();
  scanWordSpans(text, spans);
  return spans.strings(text);
}

/** scanWordTokens as spans, without making strings (`spans` is cleared first). */
export function scanWordSpans(text: string, spans: Spans): void {
  spans.clear();
  let i = 0;
  while (i < text.length) {
    const cp = codePointAt(text, i);
    const c = classOf(cp);
    if ((c & SPACE) !== 0) {
      i += width(cp);
      continue;
    }
    let end = -1;
    if ((c & N) !== 0) end = matchNumber(text, i);
    if (end < 0 && (c & L) !== 0) end = matchAbbreviation(text, i);
    if (end < 0 && (c & WORDISH) !== 0) end = matchWord(text, i);
    if (end < 0 && (cp === DOT || cp === HYPHEN)) end = matchRun(text, i, cp);
    if (end < 0) end = i + width(cp);
    spans.push(i, end);
    i = end;
  }
}

// ---------------------------------------------------------------- char tokens

const CHAR_SEPARATORS = new Set([DOT, COMMA, COLON, APOSTROPHE, HYPHEN]);

/** What `text.match(CHAR_TOKEN)` returns for the char tokenizer's pattern (tokenize.ts), or []. */
export function scanCharTokens(text: string): string[] {
  const spans = new Spans();
  scanCharSpans(text, spans);
  return spans.strings(text);
}

/** scanCharTokens as spans, without making strings (`spans` is cleared first). */
export function scanCharSpans(text: string, spans: Spans): void {
  spans.clear();
  let i = 0;
  while (i < text.length) {
    const cp = codePointAt(text, i);
    const c = classOf(cp);
    if ((c & SPACE) !== 0) {
      i += width(cp);
      continue;
    }
    let end = i + width(cp);
    if (isLatinish(c)) {
      end = skipLatinish(text, i);
      while (CHAR_SEPARATORS.has(text.charCodeAt(end))) {
        const k = skipLatinish(text, end + 1);
        if (k === end + 1) break;
        end = k;
      }
    }
    spans.push(i, end);
    i = end;
  }
}
