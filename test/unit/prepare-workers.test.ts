/**
 * prepare's first pass on worker threads (prepare-parallel.ts) makes the same
 * set as on one thread: every file's sha256 in index.json, the report, the
 * split, and the same errors, whatever the number of workers and however the
 * corpus is cut into pieces.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, type DataConfig } from '../../src/config.ts';
import { prepareDataset, type PreparedIndex } from '../../src/data/prepared.ts';
import { UserError } from '../../src/errors.ts';
import { Rng } from '../../src/train/rng.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const toy = resolve(repoRoot, 'data', 'toy', 'toy.tsv');
const work = mkdtempSync(join(tmpdir(), 's2s-prepare-workers-'));
after(() => rmSync(work, { recursive: true, force: true }));

const config = (over: Partial<DataConfig> = {}): DataConfig => ({ ...DEFAULTS.data, data: [toy], validSize: 30, maxLen: 12, srcMinFreq: 1, ...over });

let dirs = 0;
async function prepare(data: DataConfig, workers: number, pieceBytes?: number, split?: PreparedIndex['split']): Promise<PreparedIndex> {
  return prepareDataset({ data, seed: 5, dir: join(work, `set-${dirs++}`), workers, pieceBytes, split });
}

/** What must not depend on the number of workers: every file (by sha256), the report, the split, the token counts. */
function contents(index: PreparedIndex): unknown {
  const { files, report, split, tokens, idBytes, subword } = index;
  return { files, report, split, tokens, idBytes, subword };
}

async function assertSameSet(data: DataConfig, split?: PreparedIndex['split']): Promise<PreparedIndex> {
  const one = await prepare(data, 1, undefined, split);
  for (const [workers, pieceBytes] of [
    [2, undefined],
    [2, 1500],
    [3, 777],
  ] as const) {
    assert.deepEqual(contents(await prepare(data, workers, pieceBytes, split)), contents(one), `${workers} workers, pieces of ${pieceBytes ?? 'default'} bytes`);
  }
  return one;
}

/** A seeded corpus of `n` pairs with many distinct tokens, characters outside the BMP and curly apostrophes. */
function synthetic(n: number, seed: string): string {
  const rng = new Rng(seed);
  const extra = ['𠀀', '😀', 'ｘ１２', 'naïve', 'co\u0301te', 'Don’t', '３．５', 'U.S.', '1,000'];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const words = Array.from({ length: 1 + rng.int(14) }, () => `W${rng.int(3000).toString(36)}${rng.int(4) === 0 ? extra[rng.int(extra.length)] : ''}`);
    lines.push(`${words.join(' ')}.\t${words.map((w) => w.toLowerCase()).join('')}。`);
  }
  return lines.join('\n') + '\n';
}

async function errorOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    assert.ok(err instanceof UserError, `not a UserError: ${(err as Error).stack}`);
    return `${err.message} (${err.where}) ${err.hint ?? ''}`;
  }
  assert.fail('no error');
}

describe('prepare --workers', () => {
  test('the toy corpus: the same set on 1, 2 and 3 workers', async () => {
    await assertSameSet(config());
  });

  test('a synthetic corpus cut into many pieces, with --max-len filtering, a holdout and truecasing', async () => {
    const corpus = join(work, 'synthetic.tsv');
    writeFileSync(corpus, synthetic(4000, 'workers'));
    const index = await assertSameSet(config({ data: [corpus], maxLen: 10, validSize: 200, srcMinFreq: 2, tgtMinFreq: 2 }));
    assert.ok(index.report.tooLong > 0 && index.report.valid > 0, JSON.stringify(index.report));
  });

  test('a re-applied holdout split, and BPE on both sides', async () => {
    const corpus = join(work, 'bpe.tsv');
    writeFileSync(corpus, synthetic(1500, 'bpe'));
    const data = config({ data: [corpus], maxLen: 20, validSize: 50 });
    const first = await prepare(data, 1);
    await assertSameSet(config({ data: [corpus], maxLen: 20, validSize: 80 }), first.split);
    await assertSameSet(config({ data: [corpus], maxLen: 20, srcTokenizer: 'bpe', tgtTokenizer: 'bpe', srcVocabSize: 300, tgtVocabSize: 300 }));
  });

  test('malformed lines are skipped and reported by file:line as on one thread: a BOM, CRLF, missing columns, invalid UTF-8, a line over 1 MiB', async () => {
    const corpus = join(work, 'malformed.tsv');
    const good = synthetic(600, 'malformed').split('\n').slice(0, -1);
    const lines: (string | Buffer)[] = good.map((l) => l);
    lines[0] = `\uFEFF${good[0]}`;
    lines[3] = 'no tab here';
    lines[10] = `${good[10]}\r`;
    lines[250] = Buffer.concat([Buffer.from('caf'), Buffer.from([0xc3, 0x28]), Buffer.from('\tx')]);
    lines[300] = `${'long '.repeat(300_000)}\tlong`;
    lines[400] = '\t';
    lines[401] = 'only source\t';
    writeFileSync(corpus, Buffer.concat(lines.map((l) => Buffer.concat([typeof l === 'string' ? Buffer.from(l) : l, Buffer.from('\n')]))));
    const index = await assertSameSet(config({ data: [corpus], maxLen: 30 }));
    assert.equal(index.report.skipped, 4); // the line of a tab alone is blank, not malformed
    assert.equal(index.report.firstSkip, `${corpus}:4: missing target column`);
    const strict = (workers: number, pieceBytes?: number): Promise<string> => errorOf(prepare(config({ data: [corpus], maxLen: 30, strict: true }), workers, pieceBytes));
    assert.equal(await strict(2, 999), await strict(1));
  });

  test('a binary file is the same one-line error, naming its line, and the workers are stopped', async () => {
    const corpus = join(work, 'binary.tsv');
    writeFileSync(corpus, Buffer.concat([Buffer.from(synthetic(300, 'binary')), Buffer.from([0x61, 0x00, 0x62, 0x0a])]));
    const one = await errorOf(prepare(config({ data: [corpus] }), 1));
    assert.match(one, /binary file/);
    assert.equal(await errorOf(prepare(config({ data: [corpus] }), 2, 1000)), one);
  });
});
