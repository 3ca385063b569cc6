/**
 * Validation during training: mean token loss and perplexity over the valid
 * split (no dropout), and corpus BLEU of greedy translations of up to
 * `valid-bleu-size` sentences against their reference text.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { S2SConfig } from '../config.ts';
import { makeBatch, planBatches, type EncodedPair } from '../data/batches.ts';
import { detokenize, sideTokenizer } from '../data/tokenize.ts';
import type { Vocab } from '../data/vocab.ts';
import { search } from '../decode/search.ts';
import { corpusBleu, defaultBleuTokenizer } from '../eval/bleu.ts';
import { batchTensors, lossSum, type Seq2Seq } from '../model/seq2seq.ts';

export interface ValidationSet {
  pairs: readonly EncodedPair[];
  /** The reference translation of each pair, as text. */
  references: readonly string[];
}

export interface ValidationResult {
  loss: number;
  ppl: number;
  /** null when no sentence is decoded (valid-bleu-size 0 or an empty split). */
  bleu: number | null;
}

/** Mean per-token loss over the whole set (no dropout, no label smoothing). */
export function validationLoss(model: Seq2Seq, pairs: readonly EncodedPair[], batchSize: number): number {
  let sum = 0;
  let tokens = 0;
  for (const indices of planBatches(pairs, { batchSize, batchTokens: 0 })) {
    const batch = makeBatch(pairs, indices);
    sum += tf.tidy(() => lossSum(model, batchTensors(batch)).dataSync()[0]!);
    tokens += batch.tgtTokens;
  }
  return tokens > 0 ? sum / tokens : Number.NaN;
}

export async function validate(model: Seq2Seq, set: ValidationSet, config: S2SConfig, tgtVocab: Vocab): Promise<ValidationResult> {
  const loss = validationLoss(model, set.pairs, config.training.batchSize);
  const n = Math.min(config.training.validBleuSize, set.pairs.length);
  let bleu: number | null = null;
  if (n > 0) {
    const sources = set.pairs.slice(0, n).map((p) => p.src);
    const results = await search(model, sources, { ...config.decoding, beam: 1, nbest: 1 });
    const kind = sideTokenizer(config.data, 'tgt').kind;
    const hypotheses = results.map((nbest) => detokenize(kind, tgtVocab.units(tgtVocab.decode(nbest[0]?.ids ?? []))));
    bleu = corpusBleu(hypotheses, [set.references.slice(0, n)], {
      tokenize: defaultBleuTokenizer(config.data.tgtLang),
      smoothMethod: 'exp',
      smoothValue: null,
      lowercase: false,
      effectiveOrder: false,
    }).score;
  }
  return { loss, ppl: Math.exp(loss), bleu };
}
