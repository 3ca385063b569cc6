/**
 * The model's parameters: named variables with shapes derived from the model
 * config and vocabulary sizes. Names are stable: they are the keys of the
 * checkpoint's weight manifest and of the optimizer state.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config.ts';
import { UserError } from '../errors.ts';

export interface ModelDims {
  srcVocab: number;
  tgtVocab: number;
  emb: number;
  hidden: number;
  layers: number;
  bidirectional: boolean;
  /** Size of one encoder state h_j: hidden, or 2·hidden when bidirectional. */
  encOut: number;
  attention: ModelConfig['attention'];
  inputFeeding: boolean;
  tieOutput: boolean;
}

/** The model's dimensions (the config was validated when it was built: see config.ts, checkConsistency). */
export function modelDims(model: ModelConfig, srcVocab: number, tgtVocab: number): ModelDims {
  const encOut = model.bidirectional ? 2 * model.hiddenSize : model.hiddenSize;
  return {
    srcVocab,
    tgtVocab,
    emb: model.embSize,
    hidden: model.hiddenSize,
    layers: model.layers,
    bidirectional: model.bidirectional,
    encOut,
    attention: model.attention,
    inputFeeding: model.inputFeeding,
    tieOutput: model.tieOutput,
  };
}

/** Bytes training holds per parameter: the float32 weight, its gradient and Adam's two moments. */
const TRAINING_BYTES_PER_PARAMETER = 16;

/**
 * Refuses a model whose training state alone would take more than half of
 * `memoryBytes` (the machine's memory, given by the caller: this module also
 * runs in browsers), naming the size flags, before any tensor is allocated.
 */
export function checkModelFits(d: ModelDims, memoryBytes: number): void {
  const count = parameterShapes(d).reduce((n, [, shape]) => n + shape.reduce((a, b) => a * b, 1), 0);
  const need = count * TRAINING_BYTES_PER_PARAMETER;
  if (need <= memoryBytes / 2) return;
  const gb = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GB`;
  throw new UserError(
    `a model of ${count.toLocaleString('en-US')} parameters needs about ${gb(need)} to train; ` +
      `this machine has ${gb(memoryBytes)} (the limit is half of it)`,
    { where: '--hidden-size/--emb-size', hint: 'choose smaller --hidden-size, --emb-size, --layers or vocabularies', exitCode: 2 },
  );
}

/** Name → shape of every parameter, in a fixed order. */
export function parameterShapes(d: ModelDims): [string, number[]][] {
  const h = d.hidden;
  const shapes: [string, number[]][] = [
    ['src_emb', [d.srcVocab, d.emb]],
    ['tgt_emb', [d.tgtVocab, d.emb]],
  ];
  const directions = d.bidirectional ? ['fw', 'bw'] : ['fw'];
  for (let l = 0; l < d.layers; l++) {
    const input = l === 0 ? d.emb : d.encOut;
    for (const dir of directions) {
      shapes.push([`enc/l${l}/${dir}/W`, [input, 4 * h]], [`enc/l${l}/${dir}/U`, [h, 4 * h]], [`enc/l${l}/${dir}/b`, [4 * h]]);
    }
  }
  if (d.bidirectional) {
    shapes.push(['bridge/h/W', [2 * h, h]], ['bridge/h/b', [h]], ['bridge/c/W', [2 * h, h]], ['bridge/c/b', [h]]);
  }
  for (let l = 0; l < d.layers; l++) {
    if (l === 0) {
      shapes.push(['dec/l0/W_emb', [d.emb, 4 * h]]);
      if (d.inputFeeding) shapes.push(['dec/l0/W_feed', [h, 4 * h]]);
    } else {
      shapes.push([`dec/l${l}/W`, [h, 4 * h]]);
    }
    shapes.push([`dec/l${l}/U`, [h, 4 * h]], [`dec/l${l}/b`, [4 * h]]);
  }
  if (d.attention === 'general') shapes.push(['att/W', [d.encOut, h]]);
  if (d.attention === 'concat') shapes.push(['att/W_h', [d.encOut, h]], ['att/W_s', [h, h]], ['att/v', [h, 1]]);
  shapes.push(['out/W_c', [d.encOut + h, h]]);
  if (!d.tieOutput) shapes.push(['out/W_s', [h, d.tgtVocab]]);
  shapes.push(['out/b_s', [d.tgtVocab]]);
  return shapes;
}

export type Params = ReadonlyMap<string, tf.Variable>;

/** Looks up a parameter that the dims guarantee exists. */
export function param<R extends tf.Rank>(params: Params, name: string): tf.Variable<R> {
  const v = params.get(name);
  if (!v) throw new Error(`model parameter '${name}' is missing`);
  return v as tf.Variable<R>;
}

let instance = 0;

/**
 * Creates fresh variables, uniform in [-scale, scale]; biases start at 0 except
 * the LSTM forget gates, which start at 1. Deterministic for a given seed on
 * every backend (tfjs draws the numbers in JavaScript).
 */
export function initParams(d: ModelDims, scale: number, seed: number): Map<string, tf.Variable> {
  const prefix = `s2s${instance++}`;
  const params = new Map<string, tf.Variable>();
  parameterShapes(d).forEach(([name, shape], i) => {
    const value = tf.tidy(() => {
      if (/^(enc|dec)\/l\d+\/((fw|bw)\/)?b$/.test(name)) {
        const gate = shape[0]! / 4;
        return tf.concat([tf.zeros([gate]), tf.ones([gate]), tf.zeros([2 * gate])]);
      }
      if (name.endsWith('/b') || name === 'out/b_s') return tf.zeros(shape);
      return tf.randomUniform(shape, -scale, scale, 'float32', seed * 1000 + i);
    });
    params.set(name, tf.variable(value, true, `${prefix}/${name}`));
    value.dispose();
  });
  return params;
}

/** Variables holding the given values (e.g. from a checkpoint), checked against the dims. */
export function paramsFromTensors(d: ModelDims, values: Record<string, tf.Tensor>, where: string): Map<string, tf.Variable> {
  // Check everything before creating any variable, so a bad checkpoint leaks nothing.
  for (const [name, shape] of parameterShapes(d)) {
    const t = values[name];
    if (!t) throw new UserError(`weights lack parameter '${name}'`, { where });
    if (t.shape.join('x') !== shape.join('x')) {
      throw new UserError(`parameter '${name}' has shape [${t.shape}] but the model config needs [${shape}]`, { where });
    }
  }
  const expected = new Set(parameterShapes(d).map(([n]) => n));
  const extra = Object.keys(values).filter((n) => !expected.has(n));
  if (extra.length > 0) throw new UserError(`weights have parameters the model config does not: ${extra.join(', ')}`, { where });
  const prefix = `s2s${instance++}`;
  return new Map(parameterShapes(d).map(([name]) => [name, tf.variable(values[name]!, true, `${prefix}/${name}`)]));
}

/** The number of trainable numbers. */
export function countParameters(params: Params): number {
  let n = 0;
  for (const v of params.values()) n += v.size;
  return n;
}
