/**
 * `exportWeb`: a static folder that any static file server can host.
 *
 *   index.html      the page
 *   app.js          one bundle (built here with esbuild): the page, and the
 *                   same tokenizers, model and search code as the CLI
 *   tfjs-backend-wasm*.wasm   the WebAssembly backend (used without WebGL)
 *   model/          the model directory the page loads (as `s2s export` writes it)
 *   s2s-web.json    marks the folder as an s2s web export (so a new export may replace it)
 *
 * The folder is written beside its destination and renamed into place: an
 * interrupted export leaves the previous one (or nothing) behind.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';
import { wasmBinaryDir } from '../backend/index.ts';
import { UserError } from '../errors.ts';
import { recoverInterrupted } from '../fs-atomic.ts';
import { exportModel, resolveModelDir } from '../model-dir.ts';
import { PROJECT_ROOT, s2sVersion } from '../project.ts';

export const WEB_FORMAT = 's2s-web';
const MARKER = 's2s-web.json';
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

export interface WebExport {
  out: string;
  /** Relative path → bytes, of every file written. */
  files: Record<string, number>;
}

/** The page's sources, also when s2s runs from a build: the bundle is built from them at export time. */
const WEB_SOURCES = join(PROJECT_ROOT, 'src', 'web');

/**
 * Checks that `out` may be written: absent, an empty directory, or an earlier
 * s2s web export. Anything else is the user's and is left alone.
 */
export function checkWebOut(out: string): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) {
    throw new UserError('exists and is not a directory; choose a new folder for the web page', { where: out, code: 'OUTPUT' });
  }
  if (readdirSync(out).length > 0 && !existsSync(join(out, MARKER))) {
    throw new UserError('folder exists and is not an s2s web export; choose a new or empty folder', { where: out, code: 'OUTPUT' });
  }
}

/**
 * Replaces `target` by `tmp` with renames; a previous export is removed only
 * once the new one is in place (after a kill in between, recoverInterrupted
 * puts it back).
 */
async function swapInto(tmp: string, target: string): Promise<void> {
  const old = join(dirname(target), `.${basename(target)}.old-${process.pid}-${Date.now()}`);
  if (existsSync(target)) await rename(target, old);
  await rename(tmp, target);
  await rm(old, { recursive: true, force: true });
}

/** The page as one ES module (minified), from src/web/page.ts and what it imports. */
export async function bundlePage(): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [join(WEB_SOURCES, 'page.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    write: false,
    logLevel: 'silent',
    legalComments: 'eof',
  });
  return result.outputFiles[0]!.contents;
}

export interface WebExportOptions {
  /** Store the model's weights as float16 (half the bytes to download). */
  float16?: boolean;
}

/**
 * Writes the web page and a model directory exported from `checkpoint` (a
 * checkpoint, model directory or training output directory) into `out`.
 * Everything is checked before anything is written.
 */
export async function exportWeb(checkpoint: string, out: string, opts: WebExportOptions = {}): Promise<WebExport> {
  const target = resolve(out);
  recoverInterrupted(target);
  checkWebOut(target);
  resolveModelDir(checkpoint);
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now()}`);
  const files: Record<string, number> = {};
  const put = async (name: string, data: Uint8Array | string): Promise<void> => {
    await writeFile(join(tmp, name), data);
    files[name] = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  };
  try {
    await mkdir(tmp, { recursive: true });
    await exportModel(checkpoint, join(tmp, 'model'), { float16: opts.float16 === true });
    for (const name of readdirSync(join(tmp, 'model'))) files[`model/${name}`] = statSync(join(tmp, 'model', name)).size;
    await put('app.js', await bundlePage());
    await put('index.html', await readFile(join(WEB_SOURCES, 'index.html')));
    const wasmDir = wasmBinaryDir();
    for (const name of WASM_FILES) await put(name, await readFile(join(wasmDir, name)));
    await put(MARKER, JSON.stringify({ format: WEB_FORMAT, s2s: s2sVersion(), created: new Date().toISOString() }, null, 1));
    await swapInto(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    const code = (err as NodeJS.ErrnoException).code;
    if (['ENOSPC', 'EACCES', 'EROFS', 'EPERM', 'EDQUOT', 'ENOTDIR'].includes(code ?? '')) {
      throw new UserError(`cannot write the web page (${code})`, { where: target, code: 'OUTPUT' });
    }
    throw err;
  }
  return { out: target, files };
}
