import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { UserError } from '../../src/errors.ts';
import { EOS, PAD, SOS, SPECIALS, UNK, Vocab, compareCodePoints, coverage } from '../../src/data/vocab.ts';
import { loadVocab, saveVocab } from '../../src/data/vocab-file.ts';

const dir = mkdtempSync(join(tmpdir(), 's2s-vocab-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const sentences = [
  ['i', 'like', 'tea', '.'],
  ['you', 'like', 'tea', '.'],
  ['i', 'like', 'coffee', '.'],
  ['tom', 'likes', 'tea', '!'],
];
const noLimits = { minFreq: 1, maxSize: 0 };

function rejectsAsUserError(fn: () => unknown, message: RegExp, where: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.match(err.message, message);
    assert.equal(err.where, where);
    return true;
  });
}

describe('Vocab.build', () => {
  test('specials first, then count descending, then code point order', () => {
    const vocab = Vocab.build(sentences, noLimits);
    assert.deepEqual([PAD, UNK, SOS, EOS], [0, 1, 2, 3]);
    assert.deepEqual(vocab.tokens, [...SPECIALS, '.', 'like', 'tea', 'i', '!', 'coffee', 'likes', 'tom', 'you']);
    assert.deepEqual(vocab.counts, [0, 0, 0, 0, 3, 3, 3, 2, 1, 1, 1, 1, 1]);
    assert.equal(vocab.size, 13);
  });

  test('the order does not depend on the order of the sentences', () => {
    const a = Vocab.build(sentences, noLimits);
    const b = Vocab.build([...sentences].reverse().map((s) => [...s].reverse()), noLimits);
    assert.deepEqual(b.tokens, a.tokens);
  });

  test('ties are broken by code points, not UTF-16 units', () => {
    // U+FF01 (！) sorts before U+20000 (𠀀) by code point, after it by UTF-16 unit (0xD840).
    const vocab = Vocab.build([['𠀀', '！', 'a']], noLimits);
    assert.deepEqual(vocab.tokens.slice(SPECIALS.length), ['a', '！', '𠀀']);
    assert.ok(compareCodePoints('！', '𠀀') < 0);
    assert.ok(compareCodePoints('ab', 'a') > 0);
    assert.equal(compareCodePoints('abc', 'abc'), 0);
  });

  test('minFreq drops rare tokens; maxSize counts the specials', () => {
    assert.deepEqual(Vocab.build(sentences, { minFreq: 2, maxSize: 0 }).tokens.slice(4), ['.', 'like', 'tea', 'i']);
    assert.deepEqual(Vocab.build(sentences, { minFreq: 1, maxSize: 6 }).tokens, [...SPECIALS, '.', 'like']);
    assert.deepEqual(Vocab.build(sentences, { minFreq: 1, maxSize: 2 }).tokens, SPECIALS);
  });

  test('special tokens in the text are not counted twice', () => {
    const vocab = Vocab.build([['<unk>', 'a', '<eos>']], noLimits);
    assert.deepEqual(vocab.tokens, [...SPECIALS, 'a']);
  });
});

describe('encode / decode', () => {
  const vocab = Vocab.build(sentences, noLimits);

  test('unknown tokens map to <unk>', () => {
    assert.deepEqual(vocab.encode(['i', 'like', 'milk', '.']), [7, 5, UNK, 4]);
    assert.equal(vocab.id('<pad>'), PAD);
  });

  test('decode inverts encode for known tokens', () => {
    const tokens = ['tom', 'likes', 'coffee', '!'];
    assert.deepEqual(vocab.decode(vocab.encode(tokens)), tokens);
    assert.deepEqual(vocab.decode([SOS, EOS]), ['<sos>', '<eos>']);
  });

  test('an id outside the vocabulary is a programming error', () => {
    assert.throws(() => vocab.decode([vocab.size]), RangeError);
  });
});

describe('saving and loading', () => {
  test('save then load round-trips exactly, through a temp file', () => {
    const vocab = Vocab.build([...sentences, ['汤', '姆', '𠀀', 'café']], noLimits);
    const path = join(dir, 'sub', 'src.vocab.json');
    saveVocab(path, vocab);
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['src.vocab.json']);
    const loaded = loadVocab(path);
    assert.deepEqual(loaded.tokens, vocab.tokens);
    assert.deepEqual(loaded.counts, vocab.counts);
    assert.deepEqual(loaded.toJSON(), vocab.toJSON());
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), vocab.toJSON());
    assert.equal(loaded.id('café'), vocab.id('café'));
  });

  test('fromJSON rejects bad input with a UserError naming where', () => {
    const good = Vocab.build(sentences, noLimits).toJSON();
    const where = 'ckpt/src.vocab.json';
    rejectsAsUserError(() => Vocab.fromJSON([], where), /object/, where);
    rejectsAsUserError(() => Vocab.fromJSON({ ...good, format: 'x' }, where), /format/, where);
    rejectsAsUserError(() => Vocab.fromJSON({ ...good, version: 2 }, where), /version/, where);
    rejectsAsUserError(() => Vocab.fromJSON({ ...good, tokens: [...good.tokens, 'extra'] }, where), /counts/, where);
    rejectsAsUserError(() => Vocab.fromJSON({ ...good, counts: good.counts.map(() => -1) }, where), /counts/, where);
    rejectsAsUserError(() => Vocab.fromJSON({ ...good, tokens: ['<unk>', '<pad>', ...good.tokens.slice(2)] }, where), /first tokens/, where);
    rejectsAsUserError(
      () => Vocab.fromJSON({ ...good, tokens: [...good.tokens.slice(0, -1), 'tea'] }, where),
      /duplicate token "tea"/,
      where,
    );
  });

  test('loadVocab: missing file and invalid JSON are UserErrors naming the file', () => {
    const missing = join(dir, 'missing.json');
    rejectsAsUserError(() => loadVocab(missing), /not found/, missing);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"format": "s2s-vocab", ');
    rejectsAsUserError(() => loadVocab(broken), /invalid JSON/, broken);
  });
});

describe('coverage', () => {
  test('counts tokens and unknowns; rate is the OOV rate', () => {
    const vocab = Vocab.build(sentences, { minFreq: 2, maxSize: 0 });
    assert.deepEqual(coverage(vocab, [['i', 'like', 'milk', '.'], ['you', '!']]), { tokens: 6, unknown: 3, rate: 0.5 });
    assert.deepEqual(coverage(vocab, []), { tokens: 0, unknown: 0, rate: 0 });
  });
});
