/**
 * Corpus and sentence BLEU exactly as sacreBLEU 2.6.0 computes it
 * (`sacrebleu/metrics/bleu.py`): same preprocessing (optional lowercase,
 * trailing whitespace removed, tokenizer), same clipped n-gram statistics
 * summed over lines, same smoothing, effective order and brevity penalty, and
 * the same text formatting. Checked against sacreBLEU 2.6.0's outputs
 * (test/unit/bleu.test.ts).
 */
import { formatFixed, pyRstrip, pySplit } from './python-compat.ts';
import { bleuSignature, type SmoothMethod } from './signature.ts';
import { tokenizeLine, type BleuTokenizer } from './tokenizers.ts';

export type { BleuTokenizer } from './tokenizers.ts';
export { defaultBleuTokenizer } from './tokenizers.ts';
export type { SmoothMethod } from './signature.ts';
export { looksTokenized, tokenizationWarning } from './tokenization-warnings.ts';

export const MAX_NGRAM_ORDER = 4;

export interface BleuOptions {
  tokenize: BleuTokenizer;
  smoothMethod: SmoothMethod;
  /** For `floor` / `add-k`; null = sacreBLEU's default (0.1 / 1). */
  smoothValue: number | null;
  lowercase: boolean;
  /** Average only over the orders that have hypothesis n-grams (sentence-level BLEU). */
  effectiveOrder: boolean;
  /** Only silences the "looks tokenized" warning; never changes a number. */
  force?: boolean;
}

export interface BleuResult {
  /** 0–100. */
  score: number;
  /** Clipped matching n-grams for n = 1..4, raw (before add-k). */
  counts: number[];
  /** Hypothesis n-grams for n = 1..4, raw. */
  totals: number[];
  /** Percentages actually used, after smoothing. */
  precisions: number[];
  bp: number;
  sys_len: number;
  ref_len: number;
  ratio: number;
  signature: string;
  /** Only for `add-k`: counts/totals after k was added for n ≥ 2 (what sacreBLEU's score object reports). */
  smoothed_counts?: number[];
  smoothed_totals?: number[];
}

/** Sufficient statistics of one line or a whole corpus. */
interface BleuStats {
  sysLen: number;
  refLen: number;
  correct: number[];
  total: number[];
}

/** Lowercase (optionally), drop trailing whitespace, tokenize, split: the tokens BLEU counts. */
export function bleuTokens(line: string, options: Pick<BleuOptions, 'tokenize' | 'lowercase'>): string[] {
  const cased = options.lowercase ? line.toLowerCase() : line;
  return pySplit(tokenizeLine(pyRstrip(cased), options.tokenize));
}

/** Tokens never contain whitespace, so '\n' separates them unambiguously in n-gram keys. */
const NGRAM_JOINER = '\n';

/** Counts of all n-grams, n = 1..MAX_NGRAM_ORDER; the order is recoverable from the key. */
function countNgrams(tokens: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (let n = 1; n <= MAX_NGRAM_ORDER; n++) {
    for (let i = 0; i + n <= tokens.length; i++) {
      const key = n + NGRAM_JOINER + tokens.slice(i, i + n).join(NGRAM_JOINER);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

function ngramOrder(key: string): number {
  return Number(key.slice(0, key.indexOf(NGRAM_JOINER)));
}

/** The reference length closest to the hypothesis length; a tie goes to the shorter one. */
export function closestRefLength(hypLen: number, refLens: readonly number[]): number {
  let best = -1;
  let bestDiff = -1;
  for (const refLen of refLens) {
    const diff = Math.abs(hypLen - refLen);
    if (bestDiff === -1 || diff < bestDiff || (diff === bestDiff && refLen < best)) {
      bestDiff = diff;
      best = refLen;
    }
  }
  return best;
}

/** One line's statistics against all its references (clipping by the max count in any one reference). */
function segmentStats(hypTokens: readonly string[], refTokenLists: readonly (readonly string[])[]): BleuStats {
  const maxRefCounts = new Map<string, number>();
  for (const refTokens of refTokenLists) {
    for (const [key, count] of countNgrams(refTokens)) {
      maxRefCounts.set(key, Math.max(maxRefCounts.get(key) ?? 0, count));
    }
  }
  const correct = new Array<number>(MAX_NGRAM_ORDER).fill(0);
  const total = new Array<number>(MAX_NGRAM_ORDER).fill(0);
  for (const [key, count] of countNgrams(hypTokens)) {
    const n = ngramOrder(key) - 1;
    total[n]! += count;
    correct[n]! += Math.min(count, maxRefCounts.get(key) ?? 0);
  }
  const refLen = closestRefLength(hypTokens.length, refTokenLists.map((tokens) => tokens.length));
  return { sysLen: hypTokens.length, refLen, correct, total };
}

function addStats(into: BleuStats, line: BleuStats): void {
  into.sysLen += line.sysLen;
  into.refLen += line.refLen;
  for (let n = 0; n < MAX_NGRAM_ORDER; n++) {
    into.correct[n]! += line.correct[n]!;
    into.total[n]! += line.total[n]!;
  }
}

/** Python's `my_log`: log, with log(0) floored to -9999999999. */
function flooredLog(x: number): number {
  return x === 0 ? -9999999999 : Math.log(x);
}

/** `BLEU.compute_bleu`: smoothing, effective order, brevity penalty. */
function computeBleu(stats: BleuStats, options: BleuOptions, nrefs: number): BleuResult {
  const { sysLen, refLen } = stats;
  const signature = bleuSignature({ nrefs, ...options });
  const ratio = refLen ? sysLen / refLen : 0;
  let bp = 1.0;
  if (sysLen < refLen) bp = sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0.0;
  const precisions = new Array<number>(MAX_NGRAM_ORDER).fill(0);
  const base = {
    counts: [...stats.correct],
    totals: [...stats.total],
    precisions,
    bp,
    sys_len: sysLen,
    ref_len: refLen,
    ratio,
    signature,
  };
  if (!stats.correct.some((c) => c !== 0)) return { score: 0.0, ...base };

  const smoothValue =
    options.smoothValue ?? (options.smoothMethod === 'floor' ? 0.1 : options.smoothMethod === 'add-k' ? 1 : 0);
  const correct = [...stats.correct];
  const total = [...stats.total];
  let smoothMteval = 1.0;
  let effOrder = MAX_NGRAM_ORDER;
  for (let n = 1; n <= MAX_NGRAM_ORDER; n++) {
    const i = n - 1;
    if (options.smoothMethod === 'add-k' && n > 1) {
      correct[i]! += smoothValue;
      total[i]! += smoothValue;
    }
    if (total[i] === 0) break;
    if (options.effectiveOrder) effOrder = n;
    if (correct[i] === 0) {
      if (options.smoothMethod === 'exp') {
        smoothMteval *= 2;
        precisions[i] = 100.0 / (smoothMteval * total[i]!);
      } else if (options.smoothMethod === 'floor') {
        precisions[i] = (100.0 * smoothValue) / total[i]!;
      }
    } else {
      precisions[i] = (100.0 * correct[i]!) / total[i]!;
    }
  }
  let logSum = 0;
  for (const p of precisions.slice(0, effOrder)) logSum += flooredLog(p);
  const score = bp * Math.exp(logSum / effOrder);
  const smoothed = options.smoothMethod === 'add-k' ? { smoothed_counts: correct, smoothed_totals: total } : {};
  return { score, ...base, ...smoothed };
}

/**
 * Corpus BLEU. `references` are streams, like sacreBLEU: `references[k][i]`
 * is the k-th reference of hypothesis line `i`; every stream has one entry
 * per hypothesis.
 */
export function corpusBleu(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
  options: BleuOptions,
): BleuResult {
  for (const [k, stream] of references.entries()) {
    if (stream.length !== hypotheses.length) {
      throw new RangeError(
        `reference stream ${k + 1} has ${stream.length} lines but there are ${hypotheses.length} hypotheses`,
      );
    }
  }
  const totals: BleuStats = {
    sysLen: 0,
    refLen: 0,
    correct: new Array<number>(MAX_NGRAM_ORDER).fill(0),
    total: new Array<number>(MAX_NGRAM_ORDER).fill(0),
  };
  hypotheses.forEach((hypothesis, i) => {
    const refTokens = references.map((stream) => bleuTokens(stream[i]!, options));
    addStats(totals, segmentStats(bleuTokens(hypothesis, options), refTokens));
  });
  return computeBleu(totals, options, references.length);
}

/** BLEU of one hypothesis against its references (pass `effectiveOrder: true`, as sacreBLEU's CLI does). */
export function sentenceBleu(hypothesis: string, references: readonly string[], options: BleuOptions): BleuResult {
  return corpusBleu([hypothesis], references.map((ref) => [ref]), options);
}

/**
 * sacreBLEU's text line (`BLEUScore.format`), e.g.
 * `BLEU|nrefs:1|…|version:2.6.0 = 23.45 55.1/30.2/18.0/11.1 (BP = 0.987 ratio = 0.987 hyp_len = 1234 ref_len = 1250)`.
 */
export function formatBleu(result: BleuResult, width = 2): string {
  const precisions = result.precisions.map((p) => formatFixed(p, 1)).join('/');
  return (
    `BLEU|${result.signature} = ${formatFixed(result.score, width)} ${precisions} ` +
    `(BP = ${formatFixed(result.bp, 3)} ratio = ${formatFixed(result.ratio, 3)} ` +
    `hyp_len = ${result.sys_len} ref_len = ${result.ref_len})`
  );
}
