/**
 * Soak test for leaks: per backend (each in its own process), train STEPS
 * steps and translate SENTENCES sentences greedily and with beam search, and
 * compare tf.memory().numTensors and the RSS at the start (after a warm-up that
 * lets the backend allocate its pools) and at the end. Tensors must be equal
 * exactly and RSS within 10%; exits 1 otherwise.
 *
 *   npm run soak                         # tensorflow, wasm, cpu
 *   npm run soak -- --backends wasm,cpu --steps 1000 --sentences 1000
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../src/backend/index.ts';
import { buildConfig } from '../src/config.ts';
import { configNameOf, readConfigFile, resolveConfigPath } from '../src/config-file.ts';
import { makeBatch, planBatches, type EncodedPair } from '../src/data/batches.ts';
import { buildVocabs, loadDataset } from '../src/data/dataset.ts';
import { search } from '../src/decode/search.ts';
import { createModel, disposeModel } from '../src/model/seq2seq.ts';
import { PROJECT_ROOT } from '../src/project.ts';
import { Adam } from '../src/train/adam.ts';
import { Rng } from '../src/train/rng.ts';
import { trainStep } from '../src/train/step.ts';

const RSS_TOLERANCE = 0.1;
const WARMUP_STEPS = 100;
const WARMUP_SENTENCES = 64;
const BEAM = 5;
const DECODE_BATCH = 32;

interface Options {
  backends: BackendName[];
  steps: number;
  sentences: number;
  /** Steps on the slow pure-JS cpu backend. */
  cpuSteps: number;
  config: string;
}

interface Sample {
  numTensors: number;
  rssMiB: number;
}

interface BackendResult {
  backend: BackendName;
  steps: number;
  sentences: number;
  beforeWarmup: Sample;
  start: Sample;
  afterTraining: Sample;
  end: Sample;
  seconds: number;
}

function parseArgs(argv: string[]): Options & { child: BackendName | null } {
  const opts: Options & { child: BackendName | null } = {
    backends: ['tensorflow', 'wasm', 'cpu'],
    steps: 1000,
    sentences: 1000,
    cpuSteps: 1000,
    config: 'tiny',
    child: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--backends' || flag === '--backend') opts.backends = value.split(',') as BackendName[];
    else if (flag === '--steps') opts.steps = Number(value);
    else if (flag === '--cpu-steps') opts.cpuSteps = Number(value);
    else if (flag === '--sentences') opts.sentences = Number(value);
    else if (flag === '--config') opts.config = value;
    else if (flag === '--child') opts.child = value as BackendName;
    else throw new Error(`unknown option ${flag}`);
  }
  return opts;
}

function sample(): Sample {
  (globalThis as { gc?: () => void }).gc?.();
  return { numTensors: tf.memory().numTensors, rssMiB: process.memoryUsage().rss / 2 ** 20 };
}

/** Trains `steps` steps and decodes `sentences` sentences greedily and with beam search on one backend. */
async function soak(backend: BackendName, opts: Options): Promise<BackendResult> {
  await initBackend(backend, () => {});
  tf.enableProdMode();
  const began = performance.now();
  const path = resolveConfigPath(opts.config, PROJECT_ROOT);
  const base = buildConfig(configNameOf(path), readConfigFile(path));
  const config = buildConfig(base.name, readConfigFile(path), {
    data: { data: base.data.data.map((p) => resolve(PROJECT_ROOT, p)) },
  });
  const dataset = await loadDataset(config.data, { seed: config.training.seed });
  const vocabs = buildVocabs(dataset.train, config.data);
  const encode = (p: { src: string[]; tgt: string[] }): EncodedPair => ({ src: vocabs.src.encode(p.src), tgt: vocabs.tgt.encode(p.tgt) });
  const train = dataset.train.map(encode);
  const sources = [...dataset.valid, ...dataset.train].map((p) => vocabs.src.encode(p.src));
  const t = config.training;
  const rng = new Rng(`${t.seed}/data`);
  const plan = planBatches(train, { batchSize: t.batchSize, batchTokens: t.batchTokens }, (items) => rng.shuffle(items));
  const model = createModel(config.model, vocabs.src.size, vocabs.tgt.size, t.seed);
  const adam = new Adam({ lr: t.lr, beta1: t.beta1, beta2: t.beta2 });
  let step = 0;
  const trainSteps = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i += 1) {
      step += 1;
      trainStep(model, adam, makeBatch(train, plan[step % plan.length]!), config, step);
      if (step % 50 === 0) await new Promise((r) => setImmediate(r));
    }
  };
  const translate = async (n: number, beam: number): Promise<void> => {
    for (let i = 0; i < n; i += DECODE_BATCH) {
      const batch = Array.from({ length: Math.min(DECODE_BATCH, n - i) }, (_, j) => sources[(i + j) % sources.length]!);
      await search(model, batch, { ...config.decoding, beam, nbest: 1 });
    }
  };

  const steps = backend === 'cpu' ? opts.cpuSteps : opts.steps;
  const beforeWarmup = sample();
  await trainSteps(WARMUP_STEPS);
  await translate(WARMUP_SENTENCES, 1);
  await translate(WARMUP_SENTENCES, BEAM);
  const start = sample();
  await trainSteps(steps);
  const afterTraining = sample();
  await translate(opts.sentences, 1);
  await translate(opts.sentences, BEAM);
  const end = sample();
  adam.dispose();
  disposeModel(model);
  return { backend, steps, sentences: opts.sentences, beforeWarmup, start, afterTraining, end, seconds: (performance.now() - began) / 1000 };
}

/** Why a backend's run is not flat, or null. */
function leakVerdict(r: BackendResult): string | null {
  const problems: string[] = [];
  if (r.end.numTensors !== r.start.numTensors) problems.push(`numTensors ${r.start.numTensors} → ${r.end.numTensors}`);
  if (r.end.rssMiB > r.start.rssMiB * (1 + RSS_TOLERANCE)) {
    problems.push(`RSS ${r.start.rssMiB.toFixed(1)} → ${r.end.rssMiB.toFixed(1)} MiB (> ${100 * RSS_TOLERANCE}%)`);
  }
  return problems.length > 0 ? problems.join('; ') : null;
}

function row(r: BackendResult): string {
  const s = (x: Sample) => `${String(x.numTensors).padStart(4)} tensors ${x.rssMiB.toFixed(1).padStart(7)} MiB`;
  return (
    `${r.backend.padEnd(10)} ${String(r.steps).padStart(5)} steps ${String(r.sentences).padStart(5)}×2 sentences  ` +
    `before warm-up ${s(r.beforeWarmup)} | start ${s(r.start)} | after training ${s(r.afterTraining)} | end ${s(r.end)}  (${r.seconds.toFixed(0)} s)`
  );
}

async function runChild(backend: BackendName, opts: Options): Promise<void> {
  const result = await soak(backend, opts);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runParent(opts: Options): number {
  const self = fileURLToPath(import.meta.url);
  let failed = false;
  for (const backend of opts.backends) {
    const args = ['--expose-gc', '--import', 'tsx', self, '--child', backend, '--steps', String(opts.steps), '--cpu-steps', String(opts.cpuSteps), '--sentences', String(opts.sentences), '--config', opts.config];
    const child = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = child.stdout.trim().split('\n').at(-1) ?? '';
    if (child.status !== 0 || !line.startsWith('{')) {
      process.stdout.write(`${backend.padEnd(10)} could not run: ${child.stderr.trim().split('\n').slice(-3).join(' / ')}\n`);
      failed = true;
      continue;
    }
    const result = JSON.parse(line) as BackendResult;
    const verdict = leakVerdict(result);
    process.stdout.write(`${row(result)}  ${verdict === null ? 'flat' : `LEAK: ${verdict}`}\n`);
    if (verdict !== null) failed = true;
  }
  return failed ? 1 : 0;
}

let opts: ReturnType<typeof parseArgs> | null = null;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`soak: ${(err as Error).message} (options: --backend[s] LIST, --steps N, --cpu-steps N, --sentences N, --config NAME)\n`);
  process.exitCode = 2;
}
if (opts !== null && opts.child !== null) await runChild(opts.child, opts);
else if (opts !== null) process.exitCode = runParent(opts);
