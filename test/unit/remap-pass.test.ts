/**
 * Pass 2 of prepare (remap-pass.ts) works on blocks; whatever the block size,
 * it writes what a loop mapping one id at a time writes: checked against such
 * a loop on random pass-1 files (units of one id, of several and of none,
 * validation pairs first, last and in runs), and through prepareDataset on
 * real toy and synthetic corpora with tiny blocks. A disk that fills in the
 * middle of pass 2 leaves the previous set.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, type DataConfig } from '../../src/config.ts';
import { openPrepared, prepareDataset, readIndex, type PreparedIndex } from '../../src/data/prepared.ts';
import { ScratchIdWriter, scratchFiles, type ScratchFiles } from '../../src/data/scratch-ids.ts';
import { remapPass, type BulkWriter, type Remap } from '../../src/data/remap-pass.ts';
import { UserError } from '../../src/errors.ts';
import { Rng } from '../../src/train/rng.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const toy = resolve(repoRoot, 'data', 'toy', 'toy.tsv');
const work = mkdtempSync(join(tmpdir(), 's2s-remap-pass-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Collects what is written. */
class Sink implements BulkWriter {
  readonly values: number[] = [];
  constructor(readonly width: 2 | 4) {}
  async pushAll(values: Uint16Array | Uint32Array): Promise<void> {
    assert.equal(values.BYTES_PER_ELEMENT, this.width);
    for (const v of values) this.values.push(v);
  }
}

/** A pass-1 side: each pair's provisional ids. */
type Side = number[][];

/** What pass 2 writes for a side, one id at a time. */
function reference(pairs: Side, valid: ReadonlySet<number>, remap: Remap): { ids: number[]; lens: number[]; tokens: number } {
  const ids: number[] = [];
  const lens: number[] = [];
  pairs.forEach((units, index) => {
    if (valid.has(index)) return;
    let length = 0;
    for (const unit of units) for (let k = remap.start[unit]!; k < remap.start[unit + 1]!; k++, length++) ids.push(remap.ids[k]!);
    lens.push(length);
  });
  return { ids, lens, tokens: ids.length };
}

function randomRemap(rng: Rng, units: number, maxPieces: number, vocab: number): Remap {
  const lists = Array.from({ length: units }, () => Array.from({ length: maxPieces === 1 ? 1 : rng.int(maxPieces + 1) }, () => rng.int(vocab)));
  const start = new Uint32Array(units + 1);
  lists.forEach((list, i) => (start[i + 1] = start[i]! + list.length));
  return { start, ids: Uint32Array.from(lists.flat()) };
}

let files = 0;
async function runPass(src: Side, tgt: Side, remaps: { src: Remap; tgt: Remap }, valid: Set<number>, widths: { src: 2 | 4; tgt: 2 | 4 }, blockIds: number) {
  const write = async (side: Side): Promise<{ input: ScratchFiles; lens: Uint16Array }> => {
    const name = `pass1-${files++}`;
    const writer = await ScratchIdWriter.create(work, name, undefined);
    writer.pushArray(Uint32Array.from(side.flat()));
    await writer.close();
    return { input: scratchFiles(work, name), lens: Uint16Array.from(side.map((units) => units.length)) };
  };
  const sinks = { src: new Sink(widths.src), srcLen: new Sink(2), tgt: new Sink(widths.tgt), tgtLen: new Sink(2) };
  const tokens = await remapPass(
    {
      src: { ...(await write(src)), remap: remaps.src, ids: sinks.src, lengths: sinks.srcLen },
      tgt: { ...(await write(tgt)), remap: remaps.tgt, ids: sinks.tgt, lengths: sinks.tgtLen },
    },
    { kept: src.length, validIndices: valid, blockIds, where: 'corpus.tsv' },
  );
  return { tokens, sinks };
}

describe('remapPass', () => {
  test('writes what a one-id-at-a-time loop writes, for any block size and any validation pairs', async () => {
    const rng = new Rng('remap-pass');
    const units = 60;
    const pairs = 45;
    const side = (maxLen: number): Side => Array.from({ length: pairs }, () => Array.from({ length: rng.int(maxLen + 1) }, () => rng.int(units)));
    const validSets = [
      new Set<number>(),
      new Set([0]),
      new Set([pairs - 1]),
      new Set([0, 1, 2, 20, 21, pairs - 2, pairs - 1]),
      new Set(Array.from({ length: pairs }, (_, i) => i).filter(() => rng.int(3) === 0)),
      new Set(Array.from({ length: pairs - 1 }, (_, i) => i + 1)),
    ];
    let cases = 0;
    for (const [srcPieces, tgtPieces] of [[1, 1], [4, 1], [1, 3], [5, 6]] as const) {
      for (const widths of [{ src: 2, tgt: 4 }, { src: 4, tgt: 2 }] as const) {
        const src = side(7);
        const tgt = side(9);
        const remaps = { src: randomRemap(rng, units, srcPieces, 70000), tgt: randomRemap(rng, units, tgtPieces, 300) };
        const narrow = (r: Remap, width: 2 | 4): Remap => (width === 2 ? { start: r.start, ids: r.ids.map((id) => id & 0xffff) } : r);
        remaps.src = narrow(remaps.src, widths.src);
        remaps.tgt = narrow(remaps.tgt, widths.tgt);
        for (const valid of validSets) {
          const expected = { src: reference(src, valid, remaps.src), tgt: reference(tgt, valid, remaps.tgt) };
          for (const blockIds of [1, 2, 3, 7, 64, 1 << 16]) {
            const { tokens, sinks } = await runPass(src, tgt, remaps, valid, widths, blockIds);
            const what = `pieces ${srcPieces}/${tgtPieces}, valid ${[...valid].join(',')}, blocks of ${blockIds}`;
            assert.deepEqual(sinks.src.values, expected.src.ids, what);
            assert.deepEqual(sinks.srcLen.values, expected.src.lens, what);
            assert.deepEqual(sinks.tgt.values, expected.tgt.ids, what);
            assert.deepEqual(sinks.tgtLen.values, expected.tgt.lens, what);
            assert.deepEqual(tokens, { src: expected.src.tokens, tgt: expected.tgt.tokens }, what);
            cases++;
          }
        }
      }
    }
    assert.equal(cases, 4 * 2 * validSets.length * 6);
  });

  test('a training pair of over 65,535 subword pieces is one clear error', async () => {
    const remap: Remap = { start: Uint32Array.from([0, 30000]), ids: new Uint32Array(30000).fill(7) };
    const one: Remap = { start: Uint32Array.from([0, 1]), ids: Uint32Array.from([5]) };
    for (const blockIds of [3, 1 << 16]) {
      await assert.rejects(runPass([[0], [0, 0, 0]], [[0], [0]], { src: remap, tgt: one }, new Set(), { src: 2, tgt: 2 }, blockIds), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.equal(err.message, 'a training pair has over 65535 subword pieces; lower --max-len');
        assert.equal(err.where, 'corpus.tsv');
        return true;
      });
    }
  });
});

const config = (over: Partial<DataConfig> = {}): DataConfig => ({ ...DEFAULTS.data, data: [toy], validSize: 30, maxLen: 12, srcMinFreq: 1, ...over });

/** A seeded corpus of `n` pairs of 1 to `maxWords` words: English-like words, a Chinese-like target. */
function synthetic(n: number, seed: string, maxWords = 10): string {
  const rng = new Rng(seed);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const words = Array.from({ length: 1 + rng.int(maxWords) }, () => `w${rng.int(2000).toString(36)}`);
    lines.push(`${words.join(' ')}.\t${words.map((w) => w.toUpperCase()).join('')}。`);
  }
  return lines.join('\n') + '\n';
}

/** What the block size must not change: every file (by sha256), the report, the token counts. */
function contents(index: PreparedIndex): unknown {
  const { files, report, split, tokens, idBytes } = index;
  return { files, report, split, tokens, idBytes };
}

describe('prepareDataset pass 2 in blocks', () => {
  test('tiny blocks make the same set as the default on the toy and a synthetic corpus, word, char and BPE sides', async () => {
    const corpus = join(work, 'synthetic.tsv');
    writeFileSync(corpus, synthetic(1200, 'blocks'));
    const configs = [
      config(),
      config({ data: [corpus], maxLen: 8, validSize: 300 }),
      config({ data: [corpus], maxLen: 10, validSize: 100, srcTokenizer: 'bpe', srcVocabSize: 400 }),
      config({ data: [corpus], maxLen: 10, validSize: 100, srcTokenizer: 'bpe', tgtTokenizer: 'bpe', srcVocabSize: 300, tgtVocabSize: 500 }),
    ];
    let dirs = 0;
    for (const data of configs) {
      const whole = await prepareDataset({ data, seed: 4, dir: join(work, `set-${dirs++}`) });
      assert.ok(whole.report.valid > 0 && whole.tokens.src > 0);
      for (const blockIds of [1, 5, 33]) {
        const dir = join(work, `set-${dirs++}`);
        const index = await prepareDataset({ data, seed: 4, dir, blockIds });
        assert.deepEqual(contents(index), contents(whole), `${JSON.stringify(data.srcTokenizer)} blocks of ${blockIds}`);
        (await openPrepared(dir, index)).train.close();
      }
    }
  });

  test('a disk that fills in the middle of pass 2 leaves the previous set intact and no temporary files', async () => {
    // Over 1 MiB of source ids, so that train.src.bin is written before it is closed.
    const corpus = join(work, 'big.tsv');
    writeFileSync(corpus, synthetic(36_000, 'big', 30));
    const data = config({ data: [corpus], maxLen: 40, validSize: 500 });
    const dir = join(work, 'full');
    const before = await prepareDataset({ data: config(), seed: 1, dir });
    const indexBefore = readFileSync(join(dir, 'index.json'), 'utf8');
    const writes: number[] = [];
    const writeHook = (file: string, bytes: number) => {
      if (file !== 'train.src.bin') return;
      writes.push(bytes);
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    await assert.rejects(prepareDataset({ data, seed: 1, dir, writeHook, blockIds: 1000 }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /disk full while writing the prepared data; nothing was replaced/);
      return true;
    });
    assert.deepEqual(writes, [1 << 20], 'the disk filled on a full buffer of train.src.bin, before it was closed');
    assert.equal(readFileSync(join(dir, 'index.json'), 'utf8'), indexBefore);
    assert.deepEqual(readIndex(dir), before);
    (await openPrepared(dir, before)).train.close();
    assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('.full')), []);
  });
});
