import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  readScoringFiles,
  readTextLines,
  renderExplain,
  renderScores,
  scoreOptionsFromFlags,
  tokenizerWarnings,
  type EvalScoreOptions,
} from '../../src/cli/commands/eval.ts';
import { UserError } from '../../src/errors.ts';
import { REPO_ROOT, runS2S, SHARED_DIR } from '../helpers/cli.ts';

const HYPOTHESES = ['我们明天早上去公园散步。', '这本书非常有意思，我看了两遍。'];
const REFERENCES = ['我们明天上午去公园散步。', '这本书很有意思，我读了两遍。'];
const REFERENCES_CHAR_SPLIT = REFERENCES.map((line) => Array.from(line).join(' '));

// Printed by sacreBLEU 2.6.0 (`sacrebleu ref.txt -i hyp.txt -tok zh -w 2 -f text`) for the files above.
const BLEU_SIGNATURE = 'nrefs:1|case:mixed|eff:no|tok:zh|smooth:exp|version:2.6.0';
const BLEU_LINE = `BLEU|${BLEU_SIGNATURE} = 56.34 85.2/68.0/52.2/33.3 (BP = 1.000 ratio = 1.038 hyp_len = 27 ref_len = 26)`;
const CHRF_SIGNATURE = 'nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0';
// `... -m bleu chrf -w 2 -f text`: several metrics are aligned on ' = ' (BLEU's line padded by three spaces).
const BLEU_CHRF_LINES = [`   ${BLEU_LINE}`, `chrF2|${CHRF_SIGNATURE} = 44.90`];
// `... -tok zh -f text -sh -m bleu chrf` (sacreBLEU's default width 1)
const SHORT_LINES = [
  '    BLEU|#:1|c:mixed|e:no|tok:zh|s:exp|v:2.6.0 = 56.3 85.2/68.0/52.2/33.3 (BP = 1.000 ratio = 1.038 hyp_len = 27 ref_len = 26)',
  'chrF2|#:1|c:mixed|e:yes|nc:6|nw:0|s:no|v:2.6.0 = 44.9',
];
// `... -tok zh -f text -b -m bleu chrf -w 3` and `... -tok zh -f text --sentence-level -b -m chrf`
const SCORE_ONLY_W3 = ['56.338', '44.900'];
const SENTENCE_CHRF_SCORE_ONLY_W1 = ['51.4', '39.7'];
// `sacrebleu ref.txt -i hyp.txt -tok zh -w 2 --sentence-level`
const SENTENCE_LINES = [
  'BLEU|nrefs:1|case:mixed|eff:yes|tok:zh|smooth:exp|version:2.6.0 = 64.93 91.7/72.7/60.0/44.4 (BP = 1.000 ratio = 1.000 hyp_len = 12 ref_len = 12)',
  'BLEU|nrefs:1|case:mixed|eff:yes|tok:zh|smooth:exp|version:2.6.0 = 49.36 80.0/64.3/46.2/25.0 (BP = 1.000 ratio = 1.071 hyp_len = 15 ref_len = 14)',
];

const OPTIONS: EvalScoreOptions = {
  tokenize: 'zh',
  smoothMethod: 'exp',
  smoothValue: null,
  lowercase: false,
  force: false,
  metrics: ['bleu'],
  json: false,
  sentenceLevel: false,
  width: 2,
  scoreOnly: false,
  short: false,
};

let dir = '';
let hyp = '';
let ref = '';
let refSplit = '';
let shortRef = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 's2s-eval-'));
  hyp = join(dir, 'hyp.txt');
  ref = join(dir, 'ref.txt');
  refSplit = join(dir, 'ref-split.txt');
  shortRef = join(dir, 'short.txt');
  writeFileSync(hyp, `${HYPOTHESES.join('\n')}\n`);
  writeFileSync(ref, `${REFERENCES.join('\r\n')}\r\n`); // CRLF: trailing '\r' is stripped like sacreBLEU's rstrip()
  writeFileSync(refSplit, `${REFERENCES_CHAR_SPLIT.join('\n')}\n`);
  writeFileSync(shortRef, `${REFERENCES[0]}\n`);
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('scoring functions', () => {
  test('corpus BLEU and chrF, text: one sacreBLEU line per metric, aligned on " = " as sacreBLEU aligns them', () => {
    const { stdout, warnings } = renderScores(HYPOTHESES, [REFERENCES], { ...OPTIONS, metrics: ['bleu', 'chrf'] });
    assert.equal(stdout, `${BLEU_CHRF_LINES.join('\n')}\n`);
    assert.deepEqual(warnings, []);
    assert.equal(renderScores(HYPOTHESES, [REFERENCES], OPTIONS).stdout, `${BLEU_LINE}\n`);
  });

  test('--short, --width and --score-only print what sacreBLEU prints', () => {
    const both = { ...OPTIONS, metrics: ['bleu', 'chrf'] as const };
    assert.equal(renderScores(HYPOTHESES, [REFERENCES], { ...both, short: true, width: 1 }).stdout, `${SHORT_LINES.join('\n')}\n`);
    assert.equal(renderScores(HYPOTHESES, [REFERENCES], { ...both, scoreOnly: true, width: 3 }).stdout, `${SCORE_ONLY_W3.join('\n')}\n`);
    const sentences = { ...OPTIONS, metrics: ['chrf'] as const, sentenceLevel: true, scoreOnly: true, width: 1 };
    assert.equal(renderScores(HYPOTHESES, [REFERENCES], sentences).stdout, `${SENTENCE_CHRF_SCORE_ONLY_W1.join('\n')}\n`);
    // As in sacreBLEU, the score alone wins over --json.
    assert.equal(renderScores(HYPOTHESES, [REFERENCES], { ...OPTIONS, scoreOnly: true, json: true }).stdout, '56.34\n');
  });

  test('--metrics is parsed into sacreBLEU order, and validated', () => {
    const flags = { tgtLang: 'zh', smooth: 'exp' as const, width: 2 };
    assert.deepEqual(scoreOptionsFromFlags({ ...flags, metrics: 'chrf,BLEU' }).metrics, ['bleu', 'chrf']);
    assert.deepEqual(scoreOptionsFromFlags({ ...flags, metrics: ['chrf', 'bleu'] }).metrics, ['bleu', 'chrf']);
    assert.throws(() => scoreOptionsFromFlags({ ...flags, metrics: 'ter' }), UserError);
    assert.throws(
      () => scoreOptionsFromFlags({ ...flags, metrics: 'bleu,chrf', sentenceLevel: true }),
      (err: UserError) => err.exitCode === 2,
    );
  });

  test('the tokenizer: --tokenize, else sacreBLEU\'s for the target language (given, the model\'s, or the references\' script), else 13a', () => {
    const flags = { smooth: 'exp' as const, width: 2, metrics: 'bleu' };
    const zhRefs = [REFERENCES];
    const enRefs = [['The cat sat on a mat.', "It's raining today, isn't it?"]];
    const tok = (f: Partial<Parameters<typeof scoreOptionsFromFlags>[0]>, refs: string[][] = [], model: string | null = null) =>
      scoreOptionsFromFlags({ ...flags, ...f }, refs, model).tokenize;
    assert.equal(tok({ tgtLang: 'zh' }), 'zh');
    assert.equal(tok({ tgtLang: 'en' }), '13a');
    assert.equal(tok({ tgtLang: 'ja' }), '13a', 'sacreBLEU would use ja-mecab, which s2s does not have');
    assert.equal(tok({ languagePair: 'en-zh' }), 'zh');
    assert.equal(tok({ languagePair: 'zh-en' }, zhRefs), '13a', 'a given language wins over the script');
    assert.equal(tok({}, zhRefs), 'zh');
    assert.equal(tok({}, enRefs), '13a');
    assert.equal(tok({}), '13a');
    assert.equal(tok({}, enRefs, 'zh'), 'zh', "the model's target language");
    assert.equal(tok({ tgtLang: 'en', tokenize: 'char' }, zhRefs), 'char');
    assert.throws(() => tok({ languagePair: 'enzh' }), (err: UserError) => err.exitCode === 2 && /--language-pair/.test(err.message));
    assert.throws(() => tok({ languagePair: 'en-zh', tgtLang: 'zh' }), (err: UserError) => err.exitCode === 2);
  });

  test('tokenizer warnings: sacreBLEU\'s advice for Chinese, and the languages s2s cannot tokenize as sacreBLEU does', () => {
    const flags = { smooth: 'exp' as const, width: 2, metrics: 'bleu' };
    assert.deepEqual(tokenizerWarnings({ ...flags, tokenize: '13a' }, [REFERENCES]), ["consider --tokenize zh for Chinese (sacreBLEU's standard)"]);
    assert.deepEqual(tokenizerWarnings({ ...flags }, [REFERENCES]), []);
    assert.deepEqual(tokenizerWarnings({ ...flags, metrics: 'chrf', tokenize: '13a' }, [REFERENCES]), []);
    assert.match(tokenizerWarnings({ ...flags }, [['私は猫が好きです。']]).join(), /tok:ja-mecab, which s2s does not have: this BLEU uses tok:13a/);
    assert.match(tokenizerWarnings({ ...flags, tgtLang: 'ko' }).join(), /tok:ko-mecab/);
  });

  test('sentence level JSON: one object per line with the vector field names', () => {
    const { stdout } = renderScores(HYPOTHESES, [REFERENCES], { ...OPTIONS, sentenceLevel: true, json: true });
    const objects = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(objects.length, 2);
    assert.deepEqual(Object.keys(objects[0]!).sort(), [
      'bp',
      'counts',
      'name',
      'precisions',
      'ratio',
      'ref_len',
      'score',
      'signature',
      'sys_len',
      'totals',
    ]);
    assert.equal((objects[1]!.score as number).toFixed(2), '49.36');
    assert.equal(objects[0]!.signature, 'nrefs:1|case:mixed|eff:yes|tok:zh|smooth:exp|version:2.6.0');
  });

  test('explain: zh and char agree here, 13a and none see each sentence as one token', () => {
    const { stdout } = renderExplain(HYPOTHESES, [REFERENCES_CHAR_SPLIT], OPTIONS);
    const rows = stdout.split('\n');
    assert.match(rows[1]!, /^zh\s+56\.34\s/);
    assert.match(rows[2]!, /^char\s+56\.34\s/);
    assert.match(rows[3]!, /^13a\s+0\.00\s.*\s2\s+26$/);
    assert.match(rows[4]!, /^none\s+0\.00\s/);
    assert.match(stdout, /warning: references: .*spaces between Chinese characters/);
    assert.doesNotMatch(stdout, /warning: hypotheses/);
  });

  test('tokenized-looking text warns unless forced', () => {
    const split = [REFERENCES_CHAR_SPLIT];
    assert.equal(renderScores(HYPOTHESES, split, OPTIONS).warnings.length, 1);
    assert.equal(renderScores(HYPOTHESES, split, { ...OPTIONS, force: true }).warnings.length, 0);
  });

  test('files: line counts must agree; missing files are named', () => {
    assert.throws(
      () => readScoringFiles(hyp, [shortRef]),
      (err: UserError) => err.message.includes(`${hyp} has 2 lines`) && err.message.includes(`${shortRef} has 1`),
    );
    assert.throws(() => readTextLines(join(dir, 'nope.txt'), '--references'), /nope\.txt/);
    assert.deepEqual(readTextLines(ref, '--references'), REFERENCES);
  });
});

interface Vector {
  name: string;
  kind: 'corpus' | 'sentence';
  hypotheses: string[];
  references: string[][];
  tokenize: EvalScoreOptions['tokenize'];
  smooth_method: EvalScoreOptions['smoothMethod'];
  smooth_value: number | null;
  lowercase: boolean;
  force: boolean;
  expected: { formatted: string; signature: string; signature_short: string; score: number };
}

const VECTOR_FILES = [join(REPO_ROOT, 'test', 'fixtures', 'sacrebleu-2.6.0.json'), join(SHARED_DIR, 'bleu-vectors', 'public.json')];

describe("eval's text output is sacreBLEU 2.6.0's line, character for character, on its vectors", () => {
  for (const file of VECTOR_FILES.filter((f) => existsSync(f))) {
    const cases = JSON.parse(readFileSync(file, 'utf8')) as Vector[];
    test(`${relative(REPO_ROOT, file)}: ${cases.length} cases`, () => {
      assert.ok(cases.length > 0);
      for (const c of cases) {
        const options: EvalScoreOptions = {
          ...OPTIONS,
          tokenize: c.tokenize,
          smoothMethod: c.smooth_method,
          smoothValue: c.smooth_value,
          lowercase: c.lowercase,
          force: c.force,
          sentenceLevel: c.kind === 'sentence',
        };
        const render = (extra: Partial<EvalScoreOptions>) => renderScores(c.hypotheses, c.references, { ...options, ...extra }).stdout;
        assert.equal(render({}), `${c.expected.formatted}\n`, c.name);
        const short = c.expected.formatted.replace(`BLEU|${c.expected.signature} =`, `BLEU|${c.expected.signature_short} =`);
        assert.equal(render({ short: true }), `${short}\n`, `${c.name} --short`);
        assert.equal(render({ scoreOnly: true }), `${c.expected.formatted.split(' ')[2]}\n`, `${c.name} -b`);
      }
    });
  }
});

describe('s2s eval (bin/s2s)', () => {
  test('prints sacreBLEU\'s one line, signature included; Chinese references pick tok:zh', async () => {
    const r = await runS2S(['eval', '--hypotheses', hyp, '--references', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${BLEU_LINE}\n`);
    assert.equal(r.stderr, '');
  });

  test('-m bleu chrf, as sacreBLEU spells it: both lines, aligned', async () => {
    const r = await runS2S(['eval', '-i', hyp, '-r', ref, '-m', 'bleu', 'chrf']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${BLEU_CHRF_LINES.join('\n')}\n`);
    const b = await runS2S(['eval', '-i', hyp, '-r', ref, '-m', 'bleu', 'chrf', '-b', '-w', '3']);
    assert.equal(b.stdout, `${SCORE_ONLY_W3.join('\n')}\n`);
  });

  test('English references pick tok:13a (sacreBLEU\'s line for them)', async () => {
    const hypEn = join(dir, 'hyp.en');
    const refEn = join(dir, 'ref.en');
    writeFileSync(hypEn, "The cat sat on the mat.\nIt is raining today, isn't it?\n");
    writeFileSync(refEn, "The cat sat on a mat.\nIt's raining today, isn't it?\n");
    const r = await runS2S(['eval', '-i', hypEn, '-r', refEn]);
    assert.equal(r.code, 0, r.stderr);
    // `sacrebleu ref.en -i hyp.en -f text -w 2`
    assert.equal(r.stdout, 'BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 60.53 80.0/69.2/54.5/44.4 (BP = 1.000 ratio = 1.071 hyp_len = 15 ref_len = 14)\n');
  });

  test('-i - reads the hypotheses from stdin, with the same checks as a file', async () => {
    const r = await runS2S(['eval', '-i', '-', '-r', ref], { input: readFileSync(hyp, 'utf8') });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${BLEU_LINE}\n`);
    const binary = await runS2S(['eval', '-i', '-', '-r', ref], { input: 'ok\nbad\u0000\n' });
    assert.equal(binary.code, 1);
    assert.match(binary.stderr, /binary file.*stdin:2|stdin:2.*binary/);
    const invalid = await runS2S(['eval', '-i', '-', '-r', ref], { input: Buffer.from([0x6f, 0x6b, 0x0a, 0xff, 0x0a]) });
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /invalid UTF-8.*stdin:2|stdin:2.*invalid UTF-8/);
    const short = await runS2S(['eval', '-i', '-', '-r', ref], { input: 'one line\n' });
    assert.equal(short.code, 1);
    assert.match(short.stderr, /stdin has 1 lines but .*ref\.txt has 2/);
    const refStdin = await runS2S(['eval', '-i', hyp, '-r', '-'], { input: 'x\n' });
    assert.equal(refStdin.code, 2);
    assert.match(refStdin.stderr, /only the hypotheses can be read from stdin/);
  });

  test('--metrics chrf,bleu --json prints BLEU then chrF objects', async () => {
    const r = await runS2S(['eval', '-i', hyp, '-r', ref, '--metrics', 'chrf,bleu', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [bleu, chrf] = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(bleu!.counts, [23, 17, 12, 7]);
    assert.equal(bleu!.signature, BLEU_SIGNATURE);
    assert.equal((chrf!.score as number).toFixed(2), '44.90');
    assert.equal(chrf!.signature, CHRF_SIGNATURE);
  });

  test('--sentence-level prints one sacreBLEU line per input line', async () => {
    const r = await runS2S(['eval', '-i', hyp, '-r', ref, '--sentence-level']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split('\n'), SENTENCE_LINES);
  });

  test('--explain prints the tokenizer table', async () => {
    const r = await runS2S(['eval', '-i', hyp, '-r', refSplit, '--explain']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^tok\s+BLEU/);
    assert.match(r.stdout, /warning: references/);
  });

  test('different line counts: exit 1, both files and counts named', async () => {
    const r = await runS2S(['eval', '-i', hyp, '-r', shortRef]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /hyp\.txt has 2 lines but .*short\.txt has 1/);
  });

  test('a missing file: exit 1, the file named', async () => {
    const r = await runS2S(['eval', '-i', join(dir, 'missing.txt'), '-r', ref]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.txt/);
  });

  test('usage errors exit 2: no --hypotheses, bad --tokenize', async () => {
    const noHyp = await runS2S(['eval', '--references', ref]);
    assert.equal(noHyp.code, 2);
    assert.match(noHyp.stderr, /--hypotheses/);
    const badTok = await runS2S(['eval', '-i', hyp, '-r', ref, '--tokenize', 'spm']);
    assert.equal(badTok.code, 2);
  });

  const vectors = join(REPO_ROOT, 'test', 'fixtures', 'sacrebleu-2.6.0.json');
  test('a multi-reference sacreBLEU 2.6.0 vector through the binary', async () => {
    const cases = JSON.parse(readFileSync(vectors, 'utf8')) as Array<{
      kind: string;
      hypotheses: string[];
      references: string[][];
      tokenize: string;
      smooth_method: string;
      lowercase: boolean;
      expected: { formatted: string; signature: string };
    }>;
    const c = cases.find((x) => x.kind === 'corpus' && x.references.length > 1 && x.tokenize === '13a')!;
    const refFiles = c.references.map((stream, k) => {
      const file = join(dir, `vector-ref${k}.txt`);
      writeFileSync(file, `${stream.join('\n')}\n`);
      return file;
    });
    const hypFile = join(dir, 'vector-hyp.txt');
    writeFileSync(hypFile, `${c.hypotheses.join('\n')}\n`);
    const args = ['eval', '-i', hypFile, '-r', ...refFiles, '--tokenize', c.tokenize, '--smooth', c.smooth_method];
    const r = await runS2S(c.lowercase ? [...args, '--lowercase'] : args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${c.expected.formatted}\n`);
  });
});
