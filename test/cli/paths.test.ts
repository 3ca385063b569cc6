/**
 * One path rule, from any directory: a path on the command line is relative
 * to the working directory, a path in a config file to the config file;
 * downloaded corpora (data/) and runs (checkpoints/) live under the working
 * directory, and what ships with s2s (configs/, data/toy/) is found wherever
 * s2s is installed, including `npx s2s` from another project.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT, runS2S, TRAIN_FIXTURE } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-paths-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A few steps on single-threaded wasm: these tests are about where files go, not about the model. */
const QUICK = ['--max-steps', '3', '--valid-bleu-size', '5'];

describe('paths from a directory other than the project', () => {
  test('train --config tiny reads the shipped toy corpus and writes checkpoints/tiny under the working directory', async () => {
    const cwd = join(work, 'elsewhere');
    mkdirSync(cwd);
    const r = await runS2S([...TRAIN_FIXTURE, '-q', 'train', '--config', 'tiny', ...QUICK], { cwd, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(cwd, 'checkpoints', 'tiny', 'last', 'checkpoint.json')), 'the run is under the working directory');
  });

  test('a path in a config file is relative to the config file, one on the command line to the working directory', async () => {
    const exp = join(work, 'exp');
    mkdirSync(join(exp, 'corpus'), { recursive: true });
    copyFileSync(join(REPO_ROOT, 'data', 'toy', 'toy.tsv'), join(exp, 'corpus', 'pairs.tsv'));
    writeFileSync(join(exp, 'my.yaml'), 'data:\n  data: [corpus/pairs.tsv]\n  max-len: 12\n  valid-size: 30\nmodel:\n  emb-size: 8\n  hidden-size: 8\n');
    const fromFile = await runS2S(['-q', 'vocab', '--config', 'exp/my.yaml', '--out', 'v1'], { cwd: work });
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.match(fromFile.stdout, /^pairs: \d+ read, \d+ train, 30 valid/m);
    const fromFlag = await runS2S(['-q', 'vocab', '--config', 'exp/my.yaml', '--data', 'exp/corpus/pairs.tsv', '--out', 'v2'], { cwd: work });
    assert.equal(fromFlag.code, 0, fromFlag.stderr);
    assert.ok(existsSync(join(work, 'v1')) && existsSync(join(work, 'v2')), 'vocab --out is relative to the working directory');
  });

  test('data list: the shipped toy corpus is present, cmn-eng is looked for under the working directory', async () => {
    const r = await runS2S(['data', 'list'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^toy +\S+\/data\/toy\/toy\.tsv +present \(\d+ lines\)$/m);
    assert.match(r.stdout, /^cmn-eng +data\/cmn-eng\/cmn-eng\.tsv +missing$/m);
  });

  test('translate looks for the default config\'s checkpoints under the working directory', async () => {
    // An (empty) checkpoints/cmn-eng/ there wins over the model shipped with s2s, so it is named.
    const cwd = join(work, 'with-run');
    mkdirSync(join(cwd, 'checkpoints', 'cmn-eng'), { recursive: true });
    const r = await runS2S(['translate', 'I like tea.'], { cwd, env: { S2S_MODEL: undefined } });
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`not an s2s checkpoint or model directory (no checkpoint.json) (${join(cwd, 'checkpoints', 'cmn-eng')})`), r.stderr);
  });

  test('installed as a package: `npx s2s train --config tiny` in another project', () => {
    const project = join(work, 'project');
    mkdirSync(join(project, 'node_modules', '.bin'), { recursive: true });
    writeFileSync(join(project, 'package.json'), '{ "name": "user-project", "private": true }\n');
    symlinkSync(REPO_ROOT, join(project, 'node_modules', 's2s'), 'dir');
    symlinkSync(join('..', 's2s', 'bin', 's2s'), join(project, 'node_modules', '.bin', 's2s'));
    const r = spawnSync('npx', ['--no-install', 's2s', ...TRAIN_FIXTURE, '-q', 'train', '--config', 'tiny', ...QUICK], {
      cwd: project,
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, npm_config_offline: 'true' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(project, 'checkpoints', 'tiny', 'last', 'checkpoint.json')), 'the run is in the user\'s project');
    const list = spawnSync('npx', ['--no-install', 's2s', 'data', 'list'], { cwd: project, encoding: 'utf8', env: { ...process.env, npm_config_offline: 'true' } });
    assert.match(list.stdout, /^toy +\S+\/data\/toy\/toy\.tsv +present/m);
  });
});
