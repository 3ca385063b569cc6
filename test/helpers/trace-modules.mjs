// Loaded with `--import` into a child s2s process (see runS2S's `preload`):
// appends every module the child loads to the file named by $S2S_TRACE_FILE,
// one per line: ES modules as they are resolved (by a module hook, which runs
// off the main thread), and at exit every CommonJS file in require's cache
// (packages loaded with require or imported from ES modules).
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env.S2S_TRACE_FILE;
if (file) {
  register('./trace-hooks.mjs', import.meta.url);
  process.on('exit', () => appendFileSync(file, Object.keys(createRequire(import.meta.url).cache).map((f) => `${f}\n`).join('')));
}
