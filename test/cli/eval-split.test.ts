/**
 * Scoring a run on the pairs it held out, and knowing which model was loaded:
 * `eval --split valid`, `data split` (the same pairs as a TSV file), the
 * overlap warning when an eval corpus holds training sentences, and a run
 * directory meaning its `best` for translate and eval. bin/s2s, tiny config,
 * decoded on cpu, run from a temporary working directory as a user would.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, runS2S, stderrLines, TRAIN_FIXTURE } from '../helpers/cli.ts';

const cwd = mkdtempSync(join(tmpdir(), 's2s-eval-split-'));
after(() => rmSync(cwd, { recursive: true, force: true }));
const s2s = (...args: string[]) => runS2S(['--backend', 'cpu', ...args], { cwd, timeoutMs: 300_000 });
const TOY = join(REPO_ROOT, 'data', 'toy', 'toy.tsv');
const bleuLine = (stdout: string): string => stdout.split('\n').find((l) => l.startsWith('BLEU'))!;

describe('eval on the held-out split (tiny run in a temporary directory)', () => {
  before(async () => {
    const r = await runS2S([...TRAIN_FIXTURE, '-q', 'train', '--config', 'tiny', '--epochs', '2'], { cwd, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
  });

  test('data split writes the held-out pairs; eval --split valid scores exactly them', async () => {
    const written = await s2s('data', 'split', '--checkpoint', 'checkpoints/tiny', '--out', 'valid.tsv');
    assert.equal(written.code, 0, written.stderr);
    const rows = readFileSync(join(cwd, 'valid.tsv'), 'utf8').trim().split('\n');
    assert.equal(rows.length, 30, 'the tiny config holds out 30 pairs');
    const toy = new Set(readFileSync(TOY, 'utf8').trim().split('\n'));
    for (const row of rows) assert.ok(toy.has(row), `a pair of the corpus, columns as in it: ${row}`);

    const split = await s2s('eval', '--checkpoint', 'checkpoints/tiny', '--split', 'valid', '--beam', '5');
    assert.equal(split.code, 0, split.stderr);
    const file = await s2s('eval', '--checkpoint', 'checkpoints/tiny', '--data', 'valid.tsv', '--beam', '5');
    assert.equal(file.code, 0, file.stderr);
    assert.match(bleuLine(split.stdout), /^BLEU/);
    assert.equal(bleuLine(split.stdout), bleuLine(file.stdout));
    assert.ok(!/warning/.test(split.stderr + file.stderr), 'held-out pairs do not overlap training');
  });

  test('an eval corpus that overlaps the training split is scored with a warning giving the count', async () => {
    const r = await s2s('-q', 'eval', '--checkpoint', 'checkpoints/tiny', '--data', TOY);
    assert.equal(r.code, 0, r.stderr);
    const warning = stderrLines(r).find((l) => l.startsWith('s2s: warning:'));
    const total = readFileSync(TOY, 'utf8').trim().split('\n').length;
    assert.equal(warning, `s2s: warning: ${total - 30} of ${total} test sentences are in the model's training split (as source sentences); ` +
      'their scores measure memory, not translation (--split valid scores the pairs it held out)');
  });

  test('--split with --data is a usage error', async () => {
    const r = await s2s('eval', '--checkpoint', 'checkpoints/tiny', '--split', 'valid', '--data', TOY);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--split/);
  });

  test('translate and eval read a run directory\'s best, and say so', async () => {
    for (const args of [['translate', 'I like tea.'], ['eval', '--split', 'valid']]) {
      const viaRun = await s2s(args[0]!, '--checkpoint', 'checkpoints/tiny', ...args.slice(1));
      assert.equal(viaRun.code, 0, viaRun.stderr);
      assert.ok(stderrLines(viaRun).includes('model: checkpoints/tiny/best'), viaRun.stderr);
      const viaBest = await s2s(args[0]!, '--checkpoint', 'checkpoints/tiny/best', ...args.slice(1));
      assert.equal(viaRun.stdout, viaBest.stdout, args.join(' '));
    }
  });
  test('the backend line is one short line; the GPU package is not mentioned to a CPU run', async () => {
    const r = await runS2S(['translate', '--checkpoint', 'checkpoints/tiny', 'I like tea.'], { cwd, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    const line = stderrLines(r).find((l) => l.startsWith('backend: '));
    assert.ok(line !== undefined, r.stderr);
    assert.ok(line.length <= 80, `short: ${line}`);
    if (!/GPU\)/.test(line)) assert.ok(!/tfjs-node-gpu|npm rebuild/.test(r.stderr), r.stderr);
  });
});
