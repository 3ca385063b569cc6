/**
 * `s2s vocab` reports without --out and saves a set with it, which
 * `train --vocab DIR` trains with (not rebuilt), refusing a set built with
 * other data settings or a directory that is not a set; `s2s doctor` exits
 * non-zero, with one line, when the backend asked for cannot start (bin/s2s).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT, runS2S, stderrLines } from '../helpers/cli.ts';

const cwd = mkdtempSync(join(tmpdir(), 's2s-vocab-set-'));
after(() => rmSync(cwd, { recursive: true, force: true }));
const s2s = (...args: string[]) => runS2S(args, { cwd, timeoutMs: 300_000 });
const tokensOf = (...path: string[]): string[] => (JSON.parse(readFileSync(join(cwd, ...path), 'utf8')) as { tokens: string[] }).tokens;

describe('s2s vocab and train --vocab', () => {
  test('without --out, vocab only reports', async () => {
    const r = await s2s('vocab', '--config', 'tiny');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^src \(en\): \d+ entries/m);
    assert.doesNotMatch(r.stdout, /wrote/);
    assert.deepEqual(readdirSync(cwd), []);
  });

  test('train --vocab DIR trains with the saved set instead of building the vocabularies again', async () => {
    const made = await s2s('vocab', '--config', 'tiny', '--out', 'set');
    assert.equal(made.code, 0, made.stderr);
    // A token no corpus line has: only a run that reads the set can have it.
    const path = join(cwd, 'set', 'src.vocab.json');
    const json = JSON.parse(readFileSync(path, 'utf8')) as { tokens: string[]; counts: number[] };
    writeFileSync(path, JSON.stringify({ ...json, tokens: [...json.tokens, 'zzzz'], counts: [...json.counts, 1] }));
    const r = await s2s('--backend', 'cpu', 'train', '--config', 'tiny', '--vocab', 'set', '--max-steps', '2', '--valid-bleu-size', '5', '--out', 'run');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(stderrLines(r).includes(`vocabulary: ${json.tokens.length + 1} source, ${tokensOf('set', 'tgt.vocab.json').length} target tokens, with the split, from ${join(cwd, 'set')}`), r.stderr);
    assert.deepEqual(tokensOf('run', 'last', 'src.vocab.json'), [...json.tokens, 'zzzz']);
    assert.deepEqual(tokensOf('run', 'last', 'tgt.vocab.json'), tokensOf('set', 'tgt.vocab.json'));
    assert.deepEqual(JSON.parse(readFileSync(join(cwd, 'run', 'last', 'split.json'), 'utf8')), JSON.parse(readFileSync(join(cwd, 'set', 'split.json'), 'utf8')));
  });

  test('a set holds exactly the vocabularies train builds itself (zh→en: with the target\'s truecasing table)', async () => {
    const flags = ['--config', 'tiny', '--src-lang', 'zh', '--tgt-lang', 'en'];
    const made = await s2s('vocab', ...flags, '--out', 'set-en');
    assert.equal(made.code, 0, made.stderr);
    const own = await s2s('--backend', 'cpu', '-q', 'train', ...flags, '--max-steps', '1', '--valid-bleu-size', '0', '--out', 'own');
    assert.equal(own.code, 0, own.stderr);
    const json = (...path: string[]): unknown => JSON.parse(readFileSync(join(cwd, ...path), 'utf8'));
    for (const side of ['src', 'tgt']) assert.deepEqual(json('set-en', `${side}.vocab.json`), json('own', 'last', `${side}.vocab.json`), side);
    assert.ok('cased' in (json('set-en', 'tgt.vocab.json') as object), 'the English target has a truecasing table');
  });

  test('a set built with other tokenizer, lowercase or min-freq settings is refused, naming each', async () => {
    const r = await s2s('--backend', 'cpu', 'train', '--config', 'tiny', '--vocab', 'set', '--no-lowercase', '--tgt-min-freq', '2', '--out', 'other');
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      stderrLines(r)[0],
      `s2s: error: --vocab: the vocabulary set was built with other data settings: --lowercase (set: true, now: false), --tgt-min-freq (set: 1, now: 2) (${join(cwd, 'set')})`,
    );
    const tokenizer = await s2s('--backend', 'cpu', 'train', '--config', 'tiny', '--vocab', 'set', '--src-tokenizer', 'char', '--out', 'other');
    assert.equal(tokenizer.code, 2);
    assert.match(tokenizer.stderr, /--src-tokenizer \(set: word, now: char\)/);
    assert.equal(existsSync(join(cwd, 'other')), false, 'refused before anything is written');
  });

  test('a directory that is not a vocabulary set is refused; --vocab does not go with --resume', async () => {
    const notSet = await s2s('--backend', 'cpu', 'train', '--config', 'tiny', '--vocab', join('run', 'last'), '--out', 'other');
    assert.equal(notSet.code, 1);
    assert.match(stderrLines(notSet)[0]!, /^s2s: error: --vocab: not an s2s vocabulary set: no vocab-set\.json \(.*run\/last\)$/);
    assert.match(stderrLines(notSet)[1]!, /^s2s: hint: make one with: s2s vocab --out DIR/);
    const missing = await s2s('--backend', 'cpu', 'train', '--config', 'tiny', '--vocab', 'nowhere', '--out', 'other');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--vocab: vocabulary set not found/);
    const resumed = await s2s('--backend', 'cpu', 'train', '--resume', 'run', '--vocab', 'set');
    assert.equal(resumed.code, 2);
    assert.match(resumed.stderr, /--vocab starts a new run/);
  });
});

describe('s2s doctor with a requested backend', () => {
  const hideNative = { preload: [join(REPO_ROOT, 'test', 'helpers', 'backend-faults.ts')], env: { HIDE_PACKAGES: '@tensorflow/tfjs-node,@tensorflow/tfjs-node-gpu' } };

  test('exits 0 and says so when the backend asked for starts', async () => {
    const r = await runS2S(['--backend', 'cpu', 'doctor']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^backend: cpu \(requested\): usable$/m);
    const auto = await runS2S(['doctor'], hideNative);
    assert.equal(auto.code, 0, 'nothing asked for: a report only');
  });

  test('exits 1 with one line saying why when it cannot start (--backend or S2S_BACKEND)', async () => {
    const flag = await runS2S(['--backend', 'tensorflow', 'doctor'], hideNative);
    assert.equal(flag.code, 1, flag.stderr);
    assert.match(flag.stdout, /^GPU: (ready|not ready)$/m, 'the report comes first');
    assert.deepEqual(stderrLines(flag), [
      's2s: error: the tensorflow backend is unusable: tfjs-node-gpu not installed; tfjs-node not installed (--backend tensorflow)',
    ]);
    const env = await runS2S(['doctor'], { ...hideNative, env: { ...hideNative.env, S2S_BACKEND: 'tensorflow' } });
    assert.equal(env.code, 1, env.stderr);
    assert.deepEqual(stderrLines(env), [
      's2s: error: the tensorflow backend is unusable: tfjs-node-gpu not installed; tfjs-node not installed (S2S_BACKEND=tensorflow)',
    ]);
  });
});
