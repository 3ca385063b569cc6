import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildConfig } from '../../src/config.ts';
import { buildVocabs, type TokenizedPair } from '../../src/data/dataset.ts';
import { tokenizeSide } from '../../src/data/tokenize.ts';
import { CaseCounts, capitalise, casedTargetTokens, truecase, truecasedSide } from '../../src/data/truecase.ts';
import { Vocab } from '../../src/data/vocab.ts';
import { targetText } from '../../src/decode/translator.ts';
import { UserError } from '../../src/errors.ts';

const zhEn = buildConfig('test', {}, { data: { srcLang: 'zh', tgtLang: 'en' } }).data;

describe('truecasing', () => {
  test('a tiny table: each word takes its form, each sentence a capital first letter', () => {
    const table = new Map([
      ['i', 'I'],
      ['tom', 'Tom'],
      ['nasa', 'NASA'],
    ]);
    assert.deepEqual(truecase(['tom', 'and', 'i', 'like', 'nasa', '.', 'he', 'is', 'here', '!'], table), [
      'Tom', 'and', 'I', 'like', 'NASA', '.', 'He', 'is', 'here', '!',
    ]);
    // Opening quotes and numbers: the first word after a quote is sentence-initial, a number takes its place.
    assert.deepEqual(truecase(['"', 'yes', '"', ',', 'said', 'tom', '.'], table), ['"', 'Yes', '"', ',', 'said', 'Tom', '.']);
    assert.deepEqual(truecase(['3', 'cats', '.'], table), ['3', 'cats', '.']);
    // No table (a checkpoint saved before tables existed): sentence-initial capitals only.
    assert.deepEqual(truecase(['she', 'is', 'hungry', '.', 'i', 'am', '.'], new Map()), ['She', 'is', 'hungry', '.', 'I', 'am', '.']);
    assert.equal(capitalise('élan'), 'Élan');
  });

  test('the table counts words outside sentence-initial position, where possible', () => {
    const counts = new CaseCounts();
    for (const s of ['Tom likes tea.', 'I think Tom is here.', 'The cat sleeps. The dog too.', 'NASA is big.', 'Hello there.', 'You and I know the way.']) {
      counts.add(casedTargetTokens(zhEn, s));
    }
    assert.deepEqual(Object.fromEntries(counts.table()), { i: 'I', nasa: 'NASA', tom: 'Tom' });
    // `the` is counted lowercase (its capitals are sentence-initial); `hello`, seen only there, stays lowercase.
    counts.add(casedTargetTokens(zhEn, 'You and I know the way.'), -1);
    assert.deepEqual(Object.fromEntries(counts.table()), { nasa: 'NASA', tom: 'Tom' });
    counts.add(casedTargetTokens(zhEn, 'I think Tom is here.'), -1);
    counts.add(casedTargetTokens(zhEn, 'Tom likes tea.'), -1);
    assert.deepEqual(Object.fromEntries(counts.table()), { nasa: 'NASA' });
  });

  test('the table is stored with the target vocabulary and round-trips through JSON', () => {
    const targets = ['Tom likes tea.', 'You and I like Tom.', 'Do you like tea?'];
    const train: TokenizedPair[] = targets.map((t, i) => ({ src: ['x'], tgt: tokenizeSide(zhEn, 'tgt', t), origin: `t:${i + 1}` }));
    assert.ok(truecasedSide(zhEn));
    const { tgt } = buildVocabs(train, { ...zhEn, tgtMinFreq: 1 }, targets);
    assert.deepEqual(Object.fromEntries(tgt.cased!), { i: 'I', tom: 'Tom' });
    const again = Vocab.fromJSON(JSON.parse(JSON.stringify(tgt.toJSON())), 'tgt.vocab.json');
    assert.deepEqual(again.cased, tgt.cased);
    assert.equal(targetText(['tom', 'likes', 'tea', '.', 'i', 'like', 'tom', '.'], zhEn, again), 'Tom likes tea. I like Tom.');
    // Saved without a table (an older vocabulary): capitals at sentence starts only.
    const { cased: _cased, ...old } = tgt.toJSON();
    const oldVocab = Vocab.fromJSON(old, 'old.vocab.json');
    assert.equal(oldVocab.cased, null);
    assert.equal(targetText(['tom', 'likes', 'tea', '.'], zhEn, oldVocab), 'Tom likes tea.');
    // A Chinese (char) target and a cased word target are left as they are.
    const enZh = buildConfig('test', {}, {}).data;
    assert.equal(truecasedSide(enZh), false);
    assert.equal(truecasedSide({ ...zhEn, lowercase: false }), false);
    assert.equal(targetText(['tom', 'likes', 'tea', '.'], { ...zhEn, lowercase: false }, tgt), 'tom likes tea.');
  });

  test('a table entry that changes more than the case is refused', () => {
    const json = { ...Vocab.build([['tom']], { minFreq: 1, maxSize: 0 }).toJSON(), cased: { tom: 'Jerry' } };
    assert.throws(() => Vocab.fromJSON(json, 'tgt.vocab.json'), (err: unknown) => err instanceof UserError && /"cased" maps "tom"/.test(err.message));
  });
});
