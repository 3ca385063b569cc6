/**
 * `s2s serve` through the real binary and real sockets on 127.0.0.1, on a
 * checkpoint trained for a few steps on the toy corpus (cpu backend): answers
 * equal `s2s translate`'s, concurrent requests are batched, every error class
 * is a JSON answer, hostile clients do not stop the server, SIGTERM drains,
 * and 2,000 requests leave the tensor count flat.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runS2S, S2S_BIN } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-serve-'));
const checkpoint = join(work, 'tiny', 'last');
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const SENTENCES = [
  'I love you.', 'Tom is busy.', 'My friend likes cats.', 'Mary likes apples.', 'You like cats.',
  'My friend is busy.', 'I like tea.', 'Tom likes Mary.', 'We are happy.', 'It is cold.',
  'I am a student.', 'He is tall.', 'She reads books.', 'They are here.', 'I want water.',
  'This is my book.', 'The cat is black.', 'I see a dog.', 'Where is Tom?', 'Thank you.',
];

interface Server {
  url: string;
  child: ChildProcess;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `s2s serve --port 0 …` and resolves once /health answers 200. */
async function startServer(args: string[]): Promise<Server> {
  const child = spawn(process.execPath, [S2S_BIN, '--backend', 'cpu', 'serve', '--checkpoint', checkpoint, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_TEST_CONTEXT: undefined },
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (m) resolve(m[1]!);
    });
    void exited.then(({ code }) => reject(new Error(`s2s serve exited with ${code}: ${stderr}`)));
  });
  const server = { url, child, stderr: () => stderr, exited };
  servers.push(server);
  for (;;) {
    const r = await fetch(`${url}/health`);
    if (r.status === 200) return server;
    assert.equal(r.status, 503, 'before the model is loaded /health answers 503');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function post(url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Answer> {
  const r = await fetch(`${url}/translate`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

async function info(url: string): Promise<any> {
  return (await fetch(`${url}/info`)).json();
}

/** /info once no decode runs: a streaming decode answers its last sentence a moment before it ends and frees its tensors. */
async function idleInfo(url: string): Promise<any> {
  for (let tries = 0; ; tries++) {
    const i = await info(url);
    if (!i.stats.busy || tries === 200) return i;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface CliTranslation {
  translation: string;
  score: number;
  nbest: { translation: string; score: number }[];
  attention?: number[][];
}

async function cliTranslate(args: string[]): Promise<CliTranslation[]> {
  const r = await runS2S(['--backend', 'cpu', '--quiet', 'translate', '--checkpoint', checkpoint, '--json', ...args, ...SENTENCES]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as CliTranslation);
}

function assertSameAsCli(got: any, want: CliTranslation, nbest: number): void {
  assert.equal(got.text, want.translation);
  assert.ok(Math.abs(got.score - want.score) < 1e-4, `score ${got.score} vs ${want.score}`);
  if (nbest > 1) {
    assert.deepEqual(got.nbest.map((c: any) => c.text), want.nbest.map((c) => c.translation));
  } else {
    assert.equal(got.nbest, undefined);
  }
}

const BEAM = ['--beam', '3', '--nbest', '2', '--length-penalty', '0.6'];

describe('s2s serve (toy checkpoint, cpu, real sockets)', { timeout: 600_000 }, () => {
  let main: Server;
  let strict: Server;
  let drainer: Server;
  let greedy: CliTranslation[];
  let beam: CliTranslation[];

  before(async () => {
    const r = await runS2S(['--backend', 'cpu', 'train', '--config', 'tiny', '--out', join(work, 'tiny'), '--epochs', '1', '--max-steps', '4', '--quiet'], {
      timeoutMs: 300_000,
    });
    assert.equal(r.code, 0, `training the toy checkpoint failed: ${r.stderr}`);
    // main: long enough a batching window that 20 simultaneous requests share a batch; small limits to test.
    // strict: every beam request waits 2 s for company but times out after 50 ms; a queue of 4; slow clients cut at 500 ms.
    // drainer: holds beam requests 10 s for company, so they are in flight when it gets SIGTERM.
    // (A greedy request that finds the server long idle starts at once: others join it between steps.)
    [main, strict, drainer, greedy, beam] = await Promise.all([
      startServer(['--max-wait-ms', '300', '--max-sentences', '8', '--max-chars', '50', '--max-beam', '4', '--body-limit', '2048']),
      startServer(['--max-wait-ms', '2000', '--timeout-ms', '50', '--max-queue', '4', '--read-timeout-ms', '500', '--quiet']),
      startServer(['--max-wait-ms', '10000', '--quiet']),
      cliTranslate([]),
      cliTranslate(BEAM),
    ]);
  });

  test('GET /health and /info: the model, backend, vocabulary sizes and limits', async () => {
    assert.deepEqual(await (await fetch(`${main.url}/health`)).json(), { status: 'ok' });
    const i = await info(main.url);
    assert.equal(i.model.name, 'tiny');
    assert.equal(i.backend, 'cpu');
    assert.ok(i.model.srcVocab > 4 && i.model.tgtVocab > 4);
    assert.equal(i.limits.maxBatch, 64);
    assert.equal(i.limits.maxSentences, 8);
  });

  test('20 simultaneous single-sentence requests are batched together and equal s2s translate', async () => {
    const before = (await info(main.url)).stats;
    const answers = await Promise.all(SENTENCES.map((text) => post(main.url, { text })));
    const after = (await info(main.url)).stats;
    answers.forEach((a, i) => {
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.equal(a.body.model, 'tiny');
      assert.equal(a.body.translations.length, 1);
      assertSameAsCli(a.body.translations[0], greedy[i]!, 1);
    });
    assert.equal(after.sentences - before.sentences, 20);
    // A greedy decode starts at once and the others join it between steps (how many decode at the
    // same time depends on how fast they arrive: the 2,000-request test has 64 at a time).
    assert.ok(after.batches - before.batches < 20, `20 requests in ${after.batches - before.batches} batches`);
  });

  test('a lone greedy request starts decoding at once, also right after the previous answer (no --max-wait-ms window)', async () => {
    const before = (await info(main.url)).stats;
    for (const text of SENTENCES.slice(0, 5)) {
      const a = await post(main.url, { text });
      assert.equal(a.status, 200, JSON.stringify(a.body));
    }
    const after = (await info(main.url)).stats;
    assert.equal(after.sentences - before.sentences, 5);
    // One decode each, or fewer: an answer goes out between two steps of its decode, so the next
    // request may arrive in time to join that decode.
    const batches = after.batches - before.batches;
    assert.ok(batches >= 1 && batches <= 5, `${batches} decodes`);
    // Waiting for the 300 ms window, the five would have waited 1,500 ms in the queue.
    assert.ok(after.waitMs - before.waitMs < 300, `queue wait ${after.waitMs - before.waitMs} ms for 5 sentences`);
  });

  test('beam, nbest and lengthPenalty as s2s translate --beam 3 --nbest 2 --length-penalty 0.6; texts answered in input order', async () => {
    const opts = { beam: 3, nbest: 2, lengthPenalty: 0.6 };
    const answers = await Promise.all([0, 8, 16].map((from) => post(main.url, { texts: SENTENCES.slice(from, from + 8), ...opts })));
    const got = answers.flatMap((a) => {
      assert.equal(a.status, 200, JSON.stringify(a.body));
      return a.body.translations;
    });
    assert.equal(got.length, 20);
    got.forEach((t: any, i: number) => assertSameAsCli(t, beam[i]!, 2));
  });

  test('a blank text gets an empty translation, as a blank line does in s2s translate', async () => {
    const a = await post(main.url, { texts: ['', 'I love you.', '  '] });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.deepEqual(a.body.translations.map((t: any) => t.text), ['', greedy[0]!.translation, '']);
  });

  test('attention: the matrix, source tokens and output tokens', async () => {
    const a = await post(main.url, { text: 'Tom is busy.', attention: true });
    assert.equal(a.status, 200);
    const t = a.body.translations[0];
    assert.equal(t.attention.length, t.tokens.length);
    for (const row of t.attention) {
      assert.equal(row.length, t.sourceTokens.length);
      assert.ok(Math.abs(row.reduce((x: number, y: number) => x + y, 0) - 1) < 1e-3);
    }
  });

  test('every error class is JSON naming the field and the limit; good requests in the same batch are unaffected', async () => {
    const bad: [unknown, number, string | undefined, Record<string, string>?][] = [
      [{ texts: SENTENCES.slice(0, 9) }, 422, 'texts'],
      [{ texts: ['I love you.', 'x'.repeat(51)] }, 422, 'texts[1]'],
      [{ text: 'x', beam: 5 }, 422, 'beam'],
      [{ text: 'x', beam: 2, nbest: 3 }, 422, 'nbest'],
      [{ texts: ['I love you.', 3] }, 400, 'texts[1]'],
      [{ text: 'x', beam: '3' }, 400, 'beam'],
      [{ text: 'x', lengthPenalty: -1 }, 400, 'lengthPenalty'],
      [{ text: 'x', colour: 'red' }, 400, 'colour'],
      [{ text: 'x', texts: ['y'] }, 400, 'texts'],
      [{}, 400, 'text'],
      [{ texts: [] }, 400, 'texts'],
      [[1, 2], 400, undefined],
      ['{"text": "I love', 400, undefined],
      [{ texts: ['y'.repeat(40)].concat(Array(60).fill('z'.repeat(40))) }, 413, undefined],
      ['text=hello', 415, undefined, { 'content-type': 'application/x-www-form-urlencoded' }],
    ];
    const good = SENTENCES.slice(0, 5);
    const [answers, goodAnswers] = await Promise.all([
      Promise.all(bad.map(([body, , , headers]) => post(main.url, body, headers))),
      Promise.all(good.map((text) => post(main.url, { text }))),
    ]);
    answers.forEach((a, i) => {
      const [, status, field] = bad[i]!;
      assert.equal(a.status, status, `case ${i}: ${JSON.stringify(a.body)}`);
      assert.equal(typeof a.body.error, 'string');
      assert.equal(typeof a.body.code, 'string');
      assert.equal(a.body.field, field, `case ${i}: ${JSON.stringify(a.body)}`);
    });
    assert.equal(answers[0]!.body.limit, 8);
    assert.equal(answers[1]!.body.limit, 50);
    assert.equal(answers[2]!.body.limit, 4);
    goodAnswers.forEach((a, i) => assertSameAsCli(a.body.translations[0], greedy[i]!, 1));
    const notFound = await fetch(`${main.url}/nowhere`);
    assert.equal(notFound.status, 404);
    assert.equal((await notFound.json()).code, 'not_found');
  });

  test('queue full: 503 with Retry-After; a request not answered in time: 504, and its sentences leave the queue', async () => {
    const full = await post(strict.url, { texts: ['a', 'b', 'c', 'd', 'e'] });
    assert.equal(full.status, 503);
    assert.equal(full.body.code, 'queue_full');
    assert.equal(full.headers.get('retry-after'), '1');
    const late = await post(strict.url, { text: 'I love you.', beam: 2 });
    assert.equal(late.status, 504);
    assert.equal(late.body.code, 'timeout');
    assert.equal(late.body.limit, 50);
    const i = await info(strict.url);
    assert.equal(i.stats.queued, 0);
    assert.equal(i.stats.batches, 0, 'the timed-out sentence was never decoded');
  });

  test('a slow-loris client is cut off while others are served; a client that hangs up mid-request changes nothing', async () => {
    const slow = connect(new URL(strict.url).port as unknown as number, '127.0.0.1');
    slow.write('POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"te');
    const trickle = setInterval(() => slow.write('x'), 100);
    const slowClosed = new Promise<string>((resolve) => {
      let answer = '';
      slow.setEncoding('utf8').on('data', (d: string) => (answer += d));
      slow.on('close', () => resolve(answer));
      slow.on('error', () => {});
    });
    // Meanwhile: a client that sends half a body and hangs up, and one that hangs up while its sentence is queued.
    const half = connect(new URL(main.url).port as unknown as number, '127.0.0.1');
    half.write('POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"text": "I lo');
    half.on('error', () => {});
    const queued = new AbortController();
    const abandoned = fetch(`${main.url}/translate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // A beam search waits the 300 ms window for company (a greedy one would start at once).
      body: JSON.stringify({ text: 'Tom is busy.', beam: 2 }),
      signal: queued.signal,
    }).catch((err: Error) => err);
    await new Promise((resolve) => setTimeout(resolve, 100));
    half.destroy();
    queued.abort();
    assert.ok((await abandoned) instanceof Error);
    const ok = await post(main.url, { text: SENTENCES[0] });
    assert.equal(ok.status, 200);
    assertSameAsCli(ok.body.translations[0], greedy[0]!, 1);
    const answer = await slowClosed;
    clearInterval(trickle);
    assert.match(answer, /^HTTP\/1.1 408/, 'the slow client gets 408 Request Timeout');
    assert.equal((await fetch(`${strict.url}/health`)).status, 200);
    assert.equal((await info(main.url)).stats.queued, 0);
  });

  test('2,000 requests: every one answered, tensor count flat, memory bounded', async () => {
    const run = async (n: number, clients: number): Promise<void> => {
      let next = 0;
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (next < n) {
            const k = next++;
            const a = await post(main.url, { text: SENTENCES[k % SENTENCES.length] });
            assert.equal(a.status, 200);
            assert.equal(a.body.translations[0].text, greedy[k % SENTENCES.length]!.translation);
          }
        }),
      );
    };
    // Warm-up: greedy decodes start at once and the clients' requests join them.
    await run(128, 64);
    const start = await idleInfo(main.url);
    await run(2000, 64);
    const end = await idleInfo(main.url);
    assert.equal(end.stats.busy, false, 'the decoder goes idle');
    assert.ok(end.stats.largestBatch > 1, `64 clients' sentences decoded together: at most ${end.stats.largestBatch} at a time`);
    assert.equal(end.tensors, start.tensors, 'tensors after 2,000 requests');
    assert.ok(end.memory.heapUsed - start.memory.heapUsed < 64 * 2 ** 20, `heap grew by ${end.memory.heapUsed - start.memory.heapUsed} bytes`);
  });

  test('a port in use is one line naming --port (exit 1)', async () => {
    const port = new URL(main.url).port;
    const r = await runS2S(['--backend', 'cpu', 'serve', '--checkpoint', checkpoint, '--port', port]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`port ${port} is in use \\(--port\\)`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  test('SIGTERM: requests in flight are all answered, then exit 0', async () => {
    const inFlight = SENTENCES.slice(0, 10).map((text) => post(drainer.url, { text, beam: 3, nbest: 2, lengthPenalty: 0.6 }));
    for (;;) {
      const { stats } = await info(drainer.url);
      if (stats.queued === 10) break;
      assert.equal(stats.batches, 0, 'nothing decoded before the signal');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    drainer.child.kill('SIGTERM');
    const answers = await Promise.all(inFlight);
    answers.forEach((a, i) => {
      assert.equal(a.status, 200);
      assertSameAsCli(a.body.translations[0], beam[i]!, 2);
    });
    assert.deepEqual(await drainer.exited, { code: 0, signal: null });
    await assert.rejects(fetch(`${drainer.url}/health`));
  });

  test('a checkpoint whose weights are damaged: one line, exit 1, no stack trace', async () => {
    const damaged = join(work, 'damaged');
    cpSync(checkpoint, damaged, { recursive: true });
    const weights = readdirSync(damaged).filter((f) => f.endsWith('.bin'));
    assert.ok(weights.length > 0, 'the checkpoint has weight files');
    for (const f of weights) writeFileSync(join(damaged, f), 'not weights');
    const r = await runS2S(['--backend', 'cpu', 'serve', '--checkpoint', damaged, '--port', '0']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.split('\n').filter((l) => /error/i.test(l)).length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  test('one access-log line per request on stderr; --quiet silences it', async () => {
    main.child.kill('SIGINT');
    assert.deepEqual(await main.exited, { code: 0, signal: null });
    const log = main.stderr().split('\n').filter((l) => /^\S+Z (GET|POST) /.test(l));
    assert.ok(log.some((l) => / POST \/translate 200 1 \d+\.\dms$/.test(l)), log.slice(0, 3).join('\n'));
    assert.ok(log.some((l) => / POST \/translate 422 9 /.test(l)), 'a rejected request is logged with its sentences');
    assert.ok(log.length > 2000, `${log.length} access-log lines`);
    assert.equal(strict.stderr().split('\n').filter((l) => / (GET|POST) \//.test(l)).length, 0, '--quiet: no access log');
  });
});
