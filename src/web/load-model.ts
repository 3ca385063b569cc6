/**
 * Loads the model directory beside the page over HTTP: the loader Node uses
 * (model/checkpoint-files.ts), reading files with fetch.
 */
import { readCheckpoint, type ReadFile } from '../model/checkpoint-files.ts';
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

/** The model at `base` (a URL ending in `/`), every file checked against its manifest. */
export async function loadModel(base: string): Promise<TranslationModel> {
  return readCheckpoint(fetchReader(base), { label: (name) => new URL(name, base).href, optimizer: false });
}
