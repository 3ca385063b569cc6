/**
 * Command-line flags generated from the config SCHEMA: `emb-size` becomes
 * `--emb-size <value>`, a bool key `--key` and `--no-key`, a list key a
 * repeatable flag. The flags carry no defaults, so a value in the parsed
 * options means the user typed the flag; configFromOptions lays exactly those
 * over the config file.
 */
import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { stringify } from 'yaml';
import {
  buildConfig,
  checkValue,
  configToPlain,
  DEFAULT_CONFIG_NAME,
  DEFAULTS,
  kebabToCamel,
  SCHEMA,
  type Group,
  type Overrides,
  type S2SConfig,
} from '../config.ts';
import { configNameOf, readConfigFile, resolveConfigPath, resolvePaths } from '../config-file.ts';
import { PROJECT_ROOT } from '../project.ts';

/** The directory holding s2s's package.json (configs/ and data/toy/ live there). */
export function projectRoot(): string {
  return PROJECT_ROOT;
}

/** Where runs go by default: checkpoints/ under the working directory. */
export function checkpointsDir(): string {
  return resolve('checkpoints');
}

const GROUP_HEADINGS: Record<Group, string> = {
  data: 'Data options:',
  model: 'Model options:',
  training: 'Training options:',
  decoding: 'Decoding options:',
};

/** How help shows a flag's value: `--epochs <n>`, `--lr <x>`, `--out <value>`. */
function placeholder(kind: string): string {
  if (kind === 'int' || kind === 'int?') return '<n>';
  return kind === 'number' ? '<x>' : '<value>';
}

/** Stands for `null` in parsed options: commander replaces a parser's null with ''. */
const NULL_FLAG = Symbol('null');

/** Parses one flag value per the key's kind and range; a bad value is a usage error (exit 2) naming the flag. */
function parseFlagValue(group: Group, key: string, raw: string): unknown {
  const spec = SCHEMA[group][key]!;
  const flag = `--${key}`;
  let value: unknown = raw;
  const nullable = spec.kind === 'int?' || (spec.kind === 'string?' && spec.choices?.includes(null));
  if (nullable && raw === 'null') value = null;
  else if (spec.kind === 'int' || spec.kind === 'int?') value = /^[+-]?\d+$/.test(raw) ? Number(raw) : raw;
  else if (spec.kind === 'number') value = raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  const checked = checkValue(group, key, value, flag, flag, 2);
  return checked === null ? NULL_FLAG : checked;
}

/** Adds one flag per key of `groups` (first group wins for shared keys), plus --config and --print-config. */
export function addConfigOptions(cmd: Command, groups: Group[]): Command {
  cmd.addOption(
    new Option('--config <name|file>', 'configuration: a name under configs/ or a YAML file').default(DEFAULT_CONFIG_NAME),
  );
  cmd.addOption(new Option('--print-config', 'print the merged configuration as YAML and exit'));
  const seen = new Set<string>();
  for (const group of groups) {
    for (const [key, spec] of Object.entries(SCHEMA[group])) {
      if (seen.has(key)) continue;
      seen.add(key);
      const heading = GROUP_HEADINGS[group];
      if (spec.kind === 'bool') {
        cmd.addOption(new Option(`--${key}`, spec.doc).helpGroup(heading));
        cmd.addOption(new Option(`--no-${key}`, `do not: ${spec.doc}`).helpGroup(heading));
      } else if (spec.kind === 'strings') {
        cmd.addOption(
          new Option(`--${key} <file>`, spec.doc)
            .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v])
            .helpGroup(heading),
        );
      } else {
        const option = new Option(`--${key} ${placeholder(spec.kind)}`, spec.doc).helpGroup(heading);
        if (spec.choices) option.choices(spec.choices.map((c) => c ?? 'null'));
        cmd.addOption(option.argParser((v: string) => parseFlagValue(group, key, v)));
      }
    }
  }
  cmd.hook('preAction', (_thisCommand, actionCommand) => {
    const opts = actionCommand.opts();
    if (!opts.printConfig) return;
    process.stdout.write(stringify(configToPlain(configFromOptions(opts, groups))));
    throw new CommanderError(0, 's2s.printConfig', '(config printed)');
  });
  return cmd;
}

/** The flags the user gave, as overrides; a key in two groups sets the first (flag values were checked while parsing). */
export function overridesFromOptions(opts: Record<string, unknown>, groups: readonly Group[]): Overrides {
  const out: Overrides = {};
  const seen = new Set<string>();
  for (const group of groups) {
    for (const key of Object.keys(SCHEMA[group])) {
      if (seen.has(key)) continue;
      seen.add(key);
      const value = opts[kebabToCamel(key)];
      if (value === undefined) continue;
      (out[group] ??= {})[kebabToCamel(key)] = value === NULL_FLAG ? null : value;
    }
  }
  return out;
}

/**
 * Loads `--config` (default cmn-eng), lays the given flags over it and
 * validates. Paths come out absolute: the config file's relative to the file,
 * the flags' and the built-in default corpus's to the working directory.
 */
export function configFromOptions(opts: Record<string, unknown>, groups: Group[]): S2SConfig {
  const nameOrPath = typeof opts.config === 'string' ? opts.config : DEFAULT_CONFIG_NAME;
  const path = resolveConfigPath(nameOrPath, projectRoot());
  const file = readConfigFile(path);
  const defaults = resolvePaths({ data: { data: [...DEFAULTS.data.data] } }, process.cwd());
  return buildConfig(configNameOf(path), defaults, file, resolvePaths(overridesFromOptions(opts, groups), process.cwd()));
}
