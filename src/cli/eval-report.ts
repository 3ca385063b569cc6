/**
 * What `s2s eval` prints: sacreBLEU-style score lines, JSON objects and the
 * `--explain` table. Pure functions from results to text; eval.ts writes it.
 */
import { formatBleu, type BleuResult } from '../eval/bleu.ts';
import { formatChrf, type ChrfResult } from '../eval/chrf.ts';
import { formatFixed } from '../eval/python-compat.ts';
import { shortSignature } from '../eval/signature.ts';
import type { BleuTokenizer } from '../eval/tokenizers.ts';

/** How score lines are written: sacreBLEU's `--width`, `--score-only` and `--short`. */
export interface LineStyle {
  width: number;
  scoreOnly: boolean;
  short: boolean;
}

/** sacreBLEU's `Score.format` for BLEU: `BLEU|nrefs:1|…|version:2.6.0 = 23.45 55.1/…(BP = …)`, or the score alone. */
export function bleuLine(result: BleuResult, style: LineStyle): string {
  if (style.scoreOnly) return formatFixed(result.score, style.width);
  const signature = style.short ? shortSignature(result.signature) : result.signature;
  return formatBleu({ ...result, signature }, style.width);
}

/** sacreBLEU's `Score.format` for chrF: `chrF2|nrefs:1|…|version:2.6.0 = 45.67`, or the score alone. */
export function chrfLine(result: ChrfResult, style: LineStyle): string {
  if (style.scoreOnly) return formatFixed(result.score, style.width);
  const signature = style.short ? shortSignature(result.signature) : result.signature;
  return formatChrf({ ...result, signature }, style.width);
}

/**
 * Corpus-level lines as sacreBLEU's `print_single_results` prints them: one
 * line alone; several with the text before ` = ` right-aligned, so the `=`
 * signs line up (lines without `=`, i.e. `--score-only`, as they are).
 */
export function alignScoreLines(lines: readonly string[]): string {
  if (lines.length <= 1) return lines.map((line) => `${line}\n`).join('');
  const plain = lines.filter((line) => !line.includes('='));
  const aligned = lines.filter((line) => line.includes('='));
  const lefts = aligned.map((line) => line.indexOf('=') - 1);
  const width = Math.max(0, ...lefts);
  const out = [
    ...plain,
    ...aligned.map((line, i) => line.slice(0, lefts[i]).padStart(width) + line.slice(lefts[i])),
  ];
  return out.map((line) => `${line}\n`).join('');
}

/** The JSON fields of a BLEU score (names and meanings as in the sacreBLEU test vectors). */
export function bleuJson(result: BleuResult): Record<string, unknown> {
  return {
    name: 'BLEU',
    score: result.score,
    counts: result.counts,
    totals: result.totals,
    precisions: result.precisions,
    bp: result.bp,
    sys_len: result.sys_len,
    ref_len: result.ref_len,
    ratio: result.ratio,
    signature: result.signature,
  };
}

export function chrfJson(result: ChrfResult): Record<string, unknown> {
  return { name: result.name, score: result.score, signature: result.signature };
}

export interface ExplainRow {
  tokenize: BleuTokenizer;
  result: BleuResult;
  /** The first hypothesis as this tokenizer splits it. */
  example: string[];
}

const TOKENIZER_NOTES: Readonly<Record<BleuTokenizer, string>> = {
  zh: "sacreBLEU's Chinese tokenizer: one token per CJK character, 13a rules for the rest (the WMT standard for Chinese)",
  char: 'every character is a token (Latin words too)',
  '13a': 'the default for European languages: a run of Chinese characters without spaces is ONE token',
  intl: 'like 13a, but splits all Unicode punctuation and symbols',
  none: 'split on whitespace only: the score depends on how the text was tokenized before',
};

const EXAMPLE_TOKENS = 12;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  return rows.map((row) => row.map((cell, col) => cell.padEnd(widths[col]!)).join('  ').trimEnd()).join('\n');
}

/** `--explain`: the same hypotheses scored under several tokenizers, with notes and warnings. */
export function formatExplain(rows: readonly ExplainRow[], warnings: readonly string[], width: number): string {
  const header = ['tok', 'BLEU', '1/2/3/4-gram precision', 'BP', 'hyp_len', 'ref_len'];
  const body = rows.map(({ tokenize, result }) => [
    tokenize,
    formatFixed(result.score, width),
    result.precisions.map((p) => formatFixed(p, 1)).join('/'),
    formatFixed(result.bp, 3),
    String(result.sys_len),
    String(result.ref_len),
  ]);
  const examples = rows.map(({ tokenize, example }) => {
    const shown = example.slice(0, EXAMPLE_TOKENS).join(' | ');
    const more = example.length > EXAMPLE_TOKENS ? ` | … (${example.length} tokens)` : '';
    return `  ${tokenize.padEnd(4)} ${shown}${more}`;
  });
  const notes = rows.map(({ tokenize }) => `  ${tokenize.padEnd(4)} ${TOKENIZER_NOTES[tokenize]}`);
  const sections = [
    table([header, ...body]),
    `\nThe first hypothesis as each tokenizer splits it:\n${examples.join('\n')}`,
    `\nTokenizers:\n${notes.join('\n')}`,
    '\nPublished Chinese BLEU is usually tok:zh on detokenized text; always quote the signature.',
  ];
  if (warnings.length > 0) sections.push(`\n${warnings.map((w) => `warning: ${w}`).join('\n')}`);
  return `${sections.join('\n')}\n`;
}
