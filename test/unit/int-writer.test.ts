/**
 * IntWriter (src/data/int-writer.ts): what it writes is the values in order,
 * little-endian, whichever way they were pushed and however the flushes (with
 * a write in flight while the next buffer fills) fell; its sha256 and size
 * are those of the file; the write hook sees every write; a write that fails
 * in flight fails the next flush or the close.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { IntWriter } from '../../src/data/int-writer.ts';
import { Rng } from '../../src/train/rng.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-int-writer-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** `values` as little-endian integers of `width` bytes. */
function littleEndian(values: number[], width: 2 | 4): Buffer {
  const bytes = Buffer.alloc(values.length * width);
  values.forEach((v, i) => (width === 2 ? bytes.writeUInt16LE(v, 2 * i) : bytes.writeUInt32LE(v, 4 * i)));
  return bytes;
}

describe('IntWriter', () => {
  for (const width of [2, 4] as const) {
    test(`uint${8 * width}: push, pushArray, pushAll and flushes write the values in order, with their sha256`, async () => {
      const rng = new Rng(`int-writer-${width}`);
      const max = width === 2 ? 0x10000 : 0x100000000;
      const random = (n: number): number[] => Array.from({ length: n }, () => Math.floor(rng.next() * max));
      const writes: number[] = [];
      const writer = await IntWriter.create(work, `ids-${width}.bin`, width, (file, bytes) => {
        assert.equal(file, `ids-${width}.bin`);
        writes.push(bytes);
      }, false);
      const expected: number[] = [];
      const typed = (values: number[]): Uint16Array | Uint32Array => (width === 2 ? Uint16Array.from(values) : Uint32Array.from(values));
      for (let round = 0; round < 6; round++) {
        const single = random(1 + rng.int(5000));
        for (const v of single) if (writer.push(v)) await writer.flush();
        const array = random(rng.int(3000));
        if (writer.pushArray(typed(array))) await writer.flush();
        // Wider or narrower than the writer: pushed value by value.
        const other = random(rng.int(100)).map((v) => v & 0xffff);
        if (writer.pushArray(width === 2 ? Uint32Array.from(other) : Uint16Array.from(other))) await writer.flush();
        // Over two buffers' worth: several flushes, each write in flight while the next buffer fills.
        const bulk = random(round === 3 ? (3 << 20) / width + 17 : rng.int(10_000));
        await writer.pushAll(typed(bulk));
        if (round % 2 === 0) await writer.flush();
        for (const part of [single, array, other, bulk]) for (const v of part) expected.push(v);
      }
      const entry = await writer.close();
      const file = readFileSync(join(work, `ids-${width}.bin`));
      assert.ok(file.equals(littleEndian(expected, width)));
      assert.deepEqual(entry, { bytes: file.length, sha256: createHash('sha256').update(file).digest('hex') });
      assert.equal(writes.reduce((a, b) => a + b, 0), file.length);
      assert.ok(writes.filter((bytes) => bytes === 1 << 20).length >= 3, `writes of ${writes.join(', ')} bytes`);
    });
  }

  test('a write that fails in flight fails the next flush, or the close', async () => {
    if (!existsSync('/dev/full')) return; // every write to /dev/full fails with ENOSPC
    const first = await IntWriter.create('/dev', 'full', 2, undefined, true);
    await assert.rejects(first.pushAll(new Uint16Array(3 << 19)), { code: 'ENOSPC' });
    await first.abandon();
    const second = await IntWriter.create('/dev', 'full', 4, undefined, true);
    second.push(7);
    await second.flush();
    await assert.rejects(second.close(), { code: 'ENOSPC' });
    await second.abandon();
  });
});
