/**
 * The options every command inherits from the program (`--backend`,
 * `--threads`, `--quiet`) and the backend start-up commands call before
 * touching tensors.
 */
import type { Command } from 'commander';
import { initBackend, threadsFromEnv, type BackendChoice, type BackendRequest } from '../backend/index.ts';

export interface GlobalOptions {
  backend: BackendRequest;
  /** wasm threads (`--threads` / S2S_THREADS, default one per core). */
  threads: number;
  quiet: boolean;
}

/** The program-level options as seen from any (sub)command. */
export function globalOptions(cmd: Command): GlobalOptions {
  const opts = cmd.optsWithGlobals() as { backend?: BackendRequest; threads?: number; quiet?: boolean };
  return { backend: opts.backend ?? 'auto', threads: opts.threads ?? threadsFromEnv(), quiet: opts.quiet === true };
}

/**
 * Initialises the backend chosen by `--backend` / S2S_BACKEND (wasm with
 * `--threads` threads, or one for little work); its one line, and a warning when threaded wasm falls
 * back to one thread, go to stderr unless --quiet. A command that only decodes
 * (`decoding`) starts native TensorFlow without oneDNN (BackendOptions.oneDnn).
 */
export async function initBackendFor(cmd: Command, opts: { littleWork?: boolean; intraOpThreads?: number; decoding?: boolean } = {}): Promise<BackendChoice> {
  const { backend, quiet } = globalOptions(cmd);
  // Starting wasm's worker threads costs about 0.4 s of CPU, more than they save on a few sentences:
  // `littleWork` (e.g. a sentence or two given as arguments) runs one thread unless --threads or S2S_THREADS says otherwise.
  const threads = opts.littleWork === true && cmd.getOptionValueSourceWithGlobals('threads') === 'default' ? 1 : globalOptions(cmd).threads;
  const log = (line: string): void => {
    if (!quiet) process.stderr.write(`${line}\n`);
  };
  return initBackend(backend, log, {}, {
    threads,
    warn: (line) => log(`s2s: warning: ${line}`),
    intraOpThreads: opts.intraOpThreads,
    ...(opts.decoding ? { oneDnn: false } : {}),
  });
}
