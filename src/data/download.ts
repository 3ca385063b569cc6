/**
 * Getting a corpus onto disk: download (or import a local copy), verify the
 * checksum, unpack a .zip (stored or deflated members) or .gz, check it looks
 * like tab-separated pairs, and write it atomically with a SOURCE.json saying
 * where it came from. Reports progress through a callback; never prints.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../fs-atomic.ts';
import { basename, extname, join, resolve } from 'node:path';
import { crc32, gunzipSync, inflateRawSync } from 'node:zlib';
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
  const hint = 'download the file yourself and import it with: s2s data get cmn-eng --from FILE';
  let res: Response;
  try {
    res = await fetch(url, { headers: { 'user-agent': 's2s (https://github.com/; data get)' }, redirect: 'follow' });
  } catch (err) {
    throw new UserError(`cannot download: ${causeOf(err)}`, { where: url, hint });
  }
  if (!res.ok) {
    throw new UserError(`download failed: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, { where: url, hint });
  }
  const length = Number(res.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length : null;
  const chunks: Uint8Array[] = [];
  let received = 0;
  try {
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.length;
      onProgress?.(received, total);
    }
  } catch (err) {
    throw new UserError(`download interrupted after ${received} bytes: ${causeOf(err)}`, { where: url, hint });
  }
  if (total !== null && received !== total) {
    throw new UserError(`download incomplete: got ${received} of ${total} bytes`, { where: url, hint });
  }
  return Buffer.concat(chunks);
}

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
  encrypted: boolean;
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32LE(0) === LOCAL_SIGNATURE;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The entries of a zip archive, from its central directory (no zip64). */
export function readZipEntries(zip: Buffer, where: string): ZipEntry[] {
  const corrupt = (what: string): never => {
    throw new UserError(`not a readable zip archive: ${what}`, { where });
  };
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) corrupt('no end-of-central-directory record (truncated download?)');
  const count = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  if (offset === 0xffffffff || count === 0xffff) corrupt('zip64 archives are not supported');
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (offset + 46 > zip.length || zip.readUInt32LE(offset) !== CENTRAL_SIGNATURE) corrupt('bad central directory');
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    entries.push({
      name: zip.toString('utf8', offset + 46, offset + 46 + nameLength),
      method: zip.readUInt16LE(offset + 10),
      crc32: zip.readUInt32LE(offset + 16),
      compressedSize: zip.readUInt32LE(offset + 20),
      size: zip.readUInt32LE(offset + 24),
      localHeaderOffset: zip.readUInt32LE(offset + 42),
      encrypted: (zip.readUInt16LE(offset + 8) & 1) === 1,
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The uncompressed bytes of one entry, CRC-checked. */
export function extractZipEntry(zip: Buffer, entry: ZipEntry, where: string): Buffer {
  const at = `${where}:${entry.name}`;
  if (entry.encrypted) throw new UserError('encrypted zip entries are not supported', { where: at });
  const local = entry.localHeaderOffset;
  if (local + 30 > zip.length || zip.readUInt32LE(local) !== LOCAL_SIGNATURE) {
    throw new UserError('not a readable zip archive: bad local header', { where: at });
  }
  const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
  const raw = zip.subarray(start, start + entry.compressedSize);
  let data: Buffer;
  if (entry.method === 0) data = raw;
  else if (entry.method === 8) {
    try {
      data = inflateRawSync(raw);
    } catch (err) {
      throw new UserError(`corrupt deflate data: ${(err as Error).message}`, { where: at });
    }
  } else throw new UserError(`unsupported zip compression method ${entry.method} (only stored and deflate)`, { where: at });
  if (data.length !== entry.size || crc32(data) >>> 0 !== entry.crc32 >>> 0) {
    throw new UserError('zip entry fails its CRC check (corrupt or truncated archive)', { where: at });
  }
  return data;
}

/** Picks the member holding the pairs: `member` by base name, else the only .txt/.tsv entry. */
export function chooseZipMember(entries: ZipEntry[], member: string | null, where: string): ZipEntry {
  const files = entries.filter((e) => !e.name.endsWith('/'));
  const named = member ? files.find((e) => basename(e.name) === member) : undefined;
  if (named) return named;
  const texts = files.filter((e) => ['.txt', '.tsv'].includes(extname(e.name).toLowerCase()));
  if (texts.length === 1) return texts[0]!;
  throw new UserError(
    `cannot tell which file in the archive holds the pairs${member ? ` (no ${member})` : ''}`,
    { where, hint: `the archive has: ${files.map((e) => e.name).join(', ') || 'no files'}` },
  );
}

/** The corpus bytes inside a .zip, .gz or plain file (told apart by their first bytes). */
export function unpackCorpus(bytes: Buffer, member: string | null, where: string): { data: Buffer; member: string | null } {
  if (isZip(bytes)) {
    const entry = chooseZipMember(readZipEntries(bytes, where), member, where);
    return { data: extractZipEntry(bytes, entry, where), member: entry.name };
  }
  if (isGzip(bytes)) {
    try {
      return { data: gunzipSync(bytes), member: null };
    } catch (err) {
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

function readLocal(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? 'file not found' : `cannot read file (${code})`, { where: file });
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
  const fetched = opts.from ? readLocal(opts.from) : await download(url!, opts.onProgress);
  const digest = sha256Hex(fetched);
  if (opts.sha256 && opts.sha256.toLowerCase() !== digest) {
    throw new UserError(`checksum mismatch: expected sha256 ${opts.sha256.toLowerCase()}, got ${digest}`, {
      where: opts.from ?? url!,
      hint: 'the file changed or the download was corrupted; nothing was written',
    });
  }
  const where = opts.from ?? url!;
  const { data, member } = unpackCorpus(fetched, spec.member, where);
  const lines = countPairs(data, member ? `${where}:${member}` : where);
  const outDir = resolve(opts.outDir ?? spec.dir);
  const path = join(outDir, spec.file);
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
