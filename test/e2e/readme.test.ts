/**
 * Every command line in README.md's ```sh blocks runs as written, from a
 * fresh clone of the repository (its `bin/s2s` is what `s2s` runs) and from a
 * temporary working directory that is not the project: the blocks run in
 * README order in one scratch directory, so `s2s train --config tiny` there
 * makes the `checkpoints/tiny` that `s2s data split` later reads; the main-job
 * block runs again from the clone's root.
 *
 * Only the changes listed below are made, each with its reason. A command that
 * is neither runnable as written nor listed fails the test, and so does a
 * listed command that fails or a listed one the README no longer has.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli.ts';

/** A command line of a ```sh block: continuation lines joined, trailing comment removed. */
export interface ReadmeCommand {
  line: number;
  section: string;
  text: string;
}

/** Removes a trailing `# comment` that is outside quotes. */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) {
      return line.slice(0, i).trimEnd();
    }
  }
  return line.trimEnd();
}

/** The command lines of every ```sh block in `markdown`. */
export function readmeCommands(markdown: string): ReadmeCommand[] {
  const commands: ReadmeCommand[] = [];
  const lines = markdown.split('\n');
  let section = '';
  let inSh = false;
  let inOther = false;
  let pending: ReadmeCommand | null = null;
  lines.forEach((raw, i) => {
    if (!inSh && !inOther && /^#{1,6} /.test(raw)) section = raw.replace(/^#+ /, '');
    if (/^```/.test(raw)) {
      if (inSh || inOther) {
        inSh = inOther = false;
      } else if (/^```(sh|bash|shell|console)\s*$/.test(raw)) {
        inSh = true;
      } else {
        inOther = true;
      }
      return;
    }
    if (!inSh) return;
    const text = stripComment(raw.trim());
    if (pending) {
      pending.text += ` ${text.replace(/\\$/, '').trim()}`;
      if (!text.endsWith('\\')) pending = null;
      return;
    }
    if (text === '') return;
    const command = { line: i + 1, section, text: text.replace(/\\$/, '').trimEnd() };
    commands.push(command);
    if (text.endsWith('\\')) pending = command;
  });
  for (const c of commands) c.text = c.text.replace(/\s+/g, ' ');
  return commands;
}

// ---------------------------------------------------------------- what is changed, and why

/** Applied to every line. */
const EVERYWHERE: { from: RegExp; to: string; why: string }[] = [
  { from: /^npx s2s /, to: 's2s ', why: '`npx s2s` runs the package\'s bin/s2s; the test puts that same file on PATH as `s2s`' },
  { from: /localhost:8080/g, to: 'localhost:$SERVE_PORT', why: 'a free port instead of 8080, which another program may hold' },
];

/** README command (after EVERYWHERE) → the command run instead. */
const SUBSTITUTED: Record<string, { run: string; why: string }> = {
  's2s data get cmn-eng': {
    run: 's2s data get cmn-eng --from "$TOY_CORPUS"',
    why: 'no network in tests: the README\'s own import route (`--from`), given the toy corpus so that training below takes seconds',
  },
  's2s train': {
    run: 's2s train --max-steps 2 --valid-size 50',
    why: 'a 10-epoch run on the default config becomes 2 steps; the toy corpus (295 pairs) cannot spare the default 500 validation pairs',
  },
  's2s train --data corpus.tsv --attention concat --bidirectional --layers 2 --out runs/big': {
    run: 's2s train --data corpus.tsv --attention concat --bidirectional --layers 2 --out runs/big --max-steps 1 --valid-size 50',
    why: 'one step instead of 10 epochs; the toy corpus cannot spare 500 validation pairs',
  },
  's2s train --src train.en --tgt train.zh --src-lang en --tgt-lang zh': {
    run: 's2s train --src train.en --tgt train.zh --src-lang en --tgt-lang zh --max-steps 1 --valid-size 50 --out runs/lines',
    why: 'one step; its own --out, since checkpoints/cmn-eng already holds the main job\'s run, which later commands read',
  },
  's2s train --resume checkpoints/cmn-eng': {
    run: 's2s train --resume checkpoints/cmn-eng --max-steps 3',
    why: 'continues the 2-step main-job run by one step, not to the end of its 10 epochs',
  },
  's2s serve --checkpoint checkpoints/cmn-eng --port 8080': {
    run: 'exec s2s serve --checkpoint checkpoints/cmn-eng --port $SERVE_PORT',
    why: 'a free port; the server runs in the background while the block\'s curl lines run, then gets SIGTERM and must exit 0',
  },
  'npx http-server site -p 8000 -a 127.0.0.1': {
    run: 'exec "$CLONE/node_modules/.bin/http-server" site -p $WEB_PORT -a 127.0.0.1 -s',
    why: 'the clone\'s pinned http-server (outside a project directory npx would fetch it from the registry), a free port, -s to keep its request log out of the test output; runs in the background until the page\'s index.html has been fetched from it',
  },
  's2s train --config tiny --vocab vocab/tiny --out checkpoints/tiny-vocab': {
    run: 's2s train --config tiny --vocab vocab/tiny --out checkpoints/tiny-vocab --max-steps 2',
    why: '`s2s train --config tiny` above already trains the tiny model to the end; two steps show the saved set is used',
  },
};

/** Lines that keep running in the background until the end of their block, and how to tell they are ready. */
const BACKGROUND: Record<string, { ready: (env: Record<string, string>) => string }> = {
  's2s serve --checkpoint checkpoints/cmn-eng --port 8080': { ready: (env) => `http://localhost:${env.SERVE_PORT}/health` },
  'npx http-server site -p 8000 -a 127.0.0.1': { ready: (env) => `http://127.0.0.1:${env.WEB_PORT}/index.html` },
};

/** README command → why the test does not run it. */
const NOT_RUN: Record<string, string> = {
  'npm install': 'the fresh clone gets the installed node_modules; .ci/run runs `npm install` in a clean clone',
  'npm test': 'this test is part of it',
  'npm run test:unit': 'part of `npm test`',
  'npm run test:cli': 'part of `npm test`',
  'npm run test:e2e': 'part of `npm test` (and holds this test)',
  'npm run test:backends': 'part of `npm test`',
};

/** Files the README's examples name as the user's own, made here from the toy corpus. */
function writeFixtures(dir: string): void {
  const toy = readFileSync(join(REPO_ROOT, 'data', 'toy', 'toy.tsv'), 'utf8').trimEnd().split('\n').map((l) => l.split('\t') as [string, string]);
  const put = (name: string, lines: string[]): void => writeFileSync(join(dir, name), lines.join('\n') + '\n');
  put('corpus.tsv', toy.map(([en, zh]) => `${en}\t${zh}`)); // s2s train --data, s2s audit
  put('train.en', toy.map(([en]) => en)); // s2s train --src/--tgt
  put('train.zh', toy.map(([, zh]) => zh));
  put('cmn.txt', toy.map(([en, zh], i) => `${en}\t${zh}\tCC-BY 2.0 (France) Attribution: tatoeba.org #${i + 1}`)); // data get --from
  put('sentences.txt', toy.slice(0, 3).map(([en]) => en)); // translate --input
  put('hyp.zh', ['我喜欢猫。', '我的朋友很忙。', '玛丽喜欢苹果。']); // eval
  put('ref.zh', toy.slice(0, 3).map(([, zh]) => zh));
  put('ref1.zh', toy.slice(0, 3).map(([, zh]) => zh));
  put('ref2.zh', ['你喜欢猫吗？', '我朋友很忙。', '玛丽不爱苹果。']);
}

// ---------------------------------------------------------------- running

const work = mkdtempSync(join(tmpdir(), 's2s-readme-'));
after(() => rmSync(work, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A fresh clone of the repository's HEAD with the installed node_modules linked in, and a PATH whose `s2s` is its bin/s2s. */
function freshClone(): { clone: string; path: string } {
  const clone = join(work, 'clone');
  const r = spawnSync('git', ['clone', '-q', '--shared', REPO_ROOT, clone], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(clone, 'node_modules'));
  const bin = join(work, 'path');
  mkdirSync(bin);
  writeFileSync(join(bin, 's2s'), `#!/bin/sh\nexec "${join(clone, 'bin', 's2s')}" "$@"\n`);
  chmodSync(join(bin, 's2s'), 0o755);
  return { clone, path: `${bin}:${process.env.PATH ?? ''}` };
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

function shell(command: string, cwd: string, env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<Outcome> } {
  const child = spawn('bash', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const done = new Promise<Outcome>((resolve, reject) => {
    const guard = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, output });
    });
  });
  return { child, done };
}

async function waitFor(url: string, exited: Promise<Outcome>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 600 && !gone; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const o = await Promise.race([exited, Promise.resolve(null)]);
  assert.fail(`${url} never answered${o ? `; the command exited (${o.code ?? o.signal}):\n${o.output}` : ''}`);
}

/** The README's commands grouped by block (a block ends where the line numbers jump). */
function blocks(commands: ReadmeCommand[]): ReadmeCommand[][] {
  const out: ReadmeCommand[][] = [];
  for (const c of commands) {
    const last = out.at(-1);
    if (last && last[0]!.section === c.section) last.push(c);
    else out.push([c]);
  }
  return out;
}

function normalise(text: string): string {
  return EVERYWHERE.reduce((t, { from, to }) => t.replace(from, to), text);
}

/** Runs one block's commands in `cwd`; background ones are stopped when the block ends. */
async function runBlock(block: ReadmeCommand[], cwd: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<string[]> {
  const ran: string[] = [];
  const background: { key: string; child: ChildProcess; done: Promise<Outcome> }[] = [];
  try {
    for (const c of block) {
      const key = normalise(c.text);
      if (key in NOT_RUN) continue;
      const command = SUBSTITUTED[key]?.run ?? key;
      const where = `README.md:${c.line} (${c.section}): ${c.text}\nran: ${command}`;
      const bg = BACKGROUND[c.text];
      const began = Date.now();
      if (bg) {
        const { child, done } = shell(command, cwd, env);
        background.push({ key: c.text, child, done });
        await waitFor(bg.ready(env as Record<string, string>), done);
      } else {
        const o = await shell(command, cwd, env).done;
        assert.equal(o.code, 0, `${where}\nexit ${o.code ?? o.signal}:\n${o.output}`);
        assert.doesNotMatch(o.output, /\n\s+at .+:\d+:\d+\)?\n/, `${where}\nprinted a stack trace:\n${o.output}`);
      }
      ran.push(command);
      log(`${((Date.now() - began) / 1000).toFixed(1)} s  ${command}`);
    }
  } finally {
    for (const { key, child, done } of background) {
      child.kill('SIGTERM');
      const o = await done;
      assert.equal(o.code, 0, `${key}: after SIGTERM, exit ${o.code ?? o.signal}:\n${o.output}`);
    }
  }
  return ran;
}

// ---------------------------------------------------------------- the tests

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const COMMANDS = readmeCommands(README);

describe('README.md', () => {
  test('every ```sh line is an s2s command, or listed here with the reason it is changed or not run', () => {
    assert.ok(COMMANDS.length > 20, `found only ${COMMANDS.length} command lines`);
    const unknown = COMMANDS.filter((c) => {
      const key = normalise(c.text);
      return !/^(\S+=\S* )*s2s /.test(key) && !/\| s2s /.test(key) && !(key in SUBSTITUTED) && !(key in NOT_RUN) && !/^curl /.test(key);
    });
    assert.deepEqual(unknown.map((c) => `README.md:${c.line}: ${c.text}`), [], 'commands that are not s2s and not listed');
    const texts = new Set(COMMANDS.map((c) => normalise(c.text)));
    const stale = [...Object.keys(SUBSTITUTED), ...Object.keys(NOT_RUN)].filter((k) => !texts.has(k));
    assert.deepEqual(stale, [], 'listed commands the README no longer has');
  });

  test('the parser finds continuation lines and drops comments', () => {
    const md = '## A\n```sh\ns2s x "a # b"   # note\ncurl -d \'{}\' \\\n  -H x\n```\n```ts\ns2s not-shell\n```\n';
    assert.deepEqual(readmeCommands(md), [
      { line: 3, section: 'A', text: 's2s x "a # b"' },
      { line: 4, section: 'A', text: "curl -d '{}' -H x" },
    ]);
  });

  test('every command runs as written (or as listed) from a temporary directory, with a fresh clone\'s bin/s2s', { timeout: 900_000 }, async (t) => {
    const { clone, path } = freshClone();
    const scratch = join(work, 'scratch');
    mkdirSync(scratch);
    writeFixtures(scratch);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: path,
      TOY_CORPUS: join(clone, 'data', 'toy', 'toy.tsv'),
      SERVE_PORT: String(await freePort()),
      WEB_PORT: String(await freePort()),
      CLONE: clone,
      NODE_TEST_CONTEXT: undefined,
      S2S_MODEL: undefined,
    };
    let ran = 0;
    for (const block of blocks(COMMANDS)) {
      ran += (await runBlock(block, scratch, env, (l) => t.diagnostic(l))).length;
    }
    assert.ok(ran > 20, `ran only ${ran} commands`);
    assert.ok(existsSync(join(scratch, 'checkpoints', 'cmn-eng', 'last')), 'the main job trained under the working directory');
    assert.ok(existsSync(join(scratch, 'site', 'index.html')) && existsSync(join(scratch, 'models', 'mine', 'checkpoint.json')));

    // The main job once more, from the clone's root, as someone who cloned the repository would.
    const main = COMMANDS.filter((c) => c.section === 'The main job');
    assert.ok(main.length >= 3, 'the README has a main-job block');
    await runBlock(main, clone, env, (l) => t.diagnostic(`clone: ${l}`));
    assert.ok(existsSync(join(clone, 'checkpoints', 'cmn-eng', 'last')));
  });
});
