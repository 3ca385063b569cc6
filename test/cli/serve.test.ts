/**
 * `s2s serve`'s flag and checkpoint errors, before anything listens (the
 * server itself is tested end to end in test/e2e/serve.test.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT, S2S_BIN, runS2S, stderrLines } from '../helpers/cli.ts';
import { formatAccess } from '../../src/cli/commands/serve.ts';

describe('s2s serve: usage errors', () => {
  test('a bad --port or limit is a usage error naming the flag (exit 2)', async () => {
    for (const args of [['--port', 'http'], ['--port', '-1'], ['--max-batch', '0'], ['--max-wait-ms', '1.5'], ['--max-chars', '6000'], ['--intra-threads', '0']]) {
      const r = await runS2S(['serve', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      const lines = stderrLines(r);
      assert.match(lines[0]!, new RegExp(args[0]!), r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  test('a missing checkpoint is one line naming it, before listening (exit 1)', async () => {
    const missing = join(tmpdir(), 's2s-no-such-checkpoint');
    const r = await runS2S(['--backend', 'cpu', 'serve', '--checkpoint', missing, '--port', '0']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /checkpoint not found/);
    assert.ok(r.stderr.includes(missing));
    assert.equal(r.stdout, '', 'never listened');
  });

  test('--intra-threads reaches the native backend, which says so on its line, with oneDNN off for decoding', async (t) => {
    const child = spawn(process.execPath, [S2S_BIN, '--backend', 'tensorflow', 'serve', '--intra-threads', '1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    const listening = new Promise<boolean>((res) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('listening on') && res(true));
      void exited.then(() => res(false));
    });
    if (!(await listening)) {
      if (/tensorflow backend is not available/.test(stderr)) return t.skip('no native TensorFlow on this machine');
      assert.fail(stderr);
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /^backend: tensorflow \(CPU; 1 intra-op thread; oneDNN off; requested\)$/m);
  });

  test('a SIGTERM sent as soon as the listening line is read is handled: the server exits 0', async () => {
    const stall = join(REPO_ROOT, 'test', 'helpers', 'stall-after-listening.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', stall, S2S_BIN, '--backend', 'cpu', 'serve', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (code, signal) => res([code, signal])));
    const listening = new Promise<boolean>((res) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('listening on') && res(true));
      void exited.then(() => res(false));
    });
    assert.ok(await listening, stderr);
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null], stderr);
    assert.match(stderr, /s2s serve: SIGTERM: answering queued requests, then exiting/);
  });

  test('the access-log line: time, method, path, status, sentences, ms', () => {
    const line = formatAccess({ method: 'POST', path: '/translate', status: 200, sentences: 3, ms: 41.66 }, new Date(Date.UTC(2026, 0, 1, 12)));
    assert.equal(line, '2026-01-01T12:00:00.000Z POST /translate 200 3 41.7ms');
  });
});
