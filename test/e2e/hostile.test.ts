/**
 * Hostile input through the real CLI, one table row per input: each must end
 * with the expected exit status, exactly one `s2s: error:` line (plus an
 * optional hint) naming the path or flag, no stack trace, and every file that
 * existed before the run byte-identical afterwards (nothing written, nothing
 * lost). The rows are grouped by the failure class they guard.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, runS2S, type RunResult } from '../helpers/cli.ts';
import { makeZip } from '../helpers/zip.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-hostile-'));
after(() => rmSync(work, { recursive: true, force: true }));

const TOY = join(REPO_ROOT, 'data', 'toy', 'toy.tsv');
const at = (...parts: string[]): string => join(work, ...parts);
const RUN = at('run');
const CKPT = at('run', 'last');

/** Every file and link under `dir` with its bytes (or target): equal snapshots mean nothing changed. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      const st = lstatSync(path);
      if (st.isSymbolicLink()) out.set(path, `-> ${readlinkSync(path)}`);
      else if (st.isDirectory()) {
        out.set(path, 'dir');
        walk(path);
      } else if (st.isFile()) out.set(path, readFileSync(path).toString('base64'));
      else out.set(path, 'special');
    }
  };
  walk(dir);
  return out;
}

function assertOneError(r: RunResult, code: number, pattern: RegExp, where: string): void {
  assert.equal(r.code, code, r.stderr);
  // Informational lines before the work starts (the backend, the model loaded, a resume plan) are not errors.
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/^(backend|model): |^resuming |^I0000|oneDNN/.test(l));
  const errors = lines.filter((l) => l.startsWith('s2s: error: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.deepEqual(lines.filter((l) => !l.startsWith('s2s: error: ') && !l.startsWith('s2s: hint: ')), [], r.stderr);
  assert.match(errors[0]!, pattern);
  assert.ok(errors[0]!.includes(where), `names ${where}: ${errors[0]}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.doesNotMatch(r.stderr, /internal error/);
}

interface Case {
  name: string;
  args: string[];
  code: number;
  pattern: RegExp;
  /** The path or flag the error line must name. */
  where: string;
  stdin?: string;
}

const cpu = ['--backend', 'cpu'];
const vocab = (out: string, ...more: string[]): string[] => ['vocab', '--config', 'tiny', '--valid-size', '0', '--out', out, ...more];
const train = (...more: string[]): string[] => [...cpu, 'train', '--config', 'tiny', '--max-steps', '1', ...more];

/** Replaces `name` in the checkpoint `dir` and re-signs it in checkpoint.json, as an attacker would. */
function resign(dir: string, name: string, data: string | Buffer): void {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  writeFileSync(join(dir, name), bytes);
  const manifestPath = join(dir, 'checkpoint.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.files[name] = { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  writeFileSync(manifestPath, JSON.stringify(manifest));
}

/** A copy of the trained `last` checkpoint at `name`, changed by `change`. */
function crafted(name: string, change: (dir: string) => void): string {
  const dir = at('crafted', name);
  cpSync(CKPT, dir, { recursive: true });
  change(dir);
  return dir;
}

const json = (dir: string, name: string): Record<string, any> => JSON.parse(readFileSync(join(dir, name), 'utf8'));

before(async () => {
  // last at step 3, with step-2 and step-3 kept beside it.
  const r = await runS2S([...cpu, 'train', '--config', 'tiny', '--out', RUN, '--epochs', '1', '--max-steps', '3', '--save-every', '1', '--keep', '2'], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, r.stderr);
  crafted('files-null', (d) => writeFileSync(join(d, 'checkpoint.json'), JSON.stringify({ ...json(d, 'checkpoint.json'), files: null })));
  crafted('outside-name', (d) => {
    const m = json(d, 'checkpoint.json');
    m.files['../../../../../etc/shadow'] = { bytes: 1, sha256: '0'.repeat(64) };
    writeFileSync(join(d, 'checkpoint.json'), JSON.stringify(m));
  });
  writeFileSync(at('outside.bin'), readFileSync(join(CKPT, 'weights.bin')));
  crafted('outside-path', (d) => {
    const m = json(d, 'model.json');
    m.weightsManifest[0].paths = ['../../outside.bin'];
    resign(d, 'model.json', JSON.stringify(m));
  });
  crafted('string-dtype', (d) => {
    const m = json(d, 'model.json');
    m.weightsManifest[0].weights[0].dtype = 'string';
    resign(d, 'model.json', JSON.stringify(m));
  });
  crafted('negative-shape', (d) => {
    const m = json(d, 'model.json');
    m.weightsManifest[0].weights[0].shape = [-4, 8];
    resign(d, 'model.json', JSON.stringify(m));
  });
  crafted('metrics-object', (d) => resign(d, 'metrics.json', '{"step": 1}'));
  crafted('trainer-abc', (d) => resign(d, 'trainer.json', JSON.stringify({ ...json(d, 'trainer.json'), step: 'abc', epoch: -5 })));
  crafted('all-nan', (d) => {
    const nan = Buffer.alloc(readFileSync(join(d, 'weights.bin')).length);
    for (let i = 0; i < nan.length; i += 4) nan.writeFloatLE(Number.NaN, i);
    resign(d, 'weights.bin', nan);
  });
  crafted('fifo', (d) => {
    rmSync(join(d, 'weights.bin'));
    assert.equal(spawnSync('mkfifo', [join(d, 'weights.bin')]).status, 0);
  });
  crafted('dev-zero', (d) => {
    rmSync(join(d, 'weights.bin'));
    symlinkSync('/dev/zero', join(d, 'weights.bin'));
  });
  mkdirSync(at('only-old'));
  cpSync(CKPT, at('only-old', '.last.old'), { recursive: true });
  writeFileSync(at('file'), 'a regular file\n');
  mkdirSync(at('dir'));
  writeFileSync(at('dir', 'notes.txt'), 'a user file\n');
  mkdirSync(at('user-run', 'last'), { recursive: true });
  writeFileSync(at('user-run', 'last', 'thesis.tex'), 'years of work\n');
  symlinkSync(at('dir'), at('link-to-dir'));
  writeFileSync(at('hyp.txt'), 'hello\n');
  writeFileSync(at('utf16.txt'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('hello\nworld\n', 'utf16le')]));
  writeFileSync(at('binary.txt'), Buffer.from([0x68, 0x69, 0x0a, 0x7f, 0x45, 0x4c, 0x46, 0x00, 0x01, 0x0a]));
  writeFileSync(at('proto.yaml'), 'model:\n  constructor: 3\n');
  writeFileSync(at('dunder.yaml'), 'training:\n  __proto__: {lr: 1}\n');
  writeFileSync(at('nan.yaml'), 'training:\n  lr: .nan\n');
  const aliases = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (const [i, name] of ['b', 'c', 'd', 'e', 'f', 'g'].entries()) {
    const prev = String.fromCharCode(97 + i);
    aliases.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
  }
  writeFileSync(at('bomb.yaml'), `${aliases.join('\n')}\n`);
  // About 100 KB of archive that would inflate to 100 MB: a few pairs, then zeros.
  writeFileSync(at('bomb.zip'), makeZip([{ name: 'cmn.txt', data: Buffer.concat([readFileSync(TOY).subarray(0, 200), Buffer.alloc(100 * 2 ** 20)]), method: 8 }]));
  mkdirSync(at('ckpt-copy'));
  cpSync(CKPT, at('ckpt-copy', 'last'), { recursive: true });
});

describe('9. outputs are replaced, never written through', () => {
  test('eval --output that is a link to a user file replaces the link; the file it pointed to is untouched', async () => {
    writeFileSync(at('precious.txt'), 'precious\n');
    symlinkSync(at('precious.txt'), at('hyp-link.txt'));
    const r = await runS2S([...cpu, 'eval', '--checkpoint', RUN, '--data', TOY, '--output', at('hyp-link.txt')], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(at('precious.txt'), 'utf8'), 'precious\n');
    assert.ok(!lstatSync(at('hyp-link.txt')).isSymbolicLink());
    rmSync(at('hyp-link.txt'));
    rmSync(at('precious.txt'));
  });
});

const CASES: Record<string, Case[]> = {
  '1. filesystem errors are one line naming the path': [
    { name: 'vocab --out is a regular file', args: vocab(at('file')), code: 2, pattern: /exists and is not a directory/, where: at('file') },
    { name: 'vocab --out under /proc', args: vocab('/proc/self/s2s-out'), code: 1, pattern: /not writable/, where: '/proc/self/s2s-out' },
    { name: 'vocab --data is a directory', args: vocab(at('v1'), '--data', at('dir')), code: 1, pattern: /is a directory/, where: at('dir') },
    { name: 'eval --output is a directory', args: [...cpu, 'eval', '--checkpoint', RUN, '--data', TOY, '--output', at('dir')], code: 2, pattern: /--output: the output is a directory/, where: at('dir') },
    { name: 'eval --output is a device', args: [...cpu, 'eval', '--checkpoint', RUN, '--data', TOY, '--output', '/dev/null'], code: 2, pattern: /not a regular file/, where: '/dev/null' },
    { name: 'translate --attention-svg is a directory', args: [...cpu, 'translate', '--checkpoint', RUN, '--attention-svg', at('dir'), 'hello'], code: 2, pattern: /the output is a directory/, where: at('dir') },
    { name: 'data get --out is a file', args: ['data', 'get', 'cmn-eng', '--from', TOY, '--out', at('file')], code: 2, pattern: /is not a directory/, where: at('file') },
    { name: 'data get --from a device', args: ['data', 'get', 'cmn-eng', '--from', '/dev/zero', '--out', at('got')], code: 1, pattern: /not a regular file/, where: '/dev/zero' },
  ],
  '2. outputs are checked before any work': [
    { name: 'train --log-json is a directory', args: train('--out', at('never'), '--log-json', at('dir')), code: 2, pattern: /--log-json: the output is a directory/, where: at('dir') },
    { name: 'train --log-json under a file', args: train('--out', at('never'), '--log-json', at('file', 'log.jsonl')), code: 2, pattern: /is not a directory/, where: at('file', 'log.jsonl') },
    { name: 'train --out under a file', args: train('--out', at('file', 'run')), code: 2, pattern: /is not a directory/, where: at('file', 'run') },
  ],
  '3. no hangs': [
    { name: 'train --out under /proc', args: train('--out', '/proc/self/s2s-run'), code: 1, pattern: /not writable/, where: '/proc/self/s2s-run' },
    { name: 'a weights file that is a FIFO', args: [...cpu, 'translate', '--checkpoint', at('crafted', 'fifo'), 'hello'], code: 1, pattern: /not a regular file/, where: at('crafted', 'fifo', 'weights.bin') },
    { name: 'a weights file linked to /dev/zero', args: [...cpu, 'translate', '--checkpoint', at('crafted', 'dev-zero'), 'hello'], code: 1, pattern: /symbolic link/, where: at('crafted', 'dev-zero', 'weights.bin') },
    { name: 'a re-signed trainer.json with step "abc" and epoch -5', args: [...cpu, 'train', '--resume', at('crafted', 'trainer-abc')], code: 1, pattern: /not a valid trainer state: "epoch" must be an integer >= 1, got -5/, where: at('crafted', 'trainer-abc', 'trainer.json') },
  ],
  '4. sizes have upper bounds': [
    { name: '--hidden-size 100000000', args: train('--out', at('never'), '--hidden-size', '100000000'), code: 2, pattern: /--hidden-size must be <= 4096/, where: '--hidden-size' },
    { name: '--emb-size 1e9', args: train('--out', at('never'), '--emb-size', '1e9'), code: 2, pattern: /--emb-size must be an integer/, where: '--emb-size' },
    { name: 'translate --beam 1e9', args: [...cpu, 'translate', '--checkpoint', RUN, '--beam', '1000000000', 'hello'], code: 2, pattern: /--beam must be <= 100/, where: '--beam' },
    { name: 'eval --batch-size 0', args: [...cpu, 'eval', '--checkpoint', RUN, '--data', TOY, '--batch-size', '0'], code: 2, pattern: /--batch-size must be >= 1/, where: '--batch-size' },
    { name: 'a 100 MB zip member in a 100 KB archive', args: ['data', 'get', 'cmn-eng', '--from', at('bomb.zip'), '--out', at('got')], code: 1, pattern: /unpacks to 100\.0 MiB, more than the/, where: `${at('bomb.zip')}:cmn.txt` },
    { name: 'a YAML alias bomb', args: ['vocab', '--config', at('bomb.yaml'), '--out', at('v2')], code: 1, pattern: /invalid YAML: .*alias/, where: at('bomb.yaml') },
  ],
  '5. crafted checkpoints are refused, and never read outside themselves': [
    { name: '"files": null', args: [...cpu, 'translate', '--checkpoint', at('crafted', 'files-null'), 'hello'], code: 1, pattern: /no file list/, where: at('crafted', 'files-null', 'checkpoint.json') },
    { name: 'a manifest naming ../../../../../etc/shadow', args: [...cpu, 'translate', '--checkpoint', at('crafted', 'outside-name'), 'hello'], code: 1, pattern: /outside the directory/, where: at('crafted', 'outside-name', 'checkpoint.json') },
    { name: 'weights at ../../outside.bin', args: [...cpu, 'translate', '--checkpoint', at('crafted', 'outside-path'), 'hello'], code: 1, pattern: /lists no file '\.\.\/\.\.\/outside\.bin'/, where: at('crafted', 'outside-path', 'checkpoint.json') },
    { name: 'a "string" dtype', args: [...cpu, 'translate', '--checkpoint', at('crafted', 'string-dtype'), 'hello'], code: 1, pattern: /not a float32 or float16 tensor/, where: at('crafted', 'string-dtype', 'model.json') },
    { name: 'a negative shape', args: [...cpu, 'translate', '--checkpoint', at('crafted', 'negative-shape'), 'hello'], code: 1, pattern: /not a float32 or float16 tensor/, where: at('crafted', 'negative-shape', 'model.json') },
    { name: 'a metrics.json that is not a list', args: [...cpu, 'translate', '--checkpoint', at('crafted', 'metrics-object'), 'hello'], code: 1, pattern: /expected a JSON list/, where: at('crafted', 'metrics-object', 'metrics.json') },
    { name: 'all-NaN weights', args: [...cpu, 'translate', '--checkpoint', at('crafted', 'all-nan'), 'hello'], code: 1, pattern: /weights are not finite/, where: at('crafted', 'all-nan', 'weights.bin') },
  ],
  '6. nothing s2s did not write is replaced': [
    { name: 'train --force over a directory whose last/ is the user\'s', args: train('--out', at('user-run'), '--force'), code: 2, pattern: /replaces only checkpoints s2s wrote/, where: at('user-run') },
    { name: 'a new run into a directory holding only a recoverable .last.old', args: train('--out', at('only-old')), code: 2, pattern: /already holds a training run/, where: at('only-old') },
    { name: 'train --resume RUN/step-2 when last is at step 3', args: [...cpu, 'train', '--resume', join(RUN, 'step-2')], code: 2, pattern: /resuming step 2 would replace .*last \(step 3\)/, where: join(RUN, 'step-2') },
    { name: 'vocab --out at a checkpoint', args: vocab(at('ckpt-copy', 'last')), code: 2, pattern: /is an s2s checkpoint/, where: at('ckpt-copy', 'last') },
    { name: 'vocab --out at a directory of user files', args: vocab(at('dir')), code: 2, pattern: /holds files s2s did not write \(notes\.txt\)/, where: at('dir') },
    { name: 'vocab --out through a link to user files', args: vocab(at('link-to-dir')), code: 2, pattern: /holds files s2s did not write/, where: at('link-to-dir') },
  ],
  '7. what must not be accepted': [
    { name: 'train --resume with a flag it would ignore', args: [...cpu, 'train', '--resume', RUN, '--lr', '0.5'], code: 2, pattern: /--resume continues with the checkpoint's settings; --lr cannot change/, where: '--lr' },
    { name: 'a config key from Object.prototype', args: ['vocab', '--config', at('proto.yaml'), '--out', at('v3')], code: 1, pattern: /unknown key 'model.constructor'/, where: `${at('proto.yaml')}:2` },
    { name: 'a __proto__ config key', args: ['vocab', '--config', at('dunder.yaml'), '--out', at('v3')], code: 1, pattern: /unknown key 'training.__proto__'/, where: `${at('dunder.yaml')}:2` },
    { name: 'lr: .nan is named NaN', args: ['vocab', '--config', at('nan.yaml'), '--out', at('v3')], code: 1, pattern: /'training.lr' must be a number, got NaN/, where: `${at('nan.yaml')}:2` },
    { name: 'translate --input in UTF-16', args: [...cpu, 'translate', '--checkpoint', RUN, '--input', at('utf16.txt')], code: 1, pattern: /UTF-16LE/, where: at('utf16.txt') },
    { name: 'translate a binary stdin', args: [...cpu, 'translate', '--checkpoint', RUN, '-'], stdin: 'hi\n\u0000\u0001\n', code: 1, pattern: /binary file/, where: 'stdin:2' },
    { name: 'eval -r binary', args: ['eval', '-i', at('hyp.txt'), '-r', at('binary.txt')], code: 1, pattern: /binary file/, where: `${at('binary.txt')}:2` },
    { name: 'eval -i UTF-16', args: ['eval', '-i', at('utf16.txt'), '-r', at('hyp.txt')], code: 1, pattern: /UTF-16LE/, where: at('utf16.txt') },
  ],
};

for (const [group, cases] of Object.entries(CASES)) {
  describe(group, () => {
    for (const c of cases) {
      test(c.name, async () => {
        const before = snapshot(work);
        const r = await runS2S(c.args, { input: c.stdin, timeoutMs: 120_000 });
        assertOneError(r, c.code, c.pattern, c.where);
        assert.deepEqual(snapshot(work), before, 'every file is as it was, and nothing was added');
      });
    }
  });
}

test('the inputs of the table are still in place (the snapshots compared real files)', () => {
  assert.ok(existsSync(at('ckpt-copy', 'last', 'src.vocab.json')));
  assert.equal(readFileSync(at('dir', 'notes.txt'), 'utf8'), 'a user file\n');
});
