/**
 * Pass 1's provisional ids on disk, two bytes an id: each id is written as a
 * little-endian uint16 to its side's file, and an id of ESCAPE or more (a
 * table past 65,534 tokens; rare ones, since ids follow first appearance)
 * as ESCAPE there and as a uint32 in a second file, in order. One uint16 per
 * id keeps a pair's ids where its stored length says; a vocabulary of a few
 * thousand words or characters halves pass 1's writes and pass 2's reads.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { IntWriter, type WriteHook } from './int-writer.ts';

/** The uint16 that stands for an id written in full to the second file. */
export const ESCAPE = 0xffff;

const LITTLE_ENDIAN = endianness() === 'LE';

/** The two files of a side's provisional ids. */
export interface ScratchFiles {
  /** One uint16 per id. */
  low: string;
  /** The escaped ids, uint32, in order. */
  high: string;
}

/** `name`'s two files in `dir`: `name.bin` and `name-high.bin`. */
export function scratchFiles(dir: string, name: string): ScratchFiles {
  return { low: join(dir, `${name}.bin`), high: join(dir, `${name}-high.bin`) };
}

/** Writes provisional ids (IdSink and ArraySink of pass 1) to a side's two files. */
export class ScratchIdWriter {
  /** A chunk's ids as uint16, reused. */
  private narrow = new Uint16Array(1 << 16);

  private constructor(
    private readonly low: IntWriter,
    private readonly high: IntWriter,
  ) {}

  static async create(dir: string, name: string, hook: WriteHook | undefined): Promise<ScratchIdWriter> {
    const low = await IntWriter.create(dir, `${name}.bin`, 2, hook, true);
    try {
      return new ScratchIdWriter(low, await IntWriter.create(dir, `${name}-high.bin`, 4, hook, true));
    } catch (err) {
      await low.abandon();
      throw err;
    }
  }

  /** True once the files should be flushed. */
  push(id: number): boolean {
    if (id < ESCAPE) return this.low.push(id);
    const full = this.low.push(ESCAPE);
    return this.high.push(id) || full;
  }

  pushArray(ids: Uint32Array | Uint16Array): boolean {
    if (ids.length > this.narrow.length) this.narrow = new Uint16Array(Math.max(ids.length, 2 * this.narrow.length));
    const narrow = this.narrow;
    narrow.set(ids);
    let full = false;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i]! < ESCAPE) continue;
      narrow[i] = ESCAPE;
      full = this.high.push(ids[i]!) || full;
    }
    return this.low.pushArray(narrow.subarray(0, ids.length)) || full;
  }

  async flush(): Promise<void> {
    await this.low.flush();
    await this.high.flush();
  }

  async close(): Promise<void> {
    await this.low.close();
    await this.high.close();
  }

  async abandon(): Promise<void> {
    await this.low.abandon();
    await this.high.abandon();
  }
}

/** Reads a side's provisional ids front to back, a block at a time, as uint32. */
export class ScratchIdReader {
  readonly values: Uint32Array;
  /** Values read into `values`, and the next one's place there. */
  fill = 0;
  pos = 0;
  private readonly low: FileBlocks;
  private readonly high: FileBlocks;

  constructor(files: ScratchFiles, blockIds: number) {
    this.values = new Uint32Array(blockIds);
    this.low = new FileBlocks(files.low, 2, blockIds);
    try {
      this.high = new FileBlocks(files.high, 4, 1 << 12);
    } catch (err) {
      this.low.close();
      throw err;
    }
  }

  /** Values from `pos` on in `values`: at least one (refilled when none is left). */
  available(): number {
    if (this.pos === this.fill) this.refill();
    return this.fill - this.pos;
  }

  /** Moves past `n` values. */
  skip(n: number): void {
    while (n > 0) {
      const step = Math.min(n, this.available());
      this.pos += step;
      n -= step;
    }
  }

  /** Reads the next block into `values` (from 0). */
  refill(): void {
    const low = this.low.read() as Uint16Array;
    this.values.set(low);
    for (let i = low.indexOf(ESCAPE); i !== -1; i = low.indexOf(ESCAPE, i + 1)) this.values[i] = this.high.next();
    this.fill = low.length;
    this.pos = 0;
  }

  close(): void {
    this.low.close();
    this.high.close();
  }
}

/** A file of little-endian unsigned integers of one width, read a block at a time. */
class FileBlocks {
  private readonly block: Uint16Array | Uint32Array;
  private readonly bytes: Buffer;
  private offset = 0;
  private fd: number | null;
  /** For next(): the values of the last block read, and the next one's place. */
  private current: Uint16Array | Uint32Array;
  private at = 0;

  constructor(
    path: string,
    private readonly width: 2 | 4,
    blockValues: number,
  ) {
    this.block = width === 2 ? new Uint16Array(blockValues) : new Uint32Array(blockValues);
    this.current = this.block.subarray(0, 0);
    this.bytes = Buffer.from(this.block.buffer);
    this.fd = openSync(path, 'r');
  }

  /** The next block of values (at least one). */
  read(): Uint16Array | Uint32Array {
    let got = 0;
    // Whole values only (a read of a regular file is short only at its end).
    do {
      const n = readSync(this.fd!, this.bytes, got, this.bytes.length - got, this.offset);
      if (n === 0) break;
      got += n;
      this.offset += n;
    } while (got % this.width !== 0);
    if (got < this.width) throw new Error('provisional id file ended early');
    const n = got / this.width;
    if (!LITTLE_ENDIAN) {
      for (let i = 0; i < n; i++) this.block[i] = this.width === 2 ? this.bytes.readUInt16LE(2 * i) : this.bytes.readUInt32LE(4 * i);
    }
    return this.block.subarray(0, n);
  }

  /** The next value. */
  next(): number {
    if (this.at === this.current.length) {
      this.current = this.read();
      this.at = 0;
    }
    return this.current[this.at++]!;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
