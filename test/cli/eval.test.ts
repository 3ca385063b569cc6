import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  readScoringFiles,
  readTextLines,
  renderExplain,
  renderScores,
  scoreOptionsFromFlags,
  type EvalScoreOptions,
} from '../../src/cli/commands/eval.ts';
import { UserError } from '../../src/errors.ts';
import { REPO_ROOT, runS2S } from '../helpers/cli.ts';

const HYPOTHESES = ['我们明天早上去公园散步。', '这本书非常有意思，我看了两遍。'];
const REFERENCES = ['我们明天上午去公园散步。', '这本书很有意思，我读了两遍。'];
const REFERENCES_CHAR_SPLIT = REFERENCES.map((line) => Array.from(line).join(' '));

// Printed by sacreBLEU 2.6.0 (`sacrebleu ref.txt -i hyp.txt -tok zh -m bleu chrf -w 2`) for the files above.
const BLEU_LINE = 'BLEU = 56.34 85.2/68.0/52.2/33.3 (BP = 1.000 ratio = 1.038 hyp_len = 27 ref_len = 26)';
const BLEU_SIGNATURE = 'nrefs:1|case:mixed|eff:no|tok:zh|smooth:exp|version:2.6.0';
const CHRF_LINE = 'chrF2 = 44.90';
const CHRF_SIGNATURE = 'nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0';
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
  test('corpus BLEU and chrF, text: each score line followed by its signature line', () => {
    const { stdout, warnings } = renderScores(HYPOTHESES, [REFERENCES], { ...OPTIONS, metrics: ['bleu', 'chrf'] });
    assert.equal(stdout, `${BLEU_LINE}\n${BLEU_SIGNATURE}\n${CHRF_LINE}\n${CHRF_SIGNATURE}\n`);
    assert.deepEqual(warnings, []);
  });

  test('--metrics is parsed into sacreBLEU order, and validated', () => {
    const flags = { tgtLang: 'zh', smooth: 'exp' as const, width: 2 };
    assert.deepEqual(scoreOptionsFromFlags({ ...flags, metrics: 'chrf,BLEU' }).metrics, ['bleu', 'chrf']);
    assert.throws(() => scoreOptionsFromFlags({ ...flags, metrics: 'ter' }), UserError);
    assert.throws(
      () => scoreOptionsFromFlags({ ...flags, metrics: 'bleu,chrf', sentenceLevel: true }),
      (err: UserError) => err.exitCode === 2,
    );
  });

  test('default tokenizer follows --tgt-lang', () => {
    const flags = { smooth: 'exp' as const, width: 2, metrics: 'bleu' };
    assert.equal(scoreOptionsFromFlags({ ...flags, tgtLang: 'zh' }).tokenize, 'zh');
    assert.equal(scoreOptionsFromFlags({ ...flags, tgtLang: 'en' }).tokenize, '13a');
    assert.equal(scoreOptionsFromFlags({ ...flags, tgtLang: 'en', tokenize: 'char' }).tokenize, 'char');
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

describe('s2s eval (bin/s2s)', () => {
  test('prints the BLEU line and its signature, like sacreBLEU', async () => {
    const r = await runS2S(['eval', '--hypotheses', hyp, '--references', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${BLEU_LINE}\n${BLEU_SIGNATURE}\n`);
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
    const expected = c.expected.formatted.replace(`BLEU|${c.expected.signature} =`, 'BLEU =');
    assert.equal(r.stdout, `${expected}\n${c.expected.signature}\n`);
  });
});
