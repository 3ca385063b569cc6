/**
 * The benchmark's command line as a typed object, and the per-backend counts
 * (the plain-JavaScript cpu backend gets small counts unless asked for by name).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { UserError } from '../src/errors.ts';
import type { BackendName } from '../src/backend/index.ts';
import { PROJECT_ROOT, SHIPPED_MODEL } from '../src/project.ts';

export const ALL_BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];
export const DEFAULT_STEPS = 30;
export const DEFAULT_SENTENCES = 500;
export const WARMUP_STEPS = 3;
/** cpu is ~50× slower than tensorflow: when it runs as part of the default set it gets at most these. */
export const CPU_CAP = { steps: 1, sentences: 5 } as const;

export interface DecodeMode {
  key: 'greedy64' | 'greedy1' | 'beam5' | 'beam5b1';
  beam: number;
  batchSize: number;
}

/**
 * `beam5` is batched (64 sentences, 320 hypotheses per decoder call);
 * `beam5b1` decodes one sentence at a time, as bench/reference/torch_nmt.py's
 * beam does.
 */
export const DECODE_MODES: readonly DecodeMode[] = [
  { key: 'greedy64', beam: 1, batchSize: 64 },
  { key: 'greedy1', beam: 1, batchSize: 1 },
  { key: 'beam5', beam: 5, batchSize: 64 },
  { key: 'beam5b1', beam: 5, batchSize: 1 },
];

/** The decoding mode named `key`. */
export function decodeMode(key: DecodeMode['key']): DecodeMode {
  return DECODE_MODES.find((m) => m.key === key)!;
}

export interface BenchOptions {
  /** The backends to measure, in order. */
  backends: BackendName[];
  /** Whether the user named the backends (false: every available one, cpu capped). */
  explicitBackends: boolean;
  steps: number;
  sentences: number;
  json: boolean;
  /** Config name under configs/ (or a path). */
  config: string;
  /** Also profile kernels per training step and decoded sentence. */
  profile: boolean;
  /** A trained checkpoint to decode with (its validation sentences); null: a fresh model with capped outputs. */
  checkpoint: string | null;
  /** Figures of another implementation measured on this machine (--reference), for the ratio columns. */
  reference: Reference | null;
}

/**
 * What bench/reference/torch_nmt.py prints (one JSON object): the figures the
 * table divides by. Any of them may be missing (--skip train or decode).
 */
export interface Reference {
  implementation: string;
  tgtTokPerSec?: number;
  greedy64?: number;
  greedy1?: number;
  /** Beam 5 one sentence at a time; compared with both the batched and the one-at-a-time beam. */
  beam5b1?: number;
}

/** Reads a --reference file; a missing file or another shape is one line naming it. */
export function readReference(file: string): Reference {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read the reference figures: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { where: file, exitCode: 2 });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.trim().split('\n').at(-1) ?? '');
  } catch {
    throw new UserError('the reference figures are not the JSON line bench/reference/torch_nmt.py prints', { where: file, exitCode: 2 });
  }
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const positive = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);
  const mode = (key: string): number | undefined => positive((o[key] as Record<string, unknown> | undefined)?.sentPerSec);
  const reference: Reference = {
    implementation: typeof o.implementation === 'string' && o.implementation !== '' ? o.implementation : 'reference',
    tgtTokPerSec: positive((o.train as Record<string, unknown> | undefined)?.tgtTokPerSec),
    greedy64: mode('greedy64'),
    greedy1: mode('greedy1'),
    beam5b1: mode('beam5b1'),
  };
  if ([reference.tgtTokPerSec, reference.greedy64, reference.greedy1, reference.beam5b1].every((v) => v === undefined)) {
    throw new UserError('the reference figures hold no train.tgtTokPerSec or <mode>.sentPerSec', { where: file, exitCode: 2 });
  }
  return reference;
}

export interface Counts {
  steps: number;
  sentences: number;
  /** Why the counts are smaller than asked, or null. */
  capped: string | null;
}

function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be an integer >= 1, got '${value}'`);
    return n;
  };
}

function backendList(value: string): BackendName[] {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const bad = names.find((n) => !(ALL_BACKENDS as readonly string[]).includes(n));
  if (bad !== undefined || names.length === 0) {
    throw new InvalidArgumentError(`expected ${ALL_BACKENDS.join(', ')} or a comma-separated list of them, got '${value}'`);
  }
  return [...new Set(names as BackendName[])];
}

/** Parses argv (process.argv shape); a usage error is a UserError (one line, exit code 2); --help prints and exits 0. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const program = new Command('bench')
    .description('s2s training and decoding speed: one child process per backend, or one backend in this process')
    .option('--backend <names>', `${ALL_BACKENDS.join(' | ')} or a comma-separated list (default: every available one)`, backendList)
    .option('--steps <n>', `timed training steps after ${WARMUP_STEPS} warm-up steps`, positiveInt('--steps'), DEFAULT_STEPS)
    .option('--sentences <n>', 'validation sentences decoded per search mode', positiveInt('--sentences'), DEFAULT_SENTENCES)
    .option('--config <name>', 'config name or path', 'cmn-eng')
    .option('--json', 'one JSON object per backend per line', false)
    .option('--profile', 'also time every kernel of a few training steps and of a greedy and a beam search (tf.profile)', false)
    .option('--checkpoint <dir>', `decode with this trained checkpoint and its own validation sentences (default with the cmn-eng config: the shipped models/${SHIPPED_MODEL})`)
    .option('--reference <file>', 'figures of another implementation measured on this machine (the JSON line bench/reference/torch_nmt.py prints), shown as ratios')
    .option('--fresh', "decode with a freshly initialised model instead, outputs capped at the references' length (the default with any other config)", false)
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  parseScriptFlags(program, argv, 'bench');
  const o = program.opts<{ backend?: BackendName[]; steps: number; sentences: number; json: boolean; config: string; profile: boolean; checkpoint?: string; fresh: boolean; reference?: string }>();
  if (o.fresh && o.checkpoint !== undefined) throw new UserError('--fresh and --checkpoint exclude each other', { where: '--fresh', exitCode: 2 });
  return {
    backends: o.backend ?? [...ALL_BACKENDS],
    explicitBackends: o.backend !== undefined,
    steps: o.steps,
    sentences: o.sentences,
    json: o.json,
    config: o.config,
    profile: o.profile,
    checkpoint: o.checkpoint !== undefined ? resolve(o.checkpoint) : o.fresh ? null : defaultCheckpoint(o.config),
    reference: o.reference === undefined ? null : readReference(o.reference),
  };
}

/**
 * Decoding speed depends on how long the outputs are, so with the default config
 * the bench decodes with the model shipped in models/ (trained on cmn-eng, with
 * realistic output lengths); a fresh model's outputs are capped instead.
 */
export function defaultCheckpoint(config: string): string | null {
  if (config !== 'cmn-eng') return null;
  const shipped = join(PROJECT_ROOT, 'models', SHIPPED_MODEL);
  return existsSync(join(shipped, 'model.json')) ? shipped : null;
}

/** The counts one backend runs with: cpu is capped when it was not asked for by name. */
export function countsFor(backend: BackendName, o: Pick<BenchOptions, 'steps' | 'sentences' | 'explicitBackends'>): Counts {
  if (backend !== 'cpu' || o.explicitBackends) return { steps: o.steps, sentences: o.sentences, capped: null };
  const steps = Math.min(o.steps, CPU_CAP.steps);
  const sentences = Math.min(o.sentences, CPU_CAP.sentences);
  const capped =
    steps < o.steps || sentences < o.sentences
      ? `cpu (plain JavaScript, ~50x slower) capped to ${steps} steps and ${sentences} sentences; --backend cpu runs the full counts`
      : null;
  return { steps, sentences, capped };
}

/** x to `digits` decimals (for reported figures). */
export function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Parses a bench script's flags (a program built with exitOverride): --help exits 0,
 * a usage mistake is one UserError line naming the script's --help.
 */
export function parseScriptFlags(program: Command, argv: readonly string[], script: string): void {
  try {
    program.parse([...argv]);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.exitCode === 0) process.exit(0); // --help / --version, already printed
    throw new UserError(`${err.message.replace(/^error: /, '')} (see npm run ${script} -- --help)`, { exitCode: 2 });
  }
}
