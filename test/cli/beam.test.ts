/**
 * Beam search against greedy through the real binary, on the tiny model
 * (the tiny config's 5 epochs, decoded on cpu): a weak model whose repetitions once won
 * beam search on length-normalised score (`我喜喜。。。。。。。。。。。。。。`).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, runS2S, TRAIN_FIXTURE } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 's2s-beam-cli-'));
const checkpoint = join(work, 'tiny');
after(() => rmSync(work, { recursive: true, force: true }));

interface JsonTranslation {
  tokens: string[];
  score: number;
}

async function translateAll(lines: string[], ...flags: string[]): Promise<JsonTranslation[]> {
  const r = await runS2S(['--backend', 'cpu', '-q', 'translate', '--checkpoint', checkpoint, '--json', '-i', '-', ...flags], {
    input: `${lines.join('\n')}\n`,
  });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonTranslation);
}

describe('beam search on a weak model (tiny checkpoint, cpu)', () => {
  before(async () => {
    const r = await runS2S([...TRAIN_FIXTURE, '-q', 'train', '--config', 'tiny', '--out', checkpoint], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, `training the tiny checkpoint failed: ${r.stderr}`);
  });

  test('beam 5 is never much longer than greedy, and its model score is at least greedy\'s', async () => {
    const sources = readFileSync(join(REPO_ROOT, 'data', 'toy', 'toy.tsv'), 'utf8').trim().split('\n').slice(0, 60).map((l) => l.split('\t')[0]!);
    for (const lengthPenalty of ['1', '0.6']) {
      const greedy = await translateAll(sources, '--beam', '1', '--length-penalty', lengthPenalty);
      const beam = await translateAll(sources, '--beam', '5', '--length-penalty', lengthPenalty);
      assert.equal(beam.length, sources.length);
      let greedyTokens = 0;
      let beamTokens = 0;
      beam.forEach((b, i) => {
        const g = greedy[i]!;
        greedyTokens += g.tokens.length;
        beamTokens += b.tokens.length;
        const what = `α ${lengthPenalty}, ${JSON.stringify(sources[i])}: beam ${b.tokens.join('')} (${b.score}) vs greedy ${g.tokens.join('')} (${g.score})`;
        assert.ok(b.tokens.length <= g.tokens.length + 3, `beam output at most 3 tokens longer: ${what}`);
        assert.ok(b.score >= g.score - 1e-5, `beam's model score at least greedy's: ${what}`);
      });
      assert.ok(beamTokens <= 1.25 * greedyTokens, `α ${lengthPenalty}: beam ${beamTokens} tokens against greedy ${greedyTokens}`);
    }
  });
});
