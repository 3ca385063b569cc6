/**
 * `npm run bench:data`: memory and time of preparing and training on large
 * corpora, per corpus size. Synthetic corpora (bench/synth-corpus.ts, seeded
 * recombination of cmn-eng) are generated into a temporary directory.
 *
 *   npm run bench:data -- [--pairs 50k,1m,5m] [--steps 200] [--no-train] [--no-audit] [--json] [--keep DIR]
 *
 * Per size (default 50k, 1m and 5m), each in its own process (peak RSS from the process itself):
 *   - a plain Node loop reading the file's lines (readline), the reference time;
 *   - `prepare` (prepareDataset, default config): seconds and peak RSS, and its time ÷ the loop's
 *     (elapsed, and CPU time, which a loaded machine distorts less);
 *   - training from the prepared set: seconds from process start to the end of the
 *     first step (and in parts: backend start-up, opening the set, the model, the
 *     batch plan, the step), and peak RSS over the first --steps steps and its ratio
 *     to the first size's; the backend is started once, untimed, before the first
 *     timed run, so that no run pays for reading TensorFlow's library from disk;
 *   - `audit` (auditCorpus, default config, as many threads as `s2s audit` takes): seconds, CPU seconds and peak RSS.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../src/project.ts';
import { CMN_ENG, writeSyntheticCorpus } from './synth-corpus.ts';

interface Measured {
  seconds: number;
  cpuSeconds: number;
  peakRssMb: number;
  [key: string]: unknown;
}

export interface DataBenchRow {
  pairs: number;
  corpusMb: number;
  readLinesSeconds: number;
  readLinesCpuSeconds: number;
  prepare: { seconds: number; cpuSeconds: number; peakRssMb: number; timesReadLines: number; cpuTimesReadLines: number };
  train: {
    /** Process start to the end of the first step, and that time in parts (bench/data-train.ts). */
    firstStepSeconds: number;
    backendSeconds: number;
    dataOpenSeconds: number;
    modelSeconds: number;
    planSeconds: number;
    stepSeconds: number;
    peakRssMb: number;
    /** peakRssMb ÷ the same at the first (smallest) size of the run. */
    peakRssTimesFirst: number;
    steps: number;
  } | null;
  audit: { seconds: number; cpuSeconds: number; peakRssMb: number; workers: number } | null;
  /** The 1-minute load average when the size was done (the machine may be shared). */
  loadAverage: number;
}

const WORKER = join(PROJECT_ROOT, 'bench', 'data-worker.ts');

function worker(args: string[]): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`data-worker ${args[0]} exited with ${code}`));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Measured);
    });
  });
}

function parseArgs(argv: string[]) {
  const opts = { pairs: [50_000, 1_000_000, 5_000_000], steps: 200, train: true, audit: true, json: false, keep: null as string | null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--pairs') opts.pairs = argv[++i]!.split(',').map((s) => Number(s.replace(/k$/i, '000').replace(/m$/i, '000000')));
    else if (a === '--steps') opts.steps = Number(argv[++i]);
    else if (a === '--no-train') opts.train = false;
    else if (a === '--no-audit') opts.audit = false;
    else if (a === '--json') opts.json = true;
    else if (a === '--keep') opts.keep = argv[++i]!;
    else throw new Error(`unknown option ${a}`);
  }
  if (opts.pairs.some((n) => !Number.isSafeInteger(n) || n <= 0)) throw new Error('--pairs: positive integers, e.g. 50000,1000000 (or 50k,1m)');
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(CMN_ENG)) {
    process.stderr.write(`bench:data needs the cmn-eng corpus to recombine (${CMN_ENG}): s2s data get cmn-eng\n`);
    process.exit(1);
  }
  const work = opts.keep ?? mkdtempSync(join(tmpdir(), 's2s-bench-data-'));
  mkdirSync(work, { recursive: true });
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const rows: DataBenchRow[] = [];
  if (opts.train) {
    // Untimed: the first process to load TensorFlow's native library reads it from disk
    // (tens of seconds on a cold page cache); every timed run after it starts warm.
    log('starting the backend once (untimed) so that every timed run finds it in the page cache');
    await worker(['warm']);
  }
  try {
    for (const pairs of opts.pairs) {
      const corpus = join(work, `synth-${pairs}.tsv`);
      if (!existsSync(corpus)) {
        log(`generating ${pairs} pairs → ${corpus}`);
        await writeSyntheticCorpus(corpus, pairs);
      }
      const dir = join(work, `prepared-${pairs}`);
      log(`${pairs} pairs: reading lines`);
      const read = await worker(['lines', corpus]);
      log(`${pairs} pairs: prepare`);
      const prep = await worker(['prepare', corpus, dir]);
      let train: DataBenchRow['train'] = null;
      if (opts.train) {
        log(`${pairs} pairs: ${opts.steps} training steps`);
        const t = await worker(['train', corpus, dir, String(opts.steps)]);
        const firstRss = rows[0]?.train?.peakRssMb ?? t.peakRssMb;
        train = {
          firstStepSeconds: t.firstStepSeconds as number,
          backendSeconds: t.backendSeconds as number,
          dataOpenSeconds: t.dataOpenSeconds as number,
          modelSeconds: t.modelSeconds as number,
          planSeconds: t.planSeconds as number,
          stepSeconds: t.stepSeconds as number,
          peakRssMb: t.peakRssMb,
          peakRssTimesFirst: t.peakRssMb / firstRss,
          steps: t.steps as number,
        };
      }
      let audit: DataBenchRow['audit'] = null;
      if (opts.audit) {
        log(`${pairs} pairs: audit`);
        const a = await worker(['audit', corpus]);
        audit = { seconds: a.seconds, cpuSeconds: a.cpuSeconds, peakRssMb: a.peakRssMb, workers: a.workers as number };
      }
      const row: DataBenchRow = {
        pairs,
        corpusMb: Math.round(statSync(corpus).size / 1e6),
        readLinesSeconds: read.seconds,
        readLinesCpuSeconds: read.cpuSeconds,
        prepare: {
          seconds: prep.seconds,
          cpuSeconds: prep.cpuSeconds,
          peakRssMb: prep.peakRssMb,
          timesReadLines: prep.seconds / read.seconds,
          cpuTimesReadLines: prep.cpuSeconds / read.cpuSeconds,
        },
        train,
        audit,
        loadAverage: Math.round(loadavg()[0]! * 10) / 10,
      };
      rows.push(row);
      if (opts.json) process.stdout.write(`${JSON.stringify(row)}\n`);
      if (!opts.keep) rmSync(corpus, { force: true });
    }
  } finally {
    if (!opts.keep) rmSync(work, { recursive: true, force: true });
  }
  if (!opts.json) process.stdout.write(formatTable(rows));
}

const r1 = (x: number): string => x.toFixed(1);
const r2 = (x: number): string => x.toFixed(2);

/** `4.6 = 3.9 + 0.20 + 0.01 + 0.30 + 0.15`: the first step's time from process start, and its parts. */
function startUp(t: NonNullable<DataBenchRow['train']>): string {
  return `${r1(t.firstStepSeconds)} = ${r1(t.backendSeconds)} + ${[t.dataOpenSeconds, t.modelSeconds, t.planSeconds, t.stepSeconds].map(r2).join(' + ')}`;
}

export function formatTable(rows: readonly DataBenchRow[]): string {
  const lines = [
    '| pairs | corpus MB | read lines s | prepare s | prepare ÷ read | prepare ÷ read, CPU | prepare peak RSS MB | first step s = backend + data open + model + plan + step | train peak RSS MB (× first row) | audit s (CPU) | audit peak RSS MB | load |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const train = r.train ? `${r.train.peakRssMb} (${r2(r.train.peakRssTimesFirst)}×)` : '–';
    const audit = r.audit ? `${r1(r.audit.seconds)} (${r1(r.audit.cpuSeconds)})` : '–';
    lines.push(
      `| ${r.pairs.toLocaleString('en-US')} | ${r.corpusMb} | ${r1(r.readLinesSeconds)} | ${r1(r.prepare.seconds)} | ${r1(r.prepare.timesReadLines)}× | ${r1(r.prepare.cpuTimesReadLines)}× | ${r.prepare.peakRssMb} | ${r.train ? startUp(r.train) : '–'} | ${train} | ${audit} | ${r.audit?.peakRssMb ?? '–'} | ${r.loadAverage} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
