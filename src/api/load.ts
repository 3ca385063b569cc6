/**
 * `loadTranslator`: a model directory, checkpoint or training output directory
 * from disk (or the default model) as a Translator, with a TensorFlow.js
 * backend started if none is yet.
 */
import type { BackendChoice, BackendOptions, BackendRequest } from '../backend/index.ts';
import { UserError } from '../errors.ts';
import { requireDefaultModel, resolveModelDir } from '../model-dir.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { Translator } from './translator.ts';

export interface BackendStartOptions {
  /** Which TensorFlow.js backend (default `auto`: native TensorFlow, else wasm, else cpu). */
  backend?: BackendRequest;
  /** wasm threads (default S2S_THREADS, else one per core). */
  threads?: number;
  /** Receives the line saying which backend runs and why (default: dropped). */
  log?: (line: string) => void;
}

let started: Promise<BackendChoice> | null = null;

/**
 * Starts a backend once per process; later calls return the first choice.
 * Programs that set up TensorFlow.js themselves pass `backend: false` to loadTranslator.
 */
export async function startBackend(opts: BackendStartOptions = {}): Promise<BackendChoice> {
  return startBackendWith(opts, {});
}

/** startBackend, with `tuning` for the backend if this call starts it. */
async function startBackendWith(opts: BackendStartOptions, tuning: Pick<BackendOptions, 'oneDnn'>): Promise<BackendChoice> {
  if (started === null) {
    const { initBackend } = await import('../backend/index.ts');
    const log = opts.log ?? (() => {});
    started = initBackend(opts.backend ?? 'auto', log, {}, { threads: opts.threads, warn: log, ...tuning });
    started.catch(() => (started = null));
  }
  return started;
}

export interface LoadTranslatorOptions extends Omit<BackendStartOptions, 'backend'> {
  /** The backend to start, or false when the program has started one itself. */
  backend?: BackendRequest | false;
}

/**
 * Loads a model for translating. `path` is a model directory, a checkpoint, or
 * a training output directory (its `best`); omitted, null or `'default'`, the
 * default model (see `defaultModel`). A backend it starts is started for
 * decoding, as `s2s translate` starts it (native TensorFlow without oneDNN:
 * BackendOptions.oneDnn).
 */
export async function loadTranslator(path?: string | null, opts: LoadTranslatorOptions = {}): Promise<Translator> {
  if (path !== undefined && path !== null && typeof path !== 'string') {
    throw new UserError('loadTranslator takes a directory path or nothing (the default model)', { where: 'path', code: 'USAGE' });
  }
  const dir = resolveModelDir(path === undefined || path === null || path === 'default' ? requireDefaultModel().path : path);
  if (opts.backend !== false) await startBackendWith({ ...opts, backend: opts.backend }, { oneDnn: false });
  const loaded = await loadCheckpoint(dir, { optimizer: false });
  return new Translator(loaded, dir);
}
