/**
 * The threaded SIMD build of tfjs-backend-wasm, started in Node without
 * touching node_modules. As shipped it only runs in browsers:
 *
 * - `WASM_HAS_MULTITHREAD_SUPPORT` is hard-wired to false when IS_NODE, so
 *   the threaded binary is never picked: we set the flag before init.
 * - The emscripten glue spawns its pthread workers with `new Worker(url)`,
 *   where `url` is a `blob:` URL of the worker script, and right before that
 *   assigns node's `worker_threads.Worker` to `globalThis.Worker`. Node's
 *   Worker cannot load blob URLs, so we make `globalThis.Worker` an accessor
 *   that ignores that assignment and returns {@link PthreadWorker}: a
 *   worker_threads Worker running a small bootstrap instead.
 * - Each worker is then sent the main script as a Blob of the *bundled*
 *   factory's source, which refers to the bundle's helpers and cannot run
 *   alone. The bootstrap makes the worker's `URL.createObjectURL` return the
 *   path of the package's standalone emscripten glue (`wasm-out/`, the same
 *   build: its .wasm is byte-identical), which the worker script loads with
 *   its Node `importScripts` (a read + eval of a file path).
 * - XNNPACK's pool size is min(requested, os.cpus().length / 2): on 2 cores
 *   one thread whatever `setThreadsCount` asks. While the backend starts,
 *   `os.cpus()` reports 2 × the requested count.
 * - emscripten `ref()`s a worker while it runs a pthread, and XNNPACK's
 *   threads never end, so the process would never exit: PthreadWorker is
 *   unref'd from birth and ignores `ref()`.
 * - emscripten preloads 8 workers (PTHREAD_POOL_SIZE) whatever the thread
 *   count; the idle ones (~11 MB each) are terminated after start-up.
 *
 * When a worker fails to start, exits early, or start-up takes longer than a
 * timeout, everything is undone (workers terminated, globals restored, the
 * `wasm` backend factory re-registered, the flag reset) and the error thrown,
 * so the caller can start the single-threaded SIMD binary instead.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { Worker as NodeWorker } from 'node:worker_threads';
import type * as TF from '@tensorflow/tfjs-core';
import { firstLine } from '../errors.ts';

/** XNNPACK in tfjs-backend-wasm 4.22 never runs more threads than this (the main thread included). */
export const WASM_MAX_THREADS = 8;
/** The environment variable behind `--threads`. */
export const THREADS_ENV = 'S2S_THREADS';
const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * How a threaded start-up is run; tests pass faults to exercise the fallback.
 * Nothing in s2s sets these but tests (the CLI runs with the defaults).
 */
export interface WasmStartOptions {
  /** `error`: every pthread worker throws at start; `hang`: no worker ever loads. */
  fault?: 'error' | 'hang';
  /** How long start-up may take before falling back, in ms (default 30 s). */
  timeoutMs?: number;
}

/** The default thread count: one per core, at most {@link WASM_MAX_THREADS}. */
export function defaultWasmThreads(): number {
  return Math.max(1, Math.min(os.availableParallelism(), WASM_MAX_THREADS));
}

/** A thread count from a flag or variable, or null when `raw` is not an integer from 1 to {@link WASM_MAX_THREADS}. */
export function parseThreads(raw: string): number | null {
  if (!/^\s*\d+\s*$/.test(raw)) return null;
  const n = Number(raw);
  return n >= 1 && n <= WASM_MAX_THREADS ? n : null;
}

export const THREADS_EXPECTED = `an integer from 1 to ${WASM_MAX_THREADS}`;

/** How the wasm backend of this process runs; null until it has been started. */
export interface WasmThreading {
  /** The thread count asked for. */
  requested: number;
  /** The threads XNNPACK runs, the main thread included (1: the single-threaded SIMD binary). */
  threads: number;
  /** Why the threaded binary is not used although more than one thread was asked for. */
  fallback: string | null;
}

let threading: WasmThreading | null = null;

/** How the wasm backend runs in this process, once started. */
export function wasmThreading(): WasmThreading | null {
  return threading;
}

const requireHere = createRequire(import.meta.url);

/** tfjs-core, imported when wasm starts: building the CLI loads no TensorFlow.js. */
let tfCore: typeof TF | null = null;

async function loadTf(): Promise<typeof TF> {
  tfCore ??= await import('@tensorflow/tfjs-core');
  return tfCore;
}

function wasmOutDir(): string {
  return join(dirname(requireHere.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
}

/**
 * Runs in each pthread worker (CommonJS, `eval: true`). The worker script of
 * the package is a template literal whose `\n` escapes became newlines; the
 * bundle escapes them back before use, and so do we.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (workerData.fault === 'error') throw new Error('injected pthread worker failure');
if (workerData.fault === 'hang') { setInterval(() => {}, 1 << 30); return; }
URL.createObjectURL = () => workerData.mainScript;
URL.revokeObjectURL = () => {};
const contents = require(workerData.workerScript).wasmWorkerContents;
(0, eval)(contents.replace(/\\n/g, '\\\\n'));
`;

/** What a start-up attempt watches: failures reported by workers, and every worker made. */
interface Watch {
  workers: Set<NodeWorker>;
  fail: (err: Error) => void;
  /** After `failed`, the attempt's workers are being terminated and their errors are moot. */
  state: 'starting' | 'started' | 'failed';
}

let watch: Watch | null = null;

/** Makes the worker_threads Worker class emscripten instantiates as `new Worker(blobUrl)`. */
function pthreadWorkerClass(data: { mainScript: string; workerScript: string; fault: string | undefined }): typeof NodeWorker {
  return class PthreadWorker extends NodeWorker {
    constructor(url: unknown) {
      super(`(() => {${BOOTSTRAP}})()`, { eval: true, execArgv: [], workerData: data });
      // The blob URL of the worker script emscripten made for a browser; not needed here.
      if (typeof url === 'string' && url.startsWith('blob:')) URL.revokeObjectURL(url);
      super.unref();
      const w = watch;
      if (!w) return;
      w.workers.add(this);
      // From birth, not from when emscripten listens (after the main thread's wasm is
      // instantiated): a worker that fails before then would emit 'error' to no
      // listener, an uncaught exception that ends the process instead of the attempt.
      super.on('error', (err: unknown) => {
        if (w.state === 'starting') w.fail(err instanceof Error ? err : new Error(String(err)));
      });
      super.on('exit', (code) => {
        w.workers.delete(this);
        if (w.state === 'starting') w.fail(new Error(`a pthread worker exited during start-up (code ${code})`));
      });
    }

    /** emscripten refs a worker while it runs a thread; XNNPACK's threads never end. */
    override ref(): void {}

    /**
     * Until start-up succeeds, a worker error fails the attempt (or, after a
     * failure, is dropped: the listener added at birth sees it) instead of
     * reaching emscripten's handler, which rethrows it on the main thread.
     */
    override on(event: string | symbol, listener: (...args: any[]) => void): this {
      if (event !== 'error') return super.on(event, listener);
      const w = watch;
      return super.on('error', (err: unknown) => {
        if (!w || w.state === 'started') listener(err);
      });
    }
  };
}

interface WasmModule {
  setThreadsCount: (n: number) => void;
  getThreadsCount: () => number;
}

function wasmFunctions(mod: unknown): WasmModule {
  const m = mod as Partial<WasmModule> & { default?: Partial<WasmModule> };
  const setThreadsCount = m.setThreadsCount ?? m.default?.setThreadsCount;
  const getThreadsCount = m.getThreadsCount ?? m.default?.getThreadsCount;
  if (typeof setThreadsCount !== 'function' || typeof getThreadsCount !== 'function') {
    throw new Error('@tensorflow/tfjs-backend-wasm has no setThreadsCount/getThreadsCount');
  }
  return { setThreadsCount, getThreadsCount };
}

/** The Atomics + shared memory program tfjs uses to detect wasm threads. */
function wasmThreadsSupported(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  try {
    return WebAssembly.validate(
      new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65, 0, 254, 16, 2, 0, 26, 11]),
    );
  } catch {
    return false;
  }
}

interface EngineInternals {
  registryFactory: Record<string, { factory: () => TF.KernelBackend | Promise<TF.KernelBackend>; priority: number } | undefined>;
}

interface PThreadInternals {
  unusedWorkers: NodeWorker[];
  runningWorkers: NodeWorker[];
}

/** emscripten's pthread bookkeeping of the active wasm backend, if threaded. */
function pthreads(): PThreadInternals | null {
  const b = tfCore?.engine().registry.wasm as { wasm?: { PThread?: PThreadInternals } } | undefined;
  return b?.wasm?.PThread ?? null;
}

/** The pthread workers running XNNPACK threads right now (threads − 1 when threaded). */
export function runningPthreadWorkers(): number {
  return pthreads()?.runningWorkers.length ?? 0;
}

/**
 * Starts the wasm backend on the threaded SIMD binary with `threads` threads
 * (tfjs-backend-wasm loaded as `mod`, its paths set; nothing initialised it
 * yet). `activate` makes `wasm` the active tfjs backend. Returns the thread
 * count XNNPACK runs. On failure it undoes everything and throws, leaving the
 * single-threaded binary to start on the next activation.
 */
export async function startThreadedWasm(
  mod: unknown,
  threads: number,
  activate: () => Promise<unknown>,
  options: WasmStartOptions = {},
): Promise<number> {
  const tf = await loadTf();
  const wasm = wasmFunctions(mod);
  if (!wasmThreadsSupported()) throw new Error('this Node has no WebAssembly threads (SharedArrayBuffer, atomics)');
  if (!(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) throw new Error('this Node has no WebAssembly SIMD');
  const engine = tf.engine() as unknown as EngineInternals;
  const entry = engine.registryFactory.wasm;
  if (!entry) throw new Error('no wasm backend is registered');
  if ('wasm' in tf.engine().registry) throw new Error('the wasm backend was already started in this process');

  const out = wasmOutDir();
  const Pthread = pthreadWorkerClass({
    mainScript: join(out, 'tfjs-backend-wasm-threaded-simd.js'),
    workerScript: join(out, 'tfjs-backend-wasm-threaded-simd.worker.js'),
    fault: options.fault,
  });
  const previousWorker = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  const realCpus = os.cpus;
  let fail!: (err: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  const w: Watch = { workers: new Set(), fail, state: 'starting' };
  watch = w;
  const limit = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timer = setTimeout(() => fail(new Error(`pthread workers did not start within ${limit} ms`)), limit);

  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  // The glue assigns node's Worker to globalThis.Worker before spawning; keep ours.
  Object.defineProperty(globalThis, 'Worker', { configurable: true, get: () => Pthread, set: () => {} });
  // XNNPACK caps its pool at half of what emscripten_num_logical_cores (os.cpus() in Node) says.
  os.cpus = () => {
    const cpus = realCpus();
    return Array.from({ length: 2 * threads }, (_, i) => cpus[i % cpus.length]!);
  };
  try {
    await Promise.race([activate(), failed]);
    w.state = 'started';
    // Later workers (none expected: XNNPACK creates its threads at start) still need the shim.
    Object.defineProperty(globalThis, 'Worker', { configurable: true, writable: true, value: Pthread });
    const pool = pthreads();
    if (pool) {
      for (const idle of pool.unusedWorkers) void idle.terminate();
      pool.unusedWorkers = [];
    }
    return wasm.getThreadsCount();
  } catch (err) {
    w.state = 'failed';
    for (const worker of w.workers) void worker.terminate();
    if (previousWorker) Object.defineProperty(globalThis, 'Worker', previousWorker);
    else delete (globalThis as { Worker?: unknown }).Worker;
    if ('wasm' in engine.registryFactory) tf.removeBackend('wasm');
    tf.registerBackend('wasm', entry.factory, entry.priority);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    throw err;
  } finally {
    clearTimeout(timer);
    os.cpus = realCpus;
    watch = null;
  }
}

/**
 * Activates the wasm backend (`activate`: make `wasm` the active tfjs
 * backend) with `threads` threads: the threaded SIMD binary when more than one
 * is asked for and it starts, else the single-threaded SIMD binary, with the
 * reason in `fallback`. A backend started earlier in this process is reused
 * as it runs. Throws only when wasm cannot start at all.
 */
export async function activateWasm(
  mod: unknown,
  threads: number,
  activate: () => Promise<unknown>,
  options: WasmStartOptions = {},
): Promise<WasmThreading> {
  const tf = await loadTf();
  if (threading && 'wasm' in tf.engine().registry) {
    await activate();
    return threading;
  }
  let fallback: string | null = null;
  if (threads > 1) {
    try {
      const running = await startThreadedWasm(mod, threads, activate, options);
      threading = { requested: threads, threads: running, fallback: null };
      return threading;
    } catch (err) {
      fallback = firstLine(err);
    }
  }
  await activate();
  threading = { requested: threads, threads: 1, fallback };
  return threading;
}
