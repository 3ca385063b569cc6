/**
 * End-to-end runs of the real bin/s2s: exit codes, stdout, and one-line stderr.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { packageVersion } from '../../src/backend/index.ts';
import { REPO_ROOT, runS2S, SHARED_DIR, stderrLines } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 's2s-cli-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('s2s program', () => {
  test('--help lists every command, exit 0', async () => {
    const r = await runS2S(['--help']);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    for (const cmd of ['train', 'translate', 'eval', 'serve', 'vocab', 'data', 'info', 'doctor']) {
      assert.match(r.stdout, new RegExp(`^  ${cmd}\\b`, 'm'), `lists ${cmd}`);
    }
    assert.match(r.stdout, /--backend <name>/);
  });

  test('--version prints the package version from any directory', async () => {
    const r = await runS2S(['--version'], { cwd: tmpdir() });
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), version);
  });

  test('building the program loads no TensorFlow.js', async () => {
    const { spawnSync } = await import('node:child_process');
    const script = [
      "const { buildProgram } = await import('./src/cli/program.ts');",
      'buildProgram();',
      "const { createRequire } = await import('node:module');",
      "const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('@tensorflow'));",
      'console.log(JSON.stringify(loaded));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
  });

  test('an unknown option is a usage error: exit 2, one line', async () => {
    const r = await runS2S(['vocab', '--bogus']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.deepEqual(stderrLines(r), ["s2s: error: unknown option '--bogus'"]);
  });

  test('an unknown command is a usage error', async () => {
    const r = await runS2S(['trian']);
    assert.equal(r.code, 2);
    assert.deepEqual(stderrLines(r), ["s2s: error: unknown command 'trian' (Did you mean train?)"]);
  });

  test('a bad --backend choice, from the flag or S2S_BACKEND, is a usage error', async () => {
    const flag = await runS2S(['--backend', 'gpu', 'info']);
    assert.equal(flag.code, 2);
    assert.equal(stderrLines(flag).length, 1);
    assert.match(flag.stderr, /^s2s: error: option '--backend <name>' argument 'gpu' is invalid/);
    const env = await runS2S(['info'], { env: { S2S_BACKEND: 'gpu' } });
    assert.equal(env.code, 2);
    assert.equal(stderrLines(env).length, 1);
  });

  test('a bad --threads, from the flag or S2S_THREADS, is a usage error naming the flag', async () => {
    for (const bad of ['0', '9', 'two', '1.5', '']) {
      const flag = await runS2S(['--threads', bad, 'info']);
      assert.equal(flag.code, 2, `--threads '${bad}'`);
      assert.deepEqual(stderrLines(flag), [
        `s2s: error: option '--threads <n>' argument '${bad}' is invalid. Expected an integer from 1 to 8.`,
      ]);
      assert.equal(flag.stdout, '');
    }
    const env = await runS2S(['info'], { env: { S2S_THREADS: 'many' } });
    assert.equal(env.code, 2);
    assert.deepEqual(stderrLines(env), [
      "s2s: error: option '--threads <n>' value 'many' from env 'S2S_THREADS' is invalid. Expected an integer from 1 to 8.",
    ]);
  });

  test('--help documents --threads and its default', async () => {
    const r = await runS2S(['--help']);
    assert.match(r.stdout, /--threads <n> +wasm backend threads/);
    assert.match(r.stdout, /default:\s+the\s+number\s+of\s+cores,\s+at\s+most\s+8,\s+env:\s+S2S_THREADS/);
  });

  test('train --help shows each flag\'s default from the schema, in plain words', async () => {
    const r = await runS2S(['train', '--help']);
    assert.equal(r.code, 0, r.stderr);
    const help = r.stdout.replace(/\s+/g, ' ');
    assert.match(help, /--emb-size <n> embedding size \(default: 256\)/);
    assert.match(help, /--attention <dot\|general\|concat> attention score: dot, general or concat \(default: general\)/);
    assert.match(help, /--data <file> TSV\/CSV corpus files \(repeatable\) \(default: data\/cmn-eng\/cmn-eng\.tsv\)/);
    assert.match(help, /--lowercase lowercase word-tokenized text \(default\) --no-lowercase keep the case of word-tokenized text /);
    assert.match(help, /--input-feeding feed the previous attentional vector to the decoder \(default\) --no-input-feeding feed the decoder the target word only /);
    assert.match(help, /--bidirectional bidirectional encoder \(bridged to the decoder size\) --no-bidirectional left-to-right encoder \(default\)/);
    assert.match(help, /--tgt-tokenizer <word\|char\|bpe> target tokenizer: word, char or bpe \(default: char for Chinese and Japanese, word otherwise; bpe cuts those tokens into subwords\)/);
    assert.doesNotMatch(help, /do not:|choices:|"null"/);
  });

  test('translate and eval take the decoding flags from the schema, defaulting to the checkpoint\'s', async () => {
    for (const command of ['translate', 'eval']) {
      const r = await runS2S([command, '--help']);
      assert.equal(r.code, 0, r.stderr);
      const help = r.stdout.replace(/\s+/g, ' ');
      assert.match(help, /Decoding options \(default: the checkpoint's decoding config\):/, command);
      assert.match(help, /--beam <n> beam size \(1 = greedy\) --length-penalty <x> alpha in score \/ length\^alpha /, command);
      assert.match(help, /--max-output-len <n> output length limit \(tokens\)/, command);
      assert.match(help, /--replace-unk replace <unk> by the most attended source token --no-replace-unk keep <unk> in the output/, command);
      assert.doesNotMatch(help, /\(default: 1\)|do not:/, command);
    }
    const translate = await runS2S(['translate', '--help']);
    assert.match(translate.stdout, /--nbest <n>/);
    const evalHelp = await runS2S(['eval', '--help']);
    assert.doesNotMatch(evalHelp.stdout, /--nbest/, 'eval scores the best hypothesis only');
  });

  test('an out-of-range config flag is a usage error naming the flag', async () => {
    const r = await runS2S(['vocab', '--config', 'tiny', '--max-len', '-1', '--out', join(tmp, 'never')]);
    assert.equal(r.code, 2);
    assert.deepEqual(stderrLines(r), ['s2s: error: --max-len must be >= 1, got -1 (--max-len)']);
  });
});

describe('s2s info and doctor', () => {
  test('info shows versions and every backend with a reason', async () => {
    const r = await runS2S(['info']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^s2s ${version.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^node ${process.version.replace(/\./g, '\\.')}`, 'm'));
    assert.match(r.stdout, /^tfjs-core 4\.22\.0$/m);
    // wasm runs one thread per core by default; on one core, the single-threaded binary.
    assert.match(r.stdout, /^ {2}wasm 4\.22\.0 +available +SIMD (yes|no), threads (yes \(\d threads\)|no \(.+\))$/m);
    assert.match(r.stdout, /^ {2}cpu 4\.22\.0 +available/m);
    if (packageVersion('@tensorflow/tfjs-node-gpu') === null) {
      assert.match(r.stdout, /^ {2}tensorflow \(tfjs-node-gpu\) +unavailable +not installed \(npm install @tensorflow\/tfjs-node-gpu@4\.22\.0/m);
    } else {
      assert.match(r.stdout, /^ {2}tensorflow \(tfjs-node-gpu 4\.22\.0\) +(available|unavailable) +\S/m);
    }
  });

  test('doctor reports every CUDA library and a verdict', async () => {
    const r = await runS2S(['doctor']);
    assert.equal(r.code, 0, r.stderr);
    for (const lib of ['libcudart.so.11.0', 'libcublasLt.so.11', 'libcudnn.so.8']) assert.match(r.stdout, new RegExp(`^${lib.replace(/\./g, '\\.')} `, 'm'));
    assert.match(r.stdout, /^GPU: (ready|not ready)$/m);
    assert.match(r.stdout, /^@tensorflow\/tfjs-node: /m);
  });
});

describe('s2s vocab', () => {
  test('builds both vocabularies of the toy corpus and reports coverage', async () => {
    assert.ok(existsSync(join(REPO_ROOT, 'data/toy/toy.tsv')), 'data/toy/toy.tsv ships with s2s');
    const out = join(tmp, 'toy-vocab');
    const r = await runS2S(['--quiet', 'vocab', '--config', 'tiny', '--data', 'data/toy/toy.tsv', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    for (const f of ['src.vocab.json', 'tgt.vocab.json', 'split.json']) assert.ok(existsSync(join(out, f)), f);
    const src = JSON.parse(readFileSync(join(out, 'src.vocab.json'), 'utf8')) as { tokens: string[] };
    assert.deepEqual(src.tokens.slice(0, 4), ['<pad>', '<unk>', '<sos>', '<eos>']);
    assert.match(r.stdout, /^pairs: \d+ read, \d+ train, 30 valid, \d+ too long$/m);
    assert.match(r.stdout, new RegExp(`^src \\(en\\): ${src.tokens.length} entries \\(min-freq 1\\), covers 100\\.0% of train tokens, valid OOV \\d+\\.\\d%$`, 'm'));
    assert.match(r.stdout, /^tgt \(zh\): \d+ entries/m);
  });

  test('the same split and vocabularies come out twice', async () => {
    const a = join(tmp, 'again-a');
    const b = join(tmp, 'again-b');
    for (const out of [a, b]) assert.equal((await runS2S(['-q', 'vocab', '--config', 'tiny', '--out', out])).code, 0);
    for (const f of ['src.vocab.json', 'tgt.vocab.json', 'split.json']) {
      assert.equal(readFileSync(join(a, f), 'utf8'), readFileSync(join(b, f), 'utf8'), f);
    }
  });

  test('on data/cmn-eng/cmn-eng.tsv when it is present', async (t) => {
    if (!existsSync(join(REPO_ROOT, 'data/cmn-eng/cmn-eng.tsv'))) {
      t.skip('data/cmn-eng/cmn-eng.tsv absent (get it with: s2s data get cmn-eng)');
      return;
    }
    const r = await runS2S(['vocab', '--out', join(tmp, 'cmn-vocab')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^pairs: \d+ read, \d+ train, 500 valid/m);
    assert.match(r.stdout, /^src \(en\): \d+ entries \(min-freq 2\)/m);
  });

  test('a missing corpus file: exit 1, one line naming the file', async () => {
    const r = await runS2S(['vocab', '--config', 'tiny', '--data', 'no/such.tsv', '--out', join(tmp, 'never')]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = stderrLines(r);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^s2s: error: .*no\/such\.tsv/);
  });

  test('--print-config prints the merged YAML and exits 0', async () => {
    const r = await runS2S(['vocab', '--config', 'tiny', '--max-len', '9', '--print-config']);
    assert.equal(r.code, 0, r.stderr);
    const plain = parse(r.stdout) as { name: string; data: Record<string, unknown> };
    assert.equal(plain.name, 'tiny');
    assert.equal(plain.data['max-len'], 9);
    assert.deepEqual(plain.data.data, [join(REPO_ROOT, 'data/toy/toy.tsv')], 'paths resolved, relative to the config file');
  });
});

describe('s2s data', () => {
  const shared = join(SHARED_DIR, 'data/cmn-eng/cmn-eng.tsv');

  test('get --from imports a local copy, with SOURCE.json', async (t) => {
    if (!existsSync(shared)) {
      t.skip(`${shared} absent`);
      return;
    }
    const out = join(tmp, 'imported');
    const r = await runS2S(['data', 'get', 'cmn-eng', '--from', '../shared/data/cmn-eng/cmn-eng.tsv', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const original = readFileSync(shared);
    assert.ok(readFileSync(join(out, 'cmn-eng.tsv')).equals(original), 'imported byte for byte');
    const source = JSON.parse(readFileSync(join(out, 'SOURCE.json'), 'utf8')) as { sha256: string; bytes: number };
    assert.equal(source.sha256, sha256(original));
    assert.equal(source.bytes, original.length);
    assert.match(r.stdout, new RegExp(`^wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/cmn-eng\\.tsv \\(\\d+ lines\\)$`, 'm'));
  });

  test('get from a URL that answers 404: exit 1, the error names the URL', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cmn-eng.zip`;
    try {
      const r = await runS2S(['data', 'get', 'cmn-eng', '--url', url, '--out', join(tmp, 'never')]);
      assert.equal(r.code, 1);
      const lines = stderrLines(r);
      assert.equal(lines[0], `s2s: error: download failed: HTTP 404 Not Found (${url})`);
      assert.ok(lines.slice(1).every((l) => l.startsWith('s2s: hint: ')), r.stderr);
      assert.equal(existsSync(join(tmp, 'never')), false);
    } finally {
      server.close();
    }
  });

  test('get --sha256 with a wrong digest: exit 1', async (t) => {
    if (!existsSync(shared)) {
      t.skip(`${shared} absent`);
      return;
    }
    const r = await runS2S(['data', 'get', 'cmn-eng', '--from', shared, '--sha256', '0'.repeat(64), '--out', join(tmp, 'never')]);
    assert.equal(r.code, 1);
    assert.match(stderrLines(r)[0]!, /^s2s: error: checksum mismatch: expected sha256 0{64}, got [0-9a-f]{64} /);
  });

  test('list shows the known corpora and whether present', async () => {
    const r = await runS2S(['data', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^cmn-eng +data\/cmn-eng\/cmn-eng\.tsv +(missing|present \(\d+ lines\))$/m);
    assert.match(r.stdout, new RegExp(`^toy +${REPO_ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/data/toy/toy\\.tsv +present \\(\\d+ lines\\)$`, 'm'));
  });
});
