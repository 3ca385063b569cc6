/**
 * The files of a checkpoint or model directory, as bytes: encoding them for
 * saving, and rebuilding config + vocabularies + model from a `read(name)`
 * function. Platform-neutral (no Node imports; SHA-256 through
 * `globalThis.crypto.subtle`), so the same code loads a model from disk in
 * Node (train/checkpoint.ts) and over HTTP in a web page.
 *
 *   checkpoint.json     format, s2s version, step, and the size + sha256 of every file below
 *   config.json         the resolved config
 *   src.vocab.json, tgt.vocab.json
 *   model.json + weights.bin          tfjs weights manifest and binary (float32, or float16
 *                                     through the manifest's `quantization`, decoded on load)
 *   split.json          the train/validation split (optional)
 *   metrics.json        validation history (optional)
 *   optimizer.json + optimizer.bin    Adam moments (training checkpoints only)
 *   trainer.json        epoch, step, position in the epoch, RNG state, best metric, patience
 *
 * A model directory is a checkpoint without the last two: everything needed to
 * translate, nothing needed only to resume.
 */
import * as tf from '@tensorflow/tfjs-core';
import { configFromPlain, configToPlain, type S2SConfig } from '../config.ts';
import { parseSplitRecord, type SplitRecord } from '../data/split-record.ts';
import { Subword, type TokenizerJSON } from '../data/subword.ts';
import { sideTokenizer } from '../data/tokenize.ts';
import { Vocab } from '../data/vocab.ts';
import { UserError } from '../errors.ts';
import type { RngState } from '../train/rng.ts';
import { modelDims, paramsFromTensors } from './params.ts';
import type { Seq2Seq } from './seq2seq.ts';

export const CHECKPOINT_FORMAT = 's2s-checkpoint';
/** Bumped when the layout or the meaning of a file changes. */
export const CHECKPOINT_VERSION = 1;
/** The file that lists (and checksums) all the others; written last. */
export const MANIFEST = 'checkpoint.json';
/** The files a model directory must have besides the manifest and the weights binary. */
export const MODEL_FILES: readonly string[] = ['config.json', 'src.vocab.json', 'tgt.vocab.json', 'model.json'];
/** Files that only training checkpoints have. */
export const TRAINING_FILES: readonly string[] = ['optimizer.json', 'optimizer.bin', 'trainer.json'];

export interface TrainerState {
  epoch: number;
  /** Optimizer steps taken so far. */
  step: number;
  /** Batches of the current epoch already trained on. */
  batchInEpoch: number;
  /** RNG state at the start of the current epoch (re-creates its batch order). */
  epochRng: RngState;
  lr: number;
  bestMetric: number | null;
  /** Validations since the metric last improved (for lr decay / early stop). */
  sinceImprovement: number;
  sinceDecay: number;
  done: boolean;
}

export interface ValidationRecord {
  step: number;
  epoch: number;
  loss: number;
  ppl: number;
  bleu: number | null;
  lr: number;
}

export interface Manifest {
  format: string;
  version: number;
  s2s: string;
  created: string;
  step: number | null;
  files: Record<string, { bytes: number; sha256: string }>;
}

/** What a checkpoint is written from. Without `optimizer` and `trainer` it is a model directory. */
export interface CheckpointContents {
  config: S2SConfig;
  srcVocab: Vocab;
  tgtVocab: Vocab;
  split?: SplitRecord;
  model: Seq2Seq;
  /** Anything with named moment tensors (the trainer's Adam). */
  optimizer?: { tensors(): Record<string, tf.Tensor> };
  trainer?: TrainerState;
  metrics?: ValidationRecord[];
}

export interface EncodeOptions {
  /** The s2s version recorded in the manifest. */
  version: string;
  /** Store the model weights as float16 (half the bytes; decoded to float32 on load). */
  float16?: boolean;
}

/**
 * Reads one file of the directory by name; rejects (ideally with a UserError)
 * when it is missing. `expectedBytes` is the size the manifest gives (absent
 * for the manifest itself): a reader may refuse a file of another size before
 * reading it.
 */
export type ReadFile = (name: string, expectedBytes?: number) => Promise<Uint8Array>;

export interface ReadOptions {
  /** How errors name a file: a path on disk, a URL. Default: the name itself. */
  label?: (name: string) => string;
  /** Read the optimizer's moments too (default true; false for inference). */
  optimizer?: boolean;
}

/** A loaded checkpoint or model directory. */
export interface CheckpointData {
  manifest: Manifest;
  config: S2SConfig;
  srcVocab: Vocab;
  tgtVocab: Vocab;
  /** Null in a model directory exported without one. */
  split: SplitRecord | null;
  model: Seq2Seq;
  metrics: ValidationRecord[];
  /** Present in training checkpoints when asked for. */
  optimizerTensors?: Record<string, tf.Tensor>;
  trainer?: TrainerState;
}

const utf8 = new TextEncoder();

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

// ---- float16 ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * IEEE 754 binary16 bits of a float32, rounded to nearest even (what
 * tfjs-converter's float16 quantization stores). Overflow gives ±Infinity.
 */
export function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal (or zero): the implicit 1 joins the mantissa, shifted into place.
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    const half = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && (half & 1) === 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1) ? 1 : 0));
}

// ---- encoding ----

async function encodeTensors(
  tensors: Record<string, tf.Tensor>,
  binName: string,
  float16: boolean,
): Promise<{ json: string; bin: Uint8Array }> {
  let weights: tf.io.WeightsManifestEntry[];
  let bin: Uint8Array;
  if (!float16) {
    const { data, specs } = await tf.io.encodeWeights(tensors);
    weights = specs;
    bin = new Uint8Array(data as ArrayBuffer);
  } else {
    const entries = Object.entries(tensors);
    const total = entries.reduce((n, [, t]) => n + t.size, 0);
    const halves = new Uint16Array(total);
    weights = [];
    let offset = 0;
    for (const [name, t] of entries) {
      const values = (await t.data()) as Float32Array;
      for (let i = 0; i < values.length; i++) {
        const h = float16Bits(values[i]!);
        if ((h & 0x7c00) === 0x7c00 && Number.isFinite(values[i]!)) {
          throw new UserError(`parameter '${name}' holds ${values[i]}, beyond float16's range (±65504); export it as float32`);
        }
        halves[offset + i] = h;
      }
      offset += values.length;
      weights.push({ name, shape: t.shape, dtype: 'float32', quantization: { dtype: 'float16' } });
    }
    bin = new Uint8Array(halves.buffer);
  }
  const json = JSON.stringify({ format: 'tfjs-weights', weightsManifest: [{ paths: [binName], weights }] }, null, 1);
  return { json, bin };
}

/**
 * Every file of the checkpoint, in writing order: the manifest comes last, so
 * a writer that stops half-way never leaves a directory that looks complete.
 */
export async function encodeCheckpoint(c: CheckpointContents, opts: EncodeOptions): Promise<[string, Uint8Array][]> {
  const files: [string, Uint8Array][] = [
    ['config.json', utf8.encode(JSON.stringify(configToPlain(c.config), null, 2))],
    ['src.vocab.json', utf8.encode(JSON.stringify(c.srcVocab.toJSON()))],
    ['tgt.vocab.json', utf8.encode(JSON.stringify(c.tgtVocab.toJSON()))],
  ];
  if (c.srcVocab.subword) files.push(['src.tokenizer.json', utf8.encode(c.srcVocab.subword.text())]);
  if (c.tgtVocab.subword) files.push(['tgt.tokenizer.json', utf8.encode(c.tgtVocab.subword.text())]);
  if (c.split) files.push(['split.json', utf8.encode(JSON.stringify(c.split))]);
  if (c.metrics) files.push(['metrics.json', utf8.encode(JSON.stringify(c.metrics, null, 1))]);
  const weights = await encodeTensors(Object.fromEntries(c.model.params), 'weights.bin', opts.float16 === true);
  files.push(['model.json', utf8.encode(weights.json)], ['weights.bin', weights.bin]);
  if (c.optimizer) {
    const opt = await encodeTensors(c.optimizer.tensors(), 'optimizer.bin', false);
    files.push(['optimizer.json', utf8.encode(opt.json)], ['optimizer.bin', opt.bin]);
  }
  if (c.trainer) files.push(['trainer.json', utf8.encode(JSON.stringify(c.trainer, null, 1))]);
  const manifest: Manifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    s2s: opts.version,
    created: new Date().toISOString(),
    step: c.trainer?.step ?? null,
    files: {},
  };
  for (const [name, data] of files) manifest.files[name] = { bytes: data.byteLength, sha256: await sha256Hex(data) };
  files.push([MANIFEST, utf8.encode(JSON.stringify(manifest, null, 1))]);
  return files;
}

// ---- reading ----

/** A manifest's file names are plain names inside the directory. */
const PLAIN_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Parses and checks checkpoint.json. */
export function parseManifest(bytes: Uint8Array, where: string): Manifest {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Manifest;
  } catch {
    throw new UserError('checkpoint manifest is unreadable or not JSON', { where });
  }
  if (typeof manifest !== 'object' || manifest === null || manifest.format !== CHECKPOINT_FORMAT) {
    throw new UserError('not an s2s checkpoint manifest', { where });
  }
  if (typeof manifest.files !== 'object' || manifest.files === null || Array.isArray(manifest.files)) {
    throw new UserError('checkpoint manifest has no file list', { where });
  }
  if (manifest.version !== CHECKPOINT_VERSION) {
    throw new UserError(
      `checkpoint format version ${manifest.version} (written by s2s ${manifest.s2s}) is not supported; this s2s reads version ${CHECKPOINT_VERSION}`,
      { where },
    );
  }
  for (const [name, entry] of Object.entries(manifest.files)) {
    if (!PLAIN_NAME.test(name) || name === MANIFEST) throw new UserError(`checkpoint manifest lists a file '${name}' outside the directory`, { where });
    if (
      typeof entry !== 'object' || entry === null || !Number.isSafeInteger(entry.bytes) || entry.bytes < 0 ||
      typeof entry.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(entry.sha256)
    ) {
      throw new UserError(`checkpoint manifest's entry for '${name}' is malformed`, { where });
    }
  }
  for (const name of MODEL_FILES) {
    if (!manifest.files[name]) throw new UserError(`checkpoint lists no file '${name}'`, { where });
  }
  return manifest;
}

/** The first tensor in `buffer` (laid out as `specs`) holding NaN or ±Infinity, with how many such values. */
function firstNonFinite(buffer: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]): { name: string; count: number } | null {
  let offset = 0;
  for (const w of specs) {
    const size = w.shape.reduce((a, b) => a * b, 1);
    let count = 0;
    if (w.quantization?.dtype === 'float16') {
      const halves = new Uint16Array(buffer, offset, size);
      for (let i = 0; i < size; i++) if ((halves[i]! & 0x7c00) === 0x7c00) count++;
      offset += 2 * size;
    } else {
      const values = new Float32Array(buffer, offset, size);
      for (let i = 0; i < size; i++) if (!Number.isFinite(values[i]!)) count++;
      offset += 4 * size;
    }
    if (count > 0) return { name: w.name, count };
  }
  return null;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Validates trainer.json: counts are non-negative integers (epoch and step
 * from 1 and 0), the learning rate finite and positive, the RNG state an
 * alea state. A crafted file is an error naming it, never a loop.
 */
export function parseTrainerState(json: unknown, where: string): TrainerState {
  const bad = (what: string): never => {
    throw new UserError(`not a valid trainer state: ${what}`, { where });
  };
  if (!isRecord(json)) return bad('expected a JSON object');
  const t = json;
  if (!isCount(t.epoch) || t.epoch < 1) bad(`"epoch" must be an integer >= 1, got ${JSON.stringify(t.epoch)}`);
  for (const key of ['step', 'batchInEpoch', 'sinceImprovement', 'sinceDecay']) {
    if (!isCount(t[key])) bad(`"${key}" must be a non-negative integer, got ${JSON.stringify(t[key])}`);
  }
  if (!isFiniteNumber(t.lr) || t.lr < 0) bad(`"lr" must be a finite number >= 0, got ${JSON.stringify(t.lr)}`);
  if (t.bestMetric !== null && !isFiniteNumber(t.bestMetric)) bad('"bestMetric" must be a number or null');
  if (typeof t.done !== 'boolean') bad('"done" must be true or false');
  const rng = t.epochRng;
  if (!isRecord(rng) || !isCount(rng.c) || !['s0', 's1', 's2'].every((k) => isFiniteNumber(rng[k]))) {
    bad('"epochRng" must be an RNG state {c, s0, s1, s2}');
  }
  return {
    epoch: t.epoch as number,
    step: t.step as number,
    batchInEpoch: t.batchInEpoch as number,
    epochRng: { c: (rng as Record<string, number>).c!, s0: (rng as Record<string, number>).s0!, s1: (rng as Record<string, number>).s1!, s2: (rng as Record<string, number>).s2! },
    lr: t.lr as number,
    bestMetric: t.bestMetric as number | null,
    sinceImprovement: t.sinceImprovement as number,
    sinceDecay: t.sinceDecay as number,
    done: t.done as boolean,
  };
}

/** Validates metrics.json: a list of validation records. */
export function parseMetrics(json: unknown, where: string): ValidationRecord[] {
  if (!Array.isArray(json)) throw new UserError('not a valid metrics history: expected a JSON list', { where });
  return json.map((r: unknown, i) => {
    const ok =
      isRecord(r) && isCount(r.step) && isCount(r.epoch) &&
      // JSON writes an infinite perplexity as null.
      (typeof r.loss === 'number' || r.loss === null) && (typeof r.ppl === 'number' || r.ppl === null) &&
      (r.bleu === null || isFiniteNumber(r.bleu)) && isFiniteNumber(r.lr);
    if (!ok) throw new UserError(`not a valid metrics history: entry ${i} is not a validation record`, { where });
    return { step: r.step, epoch: r.epoch, loss: r.loss, ppl: r.ppl, bleu: r.bleu, lr: r.lr } as ValidationRecord;
  });
}

/** Reads the files of one checkpoint through `read`, each verified against the manifest. */
class VerifiedReader {
  constructor(
    private readonly read: ReadFile,
    readonly manifest: Manifest,
    readonly label: (name: string) => string,
  ) {}

  async bytes(name: string): Promise<Uint8Array> {
    const where = this.label(name);
    const entry = this.manifest.files[name];
    if (!entry) throw new UserError(`checkpoint lists no file '${name}'`, { where: this.label(MANIFEST) });
    let data: Uint8Array;
    try {
      data = await this.read(name, entry.bytes);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError('checkpoint file is missing', { where });
    }
    if (data.byteLength !== entry.bytes) {
      throw new UserError(`checkpoint file is ${data.byteLength} bytes, expected ${entry.bytes} (truncated or partly written)`, { where });
    }
    if ((await sha256Hex(data)) !== entry.sha256) {
      throw new UserError('checkpoint file does not match its manifest (checksum mismatch: corrupt, or from another checkpoint)', { where });
    }
    return data;
  }

  async json(name: string): Promise<unknown> {
    const data = await this.bytes(name);
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
    } catch {
      throw new UserError('checkpoint file is not valid JSON', { where: this.label(name) });
    }
  }

  async optionalJson(name: string): Promise<unknown> {
    return this.manifest.files[name] ? this.json(name) : undefined;
  }

  async tensors(jsonName: string): Promise<Record<string, tf.Tensor>> {
    const where = this.label(jsonName);
    const meta = (await this.json(jsonName)) as {
      weightsManifest?: { paths?: unknown; weights?: unknown }[];
    };
    const group = Array.isArray(meta?.weightsManifest) && meta.weightsManifest.length === 1 ? meta.weightsManifest[0] : undefined;
    const paths = group?.paths;
    const specs = group?.weights as tf.io.WeightsManifestEntry[] | undefined;
    if (!Array.isArray(paths) || paths.length !== 1 || typeof paths[0] !== 'string' || !Array.isArray(specs)) {
      throw new UserError('weights manifest is malformed', { where });
    }
    const binName = paths[0];
    let expected = 0;
    for (const w of specs) {
      const quantized = w?.quantization?.dtype;
      const shapeOk = Array.isArray(w?.shape) && w.shape.every((d) => Number.isSafeInteger(d) && d >= 0);
      if (typeof w?.name !== 'string' || !shapeOk || w.dtype !== 'float32' || (quantized !== undefined && quantized !== 'float16')) {
        throw new UserError(`weights manifest entry ${JSON.stringify(w?.name ?? w)} is not a float32 or float16 tensor`, { where });
      }
      expected += w.shape.reduce((a, b) => a * b, 1) * (quantized === 'float16' ? 2 : 4);
    }
    const bin = await this.bytes(binName);
    if (expected !== bin.byteLength) {
      throw new UserError(`weights manifest describes ${expected} bytes but ${binName} has ${bin.byteLength}`, { where });
    }
    const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
    const nonFinite = firstNonFinite(buffer, specs);
    if (nonFinite !== null) {
      throw new UserError(`weights are not finite: '${nonFinite.name}' holds ${nonFinite.count} NaN or infinite values (a diverged or damaged model)`, {
        where: this.label(binName),
      });
    }
    return tf.io.decodeWeights(buffer, specs) as Record<string, tf.Tensor>;
  }
}

/** The embeddings' rows must match the vocabularies: otherwise the vocabulary file is the odd one out. */
function checkVocabSizes(label: (name: string) => string, tensors: Record<string, tf.Tensor>, srcSize: number, tgtSize: number): void {
  for (const [side, size, emb] of [['src', srcSize, 'src_emb'], ['tgt', tgtSize, 'tgt_emb']] as const) {
    const rows = tensors[emb]?.shape[0];
    if (rows === undefined || rows === size) continue;
    throw new UserError(`the ${side} vocabulary has ${size} entries but the weights embed ${rows} (${emb} in model.json)`, {
      where: label(`${side}.vocab.json`),
    });
  }
}

/**
 * Loads a checkpoint or model directory through `read`, verifying every file
 * against the manifest. Training state is read when present (the optimizer's
 * moments only if `opts.optimizer` is not false).
 */
export async function readCheckpoint(read: ReadFile, opts: ReadOptions = {}): Promise<CheckpointData> {
  try {
    return await readVerifiedCheckpoint(read, opts);
  } catch (err) {
    throw err instanceof UserError && err.code === 'BAD_INPUT' ? err.withCode('BAD_MODEL') : err;
  }
}

async function readVerifiedCheckpoint(read: ReadFile, opts: ReadOptions): Promise<CheckpointData> {
  const label = opts.label ?? ((name: string) => name);
  let manifestBytes: Uint8Array;
  try {
    manifestBytes = await read(MANIFEST);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`not an s2s checkpoint (no ${MANIFEST})`, { where: label(MANIFEST) });
  }
  const manifest = parseManifest(manifestBytes, label(MANIFEST));
  const files = new VerifiedReader(read, manifest, label);
  const config = configFromPlain(await files.json('config.json'), label('config.json'));
  const subword = async (side: 'src' | 'tgt'): Promise<Subword | null> => {
    const { kind, subword: model } = sideTokenizer(config.data, side);
    if (model === null) return null;
    const name = `${side}.tokenizer.json`;
    if (!manifest.files[name]) {
      throw new UserError(`checkpoint has no ${name}, but its ${side === 'src' ? 'source' : 'target'} side uses ${model} (config.json)`, {
        where: label(MANIFEST),
      });
    }
    return new Subword((await files.json(name)) as TokenizerJSON, kind, label(name));
  };
  const srcVocab = Vocab.fromJSON(await files.json('src.vocab.json'), label('src.vocab.json'), await subword('src'));
  const tgtVocab = Vocab.fromJSON(await files.json('tgt.vocab.json'), label('tgt.vocab.json'), await subword('tgt'));
  const splitJson = await files.optionalJson('split.json');
  const split = splitJson === undefined ? null : parseSplitRecord(splitJson, label('split.json'));
  const metricsJson = await files.optionalJson('metrics.json');
  const metrics = metricsJson === undefined ? [] : parseMetrics(metricsJson, label('metrics.json'));
  const dims = modelDims(config.model, srcVocab.size, tgtVocab.size);
  const tensors = await files.tensors('model.json');
  let params;
  try {
    checkVocabSizes(label, tensors, srcVocab.size, tgtVocab.size);
    params = paramsFromTensors(dims, tensors, label('model.json'));
  } finally {
    tf.dispose(Object.values(tensors));
  }
  const loaded: CheckpointData = { manifest, config, srcVocab, tgtVocab, split, model: { dims, params }, metrics };
  try {
    if (opts.optimizer !== false && manifest.files['optimizer.json']) loaded.optimizerTensors = await files.tensors('optimizer.json');
    if (manifest.files['trainer.json']) loaded.trainer = parseTrainerState(await files.json('trainer.json'), label('trainer.json'));
  } catch (err) {
    for (const v of params.values()) v.dispose();
    if (loaded.optimizerTensors) tf.dispose(Object.values(loaded.optimizerTensors));
    throw err;
  }
  return loaded;
}
