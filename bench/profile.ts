/**
 * `bench --profile`: where the time of a training step and of a decoded
 * sentence goes, per backend kernel (tf.profile: each kernel timed as it runs;
 * both native and wasm kernels run synchronously, so the times are the
 * kernels' own). Composite entries (custom-gradient ops, tidy scopes) contain
 * kernels that are listed on their own, so only kernels registered for the
 * backend are counted.
 *
 * The matrix products (BatchMatMul) get a line of their own: the products a
 * step or a sentence needs, at the speed this backend computes them, bound the
 * throughput however little else the step did ("products alone").
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '../src/backend/index.ts';
import { nativeOpCounts, resetNativeOpCounts } from '../src/backend/native-ops.ts';
import { search } from '../src/decode/search.ts';
import type { Seq2Seq } from '../src/model/seq2seq.ts';
import type { Adam } from '../src/train/adam.ts';
import { trainStep } from '../src/train/step.ts';
import { decodeMode, round, type DecodeMode } from './options.ts';
import type { DecodingSet, Workload } from './workload.ts';

/** Kernels that are matrix products. */
export const PRODUCT_KERNELS: ReadonlySet<string> = new Set(['BatchMatMul', '_FusedMatMul', 'MatMul']);

/** Training steps profiled (after the timed ones). */
export const PROFILED_STEPS = 5;

/** One kernel's calls and milliseconds per unit (training step or decoded sentence). */
export interface KernelTime {
  kernel: string;
  calls: number;
  ms: number;
}

export interface PhaseProfile {
  unit: 'step' | 'sentence';
  /** Steps or sentences profiled. */
  units: number;
  /** Kernel launches per unit, native TensorFlow ops run through the binding included. */
  calls: number;
  /** Of those, native ops run through tfjs-node's binding (not tfjs kernels: counted by s2s, not tf.profile). */
  nativeCalls: number;
  /** Kernel milliseconds per unit. */
  kernelMs: number;
  /** Milliseconds per unit in matrix products. */
  productMs: number;
  /** Target tokens/s (training) or sentences/s (decoding) if a unit took only its products' time; null without products. */
  productBound: number | null;
  /** Every kernel, most time first. */
  kernels: KernelTime[];
}

export interface BenchProfile {
  train: PhaseProfile;
  greedy64: PhaseProfile;
  beam5: PhaseProfile;
}

/** What tf.profile records of one kernel (the parts used here). */
export interface ProfiledKernel {
  name: string;
  kernelTimeMs: number | { error: string } | Promise<number | { error: string }>;
}

/**
 * Kernel times per unit from a profile's kernel list.
 * @param isKernel whether a name is a backend kernel (composite entries are not)
 * @param workPerUnit target tokens per step (training) or 1 (decoding): the bound is work per second
 */
export function summarise(
  kernels: readonly ProfiledKernel[],
  isKernel: (name: string) => boolean,
  unit: PhaseProfile['unit'],
  units: number,
  workPerUnit: number,
  native: ReadonlyMap<string, { calls: number; ms: number }> = new Map(),
): PhaseProfile {
  const byName = new Map<string, { calls: number; ms: number }>([...native].map(([name, c]) => [name, { ...c }]));
  for (const k of kernels) {
    if (!isKernel(k.name)) continue;
    const e = byName.get(k.name) ?? { calls: 0, ms: 0 };
    e.calls += 1;
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    byName.set(k.name, e);
  }
  const rows = [...byName].map(([kernel, e]) => ({ kernel, calls: e.calls / units, ms: e.ms / units })).sort((a, b) => b.ms - a.ms);
  const productMs = rows.filter((r) => PRODUCT_KERNELS.has(r.kernel)).reduce((a, r) => a + r.ms, 0);
  return {
    unit,
    units,
    calls: round(rows.reduce((a, r) => a + r.calls, 0), 1),
    nativeCalls: round([...native.values()].reduce((a, c) => a + c.calls, 0) / units, 1),
    kernelMs: round(rows.reduce((a, r) => a + r.ms, 0), 2),
    productMs: round(productMs, 2),
    productBound: productMs > 0 ? round((workPerUnit * 1000) / productMs, 0) : null,
    kernels: rows.map((r) => ({ kernel: r.kernel, calls: round(r.calls, 1), ms: round(r.ms, 3) })),
  };
}

/** Profiles PROFILED_STEPS more training steps of `model` and one greedy-64 and one beam-5 search with `decoder`. */
export async function profileBackend(
  backend: BackendName,
  trained: { model: Seq2Seq; optimizer: Adam; firstStep: number },
  decoding: DecodingSet,
  w: Workload,
  decodeOptions: (mode: DecodeMode) => Parameters<typeof search>[2],
): Promise<BenchProfile> {
  const isKernel = (name: string): boolean => tf.getKernel(name, backend) !== undefined;
  const batches = Array.from({ length: PROFILED_STEPS }, (_, i) => w.trainBatches[i % w.trainBatches.length]!);
  resetNativeOpCounts();
  const train = await tf.profile(() => {
    batches.forEach((batch, i) => trainStep(trained.model, trained.optimizer, batch, w.config, trained.firstStep + i));
  });
  const trainNative = nativeOpCounts();
  const tokensPerStep = batches.reduce((a, b) => a + b.tgtTokens, 0) / batches.length;
  const decode = async (mode: DecodeMode): Promise<PhaseProfile> => {
    const sources = decoding.sources;
    resetNativeOpCounts();
    const info = await tf.profile(async () => {
      await search(decoding.model, sources, decodeOptions(mode));
    });
    return summarise(info.kernels, isKernel, 'sentence', sources.length, 1, nativeOpCounts());
  };
  return {
    train: summarise(train.kernels, isKernel, 'step', batches.length, tokensPerStep, trainNative),
    greedy64: await decode(decodeMode('greedy64')),
    beam5: await decode(decodeMode('beam5')),
  };
}
