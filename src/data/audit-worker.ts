/**
 * A worker thread of the parallel audit (audit-parallel.ts): takes pieces of
 * a tab-separated corpus made of whole lines and runs PairChecks on each of
 * their pairs, sending back per pair its line, lengths, two 64-bit keys and
 * finding bits, and the piece's malformed rows; at the end, its token counts.
 * Runs only as a worker; importing it elsewhere does nothing.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { DataConfig } from '../config.ts';
import { PairChecks } from './audit.ts';
import { corpusColumns, eachPiecePair, type Skip } from './corpus.ts';
import { serveTasks } from './worker-client.ts';

export interface AuditPiece {
  file: string;
  startLine: number;
  bytes: Uint8Array;
}

export interface CheckedPiece {
  type: 'piece';
  pairs: number;
  skips: Skip[];
  /** Per pair: its line; source and target lengths; exact hi, lo, near hi, lo; finding bits. */
  lines: Int32Array;
  lengths: Int32Array;
  keys: Uint32Array;
  flags: Uint8Array;
}

export interface AuditWorkerDone {
  type: 'done';
  src: Map<string, number>;
  tgt: Map<string, number>;
}


function run(data: DataConfig, port: NonNullable<typeof parentPort>): void {
  const columns = corpusColumns(data);
  const checks = new PairChecks(data);

  async function piece(task: AuditPiece): Promise<CheckedPiece> {
    const skips: Skip[] = [];
    let n = 0;
    let lines = new Int32Array(1 << 12);
    let lengths = new Int32Array(2 << 12);
    let keys = new Uint32Array(4 << 12);
    let flags = new Uint8Array(1 << 12);
    const onPair = (src: string, tgt: string, line: number): void => {
      if (n === lines.length) {
        lines = grown(lines, new Int32Array(2 * n));
        lengths = grown(lengths, new Int32Array(4 * n));
        keys = grown(keys, new Uint32Array(8 * n));
        flags = grown(flags, new Uint8Array(2 * n));
      }
      checks.check(src, tgt);
      lines[n] = line;
      lengths[2 * n] = checks.srcLength;
      lengths[2 * n + 1] = checks.tgtLength;
      keys[4 * n] = checks.exactHi;
      keys[4 * n + 1] = checks.exactLo;
      keys[4 * n + 2] = checks.nearHi;
      keys[4 * n + 3] = checks.nearLo;
      flags[n] = checks.flags;
      n += 1;
    };
    await eachPiecePair(task.bytes, task.file, task.startLine, columns, onPair, (skip) => skips.push(skip));
    return { type: 'piece', pairs: n, skips, lines, lengths, keys, flags };
  }

  serveTasks<AuditPiece>(
    port,
    async (task) => {
      const result = await piece(task);
      return { reply: result, transfer: [result.lines.buffer, result.lengths.buffer, result.keys.buffer, result.flags.buffer] as ArrayBuffer[] };
    },
    (): AuditWorkerDone => ({ type: 'done', src: checks.srcCounts.countMap(), tgt: checks.tgtCounts.countMap() }),
  );
}

function grown<A extends Int32Array | Uint32Array | Uint8Array>(from: A, to: A): A {
  to.set(from);
  return to;
}

if (!isMainThread && parentPort !== null && (workerData as { s2sAuditWorker?: DataConfig } | null)?.s2sAuditWorker) {
  run((workerData as { s2sAuditWorker: DataConfig }).s2sAuditWorker, parentPort);
}
