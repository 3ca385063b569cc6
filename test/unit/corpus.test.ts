import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { UserError } from '../../src/errors.ts';
import { DEFAULTS, type DataConfig } from '../../src/config.ts';
import {
  type CorpusPair,
  type DelimitedOptions,
  SkipLog,
  corpusColumns,
  delimiterFor,
  formatSkip,
  formatSkipped,
  innerExtension,
  readCorpus,
  readDelimited,
  readParallel,
  eachPiecePair,
  physicalLineChunks,
  tabSeparatedPair,
  type ColumnSpec,
  type Skip,
} from '../../src/data/corpus.ts';

const dir = mkdtempSync(join(tmpdir(), 's2s-corpus-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function collect(pairs: AsyncIterable<CorpusPair>): Promise<CorpusPair[]> {
  const out: CorpusPair[] = [];
  for await (const pair of pairs) out.push(pair);
  return out;
}

const enZh: DelimitedOptions = { columns: { src: 0, tgt: 1 }, delimiter: null };

async function readFile(path: string, opts = enZh, strict = false): Promise<{ pairs: CorpusPair[]; log: SkipLog }> {
  const log = new SkipLog(strict);
  return { pairs: await collect(readDelimited(path, opts, log)), log };
}

/** Rejects with a UserError whose message matches `message` and whose `where` is `where`. */
async function rejectsUserError(promise: Promise<unknown>, message: RegExp, where?: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.match(err.message, message);
    if (where !== undefined) assert.equal(err.where, where);
    return true;
  });
}

describe('choosing columns and delimiters', () => {
  const langs = (srcLang: string, tgtLang: string, srcCol: number | null = null, tgtCol: number | null = null) =>
    corpusColumns({ srcLang, tgtLang, srcCol, tgtCol });

  test('English is column 0 of a Tatoeba export: en→zh reads 0,1 and zh→en the same file swapped', () => {
    assert.deepEqual(langs('en', 'zh'), { src: 0, tgt: 1 });
    assert.deepEqual(langs('zh', 'en'), { src: 1, tgt: 0 });
    assert.deepEqual(langs('cmn', 'en-GB'), { src: 1, tgt: 0 });
    assert.deepEqual(langs('fr', 'de'), { src: 0, tgt: 1 });
  });

  test('configured columns win; the same column twice is a usage error', () => {
    assert.deepEqual(langs('en', 'zh', 2, 5), { src: 2, tgt: 5 });
    assert.deepEqual(langs('en', 'zh', null, 3), { src: 0, tgt: 3 });
    assert.throws(() => langs('en', 'zh', 1, null), (err: unknown) => err instanceof UserError && err.exitCode === 2);
  });

  test('delimiter by the (inner) extension, unless configured', () => {
    assert.equal(delimiterFor('a.tsv', null), '\t');
    assert.equal(delimiterFor('a.csv', null), ',');
    assert.equal(delimiterFor('a.CSV.gz', null), ',');
    assert.equal(delimiterFor('a.tsv.gz', null), '\t');
    assert.equal(delimiterFor('cmn.txt', null), '\t');
    assert.equal(delimiterFor('a.csv', ';'), ';');
    assert.equal(innerExtension('dir.v2/a.tsv.gz'), '.tsv');
  });
});

describe('TSV', () => {
  test('quotes are ordinary characters; extra columns are ignored', async () => {
    const path = write('quotes.tsv', 'He said "hi.\t他说"你好\tCC-BY attribution #1\n"Run!"\t"跑！"\tCC-BY #2\n');
    const { pairs, log } = await readFile(path);
    assert.deepEqual(pairs, [
      { src: 'He said "hi.', tgt: '他说"你好', origin: `${path}:1` },
      { src: '"Run!"', tgt: '"跑！"', origin: `${path}:2` },
    ]);
    assert.equal(log.count, 0);
  });

  test('malformed rows are skipped, counted and the first named by line; blank lines are not malformed', async () => {
    const path = write('malformed.tsv', ['a\t1', 'only English', '', '\t2', '  \t  ', 'b\t ', 'c\t3', ''].join('\n'));
    const { pairs, log } = await readFile(path);
    assert.deepEqual(pairs.map((p) => [p.src, p.tgt, p.origin]), [
      ['a', '1', `${path}:1`],
      ['c', '3', `${path}:7`],
    ]);
    assert.equal(log.count, 3);
    assert.deepEqual(log.first, { where: `${path}:2`, reason: 'missing target column' });
  });

  test('strict: the first malformed row is a UserError naming file:line', async () => {
    const path = write('strict.tsv', 'a\t1\nb\t2\nno target\n');
    await rejectsUserError(readFile(path, enZh, true), /missing target column/, `${path}:3`);
  });

  test('columns swapped (zh → en) and a missing source column', async () => {
    const path = write('swapped.tsv', 'Hi.\t你好。\nBye.\n');
    const { pairs, log } = await readFile(path, { columns: { src: 1, tgt: 0 }, delimiter: null });
    assert.deepEqual(pairs.map((p) => [p.src, p.tgt]), [['你好。', 'Hi.']]);
    assert.deepEqual(log.first, { where: `${path}:2`, reason: 'missing source column' });
  });

  test('Windows line endings and a UTF-8 BOM are dropped', async () => {
    const path = write('crlf.tsv', '\uFEFFHi.\t你好。\r\nBye.\t再见。\r\n\r\nOK.\t好。\n');
    const { pairs } = await readFile(path);
    assert.deepEqual(pairs.map((p) => [p.src, p.tgt, p.origin]), [
      ['Hi.', '你好。', `${path}:1`],
      ['Bye.', '再见。', `${path}:2`],
      ['OK.', '好。', `${path}:4`],
    ]);
  });

  test('a line of invalid UTF-8 is skipped and named; its neighbours are read', async () => {
    const bad = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x09, 0xe5, 0x92, 0x96]); // "caf\xe9\t咖" in Latin-1
    const path = write('latin1.tsv', Buffer.concat([Buffer.from('a\t1\nb\t2\n'), bad, Buffer.from('\nc\t3\n')]));
    const { pairs, log } = await readFile(path);
    assert.deepEqual(pairs.map((p) => p.origin), [`${path}:1`, `${path}:2`, `${path}:4`]);
    assert.equal(log.count, 1);
    assert.equal(formatSkip(log.first!), `${path}:3: invalid UTF-8`);
  });

  test('skips are reported in line order even when UTF-8 and column problems mix', async () => {
    const path = write('order.tsv', Buffer.concat([Buffer.from('x\n'), Buffer.from([0xff, 0x0a]), Buffer.from('y\n')]));
    const log = new SkipLog(true);
    await rejectsUserError(collect(readDelimited(path, enZh, log)), /missing target column/, `${path}:1`);
  });

  test('the last line needs no newline; a configured delimiter overrides the extension', async () => {
    const path = write('pipes.txt', 'a|1|x\nb|2');
    const { pairs } = await readFile(path, { columns: { src: 0, tgt: 1 }, delimiter: '|' });
    assert.deepEqual(pairs.map((p) => [p.src, p.tgt, p.origin]), [['a', '1', `${path}:1`], ['b', '2', `${path}:2`]]);
  });
});

describe('CSV', () => {
  test('quoted fields: commas, doubled quotes, a field across lines (named by its first line)', async () => {
    const path = write('q.csv', 'a,"b, c"\n"He said ""hi""",他说“你好”\n"two\nlines",x\nd,e,extra\n');
    const { pairs, log } = await readFile(path);
    assert.deepEqual(pairs.map((p) => [p.src, p.tgt, p.origin]), [
      ['a', 'b, c', `${path}:1`],
      ['He said "hi"', '他说“你好”', `${path}:2`],
      ['two\nlines', 'x', `${path}:3`],
      ['d', 'e', `${path}:5`],
    ]);
    assert.equal(log.count, 0);
  });

  test('a BOM before a quoted first field does not hide the quote', async () => {
    const path = write('bom.csv', '\uFEFF"Hi, Tom.",你好，汤姆。\r\n"Bye, Tom.",再见，汤姆。\r\n');
    const { pairs } = await readFile(path);
    assert.deepEqual(pairs.map((p) => [p.src, p.tgt, p.origin]), [
      ['Hi, Tom.', '你好，汤姆。', `${path}:1`],
      ['Bye, Tom.', '再见，汤姆。', `${path}:2`],
    ]);
  });

  test('a quote inside an unquoted field is kept; an unclosed quote is a malformed row', async () => {
    const path = write('bad.csv', 'a,1\nb,"un"closed\nonly\nc,3\nd,"never closed\n');
    const { pairs, log } = await readFile(path);
    assert.deepEqual(pairs.map((p) => [p.src, p.tgt, p.origin]), [
      ['a', '1', `${path}:1`],
      ['b', '"un"closed', `${path}:2`],
      ['c', '3', `${path}:4`],
    ]);
    assert.equal(log.count, 2);
    assert.deepEqual(log.first, { where: `${path}:3`, reason: 'missing target column' });
  });
});

describe('gzip', () => {
  test('.tsv.gz and .csv.gz are read transparently', async () => {
    const tsv = write('a.tsv.gz', gzipSync('Hi.\t你好。\nBye.\t再见。\n'));
    const csv = write('a.csv.gz', gzipSync('"Hi, Tom.",你好，汤姆。\n'));
    assert.deepEqual((await readFile(tsv)).pairs.map((p) => [p.src, p.tgt, p.origin]), [
      ['Hi.', '你好。', `${tsv}:1`],
      ['Bye.', '再见。', `${tsv}:2`],
    ]);
    assert.deepEqual((await readFile(csv)).pairs.map((p) => [p.src, p.tgt]), [['Hi, Tom.', '你好，汤姆。']]);
  });

  test('a truncated gzip is a UserError naming the file', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `sentence ${(i * 7919) % 10007}\t句子${i}`).join('\n');
    const whole = gzipSync(lines);
    const path = write('cut.tsv.gz', whole.subarray(0, Math.floor(whole.length / 2)));
    await rejectsUserError(readFile(path), /truncated gzip/, path);
  });

  test('a .gz that is not gzip is a UserError naming the file', async () => {
    const path = write('plain.tsv.gz', 'Hi.\t你好。\n');
    await rejectsUserError(readFile(path), /gzip/, path);
  });
});

describe('files that cannot be read', () => {
  test('a missing file is a UserError naming it', async () => {
    const path = join(dir, 'nope.tsv');
    await rejectsUserError(readFile(path), /not found/, path);
  });

  test('a directory is a UserError naming it', async () => {
    const path = join(dir, 'a-directory.tsv');
    mkdirSync(path);
    await rejectsUserError(readFile(path), /directory/, path);
  });
});

describe('plain parallel files', () => {
  test('reads line-aligned files; CRLF, BOM, blank lines on both sides, empty sides', async () => {
    const src = write('p.en', '\uFEFFHi.\r\nBye.\r\n\r\nThanks.\r\nWhat?\r\n');
    const tgt = write('p.zh', '你好。\n再见。\n\n\n什么？');
    const log = new SkipLog(false);
    const pairs = await collect(readParallel(src, tgt, log));
    assert.deepEqual(pairs.map((p) => [p.src, p.tgt, p.origin]), [
      ['Hi.', '你好。', `${src}:1`],
      ['Bye.', '再见。', `${src}:2`],
      ['What?', '什么？', `${src}:5`],
    ]);
    assert.equal(log.count, 1);
    assert.deepEqual(log.first, { where: `${tgt}:4`, reason: 'empty target' });
  });

  test('invalid UTF-8 on one side skips the line and names that file', async () => {
    const src = write('u.en', 'a\nb\nc\n');
    const tgt = write('u.zh', Buffer.concat([Buffer.from('一\n'), Buffer.from([0xe4, 0xb8]), Buffer.from('\n三\n')]));
    const log = new SkipLog(false);
    const pairs = await collect(readParallel(src, tgt, log));
    assert.deepEqual(pairs.map((p) => p.src), ['a', 'c']);
    assert.equal(formatSkip(log.first!), `${tgt}:2: invalid UTF-8`);
  });

  test('different line counts are an error naming both files and both counts', async () => {
    const src = write('m.en', 'a\nb\nc\nd\n');
    const tgt = write('m.zh', 'A\nB\n');
    await assert.rejects(collect(readParallel(src, tgt, new SkipLog(false))), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.message, `line counts differ: ${src} has 4 lines, ${tgt} has 2`);
      return true;
    });
    await rejectsUserError(collect(readParallel(tgt, src, new SkipLog(false))), new RegExp(`${tgt} has 2 lines, ${src} has 4$`));
  });

  test('gzipped parallel files', async () => {
    const src = write('g.en.gz', gzipSync('Hi.\nBye.\n'));
    const tgt = write('g.zh.gz', gzipSync('你好。\n再见。\n'));
    const pairs = await collect(readParallel(src, tgt, new SkipLog(false)));
    assert.deepEqual(pairs.map((p) => p.tgt), ['你好。', '再见。']);
  });
});

describe('readCorpus', () => {
  const config = (over: Partial<DataConfig>): DataConfig => ({ ...DEFAULTS.data, ...over });

  test('reads every --data file in order with the columns chosen by language', async () => {
    const a = write('c1.tsv', 'Hi.\t你好。\n');
    const b = write('c2.csv', 'Bye.,再见。\n');
    const pairs = await collect(readCorpus(config({ data: [a, b], srcLang: 'zh', tgtLang: 'en' }), new SkipLog(false)));
    assert.deepEqual(pairs.map((p) => [p.src, p.tgt, p.origin]), [
      ['你好。', 'Hi.', `${a}:1`],
      ['再见。', 'Bye.', `${b}:1`],
    ]);
  });

  test('--src/--tgt replace --data', async () => {
    const src = write('r.en', 'Hi.\n');
    const tgt = write('r.zh', '你好。\n');
    const pairs = await collect(readCorpus(config({ src, tgt, data: [join(dir, 'missing.tsv')] }), new SkipLog(false)));
    assert.deepEqual(pairs.map((p) => [p.src, p.tgt]), [['Hi.', '你好。']]);
  });

  test('no data at all is a usage error', async () => {
    await rejectsUserError(collect(readCorpus(config({ data: [] }), new SkipLog(false))), /no training data/, '--data');
  });

  test('a missing corpus is a NOT_FOUND error with no command hint (the CLI adds those)', async () => {
    const path = join(dir, 'cmn-eng', 'cmn-eng.tsv');
    await assert.rejects(collect(readCorpus(config({ data: [path] }), new SkipLog(false))), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.code, 'NOT_FOUND');
      assert.equal(err.hint, undefined);
      return true;
    });
  });

  test('stops reading when the consumer stops', async () => {
    const path = write('long.tsv', Array.from({ length: 20000 }, (_, i) => `s${i}\tt${i}`).join('\n'));
    let seen = 0;
    for await (const pair of readCorpus(config({ data: [path] }), new SkipLog(false))) {
      seen += 1;
      assert.equal(pair.src, 's0');
      break;
    }
    assert.equal(seen, 1);
  });
});

describe('formatSkipped', () => {
  test('the line the CLI prints', () => {
    assert.equal(formatSkipped(3, 'data/x.tsv:17: missing target column'), 'skipped 3 malformed rows (first: data/x.tsv:17: missing target column)');
    assert.equal(formatSkipped(1, 'data/x.tsv:17: empty source'), 'skipped 1 malformed row (data/x.tsv:17: empty source)');
    assert.equal(formatSkipped(0, null), null);
  });
});

describe('eachPiecePair', () => {
  type Seen = { pairs: [string, string, number][]; skips: Skip[] };
  async function viaPiece(text: string, startLine: number, columns: ColumnSpec): Promise<Seen> {
    const seen: Seen = { pairs: [], skips: [] };
    await eachPiecePair(Buffer.from(text), 'c.tsv', startLine, columns, (src, tgt, line) => seen.pairs.push([src, tgt, line]), (skip) => seen.skips.push(skip));
    return seen;
  }
  /** What physicalLineChunks and tabSeparatedPair give for the same lines, one at a time. */
  async function reference(text: string, startLine: number, columns: ColumnSpec): Promise<Seen> {
    const seen: Seen = { pairs: [], skips: [] };
    for await (const lines of physicalLineChunks([Buffer.from(text)], 'c.tsv', startLine)) {
      for (const physical of lines) {
        const result = tabSeparatedPair(physical, columns);
        if (result === null) continue;
        if ('reason' in result) seen.skips.push({ where: `c.tsv:${physical.line}`, reason: result.reason });
        else seen.pairs.push([result.src, result.tgt, physical.line]);
      }
    }
    return seen;
  }
  const awkward = [
    'Hi.\t嗨。',
    'Run.\t你用跑的。\tCC-BY 2.0 (France) Attribution: tatoeba.org #4008918',
    'Crlf.\t回车。\r',
    'Crlf three.\t回车。\tattribution\r',
    '  Padded.  \t 前后有空格。 ',
    'Nbsp.\u00a0\t\u3000全角空格。',
    '\t没有源。',
    'No target.\t',
    'No tab at all',
    '',
    '   \t  ',
    'Inner  spaces\tand\ttabs\tgalore',
    'Trailing tab.\t尾巴。\t',
    'Mid\rcarriage.\t中间回车。',
    '\ufeffBom inside.\t字节序标记。',
  ];
  for (const [name, columns] of [
    ['source first', { src: 0, tgt: 1 }],
    ['target first', { src: 1, tgt: 0 }],
    ['third column', { src: 0, tgt: 2 }],
  ] as const) {
    test(`a piece's pairs, skips and line numbers are those of the line-by-line reader (${name})`, async () => {
      for (const text of [awkward.join('\n'), awkward.join('\n') + '\n', awkward.join('\n') + '\n\n', awkward.slice().reverse().join('\n')]) {
        assert.deepEqual(await viaPiece(text, 40, columns), await reference(text, 40, columns));
      }
    });
  }

  test('a piece without tabs, with invalid UTF-8 or at the start of a file reads the same', async () => {
    const columns = { src: 0, tgt: 1 };
    const noTabs = Array.from({ length: 300 }, (_, i) => `line ${i} without a tab`).join('\n');
    assert.deepEqual(await viaPiece(noTabs, 7, columns), await reference(noTabs, 7, columns));
    const invalid = Buffer.concat([Buffer.from('Good.\t好。\nBad '), Buffer.from([0xff]), Buffer.from('.\t坏。\nGood again.\t又好了。\n')]);
    const seen: Seen = { pairs: [], skips: [] };
    await eachPiecePair(invalid, 'c.tsv', 9, columns, (src, tgt, line) => seen.pairs.push([src, tgt, line]), (skip) => seen.skips.push(skip));
    assert.deepEqual(seen.skips, [{ where: 'c.tsv:11', reason: 'invalid UTF-8' }]);
    assert.deepEqual(seen.pairs.map((p) => p[2]), [10, 12]);
    const start = '\ufeffHi.\t嗨。\nBye.\t再见。\n';
    assert.deepEqual(await viaPiece(start, 0, columns), await reference(start, 0, columns));
    assert.deepEqual((await viaPiece(start, 0, columns)).pairs[0], ['Hi.', '嗨。', 1]);
  });
});
