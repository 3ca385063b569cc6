/**
 * The audit's pass on several threads: the tab-separated corpus is cut into
 * pieces of whole lines (as prepare's parallel pass cuts it), worker threads
 * (audit-worker.ts) split, tokenize, hash and check their pairs, and this
 * thread takes the results in corpus order for what needs the pairs before
 * (duplicates, the length-ratio histogram) and adds up the token counts. The
 * report is the one the single-threaded pass makes.
 */
import type { DataConfig } from '../config.ts';
import { UserError } from '../errors.ts';
import type { CheckedPair } from './audit.ts';
import type { AuditPiece, AuditWorkerDone, CheckedPiece } from './audit-worker.ts';
import { TOO_LONG, lineAlignedChunks, type SkipLog } from './corpus.ts';
import { WorkerClient, type WorkerFailure } from './worker-client.ts';

export interface ParallelAuditOptions {
  data: Readonly<DataConfig>;
  workers: number;
  /** Bytes per piece (default 1 MiB). */
  pieceBytes?: number;
  skips: SkipLog;
  /** The pairs that follow are from `file`. */
  enterFile: (file: string) => void;
  /** One pair's results, in corpus order. */
  take: (pair: CheckedPair) => void;
}

/** A worker's failure as this thread's error: its UserError as one, anything else as one line naming the worker. */
function workerError(failure: WorkerFailure): Error {
  if (failure.user !== null) return new UserError(failure.message, failure.user);
  return new UserError(`an audit worker thread failed: ${failure.message}`, { hint: 'run again with --workers 1 to audit on one thread' });
}

type Pending = { file: string; result: Promise<CheckedPiece> } | { file: string; tooLongLine: number };

/** Runs the audit's per-pair checks over a tab-separated corpus on `opts.workers` threads; returns the token counts. */
export async function parallelAudit(opts: ParallelAuditOptions): Promise<{ src: Map<string, number>; tgt: Map<string, number> }> {
  const workers = Array.from({ length: opts.workers }, () => new WorkerClient('audit-worker', { s2sAuditWorker: { ...opts.data } }, workerError));
  const pair: CheckedPair = { line: 0, srcLength: 0, tgtLength: 0, exactHi: 0, exactLo: 0, nearHi: 0, nearLo: 0, flags: 0 };
  const absorb = async (pending: Pending): Promise<void> => {
    if ('tooLongLine' in pending) {
      opts.skips.add({ where: `${pending.file}:${pending.tooLongLine}`, reason: TOO_LONG });
      return;
    }
    const r = await pending.result;
    for (const skip of r.skips) opts.skips.add(skip);
    opts.enterFile(pending.file);
    for (let i = 0; i < r.pairs; i++) {
      pair.line = r.lines[i]!;
      pair.srcLength = r.lengths[2 * i]!;
      pair.tgtLength = r.lengths[2 * i + 1]!;
      pair.exactHi = r.keys[4 * i]!;
      pair.exactLo = r.keys[4 * i + 1]!;
      pair.nearHi = r.keys[4 * i + 2]!;
      pair.nearLo = r.keys[4 * i + 3]!;
      pair.flags = r.flags[i]!;
      opts.take(pair);
    }
  };
  try {
    const queue: Pending[] = [];
    for (const file of opts.data.data) {
      for await (const piece of lineAlignedChunks(file, opts.pieceBytes)) {
        if ('tooLongLine' in piece) queue.push({ file: piece.file, tooLongLine: piece.tooLongLine });
        else {
          const worker = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
          const bytes = new Uint8Array(piece.bytes.buffer, piece.bytes.byteOffset, piece.bytes.length); // transferred as it is
          const task: AuditPiece = { file: piece.file, startLine: piece.startLine, bytes };
          queue.push({ file: piece.file, result: worker.request<CheckedPiece>(task, [bytes.buffer as ArrayBuffer]) });
        }
        while (queue.length >= 2 * workers.length) await absorb(queue.shift()!);
      }
    }
    while (queue.length > 0) await absorb(queue.shift()!);
    const done = await Promise.all(workers.map((w) => w.request<AuditWorkerDone>({ type: 'finish' })));
    const counts = { src: new Map<string, number>(), tgt: new Map<string, number>() };
    for (const d of done) {
      for (const side of ['src', 'tgt'] as const) for (const [token, n] of d[side]) counts[side].set(token, (counts[side].get(token) ?? 0) + n);
    }
    return counts;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
