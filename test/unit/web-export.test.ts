/**
 * exportWeb (src/web/export.ts): the static folder it writes, and what it
 * refuses (a folder that is not an earlier web export, a directory that is not
 * a model) without touching anything. The page itself runs in
 * test/e2e/web.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildConfig } from '../../src/config.ts';
import { Vocab } from '../../src/data/vocab.ts';
import { UserError } from '../../src/errors.ts';
import { encodeCheckpoint, readCheckpoint } from '../../src/model/checkpoint-files.ts';
import { trainBpe } from '../../src/data/subword-train.ts';
import { tokenize } from '../../src/data/tokenize.ts';
import { prepareSource } from '../../src/decode/translator.ts';
import { REPO_ROOT } from '../helpers/cli.ts';
import { createModel, disposeModel } from '../../src/model/seq2seq.ts';
import { exportWeb } from '../../src/web/export.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-web-export-'));
const modelDir = join(work, 'model');
after(() => rmSync(work, { recursive: true, force: true }));

before(async () => {
  await tf.setBackend('cpu');
  const config = buildConfig('unit', { model: { embSize: 8, hiddenSize: 8 } });
  const srcVocab = Vocab.build([['a', 'b']], { minFreq: 1, maxSize: 0 });
  const tgtVocab = Vocab.build([['x', 'y']], { minFreq: 1, maxSize: 0 });
  const model = createModel(config.model, srcVocab.size, tgtVocab.size, 1);
  try {
    mkdirSync(modelDir);
    for (const [name, data] of await encodeCheckpoint({ config, srcVocab, tgtVocab, model }, { version: 'test' })) {
      writeFileSync(join(modelDir, name), data);
    }
  } finally {
    disposeModel(model);
  }
});

async function rejectsWith(promise: Promise<unknown>, message: RegExp, where: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UserError, `an S2SError, not ${String(err)}`);
    assert.match(err.message, message);
    assert.equal(err.where, where);
    return true;
  });
}

describe('exportWeb', () => {
  test('writes the page, one browser bundle, the wasm binaries and the model files; replaces an earlier export', async () => {
    const out = join(work, 'site');
    const first = await exportWeb(modelDir, out);
    const names = readdirSync(out).sort();
    assert.deepEqual(names, [
      'app.js',
      'index.html',
      'model',
      's2s-web.json',
      'tfjs-backend-wasm-simd.wasm',
      'tfjs-backend-wasm-threaded-simd.wasm',
      'tfjs-backend-wasm.wasm',
    ]);
    const exported = readdirSync(join(out, 'model'));
    for (const name of readdirSync(modelDir)) assert.ok(exported.includes(name), `model/${name}: the model directory, as s2s export writes it`);
    assert.ok(readFileSync(join(out, 'model', 'weights.bin')).equals(readFileSync(join(modelDir, 'weights.bin'))));
    const bundle = readFileSync(join(out, 'app.js'), 'utf8');
    assert.ok(!/\bfrom\s*["']node:|require\(["']node:/.test(bundle), 'the bundle imports no Node module');
    assert.match(readFileSync(join(out, 'index.html'), 'utf8'), /<script type="module" src="app.js">/);
    assert.equal(first.files['app.js'], readFileSync(join(out, 'app.js')).byteLength);

    writeFileSync(join(out, 'stale.txt'), 'from an earlier export');
    await exportWeb(modelDir, out);
    assert.ok(!existsSync(join(out, 'stale.txt')), 'an earlier export is replaced as a whole');
    assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('.')), [], 'no temporary folder left');
  });

  test('refuses a folder that is not an earlier web export, leaving it as it was', async () => {
    const mine = join(work, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep me');
    await rejectsWith(exportWeb(modelDir, mine), /not an s2s web export/, mine);
    await assert.rejects(exportWeb(modelDir, mine), { code: 'OUTPUT' });
    assert.deepEqual(readdirSync(mine), ['notes.txt']);
    assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'keep me');
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    await rejectsWith(exportWeb(modelDir, file), /not a directory/, file);
  });

  test('refuses a directory that is not a model, before writing anything', async () => {
    const empty = join(work, 'empty');
    mkdirSync(empty);
    const out = join(work, 'never');
    await rejectsWith(exportWeb(empty, out), /not an s2s checkpoint or model directory/, empty);
    assert.ok(!existsSync(out));
  });

  test('float16: the page gets half the weight bytes', async () => {
    const out = join(work, 'half');
    const { files } = await exportWeb(modelDir, out, { float16: true });
    assert.equal(files['model/weights.bin'], readFileSync(join(modelDir, 'weights.bin')).byteLength / 2);
  });
});

describe('exportWeb with a BPE source side', () => {
  test('the page gets tokenizer.json and the bundle splits text with it as Node does', async () => {
    const toy = readFileSync(join(REPO_ROOT, 'data', 'toy', 'toy.tsv'), 'utf8').split('\n').filter((l) => l.includes('\t'));
    const counts = new Map<string, number>();
    for (const line of toy) for (const t of tokenize('word', line.split('\t')[0]!, { lowercase: true })) counts.set(t, (counts.get(t) ?? 0) + 1);
    const trained = trainBpe(counts, 'word', { vocabSize: 120, label: '--src-vocab-size' });
    const config = buildConfig('unit', { data: { srcTokenizer: 'bpe', srcVocabSize: 120 }, model: { embSize: 8, hiddenSize: 8 } });
    const srcVocab = Vocab.ofSubword(trained.subword, trained.counts);
    const tgtVocab = Vocab.build([['x', 'y']], { minFreq: 1, maxSize: 0 });
    const model = createModel(config.model, srcVocab.size, tgtVocab.size, 1);
    const bpeDir = join(work, 'bpe-model');
    try {
      mkdirSync(bpeDir);
      for (const [name, data] of await encodeCheckpoint({ config, srcVocab, tgtVocab, model }, { version: 'test' })) {
        writeFileSync(join(bpeDir, name), data);
      }
    } finally {
      disposeModel(model);
    }
    const out = join(work, 'bpe-site');
    await exportWeb(bpeDir, out);
    assert.equal(readFileSync(join(out, 'model', 'src.tokenizer.json'), 'utf8'), trained.subword.text());
    const bundle = readFileSync(join(out, 'app.js'), 'utf8');
    assert.match(bundle, /Metaspace/, 'the bundle carries the tokenizer library');
    assert.ok(!/\bfrom\s*["']node:|require\(["']node:/.test(bundle), 'the bundle imports no Node module');

    // The page's loader (readCheckpoint over a reader of the exported files) rebuilds the same pieces.
    const loaded = await readCheckpoint(async (name) => new Uint8Array(readFileSync(join(out, 'model', name))), { optimizer: false });
    try {
      const sentence = "Mary doesn't like these apples, does she?";
      const inPage = prepareSource(sentence, loaded.config.data, loaded.srcVocab, 200);
      const inNode = prepareSource(sentence, config.data, srcVocab, 200);
      assert.ok(loaded.srcVocab.subword !== null);
      assert.deepEqual(inPage, inNode);
      assert.ok(inPage.tokens.length > 9, inPage.tokens.join(' '));
    } finally {
      disposeModel(loaded.model);
    }
  });
});
