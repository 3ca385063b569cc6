/**
 * `s2s translate`: translate sentences given as arguments, or read one per
 * line from `--input FILE` (`-` or a pipe: stdin), streamed in batches of
 * `--batch-size` with one output per input line in input order. Decoding flags
 * override the checkpoint's stored decoding config.
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { DecodingConfig } from '../../config.ts';
import { Readable } from 'node:stream';
import type { PhysicalLine } from '../../data/corpus.ts';
import type { Translation } from '../../decode/translator.ts';
// Pure string functions, no TensorFlow: cheap to load with the program.
import { renderHeatmap, renderHeatmapSvg, type HeatmapData } from '../../decode/heatmap.ts';
import { UserError, usageError } from '../../errors.ts';
import { addKeyOptions, CHECKPOINT_DECODING_HEADING, checkpointsDir, overridesFromOptions } from '../config-options.ts';
import { globalOptions, initBackendFor } from '../global-options.ts';

/** Up to this many sentences given as arguments are translated on one wasm thread (see initBackendFor). */
const LITTLE_WORK = 8;

/** Everything the action needs, parsed and validated. */
export interface TranslateContext {
  /** Sentences from the command line; null = read lines from `input`. */
  texts: string[] | null;
  /** A file, or `-` for stdin. */
  input: string | null;
  /** --checkpoint; null = the default model (model-dir.ts defaultModel). */
  checkpoint: string | null;
  json: boolean;
  attention: boolean;
  attentionSvg: string | null;
  /** Decoding flags given on the command line. */
  decoding: Partial<DecodingConfig>;
  quiet: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('translate')
    .description('translate sentences with a trained model')
    .argument('[text...]', 'sentences to translate (default: lines of --input or of piped stdin)')
    .option('--checkpoint <dir>', 'model directory, checkpoint, or training output directory (its best); default: see `s2s info`')
    .option('-i, --input <file>', 'translate FILE line by line (- for stdin)')
    .option('--json', 'one JSON object per input: source, translation, tokens, score, n-best list')
    .option('--attention', 'show attention: a heatmap under each translation, or a matrix in --json')
    .option('--attention-svg <file>', 'write the attention heatmaps as an SVG picture');
  addKeyOptions(cmd, ['decoding'], { showDefaults: false, headings: { decoding: CHECKPOINT_DECODING_HEADING } });
  cmd.addHelpText(
    'after',
    '\nWith --nbest N > 1 and no --json, each input gives N lines `INDEX ||| translation ||| score` (Moses n-best format).',
  );
  cmd.action(async (texts: string[], opts: Record<string, unknown>, command: Command) => {
    await runTranslate(translateContext(texts, opts, globalOptions(command).quiet), command);
  });
}

/** Checks the flags that do not depend on the checkpoint. */
export function translateContext(args: string[], opts: Record<string, unknown>, quiet: boolean): TranslateContext {
  // A lone `-` argument means standard input, like --input -.
  const stdinArg = args.length === 1 && args[0] === '-';
  const texts = stdinArg ? [] : args;
  const input = typeof opts.input === 'string' ? opts.input : stdinArg ? '-' : null;
  if (texts.length > 0 && input !== null) throw usageError('give sentences or --input, not both', '--input');
  if (texts.length === 0 && input === null && process.stdin.isTTY) {
    throw usageError('nothing to translate', 'translate', 's2s translate "some text" [--checkpoint DIR], or --input FILE (- for stdin)');
  }
  const decoding = overridesFromOptions(opts, ['decoding']).decoding ?? {};
  return {
    texts: texts.length > 0 ? texts : null,
    input: texts.length > 0 ? null : (input ?? '-'),
    checkpoint: typeof opts.checkpoint === 'string' ? opts.checkpoint : null,
    json: opts.json === true,
    attention: opts.attention === true,
    attentionSvg: typeof opts.attentionSvg === 'string' ? opts.attentionSvg : null,
    decoding: decoding as Partial<DecodingConfig>,
    quiet,
  };
}

/** How to get a model, for errors about a missing one. */
function trainHint(): string {
  const tiny = join(checkpointsDir(), 'tiny');
  return `train one with \`s2s train\` (or in seconds, for trying things out: \`s2s train --config tiny\`, then --checkpoint ${tiny})`;
}

/** The model directory to load: --checkpoint, or the default model; a missing one says how to train one. */
export async function locateModel(ctx: Pick<TranslateContext, 'checkpoint'>): Promise<string> {
  const { requireDefaultModel, resolveModelDir } = await import('../../model-dir.ts');
  if (ctx.checkpoint === null) return resolveModelDir(requireDefaultModel().path);
  try {
    return resolveModelDir(ctx.checkpoint);
  } catch (err) {
    if (!(err instanceof UserError) || existsSync(ctx.checkpoint)) throw err;
    throw new UserError('checkpoint not found', { where: ctx.checkpoint, hint: trainHint(), code: 'MODEL_NOT_FOUND' });
  }
}

/** `model: checkpoints/cmn-eng/best`: which checkpoint of a run was loaded. */
export function loadedLine(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return `model: ${rel !== '' && !rel.startsWith('..') ? rel : dir}`;
}

async function runTranslate(ctx: TranslateContext, command: Command): Promise<void> {
  const { checkInputFile, checkOutputFile } = await import('../../user-paths.ts');
  if (ctx.input !== null && ctx.input !== '-') checkInputFile(ctx.input, '--input');
  if (ctx.attentionSvg !== null) checkOutputFile(ctx.attentionSvg, '--attention-svg');
  const dir = await locateModel(ctx);
  if (!ctx.quiet) process.stderr.write(`${loadedLine(dir)}\n`);
  await initBackendFor(command, { littleWork: ctx.texts !== null && ctx.texts.length <= LITTLE_WORK, decoding: true });
  const { loadTranslator } = await import('../../api/load.ts');
  const { checkText, emptyTranslation } = await import('../../api/translator.ts');
  const { buildConfig } = await import('../../config.ts');

  const translator = await loadTranslator(dir, { backend: false });
  try {
    const saved = translator.config;
    // Flags over the model's decoding config; buildConfig checks e.g. --nbest <= --beam.
    const { decoding } = buildConfig(saved.name, { ...saved, decoding: { ...saved.decoding } }, { decoding: ctx.decoding });
    const attention = ctx.attention || ctx.attentionSvg !== null;
    const heatmaps: HeatmapData[] = [];
    const out = (text: string): void => void process.stdout.write(text);
    let index = 0;
    for await (const batch of inputBatches(ctx, decoding.batchSize)) {
      // Blank lines give blank outputs; anything else must be a text the translator accepts.
      const texts = batch.flatMap((line, i) => (line.trim() === '' ? [] : [checkText(line, inputLabel(ctx, index + i))]));
      const translated = await translator.translate(texts, { ...decoding, attention });
      let next = 0;
      for (const line of batch) {
        const t = line.trim() === '' ? emptyTranslation(line) : translated[next++]!;
        if (t.truncated > 0) {
          // Even with --quiet: the output does not translate the whole input.
          process.stderr.write(`s2s: warning: input ${index + 1} has ${t.sourceTokens.length + t.truncated} tokens; ` +
            `translating its first ${t.sourceTokens.length} (--max-input-len)\n`);
        }
        out(formatTranslation(t, index, ctx, decoding.nbest));
        if (ctx.attentionSvg !== null) heatmaps.push(heatmapOf(t));
        index++;
      }
    }
    if (ctx.attentionSvg !== null) {
      const { writeFileAtomic } = await import('../../fs-atomic.ts');
      writeFileAtomic(ctx.attentionSvg, renderHeatmapSvg(heatmaps));
    }
  } finally {
    translator.dispose();
  }
}

/** Names input number `index` (from 0) in errors: `FILE:LINE`, `stdin:LINE`, or the argument's position. */
function inputLabel(ctx: TranslateContext, index: number): string {
  if (ctx.texts) return `argument ${index + 1}`;
  return `${ctx.input === '-' ? 'stdin' : ctx.input}:${index + 1}`;
}

/**
 * The sentences in batches: command-line arguments, or the lines of a file or
 * stdin as they arrive, read with the corpus reader's checks (UTF-16, binary
 * files, invalid UTF-8 and over-long lines are errors naming file:line).
 */
async function* inputBatches(ctx: TranslateContext, size: number): AsyncGenerator<string[]> {
  if (ctx.texts) {
    for (let i = 0; i < ctx.texts.length; i += size) yield ctx.texts.slice(i, i + size);
    return;
  }
  const { openBytes, physicalLines } = await import('../../data/corpus.ts');
  const name = ctx.input === '-' ? 'stdin' : ctx.input!;
  const bytes = ctx.input === '-' ? (process.stdin as AsyncIterable<Buffer>) : await openBytes(ctx.input!);
  yield* lineBatches(Readable.from(checkedLines(physicalLines(bytes, name), name)), size);
}

/** Text lines (newline-terminated) of checked physical lines; an unusable line is an error naming file:line. */
async function* checkedLines(lines: AsyncIterable<PhysicalLine>, name: string): AsyncGenerator<string> {
  for await (const line of lines) {
    if (line.text === null) throw new UserError(`cannot translate this line: ${line.reason}`, { where: `${name}:${line.line}` });
    yield `${line.text}\n`;
  }
}

/**
 * The lines of a stream in batches of at most `size`: a batch is every line
 * that has arrived when the previous one is taken (lines of one chunk arrive
 * together), so a line typed or piped on its own is translated at once, and a
 * file is read `size` lines at a time. Reading pauses while `size` lines wait.
 */
export async function* lineBatches(input: NodeJS.ReadableStream, size: number): AsyncGenerator<string[]> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  const queue: string[] = [];
  let ended = false;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    wake?.();
    wake = null;
  };
  lines.on('line', (line) => {
    queue.push(line);
    if (queue.length >= size) lines.pause();
    notify();
  });
  lines.on('close', () => {
    ended = true;
    notify();
  });
  const fail = (err: unknown): void => {
    failure ??= err;
    notify();
  };
  input.on('error', fail);
  // readline forwards the input's errors to the interface as well.
  lines.on('error', fail);
  try {
    for (;;) {
      if (queue.length === 0 && !ended && failure === null) await new Promise<void>((resolve) => (wake = resolve));
      if (failure !== null) throw failure;
      if (queue.length === 0) return;
      const batch = queue.splice(0, size);
      if (queue.length < size && !ended) lines.resume();
      yield batch;
    }
  } finally {
    lines.close();
  }
}

export function heatmapOf(t: Translation): HeatmapData {
  return { source: t.sourceTokens, target: t.tokens, attention: t.attention ?? [] };
}

/** What is printed for one input (ends with a newline). */
export function formatTranslation(t: Translation, index: number, ctx: Pick<TranslateContext, 'json' | 'attention'>, nbest: number): string {
  if (ctx.json) return `${JSON.stringify(translationJson(t, ctx.attention))}\n`;
  const lines =
    nbest > 1 ? t.nbest.map((c) => `${index} ||| ${c.translation} ||| ${c.score.toFixed(4)}`) : [t.translation];
  if (ctx.attention && t.tokens.length > 0 && t.sourceTokens.length > 0) {
    lines.push(...renderHeatmap(heatmapOf(t)), '');
  }
  return `${lines.join('\n')}\n`;
}

export function translationJson(t: Translation, withAttention: boolean): Record<string, unknown> {
  return {
    source: t.source,
    sourceTokens: t.sourceTokens,
    translation: t.translation,
    tokens: t.tokens,
    score: t.score,
    nbest: t.nbest.map((c) => ({ translation: c.translation, tokens: c.tokens, score: c.score })),
    ...(t.truncated > 0 ? { truncated: t.truncated } : {}),
    ...(withAttention ? { attention: t.attention ?? [] } : {}),
  };
}

