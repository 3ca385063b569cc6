/**
 * The page's TensorFlow.js backend: WebGL on a GPU, WebAssembly otherwise (its
 * binaries are served beside the page), the plain JavaScript `cpu` backend as a
 * last resort. The page says which one runs and why.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { traitsFor, useBackendTraits } from '../backend/traits.ts';
import { registerWasmKernels } from '../backend/wasm-kernels.ts';

export type WebBackend = 'webgl' | 'wasm' | 'cpu';

export interface BackendChoice {
  name: WebBackend;
  /** Why the preferred backend is not used (shown on the page); null when WebGL runs. */
  fallback: string | null;
}

/** Why WebGL should not be used here, or null: no WebGL context at all, or one drawn in software. */
function webglProblem(): string | null {
  try {
    const canvas = document.createElement('canvas');
    const gl = canvas.getContext('webgl2') ?? canvas.getContext('webgl');
    if (gl === null) return 'this browser has no WebGL';
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    const software = SOFTWARE_RENDERERS.exec(renderer);
    if (software) return `WebGL here is drawn in software (${software[0]}), slower than WebAssembly`;
    return null;
  } catch {
    return 'this browser has no WebGL';
  }
}

/** Renderers that emulate a GPU on the CPU: their shader compilation alone takes seconds. */
const SOFTWARE_RENDERERS = /SwiftShader|llvmpipe|softpipe|Software/i;

/**
 * Initialises a backend: WebGL on a GPU; WebAssembly without WebGL or when
 * WebGL runs in software; the JavaScript `cpu` backend if both fail.
 * @param wasmBase URL of the folder holding the tfjs-backend-wasm*.wasm files (ends in `/`)
 * @param requested a backend to use instead (`?backend=` on the page)
 */
async function initFirstWorking(wasmBase: string, requested: WebBackend | null): Promise<BackendChoice> {
  // No debug checks (they read every tensor back): the CLI runs in the same mode.
  tf.enableProdMode();
  let fallback: string | null = requested === null ? webglProblem() : requested === 'webgl' ? null : `backend ${requested} was requested`;
  if (fallback === null) {
    if (await quietly(() => tf.setBackend('webgl'))) return { name: 'webgl', fallback: null };
    fallback = 'WebGL failed to start';
  }
  if (requested !== 'cpu') {
    setWasmPaths(wasmBase);
    if (await quietly(() => tf.setBackend('wasm'))) {
      registerWasmKernels();
      return { name: 'wasm', fallback };
    }
    fallback += '; WebAssembly failed to start';
  }
  await tf.setBackend('cpu');
  return { name: 'cpu', fallback };
}

/** Initialises the backend and sets the model code's traits: wasm's, else the portable ones (as on Node's cpu). */
export async function chooseBackend(wasmBase: string, requested: WebBackend | null): Promise<BackendChoice> {
  const choice = await initFirstWorking(wasmBase, requested);
  useBackendTraits(traitsFor(choice.name === 'wasm' ? 'wasm' : 'cpu'));
  return choice;
}

/** Runs a backend initialisation, turning a rejection or false into false (tfjs logs the cause). */
async function quietly(init: () => Promise<boolean>): Promise<boolean> {
  try {
    return await init();
  } catch {
    return false;
  }
}
