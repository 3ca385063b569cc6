/**
 * The decoder step, shared by teacher-forced training and by greedy and beam
 * search so the two can never drift apart:
 *   s_t = LSTM_dec([emb(y_{t-1}); h̃_{t-1}], s_{t-1})   (input feeding; h̃_0 = 0)
 *   c_t = Σ_j α_tj h_j,  α_t = softmax(score(s_t, h_j))
 *   h̃_t = tanh(W_c [c_t; s_t]),  p(y_t | y<t, x) = softmax(W_s h̃_t + b_s)
 *
 * The first layer's input product is split: the word-embedding part
 * emb(y)·W_emb + b is computed for all positions at once by the caller
 * (projectTargetInputs), and the input-feeding and recurrent parts are one
 * product [h̃_{t-1}; s_{t-1}]·[W_feed; U] per step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { addBias, dense, embedLookup, matMul, tanh } from './ops.ts';
import { lstmCell, packedGates, type LstmState } from './lstm.ts';
import { attend, attendStep } from './attention.ts';
import { lstmBlockCell, toBlockCellOrder, type BlockCellWeights } from './fused-lstm.ts';
import { param, type ModelDims, type Params } from './params.ts';
import { noDropout, type Dropout, type EncodedSource, type EncoderMemory } from './encoder.ts';

export interface DecoderState {
  /** One LSTM state per layer: [batch, hidden] each */
  layers: LstmState[];
  /** The previous attentional vector h̃_{t-1}: [batch, hidden]; null without input feeding */
  feed: tf.Tensor2D | null;
}

/** s_0 = the encoder's last state (bridged when bidirectional), h̃_0 = 0. */
export function initialDecoderState(d: ModelDims, enc: EncodedSource): DecoderState {
  const batch = enc.states.shape[0];
  return { layers: enc.initial, feed: d.inputFeeding ? (tf.zeros([batch, d.hidden]) as tf.Tensor2D) : null };
}

/**
 * The word-embedding part of the first decoder layer's input projection,
 * emb(y)·W_emb + b, for any number of target positions at once.
 * @param ids int32 [n]
 * @returns [n, 4·hidden]
 */
export function projectTargetInputs(params: Params, ids: tf.Tensor1D, drop: Dropout): tf.Tensor2D {
  const emb = drop(embedLookup(param(params, 'tgt_emb'), ids)) as tf.Tensor2D;
  return dense(emb, param(params, 'dec/l0/W_emb'), param(params, 'dec/l0/b'));
}

/** The decoder's weights arranged for the step (see decoderWeights). */
export interface DecoderWeights {
  /** Layer 0's per-step product: [W_feed; U] ([2·hidden, 4·hidden]) with input feeding, else U. */
  rec0: tf.Tensor2D;
  /** Layers 1…L−1: input weights W, recurrent weights U ([hidden, 4·hidden]), bias b. */
  upper: { w: tf.Tensor2D; u: tf.Tensor2D; b: tf.Tensor1D }[];
  /** W_c: [encOut + hidden, hidden]. */
  wc: tf.Tensor2D;
  /** Tensors made here (not parameters): the owner disposes them. */
  owned: tf.Tensor[];
}

/** The weights as the step uses them; with input feeding rec0 is a new tensor (in `owned`). */
export function decoderWeights(params: Params, d: ModelDims): DecoderWeights {
  const u0 = param<tf.Rank.R2>(params, 'dec/l0/U');
  const rec0 = d.inputFeeding ? (tf.concat([param<tf.Rank.R2>(params, 'dec/l0/W_feed'), u0], 0) as tf.Tensor2D) : u0;
  const upper = Array.from({ length: d.layers - 1 }, (_, k) => ({
    w: param<tf.Rank.R2>(params, `dec/l${k + 1}/W`),
    u: param<tf.Rank.R2>(params, `dec/l${k + 1}/U`),
    b: param<tf.Rank.R1>(params, `dec/l${k + 1}/b`),
  }));
  return { rec0, upper, wc: param(params, 'out/W_c'), owned: d.inputFeeding ? [rec0] : [] };
}

/** One layer's values in one step, kept for a hand-written backward pass. */
export interface LayerTrace {
  /** The input of the per-step product: [h̃_{t-1}; s_{t-1}] (layer 0 with feeding) or s_{t-1}: [batch, ·] */
  recurrentIn: tf.Tensor2D;
  /** Layers ≥ 1: the (dropped-out) output of the layer below: [batch, hidden] */
  below: tf.Tensor2D | null;
  /** Gate activations i, f, g, o packed: [batch, 4·hidden] */
  acts: tf.Tensor2D;
  /** c_{t-1} and tanh(c_t): [batch, hidden] */
  cPrev: tf.Tensor2D;
  tanhC: tf.Tensor2D;
}

/** One step's values kept for a hand-written backward pass. */
export interface StepTrace {
  layers: LayerTrace[];
  /** [c_t; s_t]: [batch, encOut + hidden] */
  joined: tf.Tensor2D;
  /** tanh(W_c [c_t; s_t]) before dropout: [batch, hidden] */
  attentionalRaw: tf.Tensor2D;
}

export interface StepOutput {
  state: DecoderState;
  /** h̃_t (after dropout in training): [batch, hidden] */
  attentional: tf.Tensor2D;
  /** α_t: [batch, srcLen] */
  attention: tf.Tensor2D;
  /** Only when asked for. */
  trace: StepTrace | null;
}

/**
 * One decoder time step in plain ops.
 * @param xEmb [batch, 4·hidden]: projectTargetInputs of y_{t-1}
 * @param masks dropout multipliers (0 or 1/keep), one [batch, hidden] per layer:
 *   masks[l] (l < L−1) on layer l's output before layer l+1, masks[L−1] on h̃_t; null: no dropout
 * @param mode 'plain': search, and the forward of the hand-written backward ('trace': also
 *   return the values that backward needs); 'autodiff': products whose gradient avoids
 *   wasm's slow transposed matMul (ops.matMul), for training through autodiff
 */
export function decoderStep(
  params: Params,
  d: ModelDims,
  w: DecoderWeights,
  memory: EncoderMemory,
  state: DecoderState,
  xEmb: tf.Tensor2D,
  masks: readonly tf.Tensor2D[] | null,
  mode: 'plain' | 'trace' | 'autodiff' = 'plain',
): StepOutput {
  const withTrace = mode === 'trace';
  const product = mode === 'autodiff' ? matMul : (a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D => tf.matMul(a, b);
  const layers: LstmState[] = [];
  const traces: LayerTrace[] = [];
  for (let l = 0; l < d.layers; l++) {
    const prev = state.layers[l]!;
    let recurrentIn: tf.Tensor2D;
    let below: tf.Tensor2D | null = null;
    let z: tf.Tensor2D;
    if (l === 0) {
      recurrentIn = state.feed ? (tf.concat([state.feed, prev.h], 1) as tf.Tensor2D) : prev.h;
      z = tf.add(xEmb, product(recurrentIn, w.rec0));
    } else {
      const { w: wl, u, b } = w.upper[l - 1]!;
      const h = layers[l - 1]!.h;
      below = masks ? (tf.mul(h, masks[l - 1]!) as tf.Tensor2D) : h;
      recurrentIn = prev.h;
      z = tf.add(addBias(product(below, wl), b), product(prev.h, u));
    }
    const cell = lstmCell(z, prev.c);
    layers.push({ h: cell.h, c: cell.c });
    if (withTrace) traces.push({ recurrentIn, below, acts: packedGates(cell), cPrev: prev.c, tanhC: cell.tanhC });
  }
  const top = layers[d.layers - 1]!.h;
  const { context, weights: attention } = attend(params, d, top, memory.keys, memory.states, memory.maskBias);
  const joined = tf.concat([context, top], 1) as tf.Tensor2D;
  const attentionalRaw = tanh(product(joined, w.wc)) as tf.Tensor2D;
  const attentional = masks ? (tf.mul(attentionalRaw, masks[d.layers - 1]!) as tf.Tensor2D) : attentionalRaw;
  return {
    state: { layers, feed: d.inputFeeding ? attentional : null },
    attentional,
    attention,
    trace: withTrace ? { layers: traces, joined, attentionalRaw } : null,
  };
}

/**
 * One decoder step with the weights arranged on the fly (tests and one-off
 * use; search arranges them once per batch with decoderWeights).
 * @param inputProj [batch, 4·hidden]: projectTargetInputs of y_{t-1}
 */
export function decodeStep(
  params: Params,
  d: ModelDims,
  enc: EncoderMemory,
  state: DecoderState,
  inputProj: tf.Tensor2D,
  drop: Dropout,
): StepOutput {
  const w = decoderWeights(params, d);
  const [batch] = inputProj.shape;
  const masks = dropoutMasks(drop, 1, d.layers, batch, d.hidden);
  return decoderStep(params, d, w, enc, state, inputProj, masks ? masks[0]! : null, 'autodiff');
}

/**
 * The dropout multipliers (0 or 1/keep) of `steps` decoder steps, drawn at
 * once: masks[t][l] is [batch, hidden] (see decoderStep); null without dropout.
 */
export function dropoutMasks(drop: Dropout, steps: number, layers: number, batch: number, hidden: number): tf.Tensor2D[][] | null {
  if (drop === noDropout) return null;
  const all = tf.unstack(drop(tf.ones([steps * layers, batch, hidden]))) as tf.Tensor2D[];
  return Array.from({ length: steps }, (_, t) => all.slice(t * layers, (t + 1) * layers));
}

/**
 * Output layer: W_s h̃ + b_s (W_s is the transposed target embedding with --tie-output).
 * @param attentional [n, hidden]
 * @returns logits [n, tgtVocab]
 */
export function outputLogits(params: Params, d: ModelDims, attentional: tf.Tensor2D): tf.Tensor2D {
  const w = d.tieOutput ? (tf.transpose(param(params, 'tgt_emb')) as tf.Tensor2D) : param<tf.Rank.R2>(params, 'out/W_s');
  return dense(attentional, w, param(params, 'out/b_s'));
}

/**
 * The decoder's LSTM layers as TensorFlow's LSTMBlockCell takes them, for
 * search on the tensorflow backend (BackendTraits.fusedSearchStep): layer 0's
 * input is [emb(y_{t-1}); h̃_{t-1}] (or emb(y_{t-1}) without input feeding),
 * so w = [W_emb; W_feed; U]; the layers above take [W; U]. All tensors are new.
 */
export function blockCellWeights(params: Params, d: ModelDims): BlockCellWeights[] {
  return tf.tidy(() => {
    const noPeephole = tf.zeros([d.hidden]) as tf.Tensor1D;
    const layer = (rows: tf.Tensor2D[], b: tf.Tensor1D): BlockCellWeights => ({
      w: toBlockCellOrder(tf.concat(rows, 0)) as tf.Tensor2D,
      b: toBlockCellOrder(b) as tf.Tensor1D,
      noPeephole,
    });
    const p = (name: string): tf.Tensor2D => param<tf.Rank.R2>(params, name);
    const first = layer(
      [p('dec/l0/W_emb'), ...(d.inputFeeding ? [p('dec/l0/W_feed')] : []), p('dec/l0/U')],
      param<tf.Rank.R1>(params, 'dec/l0/b'),
    );
    const upper = Array.from({ length: d.layers - 1 }, (_, k) => layer([p(`dec/l${k + 1}/W`), p(`dec/l${k + 1}/U`)], param<tf.Rank.R1>(params, `dec/l${k + 1}/b`)));
    return [first, ...upper];
  });
}

/** The tensors of blockCellWeights (the peephole zeros are shared). */
export function blockCellTensors(cells: readonly BlockCellWeights[]): tf.Tensor[] {
  return [...cells.flatMap((c) => [c.w, c.b]), ...(cells.length > 0 ? [cells[0]!.noPeephole] : [])];
}

/**
 * One decoder step for search with the fewest kernels (tensorflow): each
 * layer one LSTMBlockCell, attention by attendStep; the same mathematics as
 * decoderStep without dropout (general or dot attention).
 * @param emb [batch, emb]: the embeddings of y_{t-1}
 * @param stepMask [batch, 1, srcLen] attention mask bias, or null when no row is padded
 * @returns the new state, h̃_t [batch, hidden] and α_t [batch, 1, srcLen]
 */
export function fusedDecoderStep(
  d: ModelDims,
  w: DecoderWeights,
  cells: readonly BlockCellWeights[],
  memory: EncoderMemory,
  stepMask: tf.Tensor3D | null,
  state: DecoderState,
  emb: tf.Tensor2D,
): { state: DecoderState; attentional: tf.Tensor2D; attention: tf.Tensor3D } {
  const layers: LstmState[] = [];
  for (let l = 0; l < d.layers; l++) {
    const x = l > 0 ? layers[l - 1]!.h : state.feed ? (tf.concat([emb, state.feed], 1) as tf.Tensor2D) : emb;
    layers.push(lstmBlockCell(x, state.layers[l]!, cells[l]!));
  }
  const top = layers[d.layers - 1]!.h;
  const { context, weights } = attendStep(top, memory.keys, memory.states, stepMask);
  const attentional = tanh(tf.matMul(tf.concat([context, top], 1) as tf.Tensor2D, w.wc)) as tf.Tensor2D;
  return { state: { layers, feed: d.inputFeeding ? attentional : null }, attentional, attention: weights };
}
