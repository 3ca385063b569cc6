/**
 * Numerical health through the CLI: a learning rate that makes the loss
 * overflow stops `s2s train` with one error line naming the step, the last
 * good checkpoint is kept and loads, and gradient norms are logged.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { disposeModel } from '../../src/model/seq2seq.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { runS2S } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-numerical-'));
after(() => rmSync(work, { recursive: true, force: true }));
before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

describe('s2s train with a learning rate that diverges (tiny, cpu)', () => {
  test('stops with exit 1 naming the step, keeps the last good checkpoint, logs gradient norms', async () => {
    const out = join(work, 'diverge');
    const logJson = join(work, 'diverge.jsonl');
    // lr 1e38: the first update pushes weights to ~1e38, the next loss overflows to NaN.
    const r = await runS2S(
      ['--backend', 'cpu', 'train', '--config', 'tiny', '--out', out, '--lr', '1e38', '--save-every', '1', '--log-every', '1', '--log-json', logJson],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.code, 1, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('s2s: error:'));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0]!, /the loss became (NaN|Infinity|-Infinity) at step (\d+); training stopped, kept the last checkpoint, .*last \(step \d+\)/);
    const failedStep = Number(/at step (\d+)/.exec(errors[0]!)![1]);
    assert.match(r.stderr, /s2s: hint: try a lower learning rate/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const kept = await loadCheckpoint(out);
    assert.equal(kept.trainer!.step, failedStep - 1);
    disposeModel(kept.model);
    tf.dispose(Object.values(kept.optimizerTensors ?? {}));
    const steps = readFileSync(logJson, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(steps.length >= 1 && steps.every((s) => s.kind !== 'step' || typeof s.gradNorm === 'number'));
  });
});
