/**
 * Dynamic batching: sentences from concurrent requests that share decoding
 * options wait in one queue and are decoded together, up to `maxBatch`
 * sentences, or once the oldest has waited `maxWaitMs` (counted from when the
 * decoder became free, if later). One decode runs at a time; a decode that
 * can (a streaming search) starts as soon as the decoder is free and takes
 * sentences that queue up while it runs between its steps, in groups, as long
 * as no other queue is overdue. A request's sentences can span batches.
 * Knows nothing about HTTP.
 */
import { UserError } from '../errors.ts';

/**
 * Sentences join a running streaming decode once they are 1/JOIN_SHARE of the
 * sentences decoding, or once the first has waited JOIN_WAITS × maxWaitMs.
 * Each join runs the encoder and copies the decoding, which costs less per
 * sentence the more join at once: at 64 concurrent clients, groups of half
 * the decoding rather than of 8 halved the joins and raised sentences/s
 * (see docs/serve.md).
 */
const JOIN_SHARE = 2;
const JOIN_WAITS = 20;

export interface BatcherLimits {
  /** Most sentences decoded together. */
  maxBatch: number;
  /** How long the first sentence of a batch waits for company. */
  maxWaitMs: number;
  /** Most sentences waiting (not yet decoding) across all queues. */
  maxQueue: number;
}

/** A sentence handed to the decoder: `done` takes its result. */
export interface Sentence<R> {
  readonly text: string;
  done(result: R): void;
}

/**
 * Decodes `batch` (sentences sharing `options`), calling `done` once for each.
 * A streaming decoder may call `more(max)` between its steps for up to `max`
 * sentences with the same options that queued since, and decode them too; a
 * decoder that ignores `more` decodes one batch at a time.
 */
export type DecodeBatch<O, R> = (options: O, batch: Sentence<R>[], more: (max: number) => Sentence<R>[]) => Promise<void>;

/** The queue cannot take a request's sentences now. */
export class QueueFullError extends UserError {
  constructor(queued: number, limit: number) {
    super(`the queue holds ${queued} sentences; the limit is ${limit}`);
  }
}

export interface BatcherStats {
  /** Decodes started so far (a streaming decode counts once however many sentences join it). */
  batches: number;
  /** Sentences that started decoding so far. */
  sentences: number;
  /** The most sentences decoding at once. */
  largestBatch: number;
  /** Milliseconds spent decoding so far (a decode running now counted up to now). */
  decodeMs: number;
  /** Summed over sentences, milliseconds from queueing to the start of their decoding. */
  waitMs: number;
  /**
   * Summed over sentences, milliseconds from the start of their decoding to their result (those
   * decoding now, to now): ÷ decodeMs = sentences decoding together, on average.
   */
  sentenceMs: number;
  /** Sentences waiting now. */
  queued: number;
  /** Whether a decode is running now (a streaming decode ends a moment after its last answer). */
  busy: boolean;
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
  private immediate: NodeJS.Immediate | null = null;
  private idleWaiters: (() => void)[] = [];
  private readonly counts = { batches: 0, sentences: 0, largestBatch: 0, decodeMs: 0, waitMs: 0, sentenceMs: 0 };
  /** Sentences decoding now. */
  private decoding = 0;
  /** When the running decode started, and the sum of its sentences' start times (for stats() while it runs). */
  private decodeStarted = 0;
  private startedSum = 0;

  /**
   * @param streams whether decodes of these options take sentences while they run (see DecodeBatch):
   *   then their sentences start decoding as soon as the decoder is free, since others can join them,
   *   unless `arriving` says more requests are on their way (then they wait for them, or maxWaitMs)
   * @param arriving whether requests have arrived that are not submitted yet (their bodies are being read)
   */
  constructor(
    private readonly limits: BatcherLimits,
    private readonly decode: DecodeBatch<O, R>,
    private readonly streams: (options: O) => boolean = () => false,
    private readonly arriving: () => boolean = () => false,
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
    const now = performance.now();
    // A streaming decode can run for as long as requests keep coming: what it has done so far counts.
    const decodeMs = this.counts.decodeMs + (this.running ? now - this.decodeStarted : 0);
    const sentenceMs = this.counts.sentenceMs + (this.decoding > 0 ? this.decoding * now - this.startedSum : 0);
    return { ...this.counts, decodeMs: Math.round(decodeMs), waitMs: Math.round(this.counts.waitMs), sentenceMs: Math.round(sentenceMs), queued: this.queued, busy: this.running };
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

  /**
   * Starts the next batch if one is ready, else sets a timer for when the oldest queue will be.
   * @param streamNow whether a streaming decode starts now; else it starts after the requests that
   *   arrived in this turn of the event loop (setImmediate) have queued, so that they start together
   */
  private schedule(streamNow = false): void {
    this.clearTimer();
    if (this.running || this.queued === 0) return;
    const now = performance.now();
    let next: { key: string; due: number; streams: boolean } | null = null;
    for (const [key, queue] of this.queues) {
      const full = queue.items.length >= this.limits.maxBatch;
      // A streaming decode starts at once (after this turn of the event loop), unless requests are
      // arriving: company joins it between steps. Others wait for company, and sentences that
      // queued up during the last decode still wait maxWaitMs for the clients it just answered:
      // otherwise those form a second, smaller batch every time.
      const streams = !full && !this.flushNow && this.streams(queue.options) && !this.arriving();
      const due = full || this.flushNow || streams ? -Infinity : Math.max(queue.items[0]!.arrived, this.freeSince) + this.limits.maxWaitMs;
      if (next === null || due < next.due) next = { key, due, streams };
    }
    if (next === null) return;
    if (next.streams && !streamNow) {
      this.immediate = setImmediate(() => this.schedule(true));
    } else if (next.due <= now) {
      void this.run(next.key);
    } else {
      this.timer = setTimeout(() => this.schedule(), Math.ceil(next.due - now));
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  private async run(key: string): Promise<void> {
    const queue = this.queues.get(key)!;
    const batch = this.takeFrom(key, this.limits.maxBatch);
    this.running = true;
    this.counts.batches += 1;
    const started = performance.now();
    this.decodeStarted = started;
    try {
      await this.decodeItems(queue.options, batch, (max) => (this.joinNow(key) ? this.takeFrom(key, max) : []));
    } finally {
      this.running = false;
      this.freeSince = performance.now();
      this.counts.decodeMs += this.freeSince - started;
      this.notifyIdle();
      this.schedule();
    }
  }

  /** Up to `max` sentences from the front of queue `key` (none if it is gone), counted as decoding from now. */
  private takeFrom(key: string, max: number): Item<R>[] {
    const queue = this.queues.get(key);
    if (!queue || max < 1) return [];
    const taken = queue.items.splice(0, max);
    if (queue.items.length === 0) this.queues.delete(key);
    this.queued -= taken.length;
    const now = performance.now();
    for (const item of taken) this.counts.waitMs += now - item.arrived;
    this.counts.sentences += taken.length;
    return taken;
  }

  /**
   * Whether sentences of queue `key` join the decode running now: once they
   * are half as many as those decoding (or fill its free rows), or the first
   * has waited 20 × maxWaitMs (see JOIN_SHARE), and as long as no other queue
   * is due (it gets its turn when this decode ends).
   */
  private joinNow(key: string): boolean {
    const now = performance.now();
    for (const [other, queue] of this.queues) {
      if (other !== key && (this.flushNow || queue.items.length >= this.limits.maxBatch || queue.items[0]!.arrived + this.limits.maxWaitMs <= now)) return false;
    }
    const queue = this.queues.get(key);
    if (!queue) return false;
    const group = Math.max(1, Math.min(this.limits.maxBatch - this.decoding, Math.ceil(this.decoding / JOIN_SHARE)));
    return this.flushNow || queue.items.length >= group || queue.items[0]!.arrived + JOIN_WAITS * this.limits.maxWaitMs <= now;
  }

  /**
   * Decodes a batch (and what the decoder takes through `more`), handing each
   * result to its request. Should the decode fail, the sentences it had not
   * answered are decoded again, each request's on their own, so that one
   * request's failure is not another's.
   */
  private async decodeItems(options: O, batch: Item<R>[], more: (max: number) => Item<R>[]): Promise<void> {
    /** The sentences decoding, with when they started. */
    const pending = new Map<Item<R>, number>();
    const handOut = (items: Item<R>[]): Sentence<R>[] => {
      const started = performance.now();
      this.decoding += items.length;
      this.startedSum += started * items.length;
      this.counts.largestBatch = Math.max(this.counts.largestBatch, this.decoding);
      return items.map((item) => {
        pending.set(item, started);
        return {
          text: item.text,
          done: (result: R) => {
            if (!pending.delete(item)) return;
            this.decoding -= 1;
            this.startedSum -= started;
            this.counts.sentenceMs += performance.now() - started;
            const job = item.job;
            job.results[item.index] = result;
            job.remaining -= 1;
            if (job.remaining === 0 && !job.cancelled) job.resolve(job.results);
          },
        };
      });
    };
    let failure: unknown = null;
    try {
      await this.decode(options, handOut(batch), (max) => handOut(more(max)));
    } catch (err) {
      failure = err;
    }
    this.decoding -= pending.size;
    for (const started of pending.values()) this.startedSum -= started;
    if (pending.size === 0) return;
    const unanswered = [...pending.keys()];
    const jobs = [...new Set(unanswered.map((item) => item.job))];
    if (failure === null) failure = new Error('the decoder gave no result for some sentences');
    if (jobs.length === 1 && unanswered.length === batch.length) {
      jobs[0]!.reject(failure);
      return;
    }
    for (const job of jobs) await this.decodeItems(options, unanswered.filter((item) => item.job === job), () => []);
  }
}
