/**
 * `s2s export` and the default model through the real binary, on a tiny model
 * trained once on the toy corpus.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runS2S, TRAIN_FIXTURE } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-export-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));
const run = join(work, 'run');
const CJK = /\p{scx=Han}/u;
const s2s = (args: string[], env: Record<string, string> = {}) => runS2S(['--backend', 'cpu', ...args], { timeoutMs: 120_000, env });
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('s2s: error'));

describe('s2s export (tiny model, cpu)', () => {
  before(async () => {
    const r = await runS2S([...TRAIN_FIXTURE, '--quiet', 'train', '--config', 'tiny', '--out', run, '--epochs', '1'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `training the tiny model failed: ${r.stderr}`);
  });

  test('exports a model directory that translates like the checkpoint; --float16 halves the weights', async () => {
    const full = join(work, 'full');
    const half = join(work, 'half');
    const a = await s2s(['export', run, full]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stderr, /exported .*best → .*full: [\d.]+ MB \(float32 weights/);
    const b = await s2s(['export', run, half, '--float16']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(statSync(join(half, 'weights.bin')).size * 2, statSync(join(full, 'weights.bin')).size);
    assert.ok(!readdirSync(half).includes('optimizer.bin'));
    const sentences = ['I love you.', 'Tom is busy.', 'My friend likes cats.'];
    const [fromRun, fromExport, fromHalf] = await Promise.all([run, full, half].map((dir) => s2s(['translate', '--checkpoint', dir, ...sentences])));
    for (const r of [fromRun, fromExport, fromHalf]) assert.equal(r.code, 0, r.stderr);
    assert.equal(fromExport.stdout, fromRun.stdout, 'a float32 export translates exactly as its checkpoint');
    assert.ok(fromHalf.stdout.trim().split('\n').every((line) => CJK.test(line)), fromHalf.stdout);
  });

  test('without --checkpoint, translate uses $S2S_MODEL and s2s info says so', async () => {
    const model = join(work, 'default-model');
    assert.equal((await s2s(['--quiet', 'export', run, model, '--float16'])).code, 0);
    const env = { S2S_MODEL: model };
    const [t, info] = await Promise.all([s2s(['translate', 'I like tea.'], env), s2s(['info'], env)]);
    assert.equal(t.code, 0, t.stderr);
    assert.ok(CJK.test(t.stdout), t.stdout);
    assert.equal(info.code, 0, info.stderr);
    assert.ok(info.stdout.includes(`translate uses: ${model} (S2S_MODEL is set)`), info.stdout);
  });

  test('export into a directory that is not a model, or from nothing: one line, exit 2 / 1, nothing touched', async () => {
    const mine = join(work, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep');
    const r = await s2s(['export', run, mine]);
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(errorLines(r.stderr), [`s2s: error: will not export here: it exists and is not a model directory (it holds other files) (${mine})`]);
    assert.deepEqual(readdirSync(mine), ['notes.txt']);
    const last = await s2s(['export', run, join(run, 'last')]);
    assert.equal(last.code, 2);
    assert.match(last.stderr, /training checkpoint/);
    assert.ok(readdirSync(join(run, 'last')).includes('optimizer.bin'));
    const none = await s2s(['export', join(work, 'nothing'), join(work, 'out')]);
    assert.equal(none.code, 1);
    assert.deepEqual(errorLines(none.stderr), [`s2s: error: checkpoint not found (${join(work, 'nothing')})`]);
  });

  test('a model directory with a missing file or a foreign weights file: one line naming the file', async () => {
    const a = join(work, 'broken-a');
    const b = join(work, 'broken-b');
    assert.equal((await s2s(['--quiet', 'export', run, a])).code, 0);
    assert.equal((await s2s(['--quiet', 'export', run, b, '--float16'])).code, 0);
    rmSync(join(a, 'src.vocab.json'));
    const missing = await s2s(['translate', '--checkpoint', a, 'hello']);
    assert.equal(missing.code, 1);
    assert.deepEqual(errorLines(missing.stderr), [`s2s: error: checkpoint file is missing (${join(a, 'src.vocab.json')})`]);
    rmSync(a, { recursive: true });
    assert.equal((await s2s(['--quiet', 'export', run, a])).code, 0);
    writeFileSync(join(a, 'weights.bin'), readFileSync(join(b, 'weights.bin')));
    const foreign = await s2s(['translate', '--checkpoint', a, 'hello']);
    assert.equal(foreign.code, 1);
    assert.equal(errorLines(foreign.stderr).length, 1);
    assert.match(foreign.stderr, /weights\.bin\)/);
    assert.ok(!foreign.stderr.includes('    at '), 'no stack trace');
  });
});
