/**
 * Adam with global-norm gradient clipping and state that saves and restores
 * exactly (moments, step count, learning rate), so resumed training is
 * bit-identical. The bias correction is folded into the step size:
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
 *   θ ← θ − lr·√(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε)
 */
import * as tf from '@tensorflow/tfjs-core';

export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon?: number;
}

export class Adam {
  lr: number;
  step = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly moments = new Map<string, { m: tf.Variable; v: tf.Variable }>();

  constructor(options: AdamOptions) {
    this.lr = options.lr;
    this.beta1 = options.beta1;
    this.beta2 = options.beta2;
    this.epsilon = options.epsilon ?? 1e-8;
  }

  /**
   * Applies one update. `grads` are keyed by parameter name (the keys of `params`).
   * `scale` (e.g. the clipping factor) multiplies every gradient; it is folded
   * into the constants of the moment updates, so it costs no pass over the gradients:
   *   m ← β1·m + (1−β1)·s·g,   v ← β2·v + (1−β2)·s²·g²,   p ← p − η_t · m / (√v + ε)
   */
  apply(params: ReadonlyMap<string, tf.Variable>, grads: ReadonlyMap<string, tf.Tensor>, scale = 1): void {
    this.step += 1;
    const t = this.step;
    const stepSize = (this.lr * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    const gradWeight = (1 - this.beta1) * scale;
    const squareWeight = (1 - this.beta2) * scale * scale;
    tf.tidy(() => {
      for (const [name, variable] of params) {
        const g = grads.get(name);
        if (!g) continue;
        const state = this.momentsOf(name, variable);
        const m = tf.add(tf.mul(state.m, this.beta1), tf.mul(g, gradWeight));
        const v = tf.add(tf.mul(state.v, this.beta2), tf.mul(tf.square(g), squareWeight));
        state.m.assign(m);
        state.v.assign(v);
        variable.assign(tf.sub(variable, tf.mul(tf.div(m, tf.add(tf.sqrt(v), this.epsilon)), stepSize)));
      }
    });
  }

  private momentsOf(name: string, variable: tf.Variable): { m: tf.Variable; v: tf.Variable } {
    let state = this.moments.get(name);
    if (!state) {
      state = {
        m: tf.variable(tf.zerosLike(variable), false),
        v: tf.variable(tf.zerosLike(variable), false),
      };
      this.moments.set(name, state);
    }
    return state;
  }

  /** The moments as named tensors (`<param>/m`, `<param>/v`), for a checkpoint. */
  tensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [name, { m, v }] of this.moments) {
      out[`${name}/m`] = m;
      out[`${name}/v`] = v;
    }
    return out;
  }

  /** Restores the moments from a checkpoint (takes ownership of copies). */
  restore(step: number, lr: number, tensors: Record<string, tf.Tensor>): void {
    this.dispose();
    this.step = step;
    this.lr = lr;
    for (const key of Object.keys(tensors)) {
      if (!key.endsWith('/m')) continue;
      const name = key.slice(0, -2);
      const m = tensors[key]!;
      const v = tensors[`${name}/v`];
      if (!v) throw new Error(`optimizer state lacks '${name}/v'`);
      this.moments.set(name, { m: tf.variable(m, false), v: tf.variable(v, false) });
    }
  }

  dispose(): void {
    for (const { m, v } of this.moments.values()) {
      m.dispose();
      v.dispose();
    }
    this.moments.clear();
  }
}

/**
 * The global gradient norm ‖g‖ (a scalar tensor; read it back once per step).
 */
export function globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN([...grads].map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/** Scale factor for global-norm clipping: min(1, maxNorm / ‖g‖); 1 when maxNorm is 0 (off). */
export function clipScale(norm: number, maxNorm: number): number {
  return maxNorm > 0 && norm > maxNorm ? maxNorm / norm : 1;
}
