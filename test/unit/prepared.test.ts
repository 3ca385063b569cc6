import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, type DataConfig } from '../../src/config.ts';
import { planBatches, planByLength } from '../../src/data/batches.ts';
import { buildVocabs, loadDataset } from '../../src/data/dataset.ts';
import {
  DamagedPreparedData,
  ensurePrepared,
  openPrepared,
  prepareDataset,
  readIndex,
  staleReason,
} from '../../src/data/prepared.ts';
import { StreamingHoldout, holdoutSplit } from '../../src/data/split.ts';
import { UserError } from '../../src/errors.ts';
import { Rng } from '../../src/train/rng.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const toy = resolve(repoRoot, 'data', 'toy', 'toy.tsv');
const work = mkdtempSync(join(tmpdir(), 's2s-prepared-'));
after(() => rmSync(work, { recursive: true, force: true }));
const config = (over: Partial<DataConfig> = {}): DataConfig => ({ ...DEFAULTS.data, data: [toy], validSize: 30, maxLen: 12, srcMinFreq: 1, ...over });

/** Prepares `data` and checks it holds exactly what the in-memory path gives. */
async function assertSameAsMemory(data: DataConfig, dir: string): Promise<void> {
  {
    const index = await prepareDataset({ data, seed: 3, dir });
    const set = await openPrepared(dir, index);
    const memory = await loadDataset(data, { seed: 3 });
    const vocabs = buildVocabs(memory.train, data);
    assert.deepEqual(set.srcVocab.toJSON(), vocabs.src.toJSON());
    assert.deepEqual(set.tgtVocab.toJSON(), vocabs.tgt.toJSON());
    assert.deepEqual(set.index.split, memory.split);
    assert.deepEqual(set.index.report, memory.report);
    assert.deepEqual(set.valid, memory.valid);
    assert.equal(set.train.size, memory.train.length);
    memory.train.forEach((pair, i) => {
      assert.deepEqual(Array.from(set.train.src(i)), vocabs.src.encode(pair.src));
      assert.deepEqual(Array.from(set.train.tgt(i)), vocabs.tgt.encode(pair.tgt));
    });
    set.train.close();
  }
}

describe('prepareDataset', () => {
  test('holds exactly what loadDataset + buildVocabs give: vocabularies, split, pairs in order', async () => {
    await assertSameAsMemory(config(), join(work, 'same'));
  });

  test('the same with tens of thousands of distinct tokens, long ones, and characters outside the BMP', async () => {
    const rng = new Rng('many-tokens');
    const extra = ['𠀀', '😀', 'ｘ１２', 'naïve', 'co\u0301te', 'internationalization', 'Don’t', '３．５'];
    const lines: string[] = [];
    for (let i = 0; i < 6000; i++) {
      const words = Array.from({ length: 1 + rng.int(8) }, () => `w${rng.int(40000).toString(36)}${extra[rng.int(extra.length)]}`);
      lines.push(`${words.join(' ')}.\t${words.map((w) => w.toUpperCase()).join('')}。`);
    }
    const corpus = join(work, 'many-tokens.tsv');
    writeFileSync(corpus, lines.join('\n') + '\n');
    await assertSameAsMemory(config({ data: [corpus], maxLen: 40, srcMinFreq: 2, tgtMinFreq: 2 }), join(work, 'many-tokens'));
  });

  test('re-applies a saved split and fixed vocabularies', async () => {
    const first = await ensurePrepared({ data: config(), seed: 3, dir: join(work, 'fixed-a') });
    const data = config({ validSize: 50 });
    const again = await ensurePrepared({
      data,
      seed: 9,
      dir: join(work, 'fixed-b'),
      split: first.index.split,
      vocabs: { src: first.srcVocab, tgt: first.tgtVocab },
    });
    assert.deepEqual(again.index.split, first.index.split);
    assert.deepEqual(again.valid, first.valid);
    assert.deepEqual(again.srcVocab.toJSON(), first.srcVocab.toJSON());
    first.train.close();
    again.train.close();
  });

  test('a validation file: every corpus pair trains', async () => {
    const valid = join(work, 'valid.tsv');
    writeFileSync(valid, 'I like tea.\t我喜欢茶。\nWhere is the cat?\t猫在哪里？\n');
    const set = await ensurePrepared({ data: config({ valid }), seed: 1, dir: join(work, 'vfile') });
    assert.equal(set.valid.length, 2);
    assert.equal(set.index.split.kind, 'file');
    assert.equal(set.train.size, readFileSync(toy, 'utf8').trim().split('\n').length);
    set.train.close();
  });
});

describe('ensurePrepared', () => {
  test('reuses a matching set, and re-prepares when the config or the corpus changes', async () => {
    const corpus = join(work, 'corpus.tsv');
    copyFileSync(toy, corpus);
    const dir = join(work, 'stale');
    const reasons: string[] = [];
    const onPrepare = (r: string) => reasons.push(r);
    (await ensurePrepared({ data: config({ data: [corpus] }), seed: 1, dir, onPrepare })).train.close();
    (await ensurePrepared({ data: config({ data: [corpus] }), seed: 1, dir, onPrepare })).train.close();
    assert.deepEqual(reasons, ['no prepared data']);
    (await ensurePrepared({ data: config({ data: [corpus], maxLen: 8 }), seed: 1, dir, onPrepare })).train.close();
    assert.equal(reasons[1], 'the data configuration changed');
    // Touched but unchanged: still reused.
    utimesSync(corpus, new Date(), new Date(Date.now() + 5000));
    (await ensurePrepared({ data: config({ data: [corpus], maxLen: 8 }), seed: 1, dir, onPrepare })).train.close();
    assert.equal(reasons.length, 2);
    appendFileSync(corpus, 'A new line.\t新的一行。\n');
    const index = readIndex(dir)!;
    assert.match((await staleReason(index, config({ data: [corpus], maxLen: 8 }), 1))!, /corpus\.tsv changed/);
    const set = await ensurePrepared({ data: config({ data: [corpus], maxLen: 8 }), seed: 1, dir, onPrepare });
    assert.match(reasons[2]!, /changed/);
    assert.equal(set.index.report.read, index.report.read + 1);
    set.train.close();
    assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('.stale')), [], 'temporary directories left behind');
  });

  test('a truncated or altered file is named, with no silent re-preparation', async () => {
    const dir = join(work, 'damage');
    (await ensurePrepared({ data: config(), seed: 1, dir })).train.close();
    const bin = join(dir, 'train.src.bin');
    const bytes = readFileSync(bin);
    truncateSync(bin, bytes.length - 2);
    await assert.rejects(ensurePrepared({ data: config(), seed: 1, dir }), (err: unknown) => {
      assert.ok(err instanceof DamagedPreparedData);
      assert.match(err.message, /train\.src\.bin has \d+ bytes, the index says \d+/);
      return true;
    });
    const altered = Buffer.from(bytes);
    altered[0] = altered[0]! ^ 1;
    writeFileSync(bin, altered);
    await assert.rejects(ensurePrepared({ data: config(), seed: 1, dir }), /train\.src\.bin does not match its sha256/);
    writeFileSync(join(dir, 'index.json'), '{"format": "s2s-prepared"');
    await assert.rejects(ensurePrepared({ data: config(), seed: 1, dir }), /index\.json is not valid JSON/);
  });

  test('a disk that fills during prepare leaves the previous set intact and no temporary files', async () => {
    const dir = join(work, 'full');
    const before = await ensurePrepared({ data: config(), seed: 1, dir });
    before.train.close();
    const indexBefore = readFileSync(join(dir, 'index.json'), 'utf8');
    const writeHook = (file: string) => {
      if (file === 'train.tgt.bin') throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    await assert.rejects(prepareDataset({ data: config({ maxLen: 9 }), seed: 1, dir, writeHook }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /disk full while writing the prepared data; nothing was replaced/);
      return true;
    });
    assert.equal(readFileSync(join(dir, 'index.json'), 'utf8'), indexBefore);
    (await openPrepared(dir, readIndex(dir)!)).train.close();
    assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('.full')), []);
  });

  test('never writes over a file or a directory of other files', async () => {
    const file = join(work, 'a-file');
    writeFileSync(file, 'mine');
    await assert.rejects(prepareDataset({ data: config(), seed: 1, dir: file }), /the prepared-data directory is a file/);
    assert.equal(readFileSync(file, 'utf8'), 'mine');
    const other = join(work, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    await assert.rejects(prepareDataset({ data: config(), seed: 1, dir: other }), /holds files that are not a prepared dataset/);
    assert.equal(readFileSync(join(other, 'notes.txt'), 'utf8'), 'mine');
  });

  test('a missing corpus file is one clear error', async () => {
    await assert.rejects(
      ensurePrepared({ data: config({ data: [join(work, 'nope.tsv')] }), seed: 1, dir: join(work, 'nope') }),
      (err: unknown) => err instanceof UserError && /file not found/.test(err.message) && /nope\.tsv/.test(err.where ?? ''),
    );
  });
});

describe('planByLength', () => {
  test('is the in-memory plan, batch for batch, with the same RNG', () => {
    const pairs = Array.from({ length: 300 }, (_, i) => ({
      src: Array.from({ length: 1 + ((i * 7) % 13) }, () => 4),
      tgt: Array.from({ length: 1 + ((i * 5) % 9) }, () => 4),
    }));
    for (const options of [{ batchSize: 16, batchTokens: 0 }, { batchSize: 16, batchTokens: 60 }]) {
      const a = new Rng('x');
      const b = new Rng('x');
      // The reference: shuffle, stable sort by lengths, cut, shuffle the batches.
      const order = a.shuffle(pairs.map((_, i) => i));
      order.sort((x, y) => pairs[x]!.src.length - pairs[y]!.src.length || pairs[x]!.tgt.length - pairs[y]!.tgt.length);
      const reference: number[][] = [];
      let current: number[] = [];
      let longest = 0;
      for (const i of order) {
        const t = pairs[i]!.tgt.length + 1;
        const full = options.batchTokens > 0 ? current.length > 0 && Math.max(longest, t) * (current.length + 1) > options.batchTokens : current.length >= options.batchSize;
        if (full) {
          reference.push(current);
          current = [];
          longest = 0;
        }
        current.push(i);
        longest = Math.max(longest, t);
      }
      reference.push(current);
      a.shuffle(reference);
      const plan = planByLength(pairs.map((p) => p.src.length), pairs.map((p) => p.tgt.length), options, (xs) => void b.shuffle(xs));
      assert.deepEqual(Array.from({ length: plan.length }, (_, k) => plan.batch(k)), reference);
      const c = new Rng('x');
      assert.deepEqual(planBatches(pairs, options, (xs) => c.shuffle(xs)), reference);
    }
  });
});

describe('StreamingHoldout', () => {
  test('chooses what holdoutSplit chooses, keeping only a bounded set of candidates', () => {
    const sources = Array.from({ length: 2000 }, (_, i) => `sentence ${i % 1500}`);
    const whole = holdoutSplit(sources, (s) => s, 4, 100);
    const stream = new StreamingHoldout<string>(4, 100);
    sources.forEach((s, i) => stream.add(i, s, s));
    const { record, valid } = stream.finish();
    assert.deepEqual(record, whole.record);
    assert.deepEqual(valid.map((v) => v.item), whole.split.valid);
  });
});
