/**
 * Turns trainer events into what a person sees: on a terminal a cli-progress
 * bar per epoch (step/total, loss, target tokens/s, learning rate, ETA) and a
 * line per validation; otherwise one log line every --log-every steps.
 * --log-json appends one JSON object per logged step and per validation.
 */
import { appendFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { errnoReason, isErrno } from '../fs-atomic.ts';
import type { TrainEvent } from '../train/trainer.ts';

export interface ProgressOptions {
  quiet: boolean;
  /** Draw bars (stderr is a terminal). */
  tty: boolean;
  logEvery: number;
  logJson: string | null;
  write: (line: string) => void;
}

const fmt = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

export function formatValidation(e: Extract<TrainEvent, { type: 'validation' }>): string {
  const bleu = e.bleu === null ? '' : ` bleu ${e.bleu.toFixed(2)}`;
  return `validation step ${e.step} epoch ${e.epoch}: loss ${fmt(e.loss)} ppl ${fmt(e.ppl, 2)}${bleu}${e.improved ? ' (best)' : ''}`;
}

export function formatStep(e: Extract<TrainEvent, { type: 'step' }>): string {
  return (
    `epoch ${e.epoch} step ${e.step} (${e.batchInEpoch}/${e.batches}) loss ${fmt(e.loss)} ppl ${fmt(e.ppl, 2)} ` +
    `gnorm ${fmt(e.gradNorm, 2)} lr ${e.lr.toExponential(2)} ${Math.round(e.tokPerSec)} tok/s`
  );
}

/** A listener for Trainer events. Call `stop()` when training ends. */
export function createProgress(options: ProgressOptions): { listener: (e: TrainEvent) => void; stop: () => void } {
  let bar: cliProgress.SingleBar | null = null;
  let tokens = 0;
  let windowStart = performance.now();
  let logJson = options.logJson;
  // A log that cannot be written (disk full, removed directory) never costs the run: warn once and go on without it.
  const json = (record: object): void => {
    if (!logJson) return;
    try {
      appendFileSync(logJson, `${JSON.stringify(record)}\n`);
    } catch (err) {
      const reason = isErrno(err) ? errnoReason(err) : String(err);
      options.write(`s2s: warning: cannot write --log-json ${logJson}: ${reason}; training continues without it`);
      logJson = null;
    }
  };
  const say = (line: string): void => {
    if (options.quiet) return;
    if (bar) bar.stop();
    options.write(line);
    bar = null;
  };
  const listener = (e: TrainEvent): void => {
    switch (e.type) {
      case 'start':
        say(
          `training: ${e.trainPairs} pairs (${e.batchesPerEpoch} batches/epoch), ${e.validPairs} valid, ` +
            `${e.parameters.toLocaleString('en-US')} parameters, ${e.epochs} epochs` +
            (e.resumedAt !== null ? `, resuming after step ${e.resumedAt}` : ''),
        );
        break;
      case 'epoch':
        if (options.quiet || !options.tty) break;
        bar = new cliProgress.SingleBar(
          {
            format: `epoch ${e.epoch} [{bar}] {value}/{total} | loss {loss} | {tps} tok/s | lr {lr} | ETA {eta_formatted}`,
            stream: process.stderr,
            hideCursor: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(e.batches, e.batchInEpoch, { loss: '-', tps: '-', lr: '-' });
        break;
      case 'step': {
        tokens += e.tgtTokens;
        const logged = e.step % options.logEvery === 0;
        if (bar) bar.update(e.batchInEpoch, { loss: fmt(e.loss), tps: Math.round(e.tokPerSec), lr: e.lr.toExponential(2) });
        if (logged) {
          const seconds = (performance.now() - windowStart) / 1000;
          const tokPerSec = tokens / Math.max(seconds, 1e-9);
          tokens = 0;
          windowStart = performance.now();
          if (!options.tty) say(formatStep({ ...e, tokPerSec }));
          json({ kind: 'step', step: e.step, epoch: e.epoch, loss: e.loss, ppl: e.ppl, gradNorm: e.gradNorm, lr: e.lr, tokPerSec, elapsed: e.elapsed });
        }
        break;
      }
      case 'validation':
        say(formatValidation(e));
        json({ kind: 'validation', step: e.step, epoch: e.epoch, loss: e.loss, ppl: e.ppl, bleu: e.bleu, lr: e.lr, elapsed: e.elapsed });
        break;
      case 'lr':
        say(`learning rate decayed to ${e.lr.toExponential(3)} at step ${e.step}`);
        break;
      case 'checkpoint':
        if (e.kind === 'best') say(`saved best checkpoint: ${e.dir}`);
        break;
      case 'done':
        say(`training ${e.reason === 'finished' ? 'finished' : `stopped (${e.reason})`} at step ${e.step}; checkpoint: ${e.dir}`);
        break;
    }
  };
  return { listener, stop: () => bar?.stop() };
}
