/**
 * Training a BPE model (Node only) with Hugging Face's native `tokenizers`
 * package, from the units counted on the training side.
 *
 * The package's Node binding trains with its default BPE trainer (30,000
 * entries, no minimum count) and takes no size. BPE training is greedy: each
 * step adds the most frequent pair, so a run to N entries makes exactly the
 * first merges of a run to more. The model is therefore trained once and cut
 * to the requested size: the specials, the alphabet, then merges in order
 * while the vocabulary is below `vocabSize`, as the trainer itself stops
 * (test/unit/subword.test.ts checks the cut against a trainer run to the same
 * size). The binding writes progress to standard output, so it runs in a
 * child process whose output is discarded.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.ts';
import { Subword, type TokenizerJSON } from './subword.ts';
import type { TokenizerKind } from './tokenize.ts';
import { SPECIALS } from './vocab.ts';

/** The native trainer's fixed vocabulary size (its specials excluded): the largest size a model can be cut to. */
export const TRAINER_VOCAB_SIZE = 30_000;

const TRAIN_SCRIPT = `
const [tokenizersPath, input, output] = process.argv.slice(1);
const T = require(tokenizersPath);
const tokenizer = new T.Tokenizer(T.BPE.empty());
tokenizer.setPreTokenizer(T.sequencePreTokenizer([T.whitespaceSplitPreTokenizer(), T.metaspacePreTokenizer()]));
tokenizer.setDecoder(T.metaspaceDecoder());
tokenizer.train([input]);
tokenizer.save(output, false);
`;

/** Runs the native trainer on a text file; returns its full (30,000-entry) model. */
export function trainNative(textFile: string, workDir: string): TokenizerJSON {
  const output = join(workDir, 'trained.json');
  const tokenizersPath = createRequire(import.meta.url).resolve('tokenizers');
  const run = spawnSync(process.execPath, ['-e', TRAIN_SCRIPT, tokenizersPath, textFile, output], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (run.status !== 0) {
    const why = run.error?.message ?? (run.stderr.trim().split('\n').pop() || `exit ${run.status ?? run.signal}`);
    throw new Error(`BPE training failed: ${why}`);
  }
  return JSON.parse(readFileSync(output, 'utf8')) as TokenizerJSON;
}

export interface CutOptions {
  vocabSize: number;
  /** How errors name the size, e.g. `--src-vocab-size`. */
  label: string;
}

/**
 * The first `vocabSize` entries of a trained model: the specials at ids 0–3,
 * the alphabet (every single character), then each merge in training order,
 * its result added when new, until the vocabulary holds `vocabSize` entries.
 */
export function cutModel(trained: TokenizerJSON, opts: CutOptions): TokenizerJSON {
  const byId = Object.entries(trained.model.vocab).sort(([, a], [, b]) => a - b).map(([token]) => token);
  const alphabet = byId.filter((token) => [...token].length === 1);
  const least = SPECIALS.length + alphabet.length;
  if (opts.vocabSize < least) {
    throw new UserError(
      `${opts.label} ${opts.vocabSize} is smaller than the ${SPECIALS.length} special tokens and the ${alphabet.length} characters of the training text (at least ${least})`,
      { where: opts.label, exitCode: 2 },
    );
  }
  const tokens = [...SPECIALS, ...alphabet];
  const known = new Set(tokens);
  const merges: [string, string][] = [];
  for (const merge of trained.model.merges) {
    if (tokens.length >= opts.vocabSize) break;
    const [a, b] = typeof merge === 'string' ? (merge.split(' ') as [string, string]) : merge;
    merges.push([a, b]);
    if (!known.has(a + b)) {
      known.add(a + b);
      tokens.push(a + b);
    }
  }
  return {
    ...trained,
    added_tokens: SPECIALS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    model: { ...trained.model, unk_token: SPECIALS[1]!, vocab: Object.fromEntries(tokens.map((t, i) => [t, i])), merges },
  };
}

/** Writes each unit `count` times, a few hundred to a line (the trainer counts whitespace-separated words). */
function writeUnits(path: string, units: ReadonlyMap<string, number>): void {
  const lines: string[] = [];
  for (const [unit, count] of units) {
    for (let left = count; left > 0; left -= 256) lines.push(Array(Math.min(left, 256)).fill(unit).join(' '));
  }
  writeFileSync(path, lines.join('\n') + '\n');
}

export interface TrainedSubword {
  subword: Subword;
  /** How often each piece occurs in the training side (specials 0), by id. */
  counts: number[];
}

/** Trains a BPE model of `vocabSize` entries on units counted on the training side. */
export function trainBpe(units: ReadonlyMap<string, number>, preTokenizer: TokenizerKind, opts: CutOptions): TrainedSubword {
  if (opts.vocabSize > TRAINER_VOCAB_SIZE + SPECIALS.length) {
    throw new UserError(`${opts.label} ${opts.vocabSize} is over the BPE trainer's ${TRAINER_VOCAB_SIZE + SPECIALS.length} entries`, {
      where: opts.label,
      exitCode: 2,
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 's2s-bpe-'));
  try {
    const input = join(dir, 'units.txt');
    writeUnits(input, units);
    const subword = new Subword(cutModel(trainNative(input, dir), opts), preTokenizer, opts.label);
    const ids = new Map(subword.tokens.map((t, i) => [t, i]));
    const counts = subword.tokens.map(() => 0);
    for (const [unit, count] of units) {
      for (const piece of subword.unitPieces(unit)) counts[ids.get(piece) ?? 1]! += count;
    }
    for (let i = 0; i < SPECIALS.length; i++) counts[i] = 0;
    return { subword, counts };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
