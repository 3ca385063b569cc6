/**
 * `npm run bench`: s2s training and decoding speed per backend.
 *
 *   node --import tsx bench/bench.ts [--backend tensorflow,wasm,cpu] [--steps 30] [--sentences 500] [--json] [--profile] [--checkpoint DIR]
 *
 * One backend: measured in this process. Several (the default: every one,
 * cpu with small counts): each in its own child process
 * (`bench.ts --backend X --json`), so peak RSS is per backend; the parent
 * collects the JSON lines and prints them (--json) or a table.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BackendName } from '../src/backend/index.ts';
import { UserError, formatUserError } from '../src/errors.ts';
import { PROJECT_ROOT } from '../src/project.ts';
import type { BenchResult } from './measure.ts';
import { WARMUP_STEPS, countsFor, parseBenchArgs, type BenchOptions } from './options.ts';
import { formatTable } from './report.ts';
import { benchConfig, missingCorpusFiles } from './workload.ts';

const GET_CORPUS = './bin/s2s data get cmn-eng --from ../shared/data/cmn-eng/cmn-eng.tsv';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Measures one backend in this process. */
async function benchHere(backend: BackendName, o: BenchOptions): Promise<BenchResult> {
  const { initBackend } = await import('../src/backend/index.ts');
  const { checkpointDecoding, loadWorkload } = await import('./workload.ts');
  const { runBench } = await import('./measure.ts');
  await initBackend(backend, log);
  const counts = countsFor(backend, o);
  // The checkpoint first: a wrong path fails before the workload is read.
  const trained = o.checkpoint === null ? null : await checkpointDecoding(o.checkpoint, counts.sentences);
  const workload = await loadWorkload(benchConfig(o.config), WARMUP_STEPS + counts.steps, counts.sentences);
  return runBench(backend, workload, counts, log, o.profile, trained);
}

/** Measures one backend in a child process; null (and why) when the child fails. */
function benchInChild(backend: BackendName, o: BenchOptions): Promise<{ result: BenchResult | null; failure: string | null }> {
  const counts = countsFor(backend, o);
  const args = [
    '--import',
    'tsx',
    fileURLToPath(import.meta.url),
    '--backend',
    backend,
    '--json',
    '--steps',
    String(counts.steps),
    '--sentences',
    String(counts.sentences),
    '--config',
    o.config,
    ...(o.profile ? ['--profile'] : []),
    ...(o.checkpoint === null ? ['--fresh'] : ['--checkpoint', o.checkpoint]),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line) {
        resolve({ result: null, failure: `${backend}: child exited with ${signal ?? `code ${code}`}` });
        return;
      }
      // The child ran with the capped counts as explicit ones: carry the reason over.
      resolve({ result: { ...(JSON.parse(line) as BenchResult), capped: counts.capped }, failure: null });
    });
  });
}

function print(results: readonly BenchResult[], notes: readonly string[], o: BenchOptions): void {
  if (o.json) {
    for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
    for (const n of notes) log(n);
  } else {
    process.stdout.write(`${formatTable(results, notes, o.reference)}\n`);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const o = parseBenchArgs(argv);
  const missing = missingCorpusFiles(benchConfig(o.config));
  if (missing.length > 0) {
    log(`bench: corpus not found: ${missing.join(', ')}`);
    log(`run: ${GET_CORPUS}`);
    return 1;
  }
  if (o.backends.length === 1 && o.explicitBackends) {
    print([await benchHere(o.backends[0]!, o)], [], o);
    return 0;
  }
  const results: BenchResult[] = [];
  const notes: string[] = [];
  let failed = false;
  for (const backend of o.backends) {
    const { result, failure } = await benchInChild(backend, o);
    if (result) {
      results.push(result);
      if (result.capped) notes.push(`note: ${result.capped}`);
    } else if (o.explicitBackends) {
      failed = true;
      notes.push(`error: ${failure}`);
    } else {
      notes.push(`skipped: ${failure} (see its stderr above)`);
    }
  }
  print(results, notes, o);
  return failed || results.length === 0 ? 1 : 0;
}

try {
  process.exitCode = await main(process.argv);
} catch (err) {
  if (!(err instanceof UserError)) throw err;
  log(formatUserError(err).replace(/^s2s:/gm, 'bench:'));
  process.exitCode = err.exitCode;
}
