/**
 * What tfjs-node-gpu 4.22 needs from the system (its libtensorflow 2.9 is built
 * against CUDA 11.2 and cuDNN 8.1) and whether the dynamic linker can find it.
 * The lookups are pure functions of their inputs (ldconfig output, directories,
 * a file-exists test) so `s2s doctor` and the backend choice are testable
 * without a GPU; `probeCuda()` gathers the real inputs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface CudaLibrary {
  /** The soname libtensorflow dlopens. */
  file: string;
  /** What provides it. */
  from: string;
}

/** The libraries libtensorflow 2.9 (tfjs-node-gpu 4.22) dlopens before it registers a GPU. */
export const CUDA_LIBRARIES: readonly CudaLibrary[] = [
  { file: 'libcuda.so.1', from: 'the NVIDIA driver (>= 450)' },
  { file: 'libcudart.so.11.0', from: 'CUDA 11.2 runtime' },
  { file: 'libcublas.so.11', from: 'CUDA 11.2 cuBLAS' },
  { file: 'libcublasLt.so.11', from: 'CUDA 11.2 cuBLAS' },
  { file: 'libcufft.so.10', from: 'CUDA 11.2 cuFFT' },
  { file: 'libcurand.so.10', from: 'CUDA 11.2 cuRAND' },
  { file: 'libcusolver.so.11', from: 'CUDA 11.2 cuSOLVER' },
  { file: 'libcusparse.so.11', from: 'CUDA 11.2 cuSPARSE' },
  { file: 'libcudnn.so.8', from: 'cuDNN 8.1' },
];

/** Directories the dynamic linker searches after LD_LIBRARY_PATH and its cache. */
export const DEFAULT_LIBRARY_DIRS: readonly string[] = ['/lib', '/usr/lib', '/lib64', '/usr/lib64'];

/** Parses `ldconfig -p` output into soname → paths. */
export function parseLdconfig(text: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^\s+(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$/.exec(line);
    if (!m) continue;
    const [, name, , path] = m as unknown as [string, string, string, string];
    found.set(name, [...(found.get(name) ?? []), path]);
  }
  return found;
}

/** The directories of a LD_LIBRARY_PATH value, in order. */
export function splitLibraryPath(value: string | undefined): string[] {
  return (value ?? '').split(':').filter((d) => d !== '');
}

export interface LibrarySearch {
  /** LD_LIBRARY_PATH directories. */
  libraryPath: readonly string[];
  /** `ldconfig -p`, parsed. */
  ldconfig: ReadonlyMap<string, readonly string[]>;
  exists: (path: string) => boolean;
}

/** Where the dynamic linker would find `file`, or null: LD_LIBRARY_PATH, then its cache, then the default dirs. */
export function findLibrary(file: string, search: LibrarySearch): string | null {
  for (const dir of search.libraryPath) {
    const path = join(dir, file);
    if (search.exists(path)) return path;
  }
  const cached = search.ldconfig.get(file);
  if (cached && cached.length > 0) return cached[0]!;
  for (const dir of DEFAULT_LIBRARY_DIRS) {
    const path = join(dir, file);
    if (search.exists(path)) return path;
  }
  return null;
}

export interface LibraryStatus extends CudaLibrary {
  path: string | null;
}

export function checkLibraries(search: LibrarySearch, libraries = CUDA_LIBRARIES): LibraryStatus[] {
  return libraries.map((lib) => ({ ...lib, path: findLibrary(lib.file, search) }));
}

export interface NvidiaSmi {
  /** The command ran. */
  found: boolean;
  /** One entry per GPU: `name, driver version`. */
  gpus: string[];
  /** Why it did not run or failed, in one line. */
  error?: string;
}

/** Parses `nvidia-smi --query-gpu=name,driver_version --format=csv,noheader`. */
export function parseNvidiaSmi(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const [name, driver] = l.split(',').map((s) => s.trim());
      return driver ? `${name} (driver ${driver})` : name!;
    });
}

export interface CudaFacts {
  libraries: LibraryStatus[];
  nvidiaSmi: NvidiaSmi;
}

function runLdconfig(): string {
  for (const cmd of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      return execFileSync(cmd, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
    } catch {
      // try the next location
    }
  }
  return '';
}

function runNvidiaSmi(): NvidiaSmi {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 10000,
    });
    return { found: true, gpus: parseNvidiaSmi(out) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') return { found: false, gpus: [], error: 'nvidia-smi not found' };
    const detail = (e.stderr ?? e.message).toString().trim().split('\n')[0];
    return { found: true, gpus: [], error: detail };
  }
}

/** The library search the dynamic linker would do on this machine. */
export function systemLibrarySearch(env: NodeJS.ProcessEnv = process.env): LibrarySearch {
  return {
    libraryPath: splitLibraryPath(env.LD_LIBRARY_PATH),
    ldconfig: process.platform === 'linux' ? parseLdconfig(runLdconfig()) : new Map(),
    exists: existsSync,
  };
}

/** The CUDA libraries tfjs-node-gpu needs that this machine lacks (empty = all present). */
export function missingCudaLibraries(search: LibrarySearch = systemLibrarySearch()): string[] {
  return checkLibraries(search)
    .filter((l) => l.path === null)
    .map((l) => l.file);
}

/** Everything `s2s doctor` looks at on this machine. */
export function probeCuda(): CudaFacts {
  return { libraries: checkLibraries(systemLibrarySearch()), nvidiaSmi: runNvidiaSmi() };
}

/** GPU names from nvidia-smi, or [] when it is absent or fails. */
export function gpuNames(): string[] {
  return runNvidiaSmi().gpus;
}
