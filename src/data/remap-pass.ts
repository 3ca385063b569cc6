/**
 * Pass 2 of prepare: the provisional ids pass 1 wrote (one per token or BPE
 * unit, scratch-ids.ts) mapped to the vocabularies' ids, the validation pairs'
 * ids skipped, and the training pairs' ids and lengths written. It works on
 * blocks of typed arrays: ids are read a block at a time, a whole block is
 * remapped in one loop (a side whose every unit is one id: `out[i] =
 * map[in[i]]`; a BPE side: each unit's pieces) and written in one piece; the
 * validation pairs are skipped as runs of ids between runs of training pairs.
 */
import { UserError } from '../errors.ts';
import { ScratchIdReader, type ScratchFiles } from './scratch-ids.ts';
import { MAX_STORED_LEN } from './token-count.ts';

/** Ids read, remapped and written per block by default. */
export const BLOCK_IDS = 1 << 18;

/** Pairs between two progress reports. */
const PROGRESS_PAIRS = 1 << 16;

/** Where a side's ids or lengths go: unsigned integers of one width, written in bulk. */
export interface BulkWriter {
  readonly width: 2 | 4;
  /** Writes every value (flushing as the buffer fills). */
  pushAll(values: Uint16Array | Uint32Array): Promise<void>;
}

/**
 * Provisional id → the vocabulary's ids, as TokenTable.remap gives them:
 * those of id i are `ids[start[i]] … ids[start[i + 1] - 1]`.
 */
export interface Remap {
  start: Uint32Array;
  ids: Uint32Array;
}

export interface RemapSide {
  /** Pass 1's provisional ids of every kept pair, concatenated (scratch-ids.ts). */
  input: ScratchFiles;
  /** Pass 1's stored length (ids in `input`) of each kept pair. */
  lens: Uint16Array;
  remap: Remap;
  ids: BulkWriter;
  lengths: BulkWriter;
}

export interface RemapOptions {
  /** Kept pairs: the pairs in `input`. */
  kept: number;
  /** The kept pairs that are validation pairs (skipped). */
  validIndices: ReadonlySet<number>;
  /** Ids per block (tests use tiny blocks). */
  blockIds?: number;
  /** Named in the error about a pair with too many subword pieces. */
  where: string;
  /** Called with the pairs done so far, every 65,536 pairs. */
  onProgress?: (pairs: number) => void;
}

/**
 * Writes the training pairs' final ids and lengths of both sides; returns
 * the tokens written per side. The files' contents are those of a loop that
 * maps and writes one id at a time.
 */
export async function remapPass(sides: { src: RemapSide; tgt: RemapSide }, opts: RemapOptions): Promise<{ src: number; tgt: number }> {
  const blockIds = opts.blockIds ?? BLOCK_IDS;
  const remappers: SideRemapper[] = [];
  try {
    for (const side of [sides.src, sides.tgt]) remappers.push(new SideRemapper(side, blockIds, opts.where));
    const valid = Float64Array.from(opts.validIndices).sort();
    let pair = 0;
    for (let v = 0; v <= valid.length; v++) {
      // Training pairs up to the next validation pair (or the end), in progress-sized runs.
      const end = v < valid.length ? valid[v]! : opts.kept;
      while (pair < end) {
        if (pair % PROGRESS_PAIRS === 0) opts.onProgress?.(pair);
        const to = Math.min(end, (Math.floor(pair / PROGRESS_PAIRS) + 1) * PROGRESS_PAIRS);
        for (const r of remappers) await r.train(pair, to);
        pair = to;
      }
      if (v < valid.length && end < opts.kept) {
        if (pair % PROGRESS_PAIRS === 0) opts.onProgress?.(pair);
        for (const r of remappers) r.skip(end);
        pair = end + 1;
      }
    }
    return { src: remappers[0]!.tokens, tgt: remappers[1]!.tokens };
  } finally {
    for (const r of remappers) r.close();
  }
}

/** One side of pass 2: reads its provisional ids in order, writing the training pairs'. */
class SideRemapper {
  /** Ids written so far. */
  tokens = 0;
  private readonly input: ScratchIdReader;
  private readonly lens: Uint16Array;
  private readonly remap: Remap;
  /** Every unit is exactly one id: the map from provisional id to id, in the output's width. */
  private readonly map: Uint16Array | Uint32Array | null;
  /** The most ids a unit maps to. */
  private readonly maxPieces: number;
  /** The block of remapped ids being written, in the output's width. */
  private block: Uint16Array | Uint32Array;
  /** The lengths of the pairs being written (a BPE side's; another side's are pass 1's). */
  private readonly lengths: Uint16Array;

  constructor(
    private readonly side: RemapSide,
    blockIds: number,
    private readonly where: string,
  ) {
    this.lens = side.lens;
    this.remap = side.remap;
    const { start } = side.remap;
    let one = true;
    let maxPieces = 0;
    for (let i = 0; i + 1 < start.length; i++) {
      const pieces = start[i + 1]! - start[i]!;
      if (pieces !== 1) one = false;
      if (pieces > maxPieces) maxPieces = pieces;
    }
    this.maxPieces = maxPieces;
    this.map = one ? this.typed(side.remap.ids.length) : null;
    this.map?.set(side.remap.ids);
    this.block = this.typed(blockIds);
    this.lengths = new Uint16Array(one ? 0 : blockIds);
    this.input = new ScratchIdReader(side.input, blockIds);
  }

  /** An array of `n` ids of the output's width. */
  private typed(n: number): Uint16Array | Uint32Array {
    return this.side.ids.width === 2 ? new Uint16Array(n) : new Uint32Array(n);
  }

  /** Writes the ids and lengths of training pairs `from` … `to - 1`, the next in the input. */
  async train(from: number, to: number): Promise<void> {
    if (this.map === null) await this.trainPieces(from, to);
    else await this.trainOne(from, to, this.map);
  }

  /** Every unit one id: the lengths are pass 1's, the ids a block at a time. */
  private async trainOne(from: number, to: number, map: Uint16Array | Uint32Array): Promise<void> {
    const lens = this.lens;
    let units = 0;
    for (let p = from; p < to; p++) units += lens[p]!;
    this.tokens += units;
    await this.side.lengths.pushAll(lens.subarray(from, to));
    const input = this.input;
    while (units > 0) {
      const n = Math.min(units, input.available(), this.block.length);
      mapIds(map, input.values, input.pos, n, this.block);
      input.pos += n;
      units -= n;
      await this.side.ids.pushAll(this.block.subarray(0, n));
    }
  }

  /** A BPE side: each unit's pieces, and each pair's length counted as they are written. */
  private async trainPieces(from: number, to: number): Promise<void> {
    const { start, ids } = this.remap;
    const lens = this.lens;
    const lengths = this.lengths;
    const input = this.input;
    let values = input.values;
    let pos = input.pos;
    let fill = input.fill;
    let block = this.block;
    let written = 0;
    let pairs = 0;
    for (let p = from; p < to; p++) {
      const units = lens[p]!;
      const most = units * this.maxPieces;
      if (written + most > block.length || pairs === lengths.length) {
        await this.side.ids.pushAll(block.subarray(0, written));
        await this.side.lengths.pushAll(lengths.subarray(0, pairs));
        written = 0;
        pairs = 0;
        if (most > block.length) block = this.block = this.typed(most);
      }
      const first = written;
      for (let t = 0; t < units; t++) {
        if (pos === fill) {
          input.pos = pos;
          input.refill();
          values = input.values;
          pos = input.pos;
          fill = input.fill;
        }
        const unit = values[pos++]!;
        const end = start[unit + 1]!;
        for (let k = start[unit]!; k < end; k++) block[written++] = ids[k]!;
      }
      const length = written - first;
      if (length > MAX_STORED_LEN) {
        throw new UserError(`a training pair has over ${MAX_STORED_LEN} subword pieces; lower --max-len`, { where: this.where });
      }
      lengths[pairs++] = length;
      this.tokens += length;
    }
    input.pos = pos;
    await this.side.ids.pushAll(block.subarray(0, written));
    await this.side.lengths.pushAll(lengths.subarray(0, pairs));
  }

  /** Skips pair `pair`'s ids (a validation pair). */
  skip(pair: number): void {
    this.input.skip(this.lens[pair]!);
  }

  close(): void {
    this.input.close();
  }
}

/** out[i] = map[values[pos + i]] for i < n. */
function mapIds(map: Uint16Array | Uint32Array, values: Uint32Array, pos: number, n: number, out: Uint16Array | Uint32Array): void {
  for (let i = 0; i < n; i++) out[i] = map[values[pos + i]!]!;
}
