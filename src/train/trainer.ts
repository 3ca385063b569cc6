/**
 * The training loop. It knows the model only through lossSum and the
 * parameters, reports through events (step, validation, checkpoint, done),
 * and never writes to the terminal.
 */
import { join } from 'node:path';
import type { S2SConfig } from '../config.ts';
import { planByLength, type Batch, type BatchPlanOptions, type TrainingPairs } from '../data/batches.ts';
import type { SplitRecord } from '../data/split.ts';
import type { Vocab } from '../data/vocab.ts';
import { countParameters } from '../model/params.ts';
import type { Seq2Seq } from '../model/seq2seq.ts';
import { Adam } from './adam.ts';
import { NumericalError, trainStep, type StepResult } from './step.ts';
import {
  pruneStepCheckpoints,
  saveCheckpoint,
  type LoadedCheckpoint,
  type TrainerState,
  type ValidationRecord,
} from './checkpoint.ts';
import { Rng } from './rng.ts';
import { validate, type ValidationSet } from './validate.ts';

export type TrainEvent =
  | {
      type: 'start';
      epochs: number;
      /** The step budget (training.maxSteps); 0 = none. */
      maxSteps: number;
      batchesPerEpoch: number;
      trainPairs: number;
      validPairs: number;
      parameters: number;
      resumedAt: number | null;
    }
  | { type: 'epoch'; epoch: number; batches: number; batchInEpoch: number }
  | {
      type: 'step';
      step: number;
      epoch: number;
      batchInEpoch: number;
      batches: number;
      loss: number;
      ppl: number;
      gradNorm: number;
      lr: number;
      tgtTokens: number;
      tokPerSec: number;
      elapsed: number;
    }
  | ({ type: 'validation'; improved: boolean; elapsed: number } & ValidationRecord)
  | { type: 'lr'; step: number; lr: number }
  | { type: 'checkpoint'; kind: 'last' | 'best' | 'step'; dir: string; step: number }
  | { type: 'done'; reason: StopReason; step: number; dir: string };

/** Why training stopped. */
export type StopReason = 'finished' | 'max-steps' | 'early-stop' | 'interrupted';

export type TrainListener = (event: TrainEvent) => void;

export interface TrainerSetup {
  config: S2SConfig;
  model: Seq2Seq;
  srcVocab: Vocab;
  tgtVocab: Vocab;
  split: SplitRecord;
  /** In memory (inMemoryPairs) or a prepared dataset's (PreparedPairs). */
  train: TrainingPairs;
  valid: ValidationSet;
  out: string;
  /** Continue from this checkpoint's optimizer and trainer state. */
  resume?: LoadedCheckpoint;
}

function freshState(config: S2SConfig): TrainerState {
  return {
    epoch: 1,
    step: 0,
    batchInEpoch: 0,
    epochRng: new Rng(`${config.training.seed}/data`).state(),
    lr: config.training.lr,
    bestMetric: null,
    sinceImprovement: 0,
    sinceDecay: 0,
    done: false,
  };
}

export class Trainer {
  private readonly setup: TrainerSetup;
  private readonly emit: TrainListener;
  private readonly optimizer: Adam;
  private readonly state: TrainerState;
  private readonly metrics: ValidationRecord[];
  private stopRequested = false;
  private readonly started = Date.now();
  /** `DIR (step N)` of the newest `last` checkpoint, named if training stops on a non-finite loss. */
  private lastSaved: string | null;

  constructor(setup: TrainerSetup, emit: TrainListener) {
    this.setup = setup;
    this.emit = emit;
    const t = setup.config.training;
    this.optimizer = new Adam({ lr: t.lr, beta1: t.beta1, beta2: t.beta2 });
    const resume = setup.resume;
    if (resume?.trainer && resume.optimizerTensors) {
      this.state = { ...resume.trainer };
      this.lastSaved = `${resume.dir} (step ${resume.trainer.step})`;
      this.optimizer.restore(resume.trainer.step, resume.trainer.lr, resume.optimizerTensors);
      this.metrics = [...resume.metrics];
    } else {
      this.state = freshState(setup.config);
      this.lastSaved = null;
      this.metrics = [];
    }
  }

  /** Ask the loop to stop after the current step and save `last` (Ctrl-C). */
  requestStop(): void {
    this.stopRequested = true;
  }

  get step(): number {
    return this.state.step;
  }

  /**
   * Trains until the epochs are done, `maxSteps` is reached, validation stops
   * early, or a stop is requested. Every run but an interrupted one ends validated.
   */
  async run(): Promise<void> {
    this.emitStart();
    if (this.state.done) {
      this.emit({ type: 'done', reason: 'finished', step: this.state.step, dir: this.setup.out });
      return;
    }
    let reason: StopReason | null = null;
    while (reason === null && this.state.epoch <= this.setup.config.training.epochs) reason = await this.runEpoch();
    if (reason === 'max-steps') await this.validateAtBudget();
    await this.finish(reason ?? 'finished');
  }

  private emitStart(): void {
    const { config, train, model } = this.setup;
    this.emit({
      type: 'start',
      epochs: config.training.epochs,
      maxSteps: config.training.maxSteps,
      batchesPerEpoch: planByLength(train.srcLens, train.tgtLens, this.planOptions()).length,
      trainPairs: train.size,
      validPairs: this.setup.valid.pairs.length,
      parameters: countParameters(model.params),
      resumedAt: this.setup.resume?.trainer ? this.state.step : null,
    });
  }

  private planOptions(): BatchPlanOptions {
    const t = this.setup.config.training;
    return { batchSize: t.batchSize, batchTokens: t.batchTokens };
  }

  /**
   * The rest of the current epoch, from `batchInEpoch` on, in the order the
   * epoch's RNG state gives. Returns why training stops, or null when the
   * epoch ended (and `last` was saved) and the next one begins.
   */
  private async runEpoch(): Promise<StopReason | null> {
    const { train } = this.setup;
    const rng = new Rng(`${this.setup.config.training.seed}/data`, this.state.epochRng);
    const plan = planByLength(train.srcLens, train.tgtLens, this.planOptions(), (items) => void rng.shuffle(items));
    const nextEpochRng = rng.state();
    this.emit({ type: 'epoch', epoch: this.state.epoch, batches: plan.length, batchInEpoch: this.state.batchInEpoch });
    while (this.state.batchInEpoch < plan.length) {
      if (this.maxStepsReached()) return 'max-steps';
      this.trainBatch(train.batch(plan.batch(this.state.batchInEpoch)), plan.length);
      const endOfEpoch = this.state.batchInEpoch >= plan.length;
      if (endOfEpoch) {
        this.state.epoch += 1;
        this.state.batchInEpoch = 0;
        this.state.epochRng = nextEpochRng;
      }
      // Let the event loop run between steps: a Ctrl-C or SIGTERM is handled within one step, never starved.
      await new Promise((resolve) => setImmediate(resolve));
      const stop = await this.stopAfterStep(endOfEpoch);
      if (stop !== null) return stop;
      if (endOfEpoch) {
        await this.save('last');
        return null;
      }
      await this.periodicSave();
    }
    return null;
  }

  /** One step on `batch`, counted and reported. */
  private trainBatch(batch: Batch, batches: number): void {
    const began = performance.now();
    const { loss, gradNorm } = this.checkedStep(batch);
    const seconds = (performance.now() - began) / 1000;
    this.state.step += 1;
    this.state.batchInEpoch += 1;
    this.emit({
      type: 'step',
      step: this.state.step,
      epoch: this.state.epoch,
      batchInEpoch: this.state.batchInEpoch,
      batches,
      loss,
      ppl: Math.exp(loss),
      gradNorm,
      lr: this.optimizer.lr,
      tgtTokens: batch.tgtTokens,
      tokPerSec: batch.tgtTokens / Math.max(seconds, 1e-9),
      elapsed: this.elapsed(),
    });
  }

  private maxStepsReached(): boolean {
    const { maxSteps } = this.setup.config.training;
    return maxSteps > 0 && this.state.step >= maxSteps;
  }

  /** After a step: validates when due, then the first of early stop, a requested stop and `maxSteps` that applies. */
  private async stopAfterStep(endOfEpoch: boolean): Promise<StopReason | null> {
    const { validEvery } = this.setup.config.training;
    const validateNow = endOfEpoch || (validEvery > 0 && this.state.step % validEvery === 0);
    if (validateNow && (await this.validateAndTrack())) return 'early-stop';
    if (this.stopRequested) return 'interrupted';
    if (this.maxStepsReached()) return 'max-steps';
    return null;
  }

  /** `last` every `saveEvery` steps, and with `keep` a `step-N` copy, the oldest pruned. */
  private async periodicSave(): Promise<void> {
    const { saveEvery, keep } = this.setup.config.training;
    if (saveEvery <= 0 || this.state.step % saveEvery !== 0) return;
    await this.save('last');
    if (keep > 0) {
      await this.save(`step-${this.state.step}`);
      await pruneStepCheckpoints(this.setup.out, keep);
    }
  }

  /** Saves `last`; a run that stopped on its own (not interrupted or capped by `maxSteps`) is marked done. */
  private async finish(reason: StopReason): Promise<void> {
    this.state.done = reason !== 'interrupted' && reason !== 'max-steps';
    await this.save('last');
    this.emit({ type: 'done', reason, step: this.state.step, dir: join(this.setup.out, 'last') });
  }

  /** One optimizer step; a NumericalError names the checkpoint that is kept. */
  private checkedStep(batch: Batch): StepResult {
    try {
      return trainStep(this.setup.model, this.optimizer, batch, this.setup.config, this.state.step + 1);
    } catch (err) {
      if (err instanceof NumericalError) throw err.keeping(this.lastSaved);
      throw err;
    }
  }

  dispose(): void {
    this.optimizer.dispose();
  }

  private elapsed(): number {
    return (Date.now() - this.started) / 1000;
  }

  /**
   * A run that stops on its step budget ends with a validation, unless one ran
   * at that very step, so that it has metrics and a `best`. It is off the
   * schedule: the learning-rate decay and early stopping never see it, so a
   * resumed run trains exactly as one that was never stopped.
   */
  private async validateAtBudget(): Promise<void> {
    if (this.metrics.at(-1)?.step === this.state.step) return;
    await this.validateAndTrack(false);
  }

  /**
   * Validates, records the result and saves `best` when it beats every
   * validation so far. A `scheduled` validation (epoch end, validEvery) also
   * drives the learning-rate decay and early stopping, measured against the
   * best scheduled result; returns true when early stopping triggers.
   */
  private async validateAndTrack(scheduled = true): Promise<boolean> {
    const { config, model, tgtVocab } = this.setup;
    const t = config.training;
    const result = await validate(model, this.setup.valid, config, tgtVocab);
    const record: ValidationRecord = {
      step: this.state.step,
      epoch: this.state.batchInEpoch === 0 ? this.state.epoch - 1 : this.state.epoch,
      loss: result.loss,
      ppl: result.ppl,
      bleu: result.bleu,
      lr: this.optimizer.lr,
    };
    const useBleu = t.bestMetric === 'bleu' && result.bleu !== null;
    const metricOf = (r: Pick<ValidationRecord, 'loss' | 'bleu'>): number => (useBleu ? (r.bleu ?? Number.NaN) : r.loss);
    const beats = (metric: number, best: number | null): boolean => best === null || (useBleu ? metric > best : metric < best);
    const metric = metricOf(record);
    const bestSoFar = this.metrics.reduce<number | null>((best, r) => (beats(metricOf(r), best) ? metricOf(r) : best), null);
    const isBest = beats(metric, bestSoFar);
    this.metrics.push(record);
    this.emit({ type: 'validation', ...record, improved: isBest, elapsed: this.elapsed() });
    if (isBest) await this.save('best');
    if (!scheduled) return false;
    if (beats(metric, this.state.bestMetric)) {
      this.state.bestMetric = metric;
      this.state.sinceImprovement = 0;
      this.state.sinceDecay = 0;
      return false;
    }
    this.state.sinceImprovement += 1;
    this.state.sinceDecay += 1;
    if (t.lrDecay < 1 && this.state.sinceDecay >= t.lrPatience) {
      this.optimizer.lr *= t.lrDecay;
      this.state.sinceDecay = 0;
      this.emit({ type: 'lr', step: this.state.step, lr: this.optimizer.lr });
    }
    return t.earlyStop > 0 && this.state.sinceImprovement >= t.earlyStop;
  }

  /** `best` is a model directory (weights and vocabularies); `last` and `step-N` can also resume. */
  private async save(kind: string): Promise<void> {
    this.state.lr = this.optimizer.lr;
    const dir = join(this.setup.out, kind);
    const resumable = kind !== 'best';
    await saveCheckpoint(dir, {
      config: this.setup.config,
      srcVocab: this.setup.srcVocab,
      tgtVocab: this.setup.tgtVocab,
      split: this.setup.split,
      model: this.setup.model,
      ...(resumable ? { optimizer: this.optimizer, trainer: { ...this.state } } : {}),
      metrics: this.metrics,
    });
    if (kind === 'last') this.lastSaved = `${dir} (step ${this.state.step})`;
    const label = kind === 'last' || kind === 'best' ? kind : 'step';
    this.emit({ type: 'checkpoint', kind: label, dir, step: this.state.step });
  }
}
