/**
 * The saved form of a train/validation split (split.json in a checkpoint), and
 * its validation. Platform-neutral; making and applying splits is split.ts.
 */
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
