import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { Command, CommanderError } from 'commander';
import { parse } from 'yaml';
import { addConfigOptions, configFromOptions, projectRoot } from '../../src/cli/config-options.ts';
import { formatUserError, UserError } from '../../src/errors.ts';
import { buildConfig, configFromPlain, configToPlain, DEFAULTS, GROUPS, SCHEMA, type Group, type S2SConfig } from '../../src/config.ts';
import { readConfigFile } from '../../src/config-file.ts';

const dir = mkdtempSync(join(tmpdir(), 's2s-config-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Parses `args` with a command carrying the config flags of `groups`; returns the config its action built. */
async function configFor(groups: Group[], args: string[]): Promise<S2SConfig> {
  let config: S2SConfig | undefined;
  const cmd = addConfigOptions(new Command('t'), groups)
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .action((opts: Record<string, unknown>) => {
      config = configFromOptions(opts, groups);
    });
  await cmd.parseAsync(args, { from: 'user' });
  assert.ok(config, 'the action ran');
  return config;
}

async function usageErrorFor(groups: Group[], args: string[]): Promise<UserError> {
  try {
    await configFor(groups, args);
  } catch (err) {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

describe('shipped configs', () => {
  const configsDir = join(projectRoot(), 'configs');
  const files = readdirSync(configsDir).filter((f) => f.endsWith('.yaml'));

  test('tiny, cmn-eng and gpu-large are shipped', () => {
    for (const name of ['tiny.yaml', 'cmn-eng.yaml', 'gpu-large.yaml']) assert.ok(files.includes(name), name);
  });

  for (const file of files) {
    test(`${file} lists every schema key, commented, and loads`, () => {
      const path = join(configsDir, file);
      const text = readFileSync(path, 'utf8');
      const plain = parse(text) as Record<string, Record<string, unknown>>;
      for (const g of GROUPS) {
        assert.ok(plain[g], `${file} has group ${g}`);
        for (const key of Object.keys(SCHEMA[g])) {
          // The default corpus is under the working directory, which a path in a config file cannot name.
          if (g === 'data' && key === 'data' && file !== 'tiny.yaml') {
            assert.match(text, /\n  # data: \[data\/cmn-eng\/cmn-eng\.tsv\]\n/, `${file}: the default corpus, commented out`);
            continue;
          }
          assert.ok(key in plain[g]!, `${file}: ${g}.${key} is missing`);
          const lines = text.split('\n');
          const at = lines.findIndex((l, i) => l === `  ${key}: ${l.slice(key.length + 4)}` && i > lines.indexOf(`${g}:`));
          const spec = SCHEMA[g][key]!;
          const shown = Array.isArray(spec.default) ? `[${spec.default.join(', ')}]` : String(spec.default);
          assert.equal(lines[at - 1], `  # ${spec.doc} [default: ${shown}]`, `${file}: ${g}.${key} is commented with the schema's doc and default`);
        }
      }
      const config = buildConfig(file, readConfigFile(path));
      assert.equal(config.model.layers >= 1, true);
    });
  }

  test('cmn-eng.yaml is the built-in defaults', () => {
    const config = buildConfig('cmn-eng', readConfigFile(join(configsDir, 'cmn-eng.yaml')));
    for (const g of GROUPS) assert.deepEqual({ ...config[g] }, { ...DEFAULTS[g] }, g);
  });

  test('tiny.yaml trains on the toy corpus with a small model', () => {
    const config = buildConfig('tiny', readConfigFile(join(configsDir, 'tiny.yaml')));
    assert.deepEqual(config.data.data, [join(projectRoot(), 'data', 'toy', 'toy.tsv')], 'relative to the config file');
    assert.equal(config.model.embSize, 16);
    assert.equal(config.model.hiddenSize, 32);
    assert.equal(config.training.out, null);
  });

  test('gpu-large.yaml has 2 bidirectional layers of 512', () => {
    const config = buildConfig('gpu-large', readConfigFile(join(configsDir, 'gpu-large.yaml')));
    assert.equal(config.model.layers, 2);
    assert.equal(config.model.hiddenSize, 512);
    assert.equal(config.model.bidirectional, true);
  });
});

describe('configFromOptions: merge order defaults < file < flags', () => {
  const file = writeConfig(
    'exp.yaml',
    ['model:', '  emb-size: 32', '  hidden-size: 64', 'data:', '  lowercase: false', 'training:', '  batch-size: 8', ''].join('\n'),
  );

  test('a flag overrides the file, the file overrides the defaults', async () => {
    const config = await configFor(['data', 'model', 'training'], ['--config', file, '--emb-size', '8']);
    assert.equal(config.name, 'exp');
    assert.equal(config.model.embSize, 8); // flag
    assert.equal(config.model.hiddenSize, 64); // file
    assert.equal(config.model.layers, DEFAULTS.model.layers); // default
  });

  test('flags not given do not reset file values to defaults', async () => {
    const config = await configFor(['data', 'model', 'training'], ['--config', file]);
    assert.equal(config.data.lowercase, false);
    assert.equal(config.training.batchSize, 8);
  });

  test('--key and --no-key set bools', async () => {
    assert.equal((await configFor(['data'], ['--config', file, '--lowercase'])).data.lowercase, true);
    assert.equal((await configFor(['model'], ['--config', file, '--bidirectional'])).model.bidirectional, true);
    assert.equal((await configFor(['model'], ['--config', file, '--no-input-feeding'])).model.inputFeeding, false);
  });

  test('list keys are repeatable flags', async () => {
    const config = await configFor(['data'], ['--config', file, '--data', 'a.tsv', '--data', 'b.tsv']);
    assert.deepEqual(config.data.data, [resolve('a.tsv'), resolve('b.tsv')], 'flag paths are relative to the working directory');
  });

  test('numbers are parsed and `null` clears a nullable key', async () => {
    const config = await configFor(['data', 'model'], ['--config', file, '--dropout', '0.5', '--src-col', '1', '--tgt-col', 'null']);
    assert.equal(config.model.dropout, 0.5);
    assert.equal(config.data.srcCol, 1);
    assert.equal(config.data.tgtCol, null);
  });

  test('a key in two groups goes to the first group given', async () => {
    const train = await configFor(['training', 'decoding'], ['--config', file, '--batch-size', '7']);
    assert.equal(train.training.batchSize, 7);
    assert.equal(train.decoding.batchSize, DEFAULTS.decoding.batchSize);
    const decode = await configFor(['decoding'], ['--config', file, '--batch-size', '7']);
    assert.equal(decode.decoding.batchSize, 7);
    assert.equal(decode.training.batchSize, 8); // from the file
  });

  test('--config takes a name under configs/ (default cmn-eng)', async () => {
    assert.equal((await configFor(['model'], [])).name, 'cmn-eng');
    const tiny = await configFor(['model'], ['--config', 'tiny']);
    assert.equal(tiny.name, 'tiny');
    assert.equal(tiny.model.embSize, 16);
  });
});

describe('config errors', () => {
  test('an unknown key names the key and file:line', () => {
    const path = writeConfig('typo.yaml', 'model:\n  emb-size: 8\n  hiden-size: 3\n');
    assert.throws(
      () => readConfigFile(path),
      (err: unknown) => err instanceof UserError && /hiden-size/.test(err.message) && err.where === `${path}:3`,
    );
  });

  test('a wrong type names the key and line', () => {
    const path = writeConfig('type.yaml', 'model:\n  layers: two\n');
    assert.throws(
      () => readConfigFile(path),
      (err: unknown) =>
        err instanceof UserError && err.message === `'model.layers' must be an integer, got "two"` && err.where === `${path}:2`,
    );
  });

  test('a negative size in a file is an error at its line', () => {
    const path = writeConfig('neg.yaml', 'data:\n  max-len: 10\n  valid-size: -5\n');
    assert.throws(
      () => readConfigFile(path),
      (err: unknown) => err instanceof UserError && /valid-size' must be >= 0, got -5/.test(err.message) && err.where === `${path}:3`,
    );
  });

  test('a negative size as a flag is a usage error (exit 2) naming the flag', async () => {
    const err = await usageErrorFor(['training', 'decoding'], ['--batch-size', '-1']);
    assert.equal(err.exitCode, 2);
    assert.equal(formatUserError(err), 's2s: error: --batch-size must be >= 1, got -1 (--batch-size)');
  });

  test('a non-number flag value is a usage error', async () => {
    const err = await usageErrorFor(['model'], ['--emb-size', 'big']);
    assert.equal(err.exitCode, 2);
    assert.equal(err.message, '--emb-size must be an integer, got "big"');
  });

  test('a value outside the choices is a usage error', async () => {
    const err = await usageErrorFor(['model'], ['--attention', 'bahdanau']);
    assert.equal(err.exitCode, 2);
    assert.match(err.message, /--attention must be one of dot, general, concat/);
  });

  test('model dimensions are checked with the config: dot attention needs equal state sizes, tied output equal sizes', () => {
    assert.throws(
      () => buildConfig('t', { model: { attention: 'dot', bidirectional: true } }),
      (err: unknown) => err instanceof UserError && /dot attention needs equal encoder and decoder state sizes/.test(err.message) && err.where === '--attention' && err.exitCode === 2,
    );
    assert.throws(
      () => buildConfig('t', { model: { tieOutput: true, embSize: 128, hiddenSize: 256 } }),
      (err: unknown) => err instanceof UserError && err.message === '--tie-output needs --emb-size equal to --hidden-size (got 128 and 256)',
    );
    assert.equal(buildConfig('t', { model: { attention: 'dot', bidirectional: false } }).model.attention, 'dot');
  });

  test('a saved config that breaks a cross-key rule names the file, not a flag', () => {
    const plain = configToPlain(buildConfig('t', {}));
    (plain.decoding as Record<string, unknown>).nbest = 5;
    assert.throws(
      () => configFromPlain(plain, 'ckpt/config.json'),
      (err: unknown) => err instanceof UserError && /--nbest \(5\) cannot exceed --beam \(1\)/.test(err.message) && err.where === 'ckpt/config.json',
    );
  });

  test('a missing config file names it', async () => {
    const err = await usageErrorFor(['model'], ['--config', 'no-such-config']);
    assert.equal(err.message, 'config file not found');
    assert.equal(err.where, join(projectRoot(), 'configs', 'no-such-config.yaml'));
  });
});

describe('--print-config', () => {
  test('prints the merged config as YAML and stops with exit code 0', async () => {
    const file = writeConfig('print.yaml', 'model:\n  hidden-size: 48\n');
    let printed = '';
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => {
      printed += chunk;
      return true;
    }) as typeof process.stdout.write;
    let ran = false;
    let caught: unknown;
    try {
      const cmd = addConfigOptions(new Command('t'), ['model', 'training'])
        .exitOverride()
        .action(() => {
          ran = true;
        });
      await cmd.parseAsync(['--config', file, '--print-config', '--lr', '0.5'], { from: 'user' });
    } catch (err) {
      caught = err;
    } finally {
      process.stdout.write = write;
    }
    assert.ok(caught instanceof CommanderError && caught.exitCode === 0, 'stops with exit code 0');
    assert.equal(ran, false, 'the action does not run');
    const plain = parse(printed) as Record<string, Record<string, unknown>>;
    assert.equal(plain.name, 'print');
    assert.equal(plain.model!['hidden-size'], 48);
    assert.equal(plain.training!.lr, 0.5);
    assert.equal(plain.data!['max-len'], DEFAULTS.data.maxLen);
  });
});
