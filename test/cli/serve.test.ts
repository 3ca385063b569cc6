/**
 * `s2s serve`'s flag and checkpoint errors, before anything listens (the
 * server itself is tested end to end in test/e2e/serve.test.ts).
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runS2S, stderrLines } from '../helpers/cli.ts';
import { formatAccess } from '../../src/cli/commands/serve.ts';

describe('s2s serve: usage errors', () => {
  test('a bad --port or limit is a usage error naming the flag (exit 2)', async () => {
    for (const args of [['--port', 'http'], ['--port', '-1'], ['--max-batch', '0'], ['--max-wait-ms', '1.5'], ['--max-chars', '6000']]) {
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

  test('the access-log line: time, method, path, status, sentences, ms', () => {
    const line = formatAccess({ method: 'POST', path: '/translate', status: 200, sentences: 3, ms: 41.66 }, new Date(Date.UTC(2026, 0, 1, 12)));
    assert.equal(line, '2026-01-01T12:00:00.000Z POST /translate 200 3 41.7ms');
  });
});
