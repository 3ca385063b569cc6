/**
 * What greedy and beam search share: their options, the result type, the
 * per-sentence output length limit and the length-normalised score.
 */
import { DEFAULTS, type DecodingConfig } from '../config.ts';
import { PAD, SOS } from '../data/vocab.ts';

/**
 * Tokens a search never outputs (as fairseq and OpenNMT mask them): <pad> and
 * <sos> are never training targets, but an untrained or briefly trained model
 * can still rank them high. Scores stay log-probabilities under the full softmax.
 */
export const NEVER_OUTPUT: ReadonlySet<number> = new Set([PAD, SOS]);

/** How many of a row's most probable tokens to fetch so that `k` of them can be output. */
export function candidatesPerRow(k: number, vocab: number): number {
  return Math.min(k + NEVER_OUTPUT.size, vocab);
}

/**
 * The decoding config's search fields (beam, length penalty α in
 * score = log p(y|x) / length^α, n-best, output length limits, batch size),
 * plus whether to return per-token attention weights (for replace-unk and heatmaps)
 * and an optional `pause` awaited after every decoder step, once the step's
 * finished sentences are handed out (a server passes one that yields to the
 * event loop, so answers go out and requests are parsed while a batch decodes).
 */
export type SearchOptions = Pick<
  DecodingConfig,
  'beam' | 'lengthPenalty' | 'nbest' | 'maxOutputLen' | 'maxLenRatio' | 'maxLenExtra' | 'batchSize'
> & { returnAttention: boolean; pause?: () => Promise<void> };

export interface Hypothesis {
  /** Target ids, without <sos> and <eos>. */
  ids: number[];
  /** Length-normalised log-probability (see normalisedScore). */
  score: number;
  /** [ids.length][srcLen]: the attention weights at each output token. */
  attention?: number[][];
}

/** The decoding config's fields as search options, with attention off unless asked for. */
export function searchOptions(decoding: Partial<DecodingConfig & SearchOptions> = {}): SearchOptions {
  const d = { ...DEFAULTS.decoding, ...decoding };
  const opts: SearchOptions = {
    beam: d.beam,
    lengthPenalty: d.lengthPenalty,
    nbest: d.nbest,
    maxOutputLen: d.maxOutputLen,
    maxLenRatio: d.maxLenRatio,
    maxLenExtra: d.maxLenExtra,
    batchSize: d.batchSize,
    returnAttention: decoding.returnAttention ?? d.replaceUnk,
    ...(decoding.pause ? { pause: decoding.pause } : {}),
  };
  checkSearchOptions(opts);
  return opts;
}

/** Programming errors (the CLI validates user input before it gets here). */
function checkSearchOptions(o: SearchOptions): void {
  const positiveInt = (n: number): boolean => Number.isInteger(n) && n >= 1;
  if (!positiveInt(o.beam)) throw new RangeError(`beam must be an integer >= 1, got ${o.beam}`);
  if (!positiveInt(o.nbest) || o.nbest > o.beam) throw new RangeError(`nbest must be in 1..beam (${o.beam}), got ${o.nbest}`);
  if (!positiveInt(o.batchSize)) throw new RangeError(`batchSize must be an integer >= 1, got ${o.batchSize}`);
  if (!(o.lengthPenalty >= 0)) throw new RangeError(`lengthPenalty must be >= 0, got ${o.lengthPenalty}`);
  if (!(o.maxOutputLen >= 0 && o.maxLenRatio >= 0 && o.maxLenExtra >= 0)) throw new RangeError('length limits must be >= 0');
}

/**
 * The most tokens (without <eos>) a sentence's translation may have:
 * min(maxOutputLen, ⌊maxLenRatio · srcLen + maxLenExtra⌋).
 */
export function outputLimit(srcLen: number, o: Pick<SearchOptions, 'maxOutputLen' | 'maxLenRatio' | 'maxLenExtra'>): number {
  return Math.max(0, Math.min(o.maxOutputLen, Math.floor(o.maxLenRatio * srcLen + o.maxLenExtra)));
}

/**
 * Length normalisation: score = logProb / length^α, where length counts the
 * output tokens including the final <eos> (a hypothesis cut off at the length
 * limit has no <eos> and counts only its tokens). α = 0 gives the raw
 * log-probability; α > 0 favours longer outputs, since log-probabilities are ≤ 0.
 */
export function normalisedScore(logProb: number, length: number, alpha: number): number {
  return alpha === 0 ? logProb : logProb / Math.pow(Math.max(1, length), alpha);
}

/**
 * The best normalised score any continuation of a live hypothesis can reach:
 * its log-probability only falls as it grows, and its length is at most
 * `maxLength` (including <eos>), so logProb / maxLength^α bounds it (α ≥ 0).
 */
export function scoreBound(logProb: number, maxLength: number, alpha: number): number {
  return normalisedScore(logProb, maxLength, alpha);
}
