/**
 * A corpus audit: what a careful practitioner checks before training, each
 * check with a count and the first few `file:line` examples, in one streaming
 * pass and bounded memory.
 *
 * Memory per pair is a few bytes of typed arrays (lengths, line numbers,
 * flags); duplicates are found by hashing, never by keeping sentences:
 *   - exact duplicates: 64 bits of SHA-1 of `source \t target`, in an
 *     open-addressing set of 64-bit keys (a false match needs a 64-bit collision);
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
import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { DataConfig } from '../config.ts';
import { UserError } from '../errors.ts';
import { SkipLog, openBytes, physicalLines, readCorpus, type Skip } from './corpus.ts';
import { defaultTokenizer, sideTokenizer, tokenizeSide } from './tokenize.ts';
import { countTokens } from './vocab.ts';

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
}

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

function key64(text: string): [number, number] {
  const digest = createHash('sha1').update(text).digest();
  return [digest.readUInt32LE(0), digest.readUInt32LE(4)];
}

/** What a near duplicate ignores: case, punctuation, symbols, spacing and which digits. */
export function nearKey(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/[\p{P}\p{S}\p{Z}\s]+/gu, '').replace(/\p{Nd}/gu, '0');
}

const CJK_CHAR = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}\p{scx=Bopomofo}]/gu;
const LETTER = /\p{L}/gu;
const CONTROL = /[\p{Cc}\p{Co}]/u;

/** True when a side in this language is written in the wrong script: a CJK side without CJK characters, another side mostly CJK. */
export function wrongScript(text: string, lang: string): boolean {
  const cjk = text.match(CJK_CHAR)?.length ?? 0;
  if (defaultTokenizer(lang) === 'char') return cjk === 0;
  const letters = text.match(LETTER)?.length ?? 0;
  return letters > 0 && cjk > letters / 2;
}

/** Streams the corpus once and runs every check. Memory: O(pairs) bytes of typed arrays, plus the token counts. */
export async function auditCorpus(data: Readonly<DataConfig>, opts: AuditOptions = {}): Promise<AuditReport & { flaggedLines: Map<string, Set<number>> }> {
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
  const flaggedLines = new Map<string, Set<number>>();
  const flag = (id: CheckId, where: string): void => {
    const finding = findings.get(id)!;
    finding.count += 1;
    if (finding.examples.length < keep) finding.examples.push(where);
    const colon = where.lastIndexOf(':');
    const file = where.slice(0, colon);
    let lines = flaggedLines.get(file);
    if (!lines) flaggedLines.set(file, (lines = new Set()));
    lines.add(Number(where.slice(colon + 1)));
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
  const srcCounts = new Map<string, number>();
  const tgtCounts = new Map<string, number>();
  const histogram = new Float64Array(BINS);
  // Per pair, for the length-ratio outliers: its bin and where it is (file number, line).
  let bins = new Int16Array(1 << 16);
  let fileOf = new Uint8Array(1 << 16);
  let lineOf = new Int32Array(1 << 16);
  const fileNames: string[] = [];
  let pairs = 0;
  for await (const { src, tgt, origin } of readCorpus(data, skips)) {
    if (pairs % 65536 === 0) opts.onProgress?.(pairs);
    const s = tokenizeSide(data, 'src', src);
    const t = tokenizeSide(data, 'tgt', tgt);
    countTokens(srcCounts, s);
    countTokens(tgtCounts, t);
    if (!exact.add(...key64(`${src}\t${tgt}`))) flag('exact-duplicate', origin);
    else if (!near.add(...key64(`${nearKey(src)}\t${nearKey(tgt)}`))) flag('near-duplicate', origin);
    if (nearKey(src) === nearKey(tgt)) flag('copy', origin);
    if (wrongScript(src, data.srcLang)) flag('wrong-script-src', origin);
    if (wrongScript(tgt, data.tgtLang)) flag('wrong-script-tgt', origin);
    if (CONTROL.test(src) || CONTROL.test(tgt)) flag('control-chars', origin);
    if (s.length > data.maxLen || t.length > data.maxLen) flag('too-long', origin);
    const x = Math.log((s.length + 1) / (t.length + 1));
    const bin = Math.max(0, Math.min(BINS - 1, Math.round(x / BIN) + (BINS - 1) / 2));
    histogram[bin]! += 1;
    if (pairs === bins.length) {
      bins = grown(bins, new Int16Array(bins.length * 2));
      fileOf = grown(fileOf, new Uint8Array(fileOf.length * 2));
      lineOf = grown(lineOf, new Int32Array(lineOf.length * 2));
    }
    const colon = origin.lastIndexOf(':');
    const file = origin.slice(0, colon);
    if (fileNames.at(-1) !== file) fileNames.push(file);
    bins[pairs] = bin;
    fileOf[pairs] = fileNames.length - 1;
    lineOf[pairs] = Number(origin.slice(colon + 1));
    pairs += 1;
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
    vocabulary: { src: vocabulary('src', srcCounts, data.srcMinFreq), tgt: vocabulary('tgt', tgtCounts, data.tgtMinFreq) },
    flaggedLines,
  };
}

function grown<A extends Int16Array | Uint8Array | Int32Array>(from: A, to: A): A {
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
export async function writeClean(files: readonly string[], flaggedLines: ReadonlyMap<string, ReadonlySet<number>>, out: string): Promise<number> {
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
