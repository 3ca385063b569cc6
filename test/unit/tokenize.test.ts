import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { defaultTokenizer, detokenize, normaliseCharText, normaliseWordText, tokenize } from '../../src/data/tokenize.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cmnEng = resolve(repoRoot, '..', 'shared', 'data', 'cmn-eng', 'cmn-eng.tsv');

const lower = { lowercase: true };
const keepCase = { lowercase: false };

describe('defaultTokenizer', () => {
  test('char for Chinese and Japanese, word otherwise', () => {
    for (const lang of ['zh', 'ja', 'cmn', 'yue', 'zh-TW', 'zh-Hans', 'zh_CN', 'ZH']) assert.equal(defaultTokenizer(lang), 'char', lang);
    for (const lang of ['en', 'en-US', 'fr', 'de', 'zhx', 'eng']) assert.equal(defaultTokenizer(lang), 'word', lang);
  });
});

describe('word tokenizer', () => {
  test('splits punctuation off and keeps contractions whole', () => {
    assert.deepEqual(tokenize('word', "I don't know, Tom.", lower), ['i', "don't", 'know', ',', 'tom', '.']);
    assert.deepEqual(tokenize('word', "I'm sure Tom's dog can't swim!", lower), ["i'm", 'sure', "tom's", 'dog', "can't", 'swim', '!']);
  });

  test('lowercases only when asked', () => {
    assert.deepEqual(tokenize('word', 'Tom LIKES Mary.', keepCase), ['Tom', 'LIKES', 'Mary', '.']);
    assert.deepEqual(tokenize('word', 'Tom LIKES Mary.', lower), ['tom', 'likes', 'mary', '.']);
  });

  test('keeps numbers whole', () => {
    assert.deepEqual(tokenize('word', 'Pi is 3.14, not 1,000 or 8:30.', lower), ['pi', 'is', '3.14', ',', 'not', '1,000', 'or', '8:30', '.']);
    assert.deepEqual(tokenize('word', 'It costs $3.50 (about 100 yen).', lower), ['it', 'costs', '$', '3.50', '(', 'about', '100', 'yen', ')', '.']);
  });

  test('keeps abbreviations, hyphenated words and plural possessives whole', () => {
    assert.deepEqual(tokenize('word', 'The U.S. office opens at 9 a.m.', lower), ['the', 'u.s.', 'office', 'opens', 'at', '9', 'a.m.']);
    assert.deepEqual(tokenize('word', "A well-known girls' school.", lower), ['a', 'well-known', "girls'", 'school', '.']);
  });

  test('NFKC: full-width letters and digits, ellipsis; curly apostrophes become straight', () => {
    assert.deepEqual(tokenize('word', 'ＡＢＣ １２３…', lower), ['abc', '123', '...']);
    assert.deepEqual(tokenize('word', 'I don’t know.', lower), ['i', "don't", 'know', '.']);
    assert.equal(normaliseWordText('Ｔｏｍ’s', keepCase), "Tom's");
  });

  test('an empty or blank sentence has no tokens', () => {
    assert.deepEqual(tokenize('word', '', lower), []);
    assert.deepEqual(tokenize('word', ' \t ', lower), []);
  });

  test('detokenize re-attaches punctuation', () => {
    assert.equal(detokenize('word', ['i', "don't", 'know', ',', 'tom', '.']), "i don't know, tom.");
    assert.equal(detokenize('word', ['he', 'said', '"', 'hello', '!', '"', 'and', 'left', '.']), 'he said "hello!" and left.');
    assert.equal(detokenize('word', ['it', 'costs', '$', '5', '(', 'or', 'so', ')', '?', '!']), 'it costs $5 (or so)?!');
    assert.equal(detokenize('word', ['wait', '...', 'what', '?']), 'wait... what?');
    assert.equal(detokenize('word', ['100', '%', 'and', '/', 'or', ';', 'done', ':', 'yes']), '100% and/or; done: yes');
    assert.equal(detokenize('word', []), '');
  });

  test('detokenize(tokenize(x)) gives x back (normalised)', () => {
    const sentences = [
      "I don't know, Tom.",
      'He said "I\'m fine." and left.',
      'It costs $3.50 (about 1,000 yen).',
      'Where are you going?!',
      'School begins at 8:30 a.m. sharp.',
      "She said 'no' twice.",
      'Wait... what?',
      'The U.S. is big; China is bigger.',
      "Tom's sister's friends' car is red.",
      'It is 100% true [I think].',
    ];
    for (const s of sentences) {
      assert.equal(detokenize('word', tokenize('word', s, keepCase)), s);
      assert.equal(detokenize('word', tokenize('word', s, lower)), s.toLowerCase());
    }
  });
});

describe('char tokenizer', () => {
  test('one token per Chinese character; Latin and digit runs whole', () => {
    assert.deepEqual(tokenize('char', '我有3.5个iPhone。', keepCase), ['我', '有', '3.5', '个', 'iPhone', '。']);
    assert.deepEqual(tokenize('char', '我有3.5个iPhone。', lower), ['我', '有', '3.5', '个', 'iphone', '。']);
    assert.deepEqual(tokenize('char', '汤姆不喜欢NBA和1,000块', keepCase), ['汤', '姆', '不', '喜', '欢', 'NBA', '和', '1,000', '块']);
  });

  test('full-width letters and digits go half-width; Chinese punctuation stays', () => {
    assert.deepEqual(tokenize('char', '我有３个ｉＰｈｏｎｅ，你呢？', keepCase), ['我', '有', '3', '个', 'iPhone', '，', '你', '呢', '？']);
    assert.deepEqual(tokenize('char', '注意：好！对；', keepCase), ['注', '意', '：', '好', '！', '对', '；']);
    assert.equal(normaliseCharText('１２ＡＢ，。？！：；', keepCase), '12AB，。？！：；');
  });

  test('normalisation without regular expressions for text it leaves as it is: the same text as with them', () => {
    // The normalisation as specified: NFKC outside the full-width block, full-width letters and digits half-width.
    const specified = (text: string): string =>
      text.replace(/[^\uFF01-\uFF5E]+/g, (run) => run.normalize('NFKC')).replace(/[\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
    const texts = ['汤姆，你好吗？', '我有３个ｉＰｈｏｎｅ，你呢？', '注意：好！对；', 'ﬁle，①', 'e\u0301，é', '　全角空格？', 'Ａ', '！', '', 'カ\u3099，ｶﾞ'];
    for (let unit = 0xff00; unit <= 0xffef; unit++) texts.push(`字${String.fromCharCode(unit)}，字`);
    if (existsSync(cmnEng)) for (const line of readFileSync(cmnEng, 'utf8').split('\n')) texts.push(line.split('\t')[1] ?? '');
    for (const text of texts) {
      assert.equal(normaliseCharText(text, keepCase), specified(text), JSON.stringify(text));
      assert.equal(normaliseCharText(text, lower), specified(text).toLowerCase(), JSON.stringify(text));
    }
  });

  test('whitespace is dropped, including the ideographic space', () => {
    assert.deepEqual(tokenize('char', ' 你 好\u3000吗 ', keepCase), ['你', '好', '吗']);
  });

  test('Japanese kana and the prolonged sound mark are single characters', () => {
    assert.deepEqual(tokenize('char', 'コーヒーです', keepCase), ['コ', 'ー', 'ヒ', 'ー', 'で', 'す']);
  });

  test('detokenize joins without spaces, except between two Latin or number tokens', () => {
    assert.equal(detokenize('char', ['我', '用', 'iPhone', '5', '。']), '我用iPhone 5。');
    assert.equal(detokenize('char', ['我', '有', '3.5', '个', 'iPhone', '。']), '我有3.5个iPhone。');
    assert.equal(detokenize('char', ['Tom', '和', 'Mary']), 'Tom和Mary');
  });

  test('detokenize(tokenize(x)) gives x back', () => {
    for (const s of ['我有3.5个iPhone。', '你好，汤姆！', '他用iPhone 5拍照。', '“你好，”她说。', '这是100%的真话：对！']) {
      assert.equal(detokenize('char', tokenize('char', s, keepCase)), s);
    }
  });
});

/** The char detokenizer keeps a space only between two non-CJK letters or digits. */
function withoutSpacesAroundCjk(text: string): string {
  const latin = String.raw`(?![\p{scx=Han}])[\p{L}\p{N}]`;
  return text.trim().replace(/\s+/g, ' ').replace(new RegExp(String.raw`(?<!${latin}) | (?!${latin})`, 'gu'), '');
}

describe('tokenizers on the real Tatoeba corpus', () => {
  const skip = existsSync(cmnEng) ? false : `corpus not found at ${cmnEng}`;
  test('detokenize(tokenize(x)) restores at least 99.9% of the sentences', { skip }, () => {
    const rows = readFileSync(cmnEng, 'utf8').split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
    let english = 0;
    let chinese = 0;
    for (const [en, zh] of rows) {
      const expectedEn = normaliseWordText(en!, lower).replace(/\s+/g, ' ').trim();
      if (detokenize('word', tokenize('word', en!, lower)) === expectedEn) english += 1;
      const expectedZh = withoutSpacesAroundCjk(normaliseCharText(zh!, keepCase));
      if (detokenize('char', tokenize('char', zh!, keepCase)) === expectedZh) chinese += 1;
    }
    assert.ok(rows.length > 20000, `only ${rows.length} rows`);
    assert.ok(english / rows.length > 0.999, `English round trip ${english}/${rows.length}`);
    assert.ok(chinese / rows.length > 0.999, `Chinese round trip ${chinese}/${rows.length}`);
  });
});
