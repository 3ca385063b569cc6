/**
 * Bad input through the real CLI: every case is one clear `s2s: error:` line
 * naming the file (or flag), the right exit code and no stack trace — or,
 * for a malformed row, a skip summary naming file:line. `vocab` is the cheap
 * command to feed corpora to; translate and train cases use a tiny checkpoint.
 *
 * Decisions documented here: a line longer than 1 MiB (corpus.ts
 * MAX_LINE_BYTES) is a malformed row, skipped without being held in memory;
 * NUL bytes mean a binary file and UTF-16 is recognised by its BOM, both an
 * error naming the file; an unclosed CSV quote swallows the rest of the file
 * (quoted fields may span lines) and the skip summary says which lines.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { disposeModel } from '../../src/model/seq2seq.ts';
import { MAX_LINE_BYTES, physicalLines, type PhysicalLine } from '../../src/data/corpus.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { REPO_ROOT, runS2S, S2S_BIN, type RunResult } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-reliability-'));
chmodSync(work, 0o755);
after(() => rmSync(work, { recursive: true, force: true }));

const TOY = join(REPO_ROOT, 'data', 'toy', 'toy.tsv');
const toyLines = readFileSync(TOY, 'utf8').trim().split('\n');

function file(name: string, content: string | Buffer): string {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
}

const vocab = (...args: string[]) => runS2S(['vocab', '--out', join(work, 'vocab-out'), '--valid-size', '0', ...args]);

/** Exactly one error line (plus an optional hint), matching `pattern`, naming `where`; no stack trace. */
function assertUserError(r: RunResult, code: number, pattern: RegExp, where: string): void {
  assert.equal(r.code, code, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('backend:'));
  const errors = lines.filter((l) => l.startsWith('s2s: error: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, pattern);
  assert.ok(errors[0]!.includes(`(${where}`), `names ${where}: ${errors[0]}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}

/** As root, permission bits do not stop reads: run the child as `nobody` there. */
const AS_NOBODY = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : null;

function runAs(args: string[], onStderr?: (text: string) => void): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: work };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, [S2S_BIN, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], ...(AS_NOBODY ?? {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      onStderr?.(stderr);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('physicalLines limits (in-process)', () => {
  const collect = async (chunks: Buffer[]): Promise<PhysicalLine[]> => {
    const out: PhysicalLine[] = [];
    for await (const l of physicalLines((async function* () { yield* chunks; })(), 'f.tsv')) out.push(l);
    return out;
  };

  test('a line over the limit spread over many chunks is reported; the lines around it are kept', async () => {
    const pieces = Array.from({ length: 20 }, () => Buffer.alloc(MAX_LINE_BYTES / 16, 'x'));
    const lines = await collect([Buffer.from('a\tb\nxx'), ...pieces, Buffer.from('x\nc\td\r\n'), Buffer.from('e\tf')]);
    assert.deepEqual(lines, [
      { line: 1, text: 'a\tb' },
      { line: 2, text: null, reason: 'line longer than 1 MiB' },
      { line: 3, text: 'c\td' },
      { line: 4, text: 'e\tf' },
    ]);
  });

  test('a line of exactly the limit is kept, across chunk boundaries', async () => {
    const half = Buffer.alloc(MAX_LINE_BYTES / 2, 'y');
    const lines = await collect([half, half, Buffer.from('\nz')]);
    assert.equal(lines[0]!.text!.length, MAX_LINE_BYTES);
    assert.deepEqual(lines[1], { line: 2, text: 'z' });
  });
});

describe('corpus input (s2s vocab)', () => {
  test('a missing file', async () => {
    const path = join(work, 'nowhere.tsv');
    assertUserError(await vocab('--data', path), 1, /file not found/, path);
  });

  test('an unreadable file', async () => {
    const path = file('secret.tsv', toyLines.slice(0, 20).join('\n'));
    chmodSync(path, 0o000);
    const r = await runAs(['vocab', '--out', join(work, 'nobody-vocab'), '--valid-size', '0', '--data', path]);
    assertUserError(r, 1, /permission denied/, path);
  });

  test('an empty file', async () => {
    const path = file('empty.tsv', '');
    assertUserError(await vocab('--data', path), 1, /the corpus is empty/, path);
  });

  test('a binary file (NUL bytes) is named, not parsed', async () => {
    const path = file('binary.tsv', Buffer.concat([Buffer.from('hello\tworld\n'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 0x0a])]));
    assertUserError(await vocab('--data', path), 1, /binary file: NUL byte/, `${path}:2`);
  });

  test('invalid UTF-8 on one line: the row is skipped and named', async () => {
    const path = file('latin1.tsv', Buffer.concat([Buffer.from(`${toyLines.slice(0, 5).join('\n')}\n`), Buffer.from('caf\xe9\tx\n', 'latin1')]));
    const r = await vocab('--data', path);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`skipped 1 malformed row \\(${path}:6: invalid UTF-8\\)`));
    assert.match(r.stdout, /pairs: 5 read/);
  });

  test('UTF-16 with a BOM is named with how to convert it', async () => {
    const path = file('utf16.tsv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(toyLines.slice(0, 5).join('\n'), 'utf16le')]));
    const r = await vocab('--data', path);
    assertUserError(r, 1, /UTF-16LE text \(byte order mark\); s2s reads UTF-8/, path);
    assert.match(r.stderr, /hint: .*iconv/);
  });

  test('Windows line endings and a UTF-8 BOM read like plain UTF-8', async () => {
    const path = file('crlf.tsv', `\uFEFF${toyLines.slice(0, 40).join('\r\n')}\r\n`);
    const r = await vocab('--data', path);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /pairs: 40 read/);
    assert.equal(r.stderr, '');
    for (const side of ['src', 'tgt']) {
      const text = readFileSync(join(work, 'vocab-out', `${side}.vocab.json`), 'utf8');
      assert.ok(!text.includes('\\r') && !text.includes('\\ufeff') && !text.includes('\uFEFF'), `${side} vocabulary is clean`);
    }
  });

  test('a TSV with a single column says which column is missing and suggests --delimiter', async () => {
    const path = file('one-column.tsv', 'I like tea.\nWhere is the cat?\n');
    const r = await vocab('--data', path);
    assertUserError(r, 1, new RegExp(`no usable sentence pairs: skipped 2 malformed rows \\(first: ${path}:1: missing target column\\)`), path);
    assert.match(r.stderr, /hint: .*--delimiter/);
  });

  test('ragged CSV quoting: an unclosed quote is skipped, named by its first line, with the lines it swallowed', async () => {
    const rows = ['"Hi, Tom.",你好。', 'Run!,跑！', '"unclosed, oops,坏', 'Wait!,等一下！', 'Go.,走。'];
    const path = file('ragged.csv', `${rows.join('\n')}\n`);
    const r = await vocab('--data', path);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`skipped 1 malformed row \\(${path}:3: unclosed quote: lines 3-5 \\(the rest of the file\\) were read as one field\\)`));
    assert.match(r.stdout, /pairs: 2 read/);
  });

  test('a 50 MB single line is skipped as malformed, quickly and without holding it in memory', async () => {
    const path = join(work, 'long.tsv');
    writeFileSync(path, Buffer.concat([Buffer.alloc(50 * 2 ** 20, 'a'), Buffer.from(`\tb\n${toyLines.slice(0, 10).join('\n')}\n`)]));
    const began = Date.now();
    // A 64 MB heap cannot hold the line as a string: reading it whole would crash.
    const r = await runS2S(['vocab', '--out', join(work, 'vocab-out'), '--valid-size', '0', '--data', path], {
      env: { NODE_OPTIONS: '--max-old-space-size=64' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`skipped 1 malformed row \\(${path}:1: line longer than 1 MiB\\)`));
    assert.match(r.stdout, /pairs: 10 read/);
    assert.ok(Date.now() - began < 30_000, `took ${Date.now() - began} ms`);
    rmSync(path);
  });

  test('parallel files of different lengths name both files and counts', async () => {
    const src = file('p.en', 'a\nb\nc\n');
    const tgt = file('p.zh', '甲\n乙\n');
    const r = await vocab('--src', src, '--tgt', tgt);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`s2s: error: line counts differ: ${src} has 3 lines, ${tgt} has 2\\n`));
  });

  test('--data pointing at a directory', async () => {
    assertUserError(await vocab('--data', work), 1, /is a directory, expected a file/, work);
  });

  test('a truncated gzip file', async () => {
    const gz = gzipSync(readFileSync(TOY));
    const path = file('toy.tsv.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    assertUserError(await vocab('--data', path), 1, /truncated gzip file/, path);
  });
});

describe('configs and flags', () => {
  test('a config with an unknown key, a wrong type, a negative size: named by key and file:line', async () => {
    const unknown = file('unknown.yaml', 'data:\n  max-len: 20\nmodel:\n  hiden-size: 8\n');
    assertUserError(await runS2S(['vocab', '--config', unknown, '--out', work]), 1, /unknown key 'model.hiden-size'/, `${unknown}:4`);
    const wrongType = file('type.yaml', 'training:\n  lr: fast\n');
    assertUserError(await runS2S(['vocab', '--config', wrongType, '--out', work]), 1, /'training.lr' must be a number, got "fast"/, `${wrongType}:2`);
    const negative = file('negative.yaml', 'model:\n  emb-size: 8\n  hidden-size: -4\n');
    assertUserError(await runS2S(['vocab', '--config', negative, '--out', work]), 1, /'model.hidden-size' must be >= 1, got -4/, `${negative}:3`);
  });

  test('flags out of range are usage errors naming the flag', async () => {
    const train = (...a: string[]) => runS2S(['--backend', 'cpu', 'train', '--config', 'tiny', '--out', join(work, 'never'), ...a]);
    assertUserError(await train('--batch-size', '-1'), 2, /--batch-size must be >= 1, got -1/, '--batch-size');
    assertUserError(await train('--dropout', '1.5'), 2, /--dropout must be < 1, got 1.5/, '--dropout');
    assertUserError(await runS2S(['translate', '--beam', '0', 'hello']), 2, /--beam must be >= 1, got 0/, '--beam');
    assert.ok(!existsSync(join(work, 'never')), 'a refused run writes nothing');
  });

  test('S2S_DEBUG=1 adds the stack of a user error; without it there is none', async () => {
    const path = join(work, 'nowhere.tsv');
    const plain = await vocab('--data', path);
    assert.doesNotMatch(plain.stderr, /^\s+at /m);
    const debug = await runS2S(['vocab', '--out', work, '--data', path], { env: { S2S_DEBUG: '1' } });
    assert.equal(debug.code, 1);
    assert.match(debug.stderr, /^s2s: error: file not found/);
    assert.match(debug.stderr, /S2SError: file not found\n\s+at /);
  });
});

describe('checkpoints and translation (tiny checkpoint)', () => {
  const run = join(work, 'run');
  before(async () => {
    const r = await runS2S(['--backend', 'cpu', 'train', '--config', 'tiny', '--out', run, '--epochs', '1', '--max-steps', '4'], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
  });
  const translate = (args: string[], input?: string) =>
    runS2S(['--backend', 'cpu', 'translate', '--checkpoint', run, ...args], { input, timeoutMs: 120_000 });

  test('translate: only unknown words, emoji, and an empty stdin', async () => {
    const unknown = await translate(['zyzzyva quokka flibbertigibbet']);
    assert.equal(unknown.code, 0, unknown.stderr);
    assert.equal(unknown.stdout.split('\n').length, 2, 'one line, perhaps empty');
    const emoji = await translate(['I like 🍵 and 👩‍👩‍👧 .']);
    assert.equal(emoji.code, 0, emoji.stderr);
    assert.equal(emoji.stdout.split('\n').length, 2, 'one line, perhaps empty');
    const empty = await translate(['-'], '');
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, '');
    assert.doesNotMatch(empty.stderr, /error/);
  });

  test('translate: a long input is cut to --max-input-len with a warning; over 10,000 characters is refused', async () => {
    const words = (n: number): string => Array.from({ length: n }, (_, i) => ['tom', 'likes', 'tea', 'very', 'much'][i % 5]).join(' ');
    const long = words(1900);
    assert.ok(long.length > 9_000 && long.length <= 10_000);
    const r = await translate([long]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /s2s: warning: input 1 has 1900 tokens; translating its first 200 \(--max-input-len\)/);
    assert.equal(r.stdout.split('\n').length, 2, 'one line, perhaps empty');
    const huge = await translate([words(2200)]);
    assert.equal(huge.code, 1);
    assert.match(huge.stderr, /^s2s: error: the text to translate has 10559 characters; at most 10000 are accepted/m);
    assert.doesNotMatch(huge.stderr, /^\s+at /m);
  });

  test('translate --checkpoint at a directory that is not a checkpoint', async () => {
    const r = await runS2S(['--backend', 'cpu', 'translate', '--checkpoint', join(REPO_ROOT, 'configs'), 'hello']);
    assertUserError(r, 1, /not an s2s checkpoint/, join(REPO_ROOT, 'configs'));
  });

  test('--resume from a corrupt checkpoint names the file and changes nothing', async () => {
    const copy = join(work, 'corrupt-run');
    cpSync(run, copy, { recursive: true });
    truncateSync(join(copy, 'last', 'weights.bin'), 64);
    const listing = () =>
      readdirSync(copy, { recursive: true })
        .map(String)
        .sort()
        .map((f) => [f, statSync(join(copy, f)).isFile() ? readFileSync(join(copy, f)).toString('base64') : 'dir']);
    const before = JSON.stringify(listing());
    const r = await runS2S(['--backend', 'cpu', 'train', '--resume', copy], { timeoutMs: 120_000 });
    assertUserError(r, 1, /expected \d+ \(truncated or partly written\)/, join(copy, 'last', 'weights.bin'));
    assert.equal(JSON.stringify(listing()), before);
  });

  test('--out at an existing directory that is not a run is refused unless --force', async () => {
    const foreign = join(work, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'keep me');
    const r = await runS2S(['--backend', 'cpu', 'train', '--config', 'tiny', '--out', foreign, '--max-steps', '1']);
    assertUserError(r, 2, /holds files that are not s2s checkpoints/, foreign);
    assert.deepEqual(readdirSync(foreign), ['notes.txt']);
    const forced = await runS2S(['--backend', 'cpu', 'train', '--config', 'tiny', '--out', foreign, '--max-steps', '1', '--force'], { timeoutMs: 120_000 });
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(readFileSync(join(foreign, 'notes.txt'), 'utf8'), 'keep me');
  });
});

describe('disk: a checkpoint that cannot be written', () => {
  test('--out below a regular file, or in a directory the user cannot write, fails before training', async () => {
    const blocker = file('blocker', 'a file');
    const below = join(blocker, 'run');
    const r = await runS2S(['--backend', 'cpu', 'train', '--config', 'tiny', '--out', below]);
    assertUserError(r, 2, /cannot create the output directory: .*blocker is not a directory/, below);
    assert.doesNotMatch(r.stderr, /step 1 /);
    const locked = join(work, 'locked');
    mkdirSync(locked, { mode: 0o755 });
    chmodSync(locked, 0o555);
    const nobody = await runAs(['--backend', 'cpu', 'train', '--config', 'tiny', '--out', join(locked, 'run')]);
    chmodSync(locked, 0o755);
    assertUserError(nobody, 1, /the output directory is not writable/, locked);
  });

  test('stops training with one error line, exit 1, and the previous checkpoint intact', async () => {
    const out = join(work, 'readonly-run');
    mkdirSync(out);
    if (AS_NOBODY) chownSync(out, AS_NOBODY.uid, AS_NOBODY.gid);
    let locked = false;
    // Once the first checkpoint is complete, the output directory becomes read-only for the child.
    const lock = (): void => {
      if (locked || !existsSync(join(out, 'last', 'checkpoint.json'))) return;
      locked = true;
      if (AS_NOBODY) chownSync(out, 0, 0);
      chmodSync(out, 0o555);
    };
    const r = await runAs(
      ['--backend', 'cpu', 'train', '--config', 'tiny', '--out', out, '--save-every', '1', '--keep', '0', '--max-steps', '30', '--log-every', '1'],
      lock,
    );
    chmodSync(out, 0o755);
    assert.ok(locked, r.stderr);
    assertUserError(r, 1, /cannot write checkpoint \((EACCES|EPERM)\); the previous checkpoint is intact/, out);
    await tf.setBackend('cpu');
    const kept = await loadCheckpoint(out);
    assert.ok(kept.trainer!.step >= 1);
    disposeModel(kept.model);
    tf.dispose(Object.values(kept.optimizerTensors ?? {}));
  });
});
