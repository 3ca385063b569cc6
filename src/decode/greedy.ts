/**
 * Greedy search: at each step every sentence of the batch takes its most
 * probable next token that may be output (not <pad> or <sos>: NEVER_OUTPUT).
 * Sentences leave the batch when they emit <eos> or reach their length limit;
 * the encoder runs once per batch.
 */
import { EOS, SOS } from '../data/vocab.ts';
import type { Seq2Seq } from '../model/seq2seq.ts';
import { disposeDecoding, inInputOrder, keepRows, searchStep, startDecoding, type SearchState, type TargetInputs } from './search-step.ts';
import { NEVER_OUTPUT, candidatesPerRow, normalisedScore, outputLimit, type Hypothesis, type SearchOptions } from './options.ts';

/** The output so far of one sentence. */
interface Output {
  ids: number[];
  logProb: number;
  /** Counted for normalisation: ids plus the <eos> when there is one. */
  length: number;
  attention: number[][];
}

/**
 * @param sources source ids per sentence (without <sos>/<eos>)
 * @returns one hypothesis per sentence, in input order
 */
export async function greedySearch(model: Seq2Seq, sources: readonly (readonly number[])[], opts: SearchOptions): Promise<Hypothesis[][]> {
  const best = await inInputOrder(model, sources, opts, 1, (batch, inputs) => greedyBatch(model, inputs, batch, opts));
  return best.map((h) => [h]);
}

async function greedyBatch(model: Seq2Seq, inputs: TargetInputs, sources: readonly (readonly number[])[], opts: SearchOptions): Promise<Hypothesis[]> {
  const limits = sources.map((s) => outputLimit(s.length, opts));
  const outputs: Output[] = sources.map(() => ({ ids: [], logProb: 0, length: 0, attention: [] }));
  /** rows[r] = the sentence that row r of the decoder state belongs to. */
  let rows = sources.map((_, i) => i).filter((i) => limits[i]! > 0);
  if (rows.length > 0) {
    let dec: SearchState = startDecoding(model, sources, rows);
    const srcLen = dec.enc.states.shape[1];
    let previous = new Int32Array(rows.length).fill(SOS);
    const perRow = candidatesPerRow(1, model.dims.tgtVocab);
    try {
      while (rows.length > 0) {
        const step = await searchStep(model, dec, inputs, previous, perRow, opts.returnAttention);
        dec = step.dec;
        if (opts.pause) await opts.pause();
        const { probs, tokens: candidates, attention } = step.candidates;
        const tokens = new Int32Array(rows.length);
        const continuing: number[] = [];
        rows.forEach((sentence, r) => {
          const out = outputs[sentence]!;
          // The most probable token that may be output (candidates are in order of probability).
          let c = r * perRow;
          while (NEVER_OUTPUT.has(candidates[c]!)) c++;
          const token = (tokens[r] = candidates[c]!);
          out.logProb += Math.log(probs[c]!);
          out.length += 1;
          if (token === EOS) return;
          out.ids.push(token);
          if (attention) out.attention.push(Array.from(attention.subarray(r * srcLen, r * srcLen + sources[sentence]!.length)));
          if (out.ids.length < limits[sentence]!) continuing.push(r);
        });
        if (continuing.length === 0) break;
        if (continuing.length < rows.length) dec = keepRows(dec, continuing, true);
        previous = Int32Array.from(continuing, (r) => tokens[r]!);
        rows = continuing.map((r) => rows[r]!);
      }
    } finally {
      disposeDecoding(dec);
    }
  }
  return outputs.map((o) => ({
    ids: o.ids,
    score: normalisedScore(o.logProb, o.length, opts.lengthPenalty),
    ...(opts.returnAttention ? { attention: o.attention } : {}),
  }));
}
