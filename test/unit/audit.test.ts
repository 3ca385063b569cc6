import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULTS, type DataConfig } from '../../src/config.ts';
import { Hash64, HashSet64, NearKey, auditCorpus, nearKey, writeClean, wrongScript } from '../../src/data/audit.ts';
import { UserError } from '../../src/errors.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-audit-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A small corpus with one planted instance of every problem; the line each sits on is in the comment. */
const LINES = [
  'I like tea.\t我喜欢茶。', // 1
  'Where is the cat?\t猫在哪里？', // 2
  'I like tea.\t我喜欢茶。', // 3 exact duplicate of 1
  'i like TEA!\t我喜欢茶。', // 4 near duplicate of 1
  'Hello.\tHello.', // 5 source = target (and wrong script on the zh side)
  '   \t你好。', // 6 empty source
  'Good morning.\t早上好。', // 7
  'He runs every single day of the week without fail.\t跑。', // 8 length-ratio outlier
  '我很好。\t我很好。', // 9 copy; wrong script on the en side
  'Bad\u0007bell.\t坏的。', // 10 control character
  'only one column', // 11 missing target
  'One two three four five six seven eight nine ten eleven.\t一二三四五六七八九十十一。', // 12 too long at max-len 12
  'We are here.\t我们在这里。', // 13
  'They left.\t他们走了。', // 14
  'She reads.\t她在读书。', // 15
  'You know.\t你知道。', // 16
  'It is cold.\t天冷。', // 17
  'Come here.\t过来。', // 18
  'Be quiet.\t安静。', // 19
  'Thank you.\t谢谢你。', // 20
];

const corpus = join(work, 'crafted.tsv');
writeFileSync(corpus, LINES.join('\n') + '\n');
const config = (over: Partial<DataConfig> = {}): DataConfig => ({ ...DEFAULTS.data, data: [corpus], maxLen: 12, srcMinFreq: 2, ...over });

describe('auditCorpus', () => {
  test('finds every planted problem, at its line', async () => {
    const report = await auditCorpus(config(), { examples: 5 });
    const where = (id: string) => report.findings.find((f) => f.id === id)!.examples.map((e) => Number(e.split(':').at(-1)));
    assert.equal(report.pairs, 18);
    assert.deepEqual(where('malformed'), [11]);
    assert.deepEqual(where('empty'), [6]);
    assert.deepEqual(where('exact-duplicate'), [3]);
    assert.deepEqual(where('near-duplicate'), [4]);
    assert.deepEqual(where('copy'), [5, 9]);
    assert.deepEqual(where('wrong-script-tgt'), [5]);
    assert.deepEqual(where('wrong-script-src'), [9]);
    assert.deepEqual(where('control-chars'), [10]);
    assert.deepEqual(where('too-long'), [12]);
    assert.ok(where('length-ratio').includes(8), `length-ratio outliers: ${where('length-ratio').join(',')}`);
    assert.ok(!where('length-ratio').includes(1) && !where('length-ratio').includes(13));
    assert.ok(report.findings.every((f) => f.examples[0] === undefined || f.examples[0].startsWith(`${corpus}:`)));
    const src = report.vocabulary.src;
    assert.equal(src.minFreq, 2);
    assert.ok(src.kept < src.types && src.coverage > 0 && src.coverage < 1);
    assert.equal(report.flagged, new Set([3, 4, 5, 6, 8, 9, 10, 11, 12, ...where('length-ratio')]).size);
  });

  test('names the right file past the 256th', async () => {
    const dir = join(work, 'many');
    mkdirSync(dir);
    const files: string[] = [];
    for (let i = 0; i < 300; i++) {
      const file = join(dir, `part-${String(i).padStart(3, '0')}.tsv`);
      // Each file a few ordinary pairs of its own; the last file ends with one length-ratio outlier.
      const lines = LINES.slice(12, 20).map((l) => l.replace('\t', ` ${i}\t`));
      if (i === 299) lines.push(LINES[7]!);
      writeFileSync(file, lines.join('\n') + '\n');
      files.push(file);
    }
    const report = await auditCorpus(config({ data: files }), { examples: 5 });
    const outliers = report.findings.find((f) => f.id === 'length-ratio')!.examples;
    assert.deepEqual(outliers, [`${files[299]}:9`]);
  });

  test('on worker threads: the same report and flagged lines as on one thread, over pieces of a few lines and two files', async () => {
    const second = join(work, 'second.tsv');
    // Problems again in a second file, a blank line, invalid UTF-8 and a line over 1 MiB between pieces.
    const bytes = Buffer.concat([
      Buffer.from(`${LINES.slice(0, 10).join('\n')}\n\n`),
      Buffer.from([0x48, 0xff, 0x09, 0xe4, 0xbd, 0xa0, 0x0a]),
      Buffer.from(`x\t${'y'.repeat(1 << 20)}\n`),
      Buffer.from(`${LINES.join('\n')}\n`),
    ]);
    writeFileSync(second, bytes);
    const data = config({ data: [corpus, second] });
    const one = await auditCorpus(data, { examples: 100 });
    const many = await auditCorpus(data, { examples: 100, workers: 3, parallelMinBytes: 0, pieceBytes: 64 });
    const { flaggedLines: oneLines, ...oneReport } = one;
    const { flaggedLines: manyLines, ...manyReport } = many;
    assert.deepEqual(manyReport, oneReport);
    assert.equal(oneReport.pairs, 18 + 9 + 18);
    const malformed = oneReport.findings.find((f) => f.id === 'malformed')!.examples;
    assert.deepEqual(malformed, [`${corpus}:11`, `${second}:12`, `${second}:13`, `${second}:24`]);
    for (const file of [corpus, second]) {
      for (let line = 1; line <= 40; line++) assert.equal(manyLines.get(file)?.has(line), oneLines.get(file)?.has(line), `${file}:${line}`);
    }
  });

  test('on worker threads, a binary file is the same one-line UserError as on one thread', async () => {
    const binary = join(work, 'binary.tsv');
    writeFileSync(binary, Buffer.concat([Buffer.from(`${LINES.join('\n')}\n`), Buffer.from([0x41, 0x00, 0x09, 0x42, 0x0a])]));
    const data = config({ data: [binary] });
    const one = await auditCorpus(data).then(() => null, (err: unknown) => err);
    const many = await auditCorpus(data, { workers: 2, parallelMinBytes: 0, pieceBytes: 64 }).then(() => null, (err: unknown) => err);
    assert.ok(one instanceof UserError && many instanceof UserError, `${String(one)} / ${String(many)}`);
    assert.equal(many.message, one.message);
    assert.equal(many.where, one.where);
    assert.match(many.message, /binary file/);
  });

  test('examples are capped, counts are not', async () => {
    const big = join(work, 'dups.tsv');
    writeFileSync(big, 'Hi.\t嗨。\n'.repeat(50));
    const report = await auditCorpus(config({ data: [big] }), { examples: 2 });
    const dup = report.findings.find((f) => f.id === 'exact-duplicate')!;
    assert.equal(dup.count, 49);
    assert.deepEqual(dup.examples, [`${big}:2`, `${big}:3`]);
  });

  test('--write-clean keeps the clean lines as written and refuses to overwrite the corpus', async () => {
    const { flaggedLines, ...report } = await auditCorpus(config());
    const out = join(work, 'clean.tsv');
    const written = await writeClean([corpus], flaggedLines, out);
    const kept = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(written, kept.length);
    assert.equal(kept.length, LINES.length - report.flagged);
    assert.ok(kept.includes(LINES[0]!) && kept.includes(LINES[1]!));
    assert.ok(!kept.includes(LINES[4]!) && !kept.includes(LINES[9]!));
    const again = await auditCorpus(config({ data: [out] }));
    assert.equal(again.flagged, 0);
    await assert.rejects(writeClean([corpus], flaggedLines, corpus), UserError);
    assert.equal(readFileSync(corpus, 'utf8'), LINES.join('\n') + '\n');
  });
});

describe('the checks', () => {
  test('near keys ignore case, punctuation, spacing and digits', () => {
    assert.equal(nearKey('I have 3 cats!'), nearKey('i have 5  cats.'));
    assert.notEqual(nearKey('I have cats.'), nearKey('I had cats.'));
  });

  test('wrong script by language', () => {
    assert.equal(wrongScript('Hello.', 'zh'), true);
    assert.equal(wrongScript('你好 iPhone', 'zh'), false);
    assert.equal(wrongScript('你好吗', 'en'), true);
    assert.equal(wrongScript('Beijing 北京', 'en'), false);
  });

  test('NearKey (a code unit at a time) agrees with nearKey (the regular expressions) on every BMP code unit and on mixed text', () => {
    const key = new NearKey();
    for (let u = 0; u < 0x10000; u++) {
      const c = String.fromCharCode(u);
      assert.equal(key.of(c).toString(), nearKey(c), `U+${u.toString(16)}`);
    }
    // Neighbours that change each other under NFKC or lowercasing: combining marks, kana voicing,
    // final sigma, dotted I, full-width forms, astral letters, a lone surrogate.
    const pieces = ['a', 'E', '\u0301', 'か', '\u3099', '\u309b', 'Σ', 'ΟΔΟΣ', 'İ', 'Ａ', '１２', '，', '。', ' ', '\t', '3.5', '𐐀', '\ud800', 'ﬁ', '①', 'ｶ', 'ﾞ', '中文', "don't", '—', '\u00a8', 'ǅ'];
    let seed = 7;
    const next = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let i = 0; i < 5000; i++) {
      let text = '';
      for (let k = 1 + next(6); k > 0; k--) text += pieces[next(pieces.length)];
      assert.equal(key.of(text).toString(), nearKey(text), JSON.stringify(text));
    }
  });

  test('Hash64: the same code units hash alike however they are given; 300,000 distinct texts, no collision', () => {
    const units = new Uint16Array([...'Tom\tx'].map((c) => c.charCodeAt(0)));
    const a = new Hash64().reset().text('Tom').text('\t').text('x').finish();
    const b = new Hash64().reset().units(units, units.length).finish();
    assert.deepEqual([a.hi, a.lo], [b.hi, b.lo]);
    const set = new HashSet64();
    const hash = new Hash64();
    for (let i = 0; i < 100_000; i++) {
      for (const text of [`pair ${i}`, `${i}`, `pair ${i}\t对 ${i}`]) assert.equal(set.add(hash.reset().text(text).finish().hi, hash.lo), true, text);
    }
  });

  test('HashSet64 grows and finds every key', () => {
    const set = new HashSet64(4);
    for (let i = 0; i < 5000; i++) assert.equal(set.add(i * 7919, i), true);
    for (let i = 0; i < 5000; i++) assert.equal(set.add(i * 7919, i), false);
    assert.equal(set.size, 5000);
  });
});
