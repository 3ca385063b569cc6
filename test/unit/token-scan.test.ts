/**
 * The hand-written scanners and NFKC shortcut (token-scan.ts) against the
 * regular expressions and String.prototype.normalize they replace: the same
 * tokens on the toy corpus, the real corpus when present, and seeded random
 * text built from the characters where the rules are subtle.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { maybeSpace, nfkc, scanCharTokens, scanWordTokens } from '../../src/data/token-scan.ts';
import { CHAR_TOKEN, WORD_TOKEN, tokenize } from '../../src/data/tokenize.ts';
import { Rng } from '../../src/train/rng.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The tokenizers as they were written before the scanners: regular expressions and normalize() throughout. */
const CURLY_APOSTROPHE = /(?<=[\p{L}\p{N}])[\u2018\u2019\u02BC](?=\p{L})/gu;
function referenceWords(text: string, lowercase: boolean): string[] {
  const n = text.normalize('NFKC').replace(CURLY_APOSTROPHE, "'");
  return (lowercase ? n.toLowerCase() : n).match(WORD_TOKEN) ?? [];
}
function referenceChars(text: string, lowercase: boolean): string[] {
  const n = /[\uFF01-\uFF5E]/.test(text) ? text.replace(/[^\uFF01-\uFF5E]+/g, (run) => run.normalize('NFKC')) : text.normalize('NFKC');
  const half = n.replace(/[\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
  return (lowercase ? half.toLowerCase() : half).match(CHAR_TOKEN) ?? [];
}

function check(text: string): void {
  assert.deepEqual(scanWordTokens(text), text.match(WORD_TOKEN) ?? [], `word scan of ${JSON.stringify(text)}`);
  assert.deepEqual(scanCharTokens(text), text.match(CHAR_TOKEN) ?? [], `char scan of ${JSON.stringify(text)}`);
  assert.equal(nfkc(text), text.normalize('NFKC'), `nfkc of ${JSON.stringify(text)}`);
  for (const lowercase of [true, false]) {
    assert.deepEqual(tokenize('word', text, { lowercase }), referenceWords(text, lowercase), `word tokens of ${JSON.stringify(text)}`);
    assert.deepEqual(tokenize('char', text, { lowercase }), referenceChars(text, lowercase), `char tokens of ${JSON.stringify(text)}`);
  }
}

function columns(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').flatMap((line) => line.split('\t').slice(0, 2));
}

/** Characters where the rules differ: separators, s/S before an apostrophe, marks, CJK, full-width forms, surrogates, compatibility forms. */
const ALPHABET = [
  ...'aAsSzZ09.,:\'-  \t',
  '\u0301', '\u0308', 'e', 'é', 'ß', 'İ', '\u00a0', '\u3000', '½', 'ﬁ', '²', '…', '™',
  '中', '文', '。', '，', '？', '！', 'ー', 'か', '\u3099', 'カ', '\uff76', '한', '\u1100', '\u1161', 'ㄅ',
  '\uff10', '\uff21', '\uff41', '\uff0e', '\uff07',
  '\u2018', '\u2019', '\u02bc', '“', '”', '\u2014', '\u2010',
  '٣', 'क', '\u093f', 'ا', 'Ω', 'Ω',
  '😀', '𠀀', '𝐀', '\ud800', '\udc00',
];

describe('token scanners', () => {
  test('match the regular expressions on the toy corpus', () => {
    for (const text of columns(`${root}data/toy/toy.tsv`)) check(text);
  });

  test('match the regular expressions on a sample of the real corpus (when present)', { skip: !existsSync(`${root}data/cmn-eng/cmn-eng.tsv`) }, () => {
    const texts = columns(`${root}data/cmn-eng/cmn-eng.tsv`);
    for (let i = 0; i < texts.length; i += 7) check(texts[i]!);
  });

  test('match the regular expressions on seeded random text of tricky characters', () => {
    const rng = new Rng('token-scan');
    for (let n = 0; n < 20000; n++) {
      let text = '';
      const length = 1 + rng.int(12);
      for (let k = 0; k < length; k++) text += ALPHABET[rng.int(ALPHABET.length)];
      check(text);
    }
  });

  test('cases the rules single out', () => {
    for (const text of ["girls' s'a s'", '1,000. 3.14.15 8:30: a.b.c a.b u.s.', '... -- - . well-known- -x', 'e\u0301 café ﬁne ½ ２０２０ ＡＢ', '中文iPhone 5,3.5中 a-b\'c:d', 'x\ud83d'])
      check(text);
  });
});

describe('maybeSpace', () => {
  test('holds for every code unit \\s matches and trim() removes', () => {
    let spaces = 0;
    for (let unit = 0; unit < 0x10000; unit++) {
      const c = String.fromCharCode(unit);
      if (/\s/.test(c) || c.trim() === '') {
        spaces += 1;
        assert.ok(maybeSpace(unit), unit.toString(16));
      }
    }
    assert.ok(spaces >= 25);
    for (const c of 'aZ09.,汤。\'-') assert.equal(maybeSpace(c.charCodeAt(0)), false, c);
  });
});
