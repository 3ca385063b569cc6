import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../src/backend/index.ts';
import { registerWasmKernels } from '../../src/backend/wasm-kernels.ts';

/** Runs `f` on cpu and on wasm (with s2s's kernels) and returns both results as nested arrays. */
function onBoth(f: () => tf.Tensor | tf.Tensor[]): { cpu: unknown; wasm: unknown } {
  const run = (backend: string): unknown => {
    tf.setBackend(backend);
    return tf.tidy(() => {
      const out = f();
      return Array.isArray(out) ? out.map((t) => ({ shape: t.shape, dtype: t.dtype, values: t.arraySync() })) : { shape: out.shape, dtype: out.dtype, values: out.arraySync() };
    });
  };
  return { cpu: run('cpu'), wasm: run('wasm') };
}

/** 0, 1, 2, … as a tensor of the shape (distinct values make misplaced copies visible). */
const iota = (shape: number[], dtype: 'float32' | 'int32' = 'float32'): tf.Tensor =>
  tf.reshape(tf.range(0, shape.reduce((a, b) => a * b, 1), 1, dtype), shape);

describe('wasm kernels registered by s2s (Slice, Unpack, SplitV, GatherV2, TopK) equal the cpu backend', () => {
  before(async () => {
    await initBackend('wasm', () => {});
    registerWasmKernels();
    await tf.ready();
  });

  test('they are the registered wasm kernels, and registering twice is harmless', () => {
    registerWasmKernels();
    for (const name of [tf.Slice, tf.Unpack, tf.SplitV, tf.GatherV2, tf.TopK]) {
      assert.equal(tf.getKernel(name, 'wasm')?.kernelFunc.name, '', `${name} is s2s's (an arrow function)`);
    }
  });

  const slices: [number[], number[], number[]][] = [
    [[10], [3], [4]],
    [[6, 7], [1, 2], [3, 4]],
    [[6, 7], [2, 0], [3, 7]],
    [[4, 5, 6], [1, 0, 0], [2, 5, 6]],
    [[4, 5, 6], [0, 1, 2], [4, 3, 3]],
    [[3, 4, 5, 6], [1, 1, 1, 1], [2, 2, 3, 4]],
    [[3, 4, 5], [0, 4, 0], [3, 0, 5]],
  ];
  for (const [shape, begin, size] of slices) {
    test(`slice ${JSON.stringify(shape)} at ${JSON.stringify(begin)} size ${JSON.stringify(size)}`, () => {
      const r = onBoth(() => [tf.slice(iota(shape), begin, size), tf.slice(iota(shape, 'int32'), begin, size)]);
      assert.deepEqual(r.wasm, r.cpu);
    });
  }

  for (const axis of [0, 1, 2, -1]) {
    test(`unstack a [5, 3, 4] tensor along axis ${axis}`, () => {
      const r = onBoth(() => [...tf.unstack(iota([5, 3, 4]), axis), ...tf.unstack(iota([5, 3, 4], 'int32'), axis)]);
      assert.deepEqual(r.wasm, r.cpu);
    });
  }

  for (const [shape, split, axis] of [
    [[6, 8], 4, 1],
    [[6, 8], [2, 5, 1], 1],
    [[6, 8, 3], [1, 5], 0],
    [[4, 12], [3, -1], 1],
  ] as [number[], number | number[], number][]) {
    test(`split ${JSON.stringify(shape)} into ${JSON.stringify(split)} along ${axis}`, () => {
      const r = onBoth(() => tf.split(iota(shape), split, axis));
      assert.deepEqual(r.wasm, r.cpu);
    });
  }

  test('gather rows: repeated ids, 2-D ids, int32 values, a 1-D table, an empty index list', () => {
    const r = onBoth(() => [
      tf.gather(iota([7, 5]), tf.tensor1d([6, 0, 3, 3, 6], 'int32')),
      tf.gather(iota([7, 2, 3], 'int32'), tf.tensor2d([[1, 2], [2, 0]], [2, 2], 'int32')),
      tf.gather(iota([9]), tf.tensor1d([8, 1, 1], 'int32')),
      tf.gather(iota([4, 3]), tf.tensor1d([], 'int32')),
    ]);
    assert.deepEqual(r.wasm, r.cpu);
  });

  test('gather along another axis falls back to the stock kernel', () => {
    const r = onBoth(() => tf.gather(iota([3, 5]), tf.tensor1d([4, 0], 'int32'), 1));
    assert.deepEqual(r.wasm, r.cpu);
  });

  test('an index out of range is an error, not garbage', () => {
    tf.setBackend('wasm');
    assert.throws(() => tf.tidy(() => tf.gather(iota([3, 2]), tf.tensor1d([3], 'int32')).dataSync()), /index value 3 is not in \[0, 2\]/);
  });

  test('topk per row: random rows of a beam-search shape, k 1 and 5, 1-D and 3-D inputs', () => {
    const x = tf.tidy(() => tf.randomNormal([40, 2756], 0, 3, 'float32', 5));
    const r = onBoth(() => [
      ...Object.values(tf.topk(x, 5)),
      ...Object.values(tf.topk(x, 1)),
      ...Object.values(tf.topk(tf.reshape(tf.slice(x, [3, 0], [1, 2756]), [2756]), 5)),
      ...Object.values(tf.topk(tf.reshape(tf.slice(x, [0, 0], [4, 2756]), [2, 2, 2756]), 3)),
    ]);
    assert.deepEqual(r.wasm, r.cpu);
    x.dispose();
  });

  test('topk: ties keep index order, k equal to the row length, k 0, ascending and descending rows', () => {
    const ties = tf.tensor2d([[1, 3, 3, 2, 3, 1], [0, 0, 0, 0, 0, 0], [5, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5]]);
    const r = onBoth(() => [...Object.values(tf.topk(ties, 4)), ...Object.values(tf.topk(ties, 6)), ...Object.values(tf.topk(ties, 0))]);
    assert.deepEqual(r.wasm, r.cpu);
    tf.setBackend('wasm');
    assert.deepEqual(Array.from(tf.tidy(() => tf.topk(ties, 4).indices.dataSync())), [1, 2, 4, 3, 0, 1, 2, 3, 0, 1, 2, 3, 5, 4, 3, 2]);
    ties.dispose();
  });

  test('topk: rows with fewer than k entries above −∞ go to the stock kernel; a NaN is never chosen', () => {
    // Backends order tied −∞ entries differently: the values must agree, and each index must point at its value.
    const rows = [[-Infinity, 2, -Infinity, 1], [-Infinity, -Infinity, -Infinity, -Infinity]];
    const x = tf.tensor2d(rows);
    const r = onBoth(() => tf.topk(x, 3).values);
    assert.deepEqual(r.wasm, r.cpu);
    tf.setBackend('wasm');
    const [values, indices] = tf.tidy(() => Object.values(tf.topk(x, 3)).map((t) => t.arraySync() as number[][]));
    values!.forEach((row, i) => {
      assert.equal(new Set(indices![i]).size, 3);
      row.forEach((v, j) => assert.equal(rows[i]![indices![i]![j]!], v));
    });
    const before = tf.memory().numTensors;
    const withNaN = tf.tidy(() => {
      const { values, indices } = tf.topk(tf.tensor2d([[1, NaN, 3, 2]]), 2);
      return [Array.from(values.dataSync()), Array.from(indices.dataSync())];
    });
    assert.deepEqual(withNaN, [[3, 2], [2, 3]]);
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });

  test('slices of a tensor stay correct after the heap grows (views are taken after allocating)', () => {
    tf.setBackend('wasm');
    const big = tf.tidy(() => tf.unstack(iota([40, 1000, 64])));
    const row = tf.tidy(() => tf.slice(big[37]!, [999, 0], [1, 3]).dataSync());
    assert.deepEqual(Array.from(row), [37 * 64000 + 999 * 64, 37 * 64000 + 999 * 64 + 1, 37 * 64000 + 999 * 64 + 2]);
    tf.dispose(big);
  });
});
