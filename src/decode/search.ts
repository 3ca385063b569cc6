/**
 * The one entry point for decoding: greedy search when beam ≤ 1, beam search
 * otherwise. Every call leaves tf.memory().numTensors as it found it.
 */
import type { DecodingConfig } from '../config.ts';
import type { Seq2Seq } from '../model/seq2seq.ts';
import { beamSearch } from './beam.ts';
import { greedySearch } from './greedy.ts';
import { searchOptions, type Hypothesis, type SearchOptions } from './options.ts';

export type { Hypothesis, SearchOptions } from './options.ts';
export { searchOptions, outputLimit, normalisedScore } from './options.ts';

/**
 * Translates source id sequences.
 * @param sources per sentence its source ids, without <sos>/<eos>
 * @param options decoding options; missing ones come from DEFAULTS.decoding,
 *   `returnAttention` defaults to `replaceUnk` (the replacement needs it)
 * @returns per sentence, in input order, its n-best list (nbest hypotheses,
 *   or fewer if the search found fewer), best score first
 */
export async function search(
  model: Seq2Seq,
  sources: readonly (readonly number[])[],
  options: Partial<DecodingConfig & SearchOptions> = {},
): Promise<Hypothesis[][]> {
  const opts = searchOptions(options);
  if (sources.length === 0) return [];
  return opts.beam <= 1 ? greedySearch(model, sources, opts) : beamSearch(model, sources, opts);
}
