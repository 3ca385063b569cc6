/**
 * The progress listener: a --log-json that fails mid-run warns once and
 * training goes on; on a terminal the bar comes back right after a line
 * printed above it, and counts to the step budget when there is one.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { createProgress, formatBudget } from '../../src/cli/progress.ts';
import type { TrainEvent } from '../../src/train/trainer.ts';

const validation = (step: number): TrainEvent => ({
  type: 'validation', step, epoch: 1, loss: 1, ppl: 2.7, bleu: null, lr: 1e-3, improved: true, elapsed: 1,
});

test('a --log-json write failure (a full disk) is one warning, not an error, and logging stops', { skip: !existsSync('/dev/full') }, () => {
  const lines: string[] = [];
  const progress = createProgress({ quiet: true, tty: false, logEvery: 1, logJson: '/dev/full', write: (l) => lines.push(l) });
  assert.doesNotThrow(() => {
    progress.listener(validation(1));
    progress.listener(validation(2));
  });
  progress.stop();
  assert.deepEqual(lines, [
    's2s: warning: cannot write --log-json /dev/full: no space left on the device (ENOSPC); training continues without it',
  ]);
});

/** A stand-in terminal: everything written, bars and lines, in order. */
function fakeTerminal(): { stream: NodeJS.WritableStream & { isTTY: boolean; columns: number }; text: () => string } {
  let written = '';
  const stream = {
    isTTY: true,
    columns: 160,
    write(chunk: string | Uint8Array, ...rest: unknown[]): boolean {
      written += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    },
  } as unknown as NodeJS.WritableStream & { isTTY: boolean; columns: number };
  return { stream, text: () => written };
}

const start = (maxSteps: number): TrainEvent => ({
  type: 'start', epochs: 5, maxSteps, batchesPerEpoch: 320, trainPairs: 5000, validPairs: 100, parameters: 1000, resumedAt: null,
});
const step = (n: number): TrainEvent => ({
  type: 'step', step: n, epoch: 1, batchInEpoch: n, batches: 320, loss: 2, ppl: 7.4, gradNorm: 1, lr: 1e-3, tgtTokens: 100, tokPerSec: 1000, elapsed: n,
});

describe('progress on a terminal', () => {
  test('the header says the budget: epochs, or steps when --max-steps ends training first', () => {
    assert.equal(formatBudget(10, 0, 320), '10 epochs');
    assert.equal(formatBudget(1, 0, 320), '1 epoch');
    assert.equal(formatBudget(10, 100, 320), '100 steps (0.3 epochs)');
    assert.equal(formatBudget(10, 5000, 320), '10 epochs');
    assert.equal(formatBudget(10, 10, 320), '10 steps (0.03 epochs)');
  });

  for (const maxSteps of [0, 100]) {
    test(`the bar is drawn again right after a validation line (${maxSteps ? '--max-steps: it counts steps' : 'a bar per epoch'})`, () => {
      const term = fakeTerminal();
      const progress = createProgress({ quiet: false, tty: true, logEvery: 1000, logJson: null, stream: term.stream, write: (l) => term.stream.write(`${l}\n`) });
      progress.listener(start(maxSteps));
      progress.listener({ type: 'epoch', epoch: 1, batches: 320, batchInEpoch: 0 });
      for (let n = 1; n <= 50; n++) progress.listener(step(n));
      progress.listener(validation(50));
      const afterLine = term.text().split('validation step 50 epoch 1')[1]!.split('\n').slice(1).join('\n');
      const total = maxSteps ? '100 steps' : '320';
      assert.match(afterLine, new RegExp(`^\\x1b7.*epoch 1 \\[[█░]+\\] 50/${total} \\| loss 2\\.000`), JSON.stringify(afterLine));
      progress.listener({ type: 'done', reason: 'interrupted', step: 50, dir: 'run/last' });
      assert.match(term.text(), /training stopped \(interrupted\) at step 50; checkpoint: run\/last\n$/);
      progress.stop();
    });
  }
});
