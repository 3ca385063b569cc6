/**
 * Model directories on disk: a checkpoint without optimizer or trainer state
 * (weights, both vocabularies, config, manifest), what `s2s export` writes and
 * what every command that translates loads. Also which model is used when no
 * `--checkpoint` is given.
 */
import { existsSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { disposeModel } from './model/seq2seq.ts';
import { MANIFEST, TRAINING_FILES, parseManifest } from './model/checkpoint-files.ts';
import { UserError } from './errors.ts';
import { DEFAULT_CONFIG_NAME } from './config.ts';
import { PROJECT_ROOT, SHIPPED_MODEL } from './project.ts';

export { SHIPPED_MODEL };
import { isCheckpointDir, loadCheckpoint, saveCheckpoint } from './train/checkpoint.ts';

/** Names the model used when no checkpoint is given (before any other default). */
export const MODEL_ENV = 'S2S_MODEL';

/**
 * The checkpoint to translate with that a path names: a checkpoint or model
 * directory itself, or a training output directory's `best` (else its `last`;
 * also their `.old` copies left by a crash mid-save).
 */
export function resolveModelDir(path: string): string {
  const dir = resolve(path);
  if (isCheckpointDir(dir)) return dir;
  for (const name of ['best', 'last', '.best.old', '.last.old']) {
    if (isCheckpointDir(join(dir, name))) return join(dir, name);
  }
  if (!existsSync(dir)) throw new UserError('checkpoint not found', { where: path, code: 'MODEL_NOT_FOUND' });
  throw new UserError(`not an s2s checkpoint or model directory (no ${MANIFEST})`, { where: path, code: 'BAD_MODEL' });
}

export interface ModelChoice {
  /** The directory to load (before resolveModelDir). */
  path: string;
  /** Why this one, for `s2s info`. */
  reason: string;
}

export interface DefaultModelOptions {
  /** Where models/ is looked for (default: the s2s installation). */
  root?: string;
  /** Where checkpoints/ is looked for (default: the working directory, where `s2s train` writes it). */
  cwd?: string;
  /** The environment to read MODEL_ENV from (default process.env). */
  env?: Record<string, string | undefined>;
}

/**
 * The model used when no checkpoint is named: `$S2S_MODEL`; else the default
 * config's training output `checkpoints/cmn-eng/` under the working directory
 * if it exists; else the model shipped in s2s's `models/en-zh-tatoeba/`. Null
 * when there is none.
 */
export function defaultModel(opts: DefaultModelOptions = {}): ModelChoice | null {
  const root = opts.root ?? PROJECT_ROOT;
  const env = opts.env ?? process.env;
  const fromEnv = env[MODEL_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { path: resolve(fromEnv), reason: `${MODEL_ENV} is set` };
  const trained = resolve(opts.cwd ?? '.', 'checkpoints', DEFAULT_CONFIG_NAME);
  if (existsSync(trained)) {
    return { path: trained, reason: `checkpoints/${DEFAULT_CONFIG_NAME}/ exists (trained with \`s2s train\`)` };
  }
  const shipped = join(root, 'models', SHIPPED_MODEL);
  if (isCheckpointDir(shipped)) {
    return { path: shipped, reason: `no --checkpoint and no checkpoints/${DEFAULT_CONFIG_NAME}/: the model shipped with s2s` };
  }
  return null;
}

/** The default model, or an error that says how to get one. */
export function requireDefaultModel(opts: DefaultModelOptions = {}): ModelChoice {
  const choice = defaultModel(opts);
  if (choice) return choice;
  const root = opts.root ?? PROJECT_ROOT;
  throw new UserError('no model to translate with: no --checkpoint given, and neither a trained nor a shipped model exists', {
    where: join(root, 'models', SHIPPED_MODEL),
    code: 'MODEL_NOT_FOUND',
    hint: `train one with \`s2s train\` (or in seconds, for trying things out: \`s2s train --config tiny\`, then --checkpoint ${resolve(opts.cwd ?? '.', 'checkpoints', 'tiny')})`,
  });
}

/**
 * Why `out` cannot receive a model directory, or null if it can: it does not
 * exist, is empty, or is a model directory holding nothing but its own files.
 */
export function exportTargetProblem(out: string): string | null {
  let ancestor = resolve(out);
  while (!existsSync(ancestor) && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
  if (ancestor !== resolve(out)) {
    return statSync(ancestor).isDirectory() ? null : `${ancestor} is a file, not a directory`;
  }
  if (!statSync(out).isDirectory()) return 'it is a file, not a directory';
  const entries = readdirSync(out);
  if (entries.length === 0) return null;
  if (!entries.includes(MANIFEST)) return 'it exists and is not a model directory (it holds other files)';
  let listed: string[];
  try {
    listed = Object.keys(parseManifest(readFileSync(join(out, MANIFEST)), join(out, MANIFEST)).files);
  } catch {
    return `it holds a ${MANIFEST} that is not an s2s manifest`;
  }
  if (listed.some((name) => TRAINING_FILES.includes(name))) return 'it is a training checkpoint (it holds optimizer state)';
  const foreign = entries.filter((name) => name !== MANIFEST && !listed.includes(name));
  if (foreign.length > 0) return `it holds files that are not part of the model (${foreign.slice(0, 3).join(', ')})`;
  return null;
}

/** Checks both paths of an export before any work; returns the checkpoint directory to read. */
export function checkExportPaths(checkpoint: string, out: string): string {
  const from = resolveModelDir(checkpoint);
  const problem = exportTargetProblem(out);
  if (problem !== null) {
    throw new UserError(`will not export here: ${problem}`, {
      where: out,
      hint: 'choose a new directory, or an earlier export to replace',
      exitCode: 2,
      code: 'OUTPUT',
    });
  }
  return from;
}

export interface ExportOptions {
  /** Store the weights as float16: half the bytes, decoded to float32 on load. */
  float16?: boolean;
}

export interface ExportResult {
  /** The checkpoint read. */
  from: string;
  out: string;
  /** Bytes of the model directory written. */
  bytes: number;
  weightBytes: number;
}

/**
 * Puts back a previous export that a killed export had moved aside
 * (`.<name>.old`, see saveCheckpoint) before renaming the new one in: only
 * when `out` is missing and the copy is a model directory s2s wrote.
 */
function restoreInterruptedExport(out: string): void {
  const target = resolve(out);
  const old = join(dirname(target), `.${basename(target)}.old`);
  if (existsSync(target) || !isCheckpointDir(old) || exportTargetProblem(old) !== null) return;
  renameSync(old, target);
}

/**
 * Writes a model directory at `out` from a checkpoint, a model directory or a
 * training output directory (its `best`). `out` is replaced atomically; an
 * existing `out` that is anything but a model directory is refused untouched.
 */
export async function exportModel(checkpoint: string, out: string, opts: ExportOptions = {}): Promise<ExportResult> {
  restoreInterruptedExport(out);
  const from = checkExportPaths(checkpoint, out);
  const loaded = await loadCheckpoint(from, { optimizer: false });
  try {
    await saveCheckpoint(
      out,
      {
        config: loaded.config,
        srcVocab: loaded.srcVocab,
        tgtVocab: loaded.tgtVocab,
        ...(loaded.split ? { split: loaded.split } : {}),
        model: loaded.model,
        metrics: loaded.metrics,
      },
      { float16: opts.float16 === true },
    );
  } finally {
    disposeModel(loaded.model);
  }
  const sizes = readdirSync(out).map((name) => [name, statSync(join(out, name)).size] as const);
  return {
    from,
    out: resolve(out),
    bytes: sizes.reduce((n, [, size]) => n + size, 0),
    weightBytes: sizes.find(([name]) => name === 'weights.bin')?.[1] ?? 0,
  };
}
