/**
 * A run stopped by --max-steps ends validated (metrics and a `best`), says its
 * real budget in the header and counts its bar to it; the end-of-budget
 * validation leaves the learning-rate schedule alone, so a resumed run trains
 * as one never stopped. On a terminal (a pseudo-terminal from `script`), the
 * bar is drawn again right after a validation line (bin/s2s, tiny, single-threaded
 * wasm: it trains several times faster than cpu).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT, runS2S, S2S_BIN, stderrLines, TRAIN_FIXTURE } from '../helpers/cli.ts';

const cwd = mkdtempSync(join(tmpdir(), 's2s-budget-'));
after(() => rmSync(cwd, { recursive: true, force: true }));
const train = (...args: string[]) => runS2S([...TRAIN_FIXTURE, 'train', '--config', 'tiny', ...args], { cwd, timeoutMs: 300_000 });
const readJson = <T>(...path: string[]): T => JSON.parse(readFileSync(join(cwd, ...path), 'utf8')) as T;

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

/** Runs `node bin/s2s ...args` under a pseudo-terminal (util-linux `script`) and returns what the terminal received. */
function runInTerminal(args: string[]): Promise<{ code: number | null; output: string }> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, S2S_BIN, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, COLUMNS: '160', LINES: '40' };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn('script', ['-qfec', `stty cols 160 rows 40; exec ${command}`, '/dev/null'], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end();
  });
}

describe('train --max-steps', () => {
  test('ends with a validation and a best, and says the budget in steps (not the epochs it will not reach)', async () => {
    const r = await train('--max-steps', '10', '--out', 'run');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(stderrLines(r).some((l) => /^training: 265 pairs \(17 batches\/epoch\), 30 valid, [\d,]+ parameters, 10 steps \(0\.6 epochs\)$/.test(l)), r.stderr);
    assert.ok(stderrLines(r).some((l) => /^validation step 10 epoch 1: loss [\d.]+ ppl [\d.]+ bleu [\d.]+ \(best\)$/.test(l)), r.stderr);
    const metrics = readJson<{ step: number }[]>('run', 'last', 'metrics.json');
    assert.deepEqual(metrics.map((m) => m.step), [10]);
    assert.ok(existsSync(join(cwd, 'run', 'best', 'checkpoint.json')), 'best was saved');
    // A budget the epochs end first is said in epochs.
    const whole = await train('--max-steps', '1000', '--epochs', '1', '--valid-bleu-size', '5', '--out', 'whole-epoch');
    assert.equal(whole.code, 0, whole.stderr);
    assert.ok(stderrLines(whole).some((l) => /^training: .* parameters, 1 epoch$/.test(l)), whole.stderr);
  });

  test('a validation at the budget step is not repeated', async () => {
    const r = await train('--max-steps', '8', '--valid-every', '4', '--valid-bleu-size', '5', '--out', 'aligned');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readJson<{ step: number }[]>('aligned', 'last', 'metrics.json').map((m) => m.step), [4, 8]);
  });

  test('the end-of-budget validation leaves the schedule alone: stopped and resumed equals never stopped', async () => {
    // lr 0: every validation loss is the same, so a validation counted by the schedule would decay the rate and count patience.
    const flags = ['--lr', '0', '--lr-decay', '0.5', '--lr-patience', '1', '--valid-bleu-size', '0', '--epochs', '3'];
    const whole = await train(...flags, '--max-steps', '25', '--out', 'whole');
    assert.equal(whole.code, 0, whole.stderr);
    const first = await train(...flags, '--max-steps', '9', '--out', 'parts');
    assert.equal(first.code, 0, first.stderr);
    assert.ok(existsSync(join(cwd, 'parts', 'best', 'checkpoint.json')));
    const rest = await train('--resume', 'parts', '--max-steps', '25');
    assert.equal(rest.code, 0, rest.stderr);
    assert.doesNotMatch(rest.stderr, /learning rate decayed/);
    assert.deepEqual(readJson('parts', 'last', 'trainer.json'), readJson('whole', 'last', 'trainer.json'));
    assert.deepEqual(readJson<{ step: number }[]>('parts', 'last', 'metrics.json').map((m) => m.step), [9, 17, 25]);
    assert.deepEqual(readJson<{ step: number }[]>('whole', 'last', 'metrics.json').map((m) => m.step), [17, 25]);
  });
});

describe('the progress bar on a terminal', () => {
  test('is drawn again right after a mid-epoch validation line, counting steps to --max-steps', { skip: !hasScript && 'no `script` (util-linux) here' }, async () => {
    const out = join(cwd, 'tty');
    const r = await runInTerminal([...TRAIN_FIXTURE, 'train', '--config', 'tiny', '--out', out, '--max-steps', '12', '--valid-every', '5', '--valid-bleu-size', '5']);
    assert.equal(r.code, 0, r.output);
    const at = r.output.indexOf('validation step 5 epoch 1');
    assert.ok(at >= 0, r.output);
    // What follows the validation line (and the best-checkpoint line after it) is the bar, at step 5 of 12, before any later step.
    const after = r.output.slice(at).split(/\r?\n/).slice(1).join('\n');
    const nextBar = /epoch 1 \[[█░]+\] (\d+)\/12 steps/.exec(after);
    assert.ok(nextBar, `no bar after the validation line:\n${JSON.stringify(after.slice(0, 400))}`);
    assert.equal(nextBar[1], '5');
    assert.ok(after.indexOf(nextBar[0]) < after.indexOf('validation step 10'), 'the bar comes back before the next validation');
  });
});
