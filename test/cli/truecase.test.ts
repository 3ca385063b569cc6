/**
 * Cased English output from a model trained on lowercased English: a tiny
 * zh→en run on the toy corpus (decoded on cpu), its truecasing table in the target
 * vocabulary, cased `translate` output, and `eval` scoring cased hypotheses
 * against cased references (case-sensitive, as sacreBLEU by default).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runS2S, TRAIN_FIXTURE } from '../helpers/cli.ts';

const cwd = mkdtempSync(join(tmpdir(), 's2s-truecase-'));
after(() => rmSync(cwd, { recursive: true, force: true }));
const s2s = (...args: string[]) => runS2S(['--backend', 'cpu', '-q', ...args], { cwd, timeoutMs: 900_000 });
const run = join(cwd, 'zh-en');
/** The BLEU score of eval's sacreBLEU-style line (`BLEU|nrefs:1|… = 26.62 …`). */
function bleuOf(stdout: string): number {
  const score = Number(/^BLEU\S* = ([\d.]+)/m.exec(stdout)?.[1]);
  assert.ok(Number.isFinite(score), `a BLEU line in: ${stdout}`);
  return score;
}

describe('truecased English output (tiny zh→en run)', () => {
  before(async () => {
    // The languages choose the direction: the toy corpus's English column becomes the target.
    const r = await runS2S([...TRAIN_FIXTURE, '-q', 'train', '--config', 'tiny', '--src-lang', 'zh', '--tgt-lang', 'en', '--epochs', '8', '--out', run], {
      cwd,
      timeoutMs: 900_000,
    });
    assert.equal(r.code, 0, r.stderr);
  });

  test('the target vocabulary carries the truecasing table learned from the training targets', () => {
    const vocab = JSON.parse(readFileSync(join(run, 'last', 'tgt.vocab.json'), 'utf8')) as { tokens: string[]; cased?: Record<string, string> };
    assert.ok(vocab.tokens.includes('tom') && !vocab.tokens.includes('Tom'), 'trained on lowercased English');
    assert.equal(vocab.cased?.tom, 'Tom');
    assert.equal(vocab.cased?.i, 'I');
    assert.equal(vocab.cased?.the, undefined, 'a word written lowercase inside sentences has no entry');
  });

  test('translate prints cased English; --json keeps the model\'s lowercase tokens', async () => {
    const r = await s2s('translate', '--checkpoint', run, '汤姆喜欢苹果。', '我很饿。', '她不喜欢花。');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    for (const line of lines) {
      assert.match(line, /^\p{Lu}/u, `a capital first letter: ${line}`);
      assert.doesNotMatch(line, /\b(tom|i|mary)\b/, `names and I are capitalised: ${line}`);
    }
    const json = await s2s('translate', '--checkpoint', run, '--json', '汤姆喜欢苹果。');
    const t = JSON.parse(json.stdout) as { translation: string; tokens: string[] };
    assert.deepEqual(t.tokens, t.tokens.map((w) => w.toLowerCase()));
    assert.match(t.translation, /^\p{Lu}/u);
  });

  test('eval scores cased hypotheses against cased references', async () => {
    const r = await s2s('eval', '--checkpoint', run, '--split', 'valid', '--output', 'hyp.en');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /case:mixed/);
    const split = await s2s('data', 'split', '--checkpoint', run, '--out', 'valid.tsv');
    assert.equal(split.code, 0, split.stderr);
    const references = readFileSync(join(cwd, 'valid.tsv'), 'utf8').trimEnd().split('\n').map((row) => row.split('\t')[0]!);
    writeFileSync(join(cwd, 'ref.en'), references.map((l) => `${l}\n`).join(''));
    const hypotheses = readFileSync(join(cwd, 'hyp.en'), 'utf8').trimEnd().split('\n');
    assert.equal(hypotheses.length, references.length);
    assert.ok(hypotheses.every((h) => h === '' || /^\p{Lu}/u.test(h)), 'hypotheses are cased');
    // The same score from the files: the references eval used are the corpus's, cased.
    const again = await s2s('eval', '-i', 'hyp.en', '-r', 'ref.en', '--tokenize', '13a');
    assert.equal(bleuOf(again.stdout), bleuOf(r.stdout));
    // What lowercase output scored against the same cased references: lower.
    writeFileSync(join(cwd, 'lower.en'), hypotheses.map((h) => `${h.toLowerCase()}\n`).join(''));
    const lower = await s2s('eval', '-i', 'lower.en', '-r', 'ref.en', '--tokenize', '13a');
    assert.ok(bleuOf(lower.stdout) < bleuOf(r.stdout), `${bleuOf(lower.stdout)} < ${bleuOf(r.stdout)}`);
  });
});
