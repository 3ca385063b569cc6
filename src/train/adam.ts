/**
 * Adam with global-norm gradient clipping and state that saves and restores
 * exactly (moments, step count, learning rate), so resumed training is
 * bit-identical. The bias correction is folded into the step size:
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
 *   θ ← θ − lr·√(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε)
 */
import * as tf from '@tensorflow/tfjs-core';
import { assignResource, attr, destroyResource, readResource, resourceVariable, runNativeOp } from '../backend/native-ops.ts';
import { backendTraits } from '../backend/traits.ts';

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
  /**
   * With BackendTraits.fusedAdam (decided when the optimizer is made): the
   * moments and a working copy of each parameter in TensorFlow resource
   * variables, updated by ResourceApplyAdam; `moments` stays empty.
   */
  private readonly fused: Map<string, { p: tf.Tensor; m: tf.Tensor; v: tf.Tensor }> | null;
  /** The moments last read out of the resource variables by tensors() (owned here). */
  private snapshot: tf.Tensor[] = [];

  constructor(options: AdamOptions) {
    this.lr = options.lr;
    this.beta1 = options.beta1;
    this.beta2 = options.beta2;
    this.epsilon = options.epsilon ?? 1e-8;
    this.fused = backendTraits().fusedAdam ? new Map() : null;
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
    if (this.fused) {
      this.applyFused(this.fused, params, grads, scale);
      return;
    }
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

  /**
   * The same update through TensorFlow's ResourceApplyAdam, one op per
   * parameter (plus setting and reading the parameter's working copy):
   *   m ← m + (s·g − m)(1−β1),  v ← v + ((s·g)² − v)(1−β2),
   *   θ ← θ − lr·√(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε).
   * TensorFlow copies a variable's buffer before updating it when anything
   * else holds it, so the tfjs parameter tensors are never changed in place.
   */
  private applyFused(
    fused: NonNullable<Adam['fused']>,
    params: ReadonlyMap<string, tf.Variable>,
    grads: ReadonlyMap<string, tf.Tensor>,
    scale: number,
  ): void {
    this.dropSnapshot();
    const t = this.step;
    tf.tidy(() => {
      const constants = [this.beta1 ** t, this.beta2 ** t, this.lr, this.beta1, this.beta2, this.epsilon].map((x) => tf.scalar(x));
      const attrs = [attr.floatType(), attr.bool('use_locking', false), attr.bool('use_nesterov', false)];
      for (const [name, variable] of params) {
        const g = grads.get(name);
        if (!g) continue;
        let state = fused.get(name);
        if (!state) {
          const zeros = tf.zerosLike(variable);
          state = { p: tf.keep(resourceVariable(variable)), m: tf.keep(resourceVariable(zeros)), v: tf.keep(resourceVariable(zeros)) };
          fused.set(name, state);
        } else {
          assignResource(state.p, variable);
        }
        runNativeOp('ResourceApplyAdam', attrs, [state.p, state.m, state.v, ...constants, scale === 1 ? g : tf.mul(g, scale)], 0);
        variable.assign(readResource(state.p));
      }
    });
  }

  private dropSnapshot(): void {
    tf.dispose(this.snapshot);
    this.snapshot = [];
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

  /**
   * The moments as named tensors (`<param>/m`, `<param>/v`), for a checkpoint;
   * owned by the optimizer and valid until its next update.
   */
  tensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    if (this.fused) {
      this.dropSnapshot();
      for (const [name, { m, v }] of this.fused) {
        out[`${name}/m`] = readResource(m);
        out[`${name}/v`] = readResource(v);
      }
      this.snapshot = Object.values(out);
      return out;
    }
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
      // Fused: the parameter's working copy is made at the first update, from the parameter.
      if (this.fused) this.restoreFused(this.fused, name, m, v);
      else this.moments.set(name, { m: tf.variable(m, false), v: tf.variable(v, false) });
    }
  }

  private restoreFused(fused: NonNullable<Adam['fused']>, name: string, m: tf.Tensor, v: tf.Tensor): void {
    // A placeholder for p: the first update after a restore sets it from the parameter.
    fused.set(name, { p: resourceVariable(m), m: resourceVariable(m), v: resourceVariable(v) });
  }

  dispose(): void {
    for (const { m, v } of this.moments.values()) {
      m.dispose();
      v.dispose();
    }
    this.moments.clear();
    for (const { p, m, v } of this.fused?.values() ?? []) [p, m, v].forEach(destroyResource);
    this.fused?.clear();
    this.dropSnapshot();
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
