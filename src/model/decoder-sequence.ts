/**
 * Teacher-forced decoding of whole target sequences (training and loss):
 * the decoder step of decoder.ts run over every position.
 *
 * For dot and general attention the whole run is one op with a hand-written
 * gradient. Its backward pass walks the steps once with a few elementwise ops
 * and two small products per step, and the weight gradients are single
 * [·, batch·len]·[batch·len, ·] products after the walk, instead of per-step
 * products and the many small ops of autodiff through attention. Concat
 * attention (and the test that checks the hand-written gradient) goes
 * through autodiff of the same step function.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gateSlopes, lstmCellBackward, type LstmState } from './lstm.ts';
import { productOverRows, sumOfRows, timesTransposeOf, withGradient } from './ops.ts';
import type { ModelDims, Params } from './params.ts';
import type { Dropout, EncodedSource } from './encoder.ts';
import { decoderStep, decoderWeights, dropoutMasks, initialDecoderState, type DecoderWeights, type StepTrace } from './decoder.ts';
import type { EncoderMemory } from './encoder.ts';

/**
 * h̃_t for every target position.
 * @param xEmb [tgtLen, batch, 4·hidden] (time-major): projectTargetInputs of y_0 … y_{n-1}
 * @param gradient 'auto': the hand-written gradient where it exists; 'autodiff': always autodiff (tests)
 * @returns [tgtLen, batch, hidden]
 */
export function decodeTeacherForced(
  params: Params,
  d: ModelDims,
  enc: EncodedSource,
  xEmb: tf.Tensor3D,
  drop: Dropout,
  gradient: 'auto' | 'autodiff' = 'auto',
): tf.Tensor3D {
  const [steps, batch] = xEmb.shape;
  const w = decoderWeights(params, d);
  const masks = dropoutMasks(drop, steps, d.layers, batch, d.hidden);
  const initial = initialDecoderState(d, enc);
  if (d.attention === 'concat' || gradient === 'autodiff') {
    const xs = tf.unstack(xEmb) as tf.Tensor2D[];
    let state = initial;
    const outputs: tf.Tensor2D[] = [];
    for (let t = 0; t < steps; t++) {
      const out = decoderStep(params, d, w, enc, state, xs[t]!, masks ? masks[t]! : null, 'autodiff');
      outputs.push(out.attentional);
      state = out.state;
    }
    return tf.stack(outputs) as tf.Tensor3D;
  }
  const inputs: FusedInputs = {
    xEmb,
    keys: enc.keys,
    values: enc.states,
    maskBias: enc.maskBias,
    w,
    initial: initial.layers,
    masks: masks ? (tf.stack(masks.flat()) as tf.Tensor3D) : null,
  };
  return fusedRun(params, d, inputs);
}

interface FusedInputs {
  xEmb: tf.Tensor3D;
  keys: tf.Tensor3D;
  values: tf.Tensor3D;
  maskBias: tf.Tensor2D;
  w: DecoderWeights;
  initial: LstmState[];
  /** [steps·layers, batch, hidden] or null */
  masks: tf.Tensor3D | null;
}

/** The op's inputs as a flat list: fixed ones, then per layer h0 and c0, then W, U, b of layers ≥ 1, then the masks. */
function flatten(x: FusedInputs): tf.Tensor[] {
  return [
    x.xEmb,
    x.keys,
    x.values,
    x.maskBias,
    x.w.rec0,
    x.w.wc,
    ...x.initial.flatMap(({ h, c }) => [h, c]),
    ...x.w.upper.flatMap(({ w, u, b }) => [w, u, b]),
    ...(x.masks ? [x.masks] : []),
  ];
}

function unflatten(list: tf.Tensor[], layers: number, withMasks: boolean): FusedInputs {
  const [xEmb, keys, values, maskBias, rec0, wc] = list as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  const initial = Array.from({ length: layers }, (_, l) => ({ h: list[6 + 2 * l] as tf.Tensor2D, c: list[7 + 2 * l] as tf.Tensor2D }));
  const base = 6 + 2 * layers;
  const upper = Array.from({ length: layers - 1 }, (_, k) => ({
    w: list[base + 3 * k] as tf.Tensor2D,
    u: list[base + 3 * k + 1] as tf.Tensor2D,
    b: list[base + 3 * k + 2] as tf.Tensor1D,
  }));
  const masks = withMasks ? (list[base + 3 * (layers - 1)] as tf.Tensor3D) : null;
  return { xEmb, keys, values, maskBias, w: { rec0, wc, upper, owned: [] }, initial, masks };
}

/** Per-step tensors stacked over time ([steps, batch, ·]) for the backward pass. */
interface StackedTrace {
  layers: { recurrentIn: tf.Tensor3D; below: tf.Tensor3D | null; acts: tf.Tensor3D; cPrev: tf.Tensor3D; tanhC: tf.Tensor3D }[];
  joined: tf.Tensor3D;
  attentionalRaw: tf.Tensor3D;
  attention: tf.Tensor3D;
}

function stackTraces(traces: StepTrace[], attention: tf.Tensor2D[], layers: number): StackedTrace {
  const stack = (xs: tf.Tensor2D[]): tf.Tensor3D => tf.stack(xs) as tf.Tensor3D;
  return {
    layers: Array.from({ length: layers }, (_, l) => ({
      recurrentIn: stack(traces.map((t) => t.layers[l]!.recurrentIn)),
      below: l === 0 ? null : stack(traces.map((t) => t.layers[l]!.below!)),
      acts: stack(traces.map((t) => t.layers[l]!.acts)),
      cPrev: stack(traces.map((t) => t.layers[l]!.cPrev)),
      tanhC: stack(traces.map((t) => t.layers[l]!.tanhC)),
    })),
    joined: stack(traces.map((t) => t.joined)),
    attentionalRaw: stack(traces.map((t) => t.attentionalRaw)),
    attention: stack(attention),
  };
}

function traceList(s: StackedTrace): tf.Tensor[] {
  return [
    ...s.layers.flatMap((l) => [l.recurrentIn, ...(l.below ? [l.below] : []), l.acts, l.cPrev, l.tanhC]),
    s.joined,
    s.attentionalRaw,
    s.attention,
  ];
}

function traceFromList(list: tf.Tensor[], layers: number): StackedTrace {
  let k = 0;
  const next = (): tf.Tensor3D => list[k++] as tf.Tensor3D;
  const ls = Array.from({ length: layers }, (_, l) => ({
    recurrentIn: next(),
    below: l === 0 ? null : next(),
    acts: next(),
    cPrev: next(),
    tanhC: next(),
  }));
  return { layers: ls, joined: next(), attentionalRaw: next(), attention: next() };
}

const add = (a: tf.Tensor2D | null, b: tf.Tensor2D): tf.Tensor2D => (a ? (tf.add(a, b) as tf.Tensor2D) : b);

function fusedRun(params: Params, d: ModelDims, x: FusedInputs): tf.Tensor3D {
  const L = d.layers;
  const H = d.hidden;
  const withMasks = x.masks !== null;
  const op = withGradient((list, save) => {
    const inp = unflatten(list, L, withMasks);
    const [steps, batch] = inp.xEmb.shape;
    const xs = tf.unstack(inp.xEmb) as tf.Tensor2D[];
    const maskList = inp.masks ? (tf.unstack(inp.masks) as tf.Tensor2D[]) : null;
    const memory: EncoderMemory = { keys: inp.keys, states: inp.values, maskBias: inp.maskBias };
    let state = { layers: inp.initial, feed: d.inputFeeding ? (tf.zeros([batch, H]) as tf.Tensor2D) : null };
    const outputs: tf.Tensor2D[] = [];
    const traces: StepTrace[] = [];
    const attention: tf.Tensor2D[] = [];
    for (let t = 0; t < steps; t++) {
      const masks = maskList ? maskList.slice(t * L, (t + 1) * L) : null;
      const out = decoderStep(params, d, inp.w, memory, state, xs[t]!, masks, 'trace');
      outputs.push(out.attentional);
      traces.push(out.trace!);
      attention.push(out.attention);
      state = out.state;
    }
    const traced = traceList(stackTraces(traces, attention, L));
    save([...traced, ...list]);
    return {
      value: tf.stack(outputs),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const tr = traceFromList(saved.slice(0, traced.length), L);
        const savedInputs = saved.slice(traced.length);
        return backward(d, dy as tf.Tensor3D, tr, unflatten(savedInputs, L, withMasks), savedInputs);
      },
    };
  });
  return op(...flatten(x)) as tf.Tensor3D;
}

/** The gradients of every input of the fused op, in flatten() order. */
function backward(d: ModelDims, dy: tf.Tensor3D, tr: StackedTrace, inp: FusedInputs, list: tf.Tensor[]): tf.Tensor[] {
  const L = d.layers;
  const H = d.hidden;
  const [steps, batch] = dy.shape;
  const [, srcLen, encOut] = inp.values.shape;
  const dOut = tf.unstack(dy) as tf.Tensor2D[];
  const maskList = inp.masks ? (tf.unstack(inp.masks) as tf.Tensor2D[]) : null;
  const alpha = tf.unstack(tr.attention) as tf.Tensor2D[];
  const tops = tf.unstack(tf.slice(tr.joined, [0, 0, encOut], [steps, batch, H])) as tf.Tensor2D[];
  // tanh'(x) = 1 − tanh²(x), for all steps at once.
  const attentionalSlope = tf.unstack(tf.sub(1, tf.square(tr.attentionalRaw))) as tf.Tensor2D[];
  const layers = tr.layers.map((l) => ({
    acts: tf.unstack(l.acts) as tf.Tensor2D[],
    slope: tf.unstack(gateSlopes(l.acts)) as tf.Tensor2D[],
    cPrev: tf.unstack(l.cPrev) as tf.Tensor2D[],
    tanhC: tf.unstack(l.tanhC) as tf.Tensor2D[],
    cellSlope: tf.unstack(tf.sub(1, tf.square(l.tanhC))) as tf.Tensor2D[],
  }));
  const timesWcT = timesTransposeOf(inp.w.wc);
  const timesRec0T = timesTransposeOf(inp.w.rec0);
  const timesUT = inp.w.upper.map(({ u }) => timesTransposeOf(u));
  const timesWT = inp.w.upper.map(({ w }) => timesTransposeOf(w));

  const dh: (tf.Tensor2D | null)[] = new Array(L).fill(null);
  const dc: (tf.Tensor2D | null)[] = new Array(L).fill(null);
  let dFeed: tf.Tensor2D | null = null;
  let dKeys: tf.Tensor3D | null = null;
  let dValues: tf.Tensor3D | null = null;
  const dz: tf.Tensor2D[][] = Array.from({ length: L }, () => new Array<tf.Tensor2D>(steps));
  const dPre: tf.Tensor2D[] = new Array(steps);
  for (let t = steps - 1; t >= 0; t--) {
    const masks = maskList ? maskList.slice(t * L, (t + 1) * L) : null;
    // h̃_t = mask ⊙ tanh(W_c [c_t; s_t]); it is the output and, with input feeding, the next step's input.
    let dAtt = add(dFeed, dOut[t]!);
    if (masks) dAtt = tf.mul(dAtt, masks[L - 1]!);
    dPre[t] = tf.mul(dAtt, attentionalSlope[t]!);
    const [dContext, dTopJoined] = tf.split(timesWcT(dPre[t]!), [encOut, H], 1) as [tf.Tensor2D, tf.Tensor2D];
    // c_t = Σ_j α_j h_j
    const a = alpha[t]!;
    const dContext3 = tf.reshape(dContext, [batch, 1, encOut]);
    const dAlpha = tf.sum(tf.mul(inp.values, dContext3), 2);
    const dValuesT = tf.mul(tf.reshape(a, [batch, srcLen, 1]), dContext3) as tf.Tensor3D;
    dValues = dValues ? (tf.add(dValues, dValuesT) as tf.Tensor3D) : dValuesT;
    // α = softmax(e): de = α ⊙ (dα − Σ α dα); e_j = keys_j · s_t
    const de = tf.mul(a, tf.sub(dAlpha, tf.sum(tf.mul(a, dAlpha), 1, true)));
    const de3 = tf.reshape(de, [batch, srcLen, 1]);
    const dTopScores = tf.sum(tf.mul(inp.keys, de3), 1) as tf.Tensor2D;
    const dKeysT = tf.mul(de3, tf.reshape(tops[t]!, [batch, 1, H])) as tf.Tensor3D;
    dKeys = dKeys ? (tf.add(dKeys, dKeysT) as tf.Tensor3D) : dKeysT;
    dh[L - 1] = add(dh[L - 1]!, tf.add(dTopJoined, dTopScores) as tf.Tensor2D);
    for (let l = L - 1; l >= 0; l--) {
      const ly = layers[l]!;
      const cell = lstmCellBackward(dh[l]!, dc[l] ?? null, {
        acts: ly.acts[t]!,
        slope: ly.slope[t]!,
        cellSlope: ly.cellSlope[t]!,
        cPrev: ly.cPrev[t]!,
        tanhC: ly.tanhC[t]!,
      });
      const dzt = cell.dz;
      dz[l]![t] = dzt;
      dc[l] = cell.dcPrev;
      if (l === 0) {
        const dRec: tf.Tensor2D = timesRec0T(dzt);
        if (d.inputFeeding) {
          const [dF, dH] = tf.split(dRec, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
          dFeed = dF;
          dh[0] = dH;
        } else {
          dh[0] = dRec;
        }
      } else {
        dh[l] = timesUT[l - 1]!(dzt);
        let dBelow = timesWT[l - 1]!(dzt);
        if (masks) dBelow = tf.mul(dBelow, masks[l - 1]!);
        dh[l - 1] = add(dh[l - 1]!, dBelow);
      }
    }
  }
  const dzAll = dz.map((xs) => tf.stack(xs) as tf.Tensor3D);
  const grads: tf.Tensor[] = [
    dzAll[0]!,
    dKeys!,
    dValues!,
    tf.zerosLike(inp.maskBias),
    productOverRows(tr.layers[0]!.recurrentIn, dzAll[0]!),
    productOverRows(tr.joined, tf.stack(dPre) as tf.Tensor3D),
    ...Array.from({ length: L }, (_, l) => [dh[l]!, dc[l]!]).flat(),
    ...Array.from({ length: L - 1 }, (_, k) => {
      const l = k + 1;
      return [productOverRows(tr.layers[l]!.below!, dzAll[l]!), productOverRows(tr.layers[l]!.recurrentIn, dzAll[l]!), sumOfRows(dzAll[l]!)];
    }).flat(),
    ...(inp.masks ? [tf.zerosLike(inp.masks)] : []),
  ];
  if (grads.length !== list.length) throw new Error(`fused decoder: ${grads.length} gradients for ${list.length} inputs`);
  return grads;
}
