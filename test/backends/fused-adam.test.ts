/**
 * Adam through TensorFlow's ResourceApplyAdam (BackendTraits.fusedAdam)
 * against the portable Adam on the same backend: parameters and moments after
 * several updates (with a clipping scale), a checkpoint round trip of the
 * moments, parameter tensors never changed in place, and no leaked tensors.
 * Skipped where the tensorflow backend cannot load.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { nativeOpCounts, resetNativeOpCounts } from '../../src/backend/native-ops.ts';
import { useBackendTraits, type BackendTraits } from '../../src/backend/traits.ts';
import { Adam } from '../../src/train/adam.ts';
import { FUSED, FUSED_SKIP, onFusedTensorflow } from '../helpers/fused.ts';

const fused = FUSED;
const portable: BackendTraits = { ...fused, fusedAdam: false };
const OPTIONS = { lr: 0.01, beta1: 0.9, beta2: 0.999 };

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 1073741824 - 1;
  });
}

/** A variable holding `init`, which is disposed. */
function variableOf(init: tf.Tensor): tf.Variable {
  const v = tf.variable(init);
  init.dispose();
  return v;
}

function params(): Map<string, tf.Variable> {
  return new Map<string, tf.Variable>([
    ['w', variableOf(tf.tensor2d(values(12, 1), [3, 4]))],
    ['b', variableOf(tf.tensor1d(values(4, 2)))],
  ]);
}

function grads(step: number): Map<string, tf.Tensor> {
  return new Map<string, tf.Tensor>([
    ['w', tf.tensor2d(values(12, 10 + step), [3, 4])],
    ['b', tf.tensor1d(values(4, 20 + step))],
  ]);
}

function make(traits: BackendTraits): Adam {
  const previous = useBackendTraits(traits);
  try {
    return new Adam(OPTIONS);
  } finally {
    useBackendTraits(previous);
  }
}

function read(m: ReadonlyMap<string, tf.Tensor> | Record<string, tf.Tensor>): Record<string, number[]> {
  const entries = m instanceof Map ? [...m] : Object.entries(m);
  return Object.fromEntries(entries.map(([k, t]) => [k, [...(t as tf.Tensor).dataSync()]]));
}

function assertClose(a: Record<string, number[]>, b: Record<string, number[]>, what: string): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(b)) {
    b[k]!.forEach((x, i) => assert.ok(Math.abs(a[k]![i]! - x) <= 1e-6 * Math.max(1, Math.abs(x)), `${what} ${k}[${i}]: ${a[k]![i]} vs ${x}`));
  }
}

describe('Adam through ResourceApplyAdam on tensorflow = the portable Adam', { skip: FUSED_SKIP }, () => {
  onFusedTensorflow();

  test('parameters and moments after four updates (one clipped) agree within 1e-6; one ResourceApplyAdam per parameter and update', () => {
    const start = tf.memory().numTensors;
    const [pf, pp] = [params(), params()];
    const [af, ap] = [make(fused), make(portable)];
    resetNativeOpCounts();
    for (let step = 1; step <= 4; step++) {
      const g = grads(step);
      const scale = step === 2 ? 0.5 : 1;
      af.apply(pf, g, scale);
      ap.apply(pp, g, scale);
      tf.dispose([...g.values()]);
    }
    assert.equal(nativeOpCounts().get('ResourceApplyAdam')?.calls, 8);
    assertClose(read(pf), read(pp), 'parameter');
    assertClose(read(af.tensors()), read(ap.tensors()), 'moment');
    af.dispose();
    ap.dispose();
    tf.dispose([...pf.values(), ...pp.values()]);
    assert.equal(tf.memory().numTensors, start, 'no tensors leaked');
  });

  test('the parameter tensor an update replaces keeps its values (no update in place)', () => {
    const p = params();
    const adam = make(fused);
    const old = tf.clone(p.get('w')!);
    const before = [...old.dataSync()];
    const g = grads(1);
    adam.apply(p, g);
    adam.apply(p, g);
    assert.deepEqual([...old.dataSync()], before);
    assert.notDeepEqual([...p.get('w')!.dataSync()], before);
    adam.dispose();
    tf.dispose([old, ...g.values(), ...p.values()]);
  });

  test('moments saved from one optimizer and restored into a fused one continue the same run', () => {
    const start = tf.memory().numTensors;
    const pp = params();
    const reference = make(portable);
    for (let step = 1; step <= 2; step++) {
      const g = grads(step);
      reference.apply(pp, g);
      tf.dispose([...g.values()]);
    }
    const saved = Object.fromEntries(Object.entries(reference.tensors()).map(([k, t]) => [k, tf.clone(t)]));
    const resumed = make(fused);
    resumed.restore(reference.step, reference.lr, saved);
    const pr = new Map([...pp].map(([k, v]) => [k, variableOf(tf.clone(v))]));
    const g = grads(3);
    reference.apply(pp, g);
    resumed.apply(pr, g);
    tf.dispose([...g.values()]);
    assertClose(read(pr), read(pp), 'parameter after resume');
    assertClose(read(resumed.tensors()), read(reference.tensors()), 'moment after resume');
    resumed.dispose();
    reference.dispose();
    tf.dispose([...Object.values(saved), ...pp.values(), ...pr.values()]);
    assert.equal(tf.memory().numTensors, start, 'no tensors leaked');
  });

  test('a fused optimizer restored from a fused one\'s saved moments continues bit for bit', () => {
    const start = tf.memory().numTensors;
    const p = params();
    const first = make(fused);
    for (let step = 1; step <= 2; step++) {
      const g = grads(step);
      first.apply(p, g);
      tf.dispose([...g.values()]);
    }
    const saved = Object.fromEntries(Object.entries(first.tensors()).map(([k, t]) => [k, tf.clone(t)]));
    const resumed = make(fused);
    resumed.restore(first.step, first.lr, saved);
    const q = new Map([...p].map(([k, v]) => [k, variableOf(tf.clone(v))]));
    const g = grads(3);
    first.apply(p, g);
    resumed.apply(q, g);
    tf.dispose([...g.values()]);
    assert.deepEqual(read(q), read(p));
    assert.deepEqual(read(resumed.tensors()), read(first.tensors()));
    resumed.dispose();
    first.dispose();
    tf.dispose([...Object.values(saved), ...p.values(), ...q.values()]);
    assert.equal(tf.memory().numTensors, start, 'no tensors leaked');
  });
});
