/**
 * The thread side of the data passes that run on worker threads (prepare's
 * first pass, the audit): starting a worker module of src/data/ from the
 * sources or the compiled package, asking it for replies in order, and
 * carrying its failures back as errors, a UserError as the same UserError.
 */
import { Worker, type MessagePort } from 'node:worker_threads';
import { UserError } from '../errors.ts';

/** What a worker sends instead of a reply when a task fails. */
export interface WorkerFailure {
  type: 'error';
  message: string;
  /** Set when the error was a UserError. */
  user: { where?: string; hint?: string; exitCode: number } | null;
}

/** A worker's error as a WorkerFailure message. */
export function workerFailure(err: unknown): WorkerFailure {
  return {
    type: 'error',
    message: err instanceof Error ? err.message : String(err),
    user: err instanceof UserError ? { where: err.where, hint: err.hint, exitCode: err.exitCode } : null,
  };
}

/**
 * The worker side: tasks are handled one at a time, in the order they came,
 * each answered with `handle`'s reply (its `transfer` buffers moved, not
 * copied); `{ type: 'finish' }` is answered with `finish()`, and a failure
 * with a WorkerFailure.
 */
export function serveTasks<T extends object>(
  port: MessagePort,
  handle: (task: T) => Promise<{ reply: unknown; transfer: ArrayBuffer[] }>,
  finish: () => unknown,
): void {
  let queue = Promise.resolve();
  port.on('message', (message: T | { type: 'finish' }) => {
    queue = queue.then(async () => {
      try {
        if ('type' in message && message.type === 'finish') {
          port.postMessage(finish());
          return;
        }
        const { reply, transfer } = await handle(message as T);
        port.postMessage(reply, transfer);
      } catch (err) {
        port.postMessage(workerFailure(err));
      }
    });
  });
}

const fromSources = import.meta.url.endsWith('.ts');

/** A worker thread running the module `name` of src/data/; run from the TypeScript sources, it registers tsx first (a worker does not inherit the loader). */
function startWorker(name: string, workerData: unknown): Worker {
  const workerUrl = new URL(fromSources ? `./${name}.ts` : `./${name}.js`, import.meta.url);
  if (!fromSources) return new Worker(workerUrl, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(workerUrl.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/**
 * One worker thread that answers each message with one reply, in order.
 * `failed` turns a failure (or the thread's crash) into the error every
 * pending and later request rejects with.
 */
export class WorkerClient {
  private readonly worker: Worker;
  private readonly waiting: { resolve: (value: unknown) => void; reject: (err: unknown) => void }[] = [];
  private failure: unknown = null;

  constructor(name: string, workerData: unknown, failed: (failure: WorkerFailure) => Error) {
    this.worker = startWorker(name, workerData);
    this.worker.on('message', (message: { type: string }) => {
      if (message.type === 'error') this.fail(failed(message as WorkerFailure));
      else this.waiting.shift()?.resolve(message);
    });
    this.worker.on('error', (err) => this.fail(failed({ type: 'error', message: err.message, user: null })));
    this.worker.on('exit', (code) => this.fail(failed({ type: 'error', message: `stopped with exit code ${code}`, user: null })));
  }

  /** Requests not yet answered. */
  get busy(): number {
    return this.waiting.length;
  }

  request<T>(message: unknown, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const reply = new Promise<T>((resolve, reject) => this.waiting.push({ resolve: resolve as (value: unknown) => void, reject }));
    reply.catch(() => {}); // awaited in order later; not an unhandled rejection meanwhile
    this.worker.postMessage(message, transfer);
    return reply;
  }

  async terminate(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }
}
