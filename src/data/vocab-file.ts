/** Vocabulary files on disk (Node only); vocab.ts itself runs in the browser too. */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../fs-atomic.ts';
import { UserError } from '../errors.ts';
import type { Subword } from './subword.ts';
import { Vocab } from './vocab.ts';

/** Writes the vocabulary as JSON, to a temporary file first then renamed, so a crash never leaves half a file. */
export function saveVocab(path: string, vocab: Vocab): void {
  writeFileAtomic(path, JSON.stringify(vocab.toJSON()) + '\n');
}

/** Reads a vocabulary file; with `subword`, the BPE model whose pieces it must hold. */
export function loadVocab(path: string, subword: Subword | null = null): Vocab {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? 'vocabulary file not found' : `cannot read vocabulary (${code})`, { where: path });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`not a valid vocabulary: invalid JSON (${(err as Error).message})`, { where: path });
  }
  return Vocab.fromJSON(json, path, subword);
}
