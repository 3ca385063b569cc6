/**
 * Truecasing for lowercased word targets, as Moses' truecaser does it: the
 * model is trained on lowercased words, and its output gets back the case the
 * training target side writes each word in.
 *
 * - Learning: for each lowercased word, the counts of its cased forms in the
 *   training targets, outside sentence-initial position (the first word, and
 *   the first after `.`, `!`, `?`); a word seen only sentence-initially counts
 *   those occurrences, where a mere capital first letter says nothing.
 * - The table: lowercase word → its most frequent cased form, for words whose
 *   form is not the lowercase one (`i` → `I`, `tom` → `Tom`), stored with the
 *   target vocabulary (vocab.ts).
 * - Applying: each output word takes its form from the table, then the first
 *   word of each sentence gets a capital first letter. Without a table (a
 *   checkpoint saved before tables existed) only the capitalisation applies.
 *
 * Pure functions and plain maps: runs in the browser too.
 */
import { sideTokenizer, tokenize, type SideSettings } from './tokenize.ts';
import { compareCodePoints, UNK, type Vocab } from './vocab.ts';

/** Tokens after which a new sentence starts. */
const SENTENCE_END = new Set(['.', '!', '?', '...', '…']);
const HAS_LETTER = /\p{L}/u;
const HAS_LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/** Whether the target side is lowercased word tokens, the side truecasing restores. */
export function truecasedSide(data: Readonly<SideSettings>): boolean {
  const { kind, options } = sideTokenizer(data, 'tgt');
  return kind === 'word' && options.lowercase;
}

/** The target side's tokens as written (the training tokenizer without lowercasing). */
export function casedTargetTokens(data: Readonly<SideSettings>, text: string): string[] {
  return tokenize(sideTokenizer(data, 'tgt').kind, text, { lowercase: false });
}

/**
 * Calls `visit(token, index, initial)` for each token that holds a letter;
 * `initial` is true for the first such token of each sentence. Punctuation
 * other than a sentence end (an opening quote or bracket) does not end the
 * sentence-initial position.
 */
function forEachWord(tokens: readonly string[], visit: (token: string, index: number, initial: boolean) => void): void {
  let atStart = true;
  tokens.forEach((token, i) => {
    if (SENTENCE_END.has(token)) {
      atStart = true;
      return;
    }
    if (!HAS_LETTER_OR_DIGIT.test(token)) return;
    if (HAS_LETTER.test(token)) visit(token, i, atStart);
    atStart = false;
  });
}

/** `tom` → `Tom`: the first code point upper-cased. */
export function capitalise(token: string): string {
  const first = String.fromCodePoint(token.codePointAt(0)!);
  return first.toUpperCase() + token.slice(first.length);
}

/** Counts of cased forms in training target sentences; `table()` turns them into the truecasing table. */
export interface CaseCountMaps {
  inner: ReadonlyMap<string, number>;
  initial: ReadonlyMap<string, number>;
}

export class CaseCounts {
  /** Cased form → count, outside sentence-initial position. */
  private readonly inner = new Map<string, number>();
  /** Cased form → count, sentence-initially. */
  private readonly initial = new Map<string, number>();

  /** Counts the words of one sentence, tokenized without lowercasing (`by = -1` takes a sentence back). */
  add(cased: readonly string[], by = 1): void {
    forEachWord(cased, (token, _i, initial) => {
      const counts = initial ? this.initial : this.inner;
      const n = (counts.get(token) ?? 0) + by;
      if (n === 0) counts.delete(token);
      else counts.set(token, n);
    });
  }

  /** The counts as plain maps (to send to another thread and addCounts there). */
  counts(): CaseCountMaps {
    return { inner: this.inner, initial: this.initial };
  }

  /** Adds the counts of another CaseCounts (a part of the same corpus counted elsewhere). */
  addCounts(other: CaseCountMaps): void {
    const merge = (into: Map<string, number>, from: ReadonlyMap<string, number>): void => {
      for (const [form, by] of from) {
        const n = (into.get(form) ?? 0) + by;
        if (n === 0) into.delete(form);
        else into.set(form, n);
      }
    };
    merge(this.inner, other.inner);
    merge(this.initial, other.initial);
  }

  /**
   * Lowercase word → its most frequent cased form, for the words where that
   * form is not the lowercase one; `keep` limits it to e.g. a vocabulary.
   * Ties go to the lowercase form, then to the first in code-point order.
   */
  table(keep: (lower: string) => boolean = () => true): Map<string, string> {
    const group = (counts: Map<string, number>): Map<string, Map<string, number>> => {
      const byLower = new Map<string, Map<string, number>>();
      for (const [form, n] of counts) {
        const lower = form.toLowerCase();
        if (!keep(lower)) continue;
        let forms = byLower.get(lower);
        if (forms === undefined) byLower.set(lower, (forms = new Map()));
        forms.set(form, n);
      }
      return byLower;
    };
    const inner = group(this.inner);
    const initial = group(this.initial);
    const table = new Map<string, string>();
    for (const lower of new Set([...inner.keys(), ...initial.keys()])) {
      const innerForms = inner.get(lower);
      let best = mostFrequent(innerForms ?? initial.get(lower)!, lower);
      // Seen only sentence-initially: `Hello` is capitalised by its position, `NASA` is not.
      if (innerForms === undefined && best === capitalise(lower)) best = lower;
      if (best !== lower) table.set(lower, best);
    }
    return new Map([...table].sort(([a], [b]) => compareCodePoints(a, b)));
  }
}

function mostFrequent(forms: ReadonlyMap<string, number>, lower: string): string {
  let best = lower;
  let bestCount = forms.get(lower) ?? 0;
  for (const [form, n] of [...forms].sort(([a], [b]) => compareCodePoints(a, b))) {
    if (n > bestCount) {
      best = form;
      bestCount = n;
    }
  }
  return best;
}

/** The target vocabulary with the table of `counts` (null: the side is not truecased, the vocabulary as it is). */
export function withTruecasing(vocab: Vocab, counts: CaseCounts | null): Vocab {
  return counts === null ? vocab : vocab.withCased(counts.table((token) => vocab.subword !== null || vocab.id(token) !== UNK));
}

/**
 * Output tokens with their case restored: each word's form from `table`
 * (lowercase words not in it stay lowercase), and a capital first letter on
 * the first word of each sentence. Punctuation and numbers are unchanged.
 */
export function truecase(tokens: readonly string[], table: ReadonlyMap<string, string>): string[] {
  const out = [...tokens];
  forEachWord(tokens, (token, i, initial) => {
    const form = table.get(token) ?? token;
    out[i] = initial ? capitalise(form) : form;
  });
  return out;
}
