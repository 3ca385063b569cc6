/**
 * sacreBLEU-style reproducibility signatures (`metrics/base.py`, `bleu.py`,
 * `chrf.py`): `key:value` pairs joined by `|`, version last.
 *
 * The version is the sacreBLEU release whose behaviour we reproduce
 * number-for-number (checked against its published test vectors), not the
 * version of s2s: a score signed `version:2.6.0` is comparable with one that
 * sacreBLEU 2.6.0 printed for the same settings.
 */
import { formatFixed } from './python-compat.ts';
import type { BleuTokenizer } from './tokenizers.ts';

export const SACREBLEU_VERSION = '2.6.0';

export type SmoothMethod = 'exp' | 'floor' | 'add-k' | 'none';

/** Default smoothing values (`BLEU.SMOOTH_DEFAULTS`); null = the method takes none. */
export const SMOOTH_DEFAULTS: Readonly<Record<SmoothMethod, number | null>> = {
  none: null,
  floor: 0.1,
  'add-k': 1,
  exp: null,
};

export interface BleuSignatureFields {
  nrefs: number;
  lowercase: boolean;
  effectiveOrder: boolean;
  tokenize: BleuTokenizer;
  smoothMethod: SmoothMethod;
  smoothValue: number | null;
}

/** `exp`, `none`, or `floor[0.10]` / `add-k[1.00]` with the value (default written out). */
export function smoothLabel(method: SmoothMethod, value: number | null): string {
  const fallback = SMOOTH_DEFAULTS[method];
  if (fallback === null) return method;
  return `${method}[${formatFixed(value ?? fallback, 2)}]`;
}

function joinPairs(pairs: ReadonlyArray<readonly [string, string | number]>): string {
  return pairs.map(([key, value]) => `${key}:${value}`).join('|');
}

/** `nrefs:1|case:mixed|eff:no|tok:zh|smooth:exp|version:2.6.0` (short: `#:1|c:mixed|…|v:2.6.0`). */
export function bleuSignature(fields: BleuSignatureFields, short = false): string {
  return joinPairs([
    [short ? '#' : 'nrefs', fields.nrefs],
    [short ? 'c' : 'case', fields.lowercase ? 'lc' : 'mixed'],
    [short ? 'e' : 'eff', fields.effectiveOrder ? 'yes' : 'no'],
    ['tok', fields.tokenize],
    [short ? 's' : 'smooth', smoothLabel(fields.smoothMethod, fields.smoothValue)],
    [short ? 'v' : 'version', SACREBLEU_VERSION],
  ]);
}

export interface ChrfSignatureFields {
  nrefs: number;
  lowercase: boolean;
  /** sacreBLEU writes `eff:yes` when epsilon smoothing is off (its default). */
  epsSmoothing: boolean;
  charOrder: number;
  wordOrder: number;
  whitespace: boolean;
}

/** `nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0`. */
export function chrfSignature(fields: ChrfSignatureFields, short = false): string {
  return joinPairs([
    [short ? '#' : 'nrefs', fields.nrefs],
    [short ? 'c' : 'case', fields.lowercase ? 'lc' : 'mixed'],
    [short ? 'e' : 'eff', fields.epsSmoothing ? 'no' : 'yes'],
    ['nc', fields.charOrder],
    ['nw', fields.wordOrder],
    [short ? 's' : 'space', fields.whitespace ? 'yes' : 'no'],
    [short ? 'v' : 'version', SACREBLEU_VERSION],
  ]);
}

/** sacreBLEU's abbreviations (`Signature._abbr` and the metrics' additions); other keys stay as they are. */
const SHORT_KEYS: Readonly<Record<string, string>> = { nrefs: '#', case: 'c', eff: 'e', smooth: 's', space: 's', version: 'v' };

/** The short form (`--short`) of a long BLEU or chrF signature: `#:1|c:mixed|e:no|tok:zh|s:exp|v:2.6.0`. */
export function shortSignature(signature: string): string {
  return signature
    .split('|')
    .map((pair) => {
      const colon = pair.indexOf(':');
      const key = pair.slice(0, colon);
      return `${SHORT_KEYS[key] ?? key}${pair.slice(colon)}`;
    })
    .join('|');
}
