/**
 * A loaded model that translates text: the object `loadTranslator` returns.
 * Platform-neutral: the web page builds one from a model read over HTTP.
 * Texts and options are checked here, so a caller gets an S2SError naming
 * the text or option, never a tensor error.
 */
import { camelToKebab, checkValue, SCHEMA, type DecodingConfig, type S2SConfig } from '../config.ts';
import { translate as decode, translateStream as decodeStream, type StreamText, type Translation, type TranslationModel } from '../decode/translator.ts';
import { UserError } from '../errors.ts';
import type { SplitRecord } from '../data/split-record.ts';
import { disposeModel } from '../model/seq2seq.ts';

export type { Candidate, StreamText, Translation } from '../decode/translator.ts';

/** Longer texts are refused: a sentence model has no use for them (it reads the first data.max-len tokens). */
export const MAX_TEXT_LENGTH = 10_000;

/** Decoding settings (each defaults to the model's stored decoding config), plus the attention matrix. */
export interface TranslateOptions extends Partial<DecodingConfig> {
  /** Return each translation's attention matrix, [target tokens][source tokens]. */
  attention?: boolean;
  /** Awaited after every decoder step (a server passes one that yields to the event loop). */
  pause?: () => Promise<void>;
}

/** Checks one text; `where` names it in the error (e.g. `texts[3]`, `input.txt:4`). */
export function checkText(text: unknown, where: string): string {
  if (typeof text !== 'string') throw new UserError(`a text to translate must be a string, got ${typeof text}`, { where, code: 'BAD_TEXT' });
  if (text.trim() === '') throw new UserError('the text to translate is empty', { where, code: 'BAD_TEXT' });
  if (text.length > MAX_TEXT_LENGTH) {
    throw new UserError(`the text to translate has ${text.length} characters; at most ${MAX_TEXT_LENGTH} are accepted (one sentence at a time)`, {
      where,
      code: 'BAD_TEXT',
    });
  }
  return text;
}

/** What translating nothing gives (the CLI prints it for a blank input line). */
export function emptyTranslation(source: string): Translation {
  return { source, sourceTokens: [], truncated: 0, translation: '', tokens: [], score: 0, nbest: [{ translation: '', tokens: [], score: 0 }] };
}

export class Translator {
  #model: TranslationModel | null;
  /** Where the model was loaded from (a directory or URL), for messages. */
  readonly source: string;
  readonly config: S2SConfig;
  /** Entries in the source and target vocabularies. */
  readonly vocabSizes: { src: number; tgt: number };
  /** Which corpus pairs training held out for validation (split.json), or null: what `s2s eval --split valid` scores. */
  readonly split: SplitRecord | null;

  constructor(model: TranslationModel & { split?: SplitRecord | null }, source: string) {
    this.#model = model;
    this.source = source;
    this.config = model.config;
    this.split = model.split ?? null;
    this.vocabSizes = { src: model.srcVocab.size, tgt: model.tgtVocab.size };
  }

  /** The model's decoding config with `options` laid over it, every value checked. */
  decoding(options: TranslateOptions = {}): DecodingConfig {
    if (typeof options !== 'object' || options === null) throw new UserError('translate options must be an object', { code: 'USAGE' });
    const decoding: Record<string, unknown> = { ...this.config.decoding };
    for (const [key, value] of Object.entries(options)) {
      if (key === 'attention' || key === 'pause' || value === undefined) continue;
      const kebab = camelToKebab(key);
      if (!(kebab in SCHEMA.decoding)) throw new UserError(`unknown translate option '${key}'`, { where: key, exitCode: 2 });
      decoding[key] = checkValue('decoding', kebab, value, key, `option '${key}'`, 2);
    }
    const result = decoding as unknown as DecodingConfig;
    if (result.nbest > result.beam) {
      throw new UserError(`nbest (${result.nbest}) cannot exceed beam (${result.beam})`, { where: 'nbest', exitCode: 2 });
    }
    return result;
  }

  /** Translates each text (non-empty, at most MAX_TEXT_LENGTH characters), best first in `nbest`. */
  async translate(texts: readonly string[], options: TranslateOptions = {}): Promise<Translation[]> {
    const model = this.#model;
    if (model === null) throw new UserError('this translator has been disposed', { code: 'USAGE' });
    if (!Array.isArray(texts)) throw new UserError('translate takes an array of texts', { where: 'texts', code: 'BAD_TEXT' });
    texts.forEach((text, i) => checkText(text, `texts[${i}]`));
    const decoding = this.decoding(options);
    return decode(model, texts, { decoding, attention: options.attention === true, ...(options.pause ? { pause: options.pause } : {}) });
  }

  /**
   * Greedy translation (options.beam must be 1) of texts handed in while it
   * runs, as a server has them: before every decoder step `take(max)` gives
   * up to `max` more texts (each checked as by translate), which join the
   * search of those still translating, at most options.batchSize together;
   * each text's `done` gets what translate() gives for it as soon as it is
   * found. Resolves when nothing is translating and `take` gives nothing.
   */
  async translateStream(take: (max: number) => StreamText[], options: TranslateOptions = {}): Promise<void> {
    const model = this.#model;
    if (model === null) throw new UserError('this translator has been disposed', { code: 'USAGE' });
    const decoding = this.decoding(options);
    if (decoding.beam !== 1) throw new UserError(`translateStream searches greedily: beam must be 1, got ${decoding.beam}`, { where: 'beam', exitCode: 2 });
    const checked = (max: number): StreamText[] => take(max).map((t) => ({ text: checkText(t.text, 'text'), done: t.done }));
    await decodeStream(model, checked, { decoding, attention: options.attention === true, ...(options.pause ? { pause: options.pause } : {}) });
  }

  /** Frees the model's weights; the translator cannot be used afterwards. */
  dispose(): void {
    if (this.#model) disposeModel(this.#model.model);
    this.#model = null;
  }
}
