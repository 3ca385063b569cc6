/**
 * Checkpoints on disk: a directory that alone suffices to translate (a model
 * directory) or also to resume (a training checkpoint). What each file holds
 * and how it is verified is model/checkpoint-files.ts, shared with the web
 * page; this module adds the file system.
 *
 * Writes go to a temporary sibling directory that is renamed into place, and
 * checkpoint.json is written last: a crash never leaves a half-written
 * checkpoint that looks valid. Loading verifies every file against it.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import type { S2SConfig } from '../config.ts';
import type { Vocab } from '../data/vocab.ts';
import type { SplitRecord } from '../data/split.ts';
import {
  encodeCheckpoint,
  MANIFEST,
  readCheckpoint,
  type CheckpointContents,
  type Manifest,
  type TrainerState,
  type ValidationRecord,
} from '../model/checkpoint-files.ts';
import type { Seq2Seq } from '../model/seq2seq.ts';
import { s2sVersion } from '../project.ts';

export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointContents,
  type TrainerState,
  type ValidationRecord,
} from '../model/checkpoint-files.ts';

export interface LoadedCheckpoint {
  dir: string;
  manifest: Manifest;
  config: S2SConfig;
  srcVocab: Vocab;
  tgtVocab: Vocab;
  /** Null in a model directory exported without one. */
  split: SplitRecord | null;
  model: Seq2Seq;
  /** Present in training checkpoints (unless loaded with `optimizer: false`). */
  optimizerTensors?: Record<string, tf.Tensor>;
  trainer?: TrainerState;
  metrics: ValidationRecord[];
}

export interface SaveOptions {
  /** Store the weights as float16 (model directories). */
  float16?: boolean;
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

/**
 * Writes a checkpoint to `dir` atomically (replacing an existing one). Without
 * optimizer and trainer state in `c` it is a model directory.
 */
export async function saveCheckpoint(dir: string, c: CheckpointContents, opts: SaveOptions = {}): Promise<void> {
  const target = resolve(dir);
  const parent = dirname(target);
  const tmp = join(parent, `.${basename(target)}.tmp-${process.pid}-${Date.now()}`);
  try {
    const files = await encodeCheckpoint(c, { version: s2sVersion(), float16: opts.float16 });
    await mkdir(parent, { recursive: true });
    await removeStaleTemps(target);
    await mkdir(tmp);
    for (const [name, data] of files) await writeFileSynced(join(tmp, name), data);
    await swapInto(tmp, target);
  } catch (err) {
    // Cleaning up may fail for the same reason as the save (ENOTDIR, EACCES): report the save's error.
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    const code = (err as NodeJS.ErrnoException).code;
    if (['ENOSPC', 'EACCES', 'EROFS', 'EPERM', 'EDQUOT', 'ENOTDIR', 'EEXIST'].includes(code ?? '')) {
      throw new UserError(`cannot write checkpoint (${code}); the previous checkpoint is intact`, { where: target, code: 'OUTPUT' });
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
  if (!existsSync(dir)) throw new UserError('checkpoint not found', { where: path, code: 'MODEL_NOT_FOUND' });
  throw new UserError(`not an s2s checkpoint (no ${MANIFEST})`, { where: path, code: 'BAD_MODEL' });
}

export interface LoadOptions {
  /** Read the optimizer's moments (default true); false to translate or export. */
  optimizer?: boolean;
  /** Which checkpoint of a training output directory (default `last`). */
  which?: string;
}

/** Loads and verifies a checkpoint or model directory (or a training output directory's `last`). */
export async function loadCheckpoint(path: string, opts: LoadOptions = {}): Promise<LoadedCheckpoint> {
  const dir = resolveCheckpointDir(path, opts.which);
  const read = async (name: string): Promise<Uint8Array> => {
    try {
      return await readFile(join(dir, name));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UserError(code === 'ENOENT' ? 'checkpoint file is missing' : `cannot read checkpoint file (${code})`, { where: join(dir, name) });
    }
  };
  const data = await readCheckpoint(read, { label: (name) => join(dir, name), optimizer: opts.optimizer });
  return { dir, ...data };
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
