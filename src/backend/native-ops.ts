/**
 * TensorFlow ops that tfjs-node has no kernel for, run directly through its
 * binding (`binding.executeOp`), on the `tensorflow` backend only. The outputs
 * are ordinary tfjs tensors (tracked by tf.tidy and tf.memory()); the ops are
 * not tfjs kernels, so tf.profile does not see them: {@link nativeOpCounts}
 * counts them instead.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-node's backend and binding used here. */
interface NodeBackend {
  binding: {
    TF_FLOAT: number;
    TF_INT32: number;
    TF_INT64: number;
    TF_ATTR_BOOL: number;
    TF_ATTR_FLOAT: number;
    TF_ATTR_INT: number;
    TF_ATTR_TYPE: number;
    TF_ATTR_SHAPE: number;
    TF_ATTR_STRING: number;
    createTensor(shape: number[], dtype: number, values: Int32Array | Float32Array): number;
    executeOp(name: string, attrs: NativeAttr[], inputIds: number[], numOutputs: number): unknown[];
  };
  getInputTensorIds(tensors: tf.Tensor[]): number[];
  createOutputTensor(metadata: unknown): tf.Tensor;
}

/** An op attribute as the binding takes it. */
export interface NativeAttr {
  name: string;
  type: number;
  value: boolean | number | string | number[];
}

/** An int64 scalar input (TensorFlow.js has no int64 tensors). */
export interface Int64Input {
  int64: number;
}

function nodeBackend(): NodeBackend {
  if (tf.getBackend() !== 'tensorflow') throw new Error(`native TensorFlow ops need the tensorflow backend, not ${tf.getBackend()}`);
  return tf.backend() as unknown as NodeBackend;
}

/** Binding tensor ids of int64 scalars, made once per value (they live as long as the process). */
const int64Ids = new Map<number, number>();

function int64Id(b: NodeBackend, value: number): number {
  let id = int64Ids.get(value);
  if (id === undefined) {
    // Little-endian low and high 32-bit words.
    id = b.binding.createTensor([], b.binding.TF_INT64, new Int32Array([value, 0]));
    int64Ids.set(value, id);
  }
  return id;
}

/** Calls and milliseconds of one native op. */
export interface NativeOpCount {
  calls: number;
  ms: number;
}

const counts = new Map<string, NativeOpCount>();

/**
 * Each native op's calls and time (synchronous, so the op's own) since the
 * last reset: `bench --profile` adds them to tf.profile's kernels.
 */
export function nativeOpCounts(): Map<string, NativeOpCount> {
  return new Map([...counts].map(([name, c]) => [name, { ...c }]));
}

export function resetNativeOpCounts(): void {
  counts.clear();
}

/** Attribute helpers: `T` float32, a bool, a float. */
export const attr = {
  floatType: (name = 'T'): NativeAttr => ({ name, type: nodeBackend().binding.TF_ATTR_TYPE, value: nodeBackend().binding.TF_FLOAT }),
  int32Type: (name: string): NativeAttr => ({ name, type: nodeBackend().binding.TF_ATTR_TYPE, value: nodeBackend().binding.TF_INT32 }),
  bool: (name: string, value: boolean): NativeAttr => ({ name, type: nodeBackend().binding.TF_ATTR_BOOL, value }),
  float: (name: string, value: number): NativeAttr => ({ name, type: nodeBackend().binding.TF_ATTR_FLOAT, value }),
  int: (name: string, value: number): NativeAttr => ({ name, type: nodeBackend().binding.TF_ATTR_INT, value }),
  shape: (name: string, value: number[]): NativeAttr => ({ name, type: nodeBackend().binding.TF_ATTR_SHAPE, value }),
  string: (name: string, value: string): NativeAttr => ({ name, type: nodeBackend().binding.TF_ATTR_STRING, value }),
};

let resources = 0;

/**
 * A TensorFlow resource variable (VarHandleOp) holding a copy of `init`:
 * state that TensorFlow's training ops (ResourceApplyAdam) update in place.
 * The returned handle is a tfjs tensor (dispose it to free the variable).
 */
export function resourceVariable(init: tf.Tensor): tf.Tensor {
  const [handle] = runNativeOp(
    'VarHandleOp',
    [attr.string('container', ''), attr.string('shared_name', `s2s_${++resources}`), attr.floatType('dtype'), attr.shape('shape', init.shape)],
    [],
    1,
  );
  assignResource(handle!, init);
  return handle!;
}

/** Sets a resource variable to `value` (TensorFlow copies on the next in-place update if the buffer is shared). */
export function assignResource(handle: tf.Tensor, value: tf.Tensor): void {
  runNativeOp('AssignVariableOp', [attr.floatType('dtype')], [handle, value], 0);
}

/** Frees a resource variable and disposes its handle. */
export function destroyResource(handle: tf.Tensor): void {
  runNativeOp('DestroyResourceOp', [attr.bool('ignore_lookup_error', true)], [handle], 0);
  handle.dispose();
}

/** The current value of a resource variable, as a new tensor. */
export function readResource(handle: tf.Tensor): tf.Tensor {
  return runNativeOp('ReadVariableOp', [attr.floatType('dtype')], [handle], 1)[0]!;
}

/**
 * Runs TensorFlow op `name` on `inputs` and returns its first `numOutputs`
 * outputs as tfjs tensors.
 */
export function runNativeOp(name: string, attrs: NativeAttr[], inputs: (tf.Tensor | Int64Input)[], numOutputs: number): tf.Tensor[] {
  const b = nodeBackend();
  const ids = inputs.map((x) => (x instanceof tf.Tensor ? b.getInputTensorIds([x])[0]! : int64Id(b, x.int64)));
  const start = performance.now();
  const outputs = b.binding.executeOp(name, attrs, ids, numOutputs);
  const c = counts.get(name) ?? { calls: 0, ms: 0 };
  c.calls += 1;
  c.ms += performance.now() - start;
  counts.set(name, c);
  return outputs.map((m) => b.createOutputTensor(m));
}
