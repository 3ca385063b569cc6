/**
 * Start-up: `--version`, every command's `--help` and usage errors answer
 * without loading TensorFlow.js. The real bin/s2s runs with a module trace
 * (test/helpers/trace-modules.mjs) that lists every ES and CommonJS module it
 * loaded; a translation, which must load TensorFlow.js, shows the trace sees it.
 * A few sentences given as arguments start wasm on one thread.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT, runS2S } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-startup-'));
after(() => rmSync(work, { recursive: true, force: true }));
const TRACE = join(REPO_ROOT, 'test', 'helpers', 'trace-modules.mjs');
let runs = 0;

/** Runs bin/s2s with the module trace; the modules it loaded. */
async function traced(args: string[]): Promise<{ code: number | null; stdout: string; modules: string[] }> {
  const file = join(work, `trace-${++runs}.txt`);
  const r = await runS2S(args, { preload: [TRACE], env: { S2S_TRACE_FILE: file } });
  return { code: r.code, stdout: r.stdout, modules: readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') };
}

const tensorflow = (modules: string[]): string[] => modules.filter((m) => m.includes('@tensorflow'));

describe('start-up without TensorFlow.js', () => {
  test('--version, --help and usage errors load no @tensorflow module', async () => {
    const help = await runS2S(['--help']);
    const commands = [...help.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    assert.ok(commands.includes('translate') && commands.includes('train') && commands.length >= 10, commands.join(' '));
    const cases: [string[], number][] = [
      [['--version'], 0],
      [['--help'], 0],
      ...commands.map((c): [string[], number] => [[c, '--help'], 0]),
      [['data', 'get', '--help'], 0],
      [['translate', '--bogus'], 2],
      [['translate', '--beam', 'x', 'I like tea.'], 2],
      [['trian'], 2],
    ];
    for (const [args, code] of cases) {
      const r = await traced(args);
      assert.equal(r.code, code, `s2s ${args.join(' ')}`);
      assert.ok(r.modules.some((m) => /\/cli\/main\.(ts|js)$/.test(m)), `the trace saw s2s start: s2s ${args.join(' ')}`);
      assert.deepEqual(tensorflow(r.modules), [], `s2s ${args.join(' ')}`);
    }
  });

  test('a few sentences as arguments run on one wasm thread unless --threads or S2S_THREADS asks for more', async () => {
    const model = join(REPO_ROOT, 'models', 'en-zh-tatoeba');
    const backendLine = async (args: string[], env: Record<string, string | undefined> = {}): Promise<string | undefined> => {
      const r = await runS2S(['--backend', 'wasm', ...args, 'translate', '--checkpoint', model, 'I like tea.'], { env: { S2S_THREADS: undefined, ...env } });
      assert.equal(r.code, 0, r.stderr);
      return r.stderr.split('\n').find((l) => l.startsWith('backend:'));
    };
    assert.equal(await backendLine([]), 'backend: wasm (requested)');
    assert.equal(await backendLine(['--threads', '2']), 'backend: wasm (2 threads; requested)');
    assert.equal(await backendLine([], { S2S_THREADS: '2' }), 'backend: wasm (2 threads; requested)');
  });

  test('the trace sees TensorFlow.js when a command loads it', async () => {
    const r = await traced(['--backend', 'cpu', '-q', 'translate', '--checkpoint', join(REPO_ROOT, 'models', 'en-zh-tatoeba'), 'I like tea.']);
    assert.equal(r.code, 0);
    assert.notEqual(r.stdout.trim(), '');
    assert.ok(tensorflow(r.modules).some((m) => m.includes('tfjs-core')), 'tfjs-core in the trace');
  });
});
