/** Where s2s is installed, and its version (from package.json). */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding s2s's package.json (also its configs/ and data/). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The model shipped inside the package, under models/. */
export const SHIPPED_MODEL = 'en-zh-tatoeba';

let version: string | undefined;

export function s2sVersion(): string {
  version ??= (JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}
