import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Batcher, QueueFullError, type Sentence } from '../../src/serve/batcher.ts';

/** A batcher whose decode upper-cases, records each batch, and fails on a text 'boom'. */
function recording(limits: { maxBatch: number; maxWaitMs: number; maxQueue: number }) {
  const batches: { options: string; texts: string[] }[] = [];
  const batcher = new Batcher<string, string>(limits, async (options, batch) => {
    const texts = batch.map((s) => s.text);
    batches.push({ options, texts });
    await new Promise((resolve) => setImmediate(resolve));
    if (texts.includes('boom')) throw new Error('boom');
    batch.forEach((s) => s.done(`${options}:${s.text.toUpperCase()}`));
  });
  return { batcher, batches };
}

/**
 * A streaming decode: a sentence takes as many steps as it has characters and
 * is answered when they are done; between steps it takes what queued since
 * (up to maxBatch decoding). Records the sentences decoding at each step.
 */
function streaming(limits: { maxBatch: number; maxWaitMs: number; maxQueue: number }, eager = false) {
  const steps: string[][] = [];
  const batcher = new Batcher<string, string>(limits, async (_options, batch, more) => {
    let rows = batch.map((s) => ({ s, left: s.text.length }));
    while (rows.length > 0) {
      steps.push(rows.map((r) => r.s.text));
      await new Promise((resolve) => setTimeout(resolve, 5));
      for (const r of rows) if (--r.left === 0) r.s.done(r.s.text.toUpperCase());
      rows = rows.filter((r) => r.left > 0);
      rows.push(...more(limits.maxBatch - rows.length).map((s: Sentence<string>) => ({ s, left: s.text.length })));
    }
  }, () => eager);
  return { batcher, steps };
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
    // busy: the last decode may still be finishing when its answers arrive.
    const { decodeMs, waitMs, sentenceMs, busy, ...counts } = batcher.stats();
    assert.deepEqual(counts, { batches: 2, sentences: 4, largestBatch: 3, queued: 0 });
    assert.ok(decodeMs >= 0 && waitMs >= 0 && sentenceMs >= 0 && typeof busy === 'boolean');
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

  test('a streaming decode takes sentences that queue while it runs, up to maxBatch decoding; each is answered when it ends', async () => {
    const { batcher, steps } = streaming({ maxBatch: 3, maxWaitMs: 0, maxQueue: 100 });
    const answered: string[] = [];
    const send = (texts: string[]) => submit(batcher, 'o', texts).then((r) => (answered.push(...r), r));
    const long = send(['aaaa']); // starts at once (maxWaitMs 0)
    const short = send(['b']); // joins at the next step
    await new Promise((resolve) => setTimeout(resolve, 1));
    const later = send(['cc', 'dd', 'ee']);
    assert.deepEqual(await Promise.all([long, short, later]), [['AAAA'], ['B'], ['CC', 'DD', 'EE']]);
    assert.deepEqual(steps[0], ['aaaa']);
    assert.deepEqual(steps[1]!.slice(0, 2), ['aaaa', 'b']);
    assert.ok(answered.indexOf('B') < answered.indexOf('AAAA'), `answered in the order they ended: ${answered.join(' ')}`);
    assert.ok(steps.every((rows) => rows.length <= 3), JSON.stringify(steps));
    assert.ok(steps.some((rows) => rows.includes('aaaa') && rows.includes('cc')), `joined the running decode: ${JSON.stringify(steps)}`);
    const stats = batcher.stats();
    assert.equal(stats.batches, 1, 'one decode');
    assert.equal(stats.sentences, 5);
    assert.equal(stats.largestBatch, 3);
  });

  test('stats count a streaming decode that is still running: its time so far, and its sentences\' time so far', async () => {
    const { batcher } = streaming({ maxBatch: 8, maxWaitMs: 5, maxQueue: 100 }, true);
    const first = submit(batcher, 'greedy', ['abcdefghij', 'abcdefghij']);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const running = batcher.stats();
    assert.equal(running.batches, 1);
    assert.equal(running.busy, true);
    assert.ok(running.decodeMs >= 20, `decodeMs ${running.decodeMs} while the decode runs`);
    // Two sentences decoding all along: twice the decode's time.
    assert.ok(Math.abs(running.sentenceMs - 2 * running.decodeMs) <= 2, `sentenceMs ${running.sentenceMs}, decodeMs ${running.decodeMs}`);
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    const ended = batcher.stats();
    assert.equal(ended.busy, false);
    assert.ok(ended.decodeMs >= running.decodeMs && Math.abs(ended.sentenceMs - 2 * ended.decodeMs) <= 2, JSON.stringify(ended));
  });

  test('sentences join a running decode in groups: half as many as are decoding, or enough to fill it', async () => {
    const { batcher, steps } = streaming({ maxBatch: 12, maxWaitMs: 60_000, maxQueue: 100 }, true);
    const long = 'a'.repeat(12);
    const first = submit(batcher, 'o', Array<string>(8).fill(long)); // starts at once: the decoder is free
    await new Promise((resolve) => setTimeout(resolve, 7));
    const three = ['x', 'y', 'z'].map((t) => submit(batcher, 'o', [t]));
    await new Promise((resolve) => setTimeout(resolve, 15));
    assert.ok(steps.every((rows) => !rows.includes('x')), `three wait while eight decode: ${JSON.stringify(steps)}`);
    const fourth = submit(batcher, 'o', ['w']);
    assert.deepEqual(await Promise.all([...three, fourth]), [['X'], ['Y'], ['Z'], ['W']]);
    const joined = steps.findIndex((rows) => rows.includes('x'));
    assert.deepEqual(steps[joined], [...Array<string>(8).fill(long), 'x', 'y', 'z', 'w'], 'the four joined together');
    // Two more while 8 decode with 4 rows free: 2 < 8 / 2, so they wait; 2 more fill the free rows and all 4 join.
    const pair = ['p', 'q'].map((t) => submit(batcher, 'o', [t]));
    await new Promise((resolve) => setTimeout(resolve, 15));
    assert.ok(steps.every((rows) => !rows.includes('p')), JSON.stringify(steps));
    const more = ['r', 's'].map((t) => submit(batcher, 'o', [t]));
    assert.deepEqual(await Promise.all([...pair, ...more]), [['P'], ['Q'], ['R'], ['S']]);
    assert.ok(steps.every((rows) => rows.length <= 12), JSON.stringify(steps));
    assert.ok(steps.every((rows) => rows.includes('p') === rows.includes('s')), JSON.stringify(steps));
    assert.deepEqual(await first, Array<string>(8).fill(long.toUpperCase()));
    assert.equal(batcher.stats().batches, 1, 'one decode');
  });

  test('a streaming decode starts as soon as the decoder is free (with what arrived in the same turn of the event loop), also right after answering a request', async () => {
    const { batcher, steps } = streaming({ maxBatch: 16, maxWaitMs: 60_000, maxQueue: 100 }, true);
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const first = submit(batcher, 'o', ['aaa']);
    assert.equal(batcher.stats().batches, 0, 'requests of the same turn come along');
    await turn();
    assert.equal(batcher.stats().batches, 1, 'started without waiting');
    const second = submit(batcher, 'o', ['x']); // one sentence decoding: one queued is company enough
    assert.deepEqual(await Promise.all([first, second]), [['AAA'], ['X']]);
    assert.deepEqual(steps.slice(0, 2), [['aaa'], ['aaa', 'x']]);
    assert.equal(batcher.stats().batches, 1);
    // The next request of a client just answered does not wait maxWaitMs for company.
    await new Promise((resolve) => setTimeout(resolve, 1)); // the decode has ended
    const third = submit(batcher, 'o', ['yy']);
    const alsoThird = submit(batcher, 'o', ['zz']);
    await turn();
    assert.equal(batcher.stats().batches, 2, 'started without waiting');
    assert.equal(batcher.stats().queued, 0);
    assert.deepEqual(await Promise.all([third, alsoThird]), [['YY'], ['ZZ']]);
    assert.deepEqual(steps.at(-1), ['yy', 'zz'], 'the same turn\'s requests decode together');
  });

  test('a decode that cannot stream waits for company, also after the last decode ended', async () => {
    const { batcher, batches } = recording({ maxBatch: 16, maxWaitMs: 30, maxQueue: 100 });
    const first = submit(batcher, 'o', ['a']);
    assert.equal(batcher.stats().batches, 0, 'waits for company');
    const second = submit(batcher, 'o', ['b']);
    assert.deepEqual(await Promise.all([first, second]), [['o:A'], ['o:B']]);
    const third = submit(batcher, 'o', ['c']);
    assert.equal(batcher.stats().batches, 1, 'waits again');
    assert.deepEqual(await third, ['o:C']);
    assert.deepEqual(batches.map((b) => b.texts), [['a', 'b'], ['c']]);
  });

  test('a streaming decode stops taking sentences when another queue is due', async () => {
    const { batcher, steps } = streaming({ maxBatch: 8, maxWaitMs: 0, maxQueue: 100 });
    const greedy = submit(batcher, 'greedy', ['aaa']);
    await new Promise((resolve) => setTimeout(resolve, 1));
    const beam = submit(batcher, 'beam', ['x']);
    const more = submit(batcher, 'greedy', ['y']);
    assert.deepEqual(await Promise.all([greedy, beam, more]), [['AAA'], ['X'], ['Y']]);
    assert.ok(steps.every((rows) => !(rows.includes('aaa') && rows.includes('y'))), JSON.stringify(steps));
    assert.equal(batcher.stats().batches, 3);
  });

  test("a streaming decode that fails answers nothing twice: the unanswered sentences are retried per request", async () => {
    let calls = 0;
    const batcher = new Batcher<string, string>({ maxBatch: 8, maxWaitMs: 20, maxQueue: 100 }, async (_options, batch) => {
      calls += 1;
      batch.filter((s) => s.text === 'quick').forEach((s) => s.done('QUICK'));
      if (batch.some((s) => s.text === 'boom')) throw new Error('boom');
      batch.forEach((s) => s.done(s.text.toUpperCase()));
    });
    const [a, b, c] = [submit(batcher, 'o', ['quick', 'a']), submit(batcher, 'o', ['boom']), submit(batcher, 'o', ['c'])];
    assert.deepEqual(await a, ['QUICK', 'A']);
    await assert.rejects(b, /boom/);
    assert.deepEqual(await c, ['C']);
    assert.equal(calls, 4, 'the batch, then each request on its own');
  });
});
