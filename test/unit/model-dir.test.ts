/**
 * Model directories: export (lean, float16, atomic, never over something that
 * is not a model), the default-model lookup, and the Translator a program gets
 * from loadTranslator — on small untrained models, which are real model
 * directories all the same.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { loadTranslator } from '../../src/api/load.ts';
import { buildConfig } from '../../src/config.ts';
import { Vocab } from '../../src/data/vocab.ts';
import { UserError } from '../../src/errors.ts';
import { createModel, disposeModel } from '../../src/model/seq2seq.ts';
import { defaultModel, exportModel, MODEL_ENV, requireDefaultModel, resolveModelDir } from '../../src/model-dir.ts';
import { saveCheckpoint } from '../../src/train/checkpoint.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-model-dir-'));
after(() => rmSync(work, { recursive: true, force: true }));
before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

const config = buildConfig('unit', { data: { tgtLang: 'zh', maxLen: 6 }, model: { embSize: 8, hiddenSize: 8 }, decoding: { maxOutputLen: 5 } });
const srcVocab = Vocab.build([['i', 'like', 'tea', '.']], { minFreq: 1, maxSize: 0 });
const tgtVocab = Vocab.build([['我', '喜', '欢', '茶', '。']], { minFreq: 1, maxSize: 0 });
const split = { kind: 'holdout' as const, seed: 1, validSize: 0, validKeys: [] };

/** A training run's output directory: `last` with optimizer state, and a lean `best`. */
async function trainingRun(name: string): Promise<string> {
  const out = join(work, name);
  const model = createModel(config.model, srcVocab.size, tgtVocab.size, 5);
  // Any named tensors stand in for the optimizer's moments.
  const moment = tf.zeros([2]);
  const trainer = { epoch: 1, step: 3, batchInEpoch: 0, epochRng: { c: 1, s0: 0, s1: 0, s2: 0 }, lr: 1e-3, bestMetric: null, sinceImprovement: 0, sinceDecay: 0, done: false };
  await saveCheckpoint(join(out, 'last'), { config, srcVocab, tgtVocab, split, model, optimizer: { tensors: () => ({ m: moment }) }, trainer });
  await saveCheckpoint(join(out, 'best'), { config, srcVocab, tgtVocab, split, model });
  moment.dispose();
  disposeModel(model);
  return out;
}

const isUserError = (code: string, pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof UserError, String(err));
  assert.equal(err.code, code, err.message);
  assert.match(err.message, pattern);
  return true;
};

describe('model directories', () => {
  test('export writes weights, vocabularies, config and manifest only; float16 halves the weights', async () => {
    const run = await trainingRun('run');
    const full = await exportModel(run, join(work, 'full'));
    assert.equal(full.from, join(run, 'best'), 'a run directory exports its best');
    const files = readdirSync(join(work, 'full')).sort();
    assert.deepEqual(files, ['checkpoint.json', 'config.json', 'metrics.json', 'model.json', 'split.json', 'src.vocab.json', 'tgt.vocab.json', 'weights.bin']);
    const half = await exportModel(join(run, 'last'), join(work, 'half'), { float16: true });
    assert.equal(half.weightBytes * 2, full.weightBytes);
    assert.ok(!existsSync(join(work, 'half', 'optimizer.bin')), 'no optimizer state from last either');
    assert.equal(resolveModelDir(run), join(run, 'best'));
    assert.equal(resolveModelDir(join(work, 'half')), join(work, 'half'));
  });

  test('export refuses a non-model directory, a file and a training checkpoint, and touches none of them', async () => {
    const run = await trainingRun('run-refuse');
    const notes = join(work, 'notes');
    mkdirSync(notes);
    writeFileSync(join(notes, 'todo.txt'), 'keep me');
    await assert.rejects(exportModel(run, notes), isUserError('OUTPUT', /will not export here: it exists and is not a model directory/));
    assert.deepEqual(readdirSync(notes), ['todo.txt']);
    assert.equal(readFileSync(join(notes, 'todo.txt'), 'utf8'), 'keep me');
    await assert.rejects(exportModel(run, join(notes, 'todo.txt')), isUserError('OUTPUT', /is a file/));
    await assert.rejects(exportModel(run, join(notes, 'todo.txt', 'sub')), isUserError('OUTPUT', /is a file, not a directory/));
    const lastBefore = statSync(join(run, 'last', 'optimizer.bin')).mtimeMs;
    await assert.rejects(exportModel(run, join(run, 'last')), isUserError('OUTPUT', /training checkpoint/));
    assert.equal(statSync(join(run, 'last', 'optimizer.bin')).mtimeMs, lastBefore);
    // A model directory with a file of the user's in it is not replaced either.
    const model = join(work, 'model-plus');
    await exportModel(run, model);
    writeFileSync(join(model, 'README.md'), 'mine');
    await assert.rejects(exportModel(run, model), isUserError('OUTPUT', /not part of the model \(README.md\)/));
    assert.equal(readFileSync(join(model, 'README.md'), 'utf8'), 'mine');
    // An earlier export is replaced, atomically: no temporary directory is left.
    rmSync(join(model, 'README.md'));
    await exportModel(run, model, { float16: true });
    assert.deepEqual(readdirSync(work).filter((n) => n.includes('.tmp-') || n.endsWith('.old')), []);
    await assert.rejects(exportModel(join(work, 'nothing-here'), join(work, 'x')), isUserError('MODEL_NOT_FOUND', /checkpoint not found/));
    assert.ok(!existsSync(join(work, 'x')));
  });

  test('the default model: $S2S_MODEL, else checkpoints/cmn-eng/, else the shipped models/en-zh-tatoeba/', async () => {
    const root = join(work, 'install');
    mkdirSync(root);
    assert.equal(defaultModel({ root, cwd: root, env: {} }), null);
    assert.throws(() => requireDefaultModel({ root, cwd: root, env: {} }), isUserError('MODEL_NOT_FOUND', /no model to translate with/));
    const run = await trainingRun('run-default');
    await exportModel(run, join(root, 'models', 'en-zh-tatoeba'), { float16: true });
    const shipped = defaultModel({ root, cwd: root, env: {} });
    assert.equal(shipped?.path, join(root, 'models', 'en-zh-tatoeba'));
    assert.match(shipped!.reason, /shipped with s2s/);
    mkdirSync(join(root, 'checkpoints', 'cmn-eng'), { recursive: true });
    assert.match(defaultModel({ root, cwd: root, env: {} })!.reason, /checkpoints\/cmn-eng\/ exists/);
    assert.deepEqual(defaultModel({ root, cwd: root, env: { [MODEL_ENV]: run } }), { path: run, reason: `${MODEL_ENV} is set` });
  });

  test('loadTranslator: translate with beam, n-best and attention; no tensors leak; bad texts and options are S2SErrors', async () => {
    const run = await trainingRun('run-api');
    const dir = join(work, 'api-model');
    await exportModel(run, dir, { float16: true });
    const translator = await loadTranslator(dir, { backend: false });
    const tensors = tf.memory().numTensors;
    const [first, second] = await translator.translate(['I like tea.', 'tea'], { beam: 3, nbest: 2, attention: true, lengthPenalty: 0.6 });
    assert.equal(first!.source, 'I like tea.');
    assert.deepEqual(first!.sourceTokens, ['i', 'like', 'tea', '.']);
    assert.equal(first!.nbest.length, 2);
    assert.equal(first!.attention!.length, first!.tokens.length);
    assert.equal(second!.nbest.length, 2);
    assert.equal(tf.memory().numTensors, tensors);
    await assert.rejects(translator.translate(['']), isUserError('BAD_TEXT', /empty/));
    await assert.rejects(translator.translate(['ok', 'x'.repeat(20_000)]), (err: unknown) => {
      isUserError('BAD_TEXT', /20000 characters/)(err);
      assert.equal((err as UserError).where, 'texts[1]');
      return true;
    });
    await assert.rejects(translator.translate('I like tea.' as never), isUserError('BAD_TEXT', /array of texts/));
    await assert.rejects(translator.translate(['tea'], { beam: 0 }), isUserError('USAGE', /option 'beam' must be >= 1/));
    await assert.rejects(translator.translate(['tea'], { beam: 2, nbest: 3 }), isUserError('USAGE', /nbest \(3\) cannot exceed beam \(2\)/));
    await assert.rejects(translator.translate(['tea'], { bean: 2 } as never), isUserError('USAGE', /unknown translate option 'bean'/));
    translator.dispose();
    assert.equal(tf.memory().numTensors, tensors - countParams(dir), 'dispose frees the weights');
    await assert.rejects(translator.translate(['tea']), isUserError('USAGE', /disposed/));
    await assert.rejects(loadTranslator(join(work, 'absent'), { backend: false }), isUserError('MODEL_NOT_FOUND', /checkpoint not found/));
  });

  test('a model directory with a missing or foreign file, or weights that do not fit its config, is BAD_MODEL naming the file', async () => {
    const run = await trainingRun('run-bad');
    const a = join(work, 'bad-a');
    const b = join(work, 'bad-b');
    await exportModel(run, a);
    await exportModel(run, b, { float16: true });
    rmSync(join(a, 'tgt.vocab.json'));
    await assert.rejects(loadTranslator(a, { backend: false }), (err: unknown) => {
      isUserError('BAD_MODEL', /checkpoint file is missing/)(err);
      assert.equal((err as UserError).where, join(a, 'tgt.vocab.json'));
      return true;
    });
    // weights.bin of another export: same name, other bytes.
    await exportModel(run, a);
    writeFileSync(join(a, 'weights.bin'), readFileSync(join(b, 'weights.bin')));
    await assert.rejects(loadTranslator(a, { backend: false }), isUserError('BAD_MODEL', /bytes, expected|checksum/));
    // A config edited to another hidden size, the manifest updated to match: the weights no longer fit.
    await exportModel(run, a);
    const edited = readFileSync(join(a, 'config.json'), 'utf8').replace('"hidden-size": 8', '"hidden-size": 16');
    rewriteListed(a, 'config.json', edited);
    await assert.rejects(loadTranslator(a, { backend: false }), (err: unknown) => {
      isUserError('BAD_MODEL', /has shape \[.*\] but the model config needs/)(err);
      assert.equal((err as UserError).where, join(a, 'model.json'));
      return true;
    });
  });
});

/** Replaces a file and its size and checksum in the manifest, as a consistent (if wrong) edit would. */
function rewriteListed(dir: string, name: string, text: string): void {
  writeFileSync(join(dir, name), text);
  const manifestPath = join(dir, 'checkpoint.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { files: Record<string, { bytes: number; sha256: string }> };
  manifest.files[name] = { bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') };
  writeFileSync(manifestPath, JSON.stringify(manifest));
}

/** Tensors a model directory's weights hold. */
function countParams(dir: string): number {
  const manifest = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { weights: unknown[] }[] };
  return manifest.weightsManifest[0]!.weights.length;
}
