/**
 * A worker thread of prepare's parallel first pass (prepare-parallel.ts):
 * takes pieces of the corpus made of whole lines, and for each one splits,
 * decodes and tokenizes its pairs, numbers their tokens in its own
 * TokenTable and sends back the provisional ids, the lengths and the tokens
 * its table added; at the end, its share of the holdout candidates and the
 * truecasing counts. Runs only as a worker; importing it elsewhere does nothing.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { DataConfig } from '../config.ts';
import { eachPiecePair, type ColumnSpec, type CorpusPair, type Skip } from './corpus.ts';
import { StreamingHoldout, loweredSourceHash, type HoldoutState } from './split.ts';
import { PairSpans, TokenTable, type IdSink, type Tokenized } from './token-count.ts';
import { CaseCounts, casedTargetTokens, type CaseCountMaps } from './truecase.ts';
import { serveTasks } from './worker-client.ts';

export interface WorkerSetup {
  data: DataConfig;
  columns: ColumnSpec;
  seed: number;
  /** Choose a holdout (null: the split is fixed or a file). */
  holdout: boolean;
  /** The source hashes of a fixed holdout's validation pairs, or null. */
  fixedValid: string[] | null;
  truecase: boolean;
}

export interface ChunkTask {
  seq: number;
  file: string;
  startLine: number;
  bytes: Uint8Array;
}

/** A kept pair's place while the chunk's place in the stream is unknown: seq × CHUNK_SPAN + its number in the chunk. */
export const CHUNK_SPAN = 2 ** 23;

export interface ChunkResult {
  type: 'chunk';
  seq: number;
  read: number;
  tooLong: number;
  kept: number;
  skipped: number;
  firstSkip: Skip | null;
  /** Provisional ids in this worker's table, and each pair's stored lengths. */
  src: Uint32Array;
  tgt: Uint32Array;
  srcLen: Uint16Array;
  tgtLen: Uint16Array;
  /** Tokens this worker's tables added with this chunk, in id order. */
  newSrc: string[];
  newTgt: string[];
}

export interface WorkerDone {
  type: 'done';
  /** Each token's count over this worker's pairs, by the provisional ids of its tables. */
  srcCounts: Float64Array;
  tgtCounts: Float64Array;
  holdout: HoldoutState<Tokenized> | null;
  fixedValid: { index: number; item: Tokenized }[];
  cases: CaseCountMaps | null;
}


/** A growable array of one chunk's ids. */
class Ids<A extends Uint32Array | Uint16Array> implements IdSink {
  private n = 0;
  constructor(private values: A) {}

  push(value: number): boolean {
    if (this.n === this.values.length) {
      const grown = new (this.values.constructor as new (n: number) => A)(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.n++] = value;
    return false;
  }

  take(): A {
    const out = this.values.slice(0, this.n) as A;
    this.n = 0;
    return out;
  }
}

/** A pair of a piece, whose `file:line` is made only if asked for (for a kept hold-out candidate). */
class PieceLine implements CorpusPair {
  constructor(
    readonly src: string,
    readonly tgt: string,
    private readonly file: string,
    private readonly line: number,
  ) {}

  get origin(): string {
    return `${this.file}:${this.line}`;
  }
}

function run(setup: WorkerSetup, port: NonNullable<typeof parentPort>): void {
  const { data, columns } = setup;
  const table = { src: new TokenTable(), tgt: new TokenTable() };
  const holdout = setup.holdout ? new StreamingHoldout<Tokenized>(setup.seed, data.validSize) : null;
  const fixedValid = setup.fixedValid === null ? null : new Set(setup.fixedValid);
  const fixedPairs: { index: number; item: Tokenized }[] = [];
  const cases = setup.truecase ? new CaseCounts() : null;
  const spans = new PairSpans(data);
  const out = { src: new Ids(new Uint32Array(1 << 16)), tgt: new Ids(new Uint32Array(1 << 16)), srcLen: new Ids(new Uint16Array(1 << 13)), tgtLen: new Ids(new Uint16Array(1 << 13)) };

  async function chunk(task: ChunkTask): Promise<ChunkResult> {
    const counts = { read: 0, tooLong: 0 };
    let kept = 0;
    let skipped = 0;
    let firstSkip: Skip | null = null;
    const onPair = (src: string, tgt: string, line: number): void => {
      const raw = new PieceLine(src, tgt, task.file, line);
      const pair = spans.cut(raw, counts);
      if (pair === null) return;
      const index = task.seq * CHUNK_SPAN + kept++;
      if (fixedValid?.has(loweredSourceHash(pair.loweredSource()))) fixedPairs.push({ index, item: pair.detachedTokens() });
      holdout?.offerLowered(index, pair.loweredSource(), pair.detachedTokens);
      cases?.add(casedTargetTokens(data, raw.tgt));
      pair.count(table.src, table.tgt, out.src, out.tgt);
      out.srcLen.push(pair.srcStored);
      out.tgtLen.push(pair.tgtStored);
    };
    const onSkip = (skip: Skip): void => {
      skipped += 1;
      firstSkip ??= skip;
    };
    await eachPiecePair(task.bytes, task.file, task.startLine, columns, onPair, onSkip);
    return {
      type: 'chunk',
      seq: task.seq,
      ...counts,
      kept,
      skipped,
      firstSkip,
      src: out.src.take(),
      tgt: out.tgt.take(),
      srcLen: out.srcLen.take(),
      tgtLen: out.tgtLen.take(),
      newSrc: table.src.takeNew(),
      newTgt: table.tgt.takeNew(),
    };
  }

  serveTasks<ChunkTask>(
    port,
    async (task) => {
      const result = await chunk(task);
      return { reply: result, transfer: [result.src.buffer, result.tgt.buffer, result.srcLen.buffer, result.tgtLen.buffer] as ArrayBuffer[] };
    },
    (): WorkerDone => ({
      type: 'done',
      srcCounts: table.src.countsById(),
      tgtCounts: table.tgt.countsById(),
      holdout: holdout?.state() ?? null,
      fixedValid: fixedPairs,
      cases: cases?.counts() ?? null,
    }),
  );
}

if (!isMainThread && parentPort !== null && (workerData as { s2sPrepareWorker?: WorkerSetup } | null)?.s2sPrepareWorker) {
  run((workerData as { s2sPrepareWorker: WorkerSetup }).s2sPrepareWorker, parentPort);
}
