/**
 * Replacements for stock `wasm` kernels that are slow for the shapes s2s uses,
 * registered through tfjs's kernel registry (nothing in node_modules changes):
 *
 * - Slice, and Unpack and SplitV (which the stock backend builds on its own
 *   Slice): the stock Slice first copies its whole input out of the wasm heap
 *   (`readSync`) for every slice, so unstacking a [steps, batch, ·] tensor
 *   copied it `steps` times. Here a slice copies only its own rows, heap to heap.
 * - GatherV2 along axis 0 (embedding lookup, selecting rows of decoder states):
 *   the stock kernel moves one element at a time; here whole rows are copied.
 * - TopK (beam search: each row's k best of the target vocabulary): the stock
 *   kernel sorts; here one pass per row keeps the k best so far, which for a
 *   small k is a comparison with the k-th best per element.
 *
 * Anything else (strings, other gather axes or batch dims) goes to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The parts of the wasm backend these kernels use. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object): boolean;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

let registered = false;

/** Registers the replacements (once; the wasm backend's own kernels must already be registered). */
export function registerWasmKernels(): void {
  if (registered) return;
  const stock = (name: string): tf.KernelFunc => {
    const config = tf.getKernel(name, 'wasm');
    if (!config) throw new Error(`the wasm backend has no ${name} kernel to replace`);
    return config.kernelFunc;
  };
  const replace = (name: string, kernelFunc: tf.KernelFunc): void => {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc });
  };
  const stockSlice = stock(tf.Slice);
  const stockUnpack = stock(tf.Unpack);
  const stockSplitV = stock(tf.SplitV);
  const stockGather = stock(tf.GatherV2);
  const stockTopK = stock(tf.TopK);
  replace(tf.Slice, (args) => {
    const x = args.inputs['x'] as tf.TensorInfo;
    if (x.dtype === 'string') return stockSlice(args);
    const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
    const [begin_, size_] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    return sliceRows(args.backend as unknown as WasmBackendLike, x, begin_, size_);
  });
  replace(tf.Unpack, (args) => {
    const x = args.inputs['value'] as tf.TensorInfo;
    if (x.dtype === 'string') return stockUnpack(args);
    const rank = x.shape.length;
    const axis = ((args.attrs as unknown as tf.UnpackAttrs).axis + rank) % rank;
    const outShape = x.shape.filter((_, i) => i !== axis);
    const begin = new Array<number>(rank).fill(0);
    const size = x.shape.slice();
    size[axis] = 1;
    return Array.from({ length: x.shape[axis]! }, (_, i) => {
      begin[axis] = i;
      const out = sliceRows(args.backend as unknown as WasmBackendLike, x, begin, size);
      return { dataId: out.dataId, dtype: out.dtype, shape: outShape };
    });
  });
  replace(tf.SplitV, (args) => {
    const x = args.inputs['x'] as tf.TensorInfo;
    if (x.dtype === 'string') return stockSplitV(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
    const a = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, a);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = x.shape.slice();
      size[a] = s;
      const out = sliceRows(args.backend as unknown as WasmBackendLike, x, begin, size);
      begin[a]! += s;
      return out;
    });
  });
  replace(tf.GatherV2, (args) => gatherRows(args) ?? stockGather(args));
  replace(tf.TopK, (args) => topKOfRows(args) ?? stockTopK(args));
  registered = true;
}

/**
 * x[begin : begin + size] copied heap to heap, one contiguous run (the last
 * dimension, or more when the slice spans whole trailing dimensions) at a time.
 */
function sliceRows(backend: WasmBackendLike, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const total = size.reduce((a, b) => a * b, 1);
  if (total === 0) return out;
  // Views only after makeOutput: growing the heap detaches earlier views.
  const xv = backend.typedArrayFromHeap(x);
  const ov = backend.typedArrayFromHeap(out);
  const rank = x.shape.length;
  const strides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    strides[i] = s;
    s *= x.shape[i]!;
  }
  // Fold trailing dimensions taken whole into one contiguous run.
  let runDims = 1;
  let run = size[rank - 1]!;
  while (runDims < rank && size[rank - runDims] === x.shape[rank - runDims] && begin[rank - runDims] === 0) {
    runDims++;
    run *= size[rank - runDims]!;
  }
  if (runDims > rank) runDims = rank;
  const outer = rank - runDims;
  let start = 0;
  for (let i = 0; i < rank; i++) start += begin[i]! * strides[i]!;
  if (outer === 0) {
    ov.set(xv.subarray(start, start + total));
    return out;
  }
  const index = new Array<number>(outer).fill(0);
  for (let o = 0; o < total; o += run) {
    let offset = start;
    for (let i = 0; i < outer; i++) offset += index[i]! * strides[i]!;
    ov.set(xv.subarray(offset, offset + run), o);
    for (let i = outer - 1; i >= 0; i--) {
      if (++index[i]! < size[i]!) break;
      index[i] = 0;
    }
  }
  return out;
}

/** Gather along axis 0 without batch dims by copying whole rows; null for other cases. */
function gatherRows(args: KernelArgs): tf.TensorInfo | null {
  const x = args.inputs['x'] as tf.TensorInfo;
  const indices = args.inputs['indices'] as tf.TensorInfo;
  const { axis, batchDims } = args.attrs as unknown as tf.GatherV2Attrs;
  if (x.dtype === 'string' || batchDims !== 0 || tf.util.parseAxisParam(axis, x.shape)[0] !== 0) return null;
  const backend = args.backend as unknown as WasmBackendLike;
  const rows = x.shape[0]!;
  const row = x.shape.slice(1).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
  const count = indices.shape.reduce((a, b) => a * b, 1);
  if (count === 0 || row === 0) return out;
  const xv = backend.typedArrayFromHeap(x);
  const iv = backend.typedArrayFromHeap(indices);
  const ov = backend.typedArrayFromHeap(out);
  for (let k = 0; k < count; k++) {
    const at = iv[k]!;
    if (!(at >= 0 && at < rows)) throw new Error(`GatherV2: the index value ${at} is not in [0, ${rows - 1}]`);
    ov.set(xv.subarray(at * row, (at + 1) * row), k * row);
  }
  return out;
}

/**
 * The k largest entries of each row (last axis), largest first, equal values in
 * index order (as tf.topk orders them). A NaN is never among them. null (the
 * stock kernel decides) for dtypes other than float32, a k the stock kernel
 * rejects, or a row with fewer than k entries above −∞.
 */
function topKOfRows(args: KernelArgs): tf.TensorInfo[] | null {
  const x = args.inputs['x'] as tf.TensorInfo;
  const { k } = args.attrs as unknown as tf.TopKAttrs;
  const n = x.shape[x.shape.length - 1] ?? 0;
  if (x.dtype !== 'float32' || x.shape.length === 0 || !(k >= 0 && k <= n)) return null;
  const backend = args.backend as unknown as WasmBackendLike;
  const outShape = [...x.shape.slice(0, -1), k];
  const values = backend.makeOutput(outShape, x.dtype);
  const indices = backend.makeOutput(outShape, 'int32');
  const rows = n === 0 ? 0 : x.shape.reduce((a, b) => a * b, 1) / n;
  if (k === 0 || rows === 0) return [values, indices];
  // Views only after makeOutput: growing the heap detaches earlier views.
  const complete = topKRows(
    backend.typedArrayFromHeap(x) as Float32Array,
    rows,
    n,
    k,
    backend.typedArrayFromHeap(values) as Float32Array,
    backend.typedArrayFromHeap(indices) as Int32Array,
  );
  if (complete) return [values, indices];
  backend.disposeData(values.dataId);
  backend.disposeData(indices.dataId);
  return null;
}

/**
 * Row by row, one pass keeping the k best so far (an entry enters only when it
 * beats the k-th best, so ties keep the earlier index); false when a row has
 * fewer than k entries above −∞ (the outputs are then incomplete).
 */
function topKRows(x: Float32Array, rows: number, n: number, k: number, values: Float32Array, indices: Int32Array): boolean {
  const best = new Float32Array(k);
  const at = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    best.fill(-Infinity);
    let threshold = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = x[base + i]!;
      if (!(v > threshold)) continue;
      let p = k - 1;
      while (p > 0 && v > best[p - 1]!) {
        best[p] = best[p - 1]!;
        at[p] = at[p - 1]!;
        p--;
      }
      best[p] = v;
      at[p] = i;
      threshold = best[k - 1]!;
    }
    if (threshold === -Infinity) return false;
    values.set(best, r * k);
    indices.set(at, r * k);
  }
  return true;
}
