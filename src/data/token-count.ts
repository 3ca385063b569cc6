/**
 * Pass 1 of prepare, one pair at a time: a pair tokenized into spans of its
 * normalised text (PairSpans), and each token counted and numbered by a
 * TokenTable (provisional ids in order of first appearance). Used by the
 * single-threaded pass and by each worker of the parallel one.
 */
import type { DataConfig } from '../config.ts';
import type { CorpusPair } from './corpus.ts';
import { vocabUnits } from './subword.ts';
import { Spans, nfkc } from './token-scan.ts';
import { sideSpans, sideTokenizer, tokenizeSide, type SideTokenizer } from './tokenize.ts';
import type { Vocab } from './vocab.ts';

/** Lengths are stored as uint16. */
export const MAX_STORED_LEN = 0xffff;

/** Where provisional ids go: true once the sink wants flushing. */
export interface IdSink {
  push(value: number): boolean;
}

export interface Tokenized {
  src: string[];
  tgt: string[];
  origin: string;
  /** The target as written, for the truecasing counts (not saved). */
  tgtText: string;
}

/**
 * A copy that shares no memory with the text it was cut from. A token or a
 * side cut out of a corpus text is a slice that keeps the whole decoded
 * piece of the corpus alive (hundreds of KB); a pair kept for long (a
 * hold-out candidate) must not.
 */
function own(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/**
 * The characters the word tokenizer may turn into a straight apostrophe: the
 * curly ones (tokenize.ts) and the one character whose NFKC holds one
 * (U+0149 ŉ → ʼn; checked over every code point in test/unit/split.test.ts).
 */
const CURLY_SOURCE = /[\u2018\u2019\u02BC\u0149]/;

/**
 * Tokenizes pairs into spans of their normalised texts (no token strings),
 * or into token strings for a tokenizer that has no spans; one pair at a time.
 */
export class PairSpans {
  private readonly src = new Spans();
  private readonly tgt = new Spans();
  private raw: CorpusPair | null = null;
  private srcText: string | null = null;
  private tgtText: string | null = null;
  private srcTokens: string[] | null = null;
  private tgtTokens: string[] | null = null;
  /** A BPE side's units (subword.ts), which its vocabulary is trained on and its ids are stored by. */
  private srcUnits: string[] | null = null;
  private tgtUnits: string[] | null = null;
  private readonly subword: { src: boolean; tgt: boolean };
  private readonly tokenizer: { src: SideTokenizer; tgt: SideTokenizer };
  /** Whether the source's tokenizer lowercases words (see loweredSource). */
  private readonly srcLowered: boolean;

  constructor(private readonly data: Readonly<DataConfig>) {
    this.tokenizer = { src: sideTokenizer(data, 'src'), tgt: sideTokenizer(data, 'tgt') };
    this.subword = { src: this.tokenizer.src.subword !== null, tgt: this.tokenizer.tgt.subword !== null };
    this.srcLowered = this.tokenizer.src.kind === 'word' && this.tokenizer.src.options.lowercase;
  }

  /** This object, holding `raw` tokenized, or null (and counted) when a side is over-long. */
  cut(raw: CorpusPair, counts: { read: number; tooLong: number }): this | null {
    counts.read += 1;
    this.raw = raw;
    this.srcText = sideSpans(this.tokenizer.src, raw.src, this.src);
    this.tgtText = sideSpans(this.tokenizer.tgt, raw.tgt, this.tgt);
    this.srcTokens = this.srcText === null ? tokenizeSide(this.data, 'src', raw.src) : null;
    this.tgtTokens = this.tgtText === null ? tokenizeSide(this.data, 'tgt', raw.tgt) : null;
    const limit = Math.min(this.data.maxLen, MAX_STORED_LEN);
    if (this.srcLength > limit || this.tgtLength > limit) {
      counts.tooLong += 1;
      return null;
    }
    if (this.subword.src || this.subword.tgt) {
      const { src, tgt } = this.tokens();
      this.srcUnits = this.subword.src ? [...vocabUnits(this.data, 'src', src)] : null;
      this.tgtUnits = this.subword.tgt ? [...vocabUnits(this.data, 'tgt', tgt)] : null;
    }
    return this;
  }

  /**
   * The source as `nfkc(source).toLowerCase()` (what the hold-out's
   * sourceHash starts from), reusing a lowercasing word tokenizer's text
   * when it is exactly that: the only other change it makes is curly
   * apostrophes to straight ones, so a text without a straight one had none,
   * nor one whose source has no character that is or holds a curly one.
   */
  loweredSource(): string {
    if (this.srcLowered && this.srcText !== null && (!this.srcText.includes("'") || !CURLY_SOURCE.test(this.raw!.src))) return this.srcText;
    return nfkc(this.raw!.src).toLowerCase();
  }

  /** How many ids pass 1 stores for the source: its units for a BPE side, its tokens otherwise. */
  get srcStored(): number {
    return this.srcUnits?.length ?? this.srcLength;
  }

  get tgtStored(): number {
    return this.tgtUnits?.length ?? this.tgtLength;
  }

  get srcLength(): number {
    return this.srcTokens?.length ?? this.src.length;
  }

  get tgtLength(): number {
    return this.tgtTokens?.length ?? this.tgt.length;
  }

  /** The pair as token strings. */
  readonly tokens = (): Tokenized => ({
    src: this.srcTokens ?? this.src.strings(this.srcText!),
    tgt: this.tgtTokens ?? this.tgt.strings(this.tgtText!),
    origin: this.raw!.origin,
    tgtText: this.raw!.tgt,
  });

  /**
   * The pair as token strings that share no memory with the corpus piece
   * (detached), made cheaply: each side's text is copied once and its tokens
   * cut from the copy, so they keep only that side alive.
   */
  readonly detachedTokens = (): Tokenized => ({
    src: this.srcTokens?.map(own) ?? this.src.strings(own(this.srcText!)),
    tgt: this.tgtTokens?.map(own) ?? this.tgt.strings(own(this.tgtText!)),
    origin: own(this.raw!.origin),
    tgtText: own(this.raw!.tgt),
  });

  /** Counts the pair's tokens and writes their provisional ids; true once a writer should be flushed. */
  count(srcTable: TokenTable, tgtTable: TokenTable, srcOut: IdSink, tgtOut: IdSink): boolean {
    const srcFull = countSide(this.srcText, this.src, this.srcUnits ?? this.srcTokens, srcTable, srcOut);
    const tgtFull = countSide(this.tgtText, this.tgt, this.tgtUnits ?? this.tgtTokens, tgtTable, tgtOut);
    return srcFull || tgtFull;
  }
}

function countSide(text: string | null, spans: Spans, tokens: string[] | null, table: TokenTable, out: IdSink): boolean {
  let full = false;
  if (tokens !== null) for (const token of tokens) full = out.push(table.id(token)) || full;
  else for (let k = 0; k < spans.length; k++) full = out.push(table.idOf(text!, spans.start(k), spans.end(k))) || full;
  return full;
}

/**
 * Token → provisional id (in order of first appearance) with its count, until
 * the vocabulary exists. Tokens are looked up by their place in a text, so
 * that a token seen before costs no string: one-code-unit tokens (most
 * character tokens) by their code, others in an open-addressing table keyed
 * by an FNV-1a hash of their code units and compared code unit by code unit.
 */
export class TokenTable {
  /** Provisional id → token. */
  readonly tokens: string[] = [];
  private counts = new Float64Array(1 << 12);
  private hashes = new Int32Array(1 << 12);
  /** Id + 1 of each one-code-unit token, 0 if none yet. */
  private readonly singles = new Int32Array(0x10000);
  /** Open addressing: id + 1 of the token in each slot, 0 for empty; at most half full. */
  private slots = new Int32Array(1 << 14);
  /**
   * Tokens of 2 to 7 code units all below 256 (most words of a language in
   * Latin script), in open addressing by their code units packed into two
   * integers (packKey): found without comparing strings. `packed` holds three
   * integers a slot: the two halves of the key and id + 1 (0: empty).
   */
  private packed = new Int32Array(3 << 12);
  private packedTokens = 0;
  /** How many tokens takeNew has handed out. */
  private reported = 0;

  /** Counts `text.slice(start, end)` once and returns its provisional id. */
  idOf(text: string, start: number, end: number): number {
    const id = this.find(text, start, end, true);
    this.counts[id]! += 1;
    return id;
  }

  /** Counts `token` once and returns its provisional id. */
  id(token: string): number {
    return this.idOf(token, 0, token.length);
  }

  /** `token`'s provisional id, added (uncounted) if new. */
  intern(token: string): number {
    return this.find(token, 0, token.length, true);
  }

  /** Each token's count so far, by provisional id (what a worker's table tells the merging thread at the end). */
  countsById(): Float64Array {
    return this.counts.slice(0, this.tokens.length);
  }

  /** Adds another table's counts (countsById), whose id i is this table's `ids[i]`. */
  addCounts(counts: Float64Array, ids: Uint32Array): void {
    for (let i = 0; i < counts.length; i++) this.counts[ids[i]!]! += counts[i]!;
  }

  /** The tokens added since the last call, in order (what a worker's table tells the merging thread). */
  takeNew(): string[] {
    const fresh = this.tokens.slice(this.reported);
    this.reported = this.tokens.length;
    return fresh;
  }

  /** Takes back one count of each token (pairs that turned out to be validation pairs). */
  uncount(tokens: readonly string[]): void {
    for (const token of tokens) this.counts[this.find(token, 0, token.length, false)]! -= 1;
  }

  countMap(): Map<string, number> {
    const out = new Map<string, number>();
    this.tokens.forEach((token, id) => {
      if (this.counts[id]! > 0) out.set(token, this.counts[id]!);
    });
    return out;
  }

  /**
   * Provisional id → the vocabulary's ids: one (UNK for tokens it left out),
   * or a unit's subword pieces; those of id i are `ids[start[i]] … ids[start[i+1] - 1]`.
   */
  remap(vocab: Vocab): { start: Uint32Array; ids: Uint32Array } {
    const lists = this.tokens.map((token) => (vocab.subword ? vocab.encode(vocab.subword.unitPieces(token)) : [vocab.id(token)]));
    const start = new Uint32Array(lists.length + 1);
    for (let i = 0; i < lists.length; i++) start[i + 1] = start[i]! + lists[i]!.length;
    const ids = new Uint32Array(start[lists.length]!);
    lists.forEach((list, i) => ids.set(list, start[i]!));
    return { start, ids };
  }

  /** Releases the table's memory (the remapped ids are all pass 2 needs). */
  clear(): void {
    this.tokens.length = 0;
    this.slots = new Int32Array(0);
    this.hashes = new Int32Array(0);
    this.packed = new Int32Array(0);
  }

  private find(text: string, start: number, end: number, insert: boolean): number {
    if (end - start === 1) {
      const unit = text.charCodeAt(start);
      let id = this.singles[unit]! - 1;
      if (id < 0 && insert) this.singles[unit] = (id = this.add(text.slice(start, end), 0)) + 1;
      return id;
    }
    if (end - start <= MAX_PACKED && packKey(text, start, end)) return this.findPacked(text, start, end, insert);
    let hash = 0x811c9dc5;
    for (let k = start; k < end; k++) hash = Math.imul(hash ^ text.charCodeAt(k), 0x01000193);
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    for (let entry = this.slots[slot]!; entry !== 0; entry = this.slots[slot]!) {
      const token = this.tokens[entry - 1]!;
      if (this.hashes[entry - 1] === hash && token.length === end - start && sameText(token, text, start)) return entry - 1;
      slot = (slot + 1) & mask;
    }
    if (!insert) return -1;
    const id = this.add(text.slice(start, end), hash);
    this.slots[slot] = id + 1;
    if (2 * (id + 1) > this.slots.length) this.grow();
    return id;
  }

  /** find for a token packKey packed (into `key`). */
  private findPacked(text: string, start: number, end: number, insert: boolean): number {
    const lo = key[0]!;
    const hi = key[1]!;
    const packed = this.packed;
    const mask = packed.length / 3 - 1;
    let slot = packedSlot(lo, hi, mask);
    for (let entry = packed[3 * slot + 2]!; entry !== 0; entry = packed[3 * slot + 2]!) {
      if (packed[3 * slot] === lo && packed[3 * slot + 1] === hi) return entry - 1;
      slot = (slot + 1) & mask;
    }
    if (!insert) return -1;
    const id = this.add(text.slice(start, end), 0);
    packed[3 * slot] = lo;
    packed[3 * slot + 1] = hi;
    packed[3 * slot + 2] = id + 1;
    if (2 * ++this.packedTokens > mask + 1) this.growPacked();
    return id;
  }

  private growPacked(): void {
    const old = this.packed;
    const packed = (this.packed = new Int32Array(old.length * 2));
    const mask = packed.length / 3 - 1;
    for (let at = 0; at < old.length; at += 3) {
      if (old[at + 2] === 0) continue;
      let slot = packedSlot(old[at]!, old[at + 1]!, mask);
      while (packed[3 * slot + 2] !== 0) slot = (slot + 1) & mask;
      packed.set(old.subarray(at, at + 3), 3 * slot);
    }
  }

  private add(token: string, hash: number): number {
    const id = this.tokens.length;
    this.tokens.push(token);
    if (id === this.counts.length) {
      const counts = new Float64Array(id * 2);
      counts.set(this.counts);
      this.counts = counts;
      const hashes = new Int32Array(id * 2);
      hashes.set(this.hashes);
      this.hashes = hashes;
    }
    this.hashes[id] = hash;
    return id;
  }

  private grow(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (const entry of this.slots) {
      if (entry === 0) continue;
      let slot = this.hashes[entry - 1]! & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = entry;
    }
    this.slots = slots;
  }
}

/** The longest token packKey packs. */
const MAX_PACKED = 7;
/** packKey's result: code units 0–3 of the token a byte each, and 4–6 with its length in the top byte. */
const key = new Int32Array(2);

/** Packs `text.slice(start, end)` (2 to MAX_PACKED code units) into `key`; false if a code unit is over 255. */
function packKey(text: string, start: number, end: number): boolean {
  let lo = 0;
  let hi = (end - start) << 24;
  for (let k = start, shift = 0; k < end; k++, shift += 8) {
    const unit = text.charCodeAt(k);
    if (unit > 0xff) return false;
    if (shift < 32) lo |= unit << shift;
    else hi |= unit << (shift - 32);
  }
  key[0] = lo;
  key[1] = hi;
  return true;
}

/** A packed key's first slot in a table of `mask` + 1 slots (the key's halves mixed, murmur3's finaliser). */
function packedSlot(lo: number, hi: number, mask: number): number {
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) & mask;
}

/** Whether `token` equals the same number of code units of `text` from `start`. */
function sameText(token: string, text: string, start: number): boolean {
  for (let k = 0; k < token.length; k++) if (token.charCodeAt(k) !== text.charCodeAt(start + k)) return false;
  return true;
}

