/**
 * A prepared dataset: the corpus read, tokenized, filtered, split and
 * encoded once, into compact binary files that training reads batch by batch
 * without holding the corpus in JavaScript objects.
 *
 *   index.json                 format, config hash, source files (size, mtime, sha256),
 *                              counts, split, id width, every file below with size + sha256
 *   src.vocab.json, tgt.vocab.json
 *   src.tokenizer.json, tgt.tokenizer.json   a BPE side's model (subword.ts)
 *   valid.json                 the validation pairs, tokenized (small)
 *   train.src.bin, train.tgt.bin          token ids of every training pair, concatenated
 *                                         (little-endian uint16, or uint32 past 65,536 tokens)
 *   train.src-len.bin, train.tgt-len.bin  uint16 length of each pair's side
 *
 * A set is written into a temporary sibling directory, index.json last, and
 * renamed into place only when complete (the previous set stays until then),
 * so a crash or a full disk never leaves a half-written set that looks valid;
 * what a killed process left behind (its temporary directory, or the previous
 * set moved aside) is removed or put back by the next run.
 * Opening a set checks every file's size and sha256 against the index.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { DataConfig } from '../config.ts';
import { UserError } from '../errors.ts';
import { recoverInterrupted } from '../fs-atomic.ts';
import { fillBatch, type Batch, type TrainingPairs } from './batches.ts';
import { formatSkip } from './corpus.ts';
import { countCorpus, countedVocabs, type CountOptions } from './count-pass.ts';
import type { DatasetReport, TokenizedPair } from './dataset.ts';
import { parseSplitRecord, type SplitRecord } from './split.ts';
import { Subword } from './subword.ts';
import { IntWriter, type WriteHook } from './int-writer.ts';
import { ScratchIdWriter, scratchFiles } from './scratch-ids.ts';
import { remapPass } from './remap-pass.ts';
import type { TokenizerKind } from './tokenize.ts';
import { Vocab } from './vocab.ts';

export type { WriteHook } from './int-writer.ts';

export const PREPARED_FORMAT = 's2s-prepared';
/** Bumped when the layout or the meaning of a file changes. */
export const PREPARED_VERSION = 1;
const INDEX = 'index.json';
const LITTLE_ENDIAN = endianness() === 'LE';

export interface SourceFile {
  path: string;
  bytes: number;
  mtimeMs: number;
  sha256: string;
}

export interface FileEntry {
  bytes: number;
  sha256: string;
}

export interface PreparedIndex {
  format: typeof PREPARED_FORMAT;
  version: typeof PREPARED_VERSION;
  /** Hash of everything in the data config and the seed: a different value means a different set. */
  configHash: string;
  sources: SourceFile[];
  report: DatasetReport;
  split: SplitRecord;
  /** Bytes per stored token id, per side. */
  idBytes: { src: 2 | 4; tgt: 2 | 4 };
  /** Tokens stored per side (the sum of the lengths). */
  tokens: { src: number; tgt: number };
  /** Per BPE side, the tokenizer its pieces are cut from (absent: no BPE side). */
  subword?: { src: TokenizerKind | null; tgt: TokenizerKind | null };
  files: Record<string, FileEntry>;
}

/** A prepared set that does not match its index: truncated, altered or partly deleted. */
export class DamagedPreparedData extends UserError {
  constructor(message: string, options: { where?: string }) {
    super(message, options);
    this.name = 'DamagedPreparedData';
  }
}

// ---------------------------------------------------------------- what a set is prepared from

/** The files a config reads, resolved: the corpus and the validation file. */
export function sourceFiles(data: Readonly<DataConfig>): string[] {
  const corpus = data.src !== null && data.tgt !== null ? [data.src, data.tgt] : data.data;
  return [...corpus, ...(data.valid !== null ? [data.valid] : [])].map((f) => resolve(f));
}

/** The data config with resolved paths, and the split seed: what decides a set's contents. */
export function configHash(data: Readonly<DataConfig>, seed: number): string {
  const abs = (f: string | null): string | null => (f === null ? null : resolve(f));
  // A BPE vocabulary's size matters only to a BPE side (sets of other configs keep their hash).
  const { srcVocabSize, tgtVocabSize, ...rest } = data;
  const keyed = {
    ...rest,
    ...(data.srcTokenizer === 'bpe' ? { srcVocabSize } : {}),
    ...(data.tgtTokenizer === 'bpe' ? { tgtVocabSize } : {}),
    data: data.data.map((f) => resolve(f)),
    src: abs(data.src),
    tgt: abs(data.tgt),
    valid: abs(data.valid),
    seed,
    format: PREPARED_VERSION,
  };
  const sorted = Object.fromEntries(Object.entries(keyed).sort(([a], [b]) => (a < b ? -1 : 1)));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    for await (const chunk of handle.createReadStream()) hash.update(chunk as Buffer);
  } finally {
    await handle.close().catch(() => {});
  }
  return hash.digest('hex');
}

function unreadable(path: string, err: unknown): UserError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new UserError('file not found', { where: path });
  if (code === 'EISDIR') return new UserError('is a directory, expected a file', { where: path });
  return new UserError(`cannot read file (${code ?? (err as Error).message})`, { where: path });
}

async function statSource(path: string): Promise<Omit<SourceFile, 'sha256'>> {
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return { path, bytes: info.size, mtimeMs: info.mtimeMs };
  } catch (err) {
    throw unreadable(path, err);
  }
}

async function hashSource(path: string): Promise<string> {
  try {
    return await hashFile(path);
  } catch (err) {
    throw unreadable(path, err);
  }
}

/**
 * Why a set no longer matches the config and its files, or null if it does.
 * A source file whose size and modification time are unchanged is taken as
 * unchanged; otherwise its sha256 decides (a `touch` alone re-prepares nothing).
 */
export async function staleReason(index: PreparedIndex, data: Readonly<DataConfig>, seed: number): Promise<string | null> {
  if (index.configHash !== configHash(data, seed)) return 'the data configuration changed';
  const wanted = sourceFiles(data);
  if (wanted.join('\n') !== index.sources.map((s) => s.path).join('\n')) return 'the corpus files changed';
  for (const source of index.sources) {
    let info;
    try {
      info = await stat(source.path);
    } catch {
      return `${source.path} is gone`;
    }
    if (info.size !== source.bytes) return `${source.path} changed (${source.bytes} → ${info.size} bytes)`;
    if (info.mtimeMs !== source.mtimeMs && (await hashFile(source.path)) !== source.sha256) return `${source.path} changed`;
  }
  return null;
}

// ---------------------------------------------------------------- writing

export interface PrepareOptions extends CountOptions {
  /** The set's directory; an existing set there is replaced only when the new one is complete. */
  dir: string;
  /** Encode with these vocabularies (a resumed run) instead of building them. */
  vocabs?: { src: Vocab; tgt: Vocab };
  writeHook?: WriteHook;
  /** Provisional ids pass 2 reads and writes per block (tests use tiny blocks). */
  blockIds?: number;
}

function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * Prepares the configured corpus into `opts.dir`. The corpus text is read
 * once: each pair is tokenized, its tokens counted and written as
 * provisional ids (order of first appearance) to temporary files, and the
 * validation pairs are chosen. Then the vocabularies are built and a second
 * pass over the provisional ids (not the text) writes every training pair's
 * final ids. Memory holds the token table, the validation pairs and a
 * bounded number of hold-out candidates, never the corpus.
 */
export async function prepareDataset(opts: PrepareOptions): Promise<PreparedIndex> {
  const { data, seed } = opts;
  const dir = resolve(opts.dir);
  recoverInterrupted(dir);
  checkReplaceable(dir);
  const described: Omit<SourceFile, 'sha256'>[] = [];
  for (const file of sourceFiles(data)) described.push(await statSource(file));
  // The sources' hashes are taken while pass 1 reads them (the hashing is off pass 1's critical path).
  const hashing = Promise.all(described.map((source) => hashSource(source.path)));
  hashing.catch(() => {});
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
  const writers: IntWriter[] = [];
  const idWriters: ScratchIdWriter[] = [];
  const create = async (name: string, width: 2 | 4, scratch = false): Promise<IntWriter> => {
    const writer = await IntWriter.create(tmp, name, width, opts.writeHook, scratch);
    writers.push(writer);
    return writer;
  };
  try {
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });

    // ---- pass 1: tokenize, count, write provisional ids, choose the split
    const scratchIds = async (name: string): Promise<ScratchIdWriter> => {
      const writer = await ScratchIdWriter.create(tmp, name, opts.writeHook);
      idWriters.push(writer);
      return writer;
    };
    const scratch = { src: scratchFiles(tmp, 'pass1.src'), tgt: scratchFiles(tmp, 'pass1.tgt'), srcLen: join(tmp, 'pass1.src-len.bin'), tgtLen: join(tmp, 'pass1.tgt-len.bin') };
    const pass1 = {
      src: await scratchIds('pass1.src'),
      tgt: await scratchIds('pass1.tgt'),
      srcLen: await create('pass1.src-len.bin', 2, true),
      tgtLen: await create('pass1.tgt-len.bin', 2, true),
    };
    const counted = await countCorpus(opts, pass1);
    for (const w of writers.splice(0)) await w.close();
    for (const w of idWriters.splice(0)) await w.close();
    const { counts, skips, kept, split, validPairs, validIndices, table } = counted;
    const trainCount = kept - validIndices.size;
    if (trainCount === 0) throw new UserError('no training pairs left after filtering', { where: sourceFiles(data).join(', ') });

    const vocabs = opts.vocabs ?? countedVocabs(counted, data);
    const remap = { src: table.src.remap(vocabs.src), tgt: table.tgt.remap(vocabs.tgt) };
    table.src.clear();
    table.tgt.clear();

    // ---- pass 2: provisional ids → the vocabularies' ids, training pairs only
    const width = (v: Vocab): 2 | 4 => (v.size <= 0x10000 ? 2 : 4);
    const idBytes = { src: width(vocabs.src), tgt: width(vocabs.tgt) };
    const out = {
      src: await create('train.src.bin', idBytes.src),
      tgt: await create('train.tgt.bin', idBytes.tgt),
      srcLen: await create('train.src-len.bin', 2),
      tgtLen: await create('train.tgt-len.bin', 2),
    };
    const tokens = await remapPass(
      {
        src: { input: scratch.src, lens: readUint16(scratch.srcLen), remap: remap.src, ids: out.src, lengths: out.srcLen },
        tgt: { input: scratch.tgt, lens: readUint16(scratch.tgtLen), remap: remap.tgt, ids: out.tgt, lengths: out.tgtLen },
      },
      { kept, validIndices, blockIds: opts.blockIds, where: sourceFiles(data).join(', '), onProgress: (pairs) => opts.onProgress?.(2, pairs) },
    );
    // The files are synced, and pass 1's removed, side by side.
    const [closed] = await Promise.all([
      Promise.all(writers.map((w) => w.close())),
      ...[scratch.src.low, scratch.src.high, scratch.tgt.low, scratch.tgt.high, scratch.srcLen, scratch.tgtLen].map((path) => rm(path)),
    ]);
    const files: Record<string, FileEntry> = {};
    writers.splice(0).forEach((w, i) => (files[w.name] = closed[i]!));

    const small = async (name: string, text: string): Promise<void> => {
      const bytes = Buffer.from(text);
      opts.writeHook?.(name, bytes.length);
      await writeFile(join(tmp, name), bytes);
      files[name] = { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    };
    await small('src.vocab.json', JSON.stringify(vocabs.src.toJSON()) + '\n');
    await small('tgt.vocab.json', JSON.stringify(vocabs.tgt.toJSON()) + '\n');
    if (vocabs.src.subword) await small('src.tokenizer.json', vocabs.src.subword.text());
    if (vocabs.tgt.subword) await small('tgt.tokenizer.json', vocabs.tgt.subword.text());
    const valid: TokenizedPair[] = validPairs.map(({ item }) => ({ src: item.src, tgt: item.tgt, origin: item.origin }));
    await small('valid.json', JSON.stringify({ pairs: valid }) + '\n');
    const index: PreparedIndex = {
      format: PREPARED_FORMAT,
      version: PREPARED_VERSION,
      configHash: configHash(data, seed),
      sources: (await hashing).map((sha256, i) => ({ ...described[i]!, sha256 })),
      report: {
        read: counts.read,
        skipped: skips.count,
        firstSkip: skips.first && formatSkip(skips.first),
        tooLong: counts.tooLong,
        train: trainCount,
        valid: valid.length,
      },
      split,
      idBytes,
      tokens,
      ...(vocabs.src.subword || vocabs.tgt.subword
        ? { subword: { src: vocabs.src.subword?.preTokenizer ?? null, tgt: vocabs.tgt.subword?.preTokenizer ?? null } }
        : {}),
      files,
    };
    opts.writeHook?.(INDEX, 0);
    await writeFile(join(tmp, INDEX), JSON.stringify(index, null, 1) + '\n');
    await swapInto(tmp, dir);
    return index;
  } catch (err) {
    for (const w of writers) await w.abandon();
    for (const w of idWriters) await w.abandon();
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (isDiskFull(err)) {
      throw new UserError('disk full while writing the prepared data; nothing was replaced', {
        where: dir,
        hint: 'free some space (the prepared files take about 2 × 2 bytes per token) and try again',
      });
    }
    throw err;
  }
}

/** A set is only ever written where nothing but an earlier set would be replaced. */
function checkReplaceable(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new UserError('the prepared-data directory is a file', { where: dir, exitCode: 2 });
  if (readdirSync(dir).length > 0 && !existsSync(join(dir, INDEX))) {
    throw new UserError('the prepared-data directory holds files that are not a prepared dataset', {
      where: dir,
      hint: 'choose an empty or new directory',
      exitCode: 2,
    });
  }
}

/** Replaces `dir` by the complete set in `tmp`: the old set is moved aside first and removed last. */
async function swapInto(tmp: string, dir: string): Promise<void> {
  const old = join(dirname(dir), `.${basename(dir)}.old-${process.pid}`);
  const hadOld = existsSync(dir);
  if (hadOld) await rename(dir, old);
  await rename(tmp, dir);
  if (hadOld) await rm(old, { recursive: true, force: true });
}

// ---------------------------------------------------------------- reading

function damaged(dir: string, what: string): DamagedPreparedData {
  return new DamagedPreparedData(`prepared data is damaged: ${what}`, { where: dir });
}

/** The set's index, or null when `dir` holds no complete set. Throws DamagedPreparedData when it is not one. */
export function readIndex(dir: string): PreparedIndex | null {
  const path = join(dir, INDEX);
  if (!existsSync(path)) return null;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw damaged(dir, `${INDEX} is not valid JSON (${(err as Error).message})`);
  }
  const index = json as Partial<PreparedIndex>;
  if (index.format !== PREPARED_FORMAT) throw damaged(dir, `${INDEX} is not an s2s prepared-data index`);
  if (index.version !== PREPARED_VERSION) {
    throw damaged(dir, `${INDEX} has version ${JSON.stringify(index.version)} (this s2s reads ${PREPARED_VERSION})`);
  }
  const ok =
    typeof index.configHash === 'string' &&
    Array.isArray(index.sources) &&
    typeof index.files === 'object' && index.files !== null &&
    typeof index.report === 'object' && index.report !== null &&
    (index.idBytes?.src === 2 || index.idBytes?.src === 4) &&
    (index.idBytes?.tgt === 2 || index.idBytes?.tgt === 4);
  if (!ok) throw damaged(dir, `${INDEX} is missing fields`);
  index.split = parseSplitRecord(index.split, join(dir, INDEX));
  return index as PreparedIndex;
}

/** Checks every file against the index: size always, and sha256 when `hashes`. */
async function verifyFiles(dir: string, index: PreparedIndex, hashes: boolean): Promise<void> {
  for (const name of ['train.src.bin', 'train.tgt.bin', 'train.src-len.bin', 'train.tgt-len.bin', 'src.vocab.json', 'tgt.vocab.json', 'valid.json']) {
    if (!(name in index.files)) throw damaged(dir, `${INDEX} does not list ${name}`);
  }
  for (const [name, entry] of Object.entries(index.files)) {
    const path = join(dir, name);
    if (!existsSync(path)) throw damaged(dir, `${name} is missing`);
    const size = statSync(path).size;
    if (size !== entry.bytes) throw damaged(dir, `${name} has ${size} bytes, the index says ${entry.bytes} (truncated or altered)`);
    if (hashes && (await hashFile(path)) !== entry.sha256) throw damaged(dir, `${name} does not match its sha256 (altered)`);
  }
}

/** The training pairs of a prepared set, read from disk a batch at a time. */
export class PreparedPairs implements TrainingPairs {
  readonly srcLens: Uint16Array;
  readonly tgtLens: Uint16Array;
  private readonly srcStart: Float64Array;
  private readonly tgtStart: Float64Array;
  private readonly srcFd: number;
  private readonly tgtFd: number;

  constructor(
    dir: string,
    private readonly idBytes: { src: 2 | 4; tgt: 2 | 4 },
  ) {
    this.srcLens = readUint16(join(dir, 'train.src-len.bin'));
    this.tgtLens = readUint16(join(dir, 'train.tgt-len.bin'));
    this.srcStart = prefixSums(this.srcLens);
    this.tgtStart = prefixSums(this.tgtLens);
    this.srcFd = openSync(join(dir, 'train.src.bin'), 'r');
    this.tgtFd = openSync(join(dir, 'train.tgt.bin'), 'r');
  }

  get size(): number {
    return this.srcLens.length;
  }

  /** Pair `index`'s source ids. */
  src(index: number): Uint32Array {
    return readIds(this.srcFd, this.srcStart[index]!, this.srcLens[index]!, this.idBytes.src);
  }

  tgt(index: number): Uint32Array {
    return readIds(this.tgtFd, this.tgtStart[index]!, this.tgtLens[index]!, this.idBytes.tgt);
  }

  batch(indices: readonly number[]): Batch {
    return fillBatch(indices, (i) => this.src(i), (i) => this.tgt(i));
  }

  close(): void {
    closeSync(this.srcFd);
    closeSync(this.tgtFd);
  }
}

/** A file of little-endian uint16s. */
function readUint16(path: string): Uint16Array {
  const bytes = readFileSync(path);
  const out = new Uint16Array(bytes.length >> 1);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes.subarray(0, out.byteLength));
  else for (let i = 0; i < out.length; i++) out[i] = bytes.readUInt16LE(2 * i);
  return out;
}

/** start[i] = lens[0] + … + lens[i-1] (Float64: exact past 2^32 tokens). */
function prefixSums(lens: Uint16Array): Float64Array {
  const start = new Float64Array(lens.length);
  let sum = 0;
  for (let i = 0; i < lens.length; i++) {
    start[i] = sum;
    sum += lens[i]!;
  }
  return start;
}

function readIds(fd: number, start: number, length: number, width: 2 | 4): Uint32Array {
  const buffer = Buffer.allocUnsafe(length * width);
  let got = 0;
  while (got < buffer.length) {
    const n = readSync(fd, buffer, got, buffer.length - got, start * width + got);
    if (n === 0) throw new UserError('prepared data is damaged: a token file ended early');
    got += n;
  }
  const ids = new Uint32Array(length);
  for (let t = 0; t < length; t++) ids[t] = width === 2 ? buffer.readUInt16LE(2 * t) : buffer.readUInt32LE(4 * t);
  return ids;
}

export interface PreparedSet {
  dir: string;
  index: PreparedIndex;
  srcVocab: Vocab;
  tgtVocab: Vocab;
  valid: TokenizedPair[];
  train: PreparedPairs;
}

/** Opens a verified set (sizes and hashes of every file). Throws DamagedPreparedData if it does not check out. */
export async function openPrepared(dir: string, index: PreparedIndex): Promise<PreparedSet> {
  await verifyFiles(dir, index, true);
  const json = (name: string): unknown => JSON.parse(readFileSync(join(dir, name), 'utf8'));
  const subword = (side: 'src' | 'tgt'): Subword | null => {
    const kind = index.subword?.[side] ?? null;
    const name = `${side}.tokenizer.json`;
    if (kind === null) return null;
    if (!(name in index.files)) throw damaged(dir, `${INDEX} does not list ${name}`);
    return Subword.parse(readFileSync(join(dir, name), 'utf8'), kind, join(dir, name));
  };
  const srcVocab = Vocab.fromJSON(json('src.vocab.json'), join(dir, 'src.vocab.json'), subword('src'));
  const tgtVocab = Vocab.fromJSON(json('tgt.vocab.json'), join(dir, 'tgt.vocab.json'), subword('tgt'));
  const valid = (json('valid.json') as { pairs: TokenizedPair[] }).pairs;
  return { dir, index, srcVocab, tgtVocab, valid, train: new PreparedPairs(dir, index.idBytes) };
}

export interface EnsureOptions extends PrepareOptions {
  /** Called with why the set is (re-)prepared: `no prepared data`, `the data configuration changed`, … */
  onPrepare?: (reason: string) => void;
}

function sameVocab(a: Vocab, b: Vocab): boolean {
  return a.size === b.size && a.tokens.every((t, i) => t === b.tokens[i]);
}

function sameSplit(a: SplitRecord, b: SplitRecord): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The prepared set in `opts.dir` if it matches the config, the corpus files
 * and (when given) the fixed split and vocabularies; otherwise prepares it
 * anew. A damaged set is an error (DamagedPreparedData), not re-prepared
 * silently.
 */
export async function ensurePrepared(opts: EnsureOptions): Promise<PreparedSet> {
  const dir = resolve(opts.dir);
  recoverInterrupted(dir);
  const index = readIndex(dir);
  let reason = index === null ? 'no prepared data' : await staleReason(index, opts.data, opts.seed);
  if (index !== null && reason === null) {
    const set = await openPrepared(dir, index);
    const fits =
      (opts.split === undefined || sameSplit(set.index.split, opts.split)) &&
      (opts.vocabs === undefined || (sameVocab(set.srcVocab, opts.vocabs.src) && sameVocab(set.tgtVocab, opts.vocabs.tgt)));
    if (fits) return set;
    set.train.close();
    reason = 'the prepared set has another split or vocabulary than the checkpoint';
  }
  opts.onPrepare?.(reason!);
  const fresh = await prepareDataset(opts);
  return openPrepared(dir, fresh);
}

/** Whether `dir` exists and holds files (for output checks). */
export function holdsPrepared(dir: string): boolean {
  return existsSync(join(dir, INDEX));
}
