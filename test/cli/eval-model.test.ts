/**
 * `s2s eval` model mode: decode a test set with a checkpoint, write the
 * hypotheses, and score them exactly as scoring mode does.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, runS2S, stderrLines, TRAIN_FIXTURE } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-eval-model-'));
after(() => rmSync(work, { recursive: true, force: true }));
const ckpt = join(work, 'ckpt');
const testTsv = join(work, 'test.tsv');
const s2s = (...args: string[]) => runS2S(['--backend', 'cpu', '--quiet', ...args], { timeoutMs: 300_000 });

describe('s2s eval --checkpoint', () => {
  before(async () => {
    const r = await runS2S([...TRAIN_FIXTURE, '--quiet', 'train', '--config', 'tiny', '--out', ckpt, '--epochs', '3'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(join(REPO_ROOT, 'data', 'toy', 'toy.tsv'), 'utf8').split('\n').filter((l) => l.includes('\t'));
    writeFileSync(testTsv, lines.slice(100, 130).join('\n') + '\n');
  });

  test('decodes, writes the hypotheses, and scores them like scoring mode', async () => {
    const output = join(work, 'hyp.txt');
    const r = await s2s('eval', '--checkpoint', ckpt, '--data', testTsv, '--output', output, '--json');
    assert.equal(r.code, 0, r.stderr);
    const modelMode = JSON.parse(r.stdout) as { score: number; sys_len: number; signature: string };
    const hyps = readFileSync(output, 'utf8').split('\n').slice(0, -1);
    assert.equal(hyps.length, 30);
    // The same hypotheses through translate, and through scoring mode.
    const sources = readFileSync(testTsv, 'utf8').trim().split('\n').map((l) => l.split('\t')[0]!);
    const refs = join(work, 'ref.txt');
    writeFileSync(refs, readFileSync(testTsv, 'utf8').trim().split('\n').map((l) => l.split('\t')[1]).join('\n') + '\n');
    const translated = await runS2S(['--backend', 'cpu', '--quiet', 'translate', '--checkpoint', ckpt, '-'], { input: sources.join('\n') + '\n', timeoutMs: 120_000 });
    assert.equal(translated.code, 0, translated.stderr);
    assert.deepEqual(translated.stdout.split('\n').slice(0, -1), hyps);
    const scored = await s2s('eval', '--hypotheses', output, '--references', refs, '--json');
    assert.equal(scored.code, 0, scored.stderr);
    const scoring = JSON.parse(scored.stdout) as { score: number; sys_len: number; signature: string };
    assert.equal(modelMode.score, scoring.score);
    assert.equal(modelMode.sys_len, scoring.sys_len);
    assert.match(modelMode.signature, /tok:zh/);
  });

  test('plain --src/--tgt files and beam search', async () => {
    const src = join(work, 'test.en');
    const tgt = join(work, 'test.zh');
    const rows = readFileSync(testTsv, 'utf8').trim().split('\n').map((l) => l.split('\t'));
    writeFileSync(src, rows.map((r) => r[0]).join('\n') + '\n');
    writeFileSync(tgt, rows.map((r) => r[1]).join('\n') + '\n');
    const r = await s2s('eval', '--checkpoint', ckpt, '--src', src, '--tgt', tgt, '--beam', '4');
    assert.equal(r.code, 0, r.stderr);
    // One sacreBLEU line, the tokenizer chosen from the model's target language (zh).
    assert.match(r.stdout, /^BLEU\|nrefs:1\|case:mixed\|eff:no\|tok:zh\|smooth:exp\|version:2\.6\.0 = \d+\.\d\d [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ \(BP = [^\n]*\)\n$/);
  });

  test('decoding flags are checked like translate\'s: --beam 0 is the beam error, exit 2', async () => {
    const r = await s2s('eval', '--checkpoint', ckpt, '--data', testTsv, '--beam', '0');
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), 's2s: error: --beam must be >= 1, got 0 (--beam)');
    const lp = await s2s('eval', '--checkpoint', ckpt, '--data', testTsv, '--length-penalty', 'x');
    assert.equal(lp.code, 2);
    assert.match(lp.stderr, /--length-penalty must be a number/);
  });

  test('the other decoding flags reach the search: --max-output-len 1 gives one-token hypotheses', async () => {
    const output = join(work, 'short.txt');
    const r = await s2s('eval', '--checkpoint', ckpt, '--data', testTsv, '--beam', '3', '--max-output-len', '1', '--batch-size', '7', '--output', output);
    assert.equal(r.code, 0, r.stderr);
    const hyps = readFileSync(output, 'utf8').split('\n').slice(0, -1);
    assert.equal(hyps.length, 30);
    for (const h of hyps) assert.ok([...h].length <= 1 || h === '<unk>', `"${h}" is longer than one token`);
  });

  test('sources longer than --max-input-len: one warning with the count, even with --quiet', async () => {
    const r = await s2s('eval', '--checkpoint', ckpt, '--data', testTsv, '--max-input-len', '2');
    assert.equal(r.code, 0, r.stderr);
    const warnings = stderrLines(r).filter((line) => line.includes('--max-input-len'));
    assert.deepEqual(warnings, ['s2s: warning: 30 of 30 test sentences are longer than --max-input-len (2 tokens); their first 2 tokens were translated']);
  });

  test('without --checkpoint, the model translate uses: $S2S_MODEL, named on stderr', async () => {
    const env = { S2S_MODEL: ckpt };
    const viaEnv = await runS2S(['--backend', 'cpu', 'eval', '--data', testTsv], { env, timeoutMs: 300_000 });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.ok(stderrLines(viaEnv).includes(`model: ${join(ckpt, 'best')}`), viaEnv.stderr);
    const named = await s2s('eval', '--checkpoint', ckpt, '--data', testTsv);
    assert.equal(named.code, 0, named.stderr);
    assert.equal(viaEnv.stdout, named.stdout);
  });

  test('without --checkpoint or $S2S_MODEL, away from any checkpoints/: the shipped model', async () => {
    const cwd = mkdtempSync(join(work, 'cwd-'));
    writeFileSync(join(cwd, 'test.en'), 'I like tea.\nWhere is she?\n');
    writeFileSync(join(cwd, 'test.zh'), '我喜欢茶。\n她在哪儿？\n');
    const r = await runS2S(['--backend', 'cpu', 'eval', '--src', 'test.en', '--tgt', 'test.zh'], { cwd, env: { S2S_MODEL: undefined }, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(stderrLines(r).includes(`model: ${join(REPO_ROOT, 'models', 'en-zh-tatoeba')}`), r.stderr);
    assert.match(r.stdout, /^BLEU\|nrefs:1\|case:mixed\|eff:no\|tok:zh\|smooth:exp\|version:2\.6\.0 = \d+\.\d\d .*hyp_len = \d+ ref_len = 10\)\n$/);
  });

  test('a missing default model is one line saying how to get one', async () => {
    const r = await runS2S(['--backend', 'cpu', 'eval', '--data', testTsv], { env: { S2S_MODEL: join(work, 'no-such-model') } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no-such-model/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  test('needs a test corpus, and names a missing one', async () => {
    const none = await s2s('eval', '--checkpoint', ckpt);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--data/);
    const missing = await s2s('eval', '--checkpoint', ckpt, '--data', join(work, 'nope.tsv'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.tsv/);
  });
});
