/**
 * Subword vocabularies: byte-pair encoding (BPE) in the Hugging Face
 * `tokenizer.json` format, applied with `@huggingface/tokenizers` (plain
 * JavaScript, so the same code splits text in Node and in the browser page).
 *
 * A subword side is first split by its language's tokenizer (tokenize.ts);
 * the units BPE sees are then the word tokenizer's tokens (English) or the
 * runs between spaces of the detokenized characters (Chinese: `我爱iPhone 5。`
 * is the two units `我爱iPhone` and `5。`). Each unit is one pre-token,
 * written `▁unit`, that BPE cuts into pieces (`▁trans` `lat` `ion`); the
 * pieces of a sentence join back into its units at the marks. Training
 * (subword-train.ts, Node only) uses the native `tokenizers` package.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { UserError } from '../errors.ts';
import { detokenize, sideTokenizer, type SideSettings, type TokenizerKind } from './tokenize.ts';

/** The subword models a side can use. */
export type SubwordKind = 'bpe';

/** Starts every unit's first piece (Metaspace's replacement character). */
export const UNIT_MARK = '\u2581';

/** The special tokens at ids 0–3 of every s2s vocabulary (vocab.ts's SPECIALS; repeated to keep this module free of cycles). */
const SPECIAL_TOKENS = ['<pad>', '<unk>', '<sos>', '<eos>'] as const;

/** The parts of a `tokenizer.json` s2s reads and writes. */
export interface TokenizerJSON {
  version: string;
  added_tokens: { id: number; content: string; special: boolean }[];
  pre_tokenizer: unknown;
  decoder: unknown;
  model: {
    type: 'BPE';
    unk_token: string | null;
    vocab: Record<string, number>;
    merges: [string, string][] | string[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** The units BPE sees in a side's tokens: the tokens themselves (word), or the space-separated runs of the text (char). */
export function subwordUnits(kind: TokenizerKind, tokens: readonly string[]): string[] {
  if (kind === 'word') return [...tokens];
  const text = detokenize('char', tokens);
  return text === '' ? [] : text.split(' ');
}

/** What a side's vocabulary is built from: the units of a subword side, the tokens otherwise. */
export function vocabUnits(data: Readonly<SideSettings>, side: 'src' | 'tgt', tokens: readonly string[]): readonly string[] {
  const { kind, subword } = sideTokenizer(data, side);
  return subword === null ? tokens : subwordUnits(kind, tokens);
}

/** At most this many units' pieces are remembered (a server sees unbounded input). */
const CACHE_LIMIT = 100_000;

/** A trained subword model of one side: tokens ↔ pieces. */
export class Subword {
  readonly kind: SubwordKind = 'bpe';
  /** The pieces in id order, the specials first. */
  readonly tokens: readonly string[];
  private readonly tokenizer: Tokenizer;
  private readonly cache = new Map<string, readonly string[]>();

  /** `preTokenizer` is the side's tokenizer before BPE (word or char). */
  constructor(
    readonly json: TokenizerJSON,
    readonly preTokenizer: TokenizerKind,
    where: string,
  ) {
    this.tokens = checkTokenizerJSON(json, where);
    try {
      this.tokenizer = new Tokenizer(json, {});
    } catch (err) {
      throw new UserError(`not a valid tokenizer.json: ${(err as Error).message}`, { where });
    }
  }

  /** Parses and checks a `tokenizer.json` file's text. */
  static parse(text: string, preTokenizer: TokenizerKind, where: string): Subword {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new UserError(`not a valid tokenizer.json: invalid JSON (${(err as Error).message})`, { where });
    }
    return new Subword(json as TokenizerJSON, preTokenizer, where);
  }

  /** The pieces of one unit, e.g. `translation` → `▁trans` `lat` `ion`. */
  unitPieces(unit: string): readonly string[] {
    const cached = this.cache.get(unit);
    if (cached !== undefined) return cached;
    const pieces = this.tokenizer.encode(unit, { add_special_tokens: false }).tokens;
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(unit, pieces);
    return pieces;
  }

  /** A sentence's tokens (as the side's tokenizer gives them) → its pieces. */
  pieces(tokens: readonly string[]): string[] {
    return subwordUnits(this.preTokenizer, tokens).flatMap((unit) => this.unitPieces(unit));
  }

  /** Pieces → the units they spell (a piece without a mark continues the unit before it). */
  units(pieces: readonly string[]): string[] {
    return pieces.join('').split(UNIT_MARK).filter((unit) => unit !== '');
  }

  /** The file's text, as saved in checkpoints and prepared sets. */
  text(): string {
    return JSON.stringify(this.json) + '\n';
  }
}

/** Checks the structure s2s relies on; returns the pieces in id order. */
function checkTokenizerJSON(json: TokenizerJSON, where: string): string[] {
  const bad = (what: string): never => {
    throw new UserError(`not a valid tokenizer.json: ${what}`, { where });
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return bad('expected a JSON object');
  const model = json.model as Partial<TokenizerJSON['model']> | undefined;
  if (typeof model !== 'object' || model === null) return bad('no "model"');
  if (model.type !== 'BPE') bad(`model type ${JSON.stringify(model.type)} (s2s reads BPE)`);
  if (typeof model.vocab !== 'object' || model.vocab === null || Array.isArray(model.vocab)) return bad('"model.vocab" must be an object');
  if (!Array.isArray(model.merges)) bad('"model.merges" must be a list');
  const tokens: string[] = [];
  for (const [token, id] of Object.entries(model.vocab)) {
    if (!Number.isSafeInteger(id) || id < 0 || tokens[id] !== undefined) bad(`bad or repeated id ${JSON.stringify(id)} of ${JSON.stringify(token)}`);
    tokens[id] = token;
  }
  if (tokens.length !== Object.keys(model.vocab).length) bad('the vocabulary ids are not 0 … n-1');
  if (!SPECIAL_TOKENS.every((s, i) => tokens[i] === s)) bad(`ids 0–3 must be ${SPECIAL_TOKENS.join(' ')}`);
  if (model.unk_token !== '<unk>') bad('"model.unk_token" must be "<unk>"');
  return tokens;
}
