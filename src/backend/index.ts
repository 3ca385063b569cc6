/**
 * Choosing the TensorFlow.js backend: native TensorFlow (tfjs-node-gpu, then
 * tfjs-node), WebAssembly, or plain JavaScript. Every backend registers with
 * the one `@tensorflow/tfjs-core` instance s2s uses (tfjs-node 4.22 depends on
 * @tensorflow/tfjs 4.22, whose tfjs-core npm dedupes with ours).
 *
 * The decision is separated from the loading (`BackendDeps`) so that "the GPU
 * build loads but there is no GPU", "tfjs-node is not installed" and so on are
 * tested with stubs.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UserError, firstLine } from '../errors.ts';
import { gpuNames, missingCudaLibraries } from './cuda.ts';
import { traitsFor, useBackendTraits } from './traits.ts';
import {
  activateWasm,
  defaultWasmThreads,
  parseThreads,
  THREADS_ENV,
  THREADS_EXPECTED,
  type WasmStartOptions,
  type WasmThreading,
} from './wasm-threads.ts';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendRequest = 'auto' | BackendName;
export const BACKEND_REQUESTS: readonly BackendRequest[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export const TFJS_VERSION = '4.22.0';
const GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';
const NODE_PACKAGE = '@tensorflow/tfjs-node';
const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';
const CPU_PACKAGE = '@tensorflow/tfjs-backend-cpu';
type NativePackage = typeof GPU_PACKAGE | typeof NODE_PACKAGE;

/** How to get the native backend, for messages. */
export const INSTALL_NODE = `npm install @tensorflow/tfjs-node@${TFJS_VERSION}`;
export const INSTALL_GPU = `npm install @tensorflow/tfjs-node-gpu@${TFJS_VERSION}`;

/** Everything initBackend touches outside itself; replaced by stubs in tests. */
export interface BackendDeps {
  /** Imports a module by name. */
  load: (specifier: string) => Promise<unknown>;
  /** Whether a package resolves, without loading it. */
  isInstalled: (pkg: string) => boolean;
  /** Whether a native package has its compiled binding (lib/napi-v*\/tfjs_binding.node). */
  hasBinding: (pkg: string) => boolean;
  /** The CUDA/cuDNN libraries tfjs-node-gpu needs that the dynamic linker cannot find. */
  missingGpuLibraries: () => string[];
  /** Makes `name` the active tfjs-core backend and returns the backend object; throws when it cannot. */
  activate: (name: BackendName) => Promise<unknown>;
  /** The directory holding the .wasm binaries, with a trailing slash. */
  wasmDir: () => string;
  /**
   * Activates wasm (tfjs-backend-wasm loaded as `mod`, paths set) with
   * `threads` threads via `activate`, falling back to the single-threaded
   * binary (see wasm-threads.ts); throws when wasm cannot start at all.
   * `start`: faults injected by tests.
   */
  activateWasm: (mod: unknown, threads: number, activate: () => Promise<unknown>, start?: WasmStartOptions) => Promise<WasmThreading>;
}

/** How initBackend and probeBackends start wasm. */
export interface BackendOptions {
  /** wasm threads (1: the single-threaded SIMD binary); default S2S_THREADS, else one per core. */
  threads?: number;
  /** Where a fallback warning goes (one line, without a prefix); default the log. */
  warn?: (line: string) => void;
  /**
   * Native TensorFlow: the threads one operation may use (its intra-op pool;
   * TensorFlow's default: one per core). Passed as TF_NUM_INTRAOP_THREADS,
   * which TensorFlow reads when it starts, so it applies only if TensorFlow
   * has not started in this process yet.
   */
  intraOpThreads?: number;
  /**
   * Native TensorFlow: false turns TensorFlow's oneDNN rewrites off (Eigen's
   * kernels run), through TF_ENABLE_ONEDNN_OPTS=0 before TensorFlow starts,
   * unless the variable is already set. For decoding: a search runs many
   * small ops, on which oneDNN costs more than it saves (`npm run bench`
   * decoding +7–16% sentences/s at batch 64, +18–45% one sentence at a
   * time); training's large products keep it.
   */
  oneDnn?: boolean;
}

/** The environment variable TensorFlow reads its intra-op thread count from. */
export const INTRA_OP_ENV = 'TF_NUM_INTRAOP_THREADS';

/** The environment variable that turns TensorFlow's oneDNN rewrites on (1) or off (0). */
export const ONEDNN_ENV = 'TF_ENABLE_ONEDNN_OPTS';

export interface BackendChoice {
  name: BackendName;
  /** Why better backends were skipped, one short phrase each. */
  reasons: string[];
  /** The npm package providing the backend, e.g. `tfjs-node`. */
  provider: string;
  /** Whether TensorFlow runs on a GPU. */
  gpu: boolean;
  /** For wasm: how many threads it runs (1: the single-threaded binary). */
  threads?: number;
  /** For tensorflow: the intra-op threads asked for (BackendOptions.intraOpThreads), if any. */
  intraOpThreads?: number;
  /** For tensorflow: false when s2s turned oneDNN off (BackendOptions.oneDnn). */
  oneDnn?: false;
}

const requireHere = createRequire(import.meta.url);

function short(pkg: string): string {
  return pkg.replace('@tensorflow/', '');
}

/** The installed version of a package, or null. */
export function packageVersion(pkg: string): string | null {
  try {
    const path = requireHere.resolve(`${pkg}/package.json`);
    return (JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

/** `dist/` of @tensorflow/tfjs-backend-wasm in node_modules, so the binaries load from disk, never the network. */
export function wasmBinaryDir(): string {
  const dir = dirname(requireHere.resolve(WASM_PACKAGE));
  if (!existsSync(join(dir, 'tfjs-backend-wasm.wasm'))) {
    throw new Error(`tfjs-backend-wasm.wasm not found in ${dir}`);
  }
  return `${dir}/`;
}

async function activateInCore(name: BackendName): Promise<unknown> {
  const tf = await import('@tensorflow/tfjs-core');
  if (!tf.findBackendFactory(name)) {
    throw new Error(
      `no '${name}' backend is registered with s2s's @tensorflow/tfjs-core ` +
        `(a second copy of tfjs-core? run npm dedupe)`,
    );
  }
  // Production mode: no debug checks, and no "install tfjs-node" banner on stderr (s2s reports the backend itself).
  tf.enableProdMode();
  if (!(await tf.setBackend(name))) throw new Error(`initialising the ${name} backend failed`);
  await tf.ready();
  return tf.backend();
}

export const realBackendDeps: BackendDeps = {
  // require, not import(): the tfjs packages are CommonJS, and an ESM import of one makes Node
  // scan its source and every package it re-exports for export names (0.3–0.6 s for tfjs-node).
  load: async (specifier) => requireHere(specifier) as unknown,
  isInstalled: (pkg) => {
    try {
      requireHere.resolve(pkg);
      return true;
    } catch {
      return false;
    }
  },
  hasBinding: (pkg) => {
    try {
      const lib = join(dirname(requireHere.resolve(`${pkg}/package.json`)), 'lib');
      return readdirSync(lib).some((d) => d.startsWith('napi-v') && existsSync(join(lib, d, 'tfjs_binding.node')));
    } catch {
      return false;
    }
  },
  missingGpuLibraries: () => (process.platform === 'linux' ? missingCudaLibraries() : ['libcuda.so.1']),
  activate: activateInCore,
  wasmDir: wasmBinaryDir,
  activateWasm: async (mod, threads, activate, start) => {
    const threading = await activateWasm(mod, threads, activate, start);
    // s2s's replacements for slow stock wasm kernels (loaded here: tfjs stays out of CLI start-up).
    (await import('./wasm-kernels.ts')).registerWasmKernels();
    return threading;
  },
};

/**
 * The wasm thread count when no --threads was given: S2S_THREADS, else one
 * per core (at most 8). A bad S2S_THREADS is a usage error.
 */
export function threadsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[THREADS_ENV];
  if (raw === undefined || raw === '') return defaultWasmThreads();
  const n = parseThreads(raw);
  if (n === null) throw new UserError(`${THREADS_ENV} must be ${THREADS_EXPECTED}, got '${raw}'`, { where: THREADS_ENV, exitCode: 2 });
  return n;
}

/** A backend (or native package) that was passed over, and why. */
interface Skip {
  provider: string;
  reason: string;
}

function formatSkip(s: Skip): string {
  return `${s.provider} ${s.reason}`;
}

function describeMissing(missing: string[]): string {
  const more = missing.length > 1 ? ` and ${missing.length - 1} more CUDA libraries` : '';
  return `${missing[0]}${more} not found`;
}

interface NativeLoaded {
  provider: string;
  gpu: boolean;
  tensorflowVersion: string | null;
}

/** Loads one native package and activates its `tensorflow` backend; a Skip when it cannot. */
async function loadNative(pkg: NativePackage, deps: BackendDeps): Promise<NativeLoaded | Skip> {
  const provider = short(pkg);
  // libtensorflow's INFO/WARNING lines (CPU features, missing CUDA libraries) would drown our one line.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  try {
    await deps.load(pkg);
  } catch (err) {
    return { provider, reason: `is installed but failed to load: ${firstLine(err)}` };
  }
  let backend: unknown;
  try {
    backend = await deps.activate('tensorflow');
  } catch (err) {
    return { provider, reason: `loaded but its backend is unusable: ${firstLine(err)}` };
  }
  const b = (backend ?? {}) as { isUsingGpuDevice?: unknown; binding?: { TF_Version?: unknown } };
  const version = b.binding?.TF_Version;
  return { provider, gpu: b.isUsingGpuDevice === true, tensorflowVersion: typeof version === 'string' ? version : null };
}

function isSkip(r: NativeLoaded | Skip): r is Skip {
  return 'reason' in r;
}

/** Why a native package cannot be tried, or null when it can. */
function nativeProblem(pkg: NativePackage, deps: BackendDeps): string | null {
  if (!deps.isInstalled(pkg)) return 'not installed';
  if (!deps.hasBinding(pkg)) {
    const fix = pkg === NODE_PACKAGE ? 'npm run native:install' : `npm rebuild ${pkg}`;
    return `is installed without its native binding (lib/napi-v*/tfjs_binding.node; ${fix})`;
  }
  return null;
}

/**
 * Loads at most one native TensorFlow: both packages register their kernels
 * before loading libtensorflow, so after one fails (or succeeds) a second would
 * only re-register them. Preference: tfjs-node-gpu when the CUDA libraries are
 * present, tfjs-node, then tfjs-node-gpu running on the CPU.
 */
async function tryTensorflow(deps: BackendDeps, skipped: Skip[]): Promise<NativeLoaded | null> {
  const gpuProblem = nativeProblem(GPU_PACKAGE, deps);
  const missing = gpuProblem === null ? deps.missingGpuLibraries() : [];
  const nodeProblem = nativeProblem(NODE_PACKAGE, deps);
  const order: NativePackage[] = [];
  if (gpuProblem) skipped.push({ provider: 'tfjs-node-gpu', reason: gpuProblem });
  else if (missing.length > 0) skipped.push({ provider: 'tfjs-node-gpu', reason: `has no usable GPU (${describeMissing(missing)})` });
  else order.push(GPU_PACKAGE);
  if (nodeProblem) skipped.push({ provider: 'tfjs-node', reason: nodeProblem });
  else order.push(NODE_PACKAGE);
  // Without CUDA the GPU build still runs TensorFlow on the CPU, faster than wasm.
  if (gpuProblem === null && missing.length > 0) order.push(GPU_PACKAGE);

  const [first, ...rest] = order;
  if (!first) return null;
  const r = await loadNative(first, deps);
  if (isSkip(r)) {
    skipped.push(r);
    for (const pkg of rest) {
      skipped.push({ provider: short(pkg), reason: `not tried after ${short(first)} failed (one native TensorFlow per process)` });
    }
    return null;
  }
  if (first === GPU_PACKAGE && !r.gpu) skipped.push({ provider: 'tfjs-node-gpu', reason: 'found no GPU device, runs on the CPU' });
  return r;
}

function setWasmPathsOf(mod: unknown): (prefix: string) => void {
  const m = mod as { setWasmPaths?: unknown; default?: { setWasmPaths?: unknown } };
  const fn = m.setWasmPaths ?? m.default?.setWasmPaths;
  if (typeof fn !== 'function') throw new Error(`${WASM_PACKAGE} has no setWasmPaths`);
  return fn as (prefix: string) => void;
}

/** The message for a threaded start that fell back to one thread. */
function describeWasmFallback(t: WasmThreading): string {
  return `threaded wasm did not start (${t.fallback}); using the single-threaded SIMD binary`;
}

/**
 * Activates the wasm backend from the local binaries, with `threads` threads
 * when it can (a fallback to one thread is warned about); a Skip when wasm
 * cannot start at all.
 */
async function tryWasm(deps: BackendDeps, threads: number, warn: (line: string) => void): Promise<WasmThreading | Skip> {
  let t: WasmThreading;
  try {
    const mod = await deps.load(WASM_PACKAGE);
    setWasmPathsOf(mod)(deps.wasmDir());
    t = await deps.activateWasm(mod, threads, () => deps.activate('wasm'));
  } catch (err) {
    return { provider: 'wasm', reason: `failed: ${firstLine(err)}` };
  }
  if (t.fallback !== null) warn(describeWasmFallback(t));
  return t;
}

function isWasmSkip(r: WasmThreading | Skip): r is Skip {
  return 'reason' in r;
}

async function activateCpu(deps: BackendDeps): Promise<void> {
  await deps.load(CPU_PACKAGE);
  await deps.activate('cpu');
}

function nativeChoice(r: NativeLoaded, reasons: string[]): BackendChoice {
  return { name: 'tensorflow', reasons, provider: r.provider, gpu: r.gpu };
}

/**
 * The one short line that says what was chosen (`backend: tensorflow (CPU)`)
 * and why the native backend was skipped if it was. Why the GPU package was
 * not used is for `s2s info` and `s2s doctor` (most machines have no GPU),
 * unless it is the GPU package that runs, on the CPU.
 */
export function describeChoice(choice: BackendChoice, requested: BackendRequest): string {
  const detail =
    choice.name === 'tensorflow'
      ? [
          choice.gpu ? 'GPU' : 'CPU',
          ...(choice.intraOpThreads !== undefined ? [`${choice.intraOpThreads} intra-op thread${choice.intraOpThreads === 1 ? '' : 's'}`] : []),
          ...(choice.oneDnn === false ? ['oneDNN off'] : []),
        ]
      : choice.name === 'wasm' && (choice.threads ?? 1) > 1
        ? [`${choice.threads} threads`]
        : [];
  const gpuBuild = choice.provider === short(GPU_PACKAGE); // installed the GPU build: says why it runs on the CPU
  const reasons = gpuBuild ? choice.reasons : choice.reasons.filter((r) => !r.startsWith(`${short(GPU_PACKAGE)} `));
  const why = requested === 'auto' ? reasons : ['requested', ...reasons];
  const parts = [...detail, ...why];
  return `backend: ${choice.name}${parts.length > 0 ? ` (${parts.join('; ')})` : ''}`;
}

/**
 * Initialises the requested backend (`auto`: the best that works) and logs one
 * line saying which and why. Asking explicitly for a backend that cannot load
 * is a UserError that says how to install it. wasm runs `options.threads`
 * threads; when the threaded binary cannot start, one line goes to
 * `options.warn` and the single-threaded binary runs.
 */
export async function initBackend(
  requested: BackendRequest,
  log: (line: string) => void,
  overrides: Partial<BackendDeps> = {},
  options: BackendOptions = {},
): Promise<BackendChoice> {
  const deps: BackendDeps = { ...realBackendDeps, ...overrides };
  const skipped: Skip[] = [];
  let choice: BackendChoice | null = null;

  if (requested === 'auto' || requested === 'tensorflow') {
    if (options.intraOpThreads !== undefined) process.env[INTRA_OP_ENV] = String(options.intraOpThreads);
    // A value the user exported stands.
    const oneDnnOff = options.oneDnn === false && process.env[ONEDNN_ENV] === undefined;
    if (oneDnnOff) process.env[ONEDNN_ENV] = '0';
    const native = await tryTensorflow(deps, skipped);
    if (oneDnnOff && !native) delete process.env[ONEDNN_ENV];
    if (native) {
      choice = {
        ...nativeChoice(native, skipped.map(formatSkip)),
        ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
        ...(oneDnnOff ? { oneDnn: false as const } : {}),
      };
    } else if (requested === 'tensorflow') {
      throw new UserError(`the tensorflow backend is not available: ${skipped.map(formatSkip).join('; ')}`, {
        where: '--backend',
        hint: `npm run native:install (or ${INSTALL_NODE}); for a CUDA GPU: ${INSTALL_GPU}, see s2s doctor`,
      });
    }
  }
  if (!choice && (requested === 'auto' || requested === 'wasm')) {
    const wasm = await tryWasm(deps, options.threads ?? threadsFromEnv(), options.warn ?? log);
    if (!isWasmSkip(wasm)) {
      choice = { name: 'wasm', reasons: skipped.map(formatSkip), provider: short(WASM_PACKAGE), gpu: false, threads: wasm.threads };
    } else if (requested === 'wasm') {
      throw new UserError(`the wasm backend is not available: ${wasm.reason}`, {
        where: '--backend',
        hint: `reinstall it: npm install ${WASM_PACKAGE}@${TFJS_VERSION}`,
      });
    } else {
      skipped.push(wasm);
    }
  }
  if (!choice) {
    await activateCpu(deps);
    choice = { name: 'cpu', reasons: skipped.map(formatSkip), provider: short(CPU_PACKAGE), gpu: false };
  }
  useBackendTraits(traitsFor(choice.name));
  log(describeChoice(choice, requested));
  return choice;
}

export interface BackendInfo {
  name: BackendName;
  /** The npm package providing it, e.g. `tfjs-node-gpu`. */
  provider: string;
  /** Its installed version, when installed. */
  version: string | null;
  available: boolean;
  /** Why it is unavailable, or what it offers when available. */
  reason: string;
  /** For tensorflow: libtensorflow's version and the devices it runs on. */
  tensorflowVersion?: string;
  devices?: string[];
}

/** `SIMD yes, threads yes (2 threads)`, or `threads no` and why. */
async function wasmFeatures(t: WasmThreading): Promise<string> {
  let simd = 'SIMD unknown';
  try {
    const tf = await import('@tensorflow/tfjs-core');
    simd = `SIMD ${(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) ? 'yes' : 'no'}`;
  } catch {
    // the SIMD probe is informative only
  }
  if (t.threads > 1) return `${simd}, threads yes (${t.threads} threads)`;
  const why = t.fallback !== null ? `threaded start failed: ${t.fallback}` : `--threads ${t.requested}`;
  return `${simd}, threads no (${why})`;
}

/**
 * Every backend, available or not and why, for `s2s info`. Loads at most one
 * native TensorFlow, then activates wasm (with `options.threads` threads) and
 * cpu in turn (the active backend afterwards is cpu).
 */
export async function probeBackends(overrides: Partial<BackendDeps> = {}, options: BackendOptions = {}): Promise<BackendInfo[]> {
  const deps: BackendDeps = { ...realBackendDeps, ...overrides };
  const skipped: Skip[] = [];
  const native = await tryTensorflow(deps, skipped);
  const infos: BackendInfo[] = [];
  for (const pkg of [GPU_PACKAGE, NODE_PACKAGE]) {
    const provider = short(pkg);
    const base = { name: 'tensorflow' as const, provider, version: packageVersion(pkg) };
    if (native?.provider === provider) {
      const devices = ['CPU', ...(native.gpu ? gpuNames().map((g) => `GPU: ${g}`) : [])];
      const note = skipped.find((s) => s.provider === provider);
      infos.push({
        ...base,
        available: true,
        reason: note ? note.reason : native.gpu ? 'runs on the GPU' : 'runs on the CPU',
        tensorflowVersion: native.tensorflowVersion ?? 'unknown',
        devices,
      });
      continue;
    }
    const skip = skipped.find((s) => s.provider === provider);
    const install = pkg === GPU_PACKAGE ? `${INSTALL_GPU}, needs CUDA 11.2 + cuDNN 8.1` : `npm run native:install, or ${INSTALL_NODE}`;
    const reason = !skip
      ? `installed, not loaded (${native?.provider} provides TensorFlow in this process)`
      : skip.reason === 'not installed'
        ? `not installed (${install})`
        : skip.reason;
    infos.push({ ...base, available: false, reason });
  }
  // info reports a threaded start that fell back in the wasm row, not as a warning.
  const wasm = await tryWasm(deps, options.threads ?? threadsFromEnv(), options.warn ?? (() => {}));
  infos.push({
    name: 'wasm',
    provider: short(WASM_PACKAGE),
    version: packageVersion(WASM_PACKAGE),
    available: !isWasmSkip(wasm),
    reason: isWasmSkip(wasm) ? wasm.reason : await wasmFeatures(wasm),
  });
  let cpuError: string | null = null;
  try {
    await activateCpu(deps);
  } catch (err) {
    cpuError = firstLine(err);
  }
  infos.push({
    name: 'cpu',
    provider: short(CPU_PACKAGE),
    version: packageVersion(CPU_PACKAGE),
    available: cpuError === null,
    reason: cpuError ?? 'plain JavaScript (slowest)',
  });
  return infos;
}
