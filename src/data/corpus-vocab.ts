/**
 * The vocabularies of a corpus and how well they cover it (`s2s vocab`),
 * from prepare's streaming counting pass (count-pass.ts): the corpus is never
 * held in memory, only the token counts, the validation pairs and the
 * hold-out candidates. The vocabularies, split and report are the ones
 * loadDataset + buildVocabs make from the same config.
 */
import type { DataConfig } from '../config.ts';
import { UserError } from '../errors.ts';
import { countCorpus, countedVocabs, discardSinks } from './count-pass.ts';
import type { DatasetReport, TokenizedPair } from './dataset.ts';
import { formatSkip } from './corpus.ts';
import type { SplitRecord } from './split.ts';
import type { TokenTable } from './token-count.ts';
import { UNK, type Vocab } from './vocab.ts';

export interface CorpusVocabs {
  report: DatasetReport;
  split: SplitRecord;
  vocabs: { src: Vocab; tgt: Vocab };
  valid: TokenizedPair[];
  /** Per side, the share of training tokens (a BPE side: pieces) the vocabulary maps to UNK. */
  trainOov: { src: number; tgt: number };
}

export interface CorpusVocabOptions {
  /** The holdout split's seed (training.seed). */
  seed: number;
  /** Threads for a tab-separated corpus (1 or absent: this thread alone). */
  workers?: number;
  /** Bytes of corpus per piece a worker takes (tests use small pieces). */
  pieceBytes?: number;
}

/** What `coverage(vocab, trainingSentences.map(vocab.pieces))` gives, from the training counts alone. */
function countedOov(vocab: Vocab, table: TokenTable): number {
  let tokens = 0;
  let unknown = 0;
  for (const [unit, n] of table.countMap()) {
    const pieces = vocab.subword ? vocab.subword.unitPieces(unit) : [unit];
    tokens += n * pieces.length;
    for (const piece of pieces) if (vocab.id(piece) === UNK) unknown += n;
  }
  return tokens === 0 ? 0 : unknown / tokens;
}

/** Reads the configured corpus once and builds its vocabularies. Throws, as loadDataset does, when no pair is usable. */
export async function corpusVocabs(data: Readonly<DataConfig>, opts: CorpusVocabOptions): Promise<CorpusVocabs> {
  const counted = await countCorpus({ data, seed: opts.seed, workers: opts.workers, pieceBytes: opts.pieceBytes }, discardSinks());
  if (counted.trainCount === 0) {
    throw new UserError('no training pairs left after filtering and the validation split', {
      where: data.src ?? data.data.join(', '),
      hint: 'check --max-len and --valid-size',
    });
  }
  const vocabs = countedVocabs(counted, data);
  const valid = counted.validPairs.map(({ item }) => ({ src: item.src, tgt: item.tgt, origin: item.origin }));
  const { counts, skips } = counted;
  return {
    report: {
      read: counts.read,
      skipped: skips.count,
      firstSkip: skips.first && formatSkip(skips.first),
      tooLong: counts.tooLong,
      train: counted.trainCount,
      valid: valid.length,
    },
    split: counted.split,
    vocabs,
    valid,
    trainOov: { src: countedOov(vocabs.src, counted.table.src), tgt: countedOov(vocabs.tgt, counted.table.tgt) },
  };
}
