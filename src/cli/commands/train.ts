/**
 * `s2s train`: read the corpus, build vocabularies, train with validation and
 * checkpoints; `--resume DIR` continues a run exactly where it stopped.
 */
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { S2SConfig } from '../../config.ts';
import { UserError } from '../../errors.ts';
import { addConfigOptions, configFromOptions, overridesFromOptions, projectRoot } from '../config-options.ts';
import { globalOptions, initBackendFor } from '../global-options.ts';

const GROUPS = ['data', 'model', 'training', 'decoding'] as const;

/** Training settings that may change when resuming (everything else comes from the checkpoint). */
const RESUMABLE_KEYS = ['epochs', 'maxSteps', 'validEvery', 'saveEvery', 'keep', 'logEvery', 'earlyStop'];

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a model (default config: cmn-eng) and save checkpoints')
    .option('--resume <dir>', 'continue from the checkpoint in DIR (an output dir or a checkpoint)')
    .option('--force', 'write into --out even if it holds other files or an earlier run')
    .option('--log-json <file>', 'append one JSON object per logged step and per validation');
  addConfigOptions(cmd, [...GROUPS]);
  cmd.action(async (opts: Record<string, unknown>, command: Command) => {
    await runTrain(opts, command);
  });
}

/** Output directory: --out, or checkpoints/<config name> in the project. */
function outputDir(config: S2SConfig): string {
  return resolve(config.training.out ?? join(projectRoot(), 'checkpoints', config.name));
}

/** Fails before training, not at the first checkpoint, when `out` cannot be created or written. */
function checkOutputWritable(out: string): void {
  let dir = out;
  while (!existsSync(dir)) dir = dirname(dir);
  if (!statSync(dir).isDirectory()) {
    throw new UserError(`cannot create the output directory: ${dir} is not a directory`, { where: out, exitCode: 2 });
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UserError('the output directory is not writable (permission denied)', { where: dir });
  }
}

/** Refuses to train into a directory that holds something else, unless --force. */
function checkOutputDir(out: string, force: boolean): void {
  if (!existsSync(out)) return checkOutputWritable(out);
  if (!statSync(out).isDirectory()) throw new UserError('--out exists and is not a directory', { where: out, exitCode: 2 });
  const entries = readdirSync(out).filter((n) => !n.startsWith('.'));
  if (entries.length === 0 || force) return checkOutputWritable(out);
  const isRun = entries.every((n) => n === 'last' || n === 'best' || /^step-\d+$/.test(n) || n.endsWith('.jsonl'));
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

async function runTrain(opts: Record<string, unknown>, command: Command): Promise<void> {
  const { quiet } = globalOptions(command);
  const tf = await import('@tensorflow/tfjs-core');
  const { loadDataset, buildVocabs, skippedSummary } = await import('../../data/dataset.ts');
  const { tokenizeSide, sideTokenizer, detokenize } = await import('../../data/tokenize.ts');
  const { createModel } = await import('../../model/seq2seq.ts');
  const { loadCheckpoint, resolveCheckpointDir } = await import('../../train/checkpoint.ts');
  const { Trainer } = await import('../../train/trainer.ts');
  const { createProgress } = await import('../progress.ts');
  const { buildConfig } = await import('../../config.ts');

  const write = (line: string): void => void process.stderr.write(`${line}\n`);

  let config: S2SConfig;
  let out: string;
  let resume: Awaited<ReturnType<typeof loadCheckpoint>> | undefined;
  if (typeof opts.resume === 'string') {
    const dir = resolveCheckpointDir(opts.resume);
    await initBackendFor(command); // loading the weights needs it
    resume = await loadCheckpoint(dir);
    if (!resume.trainer) throw new UserError('this checkpoint has no training state to resume from', { where: dir });
    const flags = overridesFromOptions(opts, [...GROUPS]).training ?? {};
    const changed = Object.fromEntries(Object.entries(flags).filter(([k]) => RESUMABLE_KEYS.includes(k)));
    const saved = resume.config;
    const base = { data: { ...saved.data }, model: { ...saved.model }, training: { ...saved.training }, decoding: { ...saved.decoding } };
    config = buildConfig(saved.name, base, { training: changed });
    const parent = dirname(dir);
    out = ['last', 'best', '.last.old'].includes(basename(dir)) || /^step-\d+$/.test(basename(dir)) ? parent : dir;
    checkOutputWritable(out);
  } else {
    config = configFromOptions(opts, [...GROUPS]);
    checkCorpusPresent(config);
    out = outputDir(config);
    checkOutputDir(out, opts.force === true);
    // The flags, the corpus and --out are checked before the backend starts (which takes a second or two).
    await initBackendFor(command);
  }

  const dataset = await loadDataset(config.data, { seed: config.training.seed, split: resume?.split ?? undefined });
  const skipped = skippedSummary(dataset.report);
  if (skipped && !quiet) write(skipped);
  if (dataset.report.tooLong > 0 && !quiet) write(`filtered ${dataset.report.tooLong} pairs longer than ${config.data.maxLen} tokens`);
  if (dataset.train.length === 0) throw new UserError('no training pairs left after filtering', { where: config.data.data.join(', ') });

  const vocabs = resume ? { src: resume.srcVocab, tgt: resume.tgtVocab } : buildVocabs(dataset.train, config.data);
  if (!quiet) write(`vocabulary: ${vocabs.src.size} source, ${vocabs.tgt.size} target tokens`);
  const encode = (pairs: typeof dataset.train) =>
    pairs.map((p) => ({ src: vocabs.src.encode(p.src), tgt: vocabs.tgt.encode(p.tgt) }));
  const tgtKind = sideTokenizer(config.data, 'tgt').kind;
  const valid = {
    pairs: encode(dataset.valid),
    // References as the model sees text: normalised by the target tokenizer, then detokenized.
    references: dataset.valid.map((p) => detokenize(tgtKind, tokenizeSide(config.data, 'tgt', detokenize(tgtKind, p.tgt)))),
  };
  const model = resume ? resume.model : createModel(config.model, vocabs.src.size, vocabs.tgt.size, config.training.seed);
  const progress = createProgress({
    quiet,
    tty: process.stderr.isTTY === true,
    logEvery: config.training.logEvery,
    logJson: typeof opts.logJson === 'string' ? opts.logJson : null,
    write,
  });
  const trainer = new Trainer(
    { config, model, srcVocab: vocabs.src, tgtVocab: vocabs.tgt, split: dataset.split, train: encode(dataset.train), valid, out, resume },
    progress.listener,
  );
  if (resume?.optimizerTensors) tf.dispose(Object.values(resume.optimizerTensors));

  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    if (!quiet) write('\nstopping after this step and saving the last checkpoint (Ctrl-C again to abort without saving)');
    trainer.requestStop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await trainer.run();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.stop();
    trainer.dispose();
  }
  if (interrupted) process.exitCode = 130;
}
