/**
 * Crash safety: `s2s train` (tiny config, single-threaded wasm, fixed seed, a checkpoint after
 * every step) is killed with SIGKILL at random moments — during steps and
 * during checkpoint writes — 20 times. After each kill the newest checkpoint
 * must load and never go backwards, and `--resume` must continue from it; at
 * the end `--resume` finishes, with weights bit-identical to an uninterrupted run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { UserError } from '../../src/errors.ts';
import { disposeModel } from '../../src/model/seq2seq.ts';
import { loadCheckpoint, resolveCheckpointDir } from '../../src/train/checkpoint.ts';
import { REPO_ROOT, runS2S, S2S_BIN, TRAIN_FIXTURE } from '../helpers/cli.ts';

const KILLS = 20;
// Far more steps than 20 kills can reach (and within --epochs 9, 153 steps): a kill lands at most ~2 steps
// plus 150 ms (a few steps of ~40 ms each) after the previous resume, and a run that finishes before its
// kill would end the test early.
const MAX_STEPS = 150;
const work = mkdtempSync(join(tmpdir(), 's2s-crash-'));
after(() => rmSync(work, { recursive: true, force: true }));
before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

const trainArgs = (out: string, ...extra: string[]) => [
  ...TRAIN_FIXTURE, 'train', '--config', 'tiny', '--out', out, '--seed', '7', '--epochs', '9',
  '--max-steps', String(MAX_STEPS), '--log-every', '1', ...extra,
];

function weightsHash(dir: string): string {
  const manifest = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { files: Record<string, { sha256: string }> };
  return manifest.files['weights.bin']!.sha256;
}

interface Attempt {
  killed: boolean;
  code: number | null;
  stderr: string;
}

/**
 * Starts training and, once it has logged `stepsBeforeKill` + 1 steps, waits
 * `delayMs` and SIGKILLs it (unless it already exited).
 */
function trainAndKill(args: string[], stepsBeforeKill: number, delayMs: number): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [S2S_BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let steps = 0;
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      steps += (d.match(/^epoch \d+ step \d+ /gm) ?? []).length;
      if (timer === undefined && steps > stepsBeforeKill) {
        timer = setTimeout(() => {
          killed = child.kill('SIGKILL');
        }, delayMs);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      clearTimeout(timer);
      resolve({ killed: killed && code === null, code, stderr });
    });
  });
}

/** The step of the newest checkpoint in `out` (after loading it completely), or 0 if there is none yet. */
async function newestCheckpointStep(out: string): Promise<number> {
  try {
    resolveCheckpointDir(out);
  } catch (err) {
    assert.ok(err instanceof UserError, String(err));
    return 0;
  }
  const loaded = await loadCheckpoint(out);
  disposeModel(loaded.model);
  tf.dispose(Object.values(loaded.optimizerTensors ?? {}));
  return loaded.trainer!.step;
}

describe('s2s train killed with SIGKILL at random moments', () => {
  test(`${KILLS} kills, each leaving a loadable checkpoint; the resumed run matches an uninterrupted one`, { timeout: 600_000 }, async (t) => {
    const reference = join(work, 'reference');
    const whole = await runS2S(trainArgs(reference), { timeoutMs: 300_000 });
    assert.equal(whole.code, 0, whole.stderr);

    const out = join(work, 'killed');
    const random = seedrandom('s2s-crash-test');
    let kills = 0;
    let saved = 0;
    let duringSave = 0;
    for (let attempt = 0; kills < KILLS; attempt += 1) {
      assert.ok(attempt < KILLS * 2, `the run finished after only ${kills} kills`);
      const resume = saved > 0;
      // Kill 0-1 logged steps after the first one. Every other kill comes 0-20 ms after a step's log line, while
      // that step's checkpoints are being written (the trainer logs a step, then saves); the rest 0-150 ms
      // later: inside a step, a validation or a checkpoint write.
      const stepsBeforeKill = Math.floor(random() * 2);
      const delayMs = Math.floor(random() * (attempt % 2 === 0 ? 20 : 150));
      const args = trainArgs(out, '--save-every', '1', '--keep', '1', ...(resume ? ['--resume', out] : ['--force']));
      const r = await trainAndKill(args, stepsBeforeKill, delayMs);
      if (resume) assert.match(r.stderr, new RegExp(`resuming after step ${saved}\\b`), r.stderr);
      assert.ok(r.killed, `attempt ${attempt}: the run was not killed (exit ${r.code}):\n${r.stderr}`);
      kills += 1;
      const lastLogged = Math.max(0, ...[...r.stderr.matchAll(/^epoch \d+ step (\d+) /gm)].map((m) => Number(m[1])));
      const step = await newestCheckpointStep(out);
      assert.ok(step >= saved, `the newest checkpoint went back from step ${saved} to ${step}`);
      assert.ok(step <= lastLogged, `checkpoint step ${step} > last logged step ${lastLogged}`);
      if (step < lastLogged) duringSave += 1; // killed after a step, before its checkpoint was complete
      saved = step;
    }
    t.diagnostic(`${duringSave} of ${kills} kills between a step and the end of its checkpoint write; the last left step ${saved} of ${MAX_STEPS}`);
    assert.ok(saved < MAX_STEPS, 'training must not have finished during the kills');
    assert.ok(duringSave > 0, 'some kills landed between a step and the end of its checkpoint write');

    const final = await runS2S(trainArgs(out, '--resume', out), { timeoutMs: 300_000 });
    assert.equal(final.code, 0, final.stderr);
    assert.match(final.stderr, new RegExp(`resuming after step ${saved}\\b`));
    assert.equal(JSON.parse(readFileSync(join(out, 'last', 'trainer.json'), 'utf8')).step, MAX_STEPS);
    assert.equal(weightsHash(join(out, 'last')), weightsHash(join(reference, 'last')));
    assert.deepEqual(readdirSync(out).filter((n) => n.includes('.tmp-')), [], 'no temporary directories are left behind');
  });
});

/** Spawns s2s and SIGKILLs it after `delayMs` (unless it exited first). */
function runAndKill(args: string[], delayMs: number): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [S2S_BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let killed = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => (killed = child.kill('SIGKILL')), delayMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ killed: killed && code === null, code, stderr });
    });
  });
}

describe('s2s vocab killed with SIGKILL at random moments', () => {
  const VOCAB_KILLS = 12;
  test(`${VOCAB_KILLS} kills: --out always holds the previous set or the new one, whole; the next run succeeds`, { timeout: 300_000 }, async () => {
    const out = join(work, 'vocab');
    const args = ['vocab', '--config', 'tiny', '--valid-size', '20', '--out', out];
    const set = (): Record<string, string> =>
      Object.fromEntries(readdirSync(out).sort().map((n) => [n, readFileSync(join(out, n), 'utf8')]));
    // How long a whole run takes here: kills are spread over it, the write at its end included. A run that
    // ends before its kill shortens it: on a machine whose load drops, later runs would all outrun their kills.
    const began = Date.now();
    const first = await runS2S(args);
    let duration = Date.now() - began;
    assert.equal(first.code, 0, first.stderr);
    const reference = set();
    assert.deepEqual(Object.keys(reference), ['.s2s-files.json', 'split.json', 'src.vocab.json', 'tgt.vocab.json', 'vocab-set.json']);
    const random = seedrandom('s2s-vocab-crash-test');
    let killed = 0;
    for (let i = 0; i < VOCAB_KILLS; i++) {
      const started = Date.now();
      const r = await runAndKill(args, Math.floor(duration * (0.5 + 0.7 * random())));
      if (r.killed) killed += 1;
      else {
        assert.equal(r.code, 0, r.stderr);
        duration = Math.min(duration, Date.now() - started);
      }
      if (!existsSync(out)) {
        // Killed between moving the old set aside and renaming the new one in: the next run puts it back.
        assert.equal(readdirSync(work).filter((n) => n.startsWith('.vocab.old-')).length, 1, `after kill ${i}`);
        continue;
      }
      assert.deepEqual(set(), reference, `after kill ${i}: the set is whole and unchanged`);
    }
    assert.ok(killed > 0, 'some runs were killed');
    const last = await runS2S(args);
    assert.equal(last.code, 0, last.stderr);
    assert.deepEqual(set(), reference);
    assert.deepEqual(readdirSync(work).filter((n) => n.startsWith('.vocab.')), [], 'no temporary directories are left behind');
  });
});
