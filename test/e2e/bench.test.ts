import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { BenchResult } from '../../bench/measure.ts';
import { REPO_ROOT, runNode, stderrLines } from '../helpers/cli.ts';

/** `npm run bench -- …` without npm: the same command line. */
const bench = (args: string[]) => runNode(['--import', 'tsx', join(REPO_ROOT, 'bench', 'bench.ts'), ...args], { timeoutMs: 300_000 });

const corpus = join(REPO_ROOT, 'data', 'cmn-eng', 'cmn-eng.tsv');
const skip = existsSync(corpus) ? false : `corpus not found at ${corpus} (get it with: s2s data get cmn-eng)`;

describe('npm run bench on the real cmn-eng corpus (wasm, tiny counts)', { skip }, () => {
  test('--json prints one object per backend in the documented shape, with no leaked tensors', async () => {
    const r = await bench(['--backend', 'wasm', '--steps', '2', '--sentences', '6', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const result = JSON.parse(lines[0]!) as BenchResult;
    assert.deepEqual(Object.keys(result).slice(0, 7), ['backend', 'train', 'greedy64', 'greedy1', 'beam5', 'beam5b1', 'peakRssMb']);
    assert.equal(result.backend, 'wasm');
    assert.ok(result.train.msPerStep > 0 && result.train.tgtTokPerSec > 0);
    for (const mode of [result.greedy64, result.greedy1, result.beam5, result.beam5b1]) assert.ok(mode.sentPerSec > 0);
    assert.ok(result.peakRssMb > 50);
    assert.equal(result.leakedTensors, 0);
    assert.equal(result.steps, 2);
    assert.equal(result.sentences, 6);
  });

  test('without --json: a table with the ratio to the PyTorch reference', async () => {
    const r = await bench(['--backend', 'wasm', '--steps', '1', '--sentences', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wasm\s+[\d,.]+\s+[\d,]+ \(\d+\.\d\dx\)/m);
    assert.match(r.stdout, /^PyTorch ref\s+5,300\s+1,950\s+195\s+116\s+116/m);
    assert.match(r.stdout, /beam5 b64: batched/);
  });

  test('a bad flag is one line on stderr and exit code 2', async () => {
    const r = await bench(['--steps', '0']);
    assert.equal(r.code, 2);
    const lines = stderrLines(r);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /--steps/);
  });
});
