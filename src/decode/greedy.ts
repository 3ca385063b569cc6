/**
 * Greedy search: at each step every sentence of the batch takes its most
 * probable next token that may be output (not <pad> or <sos>: NEVER_OUTPUT).
 * Sentences leave the batch when they emit <eos> or reach their length limit;
 * each sentence is encoded once, when it enters the batch. Offline, a batch is
 * a length-sorted slice of the input (greedySearch); a server streams
 * sentences in (greedyStream): they join the rows still searching between
 * steps, and each leaves with its result as soon as it ends. A row's result
 * does not depend on the other rows (the padding of a shorter source gets no
 * attention), so both give the same translations.
 */
import { EOS, SOS } from '../data/vocab.ts';
import type { Seq2Seq } from '../model/seq2seq.ts';
import {
  disposeDecoding,
  inInputOrder,
  keepRows,
  mergeDecoding,
  searchStep,
  startDecoding,
  targetInputs,
  type SearchState,
  type TargetInputs,
} from './search-step.ts';
import { NEVER_OUTPUT, candidatesPerRow, normalisedScore, outputLimit, type Hypothesis, type SearchOptions } from './options.ts';

/** A sentence for greedyStream: its source ids (without <sos>/<eos>), and where its hypothesis goes. */
export interface StreamSentence {
  ids: readonly number[];
  found(hypothesis: Hypothesis): void;
}

/** The output so far of one sentence. */
interface Output {
  ids: number[];
  logProb: number;
  /** Counted for normalisation: ids plus the <eos> when there is one. */
  length: number;
  attention: number[][];
}

/** A sentence searching: it owns one decoder row. */
interface Row {
  sentence: StreamSentence;
  limit: number;
  out: Output;
}

/**
 * @param sources source ids per sentence (without <sos>/<eos>)
 * @returns one hypothesis per sentence, in input order
 */
export async function greedySearch(model: Seq2Seq, sources: readonly (readonly number[])[], opts: SearchOptions): Promise<Hypothesis[][]> {
  return inInputOrder(model, sources, opts, 1, async (batch, inputs) => {
    const found: Hypothesis[][] = new Array(batch.length);
    let given = false;
    const take = (): StreamSentence[] => {
      if (given) return [];
      given = true;
      return batch.map((ids, i) => ({ ids, found: (h) => (found[i] = [h]) }));
    };
    await greedyRows(model, inputs, opts, batch.length, take);
    return found;
  });
}

/**
 * Greedy search over sentences that arrive while it runs: before every step,
 * `take(max)` hands up to `max` more (max = maxRows − rows searching), which
 * are encoded and join the search; each sentence's `found` is called as soon
 * as it ends. Resolves when no sentence is searching and `take` gives none.
 * @param maxRows most sentences searched together
 */
export async function greedyStream(model: Seq2Seq, opts: SearchOptions, maxRows: number, take: (max: number) => StreamSentence[]): Promise<void> {
  const inputs = targetInputs(model, 0);
  try {
    await greedyRows(model, inputs, opts, maxRows, take);
  } finally {
    inputs.dispose();
  }
}

function hypothesis(o: Output, opts: SearchOptions): Hypothesis {
  return {
    ids: o.ids,
    score: normalisedScore(o.logProb, o.length, opts.lengthPenalty),
    ...(opts.returnAttention ? { attention: o.attention } : {}),
  };
}

async function greedyRows(model: Seq2Seq, inputs: TargetInputs, opts: SearchOptions, maxRows: number, take: (max: number) => StreamSentence[]): Promise<void> {
  const perRow = candidatesPerRow(1, model.dims.tgtVocab);
  /** rows[r]: the sentence decoder row r belongs to. */
  let rows: Row[] = [];
  let dec: SearchState | null = null;
  /** Each row's previous output token. */
  let previous = new Int32Array(0);
  try {
    for (;;) {
      const joining: Row[] = [];
      for (const sentence of take(maxRows - rows.length)) {
        const row = { sentence, limit: outputLimit(sentence.ids.length, opts), out: { ids: [], logProb: 0, length: 0, attention: [] } };
        if (row.limit > 0) joining.push(row);
        else sentence.found(hypothesis(row.out, opts));
      }
      if (joining.length > 0) {
        const fresh = startDecoding(model, joining.map((r) => r.sentence.ids), joining.map((_, i) => i));
        dec = dec ? mergeDecoding(dec, fresh) : fresh;
        rows = rows.concat(joining);
        const next = new Int32Array(rows.length).fill(SOS);
        next.set(previous);
        previous = next;
      }
      if (dec === null) return;
      const step = await searchStep(model, dec, inputs, previous, perRow, opts.returnAttention);
      dec = step.dec;
      if (opts.pause) await opts.pause();
      const srcLen = dec.enc.states.shape[1];
      const { probs, tokens: candidates, attention } = step.candidates;
      const tokens = new Int32Array(rows.length);
      const continuing: number[] = [];
      rows.forEach(({ sentence, limit, out }, r) => {
        // The most probable token that may be output (candidates are in order of probability).
        let c = r * perRow;
        while (NEVER_OUTPUT.has(candidates[c]!)) c++;
        const token = (tokens[r] = candidates[c]!);
        out.logProb += Math.log(probs[c]!);
        out.length += 1;
        if (token !== EOS) {
          out.ids.push(token);
          if (attention) out.attention.push(Array.from(attention.subarray(r * srcLen, r * srcLen + sentence.ids.length)));
          if (out.ids.length < limit) return continuing.push(r);
        }
        sentence.found(hypothesis(out, opts));
      });
      if (continuing.length === 0) {
        disposeDecoding(dec);
        dec = null;
      } else if (continuing.length < rows.length) {
        dec = keepRows(dec, continuing, true);
      }
      previous = Int32Array.from(continuing, (r) => tokens[r]!);
      rows = continuing.map((r) => rows[r]!);
    }
  } finally {
    if (dec) disposeDecoding(dec);
  }
}
