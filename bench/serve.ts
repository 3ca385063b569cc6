/**
 * `npm run bench:serve`: `s2s serve` on loopback under 1, 8 and 64 concurrent
 * clients, each sending single-sentence requests drawn from the model's
 * validation split, against the same sentences decoded offline (translate()
 * at batch 64, what `s2s translate` runs, and one sentence at a time) in the
 * same run. The 1- and 64-client levels run `--rounds` times, each round
 * between two offline runs of its kind (batch 64 around a 64-client round,
 * one sentence at a time around a 1-client round; the server idles
 * meanwhile), so that a ratio compares measurements a second or two apart on
 * a machine whose speed drifts; the targets use the median round. Also the /health latency while 64 clients keep
 * the decoder busy, errors, and the server's tensor count before and after.
 *
 *   node --import tsx bench/serve.ts [--checkpoint DIR] [--requests 512] [--single 128] [--rounds 5] [--max-wait-ms 5] [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { isAbsolute, join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { UserError, formatUserError } from '../src/errors.ts';
import { PROJECT_ROOT } from '../src/project.ts';
import { median, parseScriptFlags, round } from './options.ts';

const CLIENT_LEVELS = [1, 8, 64] as const;

interface ServeBenchOptions {
  checkpoint: string;
  /** Requests per level of 8 and 64 clients. */
  requests: number;
  /** Requests of the 1-client level, and sentences decoded one at a time offline. */
  single: number;
  /** Rounds of the 1- and 64-client levels, each between offline runs. */
  rounds: number;
  /** Passed to s2s serve. */
  maxWaitMs: number;
  json: boolean;
}

function intAtLeast(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got '${value}'`);
    return n;
  };
}
const positiveInt = intAtLeast(1);

/** The shipped model when present, else the default config's training output. */
function defaultCheckpoint(): string {
  const shipped = join(PROJECT_ROOT, 'models', 'en-zh-tatoeba');
  return existsSync(shipped) ? shipped : join(PROJECT_ROOT, 'checkpoints', 'cmn-eng');
}

function parseArgs(argv: readonly string[]): ServeBenchOptions {
  const program = new Command('bench:serve')
    .description('s2s serve throughput and latency under 1, 8 and 64 concurrent clients, against offline decoding in the same run')
    .option('--checkpoint <dir>', 'a trained cmn-eng model (default: models/en-zh-tatoeba, else checkpoints/cmn-eng)')
    .option('--requests <n>', 'single-sentence requests at 8 and at 64 clients', positiveInt, 512)
    .option('--single <n>', 'requests at 1 client (and sentences decoded one at a time offline)', positiveInt, 128)
    .option('--rounds <n>', 'rounds of the 1- and 64-client levels, each between two offline runs', positiveInt, 5)
    .option('--max-wait-ms <n>', 'the server\'s --max-wait-ms', intAtLeast(0), 5)
    .option('--json', 'one JSON object instead of the table', false)
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  parseScriptFlags(program, argv, 'bench:serve');
  const o = program.opts<{ checkpoint?: string; requests: number; single: number; rounds: number; maxWaitMs: number; json: boolean }>();
  return { checkpoint: o.checkpoint ?? defaultCheckpoint(), requests: o.requests, single: o.single, rounds: o.rounds, maxWaitMs: o.maxWaitMs, json: o.json };
}

interface LevelResult {
  clients: number;
  requests: number;
  errors: number;
  reqPerSec: number;
  sentPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  /** GET /health latency while the level ran (ms). */
  healthP50: number;
  healthMax: number;
  /** Sentences decoding together, on average over the time the decoder was busy. */
  meanBatch: number;
  /** Milliseconds a sentence waited in the queue before its decoding started, on average. */
  meanWaitMs: number;
  /** The share of the level's time the server spent decoding. */
  decoderBusy: number;
}

interface ServeBenchResult {
  model: string;
  backend: string;
  maxWaitMs: number;
  sentences: number;
  /** translate() at batch 64, sentences/s: one run before the first 64-client round and one after each. */
  offlineBatch64: number[];
  /** translate() one sentence at a time, median ms: one run before the first 1-client round and one after each. */
  offlineSingleP50: number[];
  levels: LevelResult[];
  /** Per round: serve at 64 clients ÷ offline batch 64 (mean of the runs before and after it) sentences/s. */
  throughputRatios64: number[];
  /** Per round: serve p50 at 1 client ÷ offline single-sentence p50 (mean of the runs before and after it). */
  latencyRatios1: number[];
  /** The median round's; target ≥ 0.8. */
  throughputRatio64: number;
  /** The median round's; target ≤ 1.5. */
  latencyRatio1: number;
  errors: number;
  leakedTensors: number;
  serverExit: number | null;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The validation sources of the checkpoint's split, as text (tokens joined by spaces: they tokenize back the same). */
async function validationSentences(ckpt: import('../src/train/checkpoint.ts').LoadedCheckpoint): Promise<string[]> {
  const { loadDataset } = await import('../src/data/dataset.ts');
  const { buildConfig } = await import('../src/config.ts');
  const absolute = (p: string): string => (isAbsolute(p) ? p : resolve(PROJECT_ROOT, p));
  const data = buildConfig(ckpt.config.name, { data: { ...ckpt.config.data, data: ckpt.config.data.data.map(absolute) } }).data;
  const dataset = await loadDataset(data, { seed: ckpt.config.training.seed, ...(ckpt.split ? { split: ckpt.split } : {}) });
  return dataset.valid.map((p) => p.src.join(' ')).filter((s) => s.length > 0);
}

type Checkpoint = Parameters<typeof import('../src/decode/translator.ts').translate>[0];

/** translate() at batch 64 over `batch`: sentences/s. */
async function offlineBatch64(ckpt: Checkpoint, batch: string[]): Promise<number> {
  const { translate } = await import('../src/decode/translator.ts');
  const t = performance.now();
  await translate(ckpt, batch, { decoding: { ...ckpt.config.decoding, batchSize: 64 }, attention: false });
  return round(batch.length / ((performance.now() - t) / 1000), 1);
}

/** translate() of one sentence at a time: the median ms. */
async function offlineSingle(ckpt: Checkpoint, single: string[]): Promise<number> {
  const { translate } = await import('../src/decode/translator.ts');
  const times: number[] = [];
  for (const text of single) {
    const t = performance.now();
    await translate(ckpt, [text], { decoding: { ...ckpt.config.decoding, batchSize: 64 }, attention: false });
    times.push(performance.now() - t);
  }
  return round(median(times), 1);
}

interface Server {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

async function startServer(checkpoint: string, maxWaitMs: number): Promise<Server> {
  const bin = join(PROJECT_ROOT, 'bin', 's2s');
  const child = spawn(process.execPath, [bin, '--backend', 'tensorflow', '--quiet', 'serve', '--checkpoint', checkpoint, '--port', '0', '--max-wait-ms', String(maxWaitMs)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) res(m[1]!);
    });
    void exited.then((code) => rej(new UserError(`s2s serve exited with ${code}: ${stderr.trim()}`)));
  });
  while ((await fetch(`${url}/health`)).status !== 200) await new Promise((r) => setTimeout(r, 100));
  return { url, child, exited };
}

/**
 * The clients' connections: node:http with keep-alive, one socket per client. (The clients share
 * the machine with the server; undici's fetch costs them several times more CPU per request.)
 */
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

async function translateOne(url: string, text: string): Promise<boolean> {
  const body = JSON.stringify({ text });
  const { status, answer } = await new Promise<{ status: number; answer: string }>((resolve, reject) => {
    const req = request(`${url}/translate`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let answer = '';
      res.setEncoding('utf8').on('data', (d: string) => (answer += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, answer }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  const parsed = JSON.parse(answer) as { translations?: unknown[] };
  return status === 200 && Array.isArray(parsed.translations) && parsed.translations.length === 1;
}

/** `clients` closed-loop clients send `sentences` one per request; /health is probed every 25 ms meanwhile. */
async function level(url: string, clients: number, sentences: readonly string[]): Promise<LevelResult> {
  const latencies: number[] = [];
  const health: number[] = [];
  let errors = 0;
  let next = 0;
  let running = true;
  const prober = (async () => {
    while (running) {
      const t = performance.now();
      await fetch(`${url}/health`).then((r) => r.arrayBuffer());
      health.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  type Stats = { sentences: number; decodeMs: number; waitMs: number; sentenceMs: number };
  const stats = async (): Promise<Stats> => ((await (await fetch(`${url}/info`)).json()) as { stats: Stats }).stats;
  const s0 = await stats();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < sentences.length) {
        const text = sentences[next++]!;
        const t = performance.now();
        const ok = await translateOne(url, text).catch(() => false);
        latencies.push(performance.now() - t);
        if (!ok) errors += 1;
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const s1 = await stats();
  running = false;
  await prober;
  latencies.sort((a, b) => a - b);
  health.sort((a, b) => a - b);
  return {
    clients,
    requests: sentences.length,
    errors,
    reqPerSec: round(sentences.length / seconds, 1),
    sentPerSec: round(sentences.length / seconds, 1),
    p50: round(percentile(latencies, 50), 1),
    p95: round(percentile(latencies, 95), 1),
    p99: round(percentile(latencies, 99), 1),
    healthP50: round(percentile(health, 50), 1),
    healthMax: round(health[health.length - 1] ?? 0, 1),
    meanBatch: round((s1.sentenceMs - s0.sentenceMs) / Math.max(1, s1.decodeMs - s0.decodeMs), 1),
    meanWaitMs: round((s1.waitMs - s0.waitMs) / Math.max(1, s1.sentences - s0.sentences), 1),
    decoderBusy: round((s1.decodeMs - s0.decodeMs) / (seconds * 1000), 2),
  };
}

async function run(o: ServeBenchOptions): Promise<ServeBenchResult> {
  const { initBackend } = await import('../src/backend/index.ts');
  // As `s2s translate` starts it.
  await initBackend('tensorflow', () => {}, {}, { oneDnn: false });
  const { loadCheckpoint, resolveCheckpointDir } = await import('../src/train/checkpoint.ts');
  const dir = resolveCheckpointDir(o.checkpoint);
  const ckpt = await loadCheckpoint(dir, { optimizer: false });
  const valid = await validationSentences(ckpt);
  const pick = (n: number): string[] => Array.from({ length: n }, (_, i) => valid[i % valid.length]!);
  const many = pick(o.requests);
  const single = pick(o.single);

  // Warm-up, as the server's below: the whole set once (a first pass meets each batch shape for the first time).
  // Warm-up, as the server's below: the whole set once (a first pass meets each batch shape for the first time).
  await offlineBatch64(ckpt, many);
  await offlineSingle(ckpt, pick(16));
  const server = await startServer(dir, o.maxWaitMs);
  // Read once no decode runs: a streaming decode answers its last sentence a moment before it frees its tensors.
  const info = async (): Promise<{ tensors: number; model: { name: string } }> => {
    for (let tries = 0; ; tries++) {
      const i = (await (await fetch(`${server.url}/info`)).json()) as { tensors: number; model: { name: string }; stats: { busy: boolean } };
      if (!i.stats.busy || tries === 200) return i;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await level(server.url, 64, pick(128)); // warm-up
  const tensorsBefore = (await info()).tensors;
  const levels: LevelResult[] = [await level(server.url, 8, many)];
  // Each server level runs between two offline runs of its kind, a second or two apart.
  const offlineBatch: number[] = [await offlineBatch64(ckpt, many)];
  const throughputRatios64: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const sixtyFour = await level(server.url, 64, many);
    offlineBatch.push(await offlineBatch64(ckpt, many));
    levels.push(sixtyFour);
    throughputRatios64.push(round(sixtyFour.sentPerSec / ((offlineBatch.at(-2)! + offlineBatch.at(-1)!) / 2), 2));
  }
  const offlineSingleP50: number[] = [await offlineSingle(ckpt, single)];
  const latencyRatios1: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const one = await level(server.url, 1, single);
    offlineSingleP50.push(await offlineSingle(ckpt, single));
    levels.push(one);
    latencyRatios1.push(round(one.p50 / ((offlineSingleP50.at(-2)! + offlineSingleP50.at(-1)!) / 2), 2));
  }
  const end = await info();
  agent.destroy();
  server.child.kill('SIGTERM');
  const serverExit = await server.exited;
  levels.sort((a, b) => a.clients - b.clients);
  return {
    model: end.model.name,
    backend: 'tensorflow',
    maxWaitMs: o.maxWaitMs,
    sentences: valid.length,
    offlineBatch64: offlineBatch,
    offlineSingleP50,
    levels,
    throughputRatios64,
    latencyRatios1,
    throughputRatio64: median(throughputRatios64),
    latencyRatio1: median(latencyRatios1),
    errors: levels.reduce((n, l) => n + l.errors, 0),
    leakedTensors: end.tensors - tensorsBefore,
    serverExit,
  };
}

function formatReport(r: ServeBenchResult): string {
  const rows = [
    ['clients', 'requests', 'req/s', 'sent/s', 'p50 ms', 'p95 ms', 'p99 ms', '/health p50 ms', '/health max ms', 'mean batch', 'queue wait ms', 'decoder busy', 'errors'],
    ...r.levels.map((l) =>
      [l.clients, l.requests, l.reqPerSec, l.sentPerSec, l.p50, l.p95, l.p99, l.healthP50, l.healthMax, l.meanBatch, l.meanWaitMs, l.decoderBusy, l.errors].map(String),
    ),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const table = rows.map((row) => `| ${row.map((cell, c) => cell.padStart(widths[c]!)).join(' | ')} |`);
  table.splice(1, 0, `|${widths.map((w) => '-'.repeat(w + 1) + ':').join('|')}|`);
  const list = (xs: readonly number[]): string => xs.join(', ');
  return [
    `model ${r.model} (${r.backend}), server --max-batch 64 --max-wait-ms ${r.maxWaitMs}, single-sentence requests from ${r.sentences} validation sentences`,
    ...table,
    `offline translate() batch 64, before the first 64-client round and after each: ${list(r.offlineBatch64)} sent/s`,
    `offline one sentence at a time, before the first 1-client round and after each: p50 ${list(r.offlineSingleP50)} ms`,
    `64 clients ÷ offline batch 64, per round: ${list(r.throughputRatios64)}; median ${r.throughputRatio64}x (target >= 0.8)`,
    `1 client p50 ÷ offline single p50, per round: ${list(r.latencyRatios1)}; median ${r.latencyRatio1}x (target <= 1.5)`,
    `errors ${r.errors}, leaked tensors ${r.leakedTensors}, server exit ${r.serverExit}`,
  ].join('\n');
}

try {
  const o = parseArgs(process.argv);
  const result = await run(o);
  process.stdout.write(o.json ? `${JSON.stringify(result)}\n` : `${formatReport(result)}\n`);
} catch (err) {
  if (!(err instanceof UserError)) throw err;
  process.stderr.write(`${formatUserError(err)}\n`);
  process.exitCode = err.exitCode;
}
