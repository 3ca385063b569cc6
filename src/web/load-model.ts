/**
 * Loads the model directory that sits beside the page, over HTTP.
 * (Interim reader of checkpoint files; replaced by the shared loader.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { configFromPlain } from '../config.ts';
import { Vocab } from '../data/vocab.ts';
import type { TranslationModel } from '../decode/translator.ts';
import { modelDims, paramsFromTensors } from '../model/params.ts';
import { UserError } from '../errors.ts';

/** Bytes of one file of the model directory; a missing file is an error naming it. */
export type ReadFile = (name: string) => Promise<Uint8Array>;

/** Reads files relative to `base` (a URL ending in `/`) with fetch. */
export function fetchReader(base: string): ReadFile {
  return async (name) => {
    const url = new URL(name, base).href;
    let response: Response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw new UserError(`cannot fetch (${(err as Error).message})`, { where: url });
    }
    if (!response.ok) throw new UserError(`HTTP ${response.status} ${response.statusText}`.trim(), { where: url });
    return new Uint8Array(await response.arrayBuffer());
  };
}

export async function loadModel(read: ReadFile): Promise<TranslationModel> {
  const json = async (name: string): Promise<unknown> => JSON.parse(new TextDecoder().decode(await read(name)));
  const config = configFromPlain(await json('config.json'), 'config.json');
  const srcVocab = Vocab.fromJSON(await json('src.vocab.json'), 'src.vocab.json');
  const tgtVocab = Vocab.fromJSON(await json('tgt.vocab.json'), 'tgt.vocab.json');
  const meta = (await json('model.json')) as { weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  const group = meta.weightsManifest[0]!;
  const bin = await read(group.paths[0]!);
  const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
  const tensors = tf.io.decodeWeights(buffer, group.weights) as Record<string, tf.Tensor>;
  const dims = modelDims(config.model, srcVocab.size, tgtVocab.size);
  try {
    return { config, srcVocab, tgtVocab, model: { dims, params: paramsFromTensors(dims, tensors, 'model.json') } };
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
