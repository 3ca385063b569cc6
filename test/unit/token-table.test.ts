/**
 * TokenTable (src/data/token-count.ts): provisional ids in order of first
 * appearance and counts, whichever of its three tables a token lives in
 * (one code unit; 2–7 code units below 256, packed; any other), against a
 * Map doing the same.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TokenTable } from '../../src/data/token-count.ts';
import { Rng } from '../../src/train/rng.ts';

/** Tokens of every kind: single units (ASCII, CJK), short Latin-1 words, long words, words with a unit over 255, NUL. */
function randomToken(rng: Rng): string {
  const kind = rng.int(6);
  const letters = (n: number, from: number, span: number): string => Array.from({ length: n }, () => String.fromCharCode(from + rng.int(span))).join('');
  if (kind === 0) return letters(1, 0x61, 26);
  if (kind === 1) return letters(1, 0x4e00, 3000);
  if (kind === 2) return letters(2 + rng.int(6), 0x61, 6); // 2–7 units, few letters: many repeats and near-misses
  if (kind === 3) return letters(2 + rng.int(6), 0, 256); // every Latin-1 unit, NUL included
  if (kind === 4) return letters(8 + rng.int(5), 0x61, 4);
  return letters(1 + rng.int(6), 0x61, 3) + String.fromCharCode(0x100 + rng.int(50));
}

describe('TokenTable', () => {
  test('numbers tokens in order of first appearance and counts them, as a Map does', () => {
    const rng = new Rng('token-table');
    const table = new TokenTable();
    const ids = new Map<string, number>();
    const counts = new Map<string, number>();
    // Tokens a packing could confuse: trailing NULs, the length's byte, the two halves' border, the top units.
    const tricky = ['ab', 'ab\0', 'ab\0\0', '\0ab', 'abcd', 'abcd\0', 'abcde', 'abc\0e', 'abcdefg', 'abcdefg\0', '\0\0', '\x07\0', 'ÿÿ', 'ÿÿÿÿÿÿÿ', 'ĀĀ', 'Āb'];
    for (let i = 0; i < 60_000; i++) {
      const token = i % 10 === 0 ? tricky[(i / 10) % tricky.length]! : randomToken(rng);
      // Looked up inside a longer text, as the tokenizers' spans give it.
      const text = `«${token}»`;
      if (!ids.has(token)) ids.set(token, ids.size);
      counts.set(token, (counts.get(token) ?? 0) + 1);
      assert.equal(table.idOf(text, 1, 1 + token.length), ids.get(token), JSON.stringify(token));
    }
    assert.ok(ids.size > 20_000, `${ids.size} distinct tokens: every table grows`);
    assert.deepEqual(table.tokens, [...ids.keys()]);
    assert.deepEqual(table.countMap(), counts);
    // Known tokens take no new id; uncount takes counts back.
    const known = [...ids.keys()].filter((_, i) => i % 7 === 0);
    for (const token of known) assert.equal(table.intern(token), ids.get(token));
    table.uncount(known);
    for (const token of known) counts.set(token, counts.get(token)! - 1);
    assert.deepEqual(table.countMap(), new Map([...counts].filter(([, n]) => n > 0)));
    assert.equal(table.tokens.length, ids.size);
  });
});
