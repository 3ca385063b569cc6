/**
 * Dynamic batching: sentences from concurrent requests that share decoding
 * options wait in one queue and are decoded together, up to `maxBatch`
 * sentences, or once the oldest has waited `maxWaitMs` (counted from when the
 * decoder became free, if later). One decode runs at a time; a request's
 * sentences can span batches. Knows nothing about HTTP.
 */
import { UserError } from '../errors.ts';

export interface BatcherLimits {
  /** Most sentences decoded together. */
  maxBatch: number;
  /** How long the first sentence of a batch waits for company. */
  maxWaitMs: number;
  /** Most sentences waiting (not yet decoding) across all queues. */
  maxQueue: number;
}

/** Decodes sentences that share `options`; results in input order. */
export type DecodeBatch<O, R> = (options: O, texts: string[]) => Promise<R[]>;

/** The queue cannot take a request's sentences now. */
export class QueueFullError extends UserError {
  constructor(queued: number, limit: number) {
    super(`the queue holds ${queued} sentences; the limit is ${limit}`);
  }
}

export interface BatcherStats {
  /** Batches decoded so far. */
  batches: number;
  /** Sentences decoded so far. */
  sentences: number;
  /** The most sentences decoded in one batch. */
  largestBatch: number;
  /** Milliseconds spent decoding so far. */
  decodeMs: number;
  /** Sentences waiting now. */
  queued: number;
}

/** A request's sentences in flight: `promise` settles with all their results. */
export interface Submission<R> {
  promise: Promise<R[]>;
  /** Drops the sentences that have not started decoding and rejects the promise with `reason`. */
  cancel(reason: Error): void;
}

interface Job<R> {
  results: R[];
  remaining: number;
  cancelled: boolean;
  resolve(results: R[]): void;
  reject(err: unknown): void;
}

interface Item<R> {
  text: string;
  index: number;
  job: Job<R>;
  arrived: number;
}

interface Queue<O, R> {
  options: O;
  items: Item<R>[];
}

export class Batcher<O, R> {
  private readonly queues = new Map<string, Queue<O, R>>();
  private queued = 0;
  private running = false;
  /** When the last batch ended: a batch's wait for company starts no earlier. */
  private freeSince = -Infinity;
  private flushNow = false;
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  private readonly counts = { batches: 0, sentences: 0, largestBatch: 0, decodeMs: 0 };

  constructor(
    private readonly limits: BatcherLimits,
    private readonly decode: DecodeBatch<O, R>,
  ) {}

  /**
   * Queues `texts` under `key` (requests with equal keys must have equal options).
   * @throws QueueFullError when they do not fit in the queue
   */
  submit(key: string, options: O, texts: readonly string[]): Submission<R> {
    if (this.queued + texts.length > this.limits.maxQueue) throw new QueueFullError(this.queued, this.limits.maxQueue);
    let job!: Job<R>;
    const promise = new Promise<R[]>((resolve, reject) => {
      job = { results: new Array<R>(texts.length), remaining: texts.length, cancelled: false, resolve, reject };
    });
    if (texts.length === 0) {
      job.resolve([]);
      return { promise, cancel: () => {} };
    }
    const queue = this.queues.get(key) ?? { options, items: [] };
    this.queues.set(key, queue);
    const arrived = performance.now();
    texts.forEach((text, index) => queue.items.push({ text, index, job, arrived }));
    this.queued += texts.length;
    this.schedule();
    return {
      promise,
      cancel: (reason) => {
        if (job.cancelled) return;
        job.cancelled = true;
        job.reject(reason);
        this.dropCancelled();
      },
    };
  }

  stats(): BatcherStats {
    return { ...this.counts, decodeMs: Math.round(this.counts.decodeMs), queued: this.queued };
  }

  /** From now on decodes whatever is queued without waiting for company; resolves when nothing is queued or decoding. */
  drain(): Promise<void> {
    this.flushNow = true;
    this.schedule();
    return this.idle();
  }

  /** Rejects every queued sentence's request with `err` (those decoding finish). */
  abort(err: Error): void {
    for (const queue of this.queues.values()) {
      for (const item of queue.items) if (!item.job.cancelled) item.job.reject(err);
    }
    this.queues.clear();
    this.queued = 0;
    this.clearTimer();
    this.notifyIdle();
  }

  private idle(): Promise<void> {
    if (!this.running && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    if (this.running || this.queued > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private dropCancelled(): void {
    for (const [key, queue] of this.queues) {
      const kept = queue.items.filter((item) => !item.job.cancelled);
      this.queued -= queue.items.length - kept.length;
      queue.items = kept;
      if (kept.length === 0) this.queues.delete(key);
    }
    this.notifyIdle();
  }

  /** Starts the next batch if one is ready, else sets a timer for when the oldest queue will be. */
  private schedule(): void {
    this.clearTimer();
    if (this.running || this.queued === 0) return;
    const now = performance.now();
    let next: { key: string; due: number } | null = null;
    for (const [key, queue] of this.queues) {
      const full = queue.items.length >= this.limits.maxBatch;
      // Sentences that queued up during the last decode still wait maxWaitMs for the
      // clients it just answered: otherwise those form a second, smaller batch every time.
      const due = full || this.flushNow ? -Infinity : Math.max(queue.items[0]!.arrived, this.freeSince) + this.limits.maxWaitMs;
      if (next === null || due < next.due) next = { key, due };
    }
    if (next === null) return;
    if (next.due <= now) {
      void this.run(next.key);
    } else {
      this.timer = setTimeout(() => this.schedule(), Math.ceil(next.due - now));
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async run(key: string): Promise<void> {
    const queue = this.queues.get(key)!;
    const batch = queue.items.splice(0, this.limits.maxBatch);
    if (queue.items.length === 0) this.queues.delete(key);
    this.queued -= batch.length;
    this.running = true;
    const started = performance.now();
    try {
      await this.decodeItems(queue.options, batch);
    } finally {
      this.running = false;
      this.freeSince = performance.now();
      this.counts.decodeMs += this.freeSince - started;
      this.counts.batches += 1;
      this.counts.sentences += batch.length;
      this.counts.largestBatch = Math.max(this.counts.largestBatch, batch.length);
      this.notifyIdle();
      this.schedule();
    }
  }

  /**
   * Decodes a batch and hands each result to its request. Should the batch
   * fail as a whole, each request's sentences are retried on their own, so
   * that one request's failure is not another's.
   */
  private async decodeItems(options: O, batch: Item<R>[]): Promise<void> {
    let results: R[];
    try {
      results = await this.decode(options, batch.map((item) => item.text));
    } catch (err) {
      const jobs = [...new Set(batch.map((item) => item.job))];
      if (jobs.length === 1) {
        jobs[0]!.reject(err);
        return;
      }
      for (const job of jobs) await this.decodeItems(options, batch.filter((item) => item.job === job));
      return;
    }
    batch.forEach((item, k) => {
      const job = item.job;
      job.results[item.index] = results[k]!;
      job.remaining -= 1;
      if (job.remaining === 0 && !job.cancelled) job.resolve(job.results);
    });
  }
}
