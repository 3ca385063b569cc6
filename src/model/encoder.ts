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
  opts: LstmRunOptions = { unpaddedSteps: 0, inference: false },
): EncodedSource {
  const [batch, len] = srcIds.shape;
  const embedded = drop(embedLookup(param(params, 'src_emb'), tf.reshape(srcIds, [-1]))) as tf.Tensor2D;
  let layerInput: tf.Tensor2D = embedded; // [batch·len, in]
  const finals: LstmState[][] = [];
  let states: tf.Tensor3D | null = null;
  const zeros = tf.zeros([batch, d.hidden]) as tf.Tensor2D;
  for (let l = 0; l < d.layers; l++) {
    if (l > 0) layerInput = drop(layerInput) as tf.Tensor2D;
    const directions = d.bidirectional ? (['fw', 'bw'] as const) : (['fw'] as const);
    const outs: tf.Tensor3D[] = [];
    const layerFinals: LstmState[] = [];
    for (const dir of directions) {
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
  const initial = finals.map((dirs) => (d.bidirectional ? bridge(params, dirs) : dirs[0]!));
  return {
    states: states!,
    keys: attentionKeys(params, d, states!),
    maskBias: tf.mul(tf.sub(1, srcMask), -1e9) as tf.Tensor2D,
    initial,
  };
}

/** Maps the two directions' final states to the decoder size: tanh([fw; bw]·W + b). */
function bridge(params: Params, dirs: LstmState[]): LstmState {
  const [fw, bw] = dirs as [LstmState, LstmState];
  const h = tanh(dense(tf.concat([fw.h, bw.h], 1), param(params, 'bridge/h/W'), param(params, 'bridge/h/b')));
  const c = tanh(dense(tf.concat([fw.c, bw.c], 1), param(params, 'bridge/c/W'), param(params, 'bridge/c/b')));
  return { h, c };
}

