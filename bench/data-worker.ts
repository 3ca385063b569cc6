/**
 * One measurement of `npm run bench:data`, run in its own process so that its
 * peak RSS is its own; prints one JSON line: { seconds, peakRssMb, ... }.
 *
 *   data-worker.ts lines FILE          a plain Node loop over the file's lines (readline)
 *   data-worker.ts prepare FILE DIR [WORKERS]
 *                                      prepareDataset with the default config on FILE into DIR,
 *                                      on WORKERS threads (default: the available cores, as `s2s prepare`)
 *   data-worker.ts train FILE DIR N    N training steps (cpu-light config) from the set in DIR
 *   data-worker.ts audit FILE          auditCorpus with the default config on FILE (threads: the available cores, as `s2s audit`)
 *   data-worker.ts warm                starts the backend once (untimed), so its library is in the page cache
 *
 * `cpuSeconds` is the process's user + system CPU time over the measured part,
 * which a loaded machine inflates less than the elapsed `seconds`.
 */
import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { DEFAULTS, buildConfig } from '../src/config.ts';

const peakRssMb = (): number => Math.round(process.resourceUsage().maxRSS / 1024);

/** Elapsed and CPU seconds of `work`. */
async function timed<T extends object>(work: () => Promise<T>): Promise<T & { seconds: number; cpuSeconds: number }> {
  const began = performance.now();
  const cpu = process.cpuUsage();
  const result = await work();
  const used = process.cpuUsage(cpu);
  return { ...result, seconds: (performance.now() - began) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

/** The bench's data config: the defaults (cmn-eng: en → zh, max-len 40, 500 validation pairs) on FILE. */
export function benchDataConfig(file: string) {
  return buildConfig('bench-data', { data: { ...DEFAULTS.data, data: [file] } });
}

function lines(file: string): Promise<object> {
  return timed(async () => {
    let n = 0;
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) if (line !== '') n += 1;
    return { lines: n };
  });
}

async function prepare(file: string, dir: string, workers: number): Promise<object> {
  const { prepareDataset } = await import('../src/data/prepared.ts');
  const config = benchDataConfig(file);
  return timed(async () => {
    const index = await prepareDataset({ data: config.data, seed: config.training.seed, dir, workers });
    return { pairs: index.report.read, train: index.report.train, workers };
  });
}

async function audit(file: string): Promise<object> {
  const { auditCorpus, defaultAuditWorkers } = await import('../src/data/audit.ts');
  const config = benchDataConfig(file);
  return timed(async () => {
    const workers = defaultAuditWorkers();
    const report = await auditCorpus(config.data, { workers });
    return { pairs: report.pairs, workers };
  });
}

const [mode, file, dir, steps] = process.argv.slice(2);
let result: object;
if (mode === 'lines') result = await lines(file!);
else if (mode === 'prepare') result = await prepare(file!, dir!, steps === undefined ? availableParallelism() : Number(steps));
else if (mode === 'audit') result = await audit(file!);
else if (mode === 'warm') result = await (await import('./data-train.ts')).warmBackend();
else if (mode === 'train') result = await (await import('./data-train.ts')).trainSteps(benchDataConfig(file!), dir!, Number(steps));
else throw new Error(`unknown mode ${mode}`);
process.stdout.write(`${JSON.stringify({ ...result, peakRssMb: peakRssMb() })}\n`);
