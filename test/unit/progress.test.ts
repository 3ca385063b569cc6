/** The progress listener: a --log-json that fails mid-run warns once and training goes on. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { createProgress } from '../../src/cli/progress.ts';
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
