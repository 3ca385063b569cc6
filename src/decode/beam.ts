/**
 * Beam search, batched across sentences and beam entries: every step is one
 * decoder call for all rows of all sentences still searching, with `beam`
 * rows per sentence (rows of hypotheses that ended are dead: score −∞).
 *
 * Per sentence and step, the `beam` best (hypothesis, token) extensions by
 * summed log-probability: each row's `beam` most probable tokens that may be
 * output (not <pad> or <sos>: NEVER_OUTPUT) come from tf.topk over the softmax
 * [rows, V] (a row's best extensions are its most probable tokens, whatever its
 * score), and the sentence's best `beam` of its rows' candidates are picked on
 * the JS side (bestExtensions), exactly what a topk over [sentences, beam·V] of
 * the summed log-probabilities gives. (An extension with a probability below
 * float32's range, ~1e-38, is impossible.)
 * An extension by <eos> is finished and never extended; one that reaches the
 * length limit is cut off; the rest are the next live hypotheses.
 * A sentence's search ends when no hypothesis is live, when `beam` hypotheses
 * have finished (fairseq's rule), or earlier when it has `nbest` finished ones
 * and no live one can beat the nbest-th of them: with length normalisation
 * (options.ts normalisedScore) the best a live hypothesis can reach is
 * logProb / limit^α (scoreBound), since logProb only falls.
 *
 * Why `beam` finished hypotheses end the search: with α > 0 that bound is
 * loose (a live hypothesis's logProb / limit^α beats almost any finished
 * score), so without the rule every search ran to the length limit, and a
 * weak model's repetitions, each token more probable than the sentence's
 * average, won on normalised score: `我在欢。。。。。。。。。。。` against
 * greedy's `我在欢。` (toy model, α = 1: 3.7× greedy's output length).
 */
import { EOS, PAD, SOS } from '../data/vocab.ts';
import type { Seq2Seq } from '../model/seq2seq.ts';
import { disposeDecoding, inInputOrder, keepRows, searchStep, startDecoding, type SearchState, type StepCandidates, type SearchWeights } from './search-step.ts';
import { NEVER_OUTPUT, candidatesPerRow, normalisedScore, outputLimit, scoreBound, type Hypothesis, type SearchOptions } from './options.ts';

/** A hypothesis as a chain back to <sos>, so that extensions share their prefix. */
interface Node {
  token: number;
  parent: Node | null;
  /** Attention over the real source tokens when this token was produced. */
  attention: Float32Array | null;
}

interface Live {
  node: Node | null;
  /** Summed log-probability. */
  logProb: number;
  /** Tokens so far. */
  length: number;
  /** Its row in the current decoder state. */
  row: number;
}

interface Ended {
  node: Node | null;
  score: number;
}

interface SentenceBeam {
  limit: number;
  srcLen: number;
  /** Sorted by logProb, best first. */
  live: Live[];
  /** Ended with <eos>. */
  finished: Ended[];
  /** Reached the length limit without <eos>: results only when too few finished. */
  cutOff: Ended[];
  done: boolean;
}

/**
 * @param sources source ids per sentence (without <sos>/<eos>)
 * @returns per sentence up to `nbest` hypotheses, best first, in input order
 */
export async function beamSearch(model: Seq2Seq, sources: readonly (readonly number[])[], opts: SearchOptions): Promise<Hypothesis[][]> {
  return inInputOrder(model, sources, opts, opts.beam, (batch, inputs) => beamBatch(model, inputs, batch, opts));
}

async function beamBatch(model: Seq2Seq, inputs: SearchWeights, sources: readonly (readonly number[])[], opts: SearchOptions): Promise<Hypothesis[][]> {
  const k = opts.beam;
  const vocab = model.dims.tgtVocab;
  const perRow = candidatesPerRow(k, vocab);
  const beams: SentenceBeam[] = sources.map((s) => ({
    limit: outputLimit(s.length, opts),
    srcLen: s.length,
    live: [],
    finished: [],
    cutOff: [],
    done: false,
  }));
  /**
   * Sentences still searching; sentence active[b] owns rows b·width … b·width + width − 1.
   * The first step has one hypothesis per sentence (<sos>), so it decodes one
   * row per sentence; every later step k.
   */
  let active = beams.flatMap((beam, i) => (beam.limit > 0 ? [i] : []));
  let width = 1;
  active.forEach((i, b) => (beams[i]!.live = [{ node: null, logProb: 0, length: 0, row: b }]));
  if (active.length > 0) {
    let dec: SearchState = startDecoding(model, inputs, sources, active);
    const paddedSrcLen = dec.enc.states.shape[1];
    try {
      while (active.length > 0) {
        const { previous, scores } = stepInputs(active.map((i) => beams[i]!), width);
        const step = await searchStep(model, dec, inputs, previous, perRow, opts.returnAttention);
        dec = step.dec;
        if (opts.pause) await opts.pause();
        const { probs, tokens, attention } = step.candidates;
        const { values, indices } = bestExtensions({ probs, tokens, perRow, scores, width, k, vocab });
        const stillActive: number[] = [];
        const parentRows: number[] = [];
        active.forEach((i, b) => {
          const beam = beams[i]!;
          const at = { first: b * width, candidates: b * k, values, indices, vocab, attention, paddedSrcLen };
          advance(beam, at, opts);
          if (beam.done) return;
          const slot = stillActive.length;
          stillActive.push(i);
          for (let j = 0; j < k; j++) parentRows.push((beam.live[j] ?? beam.live[0]!).row);
          beam.live.forEach((h, j) => (h.row = slot * k + j));
        });
        if (stillActive.length === 0) break;
        // Rows of one sentence share their encoder rows, so the encoder output needs gathering only when
        // sentences leave, or after the first step, when each sentence's one row becomes k.
        dec = keepRows(dec, parentRows, stillActive.length < active.length || width !== k);
        active = stillActive;
        width = k;
      }
    } finally {
      disposeDecoding(dec);
    }
  }
  return beams.map((beam) => nbestOf(beam, opts));
}

/** A step's candidates (see StepCandidates) and what picking among them needs. */
export interface RowCandidates extends Pick<StepCandidates, 'probs' | 'tokens'> {
  /** candidates per row: k plus as many as NEVER_OUTPUT may take (candidatesPerRow) */
  perRow: number;
  /** [rows] each row's summed log-probability so far (−∞: a dead row) */
  scores: Float32Array;
  /** rows per sentence */
  width: number;
  k: number;
  vocab: number;
}

/**
 * Per sentence, its k best extensions over all its rows by summed
 * log-probability, best first, leaving out NEVER_OUTPUT tokens; equal totals
 * in the order of row·V + token, as tf.topk over [sentences, width·V] orders them.
 * @returns [sentences·k] totals (−∞ where fewer than k are finite) and their row·V + token
 */
export function bestExtensions(c: RowCandidates): { values: Float64Array; indices: Int32Array } {
  const { width, k, perRow, vocab } = c;
  const sentences = c.scores.length / width;
  const values = new Float64Array(sentences * k).fill(-Infinity);
  const indices = new Int32Array(sentences * k);
  const pool: { total: number; index: number }[] = [];
  for (let b = 0; b < sentences; b++) {
    pool.length = 0;
    for (let j = 0; j < width; j++) {
      const row = b * width + j;
      const score = c.scores[row]!;
      if (score === -Infinity) continue;
      for (let i = row * perRow; i < (row + 1) * perRow; i++) {
        const token = c.tokens[i]!;
        if (!NEVER_OUTPUT.has(token)) pool.push({ total: score + Math.log(c.probs[i]!), index: j * vocab + token });
      }
    }
    pool.sort((x, y) => y.total - x.total || x.index - y.index);
    for (let i = 0; i < Math.min(k, pool.length); i++) {
      values[b * k + i] = pool[i]!.total;
      indices[b * k + i] = pool[i]!.index;
    }
  }
  return { values, indices };
}

/** Each row's previous token and summed log-probability (dead rows: −∞), `width` rows per sentence. */
function stepInputs(beams: readonly SentenceBeam[], width: number): { previous: Int32Array; scores: Float32Array } {
  const previous = new Int32Array(beams.length * width).fill(PAD);
  const scores = new Float32Array(beams.length * width).fill(-Infinity);
  beams.forEach((beam, b) =>
    beam.live.forEach((h, j) => {
      previous[b * width + j] = h.node ? h.node.token : SOS;
      scores[b * width + j] = h.logProb;
    }),
  );
  return { previous, scores };
}

/** One search step read back for a batch: every sentence's k best extensions, as `advance` sorts them. */
interface StepExtensions {
  /** The sentence's first row in the decoder state. */
  first: number;
  /** The sentence's first entry in values/indices (its k best extensions). */
  candidates: number;
  /** [sentences·k] top summed log-probabilities, best first per sentence. */
  values: Float64Array;
  /** [sentences·k] their index row·V + token within the sentence's width·V candidates (row relative to `first`). */
  indices: Int32Array;
  vocab: number;
  /** [rows·paddedSrcLen] or null. */
  attention: Float32Array | null;
  paddedSrcLen: number;
}

/** Sorts this step's top extensions of one sentence into finished, cut off and live, and decides whether it is done. */
function advance(beam: SentenceBeam, r: StepExtensions, opts: SearchOptions): void {
  const k = opts.beam;
  const alpha = opts.lengthPenalty;
  const next: Live[] = [];
  for (let c = r.candidates; c < r.candidates + k; c++) {
    const logProb = r.values[c]!;
    if (!Number.isFinite(logProb)) continue; // an extension of a dead row
    const j = Math.floor(r.indices[c]! / r.vocab);
    const token = r.indices[c]! - j * r.vocab;
    const parent = beam.live[j]!;
    const length = parent.length + 1;
    if (token === EOS) {
      beam.finished.push({ node: parent.node, score: normalisedScore(logProb, length, alpha) });
      continue;
    }
    const row = r.first + j;
    const attention = r.attention ? r.attention.subarray(row * r.paddedSrcLen, row * r.paddedSrcLen + beam.srcLen) : null;
    const node: Node = { token, parent: parent.node, attention };
    if (length >= beam.limit) beam.cutOff.push({ node, score: normalisedScore(logProb, length, alpha) });
    else next.push({ node, logProb, length, row });
  }
  beam.live = next;
  beam.done = next.length === 0 || beam.finished.length >= k || cannotImprove(beam, opts);
}

function cannotImprove(beam: SentenceBeam, opts: SearchOptions): boolean {
  if (beam.finished.length < opts.nbest) return false;
  const nth = beam.finished.map((h) => h.score).sort((a, b) => b - a)[opts.nbest - 1]!;
  return scoreBound(beam.live[0]!.logProb, beam.limit, opts.lengthPenalty) <= nth;
}

const byScore = (a: Ended, b: Ended): number => b.score - a.score;

/** The best `nbest` finished hypotheses, topped up with cut-off ones when too few finished. */
function nbestOf(beam: SentenceBeam, opts: SearchOptions): Hypothesis[] {
  if (beam.limit === 0) return [toHypothesis({ node: null, score: 0 }, opts.returnAttention)];
  const finished = [...beam.finished].sort(byScore);
  const topUp = [...beam.cutOff].sort(byScore).slice(0, Math.max(0, opts.nbest - finished.length));
  return finished
    .concat(topUp)
    .sort(byScore)
    .slice(0, opts.nbest)
    .map((h) => toHypothesis(h, opts.returnAttention));
}

function toHypothesis(h: Ended, withAttention: boolean): Hypothesis {
  const ids: number[] = [];
  const attention: number[][] = [];
  for (let n = h.node; n; n = n.parent) {
    ids.push(n.token);
    if (n.attention) attention.push(Array.from(n.attention));
  }
  ids.reverse();
  attention.reverse();
  return withAttention ? { ids, score: h.score, attention } : { ids, score: h.score };
}
