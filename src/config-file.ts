/**
 * Config files on disk (Node only): where a named config lives and reading
 * one. Parsing and validation are in config.ts, which the web page bundles.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
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

/** Reads and validates a YAML config file. Relative data paths stay relative to the working directory. */
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
  return parseConfigText(text, path);
}
