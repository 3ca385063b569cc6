/**
 * A vocabulary set: both vocabularies, the train/validation split they were
 * built from, and the data settings that made them (vocab-set.json), in one
 * directory. `s2s vocab --out DIR` writes one; `s2s train --vocab DIR` trains
 * with it instead of building the vocabularies again, once its settings are
 * checked against the run's (Node only).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { DataConfig } from '../config.ts';
import { UserError } from '../errors.ts';
import { parseSplitRecord, type SplitRecord } from './split.ts';
import { sideTokenizer } from './tokenize.ts';
import { Subword } from './subword.ts';
import { loadVocab } from './vocab-file.ts';
import { vocabFileText, type Vocab } from './vocab.ts';

export const VOCAB_SET_FILE = 'vocab-set.json';
const FORMAT = 's2s-vocab-set';
const VERSION = 1;

export interface VocabSet {
  split: SplitRecord;
  srcVocab: Vocab;
  tgtVocab: Vocab;
}

/** The files of a set, name → contents, for writeFileSetAtomic. */
export function vocabSetFiles(data: Readonly<DataConfig>, set: VocabSet): Record<string, string> {
  return {
    'src.vocab.json': vocabFileText(set.srcVocab),
    'tgt.vocab.json': vocabFileText(set.tgtVocab),
    ...(set.srcVocab.subword ? { 'src.tokenizer.json': set.srcVocab.subword.text() } : {}),
    ...(set.tgtVocab.subword ? { 'tgt.tokenizer.json': set.tgtVocab.subword.text() } : {}),
    'split.json': `${JSON.stringify(set.split, null, 2)}\n`,
    [VOCAB_SET_FILE]: `${JSON.stringify({ format: FORMAT, version: VERSION, data }, null, 2)}\n`,
  };
}

/**
 * What decides the vocabularies: every data setting but `strict`, with each
 * side's tokenizer as it applies (a language's default spelled out) and
 * `lowercase` only where a side is word-tokenized (characters keep their case).
 */
function vocabSettings(data: Readonly<DataConfig>): Record<string, unknown> {
  const { strict: _strict, srcVocabSize, tgtVocabSize, ...rest } = data;
  const src = sideTokenizer(data, 'src');
  const tgt = sideTokenizer(data, 'tgt');
  return {
    ...rest,
    srcTokenizer: src.subword ?? src.kind,
    tgtTokenizer: tgt.subword ?? tgt.kind,
    // A BPE vocabulary's size matters only to a BPE side.
    ...(src.subword ? { srcVocabSize } : {}),
    ...(tgt.subword ? { tgtVocabSize } : {}),
    lowercase: src.kind === 'word' || tgt.kind === 'word' ? data.lowercase : null,
  };
}

const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
const shown = (v: unknown): string => (Array.isArray(v) ? v.join(',') : String(v));

/**
 * Reads the set in `dir` for a run whose data settings are `data`. Refuses a
 * directory that is not a set and a set built with other data settings,
 * naming each setting that differs.
 */
export function loadVocabSet(dir: string, data: Readonly<DataConfig>): VocabSet {
  if (!existsSync(dir)) throw new UserError('vocabulary set not found', { where: dir, code: 'NOT_FOUND' });
  if (!statSync(dir).isDirectory()) throw new UserError('not a vocabulary set: not a directory', { where: dir });
  const manifestPath = join(dir, VOCAB_SET_FILE);
  if (!existsSync(manifestPath)) throw new UserError(`not an s2s vocabulary set: no ${VOCAB_SET_FILE}`, { where: dir });
  let manifest: { format?: unknown; version?: unknown; data?: unknown };
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as typeof manifest;
  } catch (err) {
    throw new UserError(`not an s2s vocabulary set: ${(err as Error).message}`, { where: manifestPath });
  }
  if (manifest?.format !== FORMAT || manifest.version !== VERSION || typeof manifest.data !== 'object' || manifest.data === null) {
    throw new UserError(`not an s2s vocabulary set: expected {"format": "${FORMAT}", "version": ${VERSION}, "data": {…}}`, { where: manifestPath });
  }
  const built = vocabSettings(manifest.data as DataConfig);
  const now = vocabSettings(data);
  const differ = Object.keys({ ...built, ...now }).filter((k) => JSON.stringify(built[k]) !== JSON.stringify(now[k]));
  if (differ.length > 0) {
    const list = differ.map((k) => `${flagOf(k)} (set: ${shown(built[k])}, now: ${shown(now[k])})`).join(', ');
    throw new UserError(`the vocabulary set was built with other data settings: ${list}`, { where: dir, exitCode: 2 });
  }
  const splitPath = join(dir, 'split.json');
  let split: unknown;
  try {
    split = JSON.parse(readFileSync(splitPath, 'utf8'));
  } catch (err) {
    throw new UserError(`not a valid split record: ${(err as Error).message}`, { where: splitPath });
  }
  return {
    split: parseSplitRecord(split, splitPath),
    srcVocab: loadVocab(join(dir, 'src.vocab.json'), subwordOf(dir, data, 'src')),
    tgtVocab: loadVocab(join(dir, 'tgt.vocab.json'), subwordOf(dir, data, 'tgt')),
  };
}

/** A BPE side's model, `<side>.tokenizer.json` in the set; null for other sides. */
function subwordOf(dir: string, data: Readonly<DataConfig>, side: 'src' | 'tgt'): Subword | null {
  const { kind, subword } = sideTokenizer(data, side);
  if (subword === null) return null;
  const path = join(dir, `${side}.tokenizer.json`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `the set has no ${side}.tokenizer.json, but the ${side === 'src' ? 'source' : 'target'} side uses ${subword}` : `cannot read (${code})`, { where: path });
  }
  return Subword.parse(text, kind, path);
}
