/**
 * The training loop. It knows the model only through lossSum and the
 * parameters, reports through events (step, validation, checkpoint, done),
 * and never writes to the terminal.
 */
import { join } from 'node:path';
import type { S2SConfig } from '../config.ts';
import { makeBatch, planBatches, type Batch, type EncodedPair } from '../data/batches.ts';
import type { SplitRecord } from '../data/split.ts';
import type { Vocab } from '../data/vocab.ts';
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
  | { type: 'start'; epochs: number; batchesPerEpoch: number; trainPairs: number; validPairs: number; parameters: number; resumedAt: number | null }
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
  | { type: 'done'; reason: 'finished' | 'max-steps' | 'early-stop' | 'interrupted'; step: number; dir: string };

export type TrainListener = (event: TrainEvent) => void;

export interface TrainerSetup {
  config: S2SConfig;
  model: Seq2Seq;
  srcVocab: Vocab;
  tgtVocab: Vocab;
  split: SplitRecord;
  train: readonly EncodedPair[];
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

  async run(): Promise<void> {
    const { config, train, model } = this.setup;
    const t = config.training;
    const planOptions = { batchSize: t.batchSize, batchTokens: t.batchTokens };
    const batchesPerEpoch = planBatches(train, planOptions).length;
    let parameters = 0;
    for (const v of model.params.values()) parameters += v.size;
    this.emit({
      type: 'start',
      epochs: t.epochs,
      batchesPerEpoch,
      trainPairs: train.length,
      validPairs: this.setup.valid.pairs.length,
      parameters,
      resumedAt: this.setup.resume?.trainer ? this.state.step : null,
    });
    if (this.state.done) {
      this.emit({ type: 'done', reason: 'finished', step: this.state.step, dir: this.setup.out });
      return;
    }
    let reason: 'finished' | 'max-steps' | 'early-stop' | 'interrupted' = 'finished';
    outer: while (this.state.epoch <= t.epochs) {
      const rng = new Rng(`${t.seed}/data`, this.state.epochRng);
      const plan = planBatches(train, planOptions, (items) => rng.shuffle(items));
      const nextEpochRng = rng.state();
      this.emit({ type: 'epoch', epoch: this.state.epoch, batches: plan.length, batchInEpoch: this.state.batchInEpoch });
      while (this.state.batchInEpoch < plan.length) {
        if (t.maxSteps > 0 && this.state.step >= t.maxSteps) {
          reason = 'max-steps';
          break outer;
        }
        const batch = makeBatch(train, plan[this.state.batchInEpoch]!);
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
          batches: plan.length,
          loss,
          ppl: Math.exp(loss),
          gradNorm,
          lr: this.optimizer.lr,
          tgtTokens: batch.tgtTokens,
          tokPerSec: batch.tgtTokens / Math.max(seconds, 1e-9),
          elapsed: this.elapsed(),
        });
        const endOfEpoch = this.state.batchInEpoch >= plan.length;
        if (endOfEpoch) {
          this.state.epoch += 1;
          this.state.batchInEpoch = 0;
          this.state.epochRng = nextEpochRng;
        }
        const maxed = t.maxSteps > 0 && this.state.step >= t.maxSteps;
        const validateNow = endOfEpoch || (t.validEvery > 0 && this.state.step % t.validEvery === 0);
        if (validateNow && (await this.validateAndTrack())) {
          reason = 'early-stop';
          break outer;
        }
        if (this.stopRequested) {
          reason = 'interrupted';
          break outer;
        }
        if (maxed) {
          reason = 'max-steps';
          break outer;
        }
        if (endOfEpoch) {
          await this.save('last');
          continue outer;
        }
        if (t.saveEvery > 0 && this.state.step % t.saveEvery === 0) {
          await this.save('last');
          if (t.keep > 0) {
            await this.save(`step-${this.state.step}`);
            await pruneStepCheckpoints(this.setup.out, t.keep);
          }
        }
      }
    }
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

  /** Validates, updates best/patience/lr; returns true when early stopping triggers. */
  private async validateAndTrack(): Promise<boolean> {
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
    this.metrics.push(record);
    const useBleu = t.bestMetric === 'bleu' && result.bleu !== null;
    const metric = useBleu ? result.bleu! : result.loss;
    const best = this.state.bestMetric;
    const improved = best === null || (useBleu ? metric > best : metric < best);
    this.emit({ type: 'validation', ...record, improved, elapsed: this.elapsed() });
    if (improved) {
      this.state.bestMetric = metric;
      this.state.sinceImprovement = 0;
      this.state.sinceDecay = 0;
      await this.save('best');
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
