/**
 * Training for programs: `train(config, { onEvent })` reads the corpus, builds
 * the vocabularies and the model (or continues a run), trains, and writes
 * checkpoints (`last`, `step-N`, and `best`, a model directory). Progress
 * arrives as events; nothing is printed. `s2s train` runs the same
 * `runTraining` after checking its flags.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { BackendRequest } from '../backend/index.ts';
import { buildConfig, type Overrides, type S2SConfig } from '../config.ts';
import { configNameOf, readConfigFile, resolveConfigPath } from '../config-file.ts';
import { UserError } from '../errors.ts';
import { checkModelFits, modelDims } from '../model/params.ts';
import { createModel, disposeModel } from '../model/seq2seq.ts';
import { loadCheckpoint, type LoadedCheckpoint } from '../train/checkpoint.ts';
import { prepareTraining, type PrepareTrainingOptions, type TrainingData } from '../train/prepare.ts';
import type { VocabSet } from '../data/vocab-set.ts';
import { Trainer, type StopReason, type TrainEvent, type TrainListener } from '../train/trainer.ts';
import { PROJECT_ROOT } from '../project.ts';
import { startBackend } from './load.ts';

export type { StopReason, TrainEvent, TrainListener };

/** A config by name (`tiny`, `cmn-eng`: s2s's configs/) or YAML path, with overrides laid over it. */
export function loadConfig(nameOrPath: string, overrides: Overrides = {}): S2SConfig {
  const path = resolveConfigPath(nameOrPath, PROJECT_ROOT);
  return buildConfig(configNameOf(path), readConfigFile(path), overrides);
}

export interface RunHooks {
  /** Where a prepared binary dataset is kept (default: the corpus is read into memory). */
  prepare?: PrepareTrainingOptions;
  /** Every training event: start, epoch, step, validation, lr, checkpoint, done. */
  onEvent?: TrainListener;
  /** Called once the corpus is read and the vocabularies built, before the first step. */
  onData?: (data: TrainingData) => void | Promise<void>;
  /** Aborting stops training after the current step, saving `last` first. */
  signal?: AbortSignal;
  /** A new run's vocabularies and split, from `s2s vocab` (data/vocab-set.ts loadVocabSet), instead of building them. */
  vocabSet?: VocabSet;
}

export interface TrainResult {
  /** The output directory (holds `last`, `best`, `step-N`). */
  out: string;
  /** Why training stopped. */
  reason: StopReason;
  /** Optimizer steps taken in all. */
  step: number;
}

/** Trains `config` into `out` (continuing `resume` if given); the backend must be started. */
export async function runTraining(config: S2SConfig, out: string, resume: LoadedCheckpoint | undefined, hooks: RunHooks = {}): Promise<TrainResult> {
  const data = await prepareTraining(config, resume ?? hooks.vocabSet, hooks.prepare);
  try {
    return await trainOn(data, config, out, resume, hooks);
  } finally {
    data.close();
  }
}

async function trainOn(data: TrainingData, config: S2SConfig, out: string, resume: LoadedCheckpoint | undefined, hooks: RunHooks): Promise<TrainResult> {
  await hooks.onData?.(data);
  if (hooks.signal?.aborted) throw new UserError('training stopped before its first step', { exitCode: 130 });
  // Before any tensor: a model whose training state would not fit in memory is refused, naming the size flags.
  if (!resume) checkModelFits(modelDims(config.model, data.vocabs.src.size, data.vocabs.tgt.size), totalmem());
  const model = resume ? resume.model : createModel(config.model, data.vocabs.src.size, data.vocabs.tgt.size, config.training.seed);
  let done: Extract<TrainEvent, { type: 'done' }> | null = null;
  const listener: TrainListener = (event) => {
    if (event.type === 'done') done = event;
    hooks.onEvent?.(event);
  };
  const { vocabs, split, train, valid } = data;
  const trainer = new Trainer({ config, model, srcVocab: vocabs.src, tgtVocab: vocabs.tgt, split, train, valid, out, resume }, listener);
  if (resume?.optimizerTensors) {
    const tf = await import('@tensorflow/tfjs-core');
    tf.dispose(Object.values(resume.optimizerTensors));
  }
  const stop = (): void => trainer.requestStop();
  hooks.signal?.addEventListener('abort', stop);
  try {
    await trainer.run();
  } finally {
    hooks.signal?.removeEventListener('abort', stop);
    trainer.dispose();
    disposeModel(model);
  }
  const finished = done as Extract<TrainEvent, { type: 'done' }> | null;
  return { out, reason: finished?.reason ?? 'finished', step: finished?.step ?? 0 };
}

export interface TrainOptions extends RunHooks {
  /** Output directory (default: the config's training.out, else checkpoints/<config name> in the working directory). */
  out?: string;
  /** Continue the run in `out` from its `last` checkpoint. */
  resume?: boolean;
  /** Start over in an `out` that already holds files. */
  force?: boolean;
  /** The backend to start (default `auto`), or false when the program has started one itself. */
  backend?: BackendRequest | false;
}

/**
 * Trains a model. `config` is a config object (see `loadConfig`) or a config
 * name/path. Resolves when training stops (finished, max steps, early stop,
 * or `signal` aborted); the model to translate with is `<out>/best`.
 */
export async function train(config: S2SConfig | string, opts: TrainOptions = {}): Promise<TrainResult> {
  let resolved = typeof config === 'string' ? loadConfig(config) : config;
  if (typeof resolved !== 'object' || resolved === null || typeof resolved.training !== 'object') {
    throw new UserError('train takes a config (from loadConfig) or a config name', { where: 'config', code: 'USAGE' });
  }
  const out = resolve(opts.out ?? resolved.training.out ?? join('checkpoints', resolved.name));
  let resume: LoadedCheckpoint | undefined;
  if (opts.resume) {
    if (opts.backend !== false) await startBackend({ backend: opts.backend });
    resume = await loadCheckpoint(out);
    if (!resume.trainer) throw new UserError('this checkpoint has no training state to resume from', { where: resume.dir, code: 'BAD_MODEL' });
    resolved = resume.config;
  } else {
    if (existsSync(out)) {
      if (!statSync(out).isDirectory()) throw new UserError('the output is a file, not a directory', { where: out, code: 'OUTPUT' });
      if (readdirSync(out).some((n) => !n.startsWith('.')) && opts.force !== true) {
        throw new UserError('the output directory is not empty', { where: out, hint: 'pass resume: true to continue a run there, or force: true to start over', code: 'OUTPUT' });
      }
    }
    if (opts.backend !== false) await startBackend({ backend: opts.backend });
  }
  return runTraining(resolved, out, resume, opts);
}
