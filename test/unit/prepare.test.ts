import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { buildConfig } from '../../src/config.ts';
import { prepareTraining } from '../../src/train/prepare.ts';

const dir = mkdtempSync(join(tmpdir(), 's2s-prepare-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** English–Chinese pairs whose Chinese side holds Latin capitals, as real corpora do. */
const rows = Array.from({ length: 40 }, (_, i) => [`Tom bought ${i} iPhones in the USA.`, `汤姆在USA买了${i}部iPhone。`]);
const corpus = join(dir, 'caps.tsv');
writeFileSync(corpus, rows.map((r) => r.join('\t')).join('\n') + '\n');

const config = (data: Record<string, unknown>) => buildConfig('test', { data: { data: [corpus], validSize: 10, maxLen: 40, ...data } });

describe('prepareTraining', () => {
  test('a char-tokenized (Chinese) target keeps its Latin capitals in the validation references', async () => {
    const prepared = await prepareTraining(config({ lowercase: true }));
    assert.equal(prepared.valid.references.length, 10);
    assert.equal(prepared.valid.pairs.length, 10);
    const expected = new Set(rows.map((r) => r[1]));
    for (const ref of prepared.valid.references) {
      assert.match(ref, /USA.*iPhone/, ref);
      assert.ok(expected.has(ref), `${ref} is not a corpus target`);
    }
    // Training targets are not lowercased either: the target vocabulary holds the capitals.
    assert.notEqual(prepared.vocabs.tgt.encode(['iPhone'])[0], prepared.vocabs.tgt.encode(['iphone'])[0]);
  });

  test('a word-tokenized target with lowercase is lowercased in the references, as in training', async () => {
    const prepared = await prepareTraining(config({ lowercase: true, srcCol: 1, tgtCol: 0, srcLang: 'zh', tgtLang: 'en' }));
    for (const ref of prepared.valid.references) assert.match(ref, /^tom bought \d+ iphones in the usa\.$/, ref);
  });

  test('encodes both splits with the vocabularies and reports the counts', async () => {
    const prepared = await prepareTraining(config({}));
    assert.equal(prepared.train.size, 30);
    assert.equal(prepared.report.train, 30);
    assert.equal(prepared.report.valid, 10);
    const batch = prepared.train.batch(allIndices(prepared.train.size));
    assert.ok(batch.srcIds.every((id) => Number.isInteger(id) && id >= 0 && id < prepared.vocabs.src.size));
    assert.ok(batch.tgtOut.every((id) => Number.isInteger(id) && id >= 0 && id < prepared.vocabs.tgt.size));
  });

  test('a resumed run keeps its split and vocabularies', async () => {
    const first = await prepareTraining(config({}));
    const again = await prepareTraining(buildConfig('test', { data: { data: [corpus], validSize: 10, maxLen: 40 }, training: { seed: 99 } }), {
      split: first.split,
      srcVocab: first.vocabs.src,
      tgtVocab: first.vocabs.tgt,
    });
    assert.equal(again.vocabs.src, first.vocabs.src);
    assert.deepEqual(again.valid.references, first.valid.references);
    assert.deepEqual(again.train.batch(allIndices(30)), first.train.batch(allIndices(30)));
  });

  test('from a prepared dataset: the same vocabularies, split, references and batches as in memory', async () => {
    const preparedDir = join(dir, 'prepared');
    const reasons: string[] = [];
    const memory = await prepareTraining(config({}));
    const disk = await prepareTraining(config({}), undefined, { preparedDir, onPrepare: (r) => reasons.push(r) });
    assert.deepEqual(reasons, ['no prepared data']);
    assert.deepEqual(disk.vocabs.src.toJSON(), memory.vocabs.src.toJSON());
    assert.deepEqual(disk.split, memory.split);
    assert.deepEqual(disk.valid, memory.valid);
    assert.deepEqual(disk.report, memory.report);
    assert.deepEqual(Array.from(disk.train.srcLens), Array.from(memory.train.srcLens));
    assert.deepEqual(disk.train.batch([3, 0, 7]), memory.train.batch([3, 0, 7]));
    disk.close();
    // A resumed run with the same checkpoint data reuses the set.
    const resumed = await prepareTraining(config({}), { split: disk.split, srcVocab: disk.vocabs.src, tgtVocab: disk.vocabs.tgt }, {
      preparedDir,
      onPrepare: (r) => reasons.push(r),
    });
    assert.equal(reasons.length, 1);
    resumed.close();
  });
});

function allIndices(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
