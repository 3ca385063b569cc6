/**
 * Checkpoints: a directory that alone suffices to translate and to resume.
 *
 *   checkpoint.json     format, s2s version, step, and the size + sha256 of every file below
 *   config.json         the resolved config
 *   src.vocab.json, tgt.vocab.json, split.json
 *   model.json + weights.bin          tfjs weights manifest and binary
 *   optimizer.json + optimizer.bin    Adam moments (training checkpoints)
 *   trainer.json        epoch, step, position in the epoch, RNG state, best metric, patience
 *   metrics.json        validation history
 *
 * Writes go to a temporary sibling directory that is renamed into place, and
 * checkpoint.json is written last: a crash never leaves a half-written
 * checkpoint that looks valid. Loading verifies every file against it.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import { configFromPlain, configToPlain, type S2SConfig } from '../config.ts';
import { Vocab } from '../data/vocab.ts';
import { parseSplitRecord, type SplitRecord } from '../data/split.ts';
import { modelDims, paramsFromTensors } from '../model/params.ts';
import type { Seq2Seq } from '../model/seq2seq.ts';
import { s2sVersion } from '../project.ts';
import type { Adam } from './adam.ts';
import type { RngState } from './rng.ts';

export const CHECKPOINT_FORMAT = 's2s-checkpoint';
/** Bumped when the layout or the meaning of a file changes. */
export const CHECKPOINT_VERSION = 1;
const MANIFEST = 'checkpoint.json';

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

export interface CheckpointContents {
  config: S2SConfig;
  srcVocab: Vocab;
  tgtVocab: Vocab;
  split: SplitRecord;
  model: Seq2Seq;
  optimizer?: Adam;
  trainer?: TrainerState;
  metrics?: ValidationRecord[];
}

export interface LoadedCheckpoint {
  dir: string;
  config: S2SConfig;
  srcVocab: Vocab;
  tgtVocab: Vocab;
  split: SplitRecord;
  model: Seq2Seq;
  /** Present in training checkpoints. */
  optimizerTensors?: Record<string, tf.Tensor>;
  trainer?: TrainerState;
  metrics: ValidationRecord[];
}

interface Manifest {
  format: string;
  version: number;
  s2s: string;
  created: string;
  step: number | null;
  files: Record<string, { bytes: number; sha256: string }>;
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

async function encodeTensors(tensors: Record<string, tf.Tensor>, binName: string): Promise<{ json: string; bin: Uint8Array }> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  const json = JSON.stringify({ format: 'tfjs-weights', weightsManifest: [{ paths: [binName], weights: specs }] }, null, 1);
  return { json, bin: new Uint8Array(data) };
}

async function writeFileSynced(path: string, data: string | Uint8Array): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a checkpoint to `dir` atomically (replacing an existing one). */
export async function saveCheckpoint(dir: string, c: CheckpointContents): Promise<void> {
  const target = resolve(dir);
  const parent = dirname(target);
  const tmp = join(parent, `.${basename(target)}.tmp-${process.pid}-${Date.now()}`);
  try {
    await mkdir(parent, { recursive: true });
    await removeStaleTemps(target);
    await mkdir(tmp);
    const files: Record<string, string | Uint8Array> = {
      'config.json': JSON.stringify(configToPlain(c.config), null, 2),
      'src.vocab.json': JSON.stringify(c.srcVocab.toJSON()),
      'tgt.vocab.json': JSON.stringify(c.tgtVocab.toJSON()),
      'split.json': JSON.stringify(c.split),
      'metrics.json': JSON.stringify(c.metrics ?? [], null, 1),
    };
    const weights = await encodeTensors(Object.fromEntries(c.model.params), 'weights.bin');
    files['model.json'] = weights.json;
    files['weights.bin'] = weights.bin;
    if (c.optimizer) {
      const opt = await encodeTensors(c.optimizer.tensors(), 'optimizer.bin');
      files['optimizer.json'] = opt.json;
      files['optimizer.bin'] = opt.bin;
    }
    if (c.trainer) files['trainer.json'] = JSON.stringify(c.trainer, null, 1);
    const manifest: Manifest = {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      s2s: s2sVersion(),
      created: new Date().toISOString(),
      step: c.trainer?.step ?? null,
      files: {},
    };
    for (const [name, data] of Object.entries(files)) {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      await writeFileSynced(join(tmp, name), bytes);
      manifest.files[name] = { bytes: bytes.byteLength, sha256: sha256(bytes) };
    }
    await writeFileSynced(join(tmp, MANIFEST), JSON.stringify(manifest, null, 1));
    await swapInto(tmp, target);
  } catch (err) {
    // Cleaning up may fail for the same reason as the save (ENOTDIR, EACCES): report the save's error.
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    const code = (err as NodeJS.ErrnoException).code;
    if (['ENOSPC', 'EACCES', 'EROFS', 'EPERM', 'EDQUOT', 'ENOTDIR', 'EEXIST'].includes(code ?? '')) {
      throw new UserError(`cannot write checkpoint (${code}); the previous checkpoint is intact`, { where: target });
    }
    throw err;
  }
}

/**
 * Replaces `target` by `tmp` with renames only. The previous checkpoint is
 * moved to `.<name>.old` and removed only after the new one is in place, so at
 * every instant either `target` or `.<name>.old` is a complete checkpoint
 * (resolveCheckpointDir falls back to the latter).
 */
async function swapInto(tmp: string, target: string): Promise<void> {
  const old = join(dirname(target), `.${basename(target)}.old`);
  if (existsSync(target)) {
    await rm(old, { recursive: true, force: true });
    await rename(target, old);
  }
  await rename(tmp, target);
  await rm(old, { recursive: true, force: true });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temporary directories left by interrupted saves: any of `target`,
 * and those of sibling checkpoints (`.step-7.tmp-PID-…`) whose process is gone.
 */
async function removeStaleTemps(target: string): Promise<void> {
  const prefix = `.${basename(target)}.tmp-`;
  for (const name of await readdir(dirname(target))) {
    const pid = /^\..+\.tmp-(\d+)-\d+$/.exec(name)?.[1];
    if (pid === undefined) continue;
    if (name.startsWith(prefix) || (Number(pid) !== process.pid && !processAlive(Number(pid)))) {
      await rm(join(dirname(target), name), { recursive: true, force: true });
    }
  }
}

export function isCheckpointDir(dir: string): boolean {
  return existsSync(join(dir, MANIFEST));
}

/**
 * The checkpoint a path names: a checkpoint directory itself, or a training
 * output directory (its `last`). Recovers `.last.old` left by a crash mid-swap.
 */
export function resolveCheckpointDir(path: string, which = 'last'): string {
  const dir = resolve(path);
  if (isCheckpointDir(dir)) return dir;
  const named = join(dir, which);
  if (isCheckpointDir(named)) return named;
  const recovered = join(dir, `.${which}.old`);
  if (isCheckpointDir(recovered)) return recovered;
  if (!existsSync(dir)) throw new UserError('checkpoint not found', { where: path });
  throw new UserError(`not an s2s checkpoint (no ${MANIFEST})`, { where: path });
}

async function readVerified(dir: string, manifest: Manifest, name: string): Promise<Buffer> {
  const where = join(dir, name);
  const entry = manifest.files[name];
  if (!entry) throw new UserError(`checkpoint lists no file '${name}'`, { where: join(dir, MANIFEST) });
  let data: Buffer;
  try {
    data = await readFile(where);
  } catch {
    throw new UserError('checkpoint file is missing', { where });
  }
  if (data.byteLength !== entry.bytes) {
    throw new UserError(`checkpoint file is ${data.byteLength} bytes, expected ${entry.bytes} (truncated or partly written)`, { where });
  }
  if (sha256(data) !== entry.sha256) throw new UserError('checkpoint file is corrupt (checksum mismatch)', { where });
  return data;
}

async function readJson(dir: string, manifest: Manifest, name: string): Promise<unknown> {
  const data = await readVerified(dir, manifest, name);
  try {
    return JSON.parse(data.toString('utf8'));
  } catch {
    throw new UserError('checkpoint file is not valid JSON', { where: join(dir, name) });
  }
}

async function readTensors(dir: string, manifest: Manifest, jsonName: string): Promise<Record<string, tf.Tensor>> {
  const where = join(dir, jsonName);
  const meta = (await readJson(dir, manifest, jsonName)) as {
    weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const group = meta.weightsManifest?.[0];
  if (!group || group.paths.length !== 1) throw new UserError('weights manifest is malformed', { where });
  const bin = await readVerified(dir, manifest, group.paths[0]!);
  const expected = group.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (expected !== bin.byteLength) {
    throw new UserError(`weights manifest describes ${expected} bytes but ${group.paths[0]} has ${bin.byteLength}`, { where });
  }
  const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
  return tf.io.decodeWeights(buffer, group.weights) as Record<string, tf.Tensor>;
}

/** The model's dimensions; a config that cannot describe a model names the checkpoint's config.json, not a flag. */
function checkpointDims(dir: string, config: S2SConfig, srcSize: number, tgtSize: number): ReturnType<typeof modelDims> {
  try {
    return modelDims(config.model, srcSize, tgtSize);
  } catch (err) {
    if (err instanceof UserError) throw new UserError(err.message, { where: join(dir, 'config.json') });
    throw err;
  }
}

/** The embeddings' rows must match the vocabularies: otherwise the vocabulary file is the odd one out. */
function checkVocabSizes(dir: string, tensors: Record<string, tf.Tensor>, srcSize: number, tgtSize: number): void {
  for (const [side, size, emb] of [['src', srcSize, 'src_emb'], ['tgt', tgtSize, 'tgt_emb']] as const) {
    const rows = tensors[emb]?.shape[0];
    if (rows === undefined || rows === size) continue;
    throw new UserError(`the ${side} vocabulary has ${size} entries but the weights embed ${rows} (${emb} in model.json)`, {
      where: join(dir, `${side}.vocab.json`),
    });
  }
}

/** Loads and verifies a checkpoint. Training state is read when present. */
export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  const dir = resolveCheckpointDir(path);
  const manifestPath = join(dir, MANIFEST);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
  } catch {
    throw new UserError('checkpoint manifest is unreadable or not JSON', { where: manifestPath });
  }
  if (manifest.format !== CHECKPOINT_FORMAT || typeof manifest.files !== 'object') {
    throw new UserError('not an s2s checkpoint manifest', { where: manifestPath });
  }
  if (manifest.version !== CHECKPOINT_VERSION) {
    throw new UserError(
      `checkpoint format version ${manifest.version} (written by s2s ${manifest.s2s}) is not supported by s2s ${s2sVersion()}, which reads version ${CHECKPOINT_VERSION}`,
      { where: manifestPath },
    );
  }
  const config = configFromPlain(await readJson(dir, manifest, 'config.json'), join(dir, 'config.json'));
  const srcVocab = Vocab.fromJSON(await readJson(dir, manifest, 'src.vocab.json'), join(dir, 'src.vocab.json'));
  const tgtVocab = Vocab.fromJSON(await readJson(dir, manifest, 'tgt.vocab.json'), join(dir, 'tgt.vocab.json'));
  const split = parseSplitRecord(await readJson(dir, manifest, 'split.json'), join(dir, 'split.json'));
  const metrics = (await readJson(dir, manifest, 'metrics.json')) as ValidationRecord[];
  const dims = checkpointDims(dir, config, srcVocab.size, tgtVocab.size);
  const tensors = await readTensors(dir, manifest, 'model.json');
  let params;
  try {
    checkVocabSizes(dir, tensors, srcVocab.size, tgtVocab.size);
    params = paramsFromTensors(dims, tensors, join(dir, 'model.json'));
  } finally {
    tf.dispose(Object.values(tensors));
  }
  const loaded: LoadedCheckpoint = { dir, config, srcVocab, tgtVocab, split, model: { dims, params }, metrics };
  if (manifest.files['optimizer.json']) loaded.optimizerTensors = await readTensors(dir, manifest, 'optimizer.json');
  if (manifest.files['trainer.json']) loaded.trainer = (await readJson(dir, manifest, 'trainer.json')) as TrainerState;
  return loaded;
}

/** Removes the oldest `step-N` checkpoints in `out`, keeping `keep` of them. */
export async function pruneStepCheckpoints(out: string, keep: number): Promise<void> {
  if (!existsSync(out)) return;
  const steps = (await readdir(out))
    .filter((n) => /^step-\d+$/.test(n) && statSync(join(out, n)).isDirectory())
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  for (const name of steps.slice(0, Math.max(0, steps.length - keep))) {
    await rm(join(out, name), { recursive: true, force: true });
  }
}
