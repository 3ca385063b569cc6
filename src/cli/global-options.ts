/**
 * The options every command inherits from the program (`--backend`,
 * `--quiet`) and the backend start-up commands call before touching tensors.
 */
import type { Command } from 'commander';
import { initBackend, type BackendChoice, type BackendRequest } from '../backend.ts';

export interface GlobalOptions {
  backend: BackendRequest;
  quiet: boolean;
}

/** The program-level options as seen from any (sub)command. */
export function globalOptions(cmd: Command): GlobalOptions {
  const opts = cmd.optsWithGlobals() as { backend?: BackendRequest; quiet?: boolean };
  return { backend: opts.backend ?? 'auto', quiet: opts.quiet === true };
}

/** Initialises the backend chosen by `--backend` / S2S_BACKEND; its one line goes to stderr unless --quiet. */
export async function initBackendFor(cmd: Command): Promise<BackendChoice> {
  const { backend, quiet } = globalOptions(cmd);
  return initBackend(backend, (line) => {
    if (!quiet) process.stderr.write(`${line}\n`);
  });
}
