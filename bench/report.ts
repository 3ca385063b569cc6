/**
 * The results as a readable table; with --reference, each figure's ratio to
 * another implementation's, measured on the same machine (bench/reference/).
 */
import type { BenchResult } from './measure.ts';
import type { Reference } from './options.ts';
import type { PhaseProfile } from './profile.ts';

const fmt = (x: number, digits = 0): string => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** `2,345 (0.44x)`: a figure and its ratio to the reference; the figure alone without one. */
export function withRatio(value: number, reference: number | undefined, digits = 0): string {
  return reference === undefined ? fmt(value, digits) : `${fmt(value, digits)} (${(value / reference).toFixed(2)}x)`;
}

function padTable(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd());
}

/** The table (one row per backend, then the reference's row if given) and the notes under it. */
export function formatTable(results: readonly BenchResult[], notes: readonly string[], reference: Reference | null = null): string {
  const ref = reference ?? undefined;
  const header = ['backend', 'train ms/step', 'train tgt tok/s', 'greedy64 sent/s', 'greedy1 sent/s', 'beam5 b64 sent/s', 'beam5 b1 sent/s', 'peak RSS MB', 'leaked tensors'];
  const rows = results.map((r) => [
    r.backend,
    fmt(r.train.msPerStep, 1),
    withRatio(r.train.tgtTokPerSec, ref?.tgtTokPerSec),
    withRatio(r.greedy64.sentPerSec, ref?.greedy64, 1),
    withRatio(r.greedy1.sentPerSec, ref?.greedy1, 1),
    withRatio(r.beam5.sentPerSec, ref?.beam5b1, 1),
    withRatio(r.beam5b1.sentPerSec, ref?.beam5b1, 1),
    fmt(r.peakRssMb),
    String(r.leakedTensors),
  ]);
  const figure = (v: number | undefined, digits = 0): string => (v === undefined ? '-' : fmt(v, digits));
  const referenceRow = ref && [ref.implementation, '', figure(ref.tgtTokPerSec), figure(ref.greedy64, 1), figure(ref.greedy1, 1), figure(ref.beam5b1, 1), figure(ref.beam5b1, 1), '', ''];
  const lines = padTable(referenceRow ? [header, ...rows, referenceRow] : [header, ...rows]);
  const counts = results.map(
    (r) =>
      `${r.backend}: ${r.steps} timed steps, ${r.sentences} sentences; mean output length greedy ${r.meanOutputLen.greedy}, ` +
      `beam5 ${r.meanOutputLen.beam5}, references ${r.meanOutputLen.reference} tokens ` +
      (r.outputLenRatio === null ? '(decoded by the trained --checkpoint)' : `(fresh model, r = ${r.outputLenRatio})`),
  );
  return [
    ...lines,
    '',
    ...(ref ? [`(x) = ratio to the --reference figures (row "${ref.implementation}"); both beam columns divide by its one-at-a-time beam 5.`] : []),
    'Training: median per step over the timed steps (after 3 warm-up',
    'steps) of real batches of a freshly initialised model. Decoding: validation sentences after a 2-sentence',
    'warm-up. beam5 b64: batched, 64 sentences (320 hypotheses) per decoder call; beam5 b1: one sentence at a time.',
    'Decoding with --checkpoint: that trained model and its own validation sentences. Without it (a briefly',
    'trained model decodes unrealistically: greedy stops at once, beam runs to the limit), a fresh model,',
    'which never emits <eos>, with each output capped at round(r x source length), r = sum of reference',
    'lengths / sum of source lengths: outputs are as long as the references on average.',
    'Peak RSS: the process maxRSS (one process per backend). Leaked: tf.memory().numTensors at the end minus',
    'after the first training step (model and Adam state exist).',
    ...counts,
    ...notes,
    ...results.flatMap((r) => (r.profile ? formatProfile(r, reference) : [])),
  ].join('\n');
}

/** Kernels shown per phase. */
const TOP_KERNELS = 8;

/** The --profile lines of one backend: per phase the totals, the products' bound and the costliest kernels. */
export function formatProfile(r: BenchResult, reference: Reference | null = null): string[] {
  if (!r.profile) return [];
  const phases: [string, PhaseProfile, number | undefined, string][] = [
    ['training', r.profile.train, reference?.tgtTokPerSec, 'tok/s'],
    ['greedy64', r.profile.greedy64, reference?.greedy64, 'sent/s'],
    ['beam5 b64', r.profile.beam5, reference?.beam5b1, 'sent/s'],
  ];
  const lines = ['', `${r.backend} profile (tf.profile's backend kernels plus native TensorFlow ops run through the binding, per training step or decoded sentence):`];
  for (const [name, p, reference, unit] of phases) {
    const share = p.kernelMs > 0 ? Math.round((100 * p.productMs) / p.kernelMs) : 0;
    const bound =
      p.productBound === null ? 'no products' : `products alone bound it at ${fmt(p.productBound)} ${unit}${reference === undefined ? '' : ` (${(p.productBound / reference).toFixed(2)}x)`}`;
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
