/** What the tests of TensorFlow's fused kernels (test/backends/fused-*.test.ts) share. */
import { after, before } from 'node:test';
import { initBackend, realBackendDeps } from '../../src/backend/index.ts';
import { traitsFor, useBackendTraits, type BackendTraits } from '../../src/backend/traits.ts';

const NODE = '@tensorflow/tfjs-node';

/** A describe's `skip`: false where tfjs-node and its binding are installed, else why not. */
export const FUSED_SKIP: false | string = realBackendDeps.isInstalled(NODE) && realBackendDeps.hasBinding(NODE) ? false : 'tfjs-node with its binding is not installed';

/** The tensorflow backend's traits: every fused path on. */
export const FUSED: BackendTraits = traitsFor('tensorflow');

/** Inside a describe: starts tensorflow with the fused traits before its tests and puts back the previous traits after them. */
export function onFusedTensorflow(): void {
  let previous: BackendTraits;
  before(async () => {
    await initBackend('tensorflow', () => {});
    previous = useBackendTraits(FUSED);
  });
  after(() => useBackendTraits(previous));
}
