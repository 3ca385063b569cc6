/**
 * Pass 1's provisional ids on disk (src/data/scratch-ids.ts): one uint16 an
 * id, ids from 65,535 up escaped to a second file; read back as written, in
 * blocks of any size, skipping anywhere.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ESCAPE, ScratchIdReader, ScratchIdWriter, scratchFiles } from '../../src/data/scratch-ids.ts';
import { Rng } from '../../src/train/rng.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-scratch-ids-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Ids around the escape and far past it, among small ones. */
function ids(rng: Rng, n: number): number[] {
  const edges = [0, 1, ESCAPE - 1, ESCAPE, ESCAPE + 1, 0x10000, 2 ** 31, 2 ** 32 - 1];
  return Array.from({ length: n }, () => (rng.int(5) === 0 ? edges[rng.int(edges.length)]! : rng.int(3000)));
}

async function written(name: string, values: number[], byOne: boolean): Promise<void> {
  const writer = await ScratchIdWriter.create(work, name, undefined);
  if (byOne) for (const v of values) writer.push(v);
  else for (let i = 0; i < values.length; i += 997) writer.pushArray(Uint32Array.from(values.slice(i, i + 997)));
  await writer.close();
}

describe('scratch ids', () => {
  test('read back as written, through push or pushArray, in blocks of any size', async () => {
    const rng = new Rng('scratch');
    const values = ids(rng, 20_000);
    for (const byOne of [true, false]) {
      const name = `ids-${byOne}`;
      await written(name, values, byOne);
      const files = scratchFiles(work, name);
      const escaped = values.filter((v) => v >= ESCAPE).length;
      assert.equal(statSync(files.low).size, 2 * values.length);
      assert.equal(statSync(files.high).size, 4 * escaped);
      for (const block of [1, 2, 7, 4096, 1 << 18]) {
        const reader = new ScratchIdReader(files, block);
        const back: number[] = [];
        while (back.length < values.length) {
          const n = reader.available();
          back.push(...reader.values.subarray(reader.pos, reader.pos + n));
          reader.pos += n;
        }
        reader.close();
        assert.deepEqual(back, values, `block ${block}`);
      }
    }
  });

  test('skipping keeps the escaped ids in step', async () => {
    const rng = new Rng('skip');
    const values = ids(rng, 5000);
    await written('skips', values, false);
    for (const block of [3, 64, 1000]) {
      const reader = new ScratchIdReader(scratchFiles(work, 'skips'), block);
      let at = 0;
      while (at < values.length) {
        const skip = Math.min(rng.int(40), values.length - at);
        reader.skip(skip);
        at += skip;
        if (at === values.length) break;
        reader.available();
        assert.equal(reader.values[reader.pos], values[at], `at ${at}, block ${block}`);
        reader.pos += 1;
        at += 1;
      }
      reader.close();
    }
  });
});
