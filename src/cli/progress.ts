/**
 * Turns trainer events into what a person sees: on a terminal a cli-progress
 * bar per epoch (batch/total, loss, target tokens/s, learning rate, ETA), or
 * one bar over the steps when --max-steps ends training before the epochs do,
 * with validation and other lines printed above it; otherwise one log line
 * every --log-every steps. --log-json appends one JSON object per logged step
 * and per validation.
 */
import { appendFileSync } from 'node:fs';
import readline from 'node:readline';
import cliProgress from 'cli-progress';
import { errnoReason, isErrno } from '../fs-atomic.ts';
import type { TrainEvent } from '../train/trainer.ts';

export interface ProgressOptions {
  quiet: boolean;
  /** Draw bars (stderr is a terminal). */
  tty: boolean;
  logEvery: number;
  logJson: string | null;
  /** Writes one line (and its newline) to `stream`. */
  write: (line: string) => void;
  /** Where bars are drawn; default process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

const fmt = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

export function formatValidation(e: Extract<TrainEvent, { type: 'validation' }>): string {
  const bleu = e.bleu === null ? '' : ` bleu ${e.bleu.toFixed(2)}`;
  return `validation step ${e.step} epoch ${e.epoch}: loss ${fmt(e.loss)} ppl ${fmt(e.ppl, 2)}${bleu}${e.improved ? ' (best)' : ''}`;
}

/** What a run will train: `5 epochs`, or `100 steps (0.3 epochs)` when --max-steps ends it sooner. */
export function formatBudget(epochs: number, maxSteps: number, batchesPerEpoch: number): string {
  if (!stepBudgetBinds(epochs, maxSteps, batchesPerEpoch)) return `${epochs} epoch${epochs === 1 ? '' : 's'}`;
  const e = maxSteps / batchesPerEpoch;
  return `${maxSteps} steps (${e >= 0.1 ? e.toFixed(1) : e.toPrecision(1)} epochs)`;
}

function stepBudgetBinds(epochs: number, maxSteps: number, batchesPerEpoch: number): boolean {
  return maxSteps > 0 && maxSteps < epochs * batchesPerEpoch;
}

export function formatStep(e: Extract<TrainEvent, { type: 'step' }>): string {
  return (
    `epoch ${e.epoch} step ${e.step} (${e.batchInEpoch}/${e.batches}) loss ${fmt(e.loss)} ppl ${fmt(e.ppl, 2)} ` +
    `gnorm ${fmt(e.gradNorm, 2)} lr ${e.lr.toExponential(2)} ${Math.round(e.tokPerSec)} tok/s`
  );
}

/** A listener for Trainer events; `say` prints a line above the bar. Call `stop()` when training ends. */
export function createProgress(options: ProgressOptions): { listener: (e: TrainEvent) => void; say: (line: string) => void; stop: () => void } {
  const stream = options.stream ?? process.stderr;
  let bar: cliProgress.SingleBar | null = null;
  /** With a binding --max-steps: the bar counts steps to it, across epochs. */
  let stepBudget: { total: number; from: number } | null = null;
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
  /** A line above the bar: the bar's line is cleared, the line written, and the bar drawn again below it at once. */
  const say = (line: string): void => {
    if (options.quiet) return;
    if (bar) {
      readline.cursorTo(stream, 0);
      readline.clearLine(stream, 0);
    }
    options.write(line);
    if (!bar) return;
    // cli-progress puts the cursor back where the bar started (DEC save/restore) when it stops: save the bar's new line.
    stream.write('\x1b7');
    bar.render();
  };
  /** Ends the bar, leaving its last state on screen. */
  const endBar = (): void => {
    bar?.stop();
    bar = null;
  };
  const newBar = (label: string, unit: string, total: number, value: number, payload: Record<string, unknown>): void => {
    endBar();
    bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total}${unit} | loss {loss} | {tps} tok/s | lr {lr} | ETA {eta_formatted}`,
        stream,
        hideCursor: true,
        etaBuffer: 50,
        // say() redraws the bar below a line it printed: draw even when the bar itself has not changed.
        forceRedraw: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, value, { loss: '-', tps: '-', lr: '-', ...payload });
  };
  const listener = (e: TrainEvent): void => {
    switch (e.type) {
      case 'start':
        if (stepBudgetBinds(e.epochs, e.maxSteps, e.batchesPerEpoch)) stepBudget = { total: e.maxSteps, from: e.resumedAt ?? 0 };
        say(
          `training: ${e.trainPairs} pairs (${e.batchesPerEpoch} batches/epoch), ${e.validPairs} valid, ` +
            `${e.parameters.toLocaleString('en-US')} parameters, ${formatBudget(e.epochs, e.maxSteps, e.batchesPerEpoch)}` +
            (e.resumedAt !== null ? `, resuming after step ${e.resumedAt}` : ''),
        );
        break;
      case 'epoch':
        if (options.quiet || !options.tty) break;
        if (stepBudget === null) newBar(`epoch ${e.epoch}`, '', e.batches, e.batchInEpoch, {});
        else if (bar === null) newBar('epoch {epoch}', ' steps', stepBudget.total, stepBudget.from, { epoch: e.epoch });
        else bar.update({ epoch: e.epoch });
        break;
      case 'step': {
        tokens += e.tgtTokens;
        const logged = e.step % options.logEvery === 0;
        const payload = { loss: fmt(e.loss), tps: Math.round(e.tokPerSec), lr: e.lr.toExponential(2), epoch: e.epoch };
        if (bar) bar.update(stepBudget === null ? e.batchInEpoch : e.step, payload);
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
        endBar();
        say(`training ${e.reason === 'finished' ? 'finished' : `stopped (${e.reason})`} at step ${e.step}; checkpoint: ${e.dir}`);
        break;
    }
  };
  return { listener, say, stop: endBar };
}
