/**
 * Writes that never leave half a file behind, never follow a planted link,
 * and never replace what s2s cannot prove it wrote.
 *
 * - Temporary files are created with O_CREAT|O_EXCL|O_NOFOLLOW under a random
 *   name in the destination directory, then renamed over the target.
 * - Directories are created one level at a time, each attempted once: no
 *   retry loop (a recursive mkdir under /proc never ends).
 * - A multi-file output (a vocabulary set) is written into a temporary
 *   directory beside it and renamed into place as a whole; it replaces an
 *   existing directory only when every entry there is listed in the
 *   `.s2s-files.json` manifest an earlier run wrote.
 * - Every filesystem error becomes a UserError naming the path and the reason.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  chmodSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from './errors.ts';

/** What an errno means, in words a user can act on. */
const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EISDIR: 'is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  EEXIST: 'already exists',
  ENOENT: 'no such file or directory',
  ELOOP: 'is a symbolic link (or a loop of them)',
  ENAMETOOLONG: 'name too long',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  ENOTEMPTY: 'directory not empty',
  EXDEV: 'on another file system',
  ETXTBSY: 'file busy',
  EBUSY: 'device or resource busy',
  EINVAL: 'invalid argument',
  EPIPE: 'broken pipe',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
};

/** A Node.js system error; `dest` is set by rename, link and copy. */
export type ErrnoError = NodeJS.ErrnoException & { dest?: string };

export function isErrno(err: unknown): err is ErrnoError {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((err as NodeJS.ErrnoException).code!);
}

/** The reason an errno error gives, e.g. `no space left on the device (ENOSPC)`. */
export function errnoReason(err: NodeJS.ErrnoException): string {
  const code = err.code!;
  return `${REASONS[code] ?? code.toLowerCase()} (${code})`;
}

/**
 * A filesystem error as a UserError: `cannot <action>: <reason>` naming
 * `where` (default: the path the error names). Anything else is returned as is.
 */
export function ioError(err: unknown, action: string, where?: string): unknown {
  if (err instanceof UserError || !isErrno(err)) return err;
  return new UserError(`cannot ${action}: ${errnoReason(err)}`, { where: where ?? err.path ?? err.dest });
}

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
/** Create a new file, failing if anything (a file, a link) is already there. */
const CREATE_EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW;

/** A fresh, unpredictable name beside `path`: `.<name>.tmp-<pid>-<random>`. */
export function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Creates `dir` and its missing parents, one level at a time and each once,
 * never a retry loop. Failures are the file system's own errors (errno), or
 * ENOTDIR when an existing ancestor is not a directory.
 */
export function makeDirsOnce(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  for (;;) {
    try {
      if (!statSync(at).isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR', path: at, syscall: 'mkdir' });
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      missing.push(at);
      const up = dirname(at);
      if (up === at) throw err;
      at = up;
    }
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(d).isDirectory()) continue;
      throw err;
    }
  }
}

/** makeDirsOnce with errors as a UserError naming `where` (default `dir`). */
export function makeDirs(dir: string, where = dir): void {
  try {
    makeDirsOnce(dir);
  } catch (err) {
    if (isErrno(err) && err.code === 'ENOTDIR') {
      throw new UserError(`cannot create the directory: ${err.path ?? 'a parent'} is not a directory`, { where });
    }
    throw ioError(err, 'create the directory', where);
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.byteLength; ) off += writeSync(fd, data, off, data.byteLength - off);
}

/** Writes `data` to a new file at `path` (which must not exist), flushed to disk; never follows a link. */
export function writeNewFile(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = openSync(path, CREATE_EXCLUSIVE, 0o666);
  try {
    writeAll(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Refuses an existing output that is not a regular file (a directory, a device, a FIFO). */
function checkReplaceable(path: string, where: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  if (st.isDirectory()) throw new UserError('cannot write: is a directory', { where });
  if (!st.isFile()) throw new UserError('cannot write: exists and is not a regular file', { where });
}

/**
 * Writes via an exclusively created temporary file in the same directory and a
 * rename, so readers never see half a file and a planted link is never followed.
 * Errors are UserErrors naming `path`; the previous file, if any, is untouched.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  makeDirs(dirname(path), path);
  checkReplaceable(path, path);
  const tmp = tempPath(path);
  try {
    writeNewFile(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw ioError(err, 'write', path);
  }
}

/** The manifest s2s writes into a directory of outputs it owns. */
export const OWNED_MANIFEST = '.s2s-files.json';

interface OwnedManifest {
  format: 's2s-files';
  files: string[];
}

/** The entries a directory's `.s2s-files.json` lists, or null when it has none (or an unreadable one). */
function ownedFiles(dir: string): Set<string> | null {
  try {
    const m = JSON.parse(readFileSync(join(dir, OWNED_MANIFEST), 'utf8')) as OwnedManifest;
    if (m.format !== 's2s-files' || !Array.isArray(m.files) || !m.files.every((f) => typeof f === 'string')) return null;
    return new Set([...m.files, OWNED_MANIFEST]);
  } catch {
    return null;
  }
}

/**
 * Why `dir` cannot be replaced by a set of outputs, or null when it can: it is
 * missing or empty, or every entry is listed in its `.s2s-files.json`.
 */
export function whyNotReplaceable(dir: string): string | null {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return `cannot use the directory: ${errnoReason(err as NodeJS.ErrnoException)}`;
  }
  if (!st.isDirectory()) return 'exists and is not a directory';
  const entries = readdirSync(dir);
  if (entries.length === 0) return null;
  if (entries.includes('checkpoint.json')) return 'is an s2s checkpoint; writing into it would make it unreadable';
  const owned = ownedFiles(dir);
  const foreign = entries.filter((e) => !owned?.has(e));
  if (foreign.length === 0) return null;
  const shown = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? ', …' : '');
  return `holds files s2s did not write (${shown})`;
}

/** Whether a process with this id exists (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Cleans up after a process killed while writing `target`'s set: its
 * `.<name>.tmp-<pid>[-…]` directories are removed, and a `.<name>.old-<pid>[-…]`
 * (the previous set, moved aside just before the new one was renamed in) is
 * put back if `target` is missing, else removed. Only names of processes that
 * are gone are touched, so a concurrent writer is left alone.
 */
export function recoverInterrupted(target: string): void {
  const base = basename(target);
  let names: string[];
  try {
    names = readdirSync(dirname(target));
  } catch {
    return;
  }
  for (const name of names.sort()) {
    const m = /^\.(.+)\.(tmp|old)-(\d+)(?:-[^/]*)?$/.exec(name);
    if (!m || m[1] !== base) continue;
    const pid = Number(m[3]);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(dirname(target), name);
    if (m[2] === 'old' && !existsSync(target)) renameSync(path, target);
    else rmSync(path, { recursive: true, force: true });
  }
}

/**
 * Writes `files` (name → contents) as one set into the directory `dir`: into a
 * temporary directory beside it, then renamed into place. An existing `dir` is
 * replaced only when whyNotReplaceable allows it; a crash leaves either the old
 * set or the new one, never a mixture.
 */
export function writeFileSetAtomic(dir: string, files: Record<string, string | Uint8Array>, where = dir): void {
  const target = resolve(dir);
  recoverInterrupted(target);
  const why = whyNotReplaceable(target);
  if (why) throw new UserError(`refusing to replace the output directory: it ${why}`, { where, exitCode: 2 });
  makeDirs(dirname(target), where);
  let tmp: string | null = null;
  let old: string | null = null;
  try {
    tmp = mkdtempSync(join(dirname(target), `.${basename(target)}.tmp-${process.pid}-`));
    for (const [name, data] of Object.entries(files)) writeNewFile(join(tmp, name), data);
    const manifest: OwnedManifest = { format: 's2s-files', files: Object.keys(files) };
    writeNewFile(join(tmp, OWNED_MANIFEST), `${JSON.stringify(manifest)}\n`);
    chmodSync(tmp, 0o777 & ~process.umask());
    try {
      renameSync(tmp, target); // replaces a missing or empty directory in one step
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      old = join(dirname(target), `.${basename(target)}.old-${process.pid}-${randomBytes(6).toString('hex')}`);
      renameSync(target, old);
      renameSync(tmp, target);
    }
    tmp = null;
    if (old) rmSync(old, { recursive: true, force: true });
  } catch (err) {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    throw ioError(err, 'write the output directory', where);
  }
}
