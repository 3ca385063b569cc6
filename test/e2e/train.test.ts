/**
 * End-to-end training through the real CLI on the toy corpus: checkpoints,
 * exact resume (cpu backend, fixed seed, stop in the middle of an epoch),
 * SIGINT, and the refusal to overwrite an existing run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT, runS2S, S2S_BIN } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-train-e2e-'));
after(() => rmSync(work, { recursive: true, force: true }));

const train = (out: string, ...args: string[]) =>
  runS2S(['--backend', 'cpu', 'train', '--config', 'tiny', '--out', out, ...args], { timeoutMs: 300_000 });

/** The sha256 of the weights recorded in a checkpoint's manifest. */
function weightsHash(dir: string): string {
  const manifest = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { files: Record<string, { sha256: string }> };
  return manifest.files['weights.bin']!.sha256;
}

describe('s2s train (tiny config, cpu)', () => {
  test('writes a resumable last checkpoint and a lean best (a model directory: no optimizer or trainer state)', async () => {
    const out = join(work, 'basic');
    const logJson = join(work, 'basic.jsonl');
    const r = await train(out, '--epochs', '2', '--log-every', '5', '--log-json', logJson);
    assert.equal(r.code, 0, r.stderr);
    const modelFiles = ['checkpoint.json', 'config.json', 'model.json', 'weights.bin', 'src.vocab.json', 'tgt.vocab.json', 'split.json', 'metrics.json'];
    const trainingFiles = ['optimizer.json', 'optimizer.bin', 'trainer.json'];
    assert.deepEqual(readdirSync(join(out, 'last')).sort(), [...modelFiles, ...trainingFiles].sort());
    assert.deepEqual(readdirSync(join(out, 'best')).sort(), [...modelFiles].sort());
    const translated = await runS2S(['--backend', 'cpu', 'translate', '--checkpoint', join(out, 'best'), 'i like tea .']);
    assert.equal(translated.code, 0, translated.stderr);
    assert.notEqual(translated.stdout.trim(), '');
    const resumeBest = await train(out, '--resume', join(out, 'best'));
    assert.equal(resumeBest.code, 1);
    assert.match(resumeBest.stderr, /no training state to resume from/);
    assert.match(r.stderr, /validation step \d+ epoch 1: loss [\d.]+ ppl [\d.]+ bleu [\d.]+/);
    assert.match(r.stderr, /training finished at step \d+/);
    const records = readFileSync(logJson, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(records.some((x) => x.kind === 'step' && typeof x.gradNorm === 'number' && typeof x.tokPerSec === 'number'));
    const validations = records.filter((x) => x.kind === 'validation');
    assert.equal(validations.length, 2);
    for (const key of ['step', 'epoch', 'loss', 'ppl', 'bleu', 'lr', 'elapsed']) assert.ok(key in validations[0]!, key);
    // A finished run resumes to "finished" without training further.
    const again = await train(out, '--resume', out);
    assert.equal(again.code, 0, again.stderr);
  });

  test('a run stopped mid-epoch and resumed reaches bit-identical weights', async () => {
    const whole = join(work, 'whole');
    const parts = join(work, 'parts');
    // toy: ~270 training pairs, batch 16 → 17 batches per epoch; stop at 9 (mid-epoch 1), finish at 20 (mid-epoch 2).
    const a = await train(whole, '--max-steps', '20', '--epochs', '3');
    assert.equal(a.code, 0, a.stderr);
    const b1 = await train(parts, '--max-steps', '9', '--epochs', '3');
    assert.equal(b1.code, 0, b1.stderr);
    const trainer = JSON.parse(readFileSync(join(parts, 'last', 'trainer.json'), 'utf8')) as { step: number; batchInEpoch: number };
    assert.equal(trainer.step, 9);
    assert.ok(trainer.batchInEpoch > 0, 'the stop is inside an epoch');
    const b2 = await train(parts, '--resume', parts, '--max-steps', '20');
    assert.equal(b2.code, 0, b2.stderr);
    assert.match(b2.stderr, /resuming after step 9/);
    assert.equal(weightsHash(join(parts, 'last')), weightsHash(join(whole, 'last')));
  });

  test('refuses to overwrite an earlier run or a foreign directory without --force', async () => {
    const out = join(work, 'basic');
    const r = await train(out, '--epochs', '1');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /already holds a training run/);
    assert.match(r.stderr, /--resume/);
    const r2 = await train(REPO_ROOT, '--epochs', '1');
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /not s2s checkpoints/);
  });

  test('SIGINT finishes the step, saves last, exits 130, and the checkpoint loads', async () => {
    const out = join(work, 'sigint');
    const child = spawn(process.execPath, [S2S_BIN, '--backend', 'cpu', 'train', '--config', 'tiny', '--out', out, '--epochs', '50', '--log-every', '1'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const code = await new Promise<number | null>((resolve) => {
      let sent = false;
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (!sent && /step 3 /.test(stderr)) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      child.on('close', (c) => resolve(c));
    });
    assert.equal(code, 130, stderr);
    assert.match(stderr, /stopped \(interrupted\)/);
    const r = await runS2S(['--backend', 'cpu', 'translate', '--checkpoint', out, 'i like tea .'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /model: .*last/);
    assert.equal(r.stdout.split('\n').length, 2, 'one line (a model this young may translate to nothing)');
  });

  test('the default config without its corpus says how to fetch it', async () => {
    const r = await runS2S(['--backend', 'cpu', 'train', '--data', join(work, 'nowhere', 'cmn-eng', 'cmn-eng.tsv')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /s2s data get cmn-eng/);
  });
});

describe('s2s train schedule (tiny config, cpu)', () => {
  test('the learning rate decays when validation stalls, and early stopping ends the run', async () => {
    const out = join(work, 'schedule');
    const logJson = join(work, 'schedule.jsonl');
    // lr 0: the loss never improves after the first validation.
    const r = await train(out, '--lr', '0', '--best-metric', 'loss', '--valid-every', '2', '--valid-bleu-size', '0',
      '--lr-decay', '0.5', '--lr-patience', '1', '--early-stop', '3', '--epochs', '5', '--log-json', logJson);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /learning rate decayed/);
    assert.match(r.stderr, /stopped \(early-stop\) at step 8/);
    const validations = readFileSync(logJson, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; step: number }).filter((x) => x.kind === 'validation');
    assert.deepEqual(validations.map((v) => v.step), [2, 4, 6, 8]);
  });

  test('batches by target tokens', async () => {
    const out = join(work, 'tokens');
    const r = await train(out, '--batch-tokens', '120', '--max-steps', '3', '--log-every', '1');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /training: \d+ pairs \((\d+) batches\/epoch\)/);
    const batches = Number(/\((\d+) batches\/epoch\)/.exec(r.stderr)![1]);
    assert.ok(batches > 17, `token batching gives more, smaller batches than 16 sentences (${batches})`);
  });
});
