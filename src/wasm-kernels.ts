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
 *
 * Anything else (strings, other gather axes or batch dims) goes to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The parts of the wasm backend these kernels use. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
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
