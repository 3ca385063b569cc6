/**
 * Reading parallel corpora, streamed: TSV/CSV files (through csv-parse) and
 * plain line-aligned `--src`/`--tgt` files, optionally gzipped.
 *
 * Files are read as bytes and split into physical lines first, so that every
 * line can be checked for valid UTF-8 (and named when it is not), a UTF-8 BOM
 * and Windows line endings can be dropped, and every message can give the
 * 1-based physical line number. Malformed rows are reported to a SkipLog,
 * which counts them or, in strict mode, throws the first as a UserError.
 */
import { isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import { UserError, usageError } from '../errors.ts';
import type { DataConfig } from '../config.ts';
import { maybeSpace } from './token-scan.ts';

/** One sentence pair as read; `origin` is `file:line` (the source file's line for plain files). */
export interface CorpusPair {
  src: string;
  tgt: string;
  origin: string;
}

/** A malformed row: `where` is `file:line`, `reason` e.g. `missing target column`. */
export interface Skip {
  where: string;
  reason: string;
}

/** Collects malformed rows: counts them and keeps the first, or throws it when strict. */
export class SkipLog {
  count = 0;
  first: Skip | null = null;

  constructor(readonly strict: boolean) {}

  add(skip: Skip): void {
    if (this.strict) {
      throw new UserError(skip.reason, {
        where: skip.where,
        hint: 'fix or remove the row, or run without --strict to skip malformed rows',
      });
    }
    this.count += 1;
    this.first ??= skip;
  }
}

/** `skipped 3 malformed rows (first: data/x.tsv:17: missing target column)`, or null when nothing was skipped. */
export function formatSkipped(count: number, first: string | null): string | null {
  if (count === 0) return null;
  if (count === 1) return `skipped 1 malformed row (${first})`;
  return `skipped ${count} malformed rows (first: ${first})`;
}

export function formatSkip(skip: Skip): string {
  return `${skip.where}: ${skip.reason}`;
}

// ---------------------------------------------------------------- choosing columns and delimiters

export interface ColumnSpec {
  src: number;
  tgt: number;
}

function isEnglish(lang: string): boolean {
  return /^(en|eng)([-_].*)?$/i.test(lang);
}

/**
 * The TSV/CSV columns of each side. Unless configured, English is column 0 and
 * the other language column 1 (a Tatoeba export), so zh → en reads the same
 * files with the columns swapped; with no English side, source 0 and target 1.
 */
export function corpusColumns(data: Pick<DataConfig, 'srcCol' | 'tgtCol' | 'srcLang' | 'tgtLang'>): ColumnSpec {
  const englishTarget = isEnglish(data.tgtLang) && !isEnglish(data.srcLang);
  const src = data.srcCol ?? (englishTarget ? 1 : 0);
  const tgt = data.tgtCol ?? (englishTarget ? 0 : 1);
  if (src === tgt) {
    throw usageError(`source and target are both column ${src}`, '--tgt-col', 'set both --src-col and --tgt-col');
  }
  return { src, tgt };
}

/** `a.tsv.gz` → `.tsv`: the extension that says what the (decompressed) file holds. */
export function innerExtension(file: string): string {
  const name = isGzipped(file) ? file.slice(0, -'.gz'.length) : file;
  return extname(name).toLowerCase();
}

export function isGzipped(file: string): boolean {
  return file.toLowerCase().endsWith('.gz');
}

/** Comma for `.csv`, tab for everything else (`.tsv`, and `.txt` as in manythings.org's exports). */
export function delimiterFor(file: string, configured: string | null): string {
  if (configured !== null) return configured;
  return innerExtension(file) === '.csv' ? ',' : '\t';
}

// ---------------------------------------------------------------- bytes and lines

function fileError(err: unknown, file: string): unknown {
  // A UserError (UTF-16, a binary file) already names its file; its `code` is not an errno.
  if (err instanceof UserError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new UserError('file not found', { where: file, code: 'NOT_FOUND' });
  if (code === 'EISDIR') return new UserError('is a directory, expected a file', { where: file });
  if (code === 'EACCES' || code === 'EPERM') return new UserError('permission denied', { where: file });
  if (code === 'Z_BUF_ERROR') return new UserError('truncated gzip file (unexpected end of data)', { where: file });
  if (code?.startsWith('Z_')) return new UserError(`corrupt gzip file (${(err as Error).message})`, { where: file });
  if (code !== undefined) return new UserError(`cannot read file (${code})`, { where: file });
  return err;
}

/** The file's bytes, gunzipped if its name ends in `.gz`. Missing files and directories are UserErrors. */
export async function openBytes(file: string): Promise<Readable> {
  let handle;
  try {
    handle = await open(file, 'r');
    if ((await handle.stat()).isDirectory()) {
      await handle.close();
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
  } catch (err) {
    throw fileError(err, file);
  }
  const raw = handle.createReadStream();
  if (!isGzipped(file)) return raw;
  // pipeline destroys the gunzip stream with any error, so readers see it.
  return pipeline(raw, createGunzip(), () => {});
}

/**
 * A physical line: its 1-based number and text, or null text and the reason
 * it cannot be used (`invalid UTF-8`, or longer than MAX_LINE_BYTES).
 */
export interface PhysicalLine {
  line: number;
  text: string | null;
  reason?: string;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Longer lines are malformed rows, skipped without being held in memory: no
 * sentence pair is a megabyte long, but a file with no line breaks (a dump,
 * a minified export) would otherwise be read as one gigantic row.
 */
export const MAX_LINE_BYTES = 1 << 20;
export const TOO_LONG = `line longer than ${MAX_LINE_BYTES / (1 << 20)} MiB`;

/** UTF-16 is recognised by its byte order mark; s2s reads UTF-8 only. */
function checkNotUtf16(head: Buffer, file: string): void {
  const le = head[0] === 0xff && head[1] === 0xfe;
  const be = head[0] === 0xfe && head[1] === 0xff;
  if (!le && !be) return;
  throw new UserError(`UTF-16${le ? 'LE' : 'BE'} text (byte order mark); s2s reads UTF-8`, {
    where: file,
    hint: `convert it first, e.g. iconv -f UTF-16 -t UTF-8 ${file} > ${file}.utf8`,
  });
}

/** A NUL byte never occurs in UTF-8 text: the file is binary (or UTF-16 without a BOM). */
function binaryFileError(file: string, line: number): UserError {
  return new UserError('binary file: NUL byte, not UTF-8 text (or UTF-16 without a byte order mark)', {
    where: `${file}:${line}`,
    hint: 'give a UTF-8 TSV/CSV file, or plain text files with --src/--tgt',
  });
}

function newlinesIn(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(0x0a); i !== -1; i = data.indexOf(0x0a, i + 1)) n += 1;
  return n;
}

/**
 * Splits bytes into lines on `\n`, dropping a trailing `\r` and a BOM at the
 * start of the file, and decodes each line on its own so that invalid UTF-8
 * is caught and named by line. Lines over MAX_LINE_BYTES are yielded as
 * unusable without being kept. UTF-16 and binary files (NUL bytes) and read
 * errors are UserErrors naming `file`.
 */
export async function* physicalLines(bytes: AsyncIterable<Buffer>, file: string): AsyncGenerator<PhysicalLine> {
  for await (const lines of physicalLineChunks(bytes, file)) yield* lines;
}

/**
 * physicalLines a chunk of input at a time: the lines each chunk completes
 * (numbered from `startLine` + 1, for bytes that begin after that many lines).
 * The complete lines inside one chunk are decoded together (and one by one
 * only if that finds invalid UTF-8), which is most of the reading time saved.
 */
export async function* physicalLineChunks(bytes: AsyncIterable<Buffer> | Iterable<Buffer>, file: string, startLine = 0): AsyncGenerator<PhysicalLine[]> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let line = startLine;
  // The current line's bytes so far, unless it is already too long.
  let parts: Buffer[] = [];
  let partBytes = 0;
  let tooLong = false;
  const finish = (last: Buffer): PhysicalLine => {
    line += 1;
    const long = tooLong || partBytes + last.length > MAX_LINE_BYTES;
    const raw = long ? null : parts.length > 0 ? Buffer.concat([...parts, last]) : last;
    parts = [];
    partBytes = 0;
    tooLong = false;
    if (raw === null) return { line, text: null, reason: TOO_LONG };
    let body = raw.at(-1) === 0x0d ? raw.subarray(0, -1) : raw;
    if (line === 1 && body.subarray(0, 3).equals(BOM)) body = body.subarray(3);
    try {
      return { line, text: decoder.decode(body) };
    } catch {
      return { line, text: null, reason: 'invalid UTF-8' };
    }
  };
  const keep = (rest: Buffer): void => {
    if (tooLong || rest.length === 0) return;
    if (partBytes + rest.length > MAX_LINE_BYTES) {
      tooLong = true;
      parts = [];
      partBytes = 0;
      return;
    }
    parts.push(rest);
    partBytes += rest.length;
  };
  /** Lines whose bytes all lie in `region` (no line of it continues past either end), each finished alone. */
  const finishEach = (region: Buffer, out: PhysicalLine[]): void => {
    let start = 0;
    for (let nl = region.indexOf(0x0a); nl !== -1; nl = region.indexOf(0x0a, start)) {
      out.push(finish(region.subarray(start, nl)));
      start = nl + 1;
    }
    out.push(finish(region.subarray(start)));
  };
  /** The same lines decoded in one call when `region` is short enough that none can be too long and it is valid UTF-8. */
  const decodeEach = (region: Buffer, out: PhysicalLine[]): void => {
    let text: string | null = null;
    if (region.length <= MAX_LINE_BYTES) {
      try {
        text = decoder.decode(region);
      } catch {
        text = null;
      }
    }
    if (text === null) {
      finishEach(region, out);
      return;
    }
    for (const body of text.split('\n')) {
      line += 1;
      out.push({ line, text: body.endsWith('\r') ? body.slice(0, -1) : body });
    }
  };
  let first = true;
  try {
    for await (const chunk of bytes) {
      if (first && startLine === 0) checkNotUtf16(chunk, file);
      first = false;
      const nul = chunk.indexOf(0);
      if (nul !== -1) throw binaryFileError(file, line + 1 + newlinesIn(chunk.subarray(0, nul)));
      const firstNl = chunk.indexOf(0x0a);
      if (firstNl === -1) {
        keep(chunk);
        continue;
      }
      // The first line may continue earlier chunks (and be line 1, with a BOM): finished on its own.
      const lines = [finish(chunk.subarray(0, firstNl))];
      const lastNl = chunk.lastIndexOf(0x0a);
      if (lastNl > firstNl) decodeEach(chunk.subarray(firstNl + 1, lastNl), lines);
      keep(chunk.subarray(lastNl + 1));
      yield lines;
    }
  } catch (err) {
    throw fileError(err, file);
  }
  if (partBytes > 0 || tooLong) yield [finish(Buffer.alloc(0))];
}

/**
 * A piece of a file's bytes made of whole lines, the first of them line
 * `startLine` + 1 (`bytes` alone uses its ArrayBuffer, so it can be
 * transferred to another thread as it is); or a line too long to keep, skipped.
 */
export type LineAlignedChunk = { file: string; startLine: number; bytes: Buffer } | { file: string; tooLongLine: number };

/** `parts` joined into a buffer with an ArrayBuffer of its own (Buffer.concat may use the shared pool). */
function ownedConcat(parts: readonly Buffer[]): Buffer {
  const out = Buffer.allocUnsafeSlow(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * A file's bytes in pieces of about `size` bytes (default 256 KiB) cut after a newline, for
 * readers that split lines elsewhere (physicalLineChunks with the piece's
 * startLine). A line over MAX_LINE_BYTES is not held: it comes as its number
 * alone. UTF-16 and binary files are UserErrors, as for physicalLines.
 */
export async function* lineAlignedChunks(file: string, size = 1 << 18): AsyncGenerator<LineAlignedChunk> {
  let parts: Buffer[] = [];
  let pending = 0;
  let line = 0;
  let skipping = false;
  let first = true;
  const cut = (bytes: Buffer): LineAlignedChunk => {
    const chunk = { file, startLine: line, bytes };
    line += newlinesIn(bytes);
    return chunk;
  };
  try {
    for await (let chunk of await openBytes(file)) {
      if (first) checkNotUtf16(chunk, file);
      first = false;
      if (skipping) {
        const nl = chunk.indexOf(0x0a);
        const nul = chunk.subarray(0, nl === -1 ? chunk.length : nl).indexOf(0);
        if (nul !== -1) throw binaryFileError(file, line + 1);
        if (nl === -1) continue;
        line += 1;
        yield { file, tooLongLine: line };
        skipping = false;
        chunk = chunk.subarray(nl + 1);
      }
      parts.push(chunk);
      pending += chunk.length;
      if (pending < size) continue;
      const joined = ownedConcat(parts);
      const nl = joined.lastIndexOf(0x0a);
      if (nl !== -1) {
        // The rest is copied out first: the piece's ArrayBuffer goes with it.
        parts = [Buffer.from(joined.subarray(nl + 1))];
        pending = parts[0]!.length;
        yield cut(joined.subarray(0, nl + 1));
      } else {
        parts = [joined];
      }
      if (pending > MAX_LINE_BYTES) {
        const nul = parts[0]!.indexOf(0);
        if (nul !== -1) throw binaryFileError(file, line + 1);
        skipping = true;
        parts = [];
        pending = 0;
      }
    }
  } catch (err) {
    throw fileError(err, file);
  }
  if (skipping) yield { file, tooLongLine: line + 1 };
  else if (pending > 0) yield cut(ownedConcat(parts));
}

/** A tab-separated line's pair, or why it is malformed; null for a blank line. */
export function tabSeparatedPair(physical: PhysicalLine, columns: ColumnSpec): { src: string; tgt: string } | { reason: string } | null {
  return physical.text === null ? { reason: physical.reason ?? 'invalid UTF-8' } : pairFromRecord(physical.text.split('\t'), columns);
}

/**
 * The pairs of a piece of a tab-separated file as a worker thread gets it
 * (whole lines, numbered from `startLine` + 1): each well-formed pair goes to
 * `onPair` with its line number, each malformed line to `onSkip`.
 */
export async function eachPiecePair(
  piece: Uint8Array,
  file: string,
  startLine: number,
  columns: ColumnSpec,
  onPair: (src: string, tgt: string, line: number) => void,
  onSkip: (skip: Skip) => void,
): Promise<void> {
  const bytes = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  if (plainPiece(bytes, startLine)) {
    eachPlainPair(bytes, file, startLine, columns, onPair, onSkip);
    return;
  }
  for await (const lines of physicalLineChunks([bytes], file, startLine)) {
    for (const physical of lines) linePair(physical, file, columns, onPair, onSkip);
  }
}

/** A physical line's pair to `onPair`, or why it is malformed to `onSkip` (a blank line: neither). */
function linePair(
  physical: PhysicalLine,
  file: string,
  columns: ColumnSpec,
  onPair: (src: string, tgt: string, line: number) => void,
  onSkip: (skip: Skip) => void,
): void {
  const result = tabSeparatedPair(physical, columns);
  if (result === null) return;
  if ('reason' in result) onSkip({ where: `${file}:${physical.line}`, reason: result.reason });
  else onPair(result.src, result.tgt, physical.line);
}

/**
 * Whether a piece needs none of physicalLineChunks' checks: not a file's
 * start (no byte order mark), no NUL byte, too short to hold a line over
 * MAX_LINE_BYTES, and valid UTF-8 throughout.
 */
function plainPiece(bytes: Buffer, startLine: number): boolean {
  return startLine > 0 && bytes.length <= MAX_LINE_BYTES && bytes.indexOf(0) === -1 && isUtf8(bytes);
}

/**
 * eachPiecePair over a plain piece (plainPiece). Lines and fields are found
 * in the bytes (a newline or tab byte is never part of another character in
 * UTF-8), and the source and target fields are decoded each on its own: a
 * string of its own, one byte a character when it is ASCII, which every
 * later pass over the text reads faster than a slice of the whole piece's
 * text. A line whose two fields are there, not empty and without whitespace
 * at either end (the common case) goes straight to `onPair`; any other line
 * goes through tabSeparatedPair as physicalLineChunks would give it.
 */
function eachPlainPair(
  bytes: Buffer,
  file: string,
  startLine: number,
  columns: ColumnSpec,
  onPair: (src: string, tgt: string, line: number) => void,
  onSkip: (skip: Skip) => void,
): void {
  const fields = Math.max(columns.src, columns.tgt) + 1;
  let line = startLine;
  // The first tab at or after the current field's start (bytes.length: none), found once per tab.
  let tab = -1;
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.indexOf(0x0a, start);
    if (end === -1) end = bytes.length;
    line += 1;
    let src = '';
    let tgt = '';
    let from = start;
    for (let field = 0; field < fields && from <= end; field++) {
      if (tab < from) {
        tab = bytes.indexOf(0x09, from);
        if (tab === -1) tab = bytes.length;
      }
      const to = Math.min(tab, end);
      if (field === columns.src) src = bytes.toString('utf8', from, to);
      if (field === columns.tgt) tgt = bytes.toString('utf8', from, to);
      from = to + 1;
    }
    if (untrimmed(src) && untrimmed(tgt)) {
      onPair(src, tgt, line);
    } else {
      const body = bytes.toString('utf8', start, end);
      linePair({ line, text: body.endsWith('\r') ? body.slice(0, -1) : body }, file, columns, onPair, onSkip);
    }
    start = end + 1;
  }
}

/** Whether `text` is not empty and trim() would leave it as it is. */
function untrimmed(text: string): boolean {
  return text.length > 0 && !maybeSpace(text.charCodeAt(0)) && !maybeSpace(text.charCodeAt(text.length - 1));
}

/**
 * A whole text file's bytes as UTF-8 text, with the checks physicalLines makes:
 * UTF-16 (a byte order mark) and binary files (NUL bytes) are UserErrors naming
 * `file`, invalid UTF-8 names `file:line`. A UTF-8 BOM is dropped.
 */
export function decodeTextFile(bytes: Buffer, file: string): string {
  checkNotUtf16(bytes, file);
  const nul = bytes.indexOf(0);
  if (nul !== -1) throw binaryFileError(file, 1 + newlinesIn(bytes.subarray(0, nul)));
  const body = bytes.subarray(0, 3).equals(BOM) ? bytes.subarray(3) : bytes;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    // Find the line: decode line by line.
    let start = 0;
    for (let line = 1; ; line++) {
      const nl = body.indexOf(0x0a, start);
      const end = nl === -1 ? body.length : nl;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(start, end));
      } catch {
        throw new UserError('invalid UTF-8, expected UTF-8 text', { where: `${file}:${line}` });
      }
      if (nl === -1) throw new UserError('invalid UTF-8, expected UTF-8 text', { where: file });
      start = nl + 1;
    }
  }
}

// ---------------------------------------------------------------- TSV / CSV

export interface DelimitedOptions {
  columns: ColumnSpec;
  /** null = by extension. */
  delimiter: string | null;
}

interface PendingSkip {
  line: number;
  reason: string;
}

/** A record's sides, or why it is malformed; null for a blank line. */
export function pairFromRecord(record: readonly string[], columns: ColumnSpec): { src: string; tgt: string } | { reason: string } | null {
  if (record.every((field) => field.trim() === '')) return null;
  if (record.length <= columns.src) return { reason: 'missing source column' };
  if (record.length <= columns.tgt) return { reason: 'missing target column' };
  const src = record[columns.src]!.trim();
  const tgt = record[columns.tgt]!.trim();
  if (src === '') return { reason: 'empty source' };
  if (tgt === '') return { reason: 'empty target' };
  return { src, tgt };
}

/** The text csv-parse reads: valid lines joined by `\n`; invalid lines become empty (so numbering holds) and are reported. */
async function* cleanText(lines: AsyncIterable<PhysicalLine>, onInvalid: (line: number, reason: string) => void): AsyncGenerator<string> {
  let batch = '';
  for await (const { line, text, reason } of lines) {
    if (text === null) onInvalid(line, reason ?? 'invalid UTF-8');
    batch += (text ?? '') + '\n';
    if (batch.length >= 1 << 16) {
      yield batch;
      batch = '';
    }
  }
  if (batch.length > 0) yield batch;
}

/** Why csv-parse gave up on the record spanning lines `first`..`last`. */
function csvSkipReason(err: { code?: string }, first: number, last: number): string {
  if (err.code !== 'CSV_QUOTE_NOT_CLOSED') return `malformed quotes (${err.code ?? 'parse error'})`;
  if (last <= first) return 'unclosed quote';
  // A quoted field may span lines, so an unclosed quote swallows the rest of the file: say how much.
  return `unclosed quote: lines ${first}-${last} (the rest of the file) were read as one field`;
}

function countNewlines(record: readonly string[]): number {
  let n = 0;
  for (const field of record) for (let i = field.indexOf('\n'); i !== -1; i = field.indexOf('\n', i + 1)) n += 1;
  return n;
}

/**
 * Streams the pairs of one TSV/CSV file. A tab-separated file never treats
 * `"` specially (Tatoeba text contains unbalanced quotes); any other
 * delimiter uses CSV quoting. Extra columns are ignored; blank lines are
 * skipped silently; malformed rows go to `log` in line order.
 */
export async function* readDelimited(file: string, opts: DelimitedOptions, log: SkipLog): AsyncGenerator<CorpusPair> {
  const delimiter = delimiterFor(file, opts.delimiter);
  if (delimiter === '\t') {
    yield* readTabSeparated(file, opts.columns, log);
    return;
  }
  const quoted = true;
  const pending: PendingSkip[] = [];
  const flush = (before: number): void => {
    pending.sort((a, b) => a.line - b.line);
    while (pending.length > 0 && pending[0]!.line < before) {
      const { line, reason } = pending.shift()!;
      log.add({ where: `${file}:${line}`, reason });
    }
  };
  // The last physical line of the latest record, so a malformed one is named by its first line.
  let lastRecordEnd = 0;
  const lines = physicalLines(await openBytes(file), file);
  const text = Readable.from(cleanText(lines, (line, reason) => pending.push({ line, reason })));
  const parser = parse({
    delimiter,
    quote: quoted ? '"' : false,
    relax_quotes: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    record_delimiter: '\n',
    info: true,
    on_record: (record: string[], context: { lines: number }) => {
      lastRecordEnd = context.lines;
      return record;
    },
  });
  parser.on('skip', (err: { code?: string; lines?: number }) => {
    const first = lastRecordEnd + 1;
    const last = err.lines ?? first;
    pending.push({ line: first, reason: csvSkipReason(err, first, last) });
    lastRecordEnd = last;
  });
  const records = pipeline(text, parser, () => {});
  try {
    for await (const { record, info } of records as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const line = info.lines - countNewlines(record);
      flush(line);
      const result = pairFromRecord(record, opts.columns);
      if (result === null) continue;
      if ('reason' in result) log.add({ where: `${file}:${line}`, reason: result.reason });
      else yield { src: result.src, tgt: result.tgt, origin: `${file}:${line}` };
    }
  } finally {
    records.destroy();
  }
  flush(Infinity);
}

/**
 * A tab-separated file without quoting is one record per physical line, so it
 * is split directly (what csv-parse would do, several times faster).
 */
async function* readTabSeparated(file: string, columns: ColumnSpec, log: SkipLog): AsyncGenerator<CorpusPair> {
  for await (const pairs of tabSeparatedChunks(file, columns, log)) yield* pairs;
}

/**
 * readTabSeparated a chunk of lines at a time. A malformed row is logged only
 * after the pairs before it are handed out, so a strict SkipLog throws at the
 * same point of the stream as one pair at a time.
 */
async function* tabSeparatedChunks(file: string, columns: ColumnSpec, log: SkipLog): AsyncGenerator<CorpusPair[]> {
  for await (const lines of physicalLineChunks(await openBytes(file), file)) {
    let pairs: CorpusPair[] = [];
    for (const physical of lines) {
      const { line } = physical;
      const result = tabSeparatedPair(physical, columns);
      if (result === null) continue;
      if (!('reason' in result)) {
        pairs.push({ src: result.src, tgt: result.tgt, origin: `${file}:${line}` });
        continue;
      }
      if (pairs.length > 0) yield pairs;
      pairs = [];
      log.add({ where: `${file}:${line}`, reason: result.reason });
    }
    if (pairs.length > 0) yield pairs;
  }
}

// ---------------------------------------------------------------- plain parallel files

/**
 * Streams pairs from two line-aligned files. A line that is invalid UTF-8 or
 * empty on one side is malformed; a line empty on both sides is skipped
 * silently. Different line counts are an error naming both files and counts.
 */
export async function* readParallel(srcFile: string, tgtFile: string, log: SkipLog): AsyncGenerator<CorpusPair> {
  const srcBytes = await openBytes(srcFile);
  let tgtBytes: Readable;
  try {
    tgtBytes = await openBytes(tgtFile);
  } catch (err) {
    srcBytes.destroy();
    throw err;
  }
  const src = physicalLines(srcBytes, srcFile);
  const tgt = physicalLines(tgtBytes, tgtFile);
  try {
    for (;;) {
      const [a, b] = await Promise.all([src.next(), tgt.next()]);
      if (a.done && b.done) return;
      if (a.done || b.done) {
        const linesSoFar = a.done ? b.value!.line - 1 : a.value.line - 1;
        let longer = linesSoFar + 1;
        for await (const { line } of a.done ? tgt : src) longer = line;
        const [srcCount, tgtCount] = a.done ? [linesSoFar, longer] : [longer, linesSoFar];
        throw new UserError(`line counts differ: ${srcFile} has ${srcCount} lines, ${tgtFile} has ${tgtCount}`, {
          hint: '--src and --tgt must be line-aligned: one sentence per line, line n of one translating line n of the other',
        });
      }
      const line = a.value.line;
      const s = a.value.text;
      const t = b.value.text;
      if (s === null) log.add({ where: `${srcFile}:${line}`, reason: a.value.reason ?? 'invalid UTF-8' });
      else if (t === null) log.add({ where: `${tgtFile}:${line}`, reason: b.value.reason ?? 'invalid UTF-8' });
      else if (s.trim() === '' && t.trim() === '') continue;
      else if (s.trim() === '') log.add({ where: `${srcFile}:${line}`, reason: 'empty source' });
      else if (t.trim() === '') log.add({ where: `${tgtFile}:${line}`, reason: 'empty target' });
      else yield { src: s.trim(), tgt: t.trim(), origin: `${srcFile}:${line}` };
    }
  } finally {
    await src.return(undefined);
    await tgt.return(undefined);
  }
}

// ---------------------------------------------------------------- the configured corpus

/**
 * Streams the configured training corpus: the `--src`/`--tgt` pair when
 * given (it replaces `--data`), else every `--data` file in order.
 */
export async function* readCorpus(data: Readonly<DataConfig>, log: SkipLog): AsyncGenerator<CorpusPair> {
  if (data.src !== null && data.tgt !== null) {
    yield* readParallel(data.src, data.tgt, log);
    return;
  }
  if (data.data.length === 0) {
    throw usageError('no training data', '--data', 'give --data FILE (TSV/CSV) or --src FILE --tgt FILE');
  }
  const columns = corpusColumns(data);
  for (const file of data.data) yield* readDelimited(file, { columns, delimiter: data.delimiter }, log);
}

/** Whether the configured corpus is --data files, all tab-separated (one record per line). */
export function tabSeparatedCorpus(data: Readonly<DataConfig>): boolean {
  if (data.src !== null && data.tgt !== null) return false;
  return data.data.length > 0 && data.data.every((file) => delimiterFor(file, data.delimiter) === '\t');
}

/**
 * readCorpus in arrays of pairs, for readers that handle many pairs per
 * await: tab-separated files a chunk at a time, others a pair at a time.
 */
export async function* readCorpusChunks(data: Readonly<DataConfig>, log: SkipLog): AsyncGenerator<CorpusPair[]> {
  if (!tabSeparatedCorpus(data)) {
    for await (const pair of readCorpus(data, log)) yield [pair];
    return;
  }
  const columns = corpusColumns(data);
  for (const file of data.data) yield* tabSeparatedChunks(file, columns, log);
}
