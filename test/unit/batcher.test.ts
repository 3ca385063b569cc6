import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Batcher, QueueFullError } from '../../src/serve/batcher.ts';

/** A batcher whose decode upper-cases, records each batch, and fails on a text 'boom'. */
function recording(limits: { maxBatch: number; maxWaitMs: number; maxQueue: number }) {
  const batches: { options: string; texts: string[] }[] = [];
  const batcher = new Batcher<string, string>(limits, async (options, texts) => {
    batches.push({ options, texts });
    await new Promise((resolve) => setImmediate(resolve));
    if (texts.includes('boom')) throw new Error('boom');
    return texts.map((t) => `${options}:${t.toUpperCase()}`);
  });
  return { batcher, batches };
}

const submit = (b: Batcher<string, string>, options: string, texts: string[]) => b.submit(options, options, texts).promise;

describe('Batcher', () => {
  test('concurrent requests with the same options share a batch; other options get their own; results in input order', async () => {
    const { batcher, batches } = recording({ maxBatch: 64, maxWaitMs: 20, maxQueue: 100 });
    const results = await Promise.all([
      submit(batcher, 'greedy', ['a', 'b']),
      submit(batcher, 'beam', ['c']),
      submit(batcher, 'greedy', ['d']),
    ]);
    assert.deepEqual(results, [['greedy:A', 'greedy:B'], ['beam:C'], ['greedy:D']]);
    assert.deepEqual(batches, [
      { options: 'greedy', texts: ['a', 'b', 'd'] },
      { options: 'beam', texts: ['c'] },
    ]);
    const { decodeMs, ...counts } = batcher.stats();
    assert.deepEqual(counts, { batches: 2, sentences: 4, largestBatch: 3, queued: 0 });
    assert.ok(decodeMs >= 0);
  });

  test('a full batch starts at once; a request can span batches', async () => {
    const { batcher, batches } = recording({ maxBatch: 3, maxWaitMs: 60_000, maxQueue: 100 });
    const first = submit(batcher, 'o', ['a', 'b']);
    const second = submit(batcher, 'o', ['c', 'd', 'e', 'f']);
    const drained = batcher.drain(); // the last, partial batch would otherwise wait a minute
    assert.deepEqual(await Promise.all([first, second]), [['o:A', 'o:B'], ['o:C', 'o:D', 'o:E', 'o:F']]);
    await drained;
    assert.deepEqual(batches.map((b) => b.texts), [['a', 'b', 'c'], ['d', 'e', 'f']]);
  });

  test('queue full throws before queueing anything', async () => {
    const { batcher } = recording({ maxBatch: 8, maxWaitMs: 1, maxQueue: 3 });
    const ok = submit(batcher, 'o', ['a', 'b']);
    assert.throws(() => batcher.submit('o', 'o', ['c', 'd']), QueueFullError);
    assert.deepEqual(await ok, ['o:A', 'o:B']);
  });

  test('a cancelled request leaves the queue and is rejected with the reason; others are decoded', async () => {
    const { batcher, batches } = recording({ maxBatch: 8, maxWaitMs: 20, maxQueue: 100 });
    const kept = submit(batcher, 'o', ['a']);
    const dropped = batcher.submit('o', 'o', ['b', 'c']);
    dropped.cancel(new Error('gone'));
    await assert.rejects(dropped.promise, /gone/);
    assert.equal(batcher.stats().queued, 1);
    assert.deepEqual(await kept, ['o:A']);
    assert.deepEqual(batches.map((b) => b.texts), [['a']]);
  });

  test("a batch that fails is retried per request: one request's failure is not another's", async () => {
    const { batcher } = recording({ maxBatch: 8, maxWaitMs: 20, maxQueue: 100 });
    const good = submit(batcher, 'o', ['a']);
    const bad = submit(batcher, 'o', ['boom', 'b']);
    await assert.rejects(bad, /boom/);
    assert.deepEqual(await good, ['o:A']);
  });

  test('abort rejects what is queued; drain resolves once idle', async () => {
    const { batcher } = recording({ maxBatch: 8, maxWaitMs: 60_000, maxQueue: 100 });
    const waiting = submit(batcher, 'o', ['a']);
    batcher.abort(new Error('closing'));
    await assert.rejects(waiting, /closing/);
    await batcher.drain();
    assert.equal(batcher.stats().queued, 0);
  });
});
