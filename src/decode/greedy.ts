/**
 * Greedy search: at each step every sentence of the batch takes its most
 * probable next token that may be output (not <pad> or <sos>: NEVER_OUTPUT).
 * Sentences end when they emit <eos> or reach their length limit (their rows
 * leave the batch once a quarter of it has ended, or when others join; the
 * encoder memory is then cut to the longest source left); each sentence is
 * encoded once, when it enters the batch. Offline, a batch is
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
  searchWeights,
  type SearchState,
  type SearchWeights,
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
  const inputs = searchWeights(model, 0);
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

async function greedyRows(model: Seq2Seq, inputs: SearchWeights, opts: SearchOptions, maxRows: number, take: (max: number) => StreamSentence[]): Promise<void> {
  const perRow = candidatesPerRow(1, model.dims.tgtVocab);
  /** rows[r]: the sentence decoder row r belongs to, or null once it ended (until the rows are compacted). */
  let rows: (Row | null)[] = [];
  /** Rows still searching. */
  let live = 0;
  let dec: SearchState | null = null;
  /** Each row's previous output token. */
  let previous = new Int32Array(0);
  try {
    for (;;) {
      const joining: Row[] = [];
      for (const sentence of take(maxRows - live)) {
        const row = { sentence, limit: outputLimit(sentence.ids.length, opts), out: { ids: [], logProb: 0, length: 0, attention: [] } };
        if (row.limit > 0) joining.push(row);
        else sentence.found(hypothesis(row.out, opts));
      }
      // Rows that ended leave the decoding when others join, or once they are a quarter of it:
      // selecting the rows that go on copies the whole decoding, more than an ended row costs a step.
      const ended = rows.length - live;
      if (dec !== null && ended > 0 && (joining.length > 0 || live === 0 || ended * 4 >= rows.length)) {
        const kept = rows.flatMap((row, r) => (row ? [r] : []));
        if (kept.length === 0) {
          disposeDecoding(dec);
          dec = null;
        } else {
          dec = keepRows(dec, kept, true, Math.max(1, ...kept.map((r) => rows[r]!.sentence.ids.length)));
        }
        previous = Int32Array.from(kept, (r) => previous[r]!);
        rows = kept.map((r) => rows[r]!);
      }
      if (joining.length > 0) {
        const fresh = startDecoding(model, inputs, joining.map((r) => r.sentence.ids), joining.map((_, i) => i));
        dec = dec ? mergeDecoding(dec, fresh) : fresh;
        rows = rows.concat(joining);
        live += joining.length;
        const next = new Int32Array(rows.length).fill(SOS);
        next.set(previous);
        previous = next;
      }
      if (dec === null) return;
      const step = await searchStep(model, dec, inputs, previous, perRow, opts.returnAttention);
      dec = step.dec;
      const srcLen = dec.enc.states.shape[1];
      const { probs, tokens: candidates, attention } = step.candidates;
      rows.forEach((row, r) => {
        if (row === null) return;
        const { sentence, limit, out } = row;
        // The most probable token that may be output (candidates are in order of probability).
        let c = r * perRow;
        while (NEVER_OUTPUT.has(candidates[c]!)) c++;
        const token = (previous[r] = candidates[c]!);
        out.logProb += Math.log(probs[c]!);
        out.length += 1;
        if (token !== EOS) {
          out.ids.push(token);
          if (attention) out.attention.push(Array.from(attention.subarray(r * srcLen, r * srcLen + sentence.ids.length)));
          if (out.ids.length < limit) return;
        }
        rows[r] = null;
        live -= 1;
        sentence.found(hypothesis(out, opts));
      });
      // After the step's results are handed out: a server answers them now, not one step later, and
      // their clients' next requests can be read in time for the next join.
      if (opts.pause) await opts.pause();
    }
  } finally {
    if (dec) disposeDecoding(dec);
  }
}
