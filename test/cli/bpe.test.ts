/**
 * BPE vocabularies through the real bin/s2s on the toy corpus: prepare keeps
 * the model with the set and prepares again when the tokenizer config
 * changes; train → translate → eval round-trips with the checkpoint's
 * tokenizer.json; bad sizes and a missing or damaged tokenizer.json are one
 * clear line each.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT, runS2S, stderrLines } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 's2s-bpe-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const BPE = ['--src-tokenizer', 'bpe', '--src-vocab-size', '150'];

describe('s2s with --src-tokenizer bpe', () => {
  const run = join(tmp, 'run');
  const prepared = join(run, 'prepared');

  test('prepare trains the model into the set; another tokenizer config is prepared again, never reused', async () => {
    const first = await runS2S(['prepare', '--config', 'tiny', '--out', run, ...BPE]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout.includes('\n\n'), false, 'the native trainer prints nothing');
    const tokenizer = JSON.parse(readFileSync(join(prepared, 'src.tokenizer.json'), 'utf8')) as { model: { type: string; vocab: object } };
    assert.equal(tokenizer.model.type, 'BPE');
    assert.equal(Object.keys(tokenizer.model.vocab).length, 150);
    assert.equal((JSON.parse(readFileSync(join(prepared, 'src.vocab.json'), 'utf8')) as { tokens: string[] }).tokens.length, 150);

    for (const args of [['--src-vocab-size', '160', '--src-tokenizer', 'bpe'], ['--src-vocab-size', '160'], BPE]) {
      const again = await runS2S(['prepare', '--config', 'tiny', '--out', run, ...args]);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(stderrLines(again), ['preparing the dataset (the data configuration changed)'], args.join(' '));
    }
    const same = await runS2S(['prepare', '--config', 'tiny', '--out', run, ...BPE]);
    assert.match(same.stdout, /^up to date: /);
  });

  test('train → translate → eval round-trips through the checkpoint’s tokenizer.json', async () => {
    const trained = await runS2S(['--backend', 'cpu', 'train', '--config', 'tiny', '--out', run, ...BPE, '--epochs', '1', '--quiet'], {
      timeoutMs: 600_000,
    });
    assert.equal(trained.code, 0, trained.stderr);
    const checkpoint = join(run, 'last');
    assert.ok(existsSync(join(checkpoint, 'src.tokenizer.json')));
    assert.equal(existsSync(join(checkpoint, 'tgt.tokenizer.json')), false);

    const translated = await runS2S(['--backend', 'cpu', 'translate', '--checkpoint', checkpoint, '--json'], {
      input: "Mary doesn't like apples.\n",
      timeoutMs: 300_000,
    });
    assert.equal(translated.code, 0, translated.stderr);
    const result = JSON.parse(translated.stdout) as { sourceTokens: string[]; translation: string };
    assert.ok(result.sourceTokens[0]!.startsWith('\u2581'), `source pieces: ${result.sourceTokens.join(' ')}`);
    assert.deepEqual(result.sourceTokens.join('').split('\u2581').slice(1), ['mary', "doesn't", 'like', 'apples', '.']);
    assert.doesNotMatch(result.translation, /\u2581/);

    // The library (which serve also uses) splits and joins the same way.
    const { loadTranslator } = await import('../../src/index.ts');
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend('cpu');
    const translator = await loadTranslator(checkpoint, { backend: false });
    try {
      const [fromLibrary] = await translator.translate(["Mary doesn't like apples."]);
      assert.deepEqual(fromLibrary!.sourceTokens, result.sourceTokens);
      assert.equal(fromLibrary!.translation, result.translation);
    } finally {
      translator.dispose();
    }

    const evaluated = await runS2S(['--backend', 'cpu', 'eval', '--checkpoint', checkpoint, '--split', 'valid', '--json'], { timeoutMs: 300_000 });
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const score = JSON.parse(evaluated.stdout) as { score: number };
    assert.ok(Number.isFinite(score.score));
    const metrics = JSON.parse(readFileSync(join(checkpoint, 'metrics.json'), 'utf8')) as { bleu: number }[];
    assert.ok(Math.abs(score.score - metrics.at(-1)!.bleu) < 1e-9, `eval ${score.score} vs training's validation ${metrics.at(-1)!.bleu}`);
  });

  test('a missing or damaged tokenizer.json is one clear line', async () => {
    const copy = join(tmp, 'copy');
    cpSync(join(run, 'last'), copy, { recursive: true });
    const file = join(copy, 'src.tokenizer.json');
    const translate = () => runS2S(['--backend', 'cpu', 'translate', '--checkpoint', copy], { input: 'hello\n' });

    // Hand-edited, with the manifest updated to match: the file itself is checked.
    const text = '{"model": {"type": "BPE"}}';
    writeFileSync(file, text);
    const manifestPath = join(copy, 'checkpoint.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { files: Record<string, { bytes: number; sha256: string }> };
    manifest.files['src.tokenizer.json'] = { bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') };
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const corrupt = await translate();
    assert.notEqual(corrupt.code, 0);
    assert.deepEqual(stderrLines(corrupt).filter((l) => l.startsWith('s2s: error')), [
      `s2s: error: not a valid tokenizer.json: "model.vocab" must be an object (${file})`,
    ]);

    rmSync(file);
    const missing = await translate();
    assert.notEqual(missing.code, 0);
    assert.match(stderrLines(missing).join('\n'), /^s2s: error: checkpoint file is missing \(.*src\.tokenizer\.json\)$/m);

    delete manifest.files['src.tokenizer.json'];
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const unlisted = await translate();
    assert.notEqual(unlisted.code, 0);
    assert.match(stderrLines(unlisted).join('\n'), /^s2s: error: checkpoint has no src\.tokenizer\.json, but its source side uses bpe \(config\.json\)/m);
  });

  test('a vocabulary size too small is one clear line before any work', async () => {
    const specials = await runS2S(['prepare', '--config', 'tiny', '--out', join(tmp, 'small'), '--src-tokenizer', 'bpe', '--src-vocab-size', '3']);
    assert.equal(specials.code, 2);
    assert.deepEqual(stderrLines(specials), [
      's2s: error: --src-vocab-size 3 leaves no room beyond the 4 special tokens <pad> <unk> <sos> <eos> (--src-vocab-size)',
    ]);
    const alphabet = await runS2S(['prepare', '--config', 'tiny', '--out', join(tmp, 'small'), '--src-tokenizer', 'bpe', '--src-vocab-size', '10']);
    assert.equal(alphabet.code, 2);
    assert.match(stderrLines(alphabet).at(-1)!, /^s2s: error: --src-vocab-size 10 is smaller than the 4 special tokens and the \d+ characters of the training text \(at least \d+\)/);
    assert.equal(existsSync(join(tmp, 'small', 'prepared', 'index.json')), false);
  });
});

describe('s2s vocab with --src-tokenizer bpe', () => {
  test('the set carries src.tokenizer.json and loads only for the same settings', async () => {
    const { loadVocabSet } = await import('../../src/data/vocab-set.ts');
    const { buildConfig } = await import('../../src/config.ts');
    const set = join(tmp, 'vocab-set');
    const r = await runS2S(['vocab', '--config', 'tiny', '--out', set, ...BPE]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /150/);
    const tiny = buildConfig('tiny', { data: { data: [join(REPO_ROOT, 'data', 'toy', 'toy.tsv')], maxLen: 12, validSize: 30, srcMinFreq: 1, srcTokenizer: 'bpe', srcVocabSize: 150 } });
    const loaded = loadVocabSet(set, tiny.data);
    assert.equal(loaded.srcVocab.subword?.tokens.length, 150);
    assert.equal(loaded.tgtVocab.subword, null);
    assert.throws(() => loadVocabSet(set, { ...tiny.data, srcTokenizer: null }), /--src-tokenizer \(set: bpe, now: word\)/);
    assert.throws(() => loadVocabSet(set, { ...tiny.data, srcVocabSize: 160 }), /--src-vocab-size \(set: 150, now: 160\)/);
    rmSync(join(set, 'src.tokenizer.json'));
    assert.throws(() => loadVocabSet(set, tiny.data), /the set has no src\.tokenizer\.json, but the source side uses bpe/);
  });
});
