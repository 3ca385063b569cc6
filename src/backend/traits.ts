/**
 * What model code needs to know about the active backend, decided here once
 * when the backend is initialised (initBackend), so tensor code never asks
 * `tf.getBackend()` per op. Every choice that differs between backends is a
 * field of {@link BackendTraits}, with the measured reason beside it.
 */
import type { BackendName } from './index.ts';

export interface BackendTraits {
  /** The backend these traits describe. */
  backend: BackendName;
  /**
   * tanh computed as 2σ(2x) − 1 (absolute error ~1e-7): wasm's Tanh kernel is
   * scalar and about 10× slower than its vectorised Sigmoid.
   */
  tanhFromSigmoid: boolean;
  /**
   * Attention's two per-position products (s · k_j and Σ_j α_j h_j) as batched
   * matMuls: a few per cent faster batched decoding on tensorflow (training
   * unchanged); wasm's batched matMul is a scalar loop, so elsewhere multiply + sum.
   */
  batchedAttentionProducts: boolean;
  /**
   * The encoder's LSTM through TensorFlow's fused kernels (BlockLSTMV2 forward,
   * LSTMBlockCellGrad backward) called through tfjs-node's binding: only on
   * tensorflow, where they exist.
   */
  fusedEncoder: boolean;
  /**
   * Adam's update as one ResourceApplyAdam per parameter (moments kept in
   * TensorFlow resource variables) instead of a dozen elementwise kernels:
   * only on tensorflow, where the op exists.
   */
  fusedAdam: boolean;
  /**
   * Search's decoder step through TensorFlow's LSTMBlockCell (one op per
   * layer instead of about fifteen) and attention in the fewest kernels
   * (decoder.ts fusedDecoderStep): only on tensorflow, where the op exists.
   */
  fusedSearchStep: boolean;
}

/** The traits of a backend. */
export function traitsFor(backend: BackendName): BackendTraits {
  return {
    backend,
    tanhFromSigmoid: backend === 'wasm',
    batchedAttentionProducts: backend === 'tensorflow',
    fusedEncoder: backend === 'tensorflow',
    fusedAdam: backend === 'tensorflow',
    fusedSearchStep: backend === 'tensorflow',
  };
}

/** Until a backend is initialised: the portable choices (right for cpu, correct everywhere). */
let active: BackendTraits = traitsFor('cpu');

/** The traits of the backend initialised last. */
export function backendTraits(): BackendTraits {
  return active;
}

/**
 * Sets the traits model code reads; initBackend calls it with the chosen
 * backend's. Tests may set other traits to compare two implementations on one
 * backend; returns the previous traits so they can be restored.
 */
export function useBackendTraits(traits: BackendTraits): BackendTraits {
  const previous = active;
  active = traits;
  return previous;
}
