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
import { constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.ts';
import { errnoReason, isErrno, makeDirsOnce, processAlive } from '../fs-atomic.ts';
import {
  encodeCheckpoint,
  MANIFEST,
  MODEL_FILES,
  readCheckpoint,
  TRAINING_FILES,
  type CheckpointContents,
  type CheckpointData,
  type Manifest,
  type TrainerState,
  type ValidationRecord,
} from '../model/checkpoint-files.ts';
import { s2sVersion } from '../project.ts';

export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointContents,
  type TrainerState,
  type ValidationRecord,
} from '../model/checkpoint-files.ts';

/** A checkpoint loaded from disk: its contents and the directory they came from. */
export interface LoadedCheckpoint extends CheckpointData {
  dir: string;
}

export interface SaveOptions {
  /** Store the weights as float16 (model directories). */
  float16?: boolean;
}

async function writeFileSynced(path: string, data: string | Uint8Array): Promise<void> {
  // A new file in a directory this save just made: exclusive, never through a link.
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o666);
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
    makeDirsOnce(parent);
    await removeStaleTemps(target);
    await mkdir(tmp);
    for (const [name, data] of files) await writeFileSynced(join(tmp, name), data);
    await swapInto(tmp, target);
  } catch (err) {
    // Cleaning up may fail for the same reason as the save (ENOTDIR, EACCES): report the save's error.
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (isErrno(err)) {
      throw new UserError(`cannot write checkpoint (${err.code}); the previous checkpoint is intact`, { where: target, code: 'OUTPUT' });
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
  let movedAside = false;
  if (existsSync(target)) {
    refuseUnlessOwned(target);
    // `target` is complete, so a `.old` beside it is stale; but it too is removed only if s2s wrote it.
    if (existsSync(old)) refuseUnlessOwned(old);
    await rm(old, { recursive: true, force: true });
    await rename(target, old);
    movedAside = true;
  }
  await rename(tmp, target);
  // Only the `.old` this swap made: one left by a crash, with no `target` beside it, is a recoverable checkpoint.
  if (movedAside) await rm(old, { recursive: true, force: true });
}

/** Every name a checkpoint s2s writes may hold. */
const CHECKPOINT_FILE_NAMES = new Set([MANIFEST, ...MODEL_FILES, ...TRAINING_FILES, 'weights.bin', 'split.json', 'metrics.json']);

/**
 * Why `dir` is not a checkpoint s2s wrote, or null when it is: it has a
 * manifest and every entry in it is listed there. Only such a directory is
 * ever replaced or pruned: s2s deletes nothing it cannot prove it wrote.
 */
export function notOwnedCheckpoint(dir: string): string | null {
  let listed: Set<string>;
  try {
    const manifest = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as Manifest;
    listed = new Set([MANIFEST, ...Object.keys(manifest.files ?? {})]);
  } catch {
    // No manifest: a checkpoint whose removal was interrupted holds only checkpoint file names.
    listed = CHECKPOINT_FILE_NAMES;
    if (!readdirSync(dir).every((name) => listed.has(name))) return `not an s2s checkpoint (no readable ${MANIFEST})`;
  }
  const foreign = readdirSync(dir).filter((name) => !listed.has(name));
  if (foreign.length === 0) return null;
  return `holds files its ${MANIFEST} does not list (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''})`;
}

function refuseUnlessOwned(dir: string): void {
  const why = notOwnedCheckpoint(dir);
  if (why) throw new UserError(`refusing to replace ${dir}: it ${why}`, { where: dir, hint: 'move it away or choose another --out' });
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
/** How many times a load starts over when a save replaced the checkpoint while it was being read. */
const LOAD_ATTEMPTS = 10;

/**
 * Reads one checkpoint file: a regular file (not a link, FIFO or device),
 * checked with fstat to be of the manifest's size before a byte is read.
 * O_NONBLOCK keeps the open of a FIFO from waiting for a writer.
 */
async function readCheckpointFile(path: string, expectedBytes?: number): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError('checkpoint file is missing', { where: path });
    if (code === 'ELOOP') throw new UserError('checkpoint file is a symbolic link; checkpoints hold regular files only', { where: path });
    throw new UserError(`cannot read checkpoint file: ${isErrno(err) ? errnoReason(err) : String(err)}`, { where: path });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new UserError('checkpoint file is not a regular file (a FIFO, device or directory)', { where: path });
    if (expectedBytes !== undefined && st.size !== expectedBytes) {
      throw new UserError(`checkpoint file is ${st.size} bytes, expected ${expectedBytes} (truncated or partly written)`, { where: path });
    }
    // The manifest itself has no listed size: a few MB is far more than any manifest.
    if (expectedBytes === undefined && st.size > 4 * 2 ** 20) throw new UserError('checkpoint manifest is implausibly large', { where: path });
    const data = new Uint8Array(st.size);
    let read = 0;
    while (read < data.length) {
      const { bytesRead } = await handle.read(data, read, data.length - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    if (read !== data.length) throw new UserError(`checkpoint file is ${read} bytes, expected ${data.length} (truncated while reading)`, { where: path });
    return data;
  } finally {
    await handle.close();
  }
}

/** The checkpoint `path` names now and its manifest's bytes (null if there is none), to tell whether a save swapped it. */
function currentGeneration(path: string, which?: string): string | null {
  try {
    const dir = resolveCheckpointDir(path, which);
    return `${dir}\n${readFileSync(join(dir, MANIFEST), 'utf8')}`;
  } catch {
    return null;
  }
}

/**
 * Loads and verifies a checkpoint or model directory (or a training output
 * directory's `last`). A training run may replace the checkpoint while it is
 * read: when a load fails and the checkpoint is no longer the one it started
 * on, it starts over (a few times), so readers see the old checkpoint or the
 * new one, never a mixture.
 */
export async function loadCheckpoint(path: string, opts: LoadOptions = {}): Promise<LoadedCheckpoint> {
  for (let attempt = 1; ; attempt++) {
    const before = currentGeneration(path, opts.which);
    try {
      const dir = resolveCheckpointDir(path, opts.which);
      const read = (name: string, expectedBytes?: number): Promise<Uint8Array> => readCheckpointFile(join(dir, name), expectedBytes);
      const data = await readCheckpoint(read, { label: (name) => join(dir, name), optimizer: opts.optimizer });
      return { dir, ...data };
    } catch (err) {
      const swapped = before !== currentGeneration(path, opts.which);
      if (!(err instanceof UserError) || !swapped || attempt >= LOAD_ATTEMPTS) throw err;
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 20 * attempt));
    }
  }
}

/** Removes the oldest `step-N` checkpoints in `out`, keeping `keep` of them. */
export async function pruneStepCheckpoints(out: string, keep: number): Promise<void> {
  if (!existsSync(out)) return;
  const steps = (await readdir(out))
    .filter((n) => /^step-\d+$/.test(n) && statSync(join(out, n)).isDirectory())
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  for (const name of steps.slice(0, Math.max(0, steps.length - keep))) {
    // A `step-N` directory that is not a checkpoint s2s wrote is left alone.
    if (notOwnedCheckpoint(join(out, name)) === null) await rm(join(out, name), { recursive: true, force: true });
  }
}
