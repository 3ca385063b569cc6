/**
 * `s2s translate` through the real binary, on a checkpoint trained once with
 * the tiny config (two epochs, decoded on cpu: it translates badly, but through
 * the exact tokenizers, vocabularies and search a real model uses).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, runS2S, S2S_BIN, stderrLines, TRAIN_FIXTURE, type RunOptions } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-translate-cli-'));
const checkpoint = join(work, 'tiny');
after(() => rmSync(work, { recursive: true, force: true }));

const translate = (args: string[], opts: RunOptions = {}) =>
  runS2S(['--backend', 'cpu', '--quiet', 'translate', '--checkpoint', checkpoint, ...args], { timeoutMs: 120_000, ...opts });

const CJK = /\p{scx=Han}/u;

interface JsonTranslation {
  source: string;
  sourceTokens: string[];
  translation: string;
  tokens: string[];
  score: number;
  nbest: { translation: string; tokens: string[]; score: number }[];
  attention?: number[][];
  truncated?: number;
}

describe('s2s translate (tiny checkpoint, cpu)', () => {
  before(async () => {
    const r = await runS2S([...TRAIN_FIXTURE, 'train', '--config', 'tiny', '--out', checkpoint, '--epochs', '2', '--quiet'], {
      timeoutMs: 300_000,
    });
    assert.equal(r.code, 0, `training the tiny checkpoint failed: ${r.stderr}`);
  });

  test('translates sentences given as arguments, one line each, Chinese without spaces', async () => {
    const r = await translate(['I love you.', 'Tom is busy.', 'My friend likes cats.']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 3);
    for (const line of lines) {
      assert.ok(CJK.test(line), `a Chinese translation: ${JSON.stringify(line)}`);
      assert.ok(!/\p{scx=Han} \p{scx=Han}/u.test(line), 'no spaces between Chinese characters');
    }
  });

  test('stdin is streamed in batches: one output per input line, in order, empty for empty', async () => {
    const sentences = ['I love you.', 'Tom is busy.', 'Mary likes apples.', 'You like cats.', 'My friend is busy.'];
    const lines = ['', sentences[0], sentences[1], '', '   ', sentences[2], sentences[3], '', sentences[4], ''];
    const input = lines.join('\n') + '\n';
    const [plain, piped, direct] = await Promise.all([
      translate(['--input', '-', '--batch-size', '2'], { input }),
      translate(['--json', '--batch-size', '2'], { input }),
      translate(['--json', ...sentences]),
    ]);
    for (const r of [plain, piped, direct]) assert.equal(r.code, 0, r.stderr);
    const parse = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonTranslation);
    const bySentence = new Map(parse(direct.stdout).map((t) => [t.source, t]));
    const records = parse(piped.stdout);
    assert.deepEqual(records.map((t) => t.source), lines, 'one record per input line, in input order');
    records.forEach((t, i) => {
      const expected = bySentence.get(t.source);
      if (!expected) {
        assert.equal(t.translation, '', `line ${i} is empty`);
        return;
      }
      assert.equal(t.translation, expected.translation, `line ${i}`);
      // Scores differ from sentence to sentence: equal scores show each result went back to its own line.
      assert.ok(Math.abs(t.score - expected.score) < 1e-4, `line ${i}: score ${t.score} vs ${expected.score}`);
    });
    const out = plain.stdout.split('\n');
    assert.equal(out.pop(), '');
    assert.deepEqual(out, records.map((t) => t.translation));
  });

  test('--input FILE translates a file (CRLF line ends too)', async () => {
    const file = join(work, 'input.txt');
    writeFileSync(file, 'I love you.\r\n\r\nTom is busy.\r\n');
    const r = await translate(['--input', file]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[1], '');
    assert.ok(CJK.test(lines[0]!) && CJK.test(lines[2]!));
  });

  test('--json gives one object per input with the n-best list and the attention matrix', async () => {
    const r = await translate(['--json', '--attention', '--beam', '3', '--nbest', '3', '--length-penalty', '0.5', 'I love you.', '']);
    assert.equal(r.code, 0, r.stderr);
    const [first, empty] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonTranslation);
    assert.equal(first!.source, 'I love you.');
    assert.deepEqual(first!.sourceTokens, ['i', 'love', 'you', '.']);
    assert.equal(first!.nbest.length, 3);
    assert.equal(first!.nbest[0]!.translation, first!.translation);
    assert.equal(first!.nbest[0]!.score, first!.score);
    for (let k = 1; k < 3; k++) assert.ok(first!.nbest[k - 1]!.score >= first!.nbest[k]!.score);
    assert.equal(first!.translation, first!.tokens.join(''), 'char detokenization joins Chinese tokens');
    assert.equal(first!.attention!.length, first!.tokens.length);
    for (const row of first!.attention!) {
      assert.equal(row.length, 4);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    }
    assert.equal(empty!.translation, '');
    assert.deepEqual(empty!.tokens, []);
  });

  test('--attention draws a heatmap under the translation; --attention-svg writes a picture', async () => {
    const svg = join(work, 'attention.svg');
    const r = await translate(['--attention', '--attention-svg', svg, 'Tom is busy.']);
    assert.equal(r.code, 0, r.stderr);
    const [translation, header, ...rows] = r.stdout.split('\n');
    assert.ok(CJK.test(translation!));
    assert.match(header!, /tom +is +busy +\./);
    const cells = rows.filter((l) => l.trim() !== '');
    assert.equal(cells.length, [...translation!].length, 'one heatmap row per output token (char tokens)');
    assert.ok(cells.every((l) => /^\p{scx=Han}|^\S/u.test(l) && /[░▒▓█]/.test(l)));
    assert.ok(existsSync(svg));
    assert.match(readFileSync(svg, 'utf8'), /^<svg [^>]*>[\s\S]*<\/svg>\n$/);
  });

  test('inputs longer than the training filter (max-len 12) are decoded whole; over --max-input-len, cut with a warning even under -q', async () => {
    const long = Array.from({ length: 45 }, () => 'tom').join(' ');
    const whole = await runS2S(['--backend', 'cpu', '-q', 'translate', '--checkpoint', checkpoint, '--json', long], { timeoutMs: 120_000 });
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal(whole.stderr, '');
    const record = JSON.parse(whole.stdout) as JsonTranslation;
    assert.equal(record.sourceTokens.length, 45, 'a 45-word input is decoded whole');
    assert.equal(record.truncated, undefined);
    const r = await runS2S(['--backend', 'cpu', '-q', 'translate', '--checkpoint', checkpoint, '--max-input-len', '30', '--json', long, 'I love you.'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const [cut, short] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonTranslation);
    assert.equal(cut!.truncated, 15, '--json marks the truncated result');
    assert.equal(short!.truncated, undefined);
    assert.deepEqual(stderrLines(r), ['s2s: warning: input 1 has 45 tokens; translating its first 30 (--max-input-len)']);
  });

  test('bad decoding flags are usage errors naming the flag', async () => {
    const beam = await translate(['--beam', '0', 'hello']);
    assert.equal(beam.code, 2);
    assert.match(beam.stderr, /--beam/);
    const nbest = await translate(['--beam', '2', '--nbest', '3', 'hello']);
    assert.equal(nbest.code, 2);
    assert.match(nbest.stderr, /--nbest/);
  });

  test('on native TensorFlow, translate and eval decode without oneDNN and say so; train keeps it', async (t) => {
    const line = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('backend: ')) ?? stderr;
    const env = { TF_ENABLE_ONEDNN_OPTS: undefined };
    const r = await runS2S(['--backend', 'tensorflow', 'translate', '--checkpoint', checkpoint, 'I love you.'], { timeoutMs: 120_000, env });
    if (/tensorflow backend is not available/.test(r.stderr)) return t.skip('no native TensorFlow on this machine');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(line(r.stderr), 'backend: tensorflow (CPU; oneDNN off; requested)');
    const e = await runS2S(['--backend', 'tensorflow', 'eval', '--checkpoint', checkpoint, '--split', 'valid'], { timeoutMs: 120_000, env });
    assert.equal(e.code, 0, e.stderr);
    assert.equal(line(e.stderr), 'backend: tensorflow (CPU; oneDNN off; requested)');
    // A value the user exported stands.
    const user = await runS2S(['--backend', 'tensorflow', 'translate', '--checkpoint', checkpoint, 'I love you.'], { timeoutMs: 120_000, env: { TF_ENABLE_ONEDNN_OPTS: '1' } });
    assert.equal(line(user.stderr), 'backend: tensorflow (CPU; requested)');
    const out = join(work, 'onednn-train');
    const tr = await runS2S(['--backend', 'tensorflow', 'train', '--config', 'tiny', '--out', out, '--max-steps', '1', '--epochs', '1'], { timeoutMs: 120_000, env });
    assert.equal(tr.code, 0, tr.stderr);
    assert.equal(line(tr.stderr), 'backend: tensorflow (CPU; requested)');
  });

  test('a missing checkpoint says how to train one', async () => {
    const r = await runS2S(['--backend', 'cpu', 'translate', '--checkpoint', join(work, 'none'), 'hello']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /checkpoint not found/);
    assert.match(r.stderr, /s2s train --config tiny/);
  });
  test('stdin streams: a line is translated while the input is still open', async () => {
    const child = spawn(process.execPath, [S2S_BIN, '--backend', 'cpu', '-q', 'translate', '--checkpoint', checkpoint, '-'], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const firstLine = new Promise<boolean>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        if (stdout.includes('\n')) resolve(true);
      });
      child.on('close', () => resolve(false));
    });
    child.stdin.write('I like tea.\n');
    // The old reader waited for 32 lines or the end of the input: it never answered with stdin open.
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const answered = await firstLine;
    assert.ok(answered, `no translation while stdin stayed open: ${stderr}`);
    assert.equal(stdout.split('\n').length, 2, 'one line out for the one line in so far');
    child.stdin.end('Where is she?\n');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    assert.equal(code, 0, stderr);
    assert.equal(stdout.split('\n').filter((l) => l !== '').length, 2);
  });

  test('`| head -1` ends s2s quietly with status 0, as it ends cat', () => {
    const input = join(work, 'many.txt');
    writeFileSync(input, 'I like tea.\n'.repeat(200));
    const cmd = `"${process.execPath}" "${S2S_BIN}" --backend cpu -q translate --checkpoint "${checkpoint}" --batch-size 1 -i "${input}" | head -1; echo "status \${PIPESTATUS[0]}" >&2`;
    const r = spawnSync('bash', ['-c', cmd], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.stdout.split('\n').filter((l) => l !== '').length, 1);
    assert.deepEqual(r.stderr.trim().split('\n'), ['status 0'], 'no EPIPE, no stack trace');
  });

  test('a full stdout (> /dev/full) is one error line and status 1', { skip: !existsSync('/dev/full') && 'no /dev/full' }, () => {
    for (const args of [`translate --checkpoint "${checkpoint}" "I like tea."`, '--version', 'train --config tiny --print-config']) {
      const cmd = `"${process.execPath}" "${S2S_BIN}" --backend cpu -q ${args} > /dev/full`;
      const r = spawnSync('bash', ['-c', cmd], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 1, `${args}: ${r.stderr}`);
      assert.deepEqual(r.stderr.trim().split('\n'), ['s2s: error: cannot write the output: ENOSPC (stdout)'], args);
    }
  });
});
