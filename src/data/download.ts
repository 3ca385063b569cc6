/**
 * Getting a corpus onto disk: download (or import a local copy), verify the
 * checksum, unpack a .zip (stored or deflated members) or .gz, check it looks
 * like tab-separated pairs, and write it atomically with a SOURCE.json saying
 * where it came from. Reports progress through a callback; never prints.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ioError, writeFileAtomic } from '../fs-atomic.ts';
import { checkOutputFile } from '../user-paths.ts';
import { basename, extname, join, resolve } from 'node:path';
import { crc32, gunzipSync } from 'node:zlib';
import yauzl from 'yauzl';
import { UserError } from '../errors.ts';
import { PROJECT_ROOT } from '../project.ts';

export interface CorpusSpec {
  name: string;
  description: string;
  /** Where it lives: downloaded corpora under the working directory, shipped ones in s2s's own directory. */
  dir: string;
  file: string;
  /** Where `data get` downloads it from; null when it ships with s2s. */
  url: string | null;
  /** The member of the downloaded archive holding the pairs. */
  member: string | null;
}

export const CORPORA: readonly CorpusSpec[] = [
  {
    name: 'cmn-eng',
    description: 'Tatoeba English-Chinese sentence pairs (manythings.org export, CC-BY 2.0 FR)',
    dir: 'data/cmn-eng',
    file: 'cmn-eng.tsv',
    url: 'https://www.manythings.org/anki/cmn-eng.zip',
    member: 'cmn.txt',
  },
  {
    name: 'toy',
    description: 'a tiny synthetic corpus shipped with s2s, for tests and configs/tiny.yaml',
    dir: resolve(PROJECT_ROOT, 'data/toy'),
    file: 'toy.tsv',
    url: null,
    member: null,
  },
];

export function corpusSpec(name: string): CorpusSpec {
  const spec = CORPORA.find((c) => c.name === name);
  if (!spec) {
    throw new UserError(`unknown corpus '${name}'`, {
      where: 'data get',
      hint: `known corpora: ${CORPORA.map((c) => c.name).join(', ')}`,
      exitCode: 2,
    });
  }
  return spec;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Called as bytes arrive; `total` is null when the server does not say. */
export type ProgressCallback = (received: number, total: number | null) => void;

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

/** Fetches `url` into memory. HTTP errors and network failures are UserErrors naming the URL. */
export async function download(url: string, onProgress?: ProgressCallback): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { 'user-agent': 's2s (https://github.com/; data get)' }, redirect: 'follow' });
  } catch (err) {
    throw new UserError(`cannot download: ${causeOf(err)}`, { where: url, code: 'DOWNLOAD' });
  }
  if (!res.ok) {
    throw new UserError(`download failed: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, { where: url, code: 'DOWNLOAD' });
  }
  const length = Number(res.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length : null;
  const tooBig = `the download is larger than ${MAX_DOWNLOAD_BYTES / 2 ** 30} GiB`;
  if (total !== null && total > MAX_DOWNLOAD_BYTES) throw new UserError(tooBig, { where: url, code: 'DOWNLOAD' });
  const chunks: Uint8Array[] = [];
  let received = 0;
  try {
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.length;
      if (received > MAX_DOWNLOAD_BYTES) {
        await reader.cancel();
        throw new UserError(tooBig, { where: url, code: 'DOWNLOAD' });
      }
      onProgress?.(received, total);
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`download interrupted after ${received} bytes: ${causeOf(err)}`, { where: url, code: 'DOWNLOAD' });
  }
  if (total !== null && received !== total) {
    throw new UserError(`download incomplete: got ${received} of ${total} bytes`, { where: url, code: 'DOWNLOAD' });
  }
  return Buffer.concat(chunks);
}

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  size: number;
  encrypted: boolean;
}

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * The most an archive of `archiveBytes` may unpack to: text deflates about
 * 3–5×, so 20× plus 16 MiB is generous for any corpus and stops a "zip bomb"
 * (a few hundred KB that inflate to gigabytes) long before memory runs out.
 */
export function maxUnpackedBytes(archiveBytes: number): number {
  return Math.min(2 ** 31 - 1, 16 * 2 ** 20 + 20 * archiveBytes);
}

/** Downloads larger than this are refused (the corpora s2s knows are a few MB). */
export const MAX_DOWNLOAD_BYTES = 2 ** 30;

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function openZip(zip: Buffer, where: string): Promise<yauzl.ZipFile> {
  return new Promise((resolvePromise, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false }, (err, zipfile) => {
      if (err) reject(new UserError(`not a readable zip archive: ${err.message}`, { where }));
      else resolvePromise(zipfile);
    });
  });
}

/** The entries of a zip archive (read by yauzl from its central directory), and the open archive. */
async function zipEntries(zip: Buffer, where: string): Promise<{ zipfile: yauzl.ZipFile; entries: yauzl.Entry[] }> {
  const zipfile = await openZip(zip, where);
  const entries: yauzl.Entry[] = [];
  await new Promise<void>((resolvePromise, reject) => {
    zipfile.on('entry', (entry: yauzl.Entry) => {
      entries.push(entry);
      zipfile.readEntry();
    });
    zipfile.on('end', () => resolvePromise());
    zipfile.on('error', (err: Error) => reject(new UserError(`not a readable zip archive: ${err.message}`, { where })));
    zipfile.readEntry();
  });
  return { zipfile, entries };
}

function entryInfo(e: yauzl.Entry): ZipEntry {
  return {
    name: e.fileName,
    method: e.compressionMethod,
    compressedSize: e.compressedSize,
    size: e.uncompressedSize,
    encrypted: e.isEncrypted(),
  };
}

/** The entries of a zip archive. */
export async function readZipEntries(zip: Buffer, where: string): Promise<ZipEntry[]> {
  const { zipfile, entries } = await zipEntries(zip, where);
  zipfile.close();
  return entries.map(entryInfo);
}

/**
 * One entry's bytes, streamed: refused before inflating when its declared size
 * exceeds `limit`, and stopped as soon as the inflated bytes do (a declared
 * size can lie). yauzl checks the size against the declared one; the CRC is checked here.
 */
function extractEntry(zipfile: yauzl.ZipFile, entry: yauzl.Entry, limit: number, where: string): Promise<Buffer> {
  const at = `${where}:${entry.fileName}`;
  if (entry.isEncrypted()) return Promise.reject(new UserError('encrypted zip entries are not supported', { where: at }));
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    return Promise.reject(new UserError(`unsupported zip compression method ${entry.compressionMethod} (only stored and deflate)`, { where: at }));
  }
  const tooBig = (size: string): UserError =>
    new UserError(`the archive member unpacks to ${size}, more than the ${mib(limit)} allowed for a ${mib(zipfile.fileSize)} archive`, { where: at });
  if (entry.uncompressedSize > limit) return Promise.reject(tooBig(mib(entry.uncompressedSize)));
  return new Promise((resolvePromise, reject) => {
    zipfile.openReadStream(entry, (err, stream) => {
      if (err) return reject(new UserError(`not a readable zip archive: ${err.message}`, { where: at }));
      const chunks: Buffer[] = [];
      let bytes = 0;
      let crc = 0;
      stream.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        crc = crc32(chunk, crc);
        if (bytes > limit) {
          stream.destroy(tooBig(`more than ${mib(limit)}`));
          return;
        }
        chunks.push(chunk);
      });
      stream.on('error', (e: Error) =>
        reject(e instanceof UserError ? e : new UserError(`corrupt zip member: ${e.message}`, { where: at })),
      );
      stream.on('end', () => {
        // yauzl checks sizes, not checksums.
        if (crc >>> 0 !== entry.crc32 >>> 0) {
          reject(new UserError('zip entry fails its CRC check (corrupt or truncated archive)', { where: at }));
        } else resolvePromise(Buffer.concat(chunks));
      });
    });
  });
}

/** Picks the member holding the pairs: `member` by base name, else the only .txt/.tsv entry. */
export function chooseZipMember<E extends { fileName: string } | { name: string }>(entries: E[], member: string | null, where: string): E {
  const nameOf = (e: E): string => ('fileName' in e ? e.fileName : e.name);
  const files = entries.filter((e) => !nameOf(e).endsWith('/'));
  const named = member ? files.find((e) => basename(nameOf(e)) === member) : undefined;
  if (named) return named;
  const texts = files.filter((e) => ['.txt', '.tsv'].includes(extname(nameOf(e)).toLowerCase()));
  if (texts.length === 1) return texts[0]!;
  throw new UserError(
    `cannot tell which file in the archive holds the pairs${member ? ` (no ${member})` : ''}`,
    { where, hint: `the archive has: ${files.map(nameOf).join(', ') || 'no files'}` },
  );
}

/**
 * The corpus bytes inside a .zip, .gz or plain file (told apart by their first
 * bytes), never more than maxUnpackedBytes of the archive.
 */
export async function unpackCorpus(bytes: Buffer, member: string | null, where: string): Promise<{ data: Buffer; member: string | null }> {
  const limit = maxUnpackedBytes(bytes.length);
  if (isZip(bytes)) {
    const { zipfile, entries } = await zipEntries(bytes, where);
    try {
      const entry = chooseZipMember(entries, member, where);
      return { data: await extractEntry(zipfile, entry, limit, where), member: entry.fileName };
    } finally {
      zipfile.close();
    }
  }
  if (isGzip(bytes)) {
    try {
      return { data: gunzipSync(bytes, { maxOutputLength: limit }), member: null };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new UserError(`the gzip file unpacks to more than the ${mib(limit)} allowed for a ${mib(bytes.length)} file`, { where });
      }
      throw new UserError(`corrupt gzip data: ${(err as Error).message}`, { where });
    }
  }
  return { data: bytes, member: null };
}

/** Checks the text has tab-separated pairs; returns the number of non-empty lines. */
export function countPairs(data: Buffer, where: string): number {
  const text = data.toString('utf8');
  if (text.includes('\uFFFD')) throw new UserError('the corpus is not valid UTF-8 text', { where });
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const pairs = lines.filter((l) => l.split('\t').length >= 2).length;
  if (pairs === 0) {
    throw new UserError('no tab-separated sentence pairs found (expected English<TAB>translation lines)', { where });
  }
  return lines.length;
}


export interface SourceRecord {
  corpus: string;
  /** The URL downloaded, or the absolute path imported. */
  source: string;
  /** The archive member extracted, if any. */
  member: string | null;
  /** Size and sha256 of what was fetched (the archive, before unpacking). */
  bytes: number;
  sha256: string;
  /** Non-empty lines written. */
  lines: number;
  fetchedAt: string;
}

export interface GetOptions {
  /** Import this local file (.tsv/.txt, .gz or .zip) instead of downloading. */
  from?: string;
  url?: string;
  /** Output directory; default the corpus's dir under the working directory. */
  outDir?: string;
  /** Expected sha256 of the fetched bytes. */
  sha256?: string;
  onProgress?: ProgressCallback;
  /** Clock for SOURCE.json, replaceable in tests. */
  now?: () => Date;
}

export interface GetResult {
  path: string;
  sourcePath: string;
  record: SourceRecord;
}

/** A local archive or corpus: a regular file (not a FIFO or a device) of at most MAX_DOWNLOAD_BYTES. */
function readLocal(file: string): Buffer {
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new UserError('is a directory, expected a file', { where: file });
    if (!st.isFile()) throw new UserError('not a regular file (a device, FIFO or socket)', { where: file });
    if (st.size > MAX_DOWNLOAD_BYTES) throw new UserError(`larger than ${MAX_DOWNLOAD_BYTES / 2 ** 30} GiB`, { where: file });
    return readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError('file not found', { where: file });
    throw ioError(err, 'read the file', file);
  }
}

/** Downloads or imports a corpus, verifies and unpacks it, and writes `<out>/<file>` plus `<out>/SOURCE.json`. */
export async function getCorpus(name: string, opts: GetOptions = {}): Promise<GetResult> {
  const spec = corpusSpec(name);
  const url = opts.url ?? spec.url;
  if (!opts.from && !url) {
    throw new UserError(`'${name}' ships with s2s in ${join(spec.dir, spec.file)}; there is nothing to download`, {
      where: 'data get',
      hint: 'use --from FILE to import a corpus of your own',
    });
  }
  const source = opts.from ? resolve(opts.from) : url!;
  const outDir = resolve(opts.outDir ?? spec.dir);
  const path = join(outDir, spec.file);
  // Before downloading: both outputs can be written.
  checkOutputFile(path);
  checkOutputFile(join(outDir, 'SOURCE.json'));
  const fetched = opts.from ? readLocal(opts.from) : await download(url!, opts.onProgress);
  const digest = sha256Hex(fetched);
  if (opts.sha256 && opts.sha256.toLowerCase() !== digest) {
    throw new UserError(`checksum mismatch: expected sha256 ${opts.sha256.toLowerCase()}, got ${digest}`, {
      where: opts.from ?? url!,
      hint: 'the file changed or the download was corrupted; nothing was written',
    });
  }
  const where = opts.from ?? url!;
  const { data, member } = await unpackCorpus(fetched, spec.member, where);
  const lines = countPairs(data, member ? `${where}:${member}` : where);
  const record: SourceRecord = {
    corpus: spec.name,
    source,
    member,
    bytes: fetched.length,
    sha256: digest,
    lines,
    fetchedAt: (opts.now ?? (() => new Date()))().toISOString(),
  };
  writeFileAtomic(path, data);
  const sourcePath = join(outDir, 'SOURCE.json');
  writeFileAtomic(sourcePath, `${JSON.stringify(record, null, 2)}\n`);
  return { path, sourcePath, record };
}
