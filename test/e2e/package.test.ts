/**
 * The library as a user gets it: `npm pack` (which builds dist/), the tarball
 * installed into an empty project, and a plain Node ESM script (no tsx, no
 * loader flags) that imports 's2s', loads a toy-trained model, translates, and
 * scores BLEU. Its translations must equal `s2s translate`'s.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT, runNode, runS2S, TRAIN_FIXTURE } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-package-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Runs a command; resolves with its output, rejects with it on a non-zero exit. */
function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT; // meant for this test process, not for npm's children
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(output) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${output}`))));
  });
}

const SCRIPT = `
import { loadTranslator, corpusBleu, S2SError } from 's2s';
const translator = await loadTranslator(process.argv[2], { backend: 'cpu' });
const sources = JSON.parse(process.argv[3]);
const out = await translator.translate(sources, { beam: 3, nbest: 2, attention: true });
const hypotheses = out.map((t) => t.translation);
const bleu = corpusBleu(hypotheses, JSON.parse(process.argv[4]), { tokenize: 'zh' });
let code = null;
try {
  await translator.translate(['   ']);
} catch (err) {
  code = err instanceof S2SError ? err.code : String(err);
}
translator.dispose();
console.log(JSON.stringify({ hypotheses, nbest: out.map((t) => t.nbest.length), attention: out.map((t) => t.attention.length === t.tokens.length), bleu: bleu.score, signature: bleu.signature, code }));
`;

describe('the packed library in a fresh project', () => {
  test('npm pack → npm install the tarball → node script.mjs translates and scores BLEU', { timeout: 900_000 }, async () => {
    const runDir = join(work, 'run');
    const trained = await runS2S([...TRAIN_FIXTURE, '--quiet', 'train', '--config', 'tiny', '--out', runDir, '--epochs', '1'], { timeoutMs: 300_000 });
    assert.equal(trained.code, 0, trained.stderr);

    // Packed from a copy of the package's files: `npm pack` builds dist/ where it
    // runs, and a dist/ half-written in the checkout would be picked up by bin/s2s
    // in the tests running beside this one.
    const source = join(work, 'source');
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { files: string[] };
    for (const entry of [...manifest.files, 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      const from = join(REPO_ROOT, entry);
      if (entry !== 'dist/' && existsSync(from)) cpSync(from, join(source, entry), { recursive: true, dereference: false });
    }
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(source, 'node_modules'), 'dir');
    const packs = join(work, 'packs');
    mkdirSync(packs);
    await run('npm', ['pack', '--pack-destination', packs], source);
    const tarball = readdirSync(packs).find((n) => n.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');

    const project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), '{ "name": "user-project", "private": true, "type": "module" }\n');
    // Dependencies come from the npm cache (or registry); no install script downloads anything.
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional', '--ignore-scripts', join(packs, tarball)], project);
    assert.ok(existsSync(join(project, 'node_modules', 's2s', 'dist', 'index.js')));
    assert.ok(existsSync(join(project, 'node_modules', 's2s', 'dist', 'index.d.ts')), 'type declarations ship');

    writeFileSync(join(project, 'script.mjs'), SCRIPT);
    const sources = ['I love you.', 'Tom is busy.', 'My friend likes cats.'];
    const references = ['我爱你。', '汤姆很忙。', '我的朋友喜欢猫。'];
    const model = join(runDir, 'best');
    const script = await runNode(['script.mjs', model, JSON.stringify(sources), JSON.stringify(references)], { cwd: project, timeoutMs: 120_000 });
    assert.equal(script.code, 0, script.stderr);
    const result = JSON.parse(script.stdout) as { hypotheses: string[]; nbest: number[]; attention: boolean[]; bleu: number; signature: string; code: string };
    assert.deepEqual(result.nbest, [2, 2, 2]);
    assert.deepEqual(result.attention, [true, true, true]);
    assert.ok(result.bleu >= 0 && result.bleu <= 100);
    assert.match(result.signature, /tok:zh/);
    assert.equal(result.code, 'BAD_TEXT');

    const cli = await runS2S(['--backend', 'cpu', 'translate', '--checkpoint', model, '--beam', '3', ...sources]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(result.hypotheses, cli.stdout.trimEnd().split('\n'), 'the library and the CLI translate alike');

    // The installed bin/s2s runs the compiled dist/ (no TypeScript compiled at start-up): it works without the sources.
    const installed = join(project, 'node_modules', 's2s');
    rmSync(join(installed, 'src', 'cli'), { recursive: true });
    const bin = join(installed, 'bin', 's2s');
    const version = await runNode([bin, '--version'], { cwd: project });
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const translated = await runNode([bin, '--backend', 'cpu', 'translate', '--checkpoint', model, '--beam', '3', ...sources], { cwd: project });
    assert.equal(translated.code, 0, translated.stderr);
    assert.equal(translated.stdout, cli.stdout, 'the compiled CLI translates as the sources do');
  });
});
