import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeBatch, planBatches, type EncodedPair } from '../../src/data/batches.ts';
import { Rng } from '../../src/train/rng.ts';

const pairs: EncodedPair[] = Array.from({ length: 50 }, (_, i) => ({
  src: Array.from({ length: 1 + (i % 7) }, (_, k) => 4 + k),
  tgt: Array.from({ length: 1 + ((i * 3) % 11) }, (_, k) => 4 + k),
}));

test('sentence batches cover every pair once, in length buckets', () => {
  const plan = planBatches(pairs, { batchSize: 8, batchTokens: 0 });
  assert.deepEqual(plan.flat().sort((a, b) => a - b), pairs.map((_, i) => i));
  assert.ok(plan.every((b) => b.length <= 8));
  // Unshuffled plans are in source-length order.
  const lengths = plan.flat().map((i) => pairs[i]!.src.length);
  assert.deepEqual(lengths, [...lengths].sort((a, b) => a - b));
});

test('token batches stay within the padded target-token budget', () => {
  const plan = planBatches(pairs, { batchSize: 1000, batchTokens: 40 });
  assert.deepEqual(plan.flat().sort((a, b) => a - b), pairs.map((_, i) => i));
  for (const b of plan) {
    const batch = makeBatch(pairs, b);
    assert.ok(b.length === 1 || batch.size * batch.tgtLen <= 40, `${batch.size}×${batch.tgtLen}`);
  }
  assert.ok(plan.length > 3);
});

test('shuffled plans repeat for a seed and differ between seeds', () => {
  const shuffled = (seed: number) => {
    const rng = new Rng(seed);
    return planBatches(pairs, { batchSize: 8, batchTokens: 0 }, (xs) => rng.shuffle(xs));
  };
  assert.deepEqual(shuffled(1), shuffled(1));
  assert.notDeepEqual(shuffled(1), shuffled(2));
});

test('an RNG restored from its state continues the same sequence', () => {
  const a = new Rng(5);
  a.next();
  const b = new Rng(5, a.state());
  assert.deepEqual([a.next(), a.seed(), a.int(10)], [b.next(), b.seed(), b.int(10)]);
});
