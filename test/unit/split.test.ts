import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../src/errors.ts';
import { type CorpusPair, SkipLog, readDelimited } from '../../src/data/corpus.ts';
import {
  type Split,
  StreamingHoldout,
  applySplit,
  groupRank,
  holdoutSplit,
  loweredSourceHash,
  loweredRank,
  normaliseSource,
  parseSplitRecord,
  sourceHash,
} from '../../src/data/split.ts';
import { PairSpans } from '../../src/data/token-count.ts';
import { buildConfig } from '../../src/config.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cmnEng = resolve(repoRoot, '..', 'shared', 'data', 'cmn-eng', 'cmn-eng.tsv');

interface Pair {
  src: string;
  tgt: string;
}
const sourceOf = (p: Pair): string => p.src;

/** 200 pairs over 120 source sentences: some sources have up to 4 translations, one differs only in case/spacing. */
function corpus(): Pair[] {
  const pairs: Pair[] = [];
  for (let i = 0; i < 120; i++) {
    const translations = i % 3 === 0 ? 1 + (i % 4) : 1;
    for (let t = 0; t < translations; t++) pairs.push({ src: `Sentence number ${i}.`, tgt: `译文 ${i}-${t}` });
  }
  pairs.push({ src: '  SENTENCE   number 7. ', tgt: 'variant' });
  while (pairs.length < 200) pairs.push({ src: `Filler ${pairs.length}.`, tgt: 'x' });
  return pairs;
}

function assertNoLeak<T>(split: Split<T>, sourceOfItem: (t: T) => string): void {
  const trainSources = new Set(split.train.map((p) => normaliseSource(sourceOfItem(p))));
  const leaked = split.valid.filter((p) => trainSources.has(normaliseSource(sourceOfItem(p))));
  assert.deepEqual(leaked, [], 'a validation source also appears in training');
}

function shuffled<T>(items: readonly T[]): T[] {
  // A fixed permutation (no Math.random in tests either).
  return items.map((item, i) => ({ item, k: (i * 7919) % 10007 })).sort((a, b) => a.k - b.k).map((x) => x.item);
}

describe('holdoutSplit', () => {
  test('holds out exactly validSize pairs when groups allow, and never leaks a source', () => {
    const pairs = corpus();
    const { split, record } = holdoutSplit(pairs, sourceOf, 1, 30);
    assert.equal(split.valid.length, 30);
    assert.equal(split.train.length + split.valid.length, pairs.length);
    assertNoLeak(split, sourceOf);
    assert.equal(record.kind, 'holdout');
    assert.equal(record.validKeys.length, new Set(split.valid.map((p) => normaliseSource(p.src))).size);
  });

  test('the same seed gives the same split; another seed a different one', () => {
    const a = holdoutSplit(corpus(), sourceOf, 7, 40);
    const b = holdoutSplit(shuffled(corpus()), sourceOf, 7, 40);
    const c = holdoutSplit(corpus(), sourceOf, 8, 40);
    assert.deepEqual(b.record, a.record);
    assert.notDeepEqual(c.record.validKeys, a.record.validKeys);
  });

  test('sources that differ only in case and spacing are one group', () => {
    assert.equal(sourceHash('  SENTENCE   number 7. '), sourceHash('Sentence number 7.'));
    assert.notEqual(sourceHash('Sentence number 7.'), sourceHash('Sentence number 7!'));
    for (let seed = 0; seed < 20; seed++) assertNoLeak(holdoutSplit(corpus(), sourceOf, seed, 50).split, sourceOf);
  });

  test('validSize 0 holds out nothing; a validSize that leaves no training data is a usage error', () => {
    assert.equal(holdoutSplit(corpus(), sourceOf, 1, 0).split.valid.length, 0);
    assert.throws(
      () => holdoutSplit(corpus(), sourceOf, 1, 200),
      (err: unknown) => err instanceof UserError && err.where === '--valid-size' && /200 usable pairs/.test(err.message),
    );
  });
});

describe('applySplit', () => {
  test('a saved record gives the same split of a re-read (reordered) corpus', () => {
    const { split, record } = holdoutSplit(corpus(), sourceOf, 3, 25);
    const saved = parseSplitRecord(JSON.parse(JSON.stringify(record)), 'checkpoint/split.json');
    const again = applySplit(shuffled(corpus()), saved, sourceOf);
    const key = (p: Pair): string => `${p.src}\t${p.tgt}`;
    assert.deepEqual(again.valid.map(key).sort(), split.valid.map(key).sort());
    assert.deepEqual(again.train.map(key).sort(), split.train.map(key).sort());
  });

  test('a file split trains on every pair', () => {
    const pairs = corpus();
    const { train, valid } = applySplit(pairs, { kind: 'file', valid: 'valid.tsv' }, sourceOf);
    assert.equal(train.length, pairs.length);
    assert.equal(valid.length, 0);
  });
});

describe('parseSplitRecord', () => {
  test('accepts both kinds', () => {
    assert.deepEqual(parseSplitRecord({ kind: 'file', valid: 'v.tsv' }, 'x'), { kind: 'file', valid: 'v.tsv' });
    const holdout = { kind: 'holdout', seed: 1, validSize: 2, validKeys: ['0123456789abcdef'] };
    assert.deepEqual(parseSplitRecord(holdout, 'x'), holdout);
  });

  test('rejects bad records with a UserError naming where', () => {
    const bad = [
      null,
      { kind: 'random' },
      { kind: 'file' },
      { kind: 'holdout', seed: 1.5, validSize: 1, validKeys: [] },
      { kind: 'holdout', seed: 1, validSize: -1, validKeys: [] },
      { kind: 'holdout', seed: 1, validSize: 1, validKeys: ['not-a-hash'] },
    ];
    for (const record of bad) {
      assert.throws(() => parseSplitRecord(record, 'ckpt/meta.json'), (err: unknown) => err instanceof UserError && err.where === 'ckpt/meta.json');
    }
  });
});

describe('the real Tatoeba corpus', () => {
  const skip = existsSync(cmnEng) ? false : `corpus not found at ${cmnEng}`;
  test('500 held-out pairs, no validation source in training, re-applicable', { skip }, async () => {
    const pairs: CorpusPair[] = [];
    for await (const pair of readDelimited(cmnEng, { columns: { src: 0, tgt: 1 }, delimiter: null }, new SkipLog(true))) pairs.push(pair);
    assert.ok(pairs.length > 20000);
    const sourceOfPair = (p: CorpusPair): string => p.src;
    const { split, record } = holdoutSplit(pairs, sourceOfPair, 1, 500);
    assert.equal(split.valid.length, 500);
    assertNoLeak(split, sourceOfPair);
    // The corpus has many sources with several translations; all of them stay on one side.
    const validSources = new Set(split.valid.map((p) => normaliseSource(p.src)));
    assert.ok(split.train.every((p) => !validSources.has(normaliseSource(p.src))));
    const again = applySplit(pairs, record, sourceOfPair);
    assert.deepEqual(again.valid.map((p) => p.origin), split.valid.map((p) => p.origin));
  });
});

describe('loweredSourceHash', () => {
  const sources = [
    'Tom is here.',
    'DON’T  go,\tTom!',
    'don\'t go, tom!',
    'It’s ʼtheirs‘ ’now',
    'Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ and the ﬁle',
    '  İstanbul ΣΊΣΥΦΟΣ  ',
    'Ⅻ o’clock…',
    "ŉ and o'clock ŉ",
    "Tom's and ŉ's",
  ];
  test('only U+0149 of the characters that are not curly apostrophes holds one after NFKC', () => {
    const holders: number[] = [];
    for (let cp = 0; cp < 0x110000; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      if (/[\u2018\u2019\u02BC]/.test(c.normalize('NFKC')) && !/[\u2018\u2019\u02BC]/.test(c)) holders.push(cp);
    }
    assert.deepEqual(holders, [0x149]);
  });
  const toy = readFileSync(resolve(repoRoot, 'data', 'toy', 'toy.tsv'), 'utf8').split('\n').filter((l) => l.includes('\t')).map((l) => l.split('\t')[0]!);
  for (const [name, settings] of [
    ['lowercased words', {}],
    ['words kept in case', { lowercase: false }],
    ['characters', { srcTokenizer: 'char' }],
    ['BPE over words', { srcTokenizer: 'bpe' }],
  ] as const) {
    test(`of a pair's loweredSource is sourceHash of its source (${name})`, () => {
      const data = buildConfig('test', { data: { data: ['unused.tsv'], ...settings } }).data;
      const spans = new PairSpans(data);
      for (const src of [...sources, ...toy]) {
        const pair = spans.cut({ src, tgt: '汤姆在这里。', origin: 'x:1' }, { read: 0, tooLong: 0 });
        assert.ok(pair !== null);
        assert.equal(loweredSourceHash(pair.loweredSource()), sourceHash(src), src);
        const rank = loweredRank(5, pair.loweredSource());
        if (rank !== -1) assert.equal(rank, groupRank(5, normaliseSource(src)), src);
      }
    });
  }
});

describe('groupRank', () => {
  test('is cyrb53: the reference values its author publishes (seed 0)', () => {
    assert.equal(groupRank(0, 'a'), 7929297801672961);
    assert.equal(groupRank(0, 'b'), 8684336938537663);
    assert.equal(groupRank(0, 'revenge'), 4051478007546757);
    assert.equal(groupRank(0, 'revenue'), 8309097637345594);
  });

  test('depends on every bit of the seed, and is a safe integer', () => {
    const ranks = [0, 1, 2, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 40].map((seed) => groupRank(seed, 'tom is here.'));
    assert.equal(new Set(ranks).size, ranks.length);
    for (const rank of ranks) assert.ok(Number.isSafeInteger(rank) && rank >= 0, String(rank));
  });

  test('orders the groups evenly: each seed holds out a different tenth of 10,000 sources', () => {
    const sources = Array.from({ length: 10_000 }, (_, i) => `sentence ${i}.`);
    const lowest = (seed: number): Set<string> =>
      new Set([...sources].sort((a, b) => groupRank(seed, a) - groupRank(seed, b)).slice(0, 1000));
    const [a, b] = [lowest(1), lowest(2)];
    const shared = [...a].filter((s) => b.has(s)).length;
    // Independent orders share about a tenth of a tenth (100); a bad mix shares far more or none.
    assert.ok(shared > 50 && shared < 160, `shared ${shared}`);
    // Nor does the order follow the text: the lowest tenth is spread over the whole range of numbers.
    const numbers = [...a].map((s) => Number(s.slice(9, -1)));
    assert.ok(numbers.filter((n) => n < 5000).length > 400 && numbers.filter((n) => n >= 5000).length > 400);
  });
});

describe('loweredRank', () => {
  test('is groupRank of the collapsed text, or -1 whenever collapsing whitespace could change it', () => {
    const spaces: string[] = [];
    for (let cp = 0; cp < 0x110000; cp++) if (/\s/u.test(String.fromCodePoint(cp))) spaces.push(String.fromCodePoint(cp));
    assert.ok(spaces.length >= 25);
    const texts = ['tom is here.', 'a b', 'x', '', 'don\'t go', 'ü 汤姆 é', 'tab\tin', 'two  spaces', ' lead', 'trail ', '\u007f del'];
    for (const space of spaces) texts.push(`a${space}b`, `${space}a`, `a${space}`, `a ${space}b`);
    let fast = 0;
    for (const text of texts) {
      const rank = loweredRank(3, text);
      if (rank === -1) continue;
      fast += 1;
      assert.equal(normaliseSource(text), text, JSON.stringify(text));
      assert.equal(rank, groupRank(3, text), JSON.stringify(text));
    }
    // Plain sentences take the one pass: the first five texts above, and 'a b' from the loop.
    assert.equal(fast, 6);
  });
});

describe('StreamingHoldout over many sources', () => {
  test('keeps only the candidates it can hold out, and chooses what holdoutSplit chooses', () => {
    // 20,000 sources, some repeated, with a capacity of 1,400 groups: most sources are skipped by rank alone.
    const sources = Array.from({ length: 20_000 }, (_, i) => `Source ${(i * 7) % 17_000}`);
    const whole = holdoutSplit(sources, (s) => s, 9, 100);
    const stream = new StreamingHoldout<string>(9, 100);
    let made = 0;
    sources.forEach((s, i) =>
      stream.offerNormalised(i, normaliseSource(s), () => {
        made += 1;
        return s;
      }),
    );
    const { record, valid } = stream.finish();
    assert.deepEqual(record, whole.record);
    assert.deepEqual(valid.map((v) => v.item), whole.split.valid);
    assert.ok(made < 20_000 / 2, `made ${made} candidates`);
    // offerLowered, given the sources lowercased (as a word tokenizer's text), chooses the same.
    const lowered = new StreamingHoldout<string>(9, 100);
    sources.forEach((s, i) => lowered.offerLowered(i, i % 3 === 0 ? ` ${s.toLowerCase()}  ` : s.toLowerCase(), () => s));
    assert.deepEqual(lowered.finish().record, whole.record);
  });
});
