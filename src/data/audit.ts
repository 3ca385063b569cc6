/**
 * A corpus audit: what a careful practitioner checks before training, each
 * check with a count and the first few `file:line` examples, in one streaming
 * pass and bounded memory.
 *
 * Memory per pair is a few bytes of typed arrays (lengths, line numbers,
 * flags); duplicates are found by hashing, never by keeping sentences:
 *   - exact duplicates: a 64-bit hash (Hash64) of `source \t target`, in an
 *     open-addressing set of 64-bit keys (a false match needs a 64-bit collision:
 *     about n²/2⁶⁵ expected among n distinct pairs);
 *   - near duplicates: the same, after NFKC, lowercasing, dropping punctuation,
 *     symbols and spaces, and writing every digit as 0 (pairs that differ only
 *     in case, punctuation, spacing or numbers).
 * The first occurrence is kept; every later one is flagged.
 *
 * Length-ratio outliers use robust statistics over the corpus itself (so they
 * adapt to the language pair): x = ln((source tokens + 1) / (target tokens + 1)),
 * flagged when the modified z-score |x − median| / (1.4826 · MAD) exceeds 3.5
 * (Iglewicz and Hoaglin); median and MAD come from a 0.01-wide histogram of x,
 * and the MAD is taken as at least 0.05.
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { open, rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { DataConfig } from '../config.ts';
import { UserError } from '../errors.ts';
import { SkipLog, openBytes, physicalLines, readCorpus, tabSeparatedCorpus, type Skip } from './corpus.ts';
import { TokenTable } from './token-count.ts';
import { CJK_CLASS, Spans } from './token-scan.ts';
import { defaultTokenizer, sideTokenizer, tokenSpans, tokenizeSide } from './tokenize.ts';

export type CheckId =
  | 'malformed'
  | 'empty'
  | 'exact-duplicate'
  | 'near-duplicate'
  | 'copy'
  | 'length-ratio'
  | 'wrong-script-src'
  | 'wrong-script-tgt'
  | 'control-chars'
  | 'too-long';

export interface Finding {
  id: CheckId;
  label: string;
  count: number;
  /** The first few `file:line`s. */
  examples: string[];
}

export interface SideVocabulary {
  lang: string;
  tokenizer: string;
  minFreq: number;
  /** Distinct tokens, and of those seen at least minFreq times. */
  types: number;
  kept: number;
  /** Token occurrences covered by the kept types. */
  coverage: number;
}

export interface AuditReport {
  files: string[];
  /** Well-formed pairs read. */
  pairs: number;
  findings: Finding[];
  /** Pairs with at least one finding (malformed and empty rows included). */
  flagged: number;
  lengthRatio: { median: number; mad: number; low: number; high: number };
  vocabulary: { src: SideVocabulary; tgt: SideVocabulary };
}

export interface AuditOptions {
  /** Examples kept per finding (default 3). */
  examples?: number;
  /** Progress: pairs read so far. */
  onProgress?: (pairs: number) => void;
  /** Threads that read a tab-separated corpus of `parallelMinBytes` or more (default 1: this one). */
  workers?: number;
  /** Default PARALLEL_MIN_BYTES. */
  parallelMinBytes?: number;
  /** Bytes per piece the threads are given (default 1 MiB). */
  pieceBytes?: number;
}

/**
 * The default number of threads is the available cores, but at most this:
 * the main thread takes every pair's results in order (about a fifth of a
 * 2-thread run's CPU time), so more threads would wait on it, and each holds
 * its own heap and token table (about 80 MB).
 */
export const MAX_DEFAULT_WORKERS = 4;

/** The default --workers: the available cores, at most MAX_DEFAULT_WORKERS. */
export function defaultAuditWorkers(): number {
  return Math.min(availableParallelism(), MAX_DEFAULT_WORKERS);
}

/** A smaller corpus is read on this thread: starting worker threads takes longer (about a second) than they would save. */
export const PARALLEL_MIN_BYTES = 16e6;

const Z_LIMIT = 3.5;
const BIN = 0.01;
const BINS = 2001; // x in [-10, 10]
/** A floor on the MAD (0.05): a small or very uniform corpus would otherwise flag ordinary pairs. */
const MIN_MAD_BINS = 5;

/** A set of 64-bit keys (two uint32 halves) with open addressing; grows at half full. */
export class HashSet64 {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private used: Uint8Array;
  private count = 0;

  constructor(capacity = 1 << 16) {
    this.hi = new Uint32Array(capacity);
    this.lo = new Uint32Array(capacity);
    this.used = new Uint8Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Adds the key; returns false if it was already there. */
  add(hi: number, lo: number): boolean {
    if (2 * (this.count + 1) > this.used.length) this.grow();
    const mask = this.used.length - 1;
    for (let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask; ; i = (i + 1) & mask) {
      if (this.used[i] === 0) {
        this.used[i] = 1;
        this.hi[i] = hi;
        this.lo[i] = lo;
        this.count += 1;
        return true;
      }
      if (this.hi[i] === hi && this.lo[i] === lo) return false;
    }
  }

  private grow(): void {
    const { hi, lo, used } = this;
    this.hi = new Uint32Array(used.length * 2);
    this.lo = new Uint32Array(used.length * 2);
    this.used = new Uint8Array(used.length * 2);
    this.count = 0;
    for (let i = 0; i < used.length; i++) if (used[i] === 1) this.add(hi[i]!, lo[i]!);
  }
}

/**
 * A 64-bit hash of code units, written out so that no pair costs an object:
 * two 32-bit lanes, each step a permutation of the 64-bit state (multiply the
 * unit into each lane, then let each lane's high bits into the other's low
 * bits), and a final avalanche of both lanes (MurmurHash3's fmix32, crossed).
 * It is not cryptographic: crafted text can collide on purpose, and then a pair
 * is wrongly reported as a duplicate, nothing worse.
 */
export class Hash64 {
  hi = 0;
  lo = 0;
  private h1 = 0;
  private h2 = 0;

  reset(): this {
    this.h1 = 0x9e3779b9;
    this.h2 = 0x7f4a7c15;
    return this;
  }

  /** Hashes code units start…end of `text`. */
  text(text: string, start = 0, end = text.length): this {
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = start; i < end; i++) {
      const u = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ u, 0x85ebca6b);
      h2 = Math.imul(h2 ^ u, 0xc2b2ae35);
      h1 ^= h2 >>> 15;
      h2 ^= h1 >>> 13;
    }
    this.h1 = h1;
    this.h2 = h2;
    return this;
  }

  /** Hashes `units[0…length)`. */
  units(units: Uint16Array, length: number): this {
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; i < length; i++) {
      const u = units[i]!;
      h1 = Math.imul(h1 ^ u, 0x85ebca6b);
      h2 = Math.imul(h2 ^ u, 0xc2b2ae35);
      h1 ^= h2 >>> 15;
      h2 ^= h1 >>> 13;
    }
    this.h1 = h1;
    this.h2 = h2;
    return this;
  }

  /** Sets `hi` and `lo` to the hash of everything hashed since reset. */
  finish(): this {
    let h1 = fmix32(this.h1 ^ Math.imul(this.h2, 0x27d4eb2f));
    const h2 = fmix32(this.h2 ^ h1);
    h1 = fmix32(h1 ^ h2);
    this.hi = h1 >>> 0;
    this.lo = h2 >>> 0;
    return this;
  }
}

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A set of line numbers: a bitmap, grown as needed (a 5M-line file's is 625 KB). */
export class LineSet {
  private bits = new Uint8Array(1 << 12);
  size = 0;

  add(line: number): void {
    const byte = line >>> 3;
    if (byte >= this.bits.length) this.bits = grown(this.bits, new Uint8Array(Math.max(2 * this.bits.length, byte + 1)));
    const bit = 1 << (line & 7);
    if ((this.bits[byte]! & bit) === 0) {
      this.bits[byte]! |= bit;
      this.size += 1;
    }
  }

  has(line: number): boolean {
    const byte = line >>> 3;
    return byte < this.bits.length && (this.bits[byte]! & (1 << (line & 7))) !== 0;
  }
}

/** What a near duplicate ignores: case, punctuation, symbols, spacing and which digits. */
export function nearKey(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/[\p{P}\p{S}\p{Z}\s]+/gu, '').replace(/\p{Nd}/gu, '0');
}

const DROP = /^[\p{P}\p{S}\p{Z}\s]$/u;
const DIGIT = /^\p{Nd}$/u;
/** Per BMP code unit: 0 = not yet known, 1 = becomes nearUnit[u], 2 = dropped, 3 = needs nearKey on the whole text. */
const nearState = new Uint8Array(0x10000);
const nearUnit = new Uint16Array(0x10000);

/**
 * Code units whose near-key form depends on nothing around them: below U+0300
 * (no combining marks), general punctuation, CJK symbols and punctuation
 * without its combining tone marks, CJK unified ideographs and the full-width
 * ASCII forms, each of which NFKC maps to one such unit (the same blocks
 * token-scan.ts's nfkc treats as stable) and lowercasing to one unit.
 */
function nearStateOf(u: number): number {
  let state = nearState[u]!;
  if (state !== 0) return state;
  state = 3;
  const inBlock =
    u < 0x300 || (u >= 0x2010 && u <= 0x205e) || (u >= 0x3000 && u <= 0x3029) || (u >= 0x3030 && u <= 0x303f) || (u >= 0x4e00 && u <= 0x9fff) || (u >= 0xff01 && u <= 0xff5e);
  if (inBlock) {
    const normal = String.fromCharCode(u).normalize('NFKC');
    const lower = normal.toLowerCase();
    if (normal.length === 1 && normal.normalize('NFKC') === normal && lower.length === 1) {
      if (DROP.test(lower)) state = 2;
      else {
        state = 1;
        nearUnit[u] = DIGIT.test(lower) ? 0x30 : lower.charCodeAt(0);
      }
    }
  }
  nearState[u] = state;
  return state;
}

/** nearKey(text) as code units in a buffer reused from text to text. */
export class NearKey {
  units = new Uint16Array(1024);
  length = 0;

  /** Fills `units[0…length)` with nearKey(text). */
  of(text: string): this {
    if (text.length > this.units.length) this.units = new Uint16Array(2 * text.length);
    const units = this.units;
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      const u = text.charCodeAt(i);
      const state = nearStateOf(u);
      if (state === 1) units[n++] = nearUnit[u]!;
      else if (state === 3) return this.slow(text);
    }
    this.length = n;
    return this;
  }

  equals(other: NearKey): boolean {
    if (this.length !== other.length) return false;
    for (let i = 0; i < this.length; i++) if (this.units[i] !== other.units[i]) return false;
    return true;
  }

  toString(): string {
    let out = '';
    for (let i = 0; i < this.length; i++) out += String.fromCharCode(this.units[i]!);
    return out;
  }

  private slow(text: string): this {
    const key = nearKey(text);
    if (key.length > this.units.length) this.units = new Uint16Array(2 * key.length);
    for (let i = 0; i < key.length; i++) this.units[i] = key.charCodeAt(i);
    this.length = key.length;
    return this;
  }
}

const CJK_CHAR = new RegExp(`^[${CJK_CLASS}]$`, 'u');
const LETTER = /^\p{L}$/u;
const CONTROL = /^[\p{Cc}\p{Co}]$/u;
const IS_CJK = 1;
const IS_LETTER = 2;
const IS_CONTROL = 4;
const KNOWN = 8;
/** Script bits of each BMP code unit (0 = not yet known) and of the astral code points seen. */
const bmpScript = new Uint8Array(0x10000);
const astralScript = new Map<number, number>();

function scriptOf(cp: number): number {
  let bits = cp < 0x10000 ? bmpScript[cp]! : (astralScript.get(cp) ?? 0);
  if (bits !== 0) return bits;
  const c = String.fromCodePoint(cp);
  bits = KNOWN | (CJK_CHAR.test(c) ? IS_CJK : 0) | (LETTER.test(c) ? IS_LETTER : 0) | (CONTROL.test(c) ? IS_CONTROL : 0);
  if (cp < 0x10000) bmpScript[cp] = bits;
  else astralScript.set(cp, bits);
  return bits;
}

/** What the script checks need to know of a text, counted a code point at a time (as a `u` regular expression reads it). */
class ScriptCounts {
  cjk = 0;
  letters = 0;
  control = false;

  of(text: string): this {
    let cjk = 0;
    let letters = 0;
    let control = 0;
    for (let i = 0; i < text.length; i++) {
      let cp = text.charCodeAt(i);
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
        const low = text.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          cp = (cp - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
          i += 1;
        }
      }
      const bits = scriptOf(cp);
      cjk += bits & IS_CJK;
      letters += (bits & IS_LETTER) >>> 1;
      control |= bits & IS_CONTROL;
    }
    this.cjk = cjk;
    this.letters = letters;
    this.control = control !== 0;
    return this;
  }

  /** Whether the text is in the wrong script for a side whose tokenizer is `char` (CJK) or not. */
  wrongFor(cjkSide: boolean): boolean {
    return cjkSide ? this.cjk === 0 : this.letters > 0 && this.cjk > this.letters / 2;
  }
}

/** True when a side in this language is written in the wrong script: a CJK side without CJK characters, another side mostly CJK. */
export function wrongScript(text: string, lang: string): boolean {
  return new ScriptCounts().of(text).wrongFor(defaultTokenizer(lang) === 'char');
}

const COPY = 1;
const WRONG_SRC = 2;
const WRONG_TGT = 4;
const CONTROL_CHARS = 8;
const TOO_LONG = 16;
const PAIR_FLAGS: [number, CheckId][] = [
  [COPY, 'copy'],
  [WRONG_SRC, 'wrong-script-src'],
  [WRONG_TGT, 'wrong-script-tgt'],
  [CONTROL_CHARS, 'control-chars'],
  [TOO_LONG, 'too-long'],
];

/**
 * Everything the audit learns from one pair on its own (all but duplicates
 * and outliers, which need the pairs before it): token counts, lengths, the
 * two 64-bit keys and the per-pair findings as bits. Reused from pair to pair.
 */
export class PairChecks {
  srcLength = 0;
  tgtLength = 0;
  exactHi = 0;
  exactLo = 0;
  nearHi = 0;
  nearLo = 0;
  /** COPY | WRONG_SRC | … */
  flags = 0;
  readonly srcCounts = new TokenTable();
  readonly tgtCounts = new TokenTable();
  private readonly hash = new Hash64();
  private readonly nearSrc = new NearKey();
  private readonly nearTgt = new NearKey();
  private readonly srcScript = new ScriptCounts();
  private readonly tgtScript = new ScriptCounts();
  private readonly srcSpans = new Spans();
  private readonly tgtSpans = new Spans();
  private readonly cjkSide: { src: boolean; tgt: boolean };

  constructor(private readonly data: Readonly<DataConfig>) {
    this.cjkSide = { src: defaultTokenizer(data.srcLang) === 'char', tgt: defaultTokenizer(data.tgtLang) === 'char' };
  }

  check(src: string, tgt: string): this {
    const { data, hash, nearSrc, nearTgt } = this;
    const s = (this.srcLength = countSide(data, 'src', src, this.srcSpans, this.srcCounts));
    const t = (this.tgtLength = countSide(data, 'tgt', tgt, this.tgtSpans, this.tgtCounts));
    hash.reset().text(src).text('\t').text(tgt).finish();
    this.exactHi = hash.hi;
    this.exactLo = hash.lo;
    nearSrc.of(src);
    nearTgt.of(tgt);
    hash.reset().units(nearSrc.units, nearSrc.length).text('\t').units(nearTgt.units, nearTgt.length).finish();
    this.nearHi = hash.hi;
    this.nearLo = hash.lo;
    let flags = 0;
    if (nearSrc.equals(nearTgt)) flags |= COPY;
    if (this.srcScript.of(src).wrongFor(this.cjkSide.src)) flags |= WRONG_SRC;
    if (this.tgtScript.of(tgt).wrongFor(this.cjkSide.tgt)) flags |= WRONG_TGT;
    if (this.srcScript.control || this.tgtScript.control) flags |= CONTROL_CHARS;
    if (s > data.maxLen || t > data.maxLen) flags |= TOO_LONG;
    this.flags = flags;
    return this;
  }
}

/** One pair as the audit's ordered part takes it: where it is and what PairChecks found. */
export interface CheckedPair {
  line: number;
  srcLength: number;
  tgtLength: number;
  exactHi: number;
  exactLo: number;
  nearHi: number;
  nearLo: number;
  flags: number;
}

/**
 * Streams the corpus once and runs every check. Memory: O(pairs) bytes of
 * typed arrays, plus the token counts. A tab-separated corpus is read on
 * `opts.workers` threads when that is over 1 (audit-parallel.ts), with the
 * same report.
 */
export async function auditCorpus(data: Readonly<DataConfig>, opts: AuditOptions = {}): Promise<AuditReport & { flaggedLines: Map<string, LineSet> }> {
  const keep = opts.examples ?? 3;
  const findings = new Map<CheckId, Finding>();
  const labels: Record<CheckId, string> = {
    malformed: 'malformed rows (missing column, invalid UTF-8, overlong line)',
    empty: 'empty or whitespace-only side',
    'exact-duplicate': 'exact duplicate pairs',
    'near-duplicate': 'near duplicates (case, punctuation, spacing, digits)',
    copy: 'source = target',
    'length-ratio': 'length-ratio outliers',
    'wrong-script-src': `wrong script on the source side (${data.srcLang})`,
    'wrong-script-tgt': `wrong script on the target side (${data.tgtLang})`,
    'control-chars': 'control or private-use characters',
    'too-long': `longer than --max-len ${data.maxLen} tokens`,
  };
  for (const id of Object.keys(labels) as CheckId[]) findings.set(id, { id, label: labels[id], count: 0, examples: [] });
  /** file → flagged line numbers (for --write-clean). */
  const flaggedLines = new Map<string, LineSet>();
  const linesOf = (file: string): LineSet => {
    let lines = flaggedLines.get(file);
    if (!lines) flaggedLines.set(file, (lines = new LineSet()));
    return lines;
  };
  const fileNames: string[] = [];
  let lines = new LineSet();
  /** Records a finding at line `line` of the current file. */
  const flagLine = (id: CheckId, line: number): void => {
    const finding = findings.get(id)!;
    finding.count += 1;
    if (finding.examples.length < keep) finding.examples.push(`${fileNames.at(-1)}:${line}`);
    lines.add(line);
  };
  /** Records a finding at `where` (`file:line`) of any file. */
  const flag = (id: CheckId, where: string): void => {
    const colon = where.lastIndexOf(':');
    const finding = findings.get(id)!;
    finding.count += 1;
    if (finding.examples.length < keep) finding.examples.push(where);
    linesOf(where.slice(0, colon)).add(Number(where.slice(colon + 1)));
  };
  /** The pairs that follow are from `file`. */
  const enterFile = (file: string): void => {
    if (fileNames.at(-1) === file) return;
    fileNames.push(file);
    // A byte a pair names the file while there are at most 256; wider past that.
    if (fileNames.length === 257) fileOf = grown(fileOf, new Uint32Array(fileOf.length));
    lines = linesOf(file);
  };

  // Malformed rows: empty sides are their own finding; every one is recorded.
  const skips = new (class extends SkipLog {
    override add(skip: Skip): void {
      super.add(skip);
      flag(/^empty (source|target)$/.test(skip.reason) ? 'empty' : 'malformed', skip.where);
    }
  })(false);

  const exact = new HashSet64();
  const near = new HashSet64();
  const histogram = new Float64Array(BINS);
  // Per pair, for the length-ratio outliers: its bin and where it is (file number, line).
  let bins = new Int16Array(1 << 16);
  let fileOf: Uint8Array | Uint32Array = new Uint8Array(1 << 16);
  let lineOf = new Int32Array(1 << 16);
  let pairs = 0;
  /** The checks that need the pairs before this one, in corpus order. */
  const take = (p: CheckedPair): void => {
    if (pairs % 65536 === 0) opts.onProgress?.(pairs);
    const { line } = p;
    if (!exact.add(p.exactHi, p.exactLo)) flagLine('exact-duplicate', line);
    else if (!near.add(p.nearHi, p.nearLo)) flagLine('near-duplicate', line);
    if (p.flags !== 0) for (const [bit, id] of PAIR_FLAGS) if ((p.flags & bit) !== 0) flagLine(id, line);
    const x = Math.log((p.srcLength + 1) / (p.tgtLength + 1));
    const bin = Math.max(0, Math.min(BINS - 1, Math.round(x / BIN) + (BINS - 1) / 2));
    histogram[bin]! += 1;
    if (pairs === bins.length) {
      bins = grown(bins, new Int16Array(bins.length * 2));
      fileOf = grown(fileOf, new (fileOf instanceof Uint8Array ? Uint8Array : Uint32Array)(fileOf.length * 2));
      lineOf = grown(lineOf, new Int32Array(lineOf.length * 2));
    }
    bins[pairs] = bin;
    fileOf[pairs] = fileNames.length - 1;
    lineOf[pairs] = line;
    pairs += 1;
  };

  let counts: { src: Map<string, number>; tgt: Map<string, number> };
  if ((opts.workers ?? 1) > 1 && tabSeparatedCorpus(data) && corpusBytes(data.data) >= (opts.parallelMinBytes ?? PARALLEL_MIN_BYTES)) {
    const { parallelAudit } = await import('./audit-parallel.ts');
    counts = await parallelAudit({ data, workers: opts.workers!, pieceBytes: opts.pieceBytes, skips, enterFile, take });
  } else {
    const checks = new PairChecks(data);
    const pair: CheckedPair = { line: 0, srcLength: 0, tgtLength: 0, exactHi: 0, exactLo: 0, nearHi: 0, nearLo: 0, flags: 0 };
    for await (const { src, tgt, origin } of readCorpus(data, skips)) {
      // `file:line`, the file's name cut out only when it changes.
      const colon = origin.lastIndexOf(':');
      const current = fileNames.at(-1);
      if (current === undefined || colon !== current.length || !origin.startsWith(current)) enterFile(origin.slice(0, colon));
      let line = 0;
      for (let i = colon + 1; i < origin.length; i++) line = 10 * line + origin.charCodeAt(i) - 0x30;
      checks.check(src, tgt);
      pair.line = line;
      pair.srcLength = checks.srcLength;
      pair.tgtLength = checks.tgtLength;
      pair.exactHi = checks.exactHi;
      pair.exactLo = checks.exactLo;
      pair.nearHi = checks.nearHi;
      pair.nearLo = checks.nearLo;
      pair.flags = checks.flags;
      take(pair);
    }
    counts = { src: checks.srcCounts.countMap(), tgt: checks.tgtCounts.countMap() };
  }
  const median = histogramMedian(histogram);
  const deviations = new Float64Array(BINS);
  for (let b = 0; b < BINS; b++) deviations[Math.abs(b - median)]! += histogram[b]!;
  const mad = Math.max(histogramMedian(deviations), MIN_MAD_BINS);
  const limit = (Z_LIMIT * 1.4826 * mad);
  for (let i = 0; i < pairs; i++) {
    if (Math.abs(bins[i]! - median) > limit) flag('length-ratio', `${fileNames[fileOf[i]!]}:${lineOf[i]}`);
  }

  const center = (median - (BINS - 1) / 2) * BIN;
  const vocabulary = (side: 'src' | 'tgt', counts: Map<string, number>, minFreq: number): SideVocabulary => {
    let total = 0;
    let covered = 0;
    let kept = 0;
    for (const c of counts.values()) {
      total += c;
      if (c >= minFreq) {
        covered += c;
        kept += 1;
      }
    }
    return {
      lang: side === 'src' ? data.srcLang : data.tgtLang,
      tokenizer: sideTokenizer(data, side).kind,
      minFreq,
      types: counts.size,
      kept,
      coverage: total === 0 ? 1 : covered / total,
    };
  };
  const files = data.src !== null && data.tgt !== null ? [data.src, data.tgt] : [...data.data];
  let flagged = 0;
  for (const lines of flaggedLines.values()) flagged += lines.size;
  return {
    files,
    pairs,
    findings: [...findings.values()],
    flagged,
    lengthRatio: { median: center, mad: mad * BIN, low: center - limit * BIN, high: center + limit * BIN },
    vocabulary: { src: vocabulary('src', counts.src, data.srcMinFreq), tgt: vocabulary('tgt', counts.tgt, data.tgtMinFreq) },
    flaggedLines,
  };
}

/** The files' total size (a missing file counts 0: reading it reports it). */
function corpusBytes(files: readonly string[]): number {
  let total = 0;
  for (const file of files) {
    try {
      total += statSync(file).size;
    } catch {
      // reported when read
    }
  }
  return total;
}

/** Counts the tokens of one side's text (spans of its normalised text, no token strings); returns how many. */
function countSide(data: Readonly<DataConfig>, side: 'src' | 'tgt', text: string, spans: Spans, table: TokenTable): number {
  const normal = tokenSpans(data, side, text, spans);
  if (normal === null) {
    const tokens = tokenizeSide(data, side, text);
    for (const token of tokens) table.id(token);
    return tokens.length;
  }
  for (let k = 0; k < spans.length; k++) table.idOf(normal, spans.start(k), spans.end(k));
  return spans.length;
}

function grown<A extends Int16Array | Uint8Array | Int32Array | Uint32Array>(from: ArrayLike<number>, to: A): A {
  to.set(from);
  return to;
}

/** The bin holding the middle count. */
function histogramMedian(histogram: Float64Array): number {
  let total = 0;
  for (const c of histogram) total += c;
  let seen = 0;
  for (let b = 0; b < histogram.length; b++) {
    seen += histogram[b]!;
    if (seen * 2 >= total) return b;
  }
  return 0;
}

/**
 * Writes the TSV corpus `files` to `out` without the flagged lines (and
 * without blank or undecodable lines), through a temporary file renamed into
 * place. Returns the number of lines written.
 */
export async function writeClean(files: readonly string[], flaggedLines: ReadonlyMap<string, { has(line: number): boolean }>, out: string): Promise<number> {
  const target = resolve(out);
  for (const file of files) {
    if (resolve(file) === target) throw new UserError('--write-clean would overwrite the corpus itself', { where: out, exitCode: 2 });
  }
  const tmp = `${target}.tmp-${process.pid}`;
  const handle = await open(tmp, 'w');
  let written = 0;
  try {
    let chunk = '';
    for (const file of files) {
      const flagged = flaggedLines.get(file);
      for await (const { line, text } of physicalLines(await openBytes(file), file)) {
        if (text === null || text.trim() === '' || flagged?.has(line)) continue;
        chunk += `${text}\n`;
        written += 1;
        if (chunk.length > 1 << 16) {
          await handle.write(chunk);
          chunk = '';
        }
      }
    }
    await handle.write(chunk);
    await handle.sync();
    await handle.close();
    await rename(tmp, target);
  } catch (err) {
    await handle.close().catch(() => {});
    await rm(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') throw new UserError('disk full while writing the clean corpus; nothing was written', { where: out });
    throw err;
  }
  return written;
}
