/**
 * What the benchmark runs on: the configured corpus (real batches, real
 * validation sentences), a freshly initialised model and Adam, all from the
 * config's seed. No tensors here except the model's parameters.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { buildConfig, type S2SConfig } from '../src/config.ts';
import { configNameOf, readConfigFile, resolveConfigPath } from '../src/config-file.ts';
import { makeBatch, planBatches, type Batch, type EncodedPair } from '../src/data/batches.ts';
import { buildVocabs, loadDataset } from '../src/data/dataset.ts';
import { createModel, type Seq2Seq } from '../src/model/seq2seq.ts';
import { loadCheckpoint } from '../src/train/checkpoint.ts';
import { PROJECT_ROOT } from '../src/project.ts';
import { Rng } from '../src/train/rng.ts';

/** The config with its corpus paths made absolute (relative ones resolve against the repository root). */
export function benchConfig(nameOrPath: string): S2SConfig {
  const path = resolveConfigPath(nameOrPath, PROJECT_ROOT);
  const file = readConfigFile(path);
  const base = buildConfig(configNameOf(path), file);
  const absolute = (p: string): string => (isAbsolute(p) ? p : resolve(PROJECT_ROOT, p));
  return buildConfig(base.name, file, { data: { data: base.data.data.map(absolute) } });
}

/** The corpus files of the config that do not exist, relative to the repository root. */
export function missingCorpusFiles(config: S2SConfig): string[] {
  return config.data.data.filter((p) => !existsSync(p)).map((p) => relative(PROJECT_ROOT, p));
}

export interface Workload {
  config: S2SConfig;
  /** Training batches in the trainer's first-epoch order (seeded shuffle of length buckets). */
  trainBatches: Batch[];
  /** Validation source sentences as ids, in corpus order. */
  validSources: number[][];
  /** Their reference lengths (target tokens), for judging how realistic the decoding lengths are. */
  validTargetLengths: number[];
  srcVocabSize: number;
  tgtVocabSize: number;
}

/** Reads, splits and encodes the corpus; `batches` training batches and at most `sentences` validation sources. */
export async function loadWorkload(config: S2SConfig, batches: number, sentences: number): Promise<Workload> {
  const dataset = await loadDataset(config.data, { seed: config.training.seed });
  const vocabs = buildVocabs(dataset.train, config.data);
  const encode = (p: { src: string[]; tgt: string[] }): EncodedPair => ({ src: vocabs.src.encode(p.src), tgt: vocabs.tgt.encode(p.tgt) });
  const train = dataset.train.map(encode);
  const t = config.training;
  const rng = new Rng(`${t.seed}/data`);
  const plan = planBatches(train, { batchSize: t.batchSize, batchTokens: t.batchTokens }, (items) => rng.shuffle(items));
  const trainBatches = Array.from({ length: batches }, (_, i) => makeBatch(train, plan[i % plan.length]!));
  const valid = dataset.valid.slice(0, sentences).map(encode);
  return {
    config,
    trainBatches,
    validSources: valid.map((p) => [...p.src]),
    validTargetLengths: valid.map((p) => p.tgt.length),
    srcVocabSize: vocabs.src.size,
    tgtVocabSize: vocabs.tgt.size,
  };
}

/** A model freshly initialised from the config's seed (speed does not depend on the weights). */
export function freshModel(w: Workload): Seq2Seq {
  return createModel(w.config.model, w.srcVocabSize, w.tgtVocabSize, w.config.training.seed);
}

/** What decoding is measured with: a model and validation sources in its vocabulary. */
export interface DecodingSet {
  /** `fresh`: the freshly initialised model, outputs capped (see measure.ts); `checkpoint`: a trained model, its own lengths. */
  kind: 'fresh' | 'checkpoint';
  model: Seq2Seq;
  sources: number[][];
  /** Reference lengths (target tokens) of the sources. */
  targetLengths: number[];
  /** The decoding settings searches start from (the model's config). */
  decoding: S2SConfig['decoding'];
}

/**
 * A trained checkpoint and the first `sentences` sentences of its own
 * validation split (its corpus paths resolve against the repository root),
 * encoded with its vocabulary. The caller disposes the model.
 */
export async function checkpointDecoding(path: string, sentences: number): Promise<DecodingSet> {
  const c = await loadCheckpoint(path);
  // Decoding needs the weights only.
  for (const t of Object.values(c.optimizerTensors ?? {})) t.dispose();
  const absolute = (p: string): string => (isAbsolute(p) ? p : resolve(PROJECT_ROOT, p));
  const data = { ...c.config.data, data: c.config.data.data.map(absolute) };
  const dataset = await loadDataset(data, { seed: c.config.training.seed, split: c.split ?? undefined });
  const valid = dataset.valid.slice(0, sentences);
  return {
    kind: 'checkpoint',
    model: c.model,
    sources: valid.map((p) => [...c.srcVocab.encode(p.src)]),
    targetLengths: valid.map((p) => p.tgt.length),
    decoding: c.config.decoding,
  };
}

/** A fresh model from the config's seed with the workload's validation sources. */
export function freshDecoding(w: Workload): DecodingSet {
  return { kind: 'fresh', model: freshModel(w), sources: w.validSources, targetLengths: w.validTargetLengths, decoding: w.config.decoding };
}
