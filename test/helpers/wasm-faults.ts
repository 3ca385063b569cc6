/**
 * Loaded with `--import` into a child s2s process (see `runS2S`'s `preload`):
 * makes the threaded wasm start-up fail the way the test asks, by wrapping
 * the backend's real `activateWasm` with a fault. The test passes the fault in
 * these variables of the child's environment (read here, never by s2s):
 *   WASM_FAULT                 error | hang
 *   WASM_TIMEOUT_MS            start-up timeout in ms
 *   WASM_INSTANTIATE_DELAY_MS  delays every WebAssembly.instantiate by this
 *                              many ms: failing pthread workers then report
 *                              before emscripten listens to them
 */
import { realBackendDeps } from '../../src/backend/index.ts';
import type { WasmStartOptions } from '../../src/backend/wasm-threads.ts';

const fault = process.env.WASM_FAULT;
const timeout = Number(process.env.WASM_TIMEOUT_MS);
const start: WasmStartOptions = {
  ...(fault === 'error' || fault === 'hang' ? { fault } : {}),
  ...(timeout > 0 ? { timeoutMs: timeout } : {}),
};
const real = realBackendDeps.activateWasm;
realBackendDeps.activateWasm = (mod, threads, activate) => real(mod, threads, activate, start);

const delay = Number(process.env.WASM_INSTANTIATE_DELAY_MS);
if (delay > 0) {
  const instantiate = WebAssembly.instantiate.bind(WebAssembly) as (...args: unknown[]) => Promise<unknown>;
  (WebAssembly as { instantiate: unknown }).instantiate = async (...args: unknown[]) => {
    await new Promise((resolve) => setTimeout(resolve, delay));
    return instantiate(...args);
  };
}
