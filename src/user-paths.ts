/**
 * Up-front checks of the paths a user names, so that a bad one is one line
 * naming it before any expensive work, not an error after it. Each returns
 * nothing or throws a UserError whose `where` is the path (or the flag).
 */
import { accessSync, constants, mkdtempSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError } from './errors.ts';
import { errnoReason, ioError, isErrno, whyNotReplaceable } from './fs-atomic.ts';

/** An input file: exists, is not a directory, and can be read. `flag` is added to the message when given. */
export function checkInputFile(path: string, flag?: string): void {
  const label = flag ? `${flag}: ` : '';
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${label}file not found`, { where: path });
    throw ioError(err, 'read the file', path);
  }
  if (st.isDirectory()) throw new UserError(`${label}is a directory, expected a file`, { where: path });
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    throw ioError(err, 'read the file', path);
  }
}

/** The nearest existing ancestor of `path` (itself included); it must be a directory. */
function existingAncestor(path: string, where: string): string {
  let at = resolve(path);
  for (;;) {
    try {
      const st = statSync(at);
      if (!st.isDirectory()) throw new UserError(`cannot create the output directory: ${at} is not a directory`, { where, exitCode: 2 });
      return at;
    } catch (err) {
      if (err instanceof UserError) throw err;
      if (isErrno(err) && err.code !== 'ENOENT' && err.code !== 'ENOTDIR') throw ioError(err, 'use the output path', where);
      const up = dirname(at);
      if (up === at) throw new UserError('cannot create the output directory: no existing parent directory', { where, exitCode: 2 });
      at = up;
    }
  }
}

/** Proves that files can be created in `dir` (write permission, a writable file system) by creating one. */
function probeWritable(dir: string, where: string): void {
  try {
    accessSync(dir, constants.W_OK);
    rmdirSync(mkdtempSync(join(dir, '.s2s-probe-')));
  } catch (err) {
    const reason = isErrno(err) ? errnoReason(err) : String(err);
    throw new UserError(`the output directory is not writable: ${reason}`, { where: where === dir ? dir : `${where}; ${dir}` });
  }
}

/**
 * An output file: if it exists it is a regular file (never a directory or a
 * device), and its directory exists or can be created, and is writable.
 */
export function checkOutputFile(path: string, flag?: string): void {
  const label = flag ? `${flag}: ` : '';
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    if (isErrno(err) && err.code !== 'ENOENT' && err.code !== 'ENOTDIR') throw ioError(err, 'use the output file', path);
  }
  if (st?.isDirectory()) throw new UserError(`${label}the output is a directory, expected a file`, { where: path, exitCode: 2 });
  if (st && !st.isFile()) throw new UserError(`${label}the output exists and is not a regular file`, { where: path, exitCode: 2 });
  probeWritable(existingAncestor(dirname(path), path), path);
}

/**
 * An output directory for a set of files s2s owns: missing, empty, or written
 * by s2s before (see whyNotReplaceable); its parent can be created and written.
 */
export function checkOutputSetDir(path: string, flag?: string): void {
  const why = whyNotReplaceable(resolve(path));
  if (why) {
    throw new UserError(`${flag ? `${flag}: ` : ''}refusing to replace the output directory: it ${why}`, {
      where: path,
      hint: 'choose a new directory',
      exitCode: 2,
    });
  }
  probeWritable(existingAncestor(dirname(resolve(path)), path), path);
}

/** A directory s2s will create or write into: its nearest existing ancestor is a directory in which files can be created. */
export function checkWritableDir(path: string, flag?: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    // A missing path, or one under a file (ENOTDIR: reported below, naming the file), is for existingAncestor to judge.
    if (isErrno(err) && err.code !== 'ENOENT' && err.code !== 'ENOTDIR') throw ioError(err, 'use the output directory', path);
  }
  if (st && !st.isDirectory()) throw new UserError(`${flag ? `${flag} ` : ''}exists and is not a directory`, { where: path, exitCode: 2 });
  probeWritable(existingAncestor(path, path), path);
}
