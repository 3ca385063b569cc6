/**
 * The encoder: embeddings and a (stacked, optionally bidirectional) LSTM over
 * the source, plus what attention needs for every decoder step, computed once
 * per batch: the attention keys and the padding mask as an additive bias.
 */
import * as tf from '@tensorflow/tfjs-core';
import { dense, embedLookup, tanh } from './ops.ts';
import { runLstm, type LstmRunOptions, type LstmState } from './lstm.ts';
import { param, type ModelDims, type Params } from './params.ts';
import { attentionKeys } from './attention.ts';
import { blockLstmTensors, blockLstmWeights, paddedLengths, runFusedLstm, runFusedLstmInference, type BlockLstmWeights } from './fused-lstm.ts';
import { backendTraits } from '../backend/traits.ts';

/** Applied to activations during training (dropout); identity otherwise. */
export type Dropout = (x: tf.Tensor) => tf.Tensor;
export const noDropout: Dropout = (x) => x;

export interface EncodedSource {
  /** h_j for every source position: [batch, srcLen, encOut] */
  states: tf.Tensor3D;
  /** Precomputed attention keys: [batch, srcLen, hidden] (for dot: the states themselves) */
  keys: tf.Tensor3D;
  /** 0 at real tokens, a large negative number at padding: [batch, srcLen] */
  maskBias: tf.Tensor2D;
  /** The decoder's initial state, one per layer: [batch, hidden] each */
  initial: LstmState[];
}

/** What the decoder attends to at every step: the encoder's states, keys and padding mask (EncodedSource without the initial state). */
export type EncoderMemory = Pick<EncodedSource, 'states' | 'keys' | 'maskBias'>;

/**
 * The fused encoder's LSTM weights ([layer][direction]) arranged once for a
 * search (a type, so tf.tidy can return it).
 */
export type EncoderWeights = { layers: BlockLstmWeights[][] };

/** The encoder's weights arranged for searches: null unless the backend runs the fused encoder (BackendTraits.fusedEncoder). */
export function encoderWeights(params: Params, d: ModelDims): EncoderWeights | null {
  if (!backendTraits().fusedEncoder) return null;
  return {
    layers: Array.from({ length: d.layers }, (_, l) =>
      directionsOf(d).map((dir) => {
        const prefix = `enc/l${l}/${dir}`;
        return blockLstmWeights(param(params, `${prefix}/W`), param(params, `${prefix}/U`), param(params, `${prefix}/b`));
      }),
    ),
  };
}

/** The tensors encoderWeights made, for disposing. */
export function encoderWeightTensors(w: EncoderWeights | null): tf.Tensor[] {
  return w ? w.layers.flat().flatMap(blockLstmTensors) : [];
}

/** What an encoder run may skip (LstmRunOptions), and what a search hands it. */
export interface EncodeOptions extends LstmRunOptions {
  /** Each row's real length, when the caller has them. */
  lengths?: readonly number[];
  /** With inference on the fused encoder: its weights arranged once (encoderWeights). */
  arranged?: EncoderWeights | null;
}

/**
 * @param srcIds int32 [batch, srcLen], padded with 0
 * @param srcMask float32 [batch, srcLen]
 * @param opts what the LSTM may skip: masking of positions every row has, and (search) keeping values for a backward pass
 */
export function encode(
  params: Params,
  d: ModelDims,
  srcIds: tf.Tensor2D,
  srcMask: tf.Tensor2D,
  drop: Dropout,
  opts: EncodeOptions = { unpaddedSteps: 0, inference: false },
): EncodedSource {
  const { states, finals } = backendTraits().fusedEncoder ? encodeFused(params, d, srcIds, srcMask, drop, opts) : encodePortable(params, d, srcIds, srcMask, drop, opts);
  const initial = finals.map((dirs) => (d.bidirectional ? bridge(params, dirs) : dirs[0]!));
  return {
    states,
    keys: attentionKeys(params, d, states),
    maskBias: tf.mul(tf.sub(1, srcMask), -1e9) as tf.Tensor2D,
    initial,
  };
}

/** The encoder's LSTM layers: states [batch, srcLen, encOut] of the top layer, the final states of every layer and direction. */
interface LayerRun {
  states: tf.Tensor3D;
  finals: LstmState[][];
}

function directionsOf(d: ModelDims): readonly ('fw' | 'bw')[] {
  return d.bidirectional ? ['fw', 'bw'] : ['fw'];
}

/** Batch-major, with s2s's own LSTM (every backend). */
function encodePortable(params: Params, d: ModelDims, srcIds: tf.Tensor2D, srcMask: tf.Tensor2D, drop: Dropout, opts: LstmRunOptions): LayerRun {
  const [batch, len] = srcIds.shape;
  let layerInput = drop(embedLookup(param(params, 'src_emb'), tf.reshape(srcIds, [-1]))) as tf.Tensor2D; // [batch·len, in]
  const finals: LstmState[][] = [];
  let states: tf.Tensor3D | null = null;
  const zeros = tf.zeros([batch, d.hidden]) as tf.Tensor2D;
  for (let l = 0; l < d.layers; l++) {
    if (l > 0) layerInput = drop(layerInput) as tf.Tensor2D;
    const outs: tf.Tensor3D[] = [];
    const layerFinals: LstmState[] = [];
    for (const dir of directionsOf(d)) {
      const prefix = `enc/l${l}/${dir}`;
      const xProj = tf.reshape(dense(layerInput, param(params, `${prefix}/W`), param(params, `${prefix}/b`)), [batch, len, 4 * d.hidden]) as tf.Tensor3D;
      const run = runLstm(xProj, srcMask, param(params, `${prefix}/U`), { h: zeros, c: zeros }, dir === 'bw', opts);
      outs.push(run.outputs);
      layerFinals.push(run.final);
    }
    states = outs.length === 1 ? outs[0]! : (tf.concat(outs, 2) as tf.Tensor3D);
    layerInput = tf.reshape(states, [batch * len, d.encOut]) as tf.Tensor2D;
    finals.push(layerFinals);
  }
  return { states: states!, finals };
}

/** Time-major, through TensorFlow's fused LSTM kernels (fused-lstm.ts); the top layer's states transposed to batch-major once. */
function encodeFused(params: Params, d: ModelDims, srcIds: tf.Tensor2D, srcMask: tf.Tensor2D, drop: Dropout, opts: EncodeOptions): LayerRun {
  const [batch, len] = srcIds.shape;
  const padding = paddedLengths(srcMask, opts.lengths);
  const arranged = opts.inference ? opts.arranged : null;
  const embedded = drop(embedLookup(param(params, 'src_emb'), tf.reshape(tf.transpose(srcIds), [-1])));
  let layerInput = tf.reshape(embedded, [len, batch, d.emb]) as tf.Tensor3D;
  const finals: LstmState[][] = [];
  for (let l = 0; l < d.layers; l++) {
    if (l > 0) layerInput = drop(layerInput) as tf.Tensor3D;
    const outs: tf.Tensor3D[] = [];
    const layerFinals: LstmState[] = [];
    for (const [k, dir] of directionsOf(d).entries()) {
      const prefix = `enc/l${l}/${dir}`;
      const run = arranged
        ? runFusedLstmInference(layerInput, arranged.layers[l]![k]!, padding, dir === 'bw')
        : runFusedLstm(layerInput, param(params, `${prefix}/W`), param(params, `${prefix}/U`), param(params, `${prefix}/b`), padding, dir === 'bw');
      outs.push(run.outputs);
      layerFinals.push(run.final);
    }
    layerInput = outs.length === 1 ? outs[0]! : (tf.concat(outs, 2) as tf.Tensor3D);
    finals.push(layerFinals);
  }
  return { states: tf.transpose(layerInput, [1, 0, 2]) as tf.Tensor3D, finals };
}

/** Maps the two directions' final states to the decoder size: tanh([fw; bw]·W + b). */
function bridge(params: Params, dirs: LstmState[]): LstmState {
  const [fw, bw] = dirs as [LstmState, LstmState];
  const h = tanh(dense(tf.concat([fw.h, bw.h], 1), param(params, 'bridge/h/W'), param(params, 'bridge/h/b')));
  const c = tanh(dense(tf.concat([fw.c, bw.c], 1), param(params, 'bridge/c/W'), param(params, 'bridge/c/b')));
  return { h, c };
}

