/**
 * Vocabularies: token ↔ id, built from the training split only, in a
 * deterministic order (count descending, then by code points), saved as JSON
 * with the counts so that a saved vocabulary round-trips exactly.
 */
import { UserError } from '../errors.ts';
import type { Subword } from './subword.ts';

export const PAD = 0;
export const UNK = 1;
export const SOS = 2;
export const EOS = 3;
/** The special tokens, at their ids. */
export const SPECIALS: readonly string[] = Object.freeze(['<pad>', '<unk>', '<sos>', '<eos>']);

export const VOCAB_FORMAT = 's2s-vocab';
export const VOCAB_VERSION = 1;

/** The saved form: `tokens[i]` has id i and was seen `counts[i]` times in training (specials: 0). */
export interface VocabJSON {
  format: typeof VOCAB_FORMAT;
  version: typeof VOCAB_VERSION;
  tokens: string[];
  counts: number[];
  /**
   * A lowercased word target's truecasing table (truecase.ts): token → the
   * form it is usually written in, for tokens not usually lowercase. Absent
   * for other vocabularies and in files written before it existed.
   */
  cased?: Record<string, string>;
}

export interface BuildOptions {
  /** Tokens seen fewer times are left out (they become `<unk>`). */
  minFreq: number;
  /** At most this many entries, the 4 specials included; 0 = no limit. */
  maxSize: number;
}

/** Orders strings by Unicode code points (JS `<` compares UTF-16 units, which differs above U+FFFF). */
export function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(j)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return (a.length - i) - (b.length - j);
}

export class Vocab {
  readonly tokens: readonly string[];
  readonly counts: readonly number[];
  /** The truecasing table (see VocabJSON.cased); null when the vocabulary has none. */
  readonly cased: ReadonlyMap<string, string> | null;
  /** The subword model whose pieces these tokens are, or null for a word or character vocabulary. */
  readonly subword: Subword | null;
  private readonly ids: ReadonlyMap<string, number>;

  private constructor(tokens: string[], counts: number[], cased: ReadonlyMap<string, string> | null = null, subword: Subword | null = null) {
    this.tokens = Object.freeze(tokens);
    this.counts = Object.freeze(counts);
    this.cased = cased;
    this.subword = subword;
    this.ids = new Map(tokens.map((t, i) => [t, i]));
  }

  /** This vocabulary with a truecasing table, limited to its own tokens (to words, for subword pieces). */
  withCased(table: ReadonlyMap<string, string>): Vocab {
    const own = [...table].filter(([token]) => this.subword !== null || this.ids.has(token));
    return new Vocab([...this.tokens], [...this.counts], new Map(own), this.subword);
  }

  /** The vocabulary of a subword model: its pieces in id order, with their counts in training. */
  static ofSubword(subword: Subword, counts: readonly number[]): Vocab {
    return new Vocab([...subword.tokens], [...counts], null, subword);
  }

  /** A side's tokens as the model sees them: the subword pieces, or the tokens themselves. */
  pieces(tokens: readonly string[]): string[] {
    return this.subword ? this.subword.pieces(tokens) : [...tokens];
  }

  /** The model's tokens back as the side's tokenizer writes them (subword pieces joined into units). */
  units(pieces: readonly string[]): string[] {
    return this.subword ? this.subword.units(pieces) : [...pieces];
  }

  get size(): number {
    return this.tokens.length;
  }

  /** The token's id, or UNK. */
  id(token: string): number {
    return this.ids.get(token) ?? UNK;
  }

  encode(tokens: readonly string[]): number[] {
    return tokens.map((t) => this.id(t));
  }

  /** Ids to tokens, specials included; an id outside the vocabulary is a programming error. */
  decode(ids: readonly number[]): string[] {
    return ids.map((id) => {
      const token = this.tokens[id];
      if (token === undefined) throw new RangeError(`token id ${id} outside the vocabulary (size ${this.size})`);
      return token;
    });
  }

  toJSON(): VocabJSON {
    return {
      format: VOCAB_FORMAT,
      version: VOCAB_VERSION,
      tokens: [...this.tokens],
      counts: [...this.counts],
      ...(this.cased !== null ? { cased: Object.fromEntries(this.cased) } : {}),
    };
  }

  /** Validates a saved vocabulary; `where` (a file) names it in errors. With `subword`, its pieces must be the tokens. */
  static fromJSON(json: unknown, where: string, subword: Subword | null = null): Vocab {
    const bad = (what: string): never => {
      throw new UserError(`not a valid vocabulary: ${what}`, { where });
    };
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return bad('expected a JSON object');
    const { format, version, tokens, counts, cased } = json as Record<string, unknown>;
    if (format !== VOCAB_FORMAT) bad(`"format" must be "${VOCAB_FORMAT}"`);
    if (version !== VOCAB_VERSION) bad(`unsupported version ${JSON.stringify(version)} (expected ${VOCAB_VERSION})`);
    if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string' && t !== '')) {
      return bad('"tokens" must be a list of non-empty strings');
    }
    if (!Array.isArray(counts) || !counts.every((c) => Number.isSafeInteger(c) && c >= 0)) {
      return bad('"counts" must be a list of non-negative integers');
    }
    if (counts.length !== tokens.length) bad(`${tokens.length} tokens but ${counts.length} counts`);
    if (!SPECIALS.every((s, i) => tokens[i] === s)) bad(`the first tokens must be ${SPECIALS.join(' ')}`);
    if (new Set(tokens).size !== tokens.length) {
      bad(`duplicate token ${JSON.stringify(tokens.find((t, i) => tokens.indexOf(t) !== i))}`);
    }
    let table: Map<string, string> | null = null;
    if (cased !== undefined) {
      if (typeof cased !== 'object' || cased === null || Array.isArray(cased)) return bad('"cased" must be an object');
      table = new Map();
      const known = new Set(tokens as string[]);
      for (const [token, form] of Object.entries(cased)) {
        // A cased form only changes the case of its token: never other text.
        if ((!subword && !known.has(token)) || typeof form !== 'string' || form.toLowerCase() !== token) {
          return bad(`"cased" maps ${JSON.stringify(token)} to ${JSON.stringify(form)} (expected a token of the vocabulary and the same word cased)`);
        }
        table.set(token, form);
      }
    }
    if (subword && (subword.tokens.length !== tokens.length || subword.tokens.some((t, i) => t !== tokens[i]))) {
      bad('its tokens are not the pieces of the tokenizer.json beside it');
    }
    return new Vocab([...(tokens as string[])], [...(counts as number[])], table, subword);
  }

  /** Counts tokens and keeps those seen at least `minFreq` times, most frequent first. */
  static build(sentences: Iterable<readonly string[]>, opts: BuildOptions): Vocab {
    const counts = new Map<string, number>();
    for (const sentence of sentences) countTokens(counts, sentence);
    return Vocab.fromCounts(counts, opts);
  }

  /** The vocabulary of tokens counted elsewhere (e.g. while streaming a corpus); `counts` is not changed. */
  static fromCounts(counts: ReadonlyMap<string, number>, opts: BuildOptions): Vocab {
    const specials = new Set(SPECIALS);
    const kept = [...counts]
      .filter(([token, count]) => count >= opts.minFreq && !specials.has(token))
      .sort(([ta, ca], [tb, cb]) => cb - ca || compareCodePoints(ta, tb));
    const room = opts.maxSize > 0 ? Math.max(0, opts.maxSize - SPECIALS.length) : kept.length;
    const chosen = kept.slice(0, room);
    return new Vocab(
      [...SPECIALS, ...chosen.map(([t]) => t)],
      [...SPECIALS.map(() => 0), ...chosen.map(([, c]) => c)],
    );
  }
}

/** Adds a sentence's tokens to `counts`. */
export function countTokens(counts: Map<string, number>, tokens: readonly string[], by = 1): void {
  for (const token of tokens) {
    const count = (counts.get(token) ?? 0) + by;
    if (count === 0) counts.delete(token);
    else counts.set(token, count);
  }
}

export interface Coverage {
  /** Tokens in the sentences. */
  tokens: number;
  /** Of those, tokens not in the vocabulary. */
  unknown: number;
  /** The out-of-vocabulary rate, unknown / tokens (0 when there are no tokens). */
  rate: number;
}

export function coverage(vocab: Vocab, sentences: Iterable<readonly string[]>): Coverage {
  let tokens = 0;
  let unknown = 0;
  for (const sentence of sentences) {
    for (const token of sentence) {
      tokens += 1;
      if (vocab.id(token) === UNK) unknown += 1;
    }
  }
  return { tokens, unknown, rate: tokens === 0 ? 0 : unknown / tokens };
}

/** A vocabulary file's text, as saved. */
export function vocabFileText(vocab: Vocab): string {
  return JSON.stringify(vocab.toJSON()) + '\n';
}
