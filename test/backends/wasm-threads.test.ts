/**
 * The threaded SIMD wasm binary in Node (src/backend/wasm-threads.ts): it really runs
 * XNNPACK on more than one thread, computes what the cpu backend computes,
 * leaks no tensors, lets the process exit, and falls back to the
 * single-threaded binary with one warning when its workers do not start.
 * One wasm backend per process: the in-process checks start it once with two
 * threads; everything else runs the CLI in a child process.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendChoice } from '../../src/backend/index.ts';
import { runningPthreadWorkers, wasmThreading } from '../../src/backend/wasm-threads.ts';
import { REPO_ROOT, runS2S, stderrLines, type RunOptions } from '../helpers/cli.ts';

/**
 * Runs the child with test/helpers/wasm-faults.ts injecting `fault` (and a start-up timeout) into the threaded start;
 * `instantiateDelayMs` holds back the main thread's wasm so failing workers report before emscripten listens to them.
 */
function withFault(fault: 'error' | 'hang', timeoutMs?: number, instantiateDelayMs?: number): RunOptions {
  return {
    preload: [join(REPO_ROOT, 'test', 'helpers', 'wasm-faults.ts')],
    env: {
      WASM_FAULT: fault,
      ...(timeoutMs ? { WASM_TIMEOUT_MS: String(timeoutMs) } : {}),
      ...(instantiateDelayMs ? { WASM_INSTANTIATE_DELAY_MS: String(instantiateDelayMs) } : {}),
    },
  };
}

const work = mkdtempSync(join(tmpdir(), 's2s-wasm-threads-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A deterministic matrix with entries in [-1, 1). */
function matrix(rows: number, cols: number, seed: number): number[][] {
  let s = seed;
  return Array.from({ length: rows }, () =>
    Array.from({ length: cols }, () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 1073741824 - 1;
    }),
  );
}

function matMulReference(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((sum, x, k) => sum + x * b[k]![j]!, 0)));
}

describe('threaded wasm in this process (--threads 2)', () => {
  let choice: BackendChoice;
  const lines: string[] = [];
  const warnings: string[] = [];
  before(async () => {
    choice = await initBackend('wasm', (l) => lines.push(l), {}, { threads: 2, warn: (l) => warnings.push(l) });
  });

  test('starts the threaded binary: XNNPACK runs 2 threads, one of them on a pthread worker', async () => {
    assert.deepEqual(warnings, [], 'no fallback');
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(choice.threads, 2);
    assert.deepEqual(lines, ['backend: wasm (2 threads; requested)']);
    assert.deepEqual(wasmThreading(), { requested: 2, threads: 2, fallback: null });
    const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as { getThreadsCount: () => number };
    assert.equal(wasm.getThreadsCount(), 2, "the backend's own count");
    assert.equal(runningPthreadWorkers(), 1, 'the main thread plus one worker');
    assert.equal(tf.env().get('WASM_HAS_MULTITHREAD_SUPPORT'), true);
  });

  test('the idle preloaded workers were terminated', () => {
    const pool = (tf.backend() as unknown as { wasm: { PThread: { unusedWorkers: unknown[] } } }).wasm.PThread;
    assert.equal(pool.unusedWorkers.length, 0);
  });

  test('a matMul large enough to be split across threads matches a float64 reference', () => {
    const a = matrix(96, 130, 1);
    const b = matrix(130, 70, 2);
    const got = tf.tidy(() => tf.matMul(tf.tensor2d(a), tf.tensor2d(b)).arraySync()) as number[][];
    const want = matMulReference(a, b);
    let worst = 0;
    want.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - got[i]![j]!)))));
    assert.ok(worst < 1e-4, `max abs error ${worst}`);
  });

  test('tensor counts stay flat over repeated threaded work', () => {
    const start = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      tf.tidy(() => tf.sum(tf.relu(tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])))).dataSync());
    }
    assert.equal(tf.memory().numTensors, start);
  });

  test('a second initBackend in the process reuses the running threads, without a warning', async () => {
    const again = await initBackend('wasm', () => {}, {}, { threads: 2, warn: (l) => warnings.push(l) });
    assert.equal(again.threads, 2);
    assert.deepEqual(warnings, []);
    assert.equal(runningPthreadWorkers(), 1);
  });
});

/** The `loss` values of a --log-json file. */
function losses(file: string): number[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { loss: number }).loss);
}

async function trainTiny(name: string, globalFlags: string[], run: RunOptions = {}) {
  const out = join(work, name);
  const logJson = join(work, `${name}.jsonl`);
  const r = await runS2S(
    ['--backend', 'wasm', ...globalFlags, 'train', '--config', 'tiny', '--epochs', '1', '--out', out, '--log-json', logJson],
    { ...run, timeoutMs: 90_000 },
  );
  return { r, out, logJson };
}

describe('threaded wasm from the CLI', () => {
  test('training on 2 threads: finite loss, a checkpoint, and the process exits by itself', async () => {
    const { r, out, logJson } = await trainTiny('threads2', ['--threads', '2']);
    assert.equal(r.signal, null, 'exited on its own, not killed at the timeout');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stderrLines(r)[0], 'backend: wasm (2 threads; requested)');
    assert.doesNotMatch(r.stderr, /warning/);
    const values = losses(logJson);
    assert.ok(values.length >= 2, 'a step and a validation were logged');
    assert.ok(values.every(Number.isFinite), `losses ${values}`);
    assert.ok(existsSync(join(out, 'last')));
  });

  test('S2S_THREADS=2 does the same as --threads 2; --threads 1 on the command line wins over it', async () => {
    const env = await runS2S(['info'], { env: { S2S_THREADS: '2' } });
    assert.equal(env.code, 0, env.stderr);
    assert.match(env.stdout, /^ {2}wasm 4\.22\.0 +available +SIMD yes, threads yes \(2 threads\)$/m);
    const flag = await runS2S(['--threads', '1', 'info'], { env: { S2S_THREADS: '2' } });
    assert.equal(flag.code, 0, flag.stderr);
    assert.match(flag.stdout, /^ {2}wasm 4\.22\.0 +available +SIMD yes, threads no \(--threads 1\)$/m);
  });

  test('--threads 1 trains on the single-threaded SIMD binary, without a warning', async () => {
    const { r, logJson } = await trainTiny('threads1', ['--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stderrLines(r)[0], 'backend: wasm (requested)');
    assert.doesNotMatch(r.stderr, /warning/);
    assert.ok(losses(logJson).every(Number.isFinite));
  });

  test('a pthread worker that fails at start: one warning, then training on one thread', async () => {
    const { r, logJson } = await trainTiny('fault-error', ['--threads', '2'], withFault('error'));
    assert.equal(r.signal, null);
    assert.equal(r.code, 0, r.stderr);
    const lines = stderrLines(r);
    assert.deepEqual(lines.slice(0, 2), [
      's2s: warning: threaded wasm did not start (injected pthread worker failure); ' +
        'using the single-threaded SIMD binary',
      'backend: wasm (requested)',
    ]);
    assert.equal(lines.filter((l) => /warning/.test(l)).length, 1);
    const values = losses(logJson);
    assert.ok(values.length >= 2 && values.every(Number.isFinite), `losses ${values}`);
  });

  test('workers that never load: falls back after the timeout instead of hanging', async () => {
    const started = Date.now();
    const { r, logJson } = await trainTiny('fault-hang', ['--threads', '2'], withFault('hang', 1000));
    assert.equal(r.signal, null, 'not killed: no hang, and the hung workers do not keep the process alive');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      stderrLines(r)[0],
      's2s: warning: threaded wasm did not start (pthread workers did not start within 1000 ms); using the single-threaded SIMD binary',
    );
    assert.ok(losses(logJson).every(Number.isFinite));
    assert.ok(Date.now() - started < 60_000);
  });

  test('translations on 2 threads equal those on 1 thread', async () => {
    const checkpoint = join(work, 'threads2', 'last');
    const sentences = ['i am happy .', 'he is a student .', 'we like tea .'];
    const run = (threads: string) =>
      runS2S(['--backend', 'wasm', '--threads', threads, '--quiet', 'translate', '--checkpoint', checkpoint, ...sentences]);
    const [one, two] = [await run('1'), await run('2')];
    assert.equal(one.code, 0, one.stderr);
    assert.equal(two.code, 0, two.stderr);
    assert.equal(two.stdout.trim().split('\n').length, sentences.length);
    assert.equal(two.stdout, one.stdout);
  });

  test('--quiet silences the fallback warning too', async () => {
    const r = await runS2S(
      ['--backend', 'wasm', '--threads', '2', '--quiet', 'translate', '--checkpoint', join(work, 'threads2', 'last'), 'i am happy .'],
      withFault('error'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.notEqual(r.stdout.trim(), '');
  });

  test('workers that fail before emscripten listens to them: the same fallback, not an uncaught error', async () => {
    const r = await runS2S(
      ['--backend', 'wasm', '--threads', '2', 'translate', '--checkpoint', join(work, 'threads2', 'last'), 'i am happy .'],
      withFault('error', undefined, 1000),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(stderrLines(r).filter((l) => /warning|Error/.test(l)), [
      's2s: warning: threaded wasm did not start (injected pthread worker failure); using the single-threaded SIMD binary',
    ]);
    assert.notEqual(r.stdout.trim(), '');
  });

  test('info says why wasm is not threaded after a failed start', async () => {
    const r = await runS2S(['--threads', '2', 'info'], withFault('error'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {2}wasm 4\.22\.0 +available +SIMD yes, threads no \(threaded start failed: injected pthread worker failure/m);
  });
});
