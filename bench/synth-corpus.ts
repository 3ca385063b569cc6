/**
 * A synthetic parallel corpus of any size for `npm run bench:data`, made by
 * seeded recombination of the cmn-eng pairs: each synthetic pair joins one
 * to three randomly drawn pairs (English with spaces, Chinese without), and
 * one pair in four has a number below 1000 appended on both sides. The
 * vocabulary is therefore that of cmn-eng plus at most 1000 numbers at every
 * size, so training memory compares like with like across sizes.
 *
 *   node --import tsx bench/synth-corpus.ts --pairs 1000000 --out /tmp/synth-1m.tsv [--seed 1]
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/train/rng.ts';
import { PROJECT_ROOT } from '../src/project.ts';

export const CMN_ENG = join(PROJECT_ROOT, 'data', 'cmn-eng', 'cmn-eng.tsv');

/** The English and Chinese columns of every well-formed line of a Tatoeba TSV. */
export function seedPairs(file: string): [string, string][] {
  const pairs: [string, string][] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [en, zh] = line.split('\t');
    if (en && zh && en.trim() !== '' && zh.trim() !== '') pairs.push([en.trim(), zh.trim()]);
  }
  return pairs;
}

/** Writes `count` synthetic pairs to `out` as TSV; resolves when the file is closed. */
export async function writeSyntheticCorpus(out: string, count: number, seed = 1, from = CMN_ENG): Promise<void> {
  const pairs = seedPairs(from);
  const rng = new Rng(`synth/${seed}`);
  const stream = createWriteStream(out);
  let chunk = '';
  for (let i = 0; i < count; i++) {
    const parts = 1 + rng.int(3);
    let en = '';
    let zh = '';
    for (let k = 0; k < parts; k++) {
      const [e, z] = pairs[rng.int(pairs.length)]!;
      en += (k > 0 ? ' ' : '') + e;
      zh += z;
    }
    if (rng.int(4) === 0) {
      const n = String(rng.int(1000));
      en += ` ${n}`;
      zh += n;
    }
    chunk += `${en}\t${zh}\n`;
    if (chunk.length > 1 << 20) {
      if (!stream.write(chunk)) await once(stream, 'drain');
      chunk = '';
    }
  }
  stream.end(chunk);
  await once(stream, 'close');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const pairs = Number(arg('pairs'));
  const out = arg('out');
  if (!Number.isSafeInteger(pairs) || pairs <= 0 || !out) {
    process.stderr.write('usage: synth-corpus.ts --pairs N --out FILE [--seed S]\n');
    process.exit(2);
  }
  await writeSyntheticCorpus(out, pairs, Number(arg('seed') ?? 1));
}
