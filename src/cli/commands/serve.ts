/**
 * `s2s serve`: the translation server (src/serve/) on a checkpoint, until
 * SIGTERM or SIGINT, which drain it: queued and decoding requests are
 * answered, then the process exits 0. One access-log line per request on
 * stderr unless --quiet.
 */
import { availableParallelism } from 'node:os';
import { basename, dirname } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { INTRA_OP_ENV } from '../../backend/index.ts';
import { UserError } from '../../errors.ts';
import type { Translator } from '../../api/translator.ts';
import type { AccessEntry, ServeLimits } from '../../serve/app.ts';
import { globalOptions, initBackendFor } from '../global-options.ts';
import { locateModel } from './translate.ts';

export interface ServeContext {
  /** --checkpoint; null = the default model. */
  checkpoint: string | null;
  host: string;
  port: number;
  /** --intra-threads: the native backend's threads per operation. */
  intraThreads: number;
  limits: ServeLimits;
  quiet: boolean;
}

/** Limit flags: flag → [ServeLimits key, default, minimum, what it means]. */
const LIMIT_FLAGS: [string, keyof ServeLimits, number, number, string][] = [
  ['max-batch', 'maxBatch', 64, 1, 'most sentences decoded together'],
  ['max-wait-ms', 'maxWaitMs', 5, 0, 'how long a sentence waits for others to batch with'],
  ['max-queue', 'maxQueue', 4096, 1, 'most sentences waiting; more get 503 with Retry-After'],
  ['max-sentences', 'maxSentences', 64, 1, 'most sentences per request (422 beyond)'],
  ['max-chars', 'maxChars', 1000, 1, 'most characters per sentence (422 beyond)'],
  ['max-beam', 'maxBeam', 16, 1, 'largest beam a request may ask for (422 beyond)'],
  ['body-limit', 'bodyLimit', 1024 * 1024, 1, 'largest request body in bytes (413 beyond)'],
  ['timeout-ms', 'timeoutMs', 30_000, 1, 'a request not answered by then gets 504'],
  ['read-timeout-ms', 'readTimeoutMs', 10_000, 1, 'a client must send its whole request within this (408 beyond)'],
  ['drain-timeout-ms', 'drainTimeoutMs', 10_000, 0, 'on SIGTERM/SIGINT, how long queued requests get to be answered'],
];

/** The translator takes texts of at most 10,000 UTF-16 units: 5,000 characters always fit. */
const MAX_OF: Record<string, number> = { 'max-chars': 5000 };

function intArg(min: number, max = Number.MAX_SAFE_INTEGER): (raw: string) => number {
  return (raw) => {
    const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `Expected an integer >= ${min}.` : `Expected an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

/**
 * The server's default intra-op threads: one per core but one, at least one.
 * On 2 cores, `npm run bench:serve` measured 64 clients at 0.81× offline batch
 * 64 with one thread against 0.64× with TensorFlow's default of two, and a
 * lone sentence faster too (docs/serve.md).
 */
function defaultIntraThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

export function register(program: Command): void {
  const cmd = program
    .command('serve')
    .description('serve translations over HTTP (POST /translate, GET /health, GET /info), batching concurrent requests')
    .option('--checkpoint <dir>', 'model directory, checkpoint, or training output directory (its best); default: see `s2s info`')
    .option('--host <host>', 'address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--port <n>', 'TCP port (0: any free port)', intArg(0), 8080)
    .option(
      '--intra-threads <n>',
      'native TensorFlow backend: threads one operation may use (one core is left to answering requests)',
      intArg(1, 1024),
      defaultIntraThreads(),
    );
  for (const [flag, , dflt, min, doc] of LIMIT_FLAGS) cmd.option(`--${flag} <n>`, doc, intArg(min, MAX_OF[flag]), dflt);
  cmd.addHelpText(
    'after',
    '\nThe address is printed on stdout once listening; /health answers 200 once the model is loaded.\n' +
      'Example: curl -s localhost:8080/translate -H \'content-type: application/json\' -d \'{"text": "I love you."}\'',
  );
  cmd.action(async (opts: Record<string, unknown>, command: Command) => {
    await runServe(serveContext(opts, globalOptions(command).quiet), command);
  });
}

export function serveContext(opts: Record<string, unknown>, quiet: boolean): ServeContext {
  const limits = Object.fromEntries(LIMIT_FLAGS.map(([flag, key]) => [key, opts[flagKey(flag)] as number])) as unknown as ServeLimits;
  return {
    checkpoint: typeof opts.checkpoint === 'string' ? opts.checkpoint : null,
    host: opts.host as string,
    port: opts.port as number,
    intraThreads: opts.intraThreads as number,
    limits,
    quiet,
  };
}

/** `max-wait-ms` → `maxWaitMs`, as commander names options. */
function flagKey(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** One access-log line: time, method, path, status, sentences, milliseconds. */
export function formatAccess(e: AccessEntry, now = new Date()): string {
  return `${now.toISOString()} ${e.method} ${e.path} ${e.status} ${e.sentences} ${e.ms.toFixed(1)}ms`;
}

/** The name answers carry: the run directory's name for its `last`/`best`/`step-N`, else the directory's own. */
function modelName(dir: string): string {
  const name = basename(dir);
  return /^(last|best|step-\d+|\.(last|best)\.old)$/.test(name) ? basename(dirname(dir)) : name;
}

async function runServe(ctx: ServeContext, command: Command): Promise<void> {
  const dir = await locateModel(ctx);
  // TF_NUM_INTRAOP_THREADS set by the user stands unless --intra-threads is given.
  const userSet = process.env[INTRA_OP_ENV] !== undefined && command.getOptionValueSource('intraThreads') === 'default';
  await initBackendFor(command, { decoding: true, ...(userSet ? {} : { intraOpThreads: ctx.intraThreads }) });
  const { createTranslationServer } = await import('../../serve/app.ts');
  const { loadTranslator } = await import('../../api/load.ts');
  const log = (line: string): void => {
    if (!ctx.quiet) process.stderr.write(`${line}\n`);
  };
  const server = createTranslationServer({
    limits: ctx.limits,
    onAccess: ctx.quiet ? undefined : (e) => log(formatAccess(e)),
  });
  const url = await listen(() => server.listen(ctx.host, ctx.port), ctx);

  let closed: Promise<void> | null = null;
  let onStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (onStopped = resolve));
  const stop = (signal: NodeJS.Signals): void => {
    if (closed) return;
    log(`s2s serve: ${signal}: answering queued requests, then exiting`);
    closed = server.close().then(onStopped, onStopped);
  };
  // Before the line that says the server listens: a signal sent on reading it finds its handler.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`s2s serve: listening on ${url}\n`);
  let translator: Translator | undefined;
  try {
    const started = performance.now();
    translator = await loadTranslator(dir, { backend: false });
    server.setModel({ translator, name: modelName(dir) });
    log(`s2s serve: model ${modelName(dir)} loaded in ${Math.round(performance.now() - started)} ms`);
    await stopped;
  } catch (err) {
    await server.close();
    throw err;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    translator?.dispose();
  }
}

/** Listens; an address in use or not available is a user error naming the flag. */
async function listen(start: () => Promise<string>, ctx: ServeContext): Promise<string> {
  try {
    return await start();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UserError(`port ${ctx.port} is in use`, { where: '--port', hint: 'pick another with --port N (0: any free port)' });
    if (code === 'EACCES') throw new UserError(`not allowed to listen on port ${ctx.port}`, { where: '--port' });
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UserError(`cannot listen on ${ctx.host} (${code})`, { where: '--host' });
    throw err;
  }
}
