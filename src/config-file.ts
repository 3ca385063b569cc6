/**
 * Config files on disk (Node only): where a named config lives and reading
 * one. Parsing and validation are in config.ts, which the web page bundles.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { UserError } from './errors.ts';
import { parseConfigText, type Overrides } from './config.ts';

/** Where the named config lives: a path, or a name under the project's configs/. */
export function resolveConfigPath(nameOrPath: string, projectRoot: string): string {
  const ext = extname(nameOrPath);
  if (ext === '.yaml' || ext === '.yml' || nameOrPath.includes('/')) return resolve(nameOrPath);
  return resolve(projectRoot, 'configs', `${nameOrPath}.yaml`);
}

export function configNameOf(path: string): string {
  return basename(path, extname(path));
}

/** The keys whose values are file or directory paths. */
const PATH_KEYS = { data: ['data', 'src', 'tgt', 'valid'], training: ['out'] } as const;

/**
 * `layer` with every relative path made absolute against `base`: a path in a
 * config file is relative to the file's directory, one on the command line or
 * a built-in default (data/cmn-eng/…, checkpoints/…) to the working directory.
 */
export function resolvePaths(layer: Overrides, base: string): Overrides {
  const abs = (p: unknown): unknown => (typeof p === 'string' && p !== '' && !isAbsolute(p) ? resolve(base, p) : p);
  const out = { ...layer } as Record<string, Record<string, unknown> | undefined>;
  for (const [group, keys] of Object.entries(PATH_KEYS)) {
    const values = out[group];
    if (values === undefined) continue;
    const copy: Record<string, unknown> = { ...values };
    for (const key of keys) {
      if (!(key in copy)) continue;
      copy[key] = Array.isArray(copy[key]) ? (copy[key] as unknown[]).map(abs) : abs(copy[key]);
    }
    out[group] = copy;
  }
  return out as Overrides;
}

/** Reads and validates a YAML config file; its relative paths are resolved against the file's directory. */
export function readConfigFile(path: string): Overrides {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? 'config file not found' : `cannot read config (${code})`, {
      where: path,
      hint: code === 'ENOENT' ? `configs shipped with s2s live in ${dirname(path)}` : undefined,
    });
  }
  return resolvePaths(parseConfigText(text, path), dirname(resolve(path)));
}
