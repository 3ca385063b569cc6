/**
 * Text in, text out: the source goes through exactly the tokenizer and
 * vocabulary the checkpoint was trained with, is searched, and the output is
 * detokenized by the target language's detokenizer (Chinese without spaces),
 * a lowercased English target truecased first.
 */
import type { DataConfig, DecodingConfig, S2SConfig } from '../config.ts';
import { detokenize, sideTokenizer, tokenizeSide } from '../data/tokenize.ts';
import { truecase, truecasedSide } from '../data/truecase.ts';
import { UNK, type Vocab } from '../data/vocab.ts';
import type { Seq2Seq } from '../model/seq2seq.ts';
import { search, searchOptions, type Hypothesis } from './search.ts';
import { greedyStream, type StreamSentence } from './greedy.ts';

/** What translating needs from a checkpoint (a LoadedCheckpoint has it all). */
export interface TranslationModel {
  config: S2SConfig;
  model: Seq2Seq;
  srcVocab: Vocab;
  tgtVocab: Vocab;
}

export interface Candidate {
  translation: string;
  tokens: string[];
  score: number;
}

export interface Translation extends Candidate {
  /** The input line as given. */
  source: string;
  /** The source tokens the model saw (after truncation). */
  sourceTokens: string[];
  /** How many source tokens beyond the checkpoint's data.maxLen were dropped. */
  truncated: number;
  /** Best first; the first is the translation itself. */
  nbest: Candidate[];
  /** [tokens.length][sourceTokens.length], when asked for. */
  attention?: number[][];
}

export interface TranslateOptions {
  decoding: DecodingConfig;
  /** Return the attention matrix of the best translation. */
  attention: boolean;
  /** Awaited after every decoder step (see SearchOptions). */
  pause?: () => Promise<void>;
}

export interface PreparedSource {
  tokens: string[];
  ids: number[];
  truncated: number;
}

/**
 * Tokenizes a source sentence as in training (into subword pieces for a BPE
 * side) and maps it to ids, keeping at most `maxInputLen` tokens (decoding's
 * limit, not training's data.maxLen).
 */
export function prepareSource(text: string, data: DataConfig, srcVocab: Vocab, maxInputLen: number): PreparedSource {
  const all = srcVocab.pieces(tokenizeSide(data, 'src', text));
  const tokens = all.slice(0, maxInputLen);
  return { tokens, ids: srcVocab.encode(tokens), truncated: all.length - tokens.length };
}

/**
 * Target tokens of a hypothesis; with `sourceTokens`, each <unk> becomes the
 * source token with the highest attention weight at that step.
 * @param attention [ids.length][sourceTokens.length]
 */
export function targetTokens(
  ids: readonly number[],
  tgtVocab: Vocab,
  replaceUnk?: { attention: readonly (readonly number[])[]; sourceTokens: readonly string[] },
): string[] {
  const tokens = tgtVocab.decode(ids);
  if (!replaceUnk || replaceUnk.sourceTokens.length === 0) return tokens;
  return tokens.map((token, t) => {
    if (ids[t] !== UNK) return token;
    const weights = replaceUnk.attention[t] ?? [];
    let best = 0;
    weights.forEach((w, j) => {
      if (w > weights[best]!) best = j;
    });
    return replaceUnk.sourceTokens[best] ?? token;
  });
}

/**
 * Output tokens as text: a lowercased word target gets its case back from the
 * target vocabulary's truecasing table (no table: sentence-initial capitals
 * only), then the target language's detokenizer joins the tokens.
 */
export function targetText(tokens: readonly string[], data: Readonly<DataConfig>, tgtVocab: Vocab): string {
  const kind = sideTokenizer(data, 'tgt').kind;
  const units = tgtVocab.units(tokens);
  return detokenize(kind, truecasedSide(data) ? truecase(units, tgtVocab.cased ?? new Map()) : units);
}

/** Translates sentences (any number; decoded in batches of decoding.batchSize). */
export async function translate(m: TranslationModel, texts: readonly string[], opts: TranslateOptions): Promise<Translation[]> {
  const { data, decoding } = { data: m.config.data, decoding: opts.decoding };
  const prepared = texts.map((text) => prepareSource(text, data, m.srcVocab, decoding.maxInputLen));
  const nonEmpty = prepared.flatMap((p, i) => (p.ids.length > 0 ? [i] : []));
  const found = await search(
    m.model,
    nonEmpty.map((i) => prepared[i]!.ids),
    { ...decoding, returnAttention: opts.attention || decoding.replaceUnk, ...(opts.pause ? { pause: opts.pause } : {}) },
  );
  const nbestOf = new Map(nonEmpty.map((i, k) => [i, found[k]!]));
  return texts.map((source, i) => translation(m, opts, source, prepared[i]!, nbestOf.get(i) ?? [nothing()]));
}

/** A text to translateStream: `done` gets its translation. */
export interface StreamText {
  text: string;
  done(translation: Translation): void;
}

/**
 * Greedy translation (decoding.beam must be 1) of texts that arrive while it
 * runs: before every decoder step `take(max)` hands up to `max` more texts,
 * which join the sentences being searched (at most decoding.batchSize
 * together); each text's `done` is called as soon as its search ends, with
 * what translate() gives for it. Resolves when nothing is searching and
 * `take` gives nothing.
 */
export async function translateStream(m: TranslationModel, take: (max: number) => StreamText[], opts: TranslateOptions): Promise<void> {
  const { data, decoding } = { data: m.config.data, decoding: opts.decoding };
  if (decoding.beam !== 1) throw new RangeError(`translateStream searches greedily (beam 1), got beam ${decoding.beam}`);
  const searchOpts = searchOptions({ ...decoding, returnAttention: opts.attention || decoding.replaceUnk, ...(opts.pause ? { pause: opts.pause } : {}) });
  await greedyStream(m.model, searchOpts, decoding.batchSize, (max) => {
    const sentences: StreamSentence[] = [];
    // A text without tokens is answered at once and leaves room for another.
    while (sentences.length < max) {
      const texts = take(max - sentences.length);
      if (texts.length === 0) break;
      for (const { text, done } of texts) {
        const p = prepareSource(text, data, m.srcVocab, decoding.maxInputLen);
        if (p.ids.length === 0) done(translation(m, opts, text, p, [nothing()]));
        else sentences.push({ ids: p.ids, found: (h) => done(translation(m, opts, text, p, [h])) });
      }
    }
    return sentences;
  });
}

/** The hypothesis of a sentence without source tokens. */
const nothing = (): Hypothesis => ({ ids: [], score: 0, attention: [] });

/** A sentence's translation from its n-best hypotheses. */
function translation(m: TranslationModel, opts: TranslateOptions, source: string, p: PreparedSource, hyps: Hypothesis[]): Translation {
  const { data, decoding } = { data: m.config.data, decoding: opts.decoding };
  const candidates = hyps.map((h) => {
    const replace = decoding.replaceUnk && h.attention ? { attention: h.attention, sourceTokens: p.tokens } : undefined;
    const tokens = targetTokens(h.ids, m.tgtVocab, replace);
    return { translation: targetText(tokens, data, m.tgtVocab), tokens, score: h.score };
  });
  const best = candidates[0]!;
  return {
    source,
    sourceTokens: p.tokens,
    truncated: p.truncated,
    ...best,
    nbest: candidates,
    ...(opts.attention ? { attention: hyps[0]!.attention ?? [] } : {}),
  };
}
