import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../src/errors.ts';
import { DEFAULTS, type DataConfig } from '../../src/config.ts';
import { buildVocabs, loadDataset, skippedSummary, tokenizersOf } from '../../src/data/dataset.ts';
import { normaliseSource } from '../../src/data/split.ts';
import { SPECIALS, UNK } from '../../src/data/vocab.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const toy = resolve(repoRoot, 'data', 'toy', 'toy.tsv');
const cmnEng = resolve(repoRoot, '..', 'shared', 'data', 'cmn-eng', 'cmn-eng.tsv');

const dir = mkdtempSync(join(tmpdir(), 's2s-dataset-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const toyLines = readFileSync(toy, 'utf8').split('\n').filter((l) => l !== '');
const config = (over: Partial<DataConfig>): DataConfig => ({ ...DEFAULTS.data, data: [toy], validSize: 30, ...over });

describe('the toy corpus', () => {
  test('is a clean two-column English–Chinese TSV of short sentences', () => {
    assert.ok(toyLines.length >= 250 && toyLines.length <= 400, `${toyLines.length} lines`);
    const english = new Set<string>();
    for (const line of toyLines) {
      const [en, zh, ...rest] = line.split('\t');
      assert.equal(rest.length, 0, line);
      assert.match(en!, /^[A-Z][A-Za-z' ,]*[.?!]$/, line);
      assert.match(zh!, /^[\p{scx=Han}，]+[。？！]$/u, line);
      const words = en!.split(' ');
      assert.ok(words.length >= 2 && words.length <= 8, line);
      for (const w of words) english.add(w.toLowerCase().replace(/[.,?!]/g, ''));
    }
    assert.equal(new Set(toyLines).size, toyLines.length, 'duplicate lines');
    assert.ok(english.size <= 130, `${english.size} English words`);
  });
});

describe('loadDataset', () => {
  test('reads, tokenizes and splits the toy corpus', async () => {
    const { train, valid, split, report } = await loadDataset(config({}), { seed: 1 });
    assert.deepEqual(report, { read: toyLines.length, skipped: 0, firstSkip: null, tooLong: 0, train: toyLines.length - 30, valid: 30 });
    assert.equal(train.length, report.train);
    assert.equal(valid.length, 30);
    assert.equal(split.kind, 'holdout');
    const first = [...train, ...valid].find((p) => p.origin === `${toy}:1`)!;
    const [en, zh] = toyLines[0]!.split('\t');
    assert.deepEqual(first.src, en!.toLowerCase().replace(/([.,?!])/g, ' $1').split(' '));
    assert.deepEqual(first.tgt, [...zh!]);
    const trainSources = new Set(train.map((p) => p.src.join(' ')));
    assert.ok(valid.every((p) => !trainSources.has(p.src.join(' '))), 'a validation source is in training');
  });

  test('the same seed gives the same split; a saved split is re-applied', async () => {
    const a = await loadDataset(config({}), { seed: 5 });
    const b = await loadDataset(config({ validSize: 100 }), { seed: 99, split: JSON.parse(JSON.stringify(a.split)) });
    assert.deepEqual(b.valid.map((p) => p.origin), a.valid.map((p) => p.origin));
    assert.deepEqual(b.split, a.split);
    const c = await loadDataset(config({}), { seed: 6 });
    assert.notDeepEqual(c.valid.map((p) => p.origin), a.valid.map((p) => p.origin));
  });

  test('drops pairs longer than maxLen on either side, from both splits', async () => {
    const maxLen = 5;
    const { train, valid, report } = await loadDataset(config({ maxLen }), { seed: 1 });
    const all = await loadDataset(config({ validSize: 0 }), { seed: 1 });
    const expectedLong = all.train.filter((p) => p.src.length > maxLen || p.tgt.length > maxLen).length;
    assert.ok(expectedLong > 0 && expectedLong < toyLines.length);
    assert.equal(report.tooLong, expectedLong);
    assert.equal(report.read, report.tooLong + report.train + report.valid);
    assert.ok([...train, ...valid].every((p) => p.src.length <= maxLen && p.tgt.length <= maxLen));
  });

  test('zh → en reads the same file with the columns swapped and the tokenizers by language', async () => {
    const data = config({ srcLang: 'zh', tgtLang: 'en' });
    assert.deepEqual(tokenizersOf(data), { src: 'char', tgt: 'word' });
    const { train, valid } = await loadDataset(data, { seed: 1 });
    const first = [...train, ...valid].find((p) => p.origin === `${toy}:1`)!;
    const [en, zh] = toyLines[0]!.split('\t');
    assert.deepEqual(first.src, [...zh!]);
    assert.equal(first.tgt.join(' '), en!.toLowerCase().replace(/([.,?!])/g, ' $1'));
  });

  test('lowercase applies to word tokenizers only', async () => {
    const path = join(dir, 'case.tsv');
    writeFileSync(path, 'Tom has an iPhone.\t汤姆有一个iPhone。\nHi.\t你好。\n');
    const lowered = await loadDataset(config({ data: [path], validSize: 0 }), { seed: 1 });
    assert.deepEqual(lowered.train[0]!.src, ['tom', 'has', 'an', 'iphone', '.']);
    assert.ok(lowered.train[0]!.tgt.includes('iPhone'));
    const kept = await loadDataset(config({ data: [path], validSize: 0, lowercase: false }), { seed: 1 });
    assert.deepEqual(kept.train[0]!.src, ['Tom', 'has', 'an', 'iPhone', '.']);
  });

  test('a separate validation file', async () => {
    const validPath = join(dir, 'valid.tsv');
    writeFileSync(validPath, 'I like tea.\t我喜欢茶。\nThis line is much too long for the limit that we set here, sadly.\t太长了。\nbroken\n');
    const { train, valid, split, report } = await loadDataset(config({ valid: validPath, maxLen: 12 }), { seed: 1 });
    assert.deepEqual(split, { kind: 'file', valid: validPath });
    assert.equal(train.length, toyLines.length);
    assert.deepEqual(valid.map((p) => p.src), [['i', 'like', 'tea', '.']]);
    assert.deepEqual(report, { read: toyLines.length + 2, skipped: 1, firstSkip: `${validPath}:3: missing target column`, tooLong: 1, train: toyLines.length, valid: 1 });
  });

  test('malformed rows: summarised, or an error with --strict', async () => {
    const path = join(dir, 'bad.tsv');
    writeFileSync(path, 'a b\tc\nno target\nd\te\n\tno source\nf\tg\n');
    const { report } = await loadDataset(config({ data: [path], validSize: 1 }), { seed: 1 });
    assert.equal(skippedSummary(report), `skipped 2 malformed rows (first: ${path}:2: missing target column)`);
    assert.equal(report.train + report.valid, 3);
    await assert.rejects(
      loadDataset(config({ data: [path], validSize: 1, strict: true }), { seed: 1 }),
      (err: unknown) => err instanceof UserError && err.where === `${path}:2`,
    );
    const clean = await loadDataset(config({}), { seed: 1 });
    assert.equal(skippedSummary(clean.report), null);
  });

  test('a validSize as large as the corpus is a usage error', async () => {
    await assert.rejects(loadDataset(config({ validSize: toyLines.length }), { seed: 1 }), (err: unknown) => err instanceof UserError && err.where === '--valid-size');
  });
});

describe('buildVocabs', () => {
  test('from the training split, with the configured limits', async () => {
    const data = config({ srcMinFreq: 2, tgtMinFreq: 1, tgtMaxVocab: 20 });
    const { train, valid } = await loadDataset(data, { seed: 1 });
    const { src, tgt } = buildVocabs(train, data);
    assert.deepEqual(src.tokens.slice(0, 4), SPECIALS);
    assert.ok(src.counts.slice(4).every((c) => c >= 2));
    assert.ok(src.id("don't") !== UNK);
    assert.equal(tgt.size, 20);
    const trainTokens = new Set(train.flatMap((p) => p.src));
    const validOnly = valid.flatMap((p) => p.src).find((t) => !trainTokens.has(t));
    if (validOnly !== undefined) assert.equal(src.id(validOnly), UNK, 'a token seen only in validation is in the vocabulary');
  });
});

describe('the real Tatoeba corpus', () => {
  const skip = existsSync(cmnEng) ? false : `corpus not found at ${cmnEng}`;
  test('loads with the default configuration and splits without leakage', { skip }, async () => {
    const { train, valid, report } = await loadDataset({ ...DEFAULTS.data, data: [cmnEng] }, { seed: 1 });
    assert.equal(report.skipped, 0);
    assert.equal(report.valid, 500);
    assert.ok(report.train > 19000);
    assert.equal(report.read, report.tooLong + report.train + report.valid);
    const trainSources = new Set(train.map((p) => normaliseSource(p.src.join(' '))));
    assert.ok(valid.every((p) => !trainSources.has(normaliseSource(p.src.join(' ')))));
  });
});
