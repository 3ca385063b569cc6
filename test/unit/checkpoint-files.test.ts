/**
 * The platform-neutral checkpoint codec (model/checkpoint-files.ts): it reads
 * through any `read(name)` (here a Map in memory, as a web page reads over
 * HTTP), pulls in no Node module, and stores float16 weights through the tfjs
 * manifest's quantization.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildConfig } from '../../src/config.ts';
import { makeBatch } from '../../src/data/batches.ts';
import { Vocab } from '../../src/data/vocab.ts';
import { UserError } from '../../src/errors.ts';
import { encodeCheckpoint, float16Bits, readCheckpoint, type ReadFile } from '../../src/model/checkpoint-files.ts';
import { batchTensors, createModel, disposeModel, forwardLogits } from '../../src/model/seq2seq.ts';
import { REPO_ROOT } from '../helpers/cli.ts';

before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

const config = buildConfig('unit', { model: { embSize: 8, hiddenSize: 8, attention: 'general', bidirectional: true } });
const srcVocab = Vocab.build([['a', 'b', 'c'], ['d', 'e']], { minFreq: 1, maxSize: 0 });
const tgtVocab = Vocab.build([['x', 'y'], ['z']], { minFreq: 1, maxSize: 0 });
const batch = makeBatch([{ src: [4, 5, 6], tgt: [4, 5] }, { src: [7], tgt: [6] }], [0, 1]);

async function inMemory(float16 = false, withOptimizer = false): Promise<{ files: Map<string, Uint8Array>; logits: number[] }> {
  const model = createModel(config.model, srcVocab.size, tgtVocab.size, 3);
  try {
    // Any named tensors stand in for the optimizer's moments.
    const extra = withOptimizer ? { optimizer: { tensors: () => Object.fromEntries(model.params) } } : {};
    const files = new Map(await encodeCheckpoint({ config, srcVocab, tgtVocab, model, ...extra }, { version: 'test', float16 }));
    const logits = tf.tidy(() => Array.from(forwardLogits(model, batchTensors(batch)).dataSync()));
    return { files, logits };
  } finally {
    disposeModel(model);
  }
}

const reader = (files: Map<string, Uint8Array>): ReadFile => async (name) => {
  const data = files.get(name);
  if (!data) throw new Error(`no ${name}`);
  return data;
};

/** Every module `entry` loads at run time through relative imports, with the specifiers each imports. */
function importGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const visit = (file: string): void => {
    if (graph.has(file)) return;
    // `import type` is erased at compile time: it loads nothing.
    const specifiers = [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s(?!type\s)[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]!);
    graph.set(file, specifiers);
    for (const s of specifiers) if (s.startsWith('.')) visit(resolve(dirname(file), s));
  };
  visit(entry);
  return graph;
}

describe('checkpoint files (platform-neutral)', () => {
  test('nothing the loader imports needs Node: no node: modules, only browser-safe packages', () => {
    const graph = importGraph(join(REPO_ROOT, 'src', 'model', 'checkpoint-files.ts'));
    assert.ok(graph.size > 5, `walked ${graph.size} modules`);
    for (const [file, specifiers] of graph) {
      for (const s of specifiers) {
        if (s.startsWith('.')) continue;
        assert.ok(['@tensorflow/tfjs-core', 'yaml', '@huggingface/tokenizers'].includes(s), `${file} imports ${s}`);
      }
    }
  });

  test('encode → read through a function gives the same model, and reads no optimizer when told not to', async () => {
    const { files, logits } = await inMemory(false, true);
    assert.ok(files.has('optimizer.bin'));
    assert.equal([...files.keys()].at(-1), 'checkpoint.json', 'the manifest is written last');
    const tensorsBefore = tf.memory().numTensors;
    const loaded = await readCheckpoint(reader(files), { optimizer: false });
    assert.equal(loaded.optimizerTensors, undefined);
    assert.equal(loaded.split, null);
    assert.deepEqual(loaded.srcVocab.tokens, srcVocab.tokens);
    const after = tf.tidy(() => Array.from(forwardLogits(loaded.model, batchTensors(batch)).dataSync()));
    assert.deepEqual(after, logits);
    disposeModel(loaded.model);
    assert.equal(tf.memory().numTensors, tensorsBefore);
  });

  test('float16 weights: half the bytes, decoded to float32 within float16 precision', async () => {
    const full = await inMemory(false);
    const half = await inMemory(true);
    assert.equal(half.files.get('weights.bin')!.byteLength * 2, full.files.get('weights.bin')!.byteLength);
    const manifest = JSON.parse(new TextDecoder().decode(half.files.get('model.json'))) as {
      weightsManifest: { weights: { dtype: string; quantization?: { dtype: string } }[] }[];
    };
    for (const w of manifest.weightsManifest[0]!.weights) assert.deepEqual([w.dtype, w.quantization?.dtype], ['float32', 'float16']);
    const loaded = await readCheckpoint(reader(half.files), { label: (n) => `mem:${n}` });
    const dtypes = [...loaded.model.params.values()].map((v) => v.dtype);
    assert.ok(dtypes.every((d) => d === 'float32'));
    const logits = tf.tidy(() => Array.from(forwardLogits(loaded.model, batchTensors(batch)).dataSync()));
    disposeModel(loaded.model);
    const worst = Math.max(...logits.map((v, i) => Math.abs(v - full.logits[i]!)));
    assert.ok(worst > 0 && worst < 1e-2, `largest logit difference ${worst}`);
  });

  test('float16Bits rounds to nearest even and matches tfjs decoding', () => {
    const cases: [number, number][] = [
      [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff], [65520, 0x7c00],
      [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.5 * 2 ** -24, 0x0002], [2 ** -14, 0x0400], [0.1, 0x2e66],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [Infinity, 0x7c00], [-Infinity, 0xfc00],
    ];
    for (const [value, bits] of cases) assert.equal(float16Bits(value), bits, `${value}`);
    assert.equal(float16Bits(NaN) & 0x7c00, 0x7c00);
    const values = [0.1, -0.333, 1e-5, 3.14159, -1000.5, 60000, 6e-8];
    const halves = new Uint16Array(values.map(float16Bits));
    const decoded = tf.io.decodeWeights(halves.buffer, [{ name: 'w', shape: [values.length], dtype: 'float32', quantization: { dtype: 'float16' } }]);
    const back = Array.from(decoded.w!.dataSync());
    tf.dispose(Object.values(decoded));
    values.forEach((v, i) => assert.ok(Math.abs(back[i]! - v) <= Math.abs(v) * 2 ** -11 + 2 ** -25, `${v} → ${back[i]}`));
  });

  test('a weight beyond float16 range cannot be exported as float16', async () => {
    const model = createModel(config.model, srcVocab.size, tgtVocab.size, 3);
    model.params.get('out/b_s')!.assign(tf.fill([tgtVocab.size], 1e6));
    await assert.rejects(encodeCheckpoint({ config, srcVocab, tgtVocab, model }, { version: 'test', float16: true }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /'out\/b_s' holds 1000000, beyond float16's range/);
      return true;
    });
    disposeModel(model);
  });

  test('missing, foreign and mismatched files are UserErrors naming the file', async () => {
    const { files } = await inMemory();
    const expectError = async (edit: (f: Map<string, Uint8Array>) => void, pattern: RegExp, file: string) => {
      const copy = new Map(files);
      edit(copy);
      await assert.rejects(readCheckpoint(reader(copy), { label: (n) => `dir/${n}` }), (err: unknown) => {
        assert.ok(err instanceof UserError, String(err));
        assert.match(err.message, pattern);
        assert.equal(err.where, `dir/${file}`);
        return true;
      });
    };
    await expectError((f) => f.delete('checkpoint.json'), /not an s2s checkpoint/, 'checkpoint.json');
    await expectError((f) => f.delete('tgt.vocab.json'), /missing/, 'tgt.vocab.json');
    await expectError((f) => f.set('weights.bin', f.get('weights.bin')!.map((b) => b ^ 1)), /checksum mismatch/, 'weights.bin');
    // A foreign model's vocabulary copied in: another size, another checksum.
    const other = Vocab.build([['p', 'q', 'r', 's']], { minFreq: 1, maxSize: 0 });
    await expectError((f) => f.set('src.vocab.json', new TextEncoder().encode(JSON.stringify(other.toJSON()))), /bytes, expected|checksum/, 'src.vocab.json');
    const manifest = (edit: (m: { files: Record<string, unknown> }) => void) => (f: Map<string, Uint8Array>) => {
      const m = JSON.parse(new TextDecoder().decode(f.get('checkpoint.json'))) as { files: Record<string, unknown> };
      edit(m);
      f.set('checkpoint.json', new TextEncoder().encode(JSON.stringify(m)));
    };
    await expectError(manifest((m) => (m.files['../../etc/passwd'] = { bytes: 1, sha256: 'x' })), /outside the directory/, 'checkpoint.json');
    await expectError(manifest((m) => delete m.files['model.json']), /lists no file 'model.json'/, 'checkpoint.json');
  });
});
