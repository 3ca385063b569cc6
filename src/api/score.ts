/**
 * Corpus BLEU and chrF for programs: sacreBLEU-compatible scores (the same
 * code as `s2s eval`), with defaults for every option, one reference per line
 * or several reference streams, and S2SErrors for mismatched inputs.
 */
import { corpusBleu as bleu, type BleuOptions, type BleuResult } from '../eval/bleu.ts';
import { corpusChrf as chrf, type ChrfOptions, type ChrfResult } from '../eval/chrf.ts';
import { BLEU_TOKENIZERS } from '../eval/tokenizers.ts';
import { UserError } from '../errors.ts';

export type { BleuOptions, BleuResult, ChrfOptions, ChrfResult };

/** sacreBLEU's defaults: 13a tokenization, exponential smoothing, case-sensitive. */
export const BLEU_DEFAULTS: Readonly<BleuOptions> = {
  tokenize: '13a',
  smoothMethod: 'exp',
  smoothValue: null,
  lowercase: false,
  effectiveOrder: false,
};

/**
 * Reference streams from either one reference per hypothesis (`string[]`) or
 * several streams (`string[][]`, `references[k][i]` the k-th reference of line i).
 */
function referenceStreams(hypotheses: readonly string[], references: readonly string[] | readonly (readonly string[])[]): string[][] {
  if (!Array.isArray(hypotheses) || !hypotheses.every((h) => typeof h === 'string')) {
    throw new UserError('hypotheses must be an array of strings', { where: 'hypotheses' });
  }
  if (!Array.isArray(references)) throw new UserError('references must be an array', { where: 'references' });
  const streams = (references.length === 0 || typeof references[0] === 'string' ? [references] : references) as unknown[];
  streams.forEach((stream, k) => {
    if (!Array.isArray(stream) || !stream.every((r) => typeof r === 'string')) {
      throw new UserError('references must be strings, one per hypothesis (or arrays of them: one per reference stream)', { where: `references[${k}]` });
    }
    if (stream.length !== hypotheses.length) {
      throw new UserError(`${stream.length} references for ${hypotheses.length} hypotheses`, { where: streams.length === 1 ? 'references' : `references[${k}]` });
    }
  });
  return streams as string[][];
}

/** Corpus BLEU (0–100) as sacreBLEU computes it; e.g. `corpusBleu(hyps, refs, { tokenize: 'zh' })` for Chinese. */
export function corpusBleu(
  hypotheses: readonly string[],
  references: readonly string[] | readonly (readonly string[])[],
  options: Partial<BleuOptions> = {},
): BleuResult {
  const streams = referenceStreams(hypotheses, references);
  const merged = { ...BLEU_DEFAULTS, ...options };
  if (!BLEU_TOKENIZERS.includes(merged.tokenize)) {
    throw new UserError(`tokenize must be one of ${BLEU_TOKENIZERS.join(', ')}, got ${JSON.stringify(merged.tokenize)}`, { where: 'tokenize', exitCode: 2 });
  }
  return bleu(hypotheses, streams, merged);
}

/** Corpus chrF (0–100; `wordOrder: 2` for chrF++) as sacreBLEU computes it. */
export function corpusChrf(
  hypotheses: readonly string[],
  references: readonly string[] | readonly (readonly string[])[],
  options: Partial<ChrfOptions> = {},
): ChrfResult {
  return chrf(hypotheses, referenceStreams(hypotheses, references), options);
}
