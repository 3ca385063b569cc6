/**
 * IntWriter: a stream of unsigned integers of one width (little-endian
 * uint16 or uint32) written to a file through a buffer, as prepare writes its
 * id and length files.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';

/** Test hook: called before each write with the file and the bytes about to be written (throw to fail it). */
export type WriteHook = (file: string, bytes: number) => void;

const FLUSH_BYTES = 1 << 20;
const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Writes a stream of unsigned integers of one width to a file, hashing as it
 * goes; a scratch file (pass 1's, removed before the set is complete) is
 * neither hashed nor synced.
 * A flush hands its buffer to a write and fills the other buffer meanwhile:
 * one write at a time is in flight, in order; a failed write fails the next
 * flush or the close.
 */
export class IntWriter {
  private buffer!: Uint8Array;
  private view!: DataView;
  private u16!: Uint16Array;
  private u32!: Uint32Array;
  /** The buffer being written, which the next flush fills from. */
  private spare: Uint8Array = new Uint8Array(FLUSH_BYTES + 4096);
  /** The write in flight. */
  private writing: Promise<unknown> = Promise.resolve();
  private used = 0;
  private written = 0;
  private readonly hash: Hash | null;

  private constructor(
    private readonly handle: FileHandle,
    readonly name: string,
    readonly width: 2 | 4,
    private readonly hook: WriteHook | undefined,
    scratch: boolean,
  ) {
    this.hash = scratch ? null : createHash('sha256');
    this.use(new Uint8Array(FLUSH_BYTES + 4096));
  }

  /** Fills `buffer` from now on. */
  private use(buffer: Uint8Array): void {
    this.buffer = buffer;
    this.view = new DataView(buffer.buffer);
    this.u16 = new Uint16Array(buffer.buffer);
    this.u32 = new Uint32Array(buffer.buffer);
  }

  static async create(dir: string, name: string, width: 2 | 4, hook: WriteHook | undefined, scratch: boolean): Promise<IntWriter> {
    return new IntWriter(await open(join(dir, name), 'w'), name, width, hook, scratch);
  }

  /** True once the buffer should be flushed. */
  push(value: number): boolean {
    if (this.used + this.width > this.buffer.length) this.grow(this.buffer.length * 2);
    if (LITTLE_ENDIAN) {
      // `used` is a multiple of the width: the typed views are aligned.
      if (this.width === 2) this.u16[this.used >> 1] = value;
      else this.u32[this.used >> 2] = value;
    } else if (this.width === 2) this.view.setUint16(this.used, value, true);
    else this.view.setUint32(this.used, value, true);
    this.used += this.width;
    return this.used >= FLUSH_BYTES;
  }

  private grow(bytes: number): void {
    const grown = new Uint8Array(bytes);
    grown.set(this.buffer.subarray(0, this.used));
    this.use(grown);
  }

  /** push for each of `values` (of this writer's width). */
  pushArray(values: Uint32Array | Uint16Array): boolean {
    if (values.BYTES_PER_ELEMENT !== this.width || !LITTLE_ENDIAN) {
      let full = false;
      for (let i = 0; i < values.length; i++) full = this.push(values[i]!) || full;
      return full;
    }
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    if (this.used + bytes.length > this.buffer.length) this.grow(Math.max(this.buffer.length * 2, this.used + bytes.length));
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
    return this.used >= FLUSH_BYTES;
  }

  /** pushArray for all of `values`, a buffer's worth at a time, flushing each full buffer. */
  async pushAll(values: Uint32Array | Uint16Array): Promise<void> {
    let i = 0;
    while (i < values.length) {
      if (this.used >= FLUSH_BYTES) await this.flush();
      const n = Math.min(values.length - i, (FLUSH_BYTES - this.used) / this.width);
      if (this.pushArray(values.subarray(i, i + n))) await this.flush();
      i += n;
    }
  }

  /** Starts writing the buffer (once the previous write is done) and switches to the other one. */
  async flush(): Promise<void> {
    if (this.used === 0) return;
    await this.writing;
    const bytes = this.buffer.subarray(0, this.used);
    this.hook?.(this.name, bytes.length);
    this.writing = this.handle.write(bytes);
    this.writing.catch(() => {}); // reported by the next flush or the close
    this.hash?.update(bytes);
    this.written += bytes.length;
    const spare = this.spare;
    this.spare = this.buffer;
    this.use(spare);
    this.used = 0;
  }

  /** Writes what is left, syncs a set's file, and closes: its size and sha256 ('' for a scratch file). */
  async close(): Promise<{ bytes: number; sha256: string }> {
    await this.flush();
    await this.writing;
    if (this.hash !== null) await this.handle.sync();
    await this.handle.close();
    return { bytes: this.written, sha256: this.hash?.digest('hex') ?? '' };
  }

  /** Closes without writing what is left (after a failure). */
  async abandon(): Promise<void> {
    await this.writing.catch(() => {});
    await this.handle.close().catch(() => {});
  }
}
