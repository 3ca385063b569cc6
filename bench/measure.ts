/**
 * The measurements on the active backend: training steps, then greedy
 * (batch 64 and batch 1) and beam-5 decoding of validation sentences, peak
 * RSS and tensors leaked.
 *
 * Decoding runs on a trained checkpoint when one is given (`--checkpoint`):
 * its own validation sentences, its own output lengths. Without one it needs
 * realistic output lengths another way: a model trained for a few dozen steps
 * emits <eos> at once under greedy search and runs to the length limit under
 * beam search, so neither decodes like a trained model. Decoding then uses a
 * freshly initialised model (which never emits <eos>) with each output capped
 * at round(r × source length), r = Σ reference lengths / Σ source lengths of
 * the decoded sentences: on average the outputs are as long as the references.
 * The mean output lengths are reported next to the reference lengths.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '../src/backend/index.ts';
import { search } from '../src/decode/search.ts';
import { disposeModel, type Seq2Seq } from '../src/model/seq2seq.ts';
import { Adam } from '../src/train/adam.ts';
import { trainStep } from '../src/train/step.ts';
import { DECODE_MODES, WARMUP_STEPS, median, round, type Counts, type DecodeMode } from './options.ts';
import { profileBackend, type BenchProfile } from './profile.ts';
import { freshDecoding, freshModel, type DecodingSet, type Workload } from './workload.ts';

/** One backend's figures; the first eight keys are the `--json` output's stable shape. */
export interface BenchResult {
  backend: BackendName;
  train: { msPerStep: number; tgtTokPerSec: number };
  greedy64: { sentPerSec: number };
  greedy1: { sentPerSec: number };
  /** Beam 5, batched (64 sentences per batch). */
  beam5: { sentPerSec: number };
  /** Beam 5 one sentence at a time, as bench/reference/torch_nmt.py's beam decodes. */
  beam5b1: { sentPerSec: number };
  peakRssMb: number;
  leakedTensors: number;
  /** Timed training steps and decoded sentences actually used. */
  steps: number;
  sentences: number;
  /** Mean output length (tokens) of each search and of the references. */
  meanOutputLen: { greedy: number; beam5: number; reference: number };
  /** r in the output cap round(r × source length); null when a trained checkpoint decodes (no cap). */
  outputLenRatio: number | null;
  /** What decoded: a fresh model with capped outputs, or the trained checkpoint given with --checkpoint. */
  decoder: DecodingSet['kind'];
  /** Why the counts are smaller than asked, or null. */
  capped: string | null;
  /** With --profile: kernel times per training step and per decoded sentence. */
  profile?: BenchProfile;
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Warm-up steps, then timed steps: median ms per step and median target tokens/s per step. */
function timeTraining(model: Seq2Seq, optimizer: Adam, w: Workload, steps: number, log: (line: string) => void): BenchResult['train'] & { baseline: number } {
  let baseline = 0;
  for (let i = 0; i < WARMUP_STEPS; i++) {
    trainStep(model, optimizer, w.trainBatches[i]!, w.config, i + 1);
    // The Adam moments exist after the first update: from here on every tensor should be accounted for.
    if (i === 0) baseline = tf.memory().numTensors;
  }
  const ms: number[] = [];
  const tokPerSec: number[] = [];
  for (let i = WARMUP_STEPS; i < WARMUP_STEPS + steps; i++) {
    const batch = w.trainBatches[i]!;
    const start = performance.now();
    trainStep(model, optimizer, batch, w.config, i + 1);
    const elapsed = performance.now() - start;
    ms.push(elapsed);
    tokPerSec.push((batch.tgtTokens * 1000) / elapsed);
    if ((i - WARMUP_STEPS + 1) % 10 === 0) log(`  step ${i - WARMUP_STEPS + 1}/${steps}: ${elapsed.toFixed(0)} ms`);
  }
  return { msPerStep: round(median(ms), 1), tgtTokPerSec: round(median(tokPerSec), 0), baseline };
}

/** r such that round(r × source length) is on average the reference length. */
export function outputLenRatio(d: Pick<DecodingSet, 'sources' | 'targetLengths'>): number {
  const src = d.sources.reduce((a, s) => a + s.length, 0);
  const tgt = d.targetLengths.reduce((a, b) => a + b, 0);
  return src === 0 ? 1 : tgt / src;
}

/** The search options of a decoding mode: the model's config, with the output cap of the module comment for a fresh model. */
function decodeOptions(d: DecodingSet, mode: DecodeMode): Parameters<typeof search>[2] {
  const cap = d.kind === 'fresh' ? { maxLenRatio: outputLenRatio(d), maxLenExtra: 0.5 } : {};
  return { ...d.decoding, beam: mode.beam, nbest: 1, batchSize: mode.batchSize, replaceUnk: false, ...cap };
}

/** Decodes the sources once untimed (2 sentences) and once timed: sentences/s and the mean output length. */
async function timeDecoding(d: DecodingSet, mode: DecodeMode): Promise<{ sentPerSec: number; meanLen: number }> {
  const opts = decodeOptions(d, mode);
  await search(d.model, d.sources.slice(0, 2), opts);
  const start = performance.now();
  const nbest = await search(d.model, d.sources, opts);
  const seconds = (performance.now() - start) / 1000;
  return { sentPerSec: round(d.sources.length / seconds, 1), meanLen: mean(nbest.map((n) => n[0]?.ids.length ?? 0)) };
}

/**
 * Trains a fresh model for the warm-up and timed steps, then decodes with
 * `trained` (a checkpoint's model and sentences) or another fresh model (see
 * the module comment); with `profile`, then profiles more steps and two
 * searches (after peak RSS is taken, before leaks are counted); disposes the
 * models.
 */
export async function runBench(
  backend: BackendName,
  w: Workload,
  counts: Counts,
  log: (line: string) => void,
  profile = false,
  trained: DecodingSet | null = null,
): Promise<BenchResult> {
  const model = freshModel(w);
  const optimizer = new Adam({ lr: w.config.training.lr, beta1: w.config.training.beta1, beta2: w.config.training.beta2 });
  log(`${backend}: training ${WARMUP_STEPS} warm-up + ${counts.steps} timed steps`);
  const { baseline, ...train } = timeTraining(model, optimizer, w, counts.steps, log);
  const decoding = trained ?? freshDecoding(w);
  const decoded: Partial<Record<DecodeMode['key'], { sentPerSec: number; meanLen: number }>> = {};
  for (const mode of DECODE_MODES) {
    log(`${backend}: ${mode.key}, ${decoding.sources.length} sentences (${decoding.kind === 'fresh' ? 'fresh model, capped outputs' : 'trained checkpoint'})`);
    decoded[mode.key] = await timeDecoding(decoding, mode);
  }
  const peakRssMb = round(process.resourceUsage().maxRSS / 1024, 0);
  let profiled: BenchProfile | undefined;
  if (profile) {
    log(`${backend}: profiling training steps, greedy64 and beam5`);
    profiled = await profileBackend(backend, { model, optimizer, firstStep: WARMUP_STEPS + counts.steps + 1 }, decoding, w, (mode) => decodeOptions(decoding, mode));
  }
  // A checkpoint's weights were loaded before the baseline was taken.
  const loadedBefore = trained ? trained.model.params.size : 0;
  disposeModel(decoding.model);
  const leakedTensors = tf.memory().numTensors - (baseline - loadedBefore);
  optimizer.dispose();
  disposeModel(model);
  return {
    backend,
    train,
    greedy64: { sentPerSec: decoded.greedy64!.sentPerSec },
    greedy1: { sentPerSec: decoded.greedy1!.sentPerSec },
    beam5: { sentPerSec: decoded.beam5!.sentPerSec },
    beam5b1: { sentPerSec: decoded.beam5b1!.sentPerSec },
    peakRssMb,
    leakedTensors,
    steps: counts.steps,
    sentences: decoding.sources.length,
    meanOutputLen: {
      greedy: round(decoded.greedy64!.meanLen, 1),
      beam5: round(decoded.beam5!.meanLen, 1),
      reference: round(mean(decoding.targetLengths), 1),
    },
    outputLenRatio: decoding.kind === 'fresh' ? round(outputLenRatio(decoding), 3) : null,
    decoder: decoding.kind,
    capped: counts.capped,
    ...(profiled ? { profile: profiled } : {}),
  };
}
