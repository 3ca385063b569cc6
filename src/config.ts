/**
 * The s2s configuration: one schema, parsed once at the edge into a typed,
 * frozen object. YAML files use the same kebab-case names as the command-line
 * flags (`emb-size: 256` ⇔ `--emb-size 256`), grouped data / model / training /
 * decoding. Unknown keys and wrong types are errors that name the key and file.
 */
import { parseDocument } from 'yaml';
import { UserError } from './errors.ts';

/** Special tokens in every vocabulary (data/vocab.ts). */
const SPECIAL_COUNT = 4;

export type Group = 'data' | 'model' | 'training' | 'decoding';
export const GROUPS: readonly Group[] = ['data', 'model', 'training', 'decoding'];

export interface DataConfig {
  /** TSV/CSV corpora (`--data`, repeatable). */
  data: string[];
  /** Plain line-aligned parallel files (`--src`, `--tgt`). */
  src: string | null;
  tgt: string | null;
  /** Columns in TSV/CSV; null = by language (English is column 0 of a Tatoeba export, the other language column 1). */
  srcCol: number | null;
  tgtCol: number | null;
  /** Field delimiter; null = by extension (.tsv tab, .csv comma). */
  delimiter: string | null;
  srcLang: string;
  tgtLang: string;
  /** null = the language's default (`char` for zh/ja, `word` otherwise); `bpe` = that tokenizer, then BPE pieces. */
  srcTokenizer: 'word' | 'char' | 'bpe' | null;
  tgtTokenizer: 'word' | 'char' | 'bpe' | null;
  /** Entries of a BPE vocabulary, the 4 specials included. */
  srcVocabSize: number;
  tgtVocabSize: number;
  lowercase: boolean;
  /** Pairs longer than this many tokens on either side are filtered out. */
  maxLen: number;
  /** Validation corpus; null = hold out `validSize` pairs from the training data. */
  valid: string | null;
  validSize: number;
  srcMinFreq: number;
  tgtMinFreq: number;
  /** 0 = no limit. */
  srcMaxVocab: number;
  tgtMaxVocab: number;
  /** Malformed rows are errors instead of being skipped. */
  strict: boolean;
}

export interface ModelConfig {
  embSize: number;
  hiddenSize: number;
  layers: number;
  bidirectional: boolean;
  attention: 'dot' | 'general' | 'concat';
  dropout: number;
  inputFeeding: boolean;
  tieOutput: boolean;
  /** Parameters are initialised uniformly in [-initScale, initScale]. */
  initScale: number;
}

export interface TrainingConfig {
  /** Sentences per batch (used when batchTokens is 0). */
  batchSize: number;
  /** Target tokens per batch; 0 = batch by sentences. */
  batchTokens: number;
  lr: number;
  beta1: number;
  beta2: number;
  clipNorm: number;
  labelSmoothing: number;
  epochs: number;
  /** 0 = no limit. */
  maxSteps: number;
  /** Validate every N steps as well as at each epoch end; 0 = epoch ends only. */
  validEvery: number;
  validBleuSize: number;
  /** Multiply the learning rate by this when validation stalls; 1 = never. */
  lrDecay: number;
  lrPatience: number;
  /** Stop after N validations without improvement; 0 = never. */
  earlyStop: number;
  /** Save `last` every N steps (and at each epoch end); 0 = epoch ends only. */
  saveEvery: number;
  /** How many older step checkpoints to keep besides `last` and `best`. */
  keep: number;
  bestMetric: 'loss' | 'bleu';
  seed: number;
  logEvery: number;
  /** Output directory; null = checkpoints/<config name>. */
  out: string | null;
}

export interface DecodingConfig {
  beam: number;
  lengthPenalty: number;
  nbest: number;
  /** Output length limit in tokens. */
  /** Longest input decoded, in tokens (longer inputs are cut, with a warning); separate from the training filter data.maxLen. */
  maxInputLen: number;
  maxOutputLen: number;
  /** Output length limit relative to the source: ratio × srcLen + maxLenExtra. */
  maxLenRatio: number;
  maxLenExtra: number;
  batchSize: number;
  replaceUnk: boolean;
}

export interface S2SConfig {
  /** The config's name (its file name without extension); names the default checkpoint dir. */
  readonly name: string;
  readonly data: Readonly<DataConfig>;
  readonly model: Readonly<ModelConfig>;
  readonly training: Readonly<TrainingConfig>;
  readonly decoding: Readonly<DecodingConfig>;
}

type Kind = 'int' | 'int?' | 'number' | 'bool' | 'string' | 'string?' | 'strings';

/** One key: its type, range, built-in default and documentation. */
export interface KeySpec<V = unknown> {
  kind: Kind;
  /** The built-in default (the `cmn-eng` configuration's value). */
  default: V;
  /** Allowed values for strings. */
  choices?: readonly (string | null)[];
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive upper bound. */
  below?: number;
  /** What the key means; for a bool key, what `true` does. */
  doc: string;
  /** For a bool key: what `false` (`--no-<key>`) does. */
  off?: string;
}

/** `maxLen` → `max-len`: config files and flags spell keys in kebab case. */
type Kebab<S extends string> = S extends `${infer H}${infer T}`
  ? `${H extends Lowercase<H> ? H : `-${Lowercase<H>}`}${Kebab<T>}`
  : S;

/** A group's schema: exactly one spec per key of its config interface, with a default of the key's type. */
type GroupSchema<C> = { [K in keyof C & string as Kebab<K>]: KeySpec<C[K]> };

const TYPED_SCHEMA = {
  data: {
    data: { kind: 'strings', default: ['data/cmn-eng/cmn-eng.tsv'], doc: 'TSV/CSV corpus files (repeatable)' },
    src: { kind: 'string?', default: null, doc: 'plain source-side file, line-aligned with --tgt' },
    tgt: { kind: 'string?', default: null, doc: 'plain target-side file, line-aligned with --src' },
    'src-col': { kind: 'int?', default: null, min: 0, doc: 'source column in TSV/CSV (default: English 0, the other language 1)' },
    'tgt-col': { kind: 'int?', default: null, min: 0, doc: 'target column in TSV/CSV (default: English 0, the other language 1)' },
    delimiter: { kind: 'string?', default: null, doc: 'field delimiter (default: tab for .tsv, comma for .csv)' },
    'src-lang': { kind: 'string', default: 'en', doc: 'source language code' },
    'tgt-lang': { kind: 'string', default: 'zh', doc: 'target language code' },
    'src-tokenizer': { kind: 'string?', default: null, choices: ['word', 'char', 'bpe', null], doc: 'source tokenizer: word, char or bpe (default: char for Chinese and Japanese, word otherwise; bpe cuts those tokens into subwords)' },
    'tgt-tokenizer': { kind: 'string?', default: null, choices: ['word', 'char', 'bpe', null], doc: 'target tokenizer: word, char or bpe (default: char for Chinese and Japanese, word otherwise; bpe cuts those tokens into subwords)' },
    'src-vocab-size': { kind: 'int', default: 8000, min: 1, max: 30004, doc: 'source BPE vocabulary size, the 4 special tokens included (with --src-tokenizer bpe)' },
    'tgt-vocab-size': { kind: 'int', default: 8000, min: 1, max: 30004, doc: 'target BPE vocabulary size, the 4 special tokens included (with --tgt-tokenizer bpe)' },
    lowercase: { kind: 'bool', default: true, doc: 'lowercase word-tokenized text', off: 'keep the case of word-tokenized text' },
    'max-len': { kind: 'int', default: 40, min: 1, max: 1000, doc: 'drop pairs longer than this (tokens, either side)' },
    valid: { kind: 'string?', default: null, doc: 'validation corpus (default: hold out --valid-size pairs)' },
    'valid-size': { kind: 'int', default: 500, min: 0, doc: 'pairs held out for validation' },
    'src-min-freq': { kind: 'int', default: 2, min: 1, doc: 'minimum count of a source token' },
    'tgt-min-freq': { kind: 'int', default: 1, min: 1, doc: 'minimum count of a target token' },
    'src-max-vocab': { kind: 'int', default: 0, min: 0, doc: 'maximum source vocabulary size (0 = no limit)' },
    'tgt-max-vocab': { kind: 'int', default: 0, min: 0, doc: 'maximum target vocabulary size (0 = no limit)' },
    strict: { kind: 'bool', default: false, doc: 'stop at the first malformed row', off: 'skip malformed rows and summarise them' },
  },
  model: {
    'emb-size': { kind: 'int', default: 256, min: 1, max: 4096, doc: 'embedding size' },
    'hidden-size': { kind: 'int', default: 256, min: 1, max: 4096, doc: 'LSTM hidden size' },
    layers: { kind: 'int', default: 1, min: 1, max: 8, doc: 'stacked LSTM layers' },
    bidirectional: { kind: 'bool', default: false, doc: 'bidirectional encoder (bridged to the decoder size)', off: 'left-to-right encoder' },
    attention: { kind: 'string', default: 'general', choices: ['dot', 'general', 'concat'], doc: 'attention score: dot, general or concat' },
    dropout: { kind: 'number', default: 0.2, min: 0, below: 1, doc: 'dropout on embeddings, between layers and on the attentional vector' },
    'input-feeding': { kind: 'bool', default: true, doc: 'feed the previous attentional vector to the decoder', off: 'feed the decoder the target word only' },
    'tie-output': { kind: 'bool', default: false, doc: 'tie target embeddings and output projection', off: 'separate target embeddings and output projection' },
    'init-scale': { kind: 'number', default: 0.1, min: 0, doc: 'uniform initialisation range' },
  },
  training: {
    'batch-size': { kind: 'int', default: 64, min: 1, max: 8192, doc: 'sentences per batch' },
    'batch-tokens': { kind: 'int', default: 0, min: 0, max: 1_000_000, doc: 'target tokens per batch (0 = batch by sentences)' },
    lr: { kind: 'number', default: 1e-3, min: 0, doc: 'Adam learning rate' },
    beta1: { kind: 'number', default: 0.9, min: 0, below: 1, doc: 'Adam beta1' },
    beta2: { kind: 'number', default: 0.999, min: 0, below: 1, doc: 'Adam beta2' },
    'clip-norm': { kind: 'number', default: 5, min: 0, doc: 'global gradient norm clip (0 = off)' },
    'label-smoothing': { kind: 'number', default: 0, min: 0, below: 1, doc: 'label smoothing' },
    epochs: { kind: 'int', default: 10, min: 1, doc: 'training epochs' },
    'max-steps': { kind: 'int', default: 0, min: 0, doc: 'stop after this many steps (0 = no limit)' },
    'valid-every': { kind: 'int', default: 0, min: 0, doc: 'validate every N steps (0 = at epoch ends only)' },
    'valid-bleu-size': { kind: 'int', default: 500, min: 0, doc: 'validation sentences decoded for BLEU' },
    'lr-decay': { kind: 'number', default: 1, min: 0, max: 1, doc: 'learning-rate factor when validation stalls (1 = off)' },
    'lr-patience': { kind: 'int', default: 2, min: 0, doc: 'validations without improvement before decaying' },
    'early-stop': { kind: 'int', default: 0, min: 0, doc: 'stop after N validations without improvement (0 = off)' },
    'save-every': { kind: 'int', default: 500, min: 0, doc: 'save `last` every N steps (0 = at epoch ends only)' },
    keep: { kind: 'int', default: 2, min: 0, doc: 'older step checkpoints kept' },
    'best-metric': { kind: 'string', default: 'bleu', choices: ['loss', 'bleu'], doc: 'what picks the best checkpoint: loss or bleu' },
    seed: { kind: 'int', default: 1, min: 0, doc: 'random seed (data order, initialisation, dropout)' },
    'log-every': { kind: 'int', default: 50, min: 1, doc: 'log a line every N steps when not on a terminal' },
    out: { kind: 'string?', default: null, doc: 'checkpoint directory (default: checkpoints/<config name>)' },
  },
  decoding: {
    beam: { kind: 'int', default: 1, min: 1, max: 100, doc: 'beam size (1 = greedy)' },
    'length-penalty': { kind: 'number', default: 1, min: 0, doc: 'alpha in score / length^alpha' },
    nbest: { kind: 'int', default: 1, min: 1, max: 100, doc: 'hypotheses returned per sentence (at most the beam size)' },
    'max-input-len': { kind: 'int', default: 200, min: 1, max: 10000, doc: 'longest input decoded (tokens); longer ones are cut, with a warning' },
    'max-output-len': { kind: 'int', default: 80, min: 1, max: 1000, doc: 'output length limit (tokens)' },
    'max-len-ratio': { kind: 'number', default: 2, min: 0, doc: 'output limit relative to source length' },
    'max-len-extra': { kind: 'int', default: 10, min: 0, max: 1000, doc: 'added to ratio × source length' },
    'batch-size': { kind: 'int', default: 64, min: 1, max: 8192, doc: 'sentences decoded together' },
    'replace-unk': { kind: 'bool', default: false, doc: 'replace <unk> by the most attended source token', off: 'keep <unk> in the output' },
  },
} satisfies { data: GroupSchema<DataConfig>; model: GroupSchema<ModelConfig>; training: GroupSchema<TrainingConfig>; decoding: GroupSchema<DecodingConfig> };

/** The schema: every key of every group with its type, range, default and documentation. */
export const SCHEMA: Readonly<Record<Group, Readonly<Record<string, KeySpec>>>> = TYPED_SCHEMA;

function defaultsOf<C>(group: Group): C {
  return Object.fromEntries(Object.entries(SCHEMA[group]).map(([key, spec]) => [kebabToCamel(key), spec.default])) as C;
}

/** Built-in defaults (the `cmn-eng` configuration), read from the schema. */
export const DEFAULTS: Omit<S2SConfig, 'name'> = {
  data: defaultsOf<DataConfig>('data'),
  model: defaultsOf<ModelConfig>('model'),
  training: defaultsOf<TrainingConfig>('training'),
  decoding: defaultsOf<DecodingConfig>('decoding'),
};

/** The config used when none is named: `configs/cmn-eng.yaml`. */
export const DEFAULT_CONFIG_NAME = 'cmn-eng';

export function kebabToCamel(key: string): string {
  return key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function camelToKebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A partial config: group → camelCase key → value. */
export type Overrides = { [G in Group]?: Record<string, unknown> };

/** A value as a message shows it: NaN and ±Infinity by name (JSON would say null). */
function shown(value: unknown): string {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : JSON.stringify(value);
}

/**
 * Checks one value against its schema entry; returns it normalised
 * (e.g. YAML `~` → null) or throws a UserError naming `where`.
 */
export function checkValue(
  group: Group,
  key: string,
  value: unknown,
  where: string,
  /** How the message names the key, e.g. `--batch-size`; default `'training.batch-size'`. */
  label = `'${group}.${key}'`,
  exitCode = 1,
): unknown {
  // Own keys only: `constructor`, `toString` or `__proto__` are not config keys.
  const spec = Object.hasOwn(SCHEMA[group], key) ? SCHEMA[group][key] : undefined;
  if (!spec) throw new UserError(`unknown key '${group}.${key}'`, { where, exitCode });
  const bad = (expected: string): never => {
    throw new UserError(`${label} must be ${expected}, got ${shown(value)}`, { where, exitCode });
  };
  switch (spec.kind) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) bad('an integer');
      break;
    case 'int?':
      if (value !== null && (typeof value !== 'number' || !Number.isInteger(value))) bad('an integer or null');
      break;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) bad('a number');
      break;
    case 'bool':
      if (typeof value !== 'boolean') bad('true or false');
      break;
    case 'string':
      if (typeof value !== 'string') bad('a string');
      break;
    case 'string?':
      if (value !== null && typeof value !== 'string') bad('a string or null');
      break;
    case 'strings':
      if (typeof value === 'string') return [value];
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) bad('a list of strings');
      break;
  }
  if (spec.choices && !spec.choices.includes(value as string | null)) {
    bad(`one of ${spec.choices.filter((c) => c !== null).join(', ')}`);
  }
  if (typeof value === 'number') {
    if (spec.min !== undefined && value < spec.min) bad(`>= ${spec.min}`);
    if (spec.max !== undefined && value > spec.max) bad(`<= ${spec.max}`);
    if (spec.below !== undefined && value >= spec.below) bad(`< ${spec.below}`);
  }
  return value;
}

/** Parses a YAML config file's text into overrides; `file` is used in messages. */
export function parseConfigText(text: string, file: string): Overrides {
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line;
    throw new UserError(`invalid YAML: ${e.message.split('\n')[0]}`, {
      where: line ? `${file}:${line}` : file,
    });
  }
  let root: unknown;
  try {
    // maxAliasCount bounds alias expansion: a "billion laughs" file is an error, not gigabytes of memory.
    root = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new UserError(`invalid YAML: ${(err as Error).message.split('\n')[0]}`, { where: file });
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    throw new UserError('a config must be a mapping of groups (data, model, training, decoding)', { where: file });
  }
  const lineOf = (path: string[]): string => {
    const node = doc.getIn(path, true) as { range?: [number, number] } | undefined;
    const offset = node?.range?.[0];
    if (offset === undefined) return file;
    return `${file}:${text.slice(0, offset).split('\n').length}`;
  };
  const out: Overrides = {};
  for (const [group, body] of Object.entries(root as Record<string, unknown>)) {
    if (group === 'name') continue;
    if (!(GROUPS as readonly string[]).includes(group)) {
      throw new UserError(`unknown group '${group}' (expected one of ${GROUPS.join(', ')})`, { where: lineOf([group]) });
    }
    if (body === null) continue;
    if (typeof body !== 'object' || Array.isArray(body)) {
      throw new UserError(`'${group}' must be a mapping of keys`, { where: lineOf([group]) });
    }
    const g = group as Group;
    const values: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      const where = lineOf([group, key]);
      values[kebabToCamel(key)] = checkValue(g, key, value, where);
    }
    out[g] = values;
  }
  return out;
}

/** Merges layers of overrides over the defaults (later layers win) into a frozen config. */
export function buildConfig(name: string, ...layers: Overrides[]): S2SConfig {
  const merged = {
    data: { ...DEFAULTS.data },
    model: { ...DEFAULTS.model },
    training: { ...DEFAULTS.training },
    decoding: { ...DEFAULTS.decoding },
  };
  for (const layer of layers) {
    for (const g of GROUPS) Object.assign(merged[g], layer[g] ?? {});
  }
  const config: S2SConfig = {
    name,
    data: Object.freeze(merged.data),
    model: Object.freeze(merged.model),
    training: Object.freeze(merged.training),
    decoding: Object.freeze(merged.decoding),
  };
  checkConsistency(config);
  return Object.freeze(config);
}

/** Cross-key rules that no single key can check, including the model's dimensions. */
function checkConsistency(config: S2SConfig): void {
  const { decoding, data, model } = config;
  if (decoding.nbest > decoding.beam) {
    throw new UserError(`--nbest (${decoding.nbest}) cannot exceed --beam (${decoding.beam})`, { where: '--nbest', exitCode: 2 });
  }
  if ((data.src === null) !== (data.tgt === null)) {
    throw new UserError('--src and --tgt go together', { where: data.src === null ? '--tgt' : '--src', exitCode: 2 });
  }
  for (const side of ['src', 'tgt'] as const) {
    const size = side === 'src' ? data.srcVocabSize : data.tgtVocabSize;
    if ((side === 'src' ? data.srcTokenizer : data.tgtTokenizer) === 'bpe' && size <= SPECIAL_COUNT) {
      throw new UserError(`--${side}-vocab-size ${size} leaves no room beyond the ${SPECIAL_COUNT} special tokens <pad> <unk> <sos> <eos>`, {
        where: `--${side}-vocab-size`,
        exitCode: 2,
      });
    }
  }
  const encoderSize = model.bidirectional ? 2 * model.hiddenSize : model.hiddenSize;
  if (model.attention === 'dot' && encoderSize !== model.hiddenSize) {
    throw new UserError(
      `dot attention needs equal encoder and decoder state sizes (encoder ${encoderSize}, decoder ${model.hiddenSize}); ` +
        'use --attention general or concat with --bidirectional',
      { where: '--attention', exitCode: 2 },
    );
  }
  if (model.tieOutput && model.embSize !== model.hiddenSize) {
    throw new UserError(`--tie-output needs --emb-size equal to --hidden-size (got ${model.embSize} and ${model.hiddenSize})`, {
      where: '--tie-output',
      exitCode: 2,
    });
  }
}

/** The config as YAML-shaped plain data (kebab-case keys), for --print-config and checkpoints. */
export function configToPlain(config: S2SConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { name: config.name };
  for (const g of GROUPS) {
    const group: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config[g])) group[camelToKebab(k)] = v;
    out[g] = group;
  }
  return out;
}

/** Rebuilds a config saved by configToPlain (e.g. from a checkpoint), validating every key. */
export function configFromPlain(plain: unknown, where: string): S2SConfig {
  if (typeof plain !== 'object' || plain === null) throw new UserError('config is not an object', { where });
  const p = plain as Record<string, unknown>;
  const overrides: Overrides = {};
  for (const g of GROUPS) {
    const body = p[g];
    if (body === undefined) continue;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new UserError(`config group '${g}' is not an object`, { where });
    const values: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) values[kebabToCamel(k)] = checkValue(g, k, v, where);
    overrides[g] = values;
  }
  try {
    return buildConfig(typeof p.name === 'string' ? p.name : 'checkpoint', overrides);
  } catch (err) {
    // A saved config that breaks a cross-key rule is the file's fault, not a flag's.
    if (err instanceof UserError) throw new UserError(err.message, { where });
    throw err;
  }
}
