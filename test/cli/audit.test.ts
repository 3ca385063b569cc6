/**
 * `s2s audit` through the real bin/s2s: the report, --json, --write-clean and its refusals.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runS2S, stderrLines } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 's2s-audit-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const corpus = join(tmp, 'c.tsv');
writeFileSync(corpus, ['I like tea.\t我喜欢茶。', 'I like tea.\t我喜欢茶。', 'Hello.\tHello.', 'Good night.\t晚安。', 'no tab here'].join('\n') + '\n');

describe('s2s audit', () => {
  test('prints a report with counts and file:line examples', async () => {
    const r = await runS2S(['audit', corpus]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${corpus}: 4 pairs$`, 'm'));
    assert.match(r.stdout, new RegExp(`exact duplicate pairs +1 +25\\.0%  e\\.g\\. ${corpus}:2$`, 'm'));
    assert.match(r.stdout, new RegExp(`malformed rows.* +1 .*e\\.g\\. ${corpus}:5$`, 'm'));
    assert.match(r.stdout, /^src vocabulary \(en, word\): /m);
  });

  test('--json is one object with every check', async () => {
    const r = await runS2S(['audit', corpus, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { pairs: number; findings: { id: string; count: number; examples: string[] }[] };
    assert.equal(report.pairs, 4);
    const ids = report.findings.map((f) => f.id);
    for (const id of ['malformed', 'empty', 'exact-duplicate', 'near-duplicate', 'copy', 'length-ratio', 'wrong-script-src', 'wrong-script-tgt', 'control-chars', 'too-long']) {
      assert.ok(ids.includes(id), id);
    }
    assert.deepEqual(report.findings.find((f) => f.id === 'copy')!.examples, [`${corpus}:3`]);
  });

  test('--workers 2 on an 18 MB corpus (read on worker threads) gives the report --workers 1 gives; --workers 0 is a usage error', async () => {
    const big = join(tmp, 'big.tsv');
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const k = i % 70_000; // pairs 70,000 on repeat earlier ones
      lines.push(`${'Tom reads a book '.repeat(2 + (k % 9))}${k}.\t${'汤姆在看书'.repeat(1 + (k % 7))}${k}。`);
    }
    lines[500] = 'only one column';
    writeFileSync(big, lines.join('\n') + '\n');
    const one = await runS2S(['audit', big, '--json', '--examples', '50', '--workers', '1']);
    const two = await runS2S(['audit', big, '--json', '--examples', '50', '--workers', '2']);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(two.code, 0, two.stderr);
    assert.equal(two.stdout, one.stdout);
    const report = JSON.parse(one.stdout) as { pairs: number; findings: { id: string; count: number }[] };
    assert.equal(report.pairs, 99_999);
    assert.equal(report.findings.find((f) => f.id === 'exact-duplicate')!.count, 30_000 - 1); // line 501 was replaced
    const zero = await runS2S(['audit', big, '--workers', '0']);
    assert.equal(zero.code, 2);
    assert.match(stderrLines(zero)[0]!, /--workers must be a whole number/);
  });

  test('--write-clean writes the kept lines and lists what it dropped', async () => {
    const out = join(tmp, 'clean.tsv');
    const r = await runS2S(['audit', corpus, '--write-clean', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(out, 'utf8'), 'I like tea.\t我喜欢茶。\nGood night.\t晚安。\n');
    assert.match(stderrLines(r).at(-1)!, /^wrote .*clean\.tsv: 2 pairs kept, 3 dropped \(1 malformed, 1 exact-duplicate, 1 copy, 1 wrong-script-tgt; a pair can have several reasons\)$/);
  });

  test('--write-clean never writes over the corpus, and needs an existing directory', async () => {
    const before = readFileSync(corpus, 'utf8');
    const same = await runS2S(['audit', corpus, '--write-clean', corpus]);
    assert.equal(same.code, 2);
    assert.match(stderrLines(same)[0]!, /^s2s: error: --write-clean would overwrite the corpus itself/);
    assert.equal(readFileSync(corpus, 'utf8'), before);
    const nodir = await runS2S(['audit', corpus, '--write-clean', join(tmp, 'no', 'such', 'x.tsv')]);
    assert.equal(nodir.code, 2);
    assert.match(stderrLines(nodir)[0]!, /^s2s: error: no such directory: /);
    assert.equal(existsSync(join(tmp, 'no')), false);
  });

  test('a missing corpus is one line', async () => {
    const r = await runS2S(['audit', join(tmp, 'missing.tsv')]);
    assert.equal(r.code, 1);
    assert.deepEqual(stderrLines(r), [`s2s: error: file not found (${join(tmp, 'missing.tsv')})`]);
  });
});
