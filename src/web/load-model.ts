/**
 * Loads the model directory beside the page over HTTP: the loader Node uses
 * (model/checkpoint-files.ts), reading files with fetch.
 */
import { MANIFEST, TRAINING_FILES, readCheckpoint, type ReadFile } from '../model/checkpoint-files.ts';
import type { TranslationModel } from '../decode/translator.ts';
import { UserError } from '../errors.ts';

/** Reads files relative to `base` (a URL ending in `/`) with fetch; an HTTP error names the URL. */
export function fetchReader(base: string): ReadFile {
  return async (name) => {
    const url = new URL(name, base).href;
    let response: Response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw new UserError(`cannot fetch (${(err as Error).message})`, { where: url });
    }
    if (!response.ok) throw new UserError(`HTTP ${response.status} ${response.statusText}`.trim(), { where: url });
    return new Uint8Array(await response.arrayBuffer());
  };
}

/**
 * A reader that, once the manifest has arrived, fetches every file it lists
 * at once (not one after the other as the loader asks for them); training
 * state is never fetched. Call it with MANIFEST early to start downloading.
 */
export function prefetchingReader(read: ReadFile): ReadFile {
  const started = new Map<string, Promise<Uint8Array>>();
  const get = (name: string): Promise<Uint8Array> => {
    let bytes = started.get(name);
    if (!bytes) {
      bytes = read(name);
      // Marked as handled: a failed prefetch surfaces when the loader reads that file.
      bytes.catch(() => {});
      started.set(name, bytes);
    }
    return bytes;
  };
  return async (name) => {
    const bytes = await get(name);
    if (name === MANIFEST) {
      try {
        const listed = Object.keys((JSON.parse(new TextDecoder().decode(bytes)) as { files: object }).files);
        for (const file of listed) if (!TRAINING_FILES.includes(file)) void get(file);
      } catch {
        // A malformed manifest is the loader's to report.
      }
    }
    return bytes;
  };
}

/** Starts downloading the model at `base` (a URL ending in `/`); `loadModel` finishes it. */
export function startDownload(base: string): ReadFile {
  const read = prefetchingReader(fetchReader(base));
  void read(MANIFEST).catch(() => {});
  return read;
}

/** The model at `base`, every file checked against its manifest (needs a tfjs backend). */
export async function loadModel(base: string, read: ReadFile = startDownload(base)): Promise<TranslationModel> {
  return readCheckpoint(read, { label: (name) => new URL(name, base).href, optimizer: false });
}
