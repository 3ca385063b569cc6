/**
 * The train/validation split: a separate validation corpus, or `validSize`
 * pairs held out deterministically. Held-out pairs are chosen by a seeded
 * hash of their normalised source sentence, a whole source group at a time,
 * so one source sentence never lands on both sides. The split is saved as a
 * SplitRecord and re-applied on resume, even if the corpus is re-read.
 */
import { createHash } from 'node:crypto';
import { UserError } from '../errors.ts';

/** `validKeys` are the sourceHash()es of the held-out source sentences, sorted. */
export interface HoldoutSplit {
  kind: 'holdout';
  seed: number;
  validSize: number;
  validKeys: string[];
}

/** Validation pairs come from the file `valid`; every corpus pair trains. */
export interface FileSplit {
  kind: 'file';
  valid: string;
}

export type SplitRecord = HoldoutSplit | FileSplit;

export interface Split<T> {
  train: T[];
  valid: T[];
}

/** What makes two source sentences "the same": NFKC, lowercase, whitespace collapsed. */
export function normaliseSource(source: string): string {
  return source.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A short, stable name for a source sentence (64 bits of SHA-256 of its normalised form). */
export function sourceHash(source: string): string {
  return sha256(normaliseSource(source)).slice(0, 16);
}

/**
 * Holds out `validSize` pairs (or as close as groups allow, never more):
 * source groups are visited in the order of a seeded hash and taken whole
 * while they fit. Throws a UserError if nothing would be left to train on.
 */
export function holdoutSplit<T>(
  items: readonly T[],
  sourceOf: (item: T) => string,
  seed: number,
  validSize: number,
): { split: Split<T>; record: HoldoutSplit } {
  if (validSize > 0 && validSize >= items.length) {
    throw new UserError(`--valid-size ${validSize} leaves nothing to train on: the corpus has ${items.length} usable pairs`, {
      where: '--valid-size',
      hint: 'lower --valid-size, or give a separate validation corpus with --valid FILE',
      exitCode: 2,
    });
  }
  const groupSizes = new Map<string, number>();
  for (const item of items) {
    const key = sourceHash(sourceOf(item));
    groupSizes.set(key, (groupSizes.get(key) ?? 0) + 1);
  }
  const order = [...groupSizes.keys()]
    .map((key) => ({ key, rank: sha256(`${seed}:${key}`) }))
    .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
  const validKeys: string[] = [];
  let taken = 0;
  for (const { key } of order) {
    if (taken === validSize) break;
    const size = groupSizes.get(key)!;
    if (taken + size > validSize) continue;
    validKeys.push(key);
    taken += size;
  }
  validKeys.sort();
  const record: HoldoutSplit = { kind: 'holdout', seed, validSize, validKeys };
  return { split: applySplit(items, record, sourceOf), record };
}

/**
 * Re-applies a saved split. A holdout sends the pairs whose source is one of
 * `validKeys` to validation; a file split sends every pair to training (the
 * validation pairs are read from the file).
 */
export function applySplit<T>(items: readonly T[], record: SplitRecord, sourceOf: (item: T) => string): Split<T> {
  if (record.kind === 'file') return { train: [...items], valid: [] };
  const validKeys = new Set(record.validKeys);
  const split: Split<T> = { train: [], valid: [] };
  for (const item of items) {
    (validKeys.has(sourceHash(sourceOf(item))) ? split.valid : split.train).push(item);
  }
  return split;
}

/** Validates a saved SplitRecord (e.g. from a checkpoint); `where` names it in errors. */
export function parseSplitRecord(json: unknown, where: string): SplitRecord {
  const bad = (what: string): never => {
    throw new UserError(`not a valid split record: ${what}`, { where });
  };
  if (typeof json !== 'object' || json === null) return bad('expected an object');
  const r = json as Record<string, unknown>;
  if (r.kind === 'file') {
    if (typeof r.valid !== 'string' || r.valid === '') bad('"valid" must be a file name');
    return { kind: 'file', valid: r.valid as string };
  }
  if (r.kind !== 'holdout') return bad('"kind" must be "holdout" or "file"');
  if (!Number.isSafeInteger(r.seed)) bad('"seed" must be an integer');
  if (!Number.isSafeInteger(r.validSize) || (r.validSize as number) < 0) bad('"validSize" must be a non-negative integer');
  if (!Array.isArray(r.validKeys) || !r.validKeys.every((k) => typeof k === 'string' && /^[0-9a-f]{16}$/.test(k))) {
    bad('"validKeys" must be a list of 16-digit hex hashes');
  }
  return { kind: 'holdout', seed: r.seed as number, validSize: r.validSize as number, validKeys: [...(r.validKeys as string[])] };
}
