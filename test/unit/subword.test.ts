/**
 * BPE vocabularies (data/subword.ts, data/subword-train.ts): the cut of the
 * native trainer's model equals a trainer run to the same size, the pure
 * JavaScript tokenizer splits text exactly as the native one, and pieces
 * join back into the tokens they came from.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Subword, subwordUnits, vocabUnits, type TokenizerJSON } from '../../src/data/subword.ts';
import { cutModel, trainBpe } from '../../src/data/subword-train.ts';
import { detokenize, tokenize } from '../../src/data/tokenize.ts';
import { SPECIALS, Vocab } from '../../src/data/vocab.ts';
import { buildConfig } from '../../src/config.ts';
import { UserError } from '../../src/errors.ts';
import { REPO_ROOT } from '../helpers/cli.ts';

type NativeModule = {
  Tokenizer: { fromString(s: string): { encode(s: string): Promise<{ getTokens(): string[] }> } };
};
const native = createRequire(import.meta.url)('tokenizers') as NativeModule;

/** Column `col` of a TSV corpus, one sentence per line. */
function column(file: string, col: number): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('\t')).map((l) => l.split('\t')[col]!);
}

function wordCounts(sentences: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of sentences) for (const t of tokenize('word', s, { lowercase: true })) counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}

const TOY = join(REPO_ROOT, 'data', 'toy', 'toy.tsv');
const CMN_ENG = join(REPO_ROOT, 'data', 'cmn-eng', 'cmn-eng.tsv');

describe('BPE training', () => {
  test('the cut model equals a trainer run to the same size (fixture from the Python tokenizers 0.23.2 trainer)', () => {
    const { subword } = trainBpe(wordCounts(column(TOY, 0)), 'word', { vocabSize: 150, label: '--src-vocab-size' });
    const expected = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'bpe-toy-150.json'), 'utf8')) as {
      vocab: Record<string, number>;
      merges: [string, string][];
    };
    assert.deepEqual(subword.json.model.vocab, expected.vocab);
    assert.deepEqual(subword.json.model.merges, expected.merges);
    assert.equal(subword.tokens.length, 150);
    assert.deepEqual(subword.tokens.slice(0, 4), SPECIALS);
  });

  test('piece counts add up to the units counted', () => {
    const counts = wordCounts(column(TOY, 0));
    const { subword, counts: pieceCounts } = trainBpe(counts, 'word', { vocabSize: 100, label: '--src-vocab-size' });
    let pieces = 0;
    for (const [unit, count] of counts) pieces += subword.unitPieces(unit).length * count;
    assert.equal(pieceCounts.reduce((a, b) => a + b, 0), pieces);
    assert.deepEqual(pieceCounts.slice(0, 4), [0, 0, 0, 0]);
  });

  test('a size below the specials and the alphabet is one clear error', () => {
    assert.throws(
      () => trainBpe(wordCounts(column(TOY, 0)), 'word', { vocabSize: 20, label: '--src-vocab-size' }),
      (err: unknown) =>
        err instanceof UserError &&
        /^--src-vocab-size 20 is smaller than the 4 special tokens and the \d+ characters of the training text \(at least \d+\)$/.test(err.message),
    );
  });

  test('a size with no room beyond the specials is refused with the config', () => {
    assert.throws(
      () => buildConfig('x', { data: { srcTokenizer: 'bpe', srcVocabSize: 4 } }),
      /--src-vocab-size 4 leaves no room beyond the 4 special tokens <pad> <unk> <sos> <eos>/,
    );
    assert.doesNotThrow(() => buildConfig('x', { data: { srcVocabSize: 4 } }));
  });
});

describe('BPE application', () => {
  const trained = trainBpe(wordCounts(column(TOY, 0)), 'word', { vocabSize: 120, label: '--src-vocab-size' });

  /** The JavaScript pieces of each sentence equal the native tokenizer's on the same model. */
  async function assertSameAsNative(json: TokenizerJSON, sentences: readonly string[]): Promise<number> {
    const js = new Subword(json, 'word', 'test');
    const nat = native.Tokenizer.fromString(JSON.stringify(json));
    let compared = 0;
    for (const sentence of sentences) {
      const tokens = tokenize('word', sentence, { lowercase: true });
      if (tokens.length === 0) continue;
      const expected = (await nat.encode(tokens.join(' '))).getTokens();
      assert.deepEqual(js.pieces(tokens), expected, sentence);
      compared += 1;
    }
    return compared;
  }

  test('@huggingface/tokenizers splits the toy corpus exactly as the native tokenizers', async () => {
    assert.equal(await assertSameAsNative(trained.subword.json, column(TOY, 0)), 295);
  });

  test('… and the English side of cmn-eng (when the corpus is present)', { skip: !existsSync(CMN_ENG) && 'no data/cmn-eng' }, async () => {
    const english = column(CMN_ENG, 0);
    const { subword } = trainBpe(wordCounts(english), 'word', { vocabSize: 2000, label: '--src-vocab-size' });
    const sample = english.filter((_, i) => i % 25 === 0);
    assert.equal(await assertSameAsNative(subword.json, sample), sample.length);
  });

  test('pieces join back into the tokens; unseen characters become <unk>', () => {
    const vocab = Vocab.ofSubword(trained.subword, trained.counts);
    const tokens = tokenize('word', "Mary doesn't like these apples, does she?", { lowercase: true });
    const pieces = vocab.pieces(tokens);
    assert.ok(pieces.length > tokens.length, `${pieces.join(' ')} should split some word`);
    assert.deepEqual(vocab.units(pieces), tokens);
    assert.deepEqual(vocab.pieces(['q€']).map((p) => vocab.id(p)).includes(1), true);
  });

  test('a Chinese side is cut from the runs between spaces of its characters', () => {
    const tokens = tokenize('char', '我爱iPhone 5。', { lowercase: false });
    assert.deepEqual(subwordUnits('char', tokens), ['我爱iPhone', '5。']);
    assert.equal(detokenize('char', subwordUnits('char', tokens)), '我爱iPhone 5。');
    const data = { srcLang: 'en', tgtLang: 'zh', srcTokenizer: null, tgtTokenizer: 'bpe' as const, lowercase: true };
    assert.deepEqual(vocabUnits(data, 'tgt', tokens), ['我爱iPhone', '5。']);
    assert.deepEqual(vocabUnits(data, 'src', ['a', 'b']), ['a', 'b']);
  });

  test('a damaged tokenizer.json is one clear error', () => {
    assert.throws(() => Subword.parse('{"model": ', 'word', 'x/src.tokenizer.json'), /^UserError|not a valid tokenizer\.json: invalid JSON/);
    assert.throws(() => Subword.parse('{}', 'word', 'x'), /not a valid tokenizer\.json: no "model"/);
    const json = structuredClone(trained.subword.json);
    json.model.vocab = { ...json.model.vocab, '<pad>': 7 };
    assert.throws(() => new Subword(json, 'word', 'x'), /not a valid tokenizer\.json: bad or repeated id/);
    assert.throws(() => Vocab.fromJSON({ ...Vocab.ofSubword(trained.subword, trained.counts).toJSON(), tokens: [...SPECIALS, 'x'], counts: [0, 0, 0, 0, 1] }, 'v', trained.subword), /not the pieces of the tokenizer\.json/);
  });
});
