/**
 * One measurement of `npm run bench:data`, run in its own process so that its
 * peak RSS is its own; prints one JSON line: { seconds, peakRssMb, ... }.
 *
 *   data-worker.ts lines FILE          a plain Node loop over the file's lines (readline)
 *   data-worker.ts prepare FILE DIR    prepareDataset with the default config on FILE into DIR
 *   data-worker.ts train FILE DIR N    N training steps (cpu-light config) from the set in DIR
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DEFAULTS, buildConfig } from '../src/config.ts';

const peakRssMb = (): number => Math.round(process.resourceUsage().maxRSS / 1024);

/** The bench's data config: the defaults (cmn-eng: en → zh, max-len 40, 500 validation pairs) on FILE. */
export function benchDataConfig(file: string) {
  return buildConfig('bench-data', { data: { ...DEFAULTS.data, data: [file] } });
}

async function lines(file: string): Promise<object> {
  const began = performance.now();
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) if (line !== '') n += 1;
  return { lines: n, seconds: (performance.now() - began) / 1000 };
}

async function prepare(file: string, dir: string): Promise<object> {
  const { prepareDataset } = await import('../src/data/prepared.ts');
  const config = benchDataConfig(file);
  const began = performance.now();
  const index = await prepareDataset({ data: config.data, seed: config.training.seed, dir });
  return { pairs: index.report.read, train: index.report.train, seconds: (performance.now() - began) / 1000 };
}

const [mode, file, dir, steps] = process.argv.slice(2);
let result: object;
if (mode === 'lines') result = await lines(file!);
else if (mode === 'prepare') result = await prepare(file!, dir!);
else if (mode === 'train') result = await (await import('./data-train.ts')).trainSteps(benchDataConfig(file!), dir!, Number(steps));
else throw new Error(`unknown mode ${mode}`);
process.stdout.write(`${JSON.stringify({ ...result, peakRssMb: peakRssMb() })}\n`);
