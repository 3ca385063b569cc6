import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';
import { buildConfig } from '../../src/config.ts';
import { makeBatch } from '../../src/data/batches.ts';
import { Vocab } from '../../src/data/vocab.ts';
import { batchTensors, createModel, disposeModel, forwardLogits } from '../../src/model/seq2seq.ts';
import { loadCheckpoint, resolveCheckpointDir, saveCheckpoint } from '../../src/train/checkpoint.ts';

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

  // The manifest's checksums catch edited files; these checkpoints are written
  // consistently (valid checksums) from pieces that do not belong together.
  test('weights whose shapes do not match the saved model config are named', async () => {
    const model = createModel(config.model, srcVocab.size, tgtVocab.size, 4);
    const dir = join(work, 'shapes');
    const wider = buildConfig('unit', { model: { ...config.model, hiddenSize: 12 } });
    await saveCheckpoint(dir, { config: wider, srcVocab, tgtVocab, split, model });
    disposeModel(model);
    await rejects(dir, /has shape \[.*\] but the model config needs/, 'model.json');
  });

  test('a checkpoint from a different model config (another attention) is named', async () => {
    const model = createModel(config.model, srcVocab.size, tgtVocab.size, 4);
    const dir = join(work, 'other-config');
    const other = buildConfig('unit', { model: { ...config.model, attention: 'general' } });
    await saveCheckpoint(dir, { config: other, srcVocab, tgtVocab, split, model });
    await rejects(dir, /weights have parameters the model config does not|weights lack parameter/, 'model.json');
    // A config that cannot describe any model is named as the checkpoint's config.json.
    // (buildConfig refuses such a config, so the saved config.json is edited, with the manifest's checksum to match.)
    const impossible = join(work, 'impossible-config');
    await saveCheckpoint(impossible, { config, srcVocab, tgtVocab, split, model });
    disposeModel(model);
    const configJson = JSON.parse(readFileSync(join(impossible, 'config.json'), 'utf8')) as { model: Record<string, unknown> };
    configJson.model.attention = 'dot';
    const edited = Buffer.from(JSON.stringify(configJson));
    writeFileSync(join(impossible, 'config.json'), edited);
    const manifest = JSON.parse(readFileSync(join(impossible, 'checkpoint.json'), 'utf8')) as { files: Record<string, { bytes: number; sha256: string }> };
    manifest.files['config.json'] = { bytes: edited.byteLength, sha256: createHash('sha256').update(edited).digest('hex') };
    writeFileSync(join(impossible, 'checkpoint.json'), JSON.stringify(manifest));
    await rejects(impossible, /dot attention needs equal/, 'config.json');
  });

  test('vocabularies that do not match the weights name the vocabulary file', async () => {
    const model = createModel(config.model, srcVocab.size, tgtVocab.size, 4);
    const dir = join(work, 'vocab-size');
    const bigger = Vocab.build([['x', 'y', 'w', 'v']], { minFreq: 1, maxSize: 0 });
    await saveCheckpoint(dir, { config, srcVocab, tgtVocab: bigger, split, model });
    disposeModel(model);
    await rejects(dir, new RegExp(`tgt vocabulary has ${bigger.size} entries but the weights embed ${tgtVocab.size}`), 'tgt.vocab.json');
  });

  test('a file the manifest lists but that is missing is named', async () => {
    const { model, dir } = await saved('missing-file');
    disposeModel(model);
    rmSync(join(dir, 'optimizer.json'), { force: true });
    rmSync(join(dir, 'src.vocab.json'));
    await rejects(dir, /missing/, 'src.vocab.json');
  });

  test('a crash mid-save: a half-written temp dir is ignored, a crash mid-swap recovers the old checkpoint', async () => {
    const out = join(work, 'run');
    const { model } = await saved('run-src');
    await saveCheckpoint(join(out, 'last'), { config, srcVocab, tgtVocab, split, model });
    // A save killed while writing files: its temp dir has some files and no manifest.
    const tmp = join(out, '.last.tmp-99999-1');
    mkdirSync(tmp);
    writeFileSync(join(tmp, 'config.json'), '{"trunc');
    assert.equal((await loadCheckpoint(out)).dir, join(out, 'last'));
    // The next save removes it.
    await saveCheckpoint(join(out, 'last'), { config, srcVocab, tgtVocab, split, model });
    assert.ok(!existsSync(tmp));
    // Killed between the two renames of the swap: only .last.old is complete.
    renameSync(join(out, 'last'), join(out, '.last.old'));
    cpSync(join(out, '.last.old'), tmp, { recursive: true });
    rmSync(join(tmp, 'checkpoint.json'));
    assert.equal(resolveCheckpointDir(out), join(out, '.last.old'));
    const loaded = await loadCheckpoint(out);
    disposeModel(loaded.model);
    disposeModel(model);
  });

  test('a checkpoint that cannot be written (parent is a file) is a UserError, and nothing is left behind', async () => {
    const { model } = await saved('unwritable-src');
    const blocker = join(work, 'a-file');
    writeFileSync(blocker, 'not a directory');
    await assert.rejects(saveCheckpoint(join(blocker, 'run', 'last'), { config, srcVocab, tgtVocab, split, model }), (err: unknown) => {
      assert.ok(err instanceof UserError, String(err));
      assert.match(err.message, /cannot write checkpoint \(ENOTDIR\); the previous checkpoint is intact/);
      assert.equal(err.where, join(blocker, 'run', 'last'));
      return true;
    });
    assert.equal(readFileSync(blocker, 'utf8'), 'not a directory');
    disposeModel(model);
  });
});

describe('readers during a save', () => {
  test('loads interleaved with saves into the same directory always see one whole checkpoint, old or new', async () => {
    const a = createModel(config.model, srcVocab.size, tgtVocab.size, 4);
    const b = createModel(config.model, srcVocab.size, tgtVocab.size, 5);
    const run = join(work, 'busy-run');
    const save = (model: typeof a) => saveCheckpoint(join(run, 'last'), { config, srcVocab, tgtVocab, split, model });
    await save(a);
    const shaA = JSON.parse(readFileSync(join(run, 'last', 'checkpoint.json'), 'utf8')).files['weights.bin'].sha256;
    await save(b);
    const shaB = JSON.parse(readFileSync(join(run, 'last', 'checkpoint.json'), 'utf8')).files['weights.bin'].sha256;
    assert.notEqual(shaA, shaB);
    let saving = true;
    const saver = (async () => {
      // A save every few milliseconds: far more often than training saves, so loads keep overlapping them.
      for (let i = 0; i < 30; i++) {
        await save(i % 2 === 0 ? a : b);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      saving = false;
    })();
    const seen = new Set<string>();
    let loads = 0;
    while (saving) {
      const loaded = await loadCheckpoint(run);
      seen.add(loaded.manifest.files['weights.bin']!.sha256);
      disposeModel(loaded.model);
      loads += 1;
    }
    await saver;
    assert.ok(loads > 1);
    for (const sha of seen) assert.ok(sha === shaA || sha === shaB);
    disposeModel(a);
    disposeModel(b);
  });
});

describe('crafted checkpoint files', () => {
  test('a checkpoint file that is a link is refused, even to a file inside it', async () => {
    const { model, dir } = await saved('linked');
    disposeModel(model);
    const moved = join(dir, 'moved.bin');
    renameSync(join(dir, 'weights.bin'), moved);
    const { symlinkSync } = await import('node:fs');
    symlinkSync(moved, join(dir, 'weights.bin'));
    await rejects(dir, /symbolic link/, 'weights.bin');
  });

  test('a file larger than the manifest says is refused before it is read', async () => {
    const { model, dir } = await saved('grown');
    disposeModel(model);
    writeFileSync(join(dir, 'weights.bin'), Buffer.alloc(10 * 2 ** 20));
    await rejects(dir, /is 10485760 bytes, expected \d+/, 'weights.bin');
  });
});

describe('replacing and pruning only what s2s wrote', () => {
  test('a checkpoint whose removal was interrupted (no manifest, only checkpoint files) is still replaced', async () => {
    const { model, dir } = await saved('half-removed');
    const old = join(work, '.half-removed.old');
    cpSync(dir, old, { recursive: true });
    rmSync(join(old, 'checkpoint.json'));
    await saveCheckpoint(dir, { config, srcVocab, tgtVocab, split, model });
    assert.ok(!existsSync(old));
    disposeModel(model);
  });

  test('a directory with a file s2s did not write is never replaced', async () => {
    const { model, dir } = await saved('with-user-file');
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    await assert.rejects(saveCheckpoint(dir, { config, srcVocab, tgtVocab, split, model }), /refusing to replace/);
    assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine');
    disposeModel(model);
  });
});
