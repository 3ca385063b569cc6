import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/cli/errors.ts';
import { buildConfig } from '../../src/config.ts';
import { makeBatch } from '../../src/data/batches.ts';
import { Vocab } from '../../src/data/vocab.ts';
import { batchTensors, createModel, disposeModel, forwardLogits } from '../../src/model/seq2seq.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-ckpt-'));
after(() => rmSync(work, { recursive: true, force: true }));
before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

const config = buildConfig('unit', { model: { embSize: 8, hiddenSize: 8, attention: 'concat', bidirectional: true } });
const srcVocab = Vocab.build([['a', 'b', 'c'], ['d', 'e']], { minFreq: 1, maxSize: 0 });
const tgtVocab = Vocab.build([['x', 'y'], ['z']], { minFreq: 1, maxSize: 0 });
const split = { kind: 'holdout' as const, seed: 1, validSize: 0, validKeys: [] };

async function saved(name: string) {
  const model = createModel(config.model, srcVocab.size, tgtVocab.size, 4);
  const dir = join(work, name);
  await saveCheckpoint(dir, { config, srcVocab, tgtVocab, split, model });
  return { model, dir };
}

const rejects = (dir: string, pattern: RegExp, file: string) =>
  assert.rejects(loadCheckpoint(dir), (err: unknown) => {
    assert.ok(err instanceof UserError, String(err));
    assert.match(err.message, pattern);
    assert.ok(err.where?.endsWith(file), `names ${err.where}`);
    return true;
  });

describe('checkpoints', () => {
  test('save → load gives identical logits, config and vocabularies', async () => {
    const { model, dir } = await saved('roundtrip');
    const batch = makeBatch([{ src: [4, 5, 6], tgt: [4, 5] }, { src: [7], tgt: [6] }], [0, 1]);
    const before = tf.tidy(() => Array.from(forwardLogits(model, batchTensors(batch)).dataSync()));
    const loaded = await loadCheckpoint(dir);
    const afterLoad = tf.tidy(() => Array.from(forwardLogits(loaded.model, batchTensors(batch)).dataSync()));
    assert.deepEqual(afterLoad, before);
    assert.deepEqual(loaded.config, config);
    assert.deepEqual(loaded.tgtVocab.tokens, tgtVocab.tokens);
    disposeModel(model);
    disposeModel(loaded.model);
  });

  test('a truncated weights file is detected and named', async () => {
    const { model, dir } = await saved('truncated');
    disposeModel(model);
    truncateSync(join(dir, 'weights.bin'), 100);
    await rejects(dir, /truncated or partly written/, 'weights.bin');
  });

  test('a changed vocabulary is detected by its checksum', async () => {
    const { model, dir } = await saved('vocab');
    disposeModel(model);
    const path = join(dir, 'tgt.vocab.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"x"', '"q"'));
    await rejects(dir, /checksum/, 'tgt.vocab.json');
  });

  test('a directory that is not a checkpoint, and a crash before the manifest was written', async () => {
    const empty = join(work, 'empty');
    mkdirSync(empty);
    await rejects(empty, /not an s2s checkpoint/, 'empty');
    const { model, dir } = await saved('partial');
    disposeModel(model);
    rmSync(join(dir, 'checkpoint.json'));
    await rejects(dir, /not an s2s checkpoint/, 'partial');
  });

  test('a checkpoint format from another s2s version is a clear error', async () => {
    const { model, dir } = await saved('version');
    disposeModel(model);
    const path = join(dir, 'checkpoint.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"version": 1', '"version": 99'));
    await rejects(dir, /format version 99 .* not supported/, 'checkpoint.json');
  });
});
