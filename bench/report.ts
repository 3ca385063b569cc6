/**
 * The results as a readable table, with the ratio to the reference figures:
 * a PyTorch 1.13 implementation of the same model, measured on a 2-core machine.
 */
import type { BenchResult } from './measure.ts';
import type { PhaseProfile } from './profile.ts';

/** A PyTorch 1.13 implementation of the same model, measured on a 2-core machine. */
export const PYTORCH_REFERENCE = {
  tgtTokPerSec: 5300,
  greedy64: 1950,
  greedy1: 195,
  /** One sentence at a time; compared with both our batched and one-at-a-time beam. */
  beam5: 116,
} as const;

const fmt = (x: number, digits = 0): string => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** `2,345 (0.44x)`: a figure and its ratio to the reference. */
export function withRatio(value: number, reference: number, digits = 0): string {
  return `${fmt(value, digits)} (${(value / reference).toFixed(2)}x)`;
}

function padTable(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd());
}

/** The table (one row per backend, then the reference row) and the notes under it. */
export function formatTable(results: readonly BenchResult[], notes: readonly string[]): string {
  const header = ['backend', 'train ms/step', 'train tgt tok/s', 'greedy64 sent/s', 'greedy1 sent/s', 'beam5 b64 sent/s', 'beam5 b1 sent/s', 'peak RSS MB', 'leaked tensors'];
  const rows = results.map((r) => [
    r.backend,
    fmt(r.train.msPerStep, 1),
    withRatio(r.train.tgtTokPerSec, PYTORCH_REFERENCE.tgtTokPerSec),
    withRatio(r.greedy64.sentPerSec, PYTORCH_REFERENCE.greedy64, 1),
    withRatio(r.greedy1.sentPerSec, PYTORCH_REFERENCE.greedy1, 1),
    withRatio(r.beam5.sentPerSec, PYTORCH_REFERENCE.beam5, 1),
    withRatio(r.beam5b1.sentPerSec, PYTORCH_REFERENCE.beam5, 1),
    fmt(r.peakRssMb),
    String(r.leakedTensors),
  ]);
  const ref = ['PyTorch 1.13', '', fmt(PYTORCH_REFERENCE.tgtTokPerSec), fmt(PYTORCH_REFERENCE.greedy64), fmt(PYTORCH_REFERENCE.greedy1), fmt(PYTORCH_REFERENCE.beam5), fmt(PYTORCH_REFERENCE.beam5), '', ''];
  const lines = padTable([header, ...rows, ref]);
  const counts = results.map(
    (r) =>
      `${r.backend}: ${r.steps} timed steps, ${r.sentences} sentences; mean output length greedy ${r.meanOutputLen.greedy}, ` +
      `beam5 ${r.meanOutputLen.beam5}, references ${r.meanOutputLen.reference} tokens ` +
      (r.outputLenRatio === null ? '(decoded by the trained --checkpoint)' : `(fresh model, r = ${r.outputLenRatio})`),
  );
  return [
    ...lines,
    '',
    '(x) = ratio to a PyTorch 1.13 implementation of the same model, measured on a 2-core machine (row "PyTorch 1.13").',
    'Training: median per step over the timed steps (after 3 warm-up',
    'steps) of real batches of a freshly initialised model. Decoding: validation sentences after a 2-sentence',
    'warm-up. beam5 b64: batched, 64 sentences (320 hypotheses) per decoder call, the figure the targets name;',
    'beam5 b1: one sentence at a time, as the PyTorch 1.13 reference (116 sent/s, one at a time) was measured.',
    'Decoding with --checkpoint: that trained model and its own validation sentences. Without it (a briefly',
    'trained model decodes unrealistically: greedy stops at once, beam runs to the limit), a fresh model,',
    'which never emits <eos>, with each output capped at round(r x source length), r = sum of reference',
    'lengths / sum of source lengths: outputs are as long as the references on average.',
    'Peak RSS: the process maxRSS (one process per backend). Leaked: tf.memory().numTensors at the end minus',
    'after the first training step (model and Adam state exist).',
    ...counts,
    ...notes,
    ...results.flatMap((r) => (r.profile ? formatProfile(r) : [])),
  ].join('\n');
}

/** Kernels shown per phase. */
const TOP_KERNELS = 8;

/** The --profile lines of one backend: per phase the totals, the products' bound and the costliest kernels. */
export function formatProfile(r: BenchResult): string[] {
  if (!r.profile) return [];
  const phases: [string, PhaseProfile, number, string][] = [
    ['training', r.profile.train, PYTORCH_REFERENCE.tgtTokPerSec, 'tok/s'],
    ['greedy64', r.profile.greedy64, PYTORCH_REFERENCE.greedy64, 'sent/s'],
    ['beam5 b64', r.profile.beam5, PYTORCH_REFERENCE.beam5, 'sent/s'],
  ];
  const lines = ['', `${r.backend} profile (tf.profile's backend kernels plus native TensorFlow ops run through the binding, per training step or decoded sentence):`];
  for (const [name, p, reference, unit] of phases) {
    const share = p.kernelMs > 0 ? Math.round((100 * p.productMs) / p.kernelMs) : 0;
    const bound =
      p.productBound === null ? 'no products' : `products alone bound it at ${fmt(p.productBound)} ${unit} (${(p.productBound / reference).toFixed(2)}x)`;
    lines.push(
      `  ${name}: ${fmt(p.calls, 1)} kernels${p.nativeCalls > 0 ? ` (${fmt(p.nativeCalls, 1)} native)` : ''}, ${fmt(p.kernelMs, 2)} ms per ${p.unit}; matrix products ${fmt(p.productMs, 2)} ms (${share}%): ${bound}`,
      `    ${p.kernels
        .slice(0, TOP_KERNELS)
        .map((k) => `${k.kernel} ${fmt(k.calls, 1)}x ${fmt(k.ms, 2)} ms`)
        .join(', ')}`,
    );
  }
  return lines;
}
