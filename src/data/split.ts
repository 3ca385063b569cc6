/**
 * The train/validation split: a separate validation corpus, or `validSize`
 * pairs held out deterministically. Held-out pairs are chosen by a seeded
 * hash of their normalised source sentence (groupRank), a whole source group
 * at a time, so one source sentence never lands on both sides. The split is
 * saved as a SplitRecord (the groups' sourceHash keys) and re-applied on
 * resume, even if the corpus is re-read.
 */
import { hash } from 'node:crypto';
import { UserError } from '../errors.ts';
import type { HoldoutSplit, SplitRecord } from './split-record.ts';
import { maybeSpace, nfkc } from './token-scan.ts';

export { parseSplitRecord, type FileSplit, type HoldoutSplit, type SplitRecord } from './split-record.ts';

export interface Split<T> {
  train: T[];
  valid: T[];
}

/** Whitespace that collapsing would change: anything but a single space. */
const OTHER_SPACE = /[^\S ]| {2}/;

/** What makes two source sentences "the same": NFKC, lowercase, whitespace collapsed. */
export function normaliseSource(source: string): string {
  return collapsed(nfkc(source).toLowerCase());
}

/** normaliseSource's last step, on the source already NFKC-normalised and lowercased. */
function collapsed(lower: string): string {
  return (OTHER_SPACE.test(lower) ? lower.replace(/\s+/g, ' ') : lower).trim();
}

function sha256(text: string): string {
  return hash('sha256', text, 'hex');
}

/** A short, stable name for a source sentence (64 bits of SHA-256 of its normalised form). */
export function sourceHash(source: string): string {
  return normalisedKey(normaliseSource(source));
}

/** sourceHash of a source given as `nfkc(source).toLowerCase()` (which a word tokenizer may have made already). */
export function loweredSourceHash(lowered: string): string {
  return normalisedKey(collapsed(lowered));
}

/** sourceHash of a source already normalised (normaliseSource). */
function normalisedKey(normalised: string): string {
  return sha256(normalised).slice(0, 16);
}

/**
 * A source group's place in the hold-out's seeded order: 53 bits of a seeded
 * hash of its normalised source (cyrb53, public domain: two multiplicative
 * 32-bit lanes over the UTF-16 code units, cross-mixed at the end). It needs
 * no cryptographic strength, only a seed-dependent order that is the same on
 * every platform; being plain arithmetic, it lets a stream of millions of
 * sources skip the SHA-256 key of every source that ranks too late to be held
 * out. Ties (different sources, equal ranks) are ordered by their keys.
 */
export function groupRank(seed: number, normalised: string): number {
  return cyrb53(seed, normalised, false);
}

/**
 * groupRank of a source given as `nfkc(source).toLowerCase()` (see
 * loweredSourceHash), in one pass over `lowered` when collapsing whitespace
 * would leave it as it is (the common case: no whitespace but single spaces
 * between words); -1 when it might not.
 */
export function loweredRank(seed: number, lowered: string): number {
  return cyrb53(seed, lowered, true);
}

/** cyrb53 of `text`; with `collapsedOnly`, -1 for a text whose whitespace collapsing may change. */
function cyrb53(seed: number, text: string, collapsedOnly: boolean): number {
  const s = (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x100000000) | 0, 0x9e3779b1);
  let h1 = 0xdeadbeef ^ s;
  let h2 = 0x41c6ce57 ^ s;
  let previous = 0x20;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (collapsedOnly && (unit === 0x20 ? previous === 0x20 : maybeSpace(unit))) return -1;
    previous = unit;
    h1 = Math.imul(h1 ^ unit, 2654435761);
    h2 = Math.imul(h2 ^ unit, 1597334677);
  }
  if (collapsedOnly && previous === 0x20) return -1;
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 0x100000000 * (0x1fffff & h2) + (h1 >>> 0);
}

/** The hold-out's order of source groups: by rank, then key. */
function ranksBefore(a: { rank: number; key: string }, b: { rank: number; key: string }): boolean {
  return a.rank < b.rank || (a.rank === b.rank && a.key < b.key);
}

function byRank(a: { rank: number; key: string }, b: { rank: number; key: string }): number {
  return ranksBefore(a, b) ? -1 : ranksBefore(b, a) ? 1 : 0;
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
  const groups = new Map<string, { key: string; rank: number; size: number }>();
  for (const item of items) {
    const normalised = normaliseSource(sourceOf(item));
    const key = normalisedKey(normalised);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { key, rank: groupRank(seed, normalised), size: 1 });
    else group.size += 1;
  }
  const order = [...groups.values()].sort(byRank);
  const validKeys: string[] = [];
  let taken = 0;
  for (const { key, size } of order) {
    if (taken === validSize) break;
    if (taken + size > validSize) continue;
    validKeys.push(key);
    taken += size;
  }
  validKeys.sort();
  const record: HoldoutSplit = { kind: 'holdout', seed, validSize, validKeys };
  return { split: applySplit(items, record, sourceOf), record };
}

/**
 * holdoutSplit over a stream, in bounded memory: `add` each item with its
 * position; only the `capacity` source groups of lowest seeded rank are
 * kept (with their items), which is all holdoutSplit visits unless groups
 * larger than the room left are skipped past all of them. With the default
 * capacity (4 × validSize + 1000 groups) that needs thousands of oversized
 * groups, and then fewer pairs are held out, never more.
 */
export class StreamingHoldout<T> {
  private readonly groups = new Map<string, HoldoutGroup<T>>();
  /** Max-heap of the kept groups by rank. */
  private readonly heap: HoldoutGroup<T>[] = [];
  private total = 0;

  constructor(
    readonly seed: number,
    readonly validSize: number,
    readonly capacity = 4 * validSize + 1000,
  ) {}

  /** Item number `index` of the stream, whose source sentence is `source`. */
  add(index: number, source: string, item: T): void {
    this.offer(index, source, () => item);
  }

  /** add, with the item made (by `make`) only if it is kept. */
  offer(index: number, source: string, make: () => T): void {
    this.offerNormalised(index, normaliseSource(source), make);
  }

  /**
   * offer, for a source already normalised (normaliseSource). A source that
   * ranks after every kept group once `capacity` groups are kept (all but a
   * few thousand of a large corpus) costs one groupRank: its group can be
   * neither kept nor one of those kept, whose ranks are all earlier.
   */
  offerNormalised(index: number, normalised: string, make: () => T): void {
    this.offerRanked(index, normalised, groupRank(this.seed, normalised), make);
  }

  /** offer, for a source given as `nfkc(source).toLowerCase()` (see loweredSourceHash). */
  offerLowered(index: number, lowered: string, make: () => T): void {
    const rank = loweredRank(this.seed, lowered);
    if (rank >= 0) this.offerRanked(index, lowered, rank, make);
    else this.offerNormalised(index, collapsed(lowered), make);
  }

  private offerRanked(index: number, normalised: string, rank: number, make: () => T): void {
    this.total += 1;
    const full = this.heap.length >= this.capacity;
    if (full && rank > this.heap[0]!.rank) return;
    const key = normalisedKey(normalised);
    let group = this.groups.get(key);
    if (group === undefined) {
      if (full && !ranksBefore({ rank, key }, this.heap[0]!)) return;
      group = { key, rank, size: 0, items: [] };
      this.groups.set(key, group);
      this.push(group);
      if (this.heap.length > this.capacity) this.groups.delete(this.pop().key);
    }
    group.size += 1;
    // A group larger than validSize is never held out: its items need not be kept.
    if (group.size <= this.validSize) group.items.push({ index, item: make() });
    else group.items.length = 0;
  }

  /** What this stream kept, to merge with other parts of the same stream (StreamingHoldout.merged). */
  state(): HoldoutState<T> {
    return { total: this.total, groups: this.heap };
  }

  /**
   * The holdout of a stream counted in parts (each part's state, its item
   * indices mapped by `reindex` to the whole stream's): the same groups,
   * sizes and items as one StreamingHoldout over the whole stream, since a
   * group among the `capacity` lowest ranks overall is among them in every
   * part it occurs in, and is kept there with all its items.
   */
  static merged<T>(seed: number, validSize: number, parts: readonly HoldoutState<T>[], reindex: (index: number) => number): StreamingHoldout<T> {
    const out = new StreamingHoldout<T>(seed, validSize);
    const groups = new Map<string, HoldoutGroup<T>>();
    for (const part of parts) {
      out.total += part.total;
      for (const g of part.groups) {
        let group = groups.get(g.key);
        if (group === undefined) groups.set(g.key, (group = { key: g.key, rank: g.rank, size: 0, items: [] }));
        group.size += g.size;
        for (const { index, item } of g.items) group.items.push({ index: reindex(index), item });
      }
    }
    const kept = [...groups.values()].sort(byRank).slice(0, out.capacity);
    for (const group of kept) {
      if (group.size > validSize) group.items.length = 0;
      group.items.sort((a, b) => a.index - b.index);
      out.groups.set(group.key, group);
      out.push(group);
    }
    return out;
  }

  /** The split record and the held-out items in stream order; throws as holdoutSplit does. */
  finish(): { record: HoldoutSplit; valid: { index: number; item: T }[] } {
    if (this.validSize > 0 && this.validSize >= this.total) {
      throw new UserError(`--valid-size ${this.validSize} leaves nothing to train on: the corpus has ${this.total} usable pairs`, {
        where: '--valid-size',
        hint: 'lower --valid-size, or give a separate validation corpus with --valid FILE',
        exitCode: 2,
      });
    }
    const order = [...this.heap].sort(byRank);
    const validKeys: string[] = [];
    const valid: { index: number; item: T }[] = [];
    let taken = 0;
    for (const group of order) {
      if (taken === this.validSize) break;
      if (taken + group.size > this.validSize) continue;
      validKeys.push(group.key);
      valid.push(...group.items);
      taken += group.size;
    }
    validKeys.sort();
    valid.sort((a, b) => a.index - b.index);
    return { record: { kind: 'holdout', seed: this.seed, validSize: this.validSize, validKeys }, valid };
  }

  private push(group: HoldoutGroup<T>): void {
    const heap = this.heap;
    heap.push(group);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!ranksBefore(heap[parent]!, heap[i]!)) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  private pop(): HoldoutGroup<T> {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let big = i;
        if (l < heap.length && ranksBefore(heap[big]!, heap[l]!)) big = l;
        if (r < heap.length && ranksBefore(heap[big]!, heap[r]!)) big = r;
        if (big === i) break;
        [heap[big], heap[i]] = [heap[i]!, heap[big]!];
        i = big;
      }
    }
    return top;
  }
}

export interface HoldoutState<T> {
  total: number;
  groups: HoldoutGroup<T>[];
}

export interface HoldoutGroup<T> {
  key: string;
  rank: number;
  size: number;
  items: { index: number; item: T }[];
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
