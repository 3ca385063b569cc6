import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseBenchArgs } from '../../bench/options.ts';
import { REPO_ROOT } from '../helpers/cli.ts';

const argv = (...flags: string[]) => ['node', 'bench.ts', ...flags];

test('bench decodes with the shipped model by default with the cmn-eng config', () => {
  assert.equal(parseBenchArgs(argv()).checkpoint, join(REPO_ROOT, 'models', 'en-zh-tatoeba'));
});

test('bench decodes with a fresh model with --fresh or another config', () => {
  assert.equal(parseBenchArgs(argv('--fresh')).checkpoint, null);
  assert.equal(parseBenchArgs(argv('--config', 'tiny')).checkpoint, null);
});

test('bench --checkpoint wins, and excludes --fresh', () => {
  assert.equal(parseBenchArgs(argv('--checkpoint', 'runs/x')).checkpoint, join(process.cwd(), 'runs', 'x'));
  assert.throws(() => parseBenchArgs(argv('--fresh', '--checkpoint', 'runs/x')), /--fresh and --checkpoint exclude each other/);
});
