/**
 * `exportWeb`: a static folder that any static file server can host.
 *
 *   index.html      the page
 *   app.js          one bundle (built here with esbuild): the page, and the
 *                   same tokenizers, model and search code as the CLI
 *   tfjs-backend-wasm*.wasm   the WebAssembly backend (used without WebGL)
 *   model/          the model directory the page loads
 *   s2s-web.json    marks the folder as an s2s web export (so a new export may replace it)
 *
 * The folder is written beside its destination and renamed into place: an
 * interrupted export leaves the previous one (or nothing) behind.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { wasmBinaryDir } from '../backend/index.ts';
import { UserError } from '../errors.ts';
import { MANIFEST, parseManifest, type Manifest } from '../model/checkpoint-files.ts';
import { s2sVersion } from '../project.ts';

export const WEB_FORMAT = 's2s-web';
const MARKER = 's2s-web.json';
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

export interface WebExport {
  out: string;
  /** Relative path → bytes, of every file written. */
  files: Record<string, number>;
}

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Checks that `out` may be written: absent, an empty directory, or an earlier
 * s2s web export. Anything else is the user's and is left alone.
 */
export function checkWebOut(out: string): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new UserError('exists and is not a directory; choose a new folder for the web page', { where: out });
  if (readdirSync(out).length > 0 && !existsSync(join(out, MARKER))) {
    throw new UserError('folder exists and is not an s2s web export; choose a new or empty folder', { where: out });
  }
}

/** The model directory's manifest (which files to copy); anything else is an error naming the directory. */
async function readManifest(modelDir: string): Promise<Manifest> {
  const path = join(modelDir, MANIFEST);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch {
    throw new UserError(`not an s2s model directory or checkpoint (no ${MANIFEST})`, { where: modelDir });
  }
  return parseManifest(bytes, path);
}

/** Replaces `target` by `tmp` with renames; a previous export is removed only once the new one is in place. */
async function swapInto(tmp: string, target: string): Promise<void> {
  const old = `${tmp}.old`;
  if (existsSync(target)) await rename(target, old);
  await rename(tmp, target);
  await rm(old, { recursive: true, force: true });
}

/** The page as one ES module (minified), from src/web/page.ts and what it imports. */
export async function bundlePage(): Promise<Uint8Array> {
  const entry = existsSync(join(here, 'page.ts')) ? join(here, 'page.ts') : join(here, 'page.js');
  const result = await build({
    entryPoints: [entry],
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

/**
 * Writes the web page for the model directory (or checkpoint) `modelDir` into `out`.
 * @param modelDir a model directory (or a checkpoint: every file its manifest lists is copied)
 */
export async function exportWeb(modelDir: string, out: string): Promise<WebExport> {
  const target = resolve(out);
  checkWebOut(target);
  const manifest = await readManifest(modelDir);
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now()}`);
  const files: Record<string, number> = {};
  const put = async (name: string, data: Uint8Array | string): Promise<void> => {
    await writeFile(join(tmp, name), data);
    files[name] = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  };
  try {
    await mkdir(join(tmp, 'model'), { recursive: true });
    await put('app.js', await bundlePage());
    await put('index.html', await readFile(join(here, 'index.html')));
    const wasmDir = wasmBinaryDir();
    for (const name of WASM_FILES) await put(name, await readFile(join(wasmDir, name)));
    for (const name of [...Object.keys(manifest.files), MANIFEST]) {
      try {
        await copyFile(join(modelDir, name), join(tmp, 'model', name));
      } catch {
        throw new UserError('model file is missing or unreadable', { where: join(modelDir, name) });
      }
      files[`model/${name}`] = statSync(join(tmp, 'model', name)).size;
    }
    await put(MARKER, JSON.stringify({ format: WEB_FORMAT, s2s: s2sVersion(), created: new Date().toISOString() }, null, 1));
    await swapInto(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    const code = (err as NodeJS.ErrnoException).code;
    if (['ENOSPC', 'EACCES', 'EROFS', 'EPERM', 'EDQUOT', 'ENOTDIR'].includes(code ?? '')) {
      throw new UserError(`cannot write the web page (${code})`, { where: target });
    }
    throw err;
  }
  return { out: target, files };
}
