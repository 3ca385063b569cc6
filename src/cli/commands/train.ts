/**
 * `s2s train`: read the corpus, build vocabularies, train with validation and
 * checkpoints; `--resume DIR` continues a run exactly where it stopped.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { S2SConfig } from '../../config.ts';
import { UserError, usageError } from '../../errors.ts';
import { makeDirs } from '../../fs-atomic.ts';
import { checkOutputFile, checkWritableDir } from '../../user-paths.ts';
import type { LoadedCheckpoint } from '../../train/checkpoint.ts';
import type { TrainingData } from '../../train/prepare.ts';
import type { VocabSet } from '../../data/vocab-set.ts';
import { addConfigOptions, checkpointsDir, configFromOptions, overridesFromOptions } from '../config-options.ts';
import { globalOptions, initBackendFor } from '../global-options.ts';
import { addPreparedOption, prepareWorkers, withRebuildHint } from '../prepared-data.ts';

const GROUPS = ['data', 'model', 'training', 'decoding'] as const;

/** Training settings that may change when resuming (everything else comes from the checkpoint). */
const RESUMABLE_KEYS = ['epochs', 'maxSteps', 'validEvery', 'saveEvery', 'keep', 'logEvery', 'earlyStop'];

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a model (default config: cmn-eng) and save checkpoints')
    .option('--resume <dir>', 'continue from the checkpoint in DIR (an output dir or a checkpoint)')
    .option('--force', 'write into --out even if it holds other files or an earlier run')
    .option('--vocab <dir>', 'use the vocabularies and split `s2s vocab --out DIR` saved, built with the same data settings')
    .option('--log-json <file>', 'append one JSON object per logged step and per validation');
  addPreparedOption(cmd);
  addConfigOptions(cmd, [...GROUPS]);
  cmd.action(async (opts: Record<string, unknown>, command: Command) => {
    await runTrain(opts, command);
  });
}

/** Output directory: --out, or checkpoints/<config name> under the working directory. */
function outputDir(config: S2SConfig): string {
  return resolve(config.training.out ?? join(checkpointsDir(), config.name));
}

/** Fails before training, not at the first checkpoint, when `out` cannot be created or written (a probe file is made). */
function checkOutputWritable(out: string): void {
  checkWritableDir(out, '--out');
}

/** The names a run writes in its output directory: `last`, `best`, `step-N` and their `.old` copies left by a crash mid-save. */
const RUN_ENTRY = /^(last|best|step-\d+)$|^\.(last|best|step-\d+)\.old$/;

/**
 * Refuses to train into a directory that holds something else, unless
 * --force; even with --force, a `last`, `best` or `step-N` there that is not
 * a checkpoint s2s wrote is refused now, not after training up to the first save.
 */
async function checkOutputDir(out: string, force: boolean): Promise<void> {
  if (!existsSync(out)) return checkOutputWritable(out);
  if (!statSync(out).isDirectory()) throw new UserError('--out exists and is not a directory', { where: out, exitCode: 2 });
  // A prepared dataset (from `s2s prepare`) is not a run; a `.last.old` alone is a checkpoint a crash left to be recovered: it makes the directory a run.
  const entries = readdirSync(out).filter((n) => (!n.startsWith('.') && n !== 'prepared') || /^\.(last|best|step-\d+)\.old$/.test(n));
  if (force) {
    const { notOwnedCheckpoint } = await import('../../train/checkpoint.ts');
    for (const name of entries.filter((n) => /^(last|best|step-\d+)$/.test(n))) {
      const why = notOwnedCheckpoint(join(out, name));
      if (why) throw new UserError(`--force replaces only checkpoints s2s wrote; ${join(out, name)} ${why}`, { where: out, exitCode: 2 });
    }
  }
  if (entries.length === 0 || force) return checkOutputWritable(out);
  const isRun = entries.every((n) => RUN_ENTRY.test(n) || n.endsWith('.jsonl'));
  throw new UserError(
    isRun ? 'the output directory already holds a training run' : 'the output directory holds files that are not s2s checkpoints',
    {
      where: out,
      hint: isRun ? `continue it with --resume ${out}, or start over with --force` : 'choose another --out, or pass --force',
      exitCode: 2,
    },
  );
}

function checkCorpusPresent(config: S2SConfig): void {
  const files = config.data.src ? [config.data.src, config.data.tgt!] : config.data.data;
  for (const file of files) {
    if (existsSync(file)) continue;
    const isDefault = file.endsWith(join('cmn-eng', 'cmn-eng.tsv'));
    throw new UserError('corpus file not found', {
      where: file,
      hint: isDefault
        ? 'fetch it with: s2s data get cmn-eng   (or import a local copy: s2s data get cmn-eng --from FILE)'
        : undefined,
    });
  }
}

/** What a run starts from: the resolved config, where it writes, and the checkpoint it resumes. */
interface RunStart {
  config: S2SConfig;
  out: string;
  resume?: LoadedCheckpoint;
  vocabSet?: VocabSet;
}

/**
 * With --resume everything but the budget (RESUMABLE_KEYS) and --out comes
 * from the checkpoint: a flag that would change anything else is refused
 * rather than silently ignored (repeating the checkpoint's own value is fine).
 */
function refuseIgnoredFlags(opts: Record<string, unknown>, saved: S2SConfig): void {
  const given = overridesFromOptions(opts, [...GROUPS]);
  const ignored = GROUPS.flatMap((g) =>
    Object.entries(given[g] ?? {})
      .filter(([k, v]) => !RESUMABLE_KEYS.includes(k) && k !== 'out' && JSON.stringify(v) !== JSON.stringify((saved[g] as Record<string, unknown>)[k]))
      .map(([k]) => k),
  );
  if (ignored.length === 0) return;
  const flags = ignored.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  throw usageError(
    `--resume continues with the checkpoint's settings; ${flags.join(', ')} cannot change`,
    flags[0]!,
    `only ${RESUMABLE_KEYS.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} and --out may be given with --resume`,
  );
}

/** The step and done flag of the checkpoint in `dir`, from its manifest and trainer.json (null when there is none). */
function savedStep(dir: string): { step: number; done: boolean } | null {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { step?: unknown };
    const trainer = JSON.parse(readFileSync(join(dir, 'trainer.json'), 'utf8')) as { done?: unknown };
    return typeof manifest.step === 'number' ? { step: manifest.step, done: trainer.done === true } : null;
  } catch {
    return null;
  }
}

/**
 * `--resume DIR`: the checkpoint's config with the resumable training flags
 * applied. It writes where it was, or into --out when given. Resuming an older
 * checkpoint (`best`, `step-N`) into a run whose `last` is newer is refused:
 * it would silently replace that `last`.
 */
async function resumedRun(opts: Record<string, unknown>, command: Command, resumeFrom: string): Promise<RunStart> {
  const { loadCheckpoint, resolveCheckpointDir } = await import('../../train/checkpoint.ts');
  const { buildConfig } = await import('../../config.ts');
  const dir = resolveCheckpointDir(resumeFrom);
  const runDir = ['last', 'best', '.last.old'].includes(basename(dir)) || /^step-\d+$/.test(basename(dir)) ? dirname(dir) : dir;
  const outFlag = typeof opts.out === 'string' ? resolve(opts.out) : null;
  const out = outFlag ?? runDir;
  if (outFlag !== null && outFlag !== runDir) await checkOutputDir(out, opts.force === true);
  else checkOutputWritable(out);
  const from = savedStep(dir);
  const last = savedStep(join(out, 'last'));
  if (from && last && resolve(dir) !== resolve(out, 'last') && (last.step > from.step || last.done)) {
    throw new UserError(
      `resuming step ${from.step} would replace ${join(out, 'last')} (step ${last.step}${last.done ? ', finished' : ''})`,
      { where: resumeFrom, hint: `continue it in a new directory with --out DIR, or resume ${out} itself`, exitCode: 2 },
    );
  }
  await checkLogJson(opts);
  await initBackendFor(command); // loading the weights needs it
  const resume = await loadCheckpoint(dir);
  if (!resume.trainer) throw new UserError('this checkpoint has no training state to resume from', { where: dir });
  const saved = resume.config;
  refuseIgnoredFlags(opts, saved);
  const flags = overridesFromOptions(opts, [...GROUPS]).training ?? {};
  const changed: Record<string, unknown> = Object.fromEntries(Object.entries(flags).filter(([k]) => RESUMABLE_KEYS.includes(k)));
  const state = resume.trainer;
  // The budget is the one stated now: a --max-steps the run has used up no longer holds it back.
  if (!('maxSteps' in changed) && saved.training.maxSteps > 0 && state.step >= saved.training.maxSteps) changed.maxSteps = 0;
  const base = { data: { ...saved.data }, model: { ...saved.model }, training: { ...saved.training }, decoding: { ...saved.decoding } };
  const config = buildConfig(saved.name, base, { training: { ...changed, ...(outFlag !== null ? { out: outFlag } : {}) } });
  const { epochs, maxSteps } = config.training;
  const budgetLeft = state.epoch <= epochs && (maxSteps === 0 || state.step < maxSteps);
  if (budgetLeft) state.done = false; // a finished run given more epochs or steps continues
  if (!globalOptions(command).quiet) process.stderr.write(`${resumePlan(dir, state, epochs, maxSteps, budgetLeft)}\n`);
  return { config, out, resume };
}

/** The one line that says what a resumed run will do. */
export function resumePlan(dir: string, state: { step: number; epoch: number }, epochs: number, maxSteps: number, budgetLeft: boolean): string {
  const at = `resuming ${dir} at step ${state.step} (epoch ${Math.min(state.epoch, epochs + 1)})`;
  if (!budgetLeft) {
    return `${at}: nothing left to train (${maxSteps > 0 && state.step >= maxSteps ? `--max-steps ${maxSteps}` : `--epochs ${epochs}`} reached; give a larger one)`;
  }
  return `${at}: training to the end of epoch ${epochs}${maxSteps > 0 ? ` or step ${maxSteps}, whichever comes first` : ''}`;
}

/** --log-json is checked, its directory made and the file created before any training: a bad path never costs a run. */
async function checkLogJson(opts: Record<string, unknown>): Promise<void> {
  if (typeof opts.logJson !== 'string') return;
  checkOutputFile(opts.logJson, '--log-json');
  makeDirs(dirname(resolve(opts.logJson)), opts.logJson);
  const { appendFileSync } = await import('node:fs');
  try {
    appendFileSync(opts.logJson, '');
  } catch (err) {
    const { ioError } = await import('../../fs-atomic.ts');
    throw ioError(err, '--log-json: open the log', opts.logJson);
  }
}

/** A new run: the flags, the corpus and --out are checked before the backend starts (which takes a second or two). */
async function freshRun(opts: Record<string, unknown>, command: Command): Promise<RunStart> {
  const config = configFromOptions(opts, [...GROUPS]);
  checkCorpusPresent(config);
  const vocabSet = typeof opts.vocab === 'string' ? await readVocabSet(opts.vocab, config) : undefined;
  const out = outputDir(config);
  await checkOutputDir(out, opts.force === true);
  await checkLogJson(opts);
  await initBackendFor(command);
  return { config, out, vocabSet };
}

/** `--vocab DIR`: the set `s2s vocab --out DIR` wrote, for this config's data settings. */
async function readVocabSet(dir: string, config: S2SConfig): Promise<VocabSet> {
  const { loadVocabSet } = await import('../../data/vocab-set.ts');
  try {
    return loadVocabSet(resolve(dir), config.data);
  } catch (err) {
    if (!(err instanceof UserError) || err.hint !== undefined) throw err;
    const hint = err.exitCode === 2
      ? 'train with the settings the set was built with, or build it again: s2s vocab --out DIR with the same config and flags'
      : 'make one with: s2s vocab --out DIR (the same config and data flags as train)';
    throw new UserError(`--vocab: ${err.message}`, { where: err.where, hint, exitCode: err.exitCode, code: err.code });
  }
}

/** The corpus counts and vocabulary sizes, on stderr. */
async function reportData(data: TrainingData, config: S2SConfig, from: string | null, write: (line: string) => void): Promise<void> {
  const { skippedSummary } = await import('../../data/dataset.ts');
  const skipped = skippedSummary(data.report);
  if (skipped) write(skipped);
  if (data.report.tooLong > 0) write(`filtered ${data.report.tooLong} pairs longer than ${config.data.maxLen} tokens`);
  write(`vocabulary: ${data.vocabs.src.size} source, ${data.vocabs.tgt.size} target tokens${from ? `, with the split, from ${from}` : ''}`);
}

/** Runs the trainer; the first Ctrl-C (or SIGTERM) stops after the current step and saves `last`, the second exits. */
async function runTrain(opts: Record<string, unknown>, command: Command): Promise<void> {
  const { quiet } = globalOptions(command);
  const { runTraining } = await import('../../api/train.ts');
  const { createProgress } = await import('../progress.ts');
  const write = (line: string): void => void process.stderr.write(`${line}\n`);

  if (typeof opts.resume === 'string' && typeof opts.vocab === 'string') {
    throw usageError('--vocab starts a new run; a resumed run keeps its checkpoint\'s vocabularies', '--vocab');
  }
  const { config, out, resume, vocabSet } =
    typeof opts.resume === 'string' ? await resumedRun(opts, command, opts.resume) : await freshRun(opts, command);
  const preparedDir = typeof opts.prepared === 'string' ? resolve(opts.prepared) : join(out, 'prepared');
  const workers = prepareWorkers(opts);
  const onPrepare = (reason: string): void => {
    if (!quiet) write(`preparing the dataset in ${preparedDir} (${reason})`);
  };
  const progress = createProgress({
    quiet,
    tty: process.stderr.isTTY === true,
    logEvery: config.training.logEvery,
    logJson: typeof opts.logJson === 'string' ? opts.logJson : null,
    write,
  });
  // The first Ctrl-C (or SIGTERM) stops after the current step and saves `last`; the second aborts.
  const stop = new AbortController();
  const onSignal = (): void => {
    if (stop.signal.aborted) process.exit(130);
    if (!quiet) progress.say('stopping after this step and saving the last checkpoint (Ctrl-C again to abort without saving)');
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await runTraining(config, out, resume, {
      prepare: { preparedDir, onPrepare, workers },
      onEvent: progress.listener,
      onData: quiet ? undefined : (data) => reportData(data, config, typeof opts.vocab === 'string' ? resolve(opts.vocab) : null, write),
      signal: stop.signal,
      vocabSet,
    }).catch((err: unknown) => {
      throw withRebuildHint(err, preparedDir);
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.stop();
  }
  if (stop.signal.aborted) process.exitCode = 130;
}
