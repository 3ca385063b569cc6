/**
 * Safe writes: temporaries are exclusive and never follow links, directories
 * are created without retry loops, and a set of files replaces only what s2s
 * wrote (its `.s2s-files.json`), as a whole.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { UserError } from '../../src/errors.ts';
import { ioError, makeDirs, OWNED_MANIFEST, tempPath, writeFileAtomic, writeFileSetAtomic, writeNewFile } from '../../src/fs-atomic.ts';
import { checkInputFile, checkOutputFile, checkOutputSetDir } from '../../src/user-paths.ts';

const dir = mkdtempSync(join(tmpdir(), 's2s-fs-atomic-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const userError = (pattern: RegExp, where?: string) => (err: unknown) => {
  assert.ok(err instanceof UserError, String(err));
  assert.match(err.message, pattern);
  if (where !== undefined) assert.equal(err.where, where);
  return true;
};

describe('temporary files and links', () => {
  test('temporary names are unpredictable', () => {
    assert.notEqual(tempPath(join(dir, 'a')), tempPath(join(dir, 'a')));
  });

  test('writeNewFile never writes through a planted link or over a file', () => {
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'keep');
    const planted = join(dir, 'planted');
    symlinkSync(victim, planted);
    assert.throws(() => writeNewFile(planted, 'evil'), /EEXIST/);
    assert.throws(() => writeNewFile(victim, 'evil'), /EEXIST/);
    assert.equal(readFileSync(victim, 'utf8'), 'keep');
  });

  test('writeFileAtomic replaces a link at the target itself, not the file it points to', () => {
    const victim = join(dir, 'victim2.txt');
    writeFileSync(victim, 'keep');
    const out = join(dir, 'out-link.json');
    symlinkSync(victim, out);
    writeFileAtomic(out, 'new');
    assert.equal(readFileSync(victim, 'utf8'), 'keep');
    assert.equal(readFileSync(out, 'utf8'), 'new');
  });

  test('writeFileAtomic refuses a directory or a device, naming the path; no temporary file is left', () => {
    const d = join(dir, 'is-dir');
    mkdirSync(d);
    assert.throws(() => writeFileAtomic(d, 'x'), userError(/is a directory/, d));
    assert.throws(() => writeFileAtomic('/dev/null', 'x'), userError(/not a regular file/, '/dev/null'));
    assert.deepEqual(readdirSync(d), []);
  });
});

describe('directories', () => {
  test('makeDirs creates missing parents, and fails once (no retry) where it cannot', () => {
    makeDirs(join(dir, 'a', 'b', 'c'));
    assert.deepEqual(readdirSync(join(dir, 'a', 'b')), ['c']);
    assert.throws(() => makeDirs('/proc/self/s2s-test/x'), UserError);
    writeFileSync(join(dir, 'file'), '');
    assert.throws(() => makeDirs(join(dir, 'file', 'sub')), userError(/is not a directory/));
  });

  test('ioError turns an errno into one line naming the path', () => {
    const err = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC', path: '/x' });
    assert.throws(() => {
      throw ioError(err, 'write');
    }, userError(/^cannot write: no space left on the device \(ENOSPC\)$/, '/x'));
    const plain = new TypeError('bug');
    assert.equal(ioError(plain, 'write'), plain);
  });
});

describe('a set of files', () => {
  test('is written whole, with a manifest, and replaces only a set s2s wrote', () => {
    const out = join(dir, 'set');
    writeFileSetAtomic(out, { 'a.json': '1', 'b.json': '2' });
    assert.deepEqual(readdirSync(out).sort(), [OWNED_MANIFEST, 'a.json', 'b.json']);
    writeFileSetAtomic(out, { 'a.json': '3', 'b.json': '4' });
    assert.equal(readFileSync(join(out, 'a.json'), 'utf8'), '3');
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.set')), [], 'no temporary directories left');
    writeFileSync(join(out, 'mine.txt'), 'user file');
    assert.throws(() => writeFileSetAtomic(out, { 'a.json': '5' }), userError(/holds files s2s did not write \(mine\.txt\)/, out));
    assert.equal(readFileSync(join(out, 'a.json'), 'utf8'), '3');
    assert.equal(readFileSync(join(out, 'mine.txt'), 'utf8'), 'user file');
  });

  test('never goes into a checkpoint', () => {
    const ckpt = join(dir, 'ckpt');
    mkdirSync(ckpt);
    writeFileSync(join(ckpt, 'checkpoint.json'), '{}');
    writeFileSync(join(ckpt, 'src.vocab.json'), 'original');
    assert.throws(() => writeFileSetAtomic(ckpt, { 'src.vocab.json': 'x' }), userError(/is an s2s checkpoint/, ckpt));
    assert.throws(() => checkOutputSetDir(ckpt, '--out'), userError(/is an s2s checkpoint/, ckpt));
    assert.equal(readFileSync(join(ckpt, 'src.vocab.json'), 'utf8'), 'original');
  });

  test('fills an empty directory', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    writeFileSetAtomic(empty, { 'a.json': '1' });
    assert.equal(readFileSync(join(empty, 'a.json'), 'utf8'), '1');
  });
});

describe('up-front path checks', () => {
  test('inputs: missing, a directory', () => {
    assert.throws(() => checkInputFile(join(dir, 'nope')), userError(/file not found/, join(dir, 'nope')));
    assert.throws(() => checkInputFile(dir, '--input'), userError(/--input: is a directory/, dir));
  });

  test('outputs: a directory, a device, under a file, unwritable', () => {
    assert.throws(() => checkOutputFile(dir, '--output'), userError(/the output is a directory/, dir));
    assert.throws(() => checkOutputFile('/dev/null', '--output'), userError(/not a regular file/, '/dev/null'));
    writeFileSync(join(dir, 'plain'), '');
    assert.throws(() => checkOutputFile(join(dir, 'plain', 'x.txt')), userError(/is not a directory/));
    assert.throws(() => checkOutputFile('/proc/self/x/y.txt'), userError(/not writable/));
    checkOutputFile(join(dir, 'new', 'deeper', 'x.txt'));
  });
});
