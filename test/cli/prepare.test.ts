/**
 * `s2s prepare` through the real bin/s2s on the toy corpus: prepares once,
 * reuses an up-to-date set, re-prepares on a changed config, makes the same
 * set on any number of --workers, and names a damaged set with the command that rebuilds it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT, runS2S, stderrLines } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 's2s-prepare-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('s2s prepare', () => {
  const out = join(tmp, 'run');
  const dir = join(out, 'prepared');

  test('prepares into <out>/prepared, then finds it up to date', async () => {
    const first = await runS2S(['prepare', '--config', 'tiny', '--out', out]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^prepared: ${dir}$`, 'm'));
    assert.match(first.stdout, /^pairs: 295 read, 265 train, 30 valid, 0 too long, 0 malformed$/m);
    assert.deepEqual(stderrLines(first), ['preparing the dataset (no prepared data)']);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { format: string; report: { train: number } };
    assert.equal(index.format, 's2s-prepared');
    const again = await runS2S(['prepare', '--config', 'tiny', '--out', out]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^up to date: /);
    assert.equal(again.stderr, '');
  });

  test('a changed data config is prepared again', async () => {
    const r = await runS2S(['prepare', '--config', 'tiny', '--out', out, '--max-len', '8']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(stderrLines(r), ['preparing the dataset (the data configuration changed)']);
    assert.match(r.stdout, /too long/);
  });

  test('a truncated file is one error naming it, with the command that rebuilds the set', async () => {
    const bin = join(dir, 'train.tgt.bin');
    truncateSync(bin, 10);
    const r = await runS2S(['prepare', '--config', 'tiny', '--out', out, '--max-len', '8']);
    assert.equal(r.code, 1);
    const lines = stderrLines(r);
    assert.match(lines[0]!, /^s2s: error: prepared data is damaged: train\.tgt\.bin has 10 bytes, the index says \d+ \(truncated or altered\) \(.*prepared\)$/);
    assert.match(lines[1]!, /^s2s: hint: rebuild it with `s2s prepare --force --prepared /);
    const forced = await runS2S(['prepare', '--config', 'tiny', '--out', out, '--max-len', '8', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /^prepared: /);
  });

  test('train uses the set prepare made, and refuses a damaged one', async () => {
    const run = join(tmp, 'trained');
    const prepared = await runS2S(['prepare', '--config', 'tiny', '--out', run, '-q']);
    assert.equal(prepared.code, 0, prepared.stderr);
    const args = ['--backend', 'cpu', 'train', '--config', 'tiny', '--out', run, '--max-steps', '2', '--log-every', '1'];
    const trained = await runS2S(args);
    assert.equal(trained.code, 0, trained.stderr);
    assert.doesNotMatch(trained.stderr, /preparing/);
    assert.match(trained.stderr, /training: 265 pairs/);
    truncateSync(join(run, 'prepared', 'train.src-len.bin'), 4);
    const damaged = await runS2S([...args, '--force']);
    assert.equal(damaged.code, 1);
    assert.match(damaged.stderr, /s2s: error: prepared data is damaged: train\.src-len\.bin has 4 bytes/);
    assert.match(damaged.stderr, /s2s: hint: rebuild it with `s2s prepare --force/);
  });

  test('train prepares by itself when no set matches', async () => {
    const run = join(tmp, 'implicit');
    const r = await runS2S(['--backend', 'cpu', 'train', '--config', 'tiny', '--out', run, '--max-steps', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`preparing the dataset in ${join(run, 'prepared')} \\(no prepared data\\)`));
  });

  test('--workers 2 and --workers 1 make the same set (every file by sha256); --workers 0 is a usage error', async () => {
    // Over 1 MiB, so that it is read in pieces on worker threads (a smaller corpus is read on one thread).
    const corpus = join(tmp, 'toy-100.tsv');
    writeFileSync(corpus, readFileSync(join(REPO_ROOT, 'data', 'toy', 'toy.tsv'), 'utf8').repeat(100));
    const files = async (workers: string): Promise<unknown> => {
      const set = join(tmp, `workers-${workers}`);
      const r = await runS2S(['prepare', '--config', 'tiny', '--data', corpus, '--prepared', set, '--workers', workers, '-q']);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(readFileSync(join(set, 'index.json'), 'utf8')) as { files: unknown }).files;
    };
    assert.deepEqual(await files('2'), await files('1'));
    const bad = await runS2S(['prepare', '--config', 'tiny', '--prepared', join(tmp, 'workers-0'), '--workers', '0']);
    assert.equal(bad.code, 2);
    assert.deepEqual(stderrLines(bad), ['s2s: error: --workers must be a whole number from 1 to 256, got "0" (--workers)']);
  });

  test('--prepared DIR puts the set elsewhere', async () => {
    const elsewhere = join(tmp, 'sets', 'toy');
    const r = await runS2S(['prepare', '--config', 'tiny', '--prepared', elsewhere, '-q']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^prepared: ${elsewhere}$`, 'm'));
    assert.equal(r.stderr, '');
  });
});
