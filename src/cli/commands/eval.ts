/**
 * `s2s eval`: score hypotheses against references like the sacreBLEU command
 * line (`--hypotheses FILE --references FILE…`), or compare tokenizers with
 * `--explain`. Scores are sacreBLEU 2.6.0's, number for number (see
 * src/eval/signature.ts for what the version in the signature means).
 *
 * Model mode (`--data TEST.tsv`, `--src/--tgt` or `--split valid`, with
 * `--checkpoint DIR` or the default model: decode, then score) calls
 * `printScores` after decoding.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { Command, Option } from 'commander';
import {
  bleuTokens,
  corpusBleu,
  defaultBleuTokenizer,
  sentenceBleu,
  tokenizationWarning,
  type BleuOptions,
  type SmoothMethod,
} from '../../eval/bleu.ts';
import { corpusChrf, sentenceChrf, type ChrfOptions } from '../../eval/chrf.ts';
import { pyRstrip } from '../../eval/python-compat.ts';
import {
  BLEU_TOKENIZERS,
  guessTextLanguage,
  isBleuTokenizer,
  SACREBLEU_ONLY_TOKENIZERS,
  type BleuTokenizer,
} from '../../eval/tokenizers.ts';
import { UserError, usageError } from '../../errors.ts';
import { decodeTextFile } from '../../data/corpus.ts';
import { ioError } from '../../fs-atomic.ts';
import {
  alignScoreLines,
  bleuJson,
  bleuLine,
  chrfJson,
  chrfLine,
  formatExplain,
  type ExplainRow,
} from '../eval-report.ts';
import { addKeyOptions, CHECKPOINT_DECODING_HEADING, overridesFromOptions } from '../config-options.ts';
import { globalOptions } from '../global-options.ts';

export type EvalMetric = 'bleu' | 'chrf';
const METRICS: readonly EvalMetric[] = ['bleu', 'chrf'];
const SMOOTH_METHODS: readonly SmoothMethod[] = ['exp', 'floor', 'add-k', 'none'];
/** The tokenizers `--explain` puts side by side. */
export const EXPLAIN_TOKENIZERS: readonly BleuTokenizer[] = ['zh', 'char', '13a', 'none'];

/** Everything scoring needs, parsed and validated. */
export interface EvalScoreOptions {
  tokenize: BleuTokenizer;
  smoothMethod: SmoothMethod;
  smoothValue: number | null;
  lowercase: boolean;
  /** Silences the "looks already tokenized" warning only. */
  force: boolean;
  metrics: readonly EvalMetric[];
  json: boolean;
  /** One score per line (effective order on, as sacreBLEU does). */
  sentenceLevel: boolean;
  /** Decimals of the score. */
  width: number;
  /** Print the score alone (`-b`). */
  scoreOnly: boolean;
  /** Abbreviated signatures (`--short`). */
  short: boolean;
}

/** Text for stdout plus warnings for stderr. */
export interface EvalOutput {
  stdout: string;
  warnings: string[];
}

function bleuOptions(options: EvalScoreOptions, effectiveOrder: boolean, tokenize = options.tokenize): BleuOptions {
  return {
    tokenize,
    smoothMethod: options.smoothMethod,
    smoothValue: options.smoothValue,
    lowercase: options.lowercase,
    effectiveOrder,
    force: options.force,
  };
}

function chrfOptions(options: EvalScoreOptions): Partial<ChrfOptions> {
  return { lowercase: options.lowercase };
}

/** Warnings about text that looks tokenized already (none with --force). */
export function tokenizationWarnings(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
  force: boolean,
): string[] {
  if (force) return [];
  const warnings: string[] = [];
  const hypWarning = tokenizationWarning(hypotheses);
  if (hypWarning) warnings.push(`hypotheses: ${hypWarning}`);
  references.forEach((stream, k) => {
    const refWarning = tokenizationWarning(stream);
    const label = references.length > 1 ? `references ${k + 1}` : 'references';
    if (refWarning) warnings.push(`${label}: ${refWarning}`);
  });
  return warnings;
}

function sentenceLevelOutput(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
  options: EvalScoreOptions,
): string {
  const metric = options.metrics[0]!;
  const lines = hypotheses.map((hypothesis, i) => {
    const refs = references.map((stream) => stream[i]!);
    if (metric === 'bleu') {
      const result = sentenceBleu(hypothesis, refs, bleuOptions(options, true));
      return options.json && !options.scoreOnly ? JSON.stringify(bleuJson(result)) : bleuLine(result, options);
    }
    const result = sentenceChrf(hypothesis, refs, chrfOptions(options));
    return options.json && !options.scoreOnly ? JSON.stringify(chrfJson(result)) : chrfLine(result, options);
  });
  return lines.map((line) => `${line}\n`).join('');
}

function corpusOutput(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
  options: EvalScoreOptions,
): string {
  const texts: string[] = [];
  const objects: Record<string, unknown>[] = [];
  for (const metric of options.metrics) {
    if (metric === 'bleu') {
      const result = corpusBleu(hypotheses, references, bleuOptions(options, false));
      texts.push(bleuLine(result, options));
      objects.push(bleuJson(result));
    } else {
      const result = corpusChrf(hypotheses, references, chrfOptions(options));
      texts.push(chrfLine(result, options));
      objects.push(chrfJson(result));
    }
  }
  // sacreBLEU: --score-only prints the bare scores, whatever the format.
  if (!options.json || options.scoreOnly) return alignScoreLines(texts);
  return `${JSON.stringify(objects.length === 1 ? objects[0] : objects, null, 1)}\n`;
}

/**
 * Scores `hypotheses` against reference streams (`references[k][i]` is the
 * k-th reference of line i, every stream as long as `hypotheses`).
 */
export function renderScores(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
  options: EvalScoreOptions,
): EvalOutput {
  const stdout = options.sentenceLevel
    ? sentenceLevelOutput(hypotheses, references, options)
    : corpusOutput(hypotheses, references, options);
  return { stdout, warnings: tokenizationWarnings(hypotheses, references, options.force) };
}

/** `--explain`: BLEU under zh, char, 13a and none side by side, with tokenization warnings. */
export function renderExplain(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
  options: EvalScoreOptions,
): EvalOutput {
  const rows: ExplainRow[] = EXPLAIN_TOKENIZERS.map((tokenize) => {
    const bleu = bleuOptions(options, false, tokenize);
    return {
      tokenize,
      result: corpusBleu(hypotheses, references, bleu),
      example: hypotheses.length > 0 ? bleuTokens(hypotheses[0]!, bleu) : [],
    };
  });
  if (options.json) {
    const objects = rows.map(({ tokenize, result }) => ({ tokenize, ...bleuJson(result) }));
    return { stdout: `${JSON.stringify(objects, null, 1)}\n`, warnings: [] };
  }
  return { stdout: formatExplain(rows, tokenizationWarnings(hypotheses, references, false), options.width), warnings: [] };
}

/** Scores and writes the report to stdout, warnings to stderr (unless `quiet`). */
export function printScores(
  hypotheses: readonly string[],
  references: readonly (readonly string[])[],
  options: EvalScoreOptions,
  quiet = false,
): void {
  const { stdout, warnings } = renderScores(hypotheses, references, options);
  if (!quiet) for (const warning of warnings) process.stderr.write(`s2s: warning: ${warning}\n`);
  process.stdout.write(stdout);
}

/**
 * The lines of a text file as sacreBLEU reads them: split on '\n' only, a
 * final newline ends the last line, trailing whitespace (incl. '\r') removed.
 */
export function readTextLines(path: string, flag: string): string[] {
  if (!existsSync(path)) throw new UserError(`file not found: ${path}`, { where: flag });
  if (statSync(path).isDirectory()) throw new UserError(`expected a file, got a directory: ${path}`, { where: flag });
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw ioError(err, `read ${flag}`, path);
  }
  return textLines(bytes, path);
}

/** `bytes` as lines (see readTextLines); `label` names the file, or stdin, in errors. */
export function textLines(bytes: Buffer, label: string): string[] {
  // The same checks as corpus reading: UTF-16, binary files and invalid UTF-8 are refused, naming the file.
  const text = decodeTextFile(bytes, label);
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map(pyRstrip);
}

/**
 * Reads the hypotheses (`-`: the bytes of stdin, given as `stdin`) and
 * reference files and checks they have the same number of lines.
 */
export function readScoringFiles(
  hypothesesPath: string,
  referencePaths: readonly string[],
  stdin?: Buffer,
): { hypotheses: string[]; references: string[][] } {
  if (referencePaths.includes('-')) throw usageError('only the hypotheses can be read from stdin (-i -)', '--references');
  const fromStdin = hypothesesPath === '-';
  if (fromStdin && stdin === undefined) throw new RangeError('readScoringFiles: -i - needs the bytes of stdin');
  const label = fromStdin ? 'stdin' : hypothesesPath;
  const hypotheses = fromStdin ? textLines(stdin!, label) : readTextLines(hypothesesPath, '--hypotheses');
  const references = referencePaths.map((path) => readTextLines(path, '--references'));
  if (hypotheses.length === 0) throw new UserError(`no lines to score in ${label}`, { where: '--hypotheses' });
  references.forEach((stream, k) => {
    if (stream.length !== hypotheses.length) {
      throw new UserError(
        `${label} has ${hypotheses.length} lines but ${referencePaths[k]} has ${stream.length}`,
        { where: '--references', hint: 'hypotheses and references must be line-aligned, one line per segment' },
      );
    }
  });
  return { hypotheses, references };
}

interface EvalFlags {
  hypotheses?: string;
  references?: string[];
  tgtLang?: string;
  languagePair?: string;
  tokenize?: string;
  smooth: SmoothMethod;
  smoothValue?: number;
  lowercase?: boolean;
  force?: boolean;
  /** `bleu chrf` (variadic) or `bleu,chrf`. */
  metrics: string | string[];
  json?: boolean;
  sentenceLevel?: boolean;
  explain?: boolean;
  width: number;
  scoreOnly?: boolean;
  short?: boolean;
  checkpoint?: string;
  data?: string;
  output?: string;
  split?: string;
  src?: string;
  tgt?: string;
}

function parseMetrics(value: string | readonly string[]): EvalMetric[] {
  const given = typeof value === 'string' ? [value] : value;
  const names = given.flatMap((v) => v.split(',')).map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  const unknown = names.filter((name) => !(METRICS as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    throw usageError(`unknown metric '${unknown[0] ?? given.join(' ')}'`, '--metrics', `choose from ${METRICS.join(', ')}`);
  }
  return METRICS.filter((metric) => names.includes(metric)); // sacreBLEU's order: BLEU, then chrF
}

function parseNumber(flag: string, integer: boolean): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < 0) {
      throw usageError(`${flag} must be a non-negative ${integer ? 'integer' : 'number'}, got '${value}'`, flag);
    }
    return n;
  };
}

/** The target language the user gave: --tgt-lang, or the part after the dash of -l SRC-TGT (as sacreBLEU reads it). */
function givenTargetLang(flags: Pick<EvalFlags, 'tgtLang' | 'languagePair'>): string | null {
  if (flags.languagePair === undefined) return flags.tgtLang ?? null;
  if (flags.tgtLang !== undefined) throw usageError('give --tgt-lang or --language-pair, not both', '--language-pair');
  const sides = flags.languagePair.split('-');
  if (sides.length !== 2 || sides.some((side) => side.trim() === '')) {
    throw usageError(`--language-pair must look like en-zh, got '${flags.languagePair}'`, '--language-pair');
  }
  return sides[1]!;
}

/**
 * The target language that picks the BLEU tokenizer: the one given, else the
 * model's (model mode), else the one the references' script shows, else null.
 */
function targetLanguage(
  flags: Pick<EvalFlags, 'tgtLang' | 'languagePair'>,
  references: readonly (readonly string[])[],
  modelLang: string | null,
): string | null {
  return givenTargetLang(flags) ?? modelLang ?? guessTextLanguage(references[0] ?? []);
}

/**
 * Validates the flags of scoring mode into EvalScoreOptions. Without
 * --tokenize, BLEU tokenizes as sacreBLEU does for the target language
 * (`zh` for Chinese, else `13a`); see targetLanguage for where it comes from.
 */
export function scoreOptionsFromFlags(
  flags: EvalFlags,
  references: readonly (readonly string[])[] = [],
  modelLang: string | null = null,
): EvalScoreOptions {
  const lang = targetLanguage(flags, references, modelLang);
  const tokenize = flags.tokenize ?? (lang === null ? '13a' : defaultBleuTokenizer(lang));
  if (!isBleuTokenizer(tokenize)) {
    throw usageError(`unknown tokenizer '${tokenize}'`, '--tokenize', `choose from ${BLEU_TOKENIZERS.join(', ')}`);
  }
  const metrics = parseMetrics(flags.metrics);
  if (flags.sentenceLevel && metrics.length > 1) {
    throw usageError('only one metric can be used with --sentence-level', '--metrics');
  }
  return {
    tokenize,
    smoothMethod: flags.smooth,
    smoothValue: flags.smoothValue ?? null,
    lowercase: flags.lowercase === true,
    force: flags.force === true,
    metrics,
    json: flags.json === true,
    sentenceLevel: flags.sentenceLevel === true,
    width: flags.width,
    scoreOnly: flags.scoreOnly === true,
    short: flags.short === true,
  };
}

/** sacreBLEU's advice on the tokenizer for the target language, and where s2s cannot tokenize as sacreBLEU would. */
export function tokenizerWarnings(
  flags: EvalFlags,
  references: readonly (readonly string[])[] = [],
  modelLang: string | null = null,
): string[] {
  if (!parseMetrics(flags.metrics).includes('bleu')) return [];
  const lang = targetLanguage(flags, references, modelLang);
  if (lang === null) return [];
  if (flags.tokenize === undefined) {
    const theirs = SACREBLEU_ONLY_TOKENIZERS[lang.toLowerCase()];
    return theirs === undefined
      ? []
      : [`sacreBLEU scores '${lang}' with tok:${theirs}, which s2s does not have: this BLEU uses tok:13a (not comparable with sacreBLEU's)`];
  }
  if (defaultBleuTokenizer(lang) === 'zh' && flags.tokenize !== 'zh') return ["consider --tokenize zh for Chinese (sacreBLEU's standard)"];
  return [];
}

/** Model mode: any of these flags means decoding a test corpus (with --checkpoint, or the default model). */
function isModelMode(flags: EvalFlags): boolean {
  return [flags.checkpoint, flags.data, flags.src, flags.tgt, flags.split].some((value) => value !== undefined);
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function printWarnings(warnings: readonly string[], quiet: boolean): void {
  if (!quiet) for (const warning of warnings) process.stderr.write(`s2s: warning: ${warning}\n`);
}

async function runEval(flags: EvalFlags, cmd: Command): Promise<void> {
  if (isModelMode(flags)) {
    await runModelEval(flags, cmd);
    return;
  }
  const example = 's2s eval -i out.txt -r ref.txt (- for stdin), or --data TEST.tsv to decode and score a test corpus';
  if (flags.hypotheses === undefined) throw usageError('missing --hypotheses <file>', '--hypotheses', example);
  if (flags.references === undefined || flags.references.length === 0) {
    throw usageError('missing --references <file…>', '--references', example);
  }
  scoreOptionsFromFlags(flags); // the flags are checked before any input is read
  const { quiet } = globalOptions(cmd);
  let stdin: Buffer | undefined;
  if (flags.hypotheses === '-') {
    // The references are checked before waiting for stdin.
    for (const path of flags.references) if (path !== '-') readTextLines(path, '--references');
    stdin = await readStdin();
  }
  const { hypotheses, references } = readScoringFiles(flags.hypotheses, flags.references, stdin);
  const options = scoreOptionsFromFlags(flags, references);
  if (flags.explain) {
    process.stdout.write(renderExplain(hypotheses, references, options).stdout);
    return;
  }
  printWarnings(tokenizerWarnings(flags, references), quiet);
  printScores(hypotheses, references, options, quiet);
}

/** Model mode: decode the test corpus with the checkpoint (or the default model), then score like scoring mode. */
async function runModelEval(flags: EvalFlags, cmd: Command): Promise<void> {
  const mode = 'decodes a test corpus (--checkpoint, --data, --src/--tgt, --split)';
  if (flags.hypotheses !== undefined) throw usageError(`--hypotheses scores a file; model mode ${mode}: give one or the other`, '--hypotheses');
  if (flags.references !== undefined) throw usageError(`--references goes with --hypotheses; model mode ${mode} takes its references from the test corpus`, '--references');
  scoreOptionsFromFlags(flags); // the flags are checked before the model is loaded
  const { quiet } = globalOptions(cmd);
  const { decodeTestSet } = await import('../eval-model.ts');
  const decoding = overridesFromOptions(flags as unknown as Record<string, unknown>, ['decoding']).decoding ?? {};
  const note = (line: string): void => {
    if (!quiet || line.startsWith('s2s: warning:')) process.stderr.write(`${line}\n`);
  };
  const decoded = await decodeTestSet({ ...flags, checkpoint: flags.checkpoint ?? null, decoding }, cmd, note);
  if (decoded.skipped && !quiet) process.stderr.write(`${decoded.skipped}\n`);
  const references = [decoded.references];
  const options = scoreOptionsFromFlags(flags, references, decoded.tgtLang);
  if (flags.explain) {
    process.stdout.write(renderExplain(decoded.hypotheses, references, options).stdout);
    return;
  }
  printWarnings(tokenizerWarnings(flags, references, decoded.tgtLang), quiet);
  printScores(decoded.hypotheses, references, options, quiet);
}

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description('score hypotheses against references with BLEU/chrF, matching sacreBLEU 2.6.0')
    .option('-i, --hypotheses <file>', 'system output, one segment per line (- for stdin)')
    .option('-r, --references <files...>', 'reference file(s), line-aligned with the hypotheses')
    .option('--tgt-lang <lang>', "target language, picks the BLEU tokenizer (default: the model's, else guessed from the references' script)")
    .option('-l, --language-pair <src-tgt>', "as sacreBLEU's -l: the target language is the part after the dash")
    .addOption(
      new Option('--tokenize <name>', 'BLEU tokenizer (default: zh for a Chinese target, else 13a)').choices(
        BLEU_TOKENIZERS,
      ),
    )
    .addOption(new Option('--smooth <method>', 'BLEU smoothing').choices(SMOOTH_METHODS).default('exp'))
    .option('--smooth-value <x>', 'value for floor (default 0.1) or add-k (default 1)', parseNumber('--smooth-value', false))
    .option('--lowercase', 'lowercase hypotheses and references first (BLEU and chrF)')
    .option('--force', 'do not warn when the text looks already tokenized')
    .option('-m, --metrics <names...>', 'bleu, chrf, or both (chrF2: char order 6, word order 0)', 'bleu')
    .option('--sentence-level', 'one score per line (BLEU with effective order)')
    .option('--explain', 'compare the zh, char, 13a and none tokenizers side by side')
    .option('--json', 'print JSON instead of text')
    .option('-b, --score-only', 'print the score alone')
    .option('--short', 'abbreviated signature (#:1|c:mixed|…)')
    .option('-w, --width <n>', "decimals of the score (sacreBLEU's own default is 1)", parseNumber('--width', true), 2)
    .option('--checkpoint <dir>', 'model mode: the model to decode with (a run directory: its best; default: the one translate uses)')
    .addOption(new Option('--split <name>', "model mode: score the model's own held-out pairs").choices(['valid']))
    .option('--data <file>', 'model mode: test corpus to decode and score (TSV/CSV, columns as in training)')
    .option('--src <file>', 'model mode: plain source file (with --tgt)')
    .option('--tgt <file>', 'model mode: plain reference file (with --src)')
    .option('--output <file>', 'model mode: write the decoded hypotheses here');
  // Model mode decodes with the checkpoint's decoding config; these flags override it (the best hypothesis is scored).
  addKeyOptions(cmd, ['decoding'], { except: ['nbest'], showDefaults: false, headings: { decoding: CHECKPOINT_DECODING_HEADING } });
  cmd.action(async (flags: EvalFlags, command: Command) => runEval(flags, command));
}
