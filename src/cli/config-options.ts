/**
 * Command-line flags generated from the config SCHEMA, for every command that
 * takes config keys (train and vocab all of their groups, translate and eval
 * the decoding keys): `emb-size` becomes `--emb-size <n>`, a bool key `--key`
 * and `--no-key`, a list key a repeatable flag. The flags carry no defaults,
 * so a value in the parsed options means the user typed the flag;
 * configFromOptions lays exactly those over the config file.
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
  type KeySpec,
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

/** How help shows a flag's value: `--epochs <n>`, `--lr <x>`, `--attention <dot|general|concat>`, `--out <value>`. */
function placeholder(spec: KeySpec): string {
  if (spec.choices) return `<${spec.choices.filter((c) => c !== null).join('|')}>`;
  if (spec.kind === 'int' || spec.kind === 'int?') return '<n>';
  return spec.kind === 'number' ? '<x>' : '<value>';
}

/** A default as help shows it: `40`, `data/cmn-eng/cmn-eng.tsv`; null when the doc already says it. */
function shownDefault(spec: KeySpec): string | null {
  if (spec.default === null || /\(default:/.test(spec.doc)) return null;
  return Array.isArray(spec.default) ? spec.default.join(', ') : String(spec.default);
}

/** The heading of decoding flags where the defaults are the checkpoint's (translate, eval). */
export const CHECKPOINT_DECODING_HEADING = "Decoding options (default: the checkpoint's decoding config):";

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

export interface KeyOptionsSettings {
  /** Keys left out (kebab case), e.g. `nbest` where only the best hypothesis is used. */
  except?: readonly string[];
  /** Help shows the schema's defaults; false where the values come from elsewhere (a checkpoint). */
  showDefaults?: boolean;
  /** Help group headings, by config group. */
  headings?: Partial<Record<Group, string>>;
}

/**
 * Adds one flag per key of `groups` (the first group wins for a key in two):
 * `--key <value>` checked against the schema while parsing, a bool key as
 * `--key` and `--no-key`, a list key as a repeatable flag. The flags carry no
 * defaults: a value in the parsed options means the user typed the flag.
 */
export function addKeyOptions(cmd: Command, groups: readonly Group[], settings: KeyOptionsSettings = {}): Command {
  const seen = new Set<string>(settings.except);
  const showDefaults = settings.showDefaults ?? true;
  for (const group of groups) {
    const heading = settings.headings?.[group] ?? GROUP_HEADINGS[group];
    for (const [key, spec] of Object.entries(SCHEMA[group])) {
      if (seen.has(key)) continue;
      seen.add(key);
      const shown = showDefaults ? shownDefault(spec) : null;
      if (spec.kind === 'bool') {
        const mark = (on: boolean): string => (showDefaults && spec.default === on ? ' (default)' : '');
        cmd.addOption(new Option(`--${key}`, `${spec.doc}${mark(true)}`).helpGroup(heading));
        cmd.addOption(new Option(`--no-${key}`, `${spec.off ?? `the opposite of --${key}`}${mark(false)}`).helpGroup(heading));
        continue;
      }
      const doc = shown === null ? spec.doc : `${spec.doc} (default: ${shown})`;
      if (spec.kind === 'strings') {
        cmd.addOption(
          new Option(`--${key} <file>`, doc).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]).helpGroup(heading),
        );
      } else {
        cmd.addOption(new Option(`--${key} ${placeholder(spec)}`, doc).argParser((v: string) => parseFlagValue(group, key, v)).helpGroup(heading));
      }
    }
  }
  return cmd;
}

/** The flags of `groups` plus --config and --print-config: what `train` and `vocab` take. */
export function addConfigOptions(cmd: Command, groups: Group[]): Command {
  cmd.addOption(
    new Option('--config <name|file>', 'configuration: a name under configs/ or a YAML file').default(DEFAULT_CONFIG_NAME),
  );
  cmd.addOption(new Option('--print-config', 'print the merged configuration as YAML and exit'));
  addKeyOptions(cmd, groups);
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
