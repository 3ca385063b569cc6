/**
 * chrF / chrF++ exactly as sacreBLEU 2.6.0 computes it (`sacrebleu/metrics/chrf.py`):
 * character n-grams (whitespace removed unless `whitespace`), optional word
 * n-grams, per line the reference with the best F-score, statistics summed
 * over the corpus, then precision and recall averaged over the orders that
 * have both hypothesis and reference n-grams (the default "effective order",
 * `eps_smoothing=False`) and combined into F-beta.
 */
import { formatFixed, pySplit } from './python-compat.ts';
import { chrfSignature } from './signature.ts';

export interface ChrfOptions {
  /** Character n-gram order (default 6). */
  charOrder: number;
  /** Word n-gram order (default 0; 2 is chrF++). */
  wordOrder: number;
  /** Recall weight (default 2). */
  beta: number;
  lowercase: boolean;
  /** Keep whitespace inside character n-grams (default false). */
  whitespace: boolean;
  /** Epsilon smoothing as in chrF++.py / NLTK instead of effective order (default false). */
  epsSmoothing: boolean;
}

export const CHRF_DEFAULTS: Readonly<ChrfOptions> = {
  charOrder: 6,
  wordOrder: 0,
  beta: 2,
  lowercase: false,
  whitespace: false,
  epsSmoothing: false,
};

export interface ChrfResult {
  /** 0–100. */
  score: number;
  /** `chrF2`, or `chrF2++` with word order 2. */
  name: string;
  signature: string;
  /** Summed statistics: for each order (char orders first, then word orders), [hyp, ref, match]. */
  stats: number[];
}

type NgramCounts = Map<string, number>;

function countNgrams(units: readonly string[], n: number, joiner: string): NgramCounts {
  const counts: NgramCounts = new Map();
  for (let i = 0; i + n <= units.length; i++) {
    const key = units.slice(i, i + n).join(joiner);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

const PUNCTUATION = new Set(Array.from('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'));

/** `CHRF._remove_punctuation`: split one ASCII punctuation mark off the end, else off the start, of each word. */
function wordsWithPunctuationSplit(sentence: string): string[] {
  const words: string[] = [];
  for (const word of pySplit(sentence)) {
    const chars = Array.from(word);
    if (chars.length === 1) words.push(word);
    else if (PUNCTUATION.has(chars.at(-1)!)) words.push(chars.slice(0, -1).join(''), chars.at(-1)!);
    else if (PUNCTUATION.has(chars[0]!)) words.push(chars[0]!, chars.slice(1).join(''));
    else words.push(word);
  }
  return words;
}

/** All n-gram counters of one segment: char orders 1..charOrder, then word orders 1..wordOrder. */
function segmentNgrams(sentence: string, options: ChrfOptions): NgramCounts[] {
  const text = options.whitespace ? sentence : pySplit(sentence).join('');
  const chars = Array.from(text);
  const counters: NgramCounts[] = [];
  for (let n = 1; n <= options.charOrder; n++) counters.push(countNgrams(chars, n, ''));
  if (options.wordOrder > 0) {
    const words = wordsWithPunctuationSplit(sentence);
    for (let n = 1; n <= options.wordOrder; n++) counters.push(countNgrams(words, n, ' '));
  }
  return counters;
}

/** `[hyp count (0 if the reference has none of this order), ref count, clipped matches]`. */
function matchStatistics(hyp: NgramCounts, ref: NgramCounts): [number, number, number] {
  let hypCount = 0;
  let matches = 0;
  for (const [ngram, count] of hyp) {
    hypCount += count;
    const refCount = ref.get(ngram);
    if (refCount !== undefined) matches += Math.min(count, refCount);
  }
  let refCount = 0;
  for (const count of ref.values()) refCount += count;
  return [ref.size > 0 ? hypCount : 0, refCount, matches];
}

/** `CHRF._compute_f_score` on flattened [hyp, ref, match] triples. */
export function chrfFromStats(stats: readonly number[], options: ChrfOptions = CHRF_DEFAULTS): number {
  const eps = 1e-16;
  const order = options.charOrder + options.wordOrder;
  const factor = options.beta ** 2;
  let epsScore = 0.0;
  let avgPrec = 0.0;
  let avgRec = 0.0;
  let effectiveOrder = 0;
  for (let i = 0; i < order; i++) {
    const nHyp = stats[3 * i]!;
    const nRef = stats[3 * i + 1]!;
    const nMatch = stats[3 * i + 2]!;
    const prec = nHyp > 0 ? nMatch / nHyp : eps;
    const rec = nRef > 0 ? nMatch / nRef : eps;
    const denom = factor * prec + rec;
    epsScore += denom > 0 ? ((1 + factor) * prec * rec) / denom : eps;
    if (nHyp > 0 && nRef > 0) {
      avgPrec += prec;
      avgRec += rec;
      effectiveOrder += 1;
    }
  }
  if (options.epsSmoothing) return (100 * epsScore) / order;
  if (effectiveOrder === 0) {
    avgPrec = 0.0;
    avgRec = 0.0;
  } else {
    avgPrec /= effectiveOrder;
    avgRec /= effectiveOrder;
  }
  if (avgPrec + avgRec === 0) return 0.0;
  let score = (1 + factor) * avgPrec * avgRec;
  score /= factor * avgPrec + avgRec;
  return 100 * score;
}

/** One line's statistics against the reference that gives it the best F-score (first wins ties). */
function segmentStats(hypothesis: string, references: readonly string[], options: ChrfOptions): number[] {
  const hypNgrams = segmentNgrams(hypothesis, options);
  let bestStats: number[] = [];
  let bestScore = -1.0;
  for (const reference of references) {
    const refNgrams = segmentNgrams(reference, options);
    const stats = hypNgrams.flatMap((hyp, i) => matchStatistics(hyp, refNgrams[i]!));
    const score = chrfFromStats(stats, options);
    if (score > bestScore) {
      bestScore = score;
      bestStats = stats;
    }
  }
  return bestStats;
}

/** Corpus chrF; `references[k][i]` is the k-th reference of line `i` (streams, like sacreBLEU). */
export function corpusChrf(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
  overrides: Partial<ChrfOptions> = {},
): ChrfResult {
  const options: ChrfOptions = { ...CHRF_DEFAULTS, ...overrides };
  for (const [k, stream] of references.entries()) {
    if (stream.length !== hypotheses.length) {
      throw new RangeError(
        `reference stream ${k + 1} has ${stream.length} lines but there are ${hypotheses.length} hypotheses`,
      );
    }
  }
  const prepare = (line: string): string => (options.lowercase ? line.toLowerCase() : line);
  const totals = new Array<number>(3 * (options.charOrder + options.wordOrder)).fill(0);
  hypotheses.forEach((hypothesis, i) => {
    const refs = references.map((stream) => prepare(stream[i]!));
    segmentStats(prepare(hypothesis), refs, options).forEach((value, j) => (totals[j]! += value));
  });
  return {
    score: chrfFromStats(totals, options),
    name: `chrF${options.beta}${'+'.repeat(options.wordOrder)}`,
    signature: chrfSignature({ nrefs: references.length, ...options }),
    stats: totals,
  };
}

/** chrF of one hypothesis against its references. */
export function sentenceChrf(
  hypothesis: string,
  references: readonly string[],
  overrides: Partial<ChrfOptions> = {},
): ChrfResult {
  return corpusChrf([hypothesis], references.map((ref) => [ref]), overrides);
}

/** sacreBLEU's text line: `chrF2|nrefs:1|…|version:2.6.0 = 45.67`. */
export function formatChrf(result: ChrfResult, width = 2): string {
  return `${result.name}|${result.signature} = ${formatFixed(result.score, width)}`;
}
