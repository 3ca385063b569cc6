/**
 * The library's training entry and the README's example program, on the tiny
 * config and the toy corpus (cpu backend).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig, loadTranslator, S2SError, train, type TrainEvent } from '../../src/index.ts';
import { runNode } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-api-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('library: train and the example program', () => {
  test('train(config, { onEvent }) reports through events and leaves a best model that loadTranslator translates with', { timeout: 600_000 }, async () => {
    const out = join(work, 'run');
    const events: TrainEvent[] = [];
    const config = loadConfig('tiny', { training: { epochs: 1 } });
    const result = await train(config, { out, backend: 'cpu', onEvent: (e) => events.push(e) });
    assert.equal(result.out, out);
    assert.equal(result.reason, 'finished');
    const kinds = new Set(events.map((e) => e.type));
    for (const kind of ['start', 'step', 'validation', 'checkpoint', 'done']) assert.ok(kinds.has(kind as TrainEvent['type']), kind);
    assert.deepEqual(readdirSync(out).filter((n) => n === 'best' || n === 'last').sort(), ['best', 'last']);

    const translator = await loadTranslator(out, { backend: false });
    const [t] = await translator.translate(['I love you.']);
    assert.match(t!.translation, /\p{scx=Han}/u);
    translator.dispose();

    await assert.rejects(train(config, { out, backend: false }), (err: unknown) => err instanceof S2SError && err.code === 'OUTPUT');

    // The example from the README, run on this model.
    const example = await runNode(['--import', 'tsx', 'examples/api.ts', join(out, 'best')]);
    assert.equal(example.code, 0, example.stderr);
    assert.match(example.stdout, /\p{scx=Han}/u);
    assert.match(example.stdout, /BLEU [\d.]+ \(nrefs:1\|case:mixed\|eff:no\|tok:zh/);
  });

  test('aborting the signal stops after the current step and saves last', { timeout: 600_000 }, async () => {
    const out = join(work, 'stopped');
    const stop = new AbortController();
    const result = await train(loadConfig('tiny'), {
      out,
      backend: false,
      signal: stop.signal,
      onEvent: (e) => {
        if (e.type === 'step' && e.step === 3) stop.abort();
      },
    });
    assert.equal(result.reason, 'interrupted');
    assert.equal(result.step, 3);
    const resumed = await train(loadConfig('tiny'), { out, backend: false, resume: true, signal: AbortSignal.abort() }).catch((err: unknown) => err);
    assert.ok(resumed instanceof S2SError && resumed.code === 'INTERRUPTED', String(resumed));
  });
});
