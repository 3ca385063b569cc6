/**
 * `train --resume` continues with the budget stated now: a used-up
 * --max-steps does not hold it back, more --epochs after a finished run train
 * them, and one line says what the resumed run will do (bin/s2s, tiny,
 * single-threaded wasm).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runS2S, stderrLines, TRAIN_FIXTURE } from '../helpers/cli.ts';

const cwd = mkdtempSync(join(tmpdir(), 's2s-resume-'));
after(() => rmSync(cwd, { recursive: true, force: true }));
const s2s = (...args: string[]) => runS2S([...TRAIN_FIXTURE, ...args], { cwd, timeoutMs: 300_000 });
const stepOf = (): number => (JSON.parse(readFileSync(join(cwd, 'run', 'last', 'trainer.json'), 'utf8')) as { step: number }).step;

describe('train --resume', () => {
  test('after --max-steps, --resume trains on to the epochs; after the epochs, --resume --epochs N trains the new ones', async () => {
    const first = await s2s('-q', 'train', '--config', 'tiny', '--epochs', '2', '--max-steps', '10', '--valid-bleu-size', '5', '--out', 'run');
    assert.equal(first.code, 0, first.stderr);
    assert.equal(stepOf(), 10);

    const resumed = await s2s('train', '--resume', 'run');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.ok(stderrLines(resumed).includes(`resuming ${join(cwd, 'run', 'last')} at step 10 (epoch 1): training to the end of epoch 2`), resumed.stderr);
    const perEpoch = stepOf() / 2;
    assert.ok(Number.isInteger(perEpoch) && perEpoch > 10, `two whole epochs trained: step ${stepOf()}`);

    const more = await s2s('train', '--resume', 'run', '--epochs', '3');
    assert.equal(more.code, 0, more.stderr);
    assert.ok(stderrLines(more).some((l) => l.endsWith(': training to the end of epoch 3')), more.stderr);
    assert.equal(stepOf(), 3 * perEpoch);

    const nothing = await s2s('train', '--resume', 'run');
    assert.equal(nothing.code, 0, nothing.stderr);
    assert.ok(stderrLines(nothing).some((l) => l.endsWith('nothing left to train (--epochs 3 reached; give a larger one)')), nothing.stderr);
  });
});
