/**
 * Backend parity on a fixed tiny checkpoint: forward logits, one training
 * step's gradients, greedy and beam translations of 50 sentences, and flat
 * tensor counts, on every available backend, compared with `cpu`.
 * A backend that cannot load here is reported as skipped with the reason.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '../../src/model/gradients.ts';
import { initBackend, type BackendName } from '../../src/backend/index.ts';
import { makeBatch, type EncodedPair } from '../../src/data/batches.ts';
import { tokenize } from '../../src/data/tokenize.ts';
import { search } from '../../src/decode/search.ts';
import { batchTensors, disposeModel, forwardLogits, lossSum } from '../../src/model/seq2seq.ts';
import { loadCheckpoint, type LoadedCheckpoint } from '../../src/train/checkpoint.ts';
import { REPO_ROOT, runS2S } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-parity-'));
after(() => rmSync(work, { recursive: true, force: true }));
const ckpt = join(work, 'ckpt');

interface Results {
  logits: Float32Array;
  grads: Record<string, Float32Array>;
  greedy: number[][];
  beam: number[][];
}

/** 50 English sentences of the toy corpus, as source ids; 8 pairs as a training batch. */
function inputs(c: LoadedCheckpoint): { sources: number[][]; pairs: EncodedPair[] } {
  const lines = readFileSync(join(REPO_ROOT, 'data', 'toy', 'toy.tsv'), 'utf8').split('\n').filter((l) => l.includes('\t'));
  const pairs = lines.slice(0, 50).map((l) => {
    const [en, zh] = l.split('\t') as [string, string];
    return {
      src: c.srcVocab.encode(tokenize('word', en, { lowercase: true })),
      tgt: c.tgtVocab.encode(tokenize('char', zh, { lowercase: false })),
    };
  });
  return { sources: pairs.map((p) => p.src), pairs: pairs.slice(0, 8) };
}

async function measure(backend: BackendName): Promise<Results> {
  await initBackend(backend, () => {});
  const c = await loadCheckpoint(ckpt);
  const { sources, pairs } = inputs(c);
  const batch = makeBatch(pairs, pairs.map((_, i) => i));
  const startTensors = tf.memory().numTensors;
  const logits = tf.tidy(() => forwardLogits(c.model, batchTensors(batch)).dataSync() as Float32Array);
  const variables = [...c.model.params.values()];
  const { value, grads } = tf.variableGrads(() => tf.div(lossSum(c.model, batchTensors(batch)), batch.tgtTokens) as tf.Scalar, variables);
  const gradValues: Record<string, Float32Array> = {};
  [...c.model.params.keys()].forEach((name, i) => {
    gradValues[name] = grads[variables[i]!.name]!.dataSync() as Float32Array;
  });
  tf.dispose([value, ...Object.values(grads)]);
  const greedy = (await search(c.model, sources, { beam: 1, batchSize: 16 })).map((n) => n[0]!.ids);
  const beam = (await search(c.model, sources, { beam: 5, nbest: 1, batchSize: 16 })).map((n) => n[0]!.ids);
  assert.equal(tf.memory().numTensors, startTensors, `${backend}: tensors leaked`);
  disposeModel(c.model);
  return { logits, grads: gradValues, greedy, beam };
}

/** max |a − b| / max |b|: relative error against the reference's scale. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

describe('backend parity with cpu', () => {
  let reference: Results;
  before(async () => {
    const r = await runS2S(['--backend', 'cpu', '--quiet', 'train', '--config', 'tiny', '--out', ckpt, '--epochs', '3'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    reference = await measure('cpu');
  });

  test('cpu itself: translations are non-trivial', () => {
    assert.equal(reference.greedy.length, 50);
    assert.ok(reference.greedy.some((ids) => ids.length > 0));
  });

  for (const backend of ['wasm', 'tensorflow'] as const) {
    test(`${backend}: logits, gradients, translations and tensor counts`, async (t) => {
      let results: Results;
      try {
        results = await measure(backend);
      } catch (err) {
        const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
        if (/cannot|not installed|unavailable|no usable|not available/i.test(message!)) {
          t.skip(`${backend} backend unavailable here: ${message}`);
          return;
        }
        throw err;
      }
      const logitError = relativeError(results.logits, reference.logits);
      assert.ok(logitError <= 1e-4, `logits differ by ${logitError} (relative)`);
      for (const [name, g] of Object.entries(reference.grads)) {
        const e = relativeError(results.grads[name]!, g);
        assert.ok(e <= 1e-3, `gradient of ${name} differs by ${e} (relative)`);
      }
      assert.deepEqual(results.greedy, reference.greedy, 'greedy translations differ');
      assert.deepEqual(results.beam, reference.beam, 'beam translations differ');
    });
  }
});
