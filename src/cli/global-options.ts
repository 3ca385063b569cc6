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
 * `--threads` threads); its one line, and a warning when threaded wasm falls
 * back to one thread, go to stderr unless --quiet.
 */
export async function initBackendFor(cmd: Command): Promise<BackendChoice> {
  const { backend, threads, quiet } = globalOptions(cmd);
  const log = (line: string): void => {
    if (!quiet) process.stderr.write(`${line}\n`);
  };
  return initBackend(backend, log, {}, { threads, warn: (line) => log(`s2s: warning: ${line}`) });
}
