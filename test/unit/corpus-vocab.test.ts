/**
 * corpusVocabs (what `s2s vocab` reports and saves) from prepare's streaming
 * count equals what the in-memory path gives: loadDataset + buildVocabs, and
 * coverage over every training sentence's pieces.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, type DataConfig } from '../../src/config.ts';
import { corpusVocabs } from '../../src/data/corpus-vocab.ts';
import { buildVocabs, loadDataset } from '../../src/data/dataset.ts';
import { coverage } from '../../src/data/vocab.ts';
import { Rng } from '../../src/train/rng.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const toy = resolve(repoRoot, 'data', 'toy', 'toy.tsv');
const work = mkdtempSync(join(tmpdir(), 's2s-corpus-vocab-'));
after(() => rmSync(work, { recursive: true, force: true }));

const config = (over: Partial<DataConfig> = {}): DataConfig => ({ ...DEFAULTS.data, data: [toy], validSize: 30, maxLen: 12, ...over });

async function assertSameAsMemory(data: DataConfig, workers = 1, pieceBytes?: number): Promise<void> {
  const streamed = await corpusVocabs(data, { seed: 4, workers, pieceBytes });
  const memory = await loadDataset(data, { seed: 4 });
  const vocabs = buildVocabs(memory.train, data, memory.trainTargets);
  assert.deepEqual(streamed.report, memory.report);
  assert.deepEqual(streamed.split, memory.split);
  assert.deepEqual(streamed.valid, memory.valid);
  for (const side of ['src', 'tgt'] as const) {
    assert.deepEqual(streamed.vocabs[side].toJSON(), vocabs[side].toJSON(), side);
    assert.equal(streamed.vocabs[side].subword?.text(), vocabs[side].subword?.text());
    const oov = coverage(vocabs[side], memory.train.map((p) => vocabs[side].pieces(p[side]))).rate;
    assert.equal(streamed.trainOov[side], oov, side);
  }
}

describe('corpusVocabs', () => {
  test('the toy corpus: word and character vocabularies, min-freq, truecasing, --max-len', async () => {
    await assertSameAsMemory(config({ srcMinFreq: 2 }));
    await assertSameAsMemory(config({ lowercase: false, maxLen: 6, validSize: 10 }));
  });

  test('BPE on both sides', async () => {
    await assertSameAsMemory(config({ srcTokenizer: 'bpe', tgtTokenizer: 'bpe', srcVocabSize: 200, tgtVocabSize: 150 }));
  });

  test('a validation file', async () => {
    const valid = join(work, 'valid.tsv');
    writeFileSync(valid, 'I like tea.\t我喜欢茶。\nWhere is the zebra?\t斑马在哪里？\n');
    await assertSameAsMemory(config({ valid }));
  });

  test('on worker threads, a corpus with unknown tokens in training (min-freq 3)', async () => {
    const rng = new Rng('corpus-vocab');
    const lines = Array.from({ length: 3000 }, () => {
      const words = Array.from({ length: 1 + rng.int(9) }, () => `Word${rng.int(900).toString(36)}`);
      return `${words.join(' ')}.\t${words.join('')}。`;
    });
    const corpus = join(work, 'many.tsv');
    writeFileSync(corpus, lines.join('\n') + '\n');
    const data = config({ data: [corpus], maxLen: 8, validSize: 100, srcMinFreq: 3, tgtMinFreq: 3 });
    await assertSameAsMemory(data, 2, 2000);
    assert.ok((await corpusVocabs(data, { seed: 4 })).trainOov.src > 0);
  });
});
