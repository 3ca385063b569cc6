/**
 * Prepare's first pass on several threads, the way fairseq-preprocess
 * --workers splits its work: the corpus is cut into pieces of whole lines,
 * worker threads (prepare-worker.ts) split, tokenize and count them, each
 * with its own provisional token table, and this thread merges their results
 * in corpus order: each worker's new tokens are looked up in (or added to)
 * the one table and its ids remapped and written; at the end, the workers'
 * token counts are added to the table's. Tokens, counts,
 * provisional ids, the holdout and every message come out exactly as the
 * single-threaded pass makes them.
 *
 * Used for tab-separated corpora; CSV and --src/--tgt corpora are read on
 * one thread.
 */
import type { DataConfig } from '../config.ts';
import { UserError } from '../errors.ts';
import { TOO_LONG, lineAlignedChunks, type ColumnSpec, type SkipLog } from './corpus.ts';
import { CHUNK_SPAN, type ChunkResult, type ChunkTask, type WorkerDone, type WorkerSetup } from './prepare-worker.ts';
import { StreamingHoldout } from './split.ts';
import type { TokenTable, Tokenized } from './token-count.ts';
import type { CaseCounts } from './truecase.ts';
import { WorkerClient, type WorkerFailure } from './worker-client.ts';

/** Where the merged provisional ids and lengths go (prepared.ts's writers); true once they want flushing. */
export interface ArraySink {
  pushArray(values: Uint32Array | Uint16Array): boolean;
  flush(): Promise<void>;
}

export interface ParallelPassOptions {
  data: Readonly<DataConfig>;
  columns: ColumnSpec;
  seed: number;
  workers: number;
  /** Bytes per piece of corpus. */
  pieceBytes: number;
  /** Choose a holdout split (false: the split is fixed or a file). */
  holdout: boolean;
  fixedValid: ReadonlySet<string> | null;
  skips: SkipLog;
  counts: { read: number; tooLong: number };
  table: { src: TokenTable; tgt: TokenTable };
  cases: CaseCounts | null;
  out: { src: ArraySink; tgt: ArraySink; srcLen: ArraySink; tgtLen: ArraySink };
  onProgress?: (pairs: number) => void;
}

export interface ParallelPassResult {
  kept: number;
  holdout: StreamingHoldout<Tokenized> | null;
  fixedValidPairs: { index: number; item: Tokenized }[];
}

/** Provisional id in a worker's table → id in the merged table. */
class IdMap {
  private ids = new Uint32Array(1 << 12);
  private n = 0;

  push(id: number): void {
    if (this.n === this.ids.length) {
      const grown = new Uint32Array(this.n * 2);
      grown.set(this.ids);
      this.ids = grown;
    }
    this.ids[this.n++] = id;
  }

  /** Provisional id in the worker's table → id in the merged table, for every id the worker has told of. */
  view(): Uint32Array {
    return this.ids.subarray(0, this.n);
  }

  /** Replaces each of `values` by its merged id, in place. */
  apply(values: Uint32Array): void {
    const ids = this.ids;
    for (let i = 0; i < values.length; i++) values[i] = ids[values[i]!]!;
  }
}

class PrepareWorker extends WorkerClient {
  readonly map = { src: new IdMap(), tgt: new IdMap() };

  constructor(setup: WorkerSetup) {
    super('prepare-worker', { s2sPrepareWorker: setup }, workerError);
  }
}

/** A worker's failure as this thread's error: its UserError as one, anything else as one line naming the worker. */
function workerError(failure: WorkerFailure): Error {
  if (failure.user !== null) return new UserError(failure.message, failure.user);
  return new UserError(`a prepare worker thread failed: ${failure.message}`, { hint: 'run again with --workers 1 to prepare on one thread' });
}

type Pending = { worker: PrepareWorker; result: Promise<ChunkResult> } | { worker: null; where: string };

/** Pass 1 over a tab-separated corpus on `opts.workers` threads; fills `opts.table`, `opts.counts`, `opts.cases` and `opts.out`. */
export async function parallelFirstPass(opts: ParallelPassOptions): Promise<ParallelPassResult> {
  const { data, counts, skips, table, out } = opts;
  const setup: WorkerSetup = {
    data: { ...data },
    columns: opts.columns,
    seed: opts.seed,
    holdout: opts.holdout,
    fixedValid: opts.fixedValid === null ? null : [...opts.fixedValid],
    truecase: opts.cases !== null,
  };
  const workers = Array.from({ length: opts.workers }, () => new PrepareWorker(setup));
  try {
    /** Kept pairs before each piece (by its seq). */
    const keptBefore: number[] = [];
    let kept = 0;
    let nextProgress = 0;
    const absorb = async (pending: Pending): Promise<void> => {
      keptBefore.push(kept);
      if (pending.worker === null) {
        skips.add({ where: pending.where, reason: TOO_LONG });
        return;
      }
      const r = await pending.result;
      counts.read += r.read;
      counts.tooLong += r.tooLong;
      if (r.firstSkip !== null) {
        skips.add(r.firstSkip);
        skips.count += r.skipped - 1;
      }
      for (const token of r.newSrc) pending.worker.map.src.push(table.src.intern(token));
      for (const token of r.newTgt) pending.worker.map.tgt.push(table.tgt.intern(token));
      pending.worker.map.src.apply(r.src);
      pending.worker.map.tgt.apply(r.tgt);
      let full = out.src.pushArray(r.src);
      full = out.tgt.pushArray(r.tgt) || full;
      full = out.srcLen.pushArray(r.srcLen) || full;
      full = out.tgtLen.pushArray(r.tgtLen) || full;
      kept += r.kept;
      if (kept >= nextProgress) {
        opts.onProgress?.(counts.read);
        nextProgress = kept + 65536;
      }
      if (full) for (const sink of Object.values(out)) await sink.flush();
    };

    const queue: Pending[] = [];
    let seq = 0;
    for (const file of data.data) {
      for await (const piece of lineAlignedChunks(file, opts.pieceBytes)) {
        if ('tooLongLine' in piece) {
          queue.push({ worker: null, where: `${piece.file}:${piece.tooLongLine}` });
        } else {
          const worker = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
          const bytes = new Uint8Array(piece.bytes.buffer, piece.bytes.byteOffset, piece.bytes.length); // transferred as it is
          const task: ChunkTask = { seq, file: piece.file, startLine: piece.startLine, bytes };
          queue.push({ worker, result: worker.request<ChunkResult>(task, [bytes.buffer as ArrayBuffer]) });
        }
        seq += 1;
        while (queue.length >= 2 * workers.length) await absorb(queue.shift()!);
      }
    }
    while (queue.length > 0) await absorb(queue.shift()!);

    const done = await Promise.all(workers.map((w) => w.request<WorkerDone>({ type: 'finish' })));
    // Each worker counted its own pairs' tokens: the counts are added once here, not an id at a time.
    done.forEach((d, w) => {
      table.src.addCounts(d.srcCounts, workers[w]!.map.src.view());
      table.tgt.addCounts(d.tgtCounts, workers[w]!.map.tgt.view());
    });
    const reindex = (index: number): number => keptBefore[Math.floor(index / CHUNK_SPAN)]! + (index % CHUNK_SPAN);
    for (const d of done) if (d.cases !== null) opts.cases?.addCounts(d.cases);
    const holdout = opts.holdout
      ? StreamingHoldout.merged(opts.seed, data.validSize, done.map((d) => d.holdout!), reindex)
      : null;
    const fixedValidPairs = done
      .flatMap((d) => d.fixedValid)
      .map(({ index, item }) => ({ index: reindex(index), item }))
      .sort((a, b) => a.index - b.index);
    return { kept, holdout, fixedValidPairs };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
