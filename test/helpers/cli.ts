/**
 * Runs the real `bin/s2s` in a child process, for end-to-end tests of the CLI.
 */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (holds package.json, bin/, configs/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const S2S_BIN = resolve(REPO_ROOT, 'bin', 's2s');
/** `../shared` beside the repository: read-only corpora and BLEU vectors. */
export const SHARED_DIR = resolve(REPO_ROOT, '..', 'shared');

/**
 * Global flags for training a checkpoint that a test only needs as a fixture
 * (it translates, evaluates or exports it on any backend afterwards): the
 * single-threaded wasm backend trains the tiny config about ten times faster
 * than cpu (5 epochs: 4.6 s against 48 s on a busy 2-core machine), and one
 * thread leaves the other core to the test file running beside it.
 */
export const TRAIN_FIXTURE = ['--backend', 'wasm', '--threads', '1'];

export interface RunOptions {
  /** Working directory; default the repository root. */
  cwd?: string;
  /** Added to (and overriding) the parent's environment. */
  env?: Record<string, string | undefined>;
  /** Written to the child's stdin (a string as UTF-8), which is then closed. */
  input?: string | Buffer;
  /** Kill the child after this many ms (default 120000). */
  timeoutMs?: number;
  /** Modules the child loads first (`node --import tsx --import M`), e.g. test/helpers/wasm-faults.ts. */
  preload?: string[];
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawns `node bin/s2s ...args` and resolves when it exits. */
export function runS2S(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const preload = (opts.preload ?? []).flatMap((m) => ['--import', m]);
  return runNode([...(preload.length > 0 ? ['--import', 'tsx', ...preload] : []), S2S_BIN, ...args], opts);
}

/** Spawns `node ...args` (e.g. a script through `--import tsx`) and resolves when it exits. */
export function runNode(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    // A test process may carry NODE_OPTIONS/--test flags meant for itself, not for the child.
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, args, {
      cwd: opts.cwd ?? REPO_ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** stderr split into non-empty lines. */
export function stderrLines(result: RunResult): string[] {
  return result.stderr.split('\n').filter((l) => l.trim() !== '');
}
