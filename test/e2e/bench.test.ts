import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { BenchResult } from '../../bench/measure.ts';
import { summarise } from '../../bench/profile.ts';
import { REPO_ROOT, runNode, runS2S, stderrLines } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-bench-'));
after(() => rmSync(work, { recursive: true, force: true }));

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

  test('--profile adds kernel times per step and per sentence, and the ceiling the products alone set', async () => {
    const r = await bench(['--backend', 'wasm', '--steps', '2', '--sentences', '12', '--json', '--profile']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim()) as BenchResult;
    assert.equal(result.leakedTensors, 0, 'profiling leaks nothing either');
    const p = result.profile!;
    [p.train, p.greedy64, p.beam5].forEach((phase) => {
      assert.ok(phase.productMs > 0 && phase.kernelMs > phase.productMs, JSON.stringify(phase).slice(0, 300));
      assert.ok(phase.kernels.some((k) => k.kernel === 'BatchMatMul'), 'the products are listed');
      assert.ok(phase.kernels.every((k) => k.kernel !== 'unnamed scope'), 'composite entries are not counted');
      assert.ok(phase.productBound! > 0);
    });
    // Which kernel is costliest and how the ceiling compares with the measured speed depend on the
    // machine: the bench prints them (`--profile`), the tests do not assert them.
    assert.equal(p.train.unit, 'step');
    assert.equal(p.greedy64.units, 12);
    for (const phase of [p.greedy64, p.beam5]) assert.ok(Math.abs(phase.productBound! - 1000 / phase.productMs) <= 1000 / phase.productMs / 100 + 1);
  });

  test('without --json: a table, with --reference the ratio to the figures torch_nmt.py printed (and with --profile, the kernel lines)', async () => {
    const reference = join(mkdtempSync(join(work, 'ref-')), 'torch.json');
    writeFileSync(reference, JSON.stringify({ implementation: 'pytorch 2.15.0', threads: 2, train: { msPerStep: 119, tgtTokPerSec: 6018 }, greedy64: { sentPerSec: 940 }, greedy1: { sentPerSec: 151 }, beam5b1: { sentPerSec: 56.9 } }) + '\n');
    const r = await bench(['--backend', 'wasm', '--steps', '1', '--sentences', '2', '--profile', '--reference', reference]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wasm profile/m);
    assert.match(r.stdout, /^  training: [\d,.]+ kernels, [\d,.]+ ms per step; matrix products [\d,.]+ ms \(\d+%\): products alone bound it at [\d,]+ tok\/s \(\d+\.\d\dx\)$/m);
    assert.match(r.stdout, /^  beam5 b64: .* sent\/s \(\d+\.\d\dx\)$/m);
    assert.match(r.stdout, /^    BatchMatMul [\d.]+x [\d.]+ ms, /m);
    assert.match(r.stdout, /^pytorch 2\.15\.0\s+6,018\s+940\.0\s+151\.0\s+56\.9\s+56\.9/m);
    // The ratio is the measured figure over the reference's.
    const row = r.stdout.match(/^wasm\s+[\d,.]+\s+([\d,]+) \((\d+\.\d\d)x\)/m);
    assert.ok(row, r.stdout);
    assert.equal(Number(row[2]), Number((Number(row[1]!.replace(/,/g, '')) / 6018).toFixed(2)));
    assert.match(r.stdout, /beam5 b64: batched/);
  });

  test('without --reference the table has no ratios and no reference row', async () => {
    const r = await bench(['--backend', 'wasm', '--steps', '1', '--sentences', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wasm\s+[\d,.]+\s+[\d,]+\s+[\d,.]+\s/m);
    assert.doesNotMatch(r.stdout, /\d\.\d\dx\)/);
  });
});

describe('npm run bench flags (no corpus needed)', () => {
  test('a --reference that is missing or not torch_nmt.py output: one line naming it, exit code 2', async () => {
    const dir = mkdtempSync(join(work, 'ref-'));
    const junk = join(dir, 'junk.json');
    writeFileSync(junk, '{"implementation": "x"}\n');
    for (const [file, message] of [[join(dir, 'missing.json'), /cannot read the reference figures: ENOENT/], [junk, /hold no train.tgtTokPerSec/]] as const) {
      const r = await bench(['--reference', file]);
      assert.equal(r.code, 2, r.stderr);
      const lines = stderrLines(r);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, message);
      assert.ok(lines[0]!.includes(file));
    }
  });

  test('a bad flag is one line on stderr and exit code 2', async () => {
    const r = await bench(['--steps', '0']);
    assert.equal(r.code, 2);
    const lines = stderrLines(r);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /--steps/);
  });
});

describe('npm run bench --checkpoint (toy corpus)', () => {
  test('--checkpoint decodes with the trained model and its own validation sentences, uncapped', async () => {
    const ckpt = join(work, 'tiny');
    const trained = await runS2S(['--backend', 'wasm', '--quiet', 'train', '--config', 'tiny', '--epochs', '1', '--out', ckpt], { timeoutMs: 300_000 });
    assert.equal(trained.code, 0, trained.stderr);
    const r = await bench(['--backend', 'wasm', '--config', 'tiny', '--steps', '1', '--sentences', '8', '--json', '--checkpoint', join(ckpt, 'last')]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim()) as BenchResult;
    assert.equal(result.decoder, 'checkpoint');
    assert.equal(result.outputLenRatio, null, 'no output cap');
    assert.equal(result.sentences, 8);
    assert.equal(result.leakedTensors, 0);
    assert.match(r.stderr, /greedy64, 8 sentences \(trained checkpoint\)/);
  });

  test('a --checkpoint that does not exist: one line naming it, before any work', async () => {
    const missing = join(work, 'nowhere');
    const r = await bench(['--backend', 'wasm', '--config', 'tiny', '--steps', '1', '--sentences', '2', '--checkpoint', missing]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nowhere/);
    assert.doesNotMatch(r.stderr, /training|\n\s+at /);
  });
});

describe('bench profile summary', () => {
  test('per-unit calls and times of backend kernels only, the products and their bound', () => {
    const kernels = [
      { name: 'BatchMatMul', kernelTimeMs: 6 },
      { name: 'BatchMatMul', kernelTimeMs: 4 },
      { name: 'Add', kernelTimeMs: 1 },
      { name: 'forward', kernelTimeMs: 11 },
      { name: 'Add', kernelTimeMs: { error: 'not timed' } },
    ];
    const p = summarise(kernels, (n) => n !== 'forward', 'step', 2, 300);
    assert.deepEqual(p.kernels, [
      { kernel: 'BatchMatMul', calls: 1, ms: 5 },
      { kernel: 'Add', calls: 1, ms: 0.5 },
    ]);
    assert.equal(p.calls, 2);
    assert.equal(p.kernelMs, 5.5);
    assert.equal(p.productMs, 5);
    assert.equal(p.productBound, 60_000, '300 tokens per 5 ms of products');
    assert.equal(summarise([{ name: 'Add', kernelTimeMs: 1 }], () => true, 'sentence', 1, 1).productBound, null);
  });

  test('native ops run through the binding count as kernels, and separately', () => {
    const native = new Map([['LSTMBlockCellGrad', { calls: 24, ms: 4 }]]);
    const p = summarise([{ name: 'Add', kernelTimeMs: 2 }], () => true, 'step', 2, 300, native);
    assert.deepEqual(p.kernels, [
      { kernel: 'LSTMBlockCellGrad', calls: 12, ms: 2 },
      { kernel: 'Add', calls: 0.5, ms: 1 },
    ]);
    assert.equal(p.calls, 12.5);
    assert.equal(p.nativeCalls, 12);
    assert.equal(p.kernelMs, 3);
  });
});
