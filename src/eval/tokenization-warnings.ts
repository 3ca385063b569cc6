/**
 * Heuristics for text that was tokenized before scoring, which makes BLEU
 * incomparable with published numbers: sacreBLEU's own check (≥ 100 lines
 * ending in " .") and one for Chinese (spaces between Han characters, e.g.
 * word-segmented or char-split output) — the most common reason two Chinese
 * BLEU numbers for the same system disagree.
 */

/** sacreBLEU warns once this many lines end in a tokenized period. */
export const SACREBLEU_TOKENIZED_PERIOD_LINES = 100;

const HAN_SPACE_HAN = /\p{Script=Han}[\p{White_Space}]+\p{Script=Han}/u;
const TWO_HAN = /\p{Script=Han}[^]*\p{Script=Han}/u;

/** Fraction of lines with ≥ 2 Han characters that have whitespace between two Han characters. */
export function spacedHanLineFraction(lines: readonly string[]): number {
  let candidates = 0;
  let spaced = 0;
  for (const line of lines) {
    if (!TWO_HAN.test(line)) continue;
    candidates++;
    if (HAN_SPACE_HAN.test(line)) spaced++;
  }
  return candidates === 0 ? 0 : spaced / candidates;
}

/** Why `lines` look already tokenized, or null if they do not. */
export function tokenizationWarning(lines: readonly string[]): string | null {
  const spacedHan = spacedHanLineFraction(lines);
  if (spacedHan >= 0.5) {
    const percent = Math.round(spacedHan * 100);
    return `${percent}% of the Chinese lines have spaces between Chinese characters: they look already tokenized (BLEU with tok:zh is then not comparable to published numbers; score detokenized text)`;
  }
  const tokenizedPeriods = lines.filter((line) => line.endsWith(' .')).length;
  if (tokenizedPeriods >= SACREBLEU_TOKENIZED_PERIOD_LINES) {
    return `${tokenizedPeriods} lines end in a tokenized period (' .'): it looks like you forgot to detokenize, which may hurt your score`;
  }
  return null;
}

/** sacreBLEU's "looks tokenized" heuristic plus the Chinese one. */
export function looksTokenized(lines: readonly string[]): boolean {
  return tokenizationWarning(lines) !== null;
}
