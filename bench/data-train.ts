/**
 * The training half of `npm run bench:data`: N steps from a prepared set, in
 * this process, with the tiny model (16/32) so that what grows with the
 * corpus, not the model, dominates memory. Reports the seconds from process
 * start to the end of the first step, and that time in parts, so that what
 * grows with the corpus shows apart from what does not:
 *   - backendSeconds: process start until the backend is ready (Node, the
 *     modules, TensorFlow's native library);
 *   - dataOpenSeconds: opening the prepared set (its index, length files and hashes);
 *   - modelSeconds: building the model;
 *   - planSeconds: the first epoch's length-bucketed batch plan over the whole index;
 *   - stepSeconds: the first step itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, type S2SConfig } from '../src/config.ts';

/** Seconds since this process started. */
const sinceStart = (): number => performance.now() / 1000;

/** Starts the backend and exits: run once before the timed runs, so that its shared library is in the page cache for all of them. */
export async function warmBackend(): Promise<object> {
  const { initBackend } = await import('../src/backend/index.ts');
  const backend = await initBackend('auto', () => {});
  return { backend: backend.name, seconds: sinceStart() };
}

export async function trainSteps(base: S2SConfig, preparedDir: string, steps: number): Promise<object> {
  const { initBackend } = await import('../src/backend/index.ts');
  const { createModel, disposeModel } = await import('../src/model/seq2seq.ts');
  const { prepareTraining } = await import('../src/train/prepare.ts');
  const { Trainer } = await import('../src/train/trainer.ts');
  const backend = await initBackend('auto', () => {});
  const backendReady = sinceStart();
  const config = buildConfig('bench-data', {
    data: { ...base.data },
    model: { embSize: 16, hiddenSize: 32 },
    training: { batchSize: 64, maxSteps: steps, saveEvery: 0, validEvery: 0, keep: 0, validBleuSize: 0 },
  });
  let prepared = false;
  const data = await prepareTraining(config, undefined, { preparedDir, onPrepare: () => (prepared = true) });
  const dataOpen = sinceStart();
  const model = createModel(config.model, data.vocabs.src.size, data.vocabs.tgt.size, config.training.seed);
  const modelReady = sinceStart();
  const out = mkdtempSync(join(tmpdir(), 's2s-bench-train-'));
  let planned = Number.NaN;
  let firstStep = Number.NaN;
  let done = 0;
  const trainer = new Trainer(
    { config, model, srcVocab: data.vocabs.src, tgtVocab: data.vocabs.tgt, split: data.split, train: data.train, valid: data.valid, out },
    (event) => {
      if (event.type === 'epoch' && Number.isNaN(planned)) planned = sinceStart();
      if (event.type !== 'step') return;
      if (done === 0) firstStep = sinceStart();
      done = event.step;
    },
  );
  try {
    await trainer.run();
  } finally {
    trainer.dispose();
    disposeModel(model);
    data.close();
    rmSync(out, { recursive: true, force: true });
  }
  return {
    backend: backend.name,
    steps: done,
    firstStepSeconds: firstStep,
    backendSeconds: backendReady,
    dataOpenSeconds: dataOpen - backendReady,
    modelSeconds: modelReady - dataOpen,
    planSeconds: planned - modelReady,
    stepSeconds: firstStep - planned,
    preparedAgain: prepared,
  };
}
