/**
 * Crash safety of the commands that write a set of files: `s2s prepare` and
 * `s2s export` (plain, `--float16` and `--web`) are killed with SIGKILL the
 * moment their temporary directory appears and as each of the files they
 * write appears in it (fs.watch reports both as they happen). After every
 * kill the path holds what it held before, byte for byte (or nothing, if there
 * was nothing); or the new set, whole (killed after renaming it in); or —
 * killed between the two renames that swap a set in — nothing, with the
 * previous set beside it, which the next run puts back. The next run cleans up
 * what the killed one left, never uses a half-written set, and completes.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { REPO_ROOT, runS2S, S2S_BIN, stderrLines } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-crash-sets-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Every file under `dir` (relative path → sha256), or null when `dir` does not exist. */
function snapshot(dir: string): Record<string, string> | null {
  if (!existsSync(dir)) return null;
  const out: Record<string, string> = {};
  const walk = (sub: string): void => {
    for (const name of readdirSync(join(dir, sub)).sort()) {
      const rel = sub === '' ? name : `${sub}/${name}`;
      if (statSync(join(dir, rel)).isDirectory()) walk(rel);
      else out[rel] = createHash('sha256').update(readFileSync(join(dir, rel))).digest('hex');
    }
  };
  walk('');
  return out;
}

/** What a killed writer of `target` may leave beside it: `.<name>.tmp-…` and `.<name>.old…`. */
function leftovers(target: string): string[] {
  return readdirSync(dirname(target)).filter((n) => n.startsWith(`.${basename(target)}.`));
}

interface Killed {
  /** Whether SIGKILL ended it (false: it finished first). */
  killed: boolean;
  code: number | null;
  stderr: string;
}

/** Where to kill: when `file` appears in the temporary directory (or the directory itself, without `file`), plus `delayMs`. */
interface KillPoint {
  file?: string;
  delayMs?: number;
}

const describePoint = (p: KillPoint): string => `${p.delayMs ?? 0} ms after ${p.file ?? 'the temporary directory'} appeared`;

/**
 * Runs s2s and SIGKILLs it at `point`: fs.watch reports the temporary
 * directory for `target` (`.<name>.tmp-…`) appearing beside it, and then the
 * files appearing inside it, as they happen.
 */
function killAt(args: string[], target: string, point: KillPoint): Promise<Killed> {
  return new Promise((resolve, reject) => {
    const prefix = `.${basename(target)}.tmp-`;
    let timer: NodeJS.Timeout | undefined;
    let inner: FSWatcher | undefined;
    let killed = false;
    const fire = (): void => {
      if (timer === undefined) timer = setTimeout(() => (killed = child.kill('SIGKILL')), point.delayMs ?? 0);
    };
    const watcher = watch(dirname(target), (_event, name) => {
      if (inner !== undefined || timer !== undefined || !name?.startsWith(prefix)) return;
      if (point.file === undefined) return fire();
      const tmp = join(dirname(target), name);
      try {
        inner = watch(tmp, (_e, n) => n === point.file && fire());
      } catch {
        return; // already gone
      }
      if (existsSync(join(tmp, point.file))) fire();
    });
    let stderr = '';
    const child = spawn(process.execPath, [S2S_BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      watcher.close();
      inner?.close();
      clearTimeout(timer);
      clearTimeout(guard);
      resolve({ killed: killed && code === null, code, stderr });
    });
  });
}

/** A process id that no process has now (a child that has exited). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

/**
 * Kills `args` (which write `target`) after each delay; after each kill the
 * target must be as before, or the new set whole (killed after renaming it
 * in), or the previous set moved aside whole (killed between the renames).
 * Returns how many runs were killed and how many of them left each of the latter two.
 */
async function killRepeatedly(args: string[], target: string, points: KillPoint[]): Promise<{ killed: number; aside: number; replaced: number }> {
  let killed = 0;
  let aside = 0;
  let replaced = 0;
  for (const point of points) {
    const before = snapshot(target);
    const r = await killAt(args, target, point);
    const delay = describePoint(point);
    if (!r.killed) {
      assert.equal(r.code, 0, `finished before the kill (${delay}) but failed:\n${r.stderr}`);
      continue;
    }
    killed += 1;
    // Each run first removes what an earlier killed run left: at most this run's own temporary directory
    // remains, and the previous set if this run had moved it aside.
    const left = leftovers(target);
    const temps = left.filter((n) => n.startsWith(`.${basename(target)}.tmp-`));
    assert.ok(temps.length <= 1 && left.length - temps.length <= 1, `killed ${delay}; left beside ${target}: ${left.join(', ')}`);
    const now = snapshot(target);
    if (now === null && before !== null) {
      // Killed between moving the previous set aside and renaming the new one in.
      aside += 1;
      const moved = leftovers(target).filter((n) => n.includes('.old'));
      assert.equal(moved.length, 1, `killed ${delay}: ${target} is gone and not beside it (${leftovers(target).join(', ')})`);
      assert.deepEqual(snapshot(join(dirname(target), moved[0]!)), before, `killed ${delay}: the previous set, moved aside, is whole`);
      // The next run puts it back.
      renameSync(join(dirname(target), moved[0]!), target);
      continue;
    }
    if (!isDeepStrictEqual(now, before)) {
      // Killed after the new set was renamed in: then it must be whole.
      replaced += 1;
      assert.ok(now !== null && before !== null);
      assert.deepEqual(Object.keys(now), Object.keys(before), `killed ${delay}: ${target} holds another set of files`);
      assert.deepEqual(unverified(target, now), [], `killed ${delay}: ${target} was replaced by a set whose files do not match its manifest`);
    }
  }
  return { killed, aside, replaced };
}

/** Files listed in a checkpoint.json under `dir` whose sha256 in `files` differs from the listed one. */
function unverified(dir: string, files: Record<string, string>): string[] {
  const bad: string[] = [];
  for (const manifest of Object.keys(files).filter((n) => basename(n) === 'checkpoint.json')) {
    const sub = dirname(manifest) === '.' ? '' : `${dirname(manifest)}/`;
    const listed = (JSON.parse(readFileSync(join(dir, manifest), 'utf8')) as { files: Record<string, { sha256: string }> }).files;
    for (const [name, { sha256 }] of Object.entries(listed)) if (files[sub + name] !== sha256) bad.push(sub + name);
  }
  return bad;
}

describe('s2s prepare killed with SIGKILL while writing its binary files', () => {
  const corpus = join(work, 'pairs.tsv');

  test('the previous set stays byte-identical, a set killed half-way is never used, leftovers go, the rerun completes', { timeout: 600_000 }, async (t) => {
    writeJoinedCorpus(corpus);
    const dir = join(work, 'prepared');
    const prepare = (...extra: string[]) => ['--backend', 'cpu', 'prepare', '--config', 'tiny', '--data', corpus, '--max-len', '30', '--prepared', dir, ...extra];

    // No previous set: a killed first run leaves nothing at the path; the next run prepares.
    const first = await killAt(prepare(), dir, {});
    assert.ok(first.killed, `the first run was not killed:\n${first.stderr}`);
    assert.equal(existsSync(dir), false, 'a killed first run leaves no set');
    assert.equal(leftovers(dir).length, 1, `its temporary directory is left: ${leftovers(dir).join(', ')}`);
    const made = await runS2S(prepare());
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /^prepared: /m);
    assert.deepEqual(leftovers(dir), [], 'the next run removed the killed run\'s temporary directory');
    const reference = snapshot(dir);

    // With a set in place, --force writes a new one over it: kill it as it starts each file of both passes.
    const points: KillPoint[] = [{}, { file: 'pass1.src.bin' }, { file: 'pass1.tgt-len.bin', delayMs: 20 }, { file: 'train.src.bin' },
      { file: 'train.tgt.bin', delayMs: 5 }, { file: 'src.vocab.json' }, { file: 'index.json' }];
    const { killed, replaced, aside } = await killRepeatedly(prepare('--force'), dir, points);
    t.diagnostic(`${killed} of ${points.length} runs killed: ${replaced} after the swap, ${aside} between its renames, the rest before`);
    assert.ok(killed >= points.length - 2, `only ${killed} of ${points.length} runs were killed`);

    // The next prepare finds the previous set whole and up to date, and removes the leftovers.
    const again = await runS2S(prepare());
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^up to date: /m);
    assert.deepEqual(leftovers(dir), []);
    assert.deepEqual(snapshot(dir), reference);

    // Killed between moving the previous set aside and renaming the new one in (made here: the window is two
    // renames wide): the set is put back, not prepared again, and training uses it.
    renameSync(dir, join(work, `.prepared.old-${deadPid()}`));
    const train = await runS2S(['--backend', 'cpu', 'train', '--config', 'tiny', '--data', corpus, '--max-len', '30', '--prepared', dir,
      '--out', join(work, 'run'), '--max-steps', '1', '--valid-bleu-size', '2']);
    assert.equal(train.code, 0, train.stderr);
    assert.doesNotMatch(train.stderr, /preparing the dataset/, 'the previous set was put back and used');
    assert.deepEqual(snapshot(dir), reference);
    assert.deepEqual(leftovers(dir), []);

    // A set whose files were cut short (as a kill inside a copy would leave it) is detected and redone.
    const bin = join(dir, 'train.src.bin');
    writeFileSync(bin, readFileSync(bin).subarray(0, 100));
    const damaged = await runS2S(prepare());
    assert.notEqual(damaged.code, 0);
    assert.equal(stderrLines(damaged).filter((l) => l.startsWith('s2s: error:')).length, 1, damaged.stderr);
    assert.match(damaged.stderr, /prepared data is damaged/);
    const redone = await runS2S(prepare('--force'));
    assert.equal(redone.code, 0, redone.stderr);
    assert.deepEqual(snapshot(dir), reference);
  });
});

/** A toy-derived corpus of `n` distinct pairs, each two toy sentences joined: big enough that writing takes a moment. */
function writeJoinedCorpus(path: string, n = 30_000): void {
  const toy = readFileSync(join(REPO_ROOT, 'data', 'toy', 'toy.tsv'), 'utf8').trimEnd().split('\n').map((l) => l.split('\t'));
  const lines: string[] = [];
  for (let i = 0; i < toy.length && lines.length < n; i++) {
    for (let j = 0; j < toy.length && lines.length < n; j++) {
      if (i !== j) lines.push(`${toy[i]![0]} ${toy[j]![0]}\t${toy[i]![1]}${toy[j]![1]}`);
    }
  }
  writeFileSync(path, lines.join('\n') + '\n');
}

describe('s2s export killed with SIGKILL while writing', () => {
  const run = join(work, 'export-run');
  const modes: [string, string[]][] = [['float32', []], ['--float16', ['--float16']], ['--web', ['--web']]];

  test('train a checkpoint to export', { timeout: 300_000 }, async () => {
    const r = await runS2S(['--backend', 'cpu', '-q', 'train', '--config', 'tiny', '--out', run, '--max-steps', '2', '--valid-bleu-size', '2']);
    assert.equal(r.code, 0, r.stderr);
  });

  for (const [mode, flags] of modes) {
    test(`${mode}: the previous export stays byte-identical, translate reads it or refuses in one line, the rerun completes`, { timeout: 600_000 }, async (t) => {
      mkdirSync(join(work, 'exports'), { recursive: true });
      const out = join(work, 'exports', mode.replace(/^-+/, ''));
      const exportArgs = ['--backend', 'cpu', 'export', run, out, ...flags];
      const model = flags.includes('--web') ? join(out, 'model') : out;
      const translate = () => runS2S(['--backend', 'cpu', 'translate', '--checkpoint', model, 'I like tea.']);

      // Nothing there before: a killed export leaves nothing, and translate says so in one line.
      const first = await killAt(exportArgs, out, {});
      assert.ok(first.killed, `the first export was not killed:\n${first.stderr}`);
      assert.equal(existsSync(out), false);
      const none = await translate();
      assert.notEqual(none.code, 0);
      assert.deepEqual(stderrLines(none).filter((l) => l.startsWith('s2s: error:')), [`s2s: error: checkpoint not found (${model})`]);

      const made = await runS2S(exportArgs);
      assert.equal(made.code, 0, made.stderr);
      assert.deepEqual(leftovers(out), [], 'the next export removed the killed one\'s temporary directory');

      const points: KillPoint[] = flags.includes('--web')
        ? [{}, { file: 'model' }, { file: 'app.js' }, { file: 'tfjs-backend-wasm.wasm' }, { file: 's2s-web.json' }]
        : [{}, { file: 'config.json' }, { file: 'weights.bin' }, { file: 'checkpoint.json' }];
      const { killed, replaced, aside } = await killRepeatedly(exportArgs, out, points);
      t.diagnostic(`${killed} of ${points.length} runs killed: ${replaced} after the swap, ${aside} between its renames, the rest before`);
      assert.ok(killed >= points.length - 2, `only ${killed} of ${points.length} exports were killed`);
      const read = await translate();
      assert.equal(read.code, 0, read.stderr);
      const clean = await runS2S(exportArgs);
      assert.equal(clean.code, 0, clean.stderr);
      assert.deepEqual(leftovers(out), [], 'the rerun removed what the killed exports left');

      // Killed between moving the previous export aside and renaming the new one in (made here): put back first.
      const previous = snapshot(out);
      const asideName = flags.includes('--web') ? `.${basename(out)}.old-${deadPid()}-1` : `.${basename(out)}.old`;
      renameSync(out, join(dirname(out), asideName));
      const rerun = await runS2S(exportArgs);
      assert.equal(rerun.code, 0, rerun.stderr);
      assert.deepEqual(leftovers(out), [], 'no temporary or moved-aside directory is left');
      assert.deepEqual(Object.keys(snapshot(out)!), Object.keys(previous!));
      assert.equal((await translate()).code, 0);
    });
  }
});
