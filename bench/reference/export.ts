/**
 * Exports what the PyTorch reference (bench/reference/torch_nmt.py) measures
 * on, so both implementations run on the same token ids:
 *
 *   node --import tsx bench/reference/export.ts --out DIR [--checkpoint DIR] [--steps 33] [--sentences 500] [--config cmn-eng]
 *
 * DIR/train.json: the config's model settings and the first `steps` training
 * batches exactly as `npm run bench` trains on them (ids, lengths, target
 * tokens). With --checkpoint (the default: the shipped model, when present):
 * DIR/decode.json (the checkpoint's model settings, its first `sentences`
 * validation sources, as `bench --checkpoint` decodes them, and s2s's greedy
 * translations of them, for checking the reference's) and DIR/params.bin
 * (float32 parameters in decode.json's order). A development tool: nothing a
 * user runs needs it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../../src/backend/index.ts';
import { search } from '../../src/decode/search.ts';
import { PROJECT_ROOT } from '../../src/project.ts';
import { checkpointDecoding, benchConfig, loadWorkload } from '../workload.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    checkpoint: { type: 'string', default: join(PROJECT_ROOT, 'models/en-zh-tatoeba') },
    steps: { type: 'string', default: '33' },
    sentences: { type: 'string', default: '500' },
    config: { type: 'string', default: 'cmn-eng' },
  },
});
if (!values.out) throw new Error('--out DIR is required');
const out = resolve(values.out);
mkdirSync(out, { recursive: true });
await initBackend('tensorflow', () => {});

const config = benchConfig(values.config!);
const w = await loadWorkload(config, Number(values.steps), 1);
const model = (m: typeof config.model, srcVocab: number, tgtVocab: number) => ({ ...m, srcVocab, tgtVocab });
writeFileSync(
  join(out, 'train.json'),
  JSON.stringify({
    model: model(config.model, w.srcVocabSize, w.tgtVocabSize),
    training: config.training,
    batches: w.trainBatches.map((b) => ({
      size: b.size,
      srcLen: b.srcLen,
      tgtLen: b.tgtLen,
      srcIds: [...b.srcIds],
      tgtIn: [...b.tgtIn],
      tgtOut: [...b.tgtOut],
      tgtTokens: b.tgtTokens,
    })),
  }),
);

if (existsSync(values.checkpoint!)) {
  const d = await checkpointDecoding(resolve(values.checkpoint!), Number(values.sentences));
  const names = [...d.model.params.keys()];
  const arrays = names.map((n) => d.model.params.get(n)!.dataSync() as Float32Array);
  const bytes = Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
  writeFileSync(join(out, 'params.bin'), bytes);
  const greedy = await search(d.model, d.sources, { ...d.decoding, beam: 1, batchSize: 64, replaceUnk: false });
  writeFileSync(
    join(out, 'decode.json'),
    JSON.stringify({
      model: { ...d.model.dims },
      decoding: d.decoding,
      params: names.map((n) => ({ name: n, shape: d.model.params.get(n)!.shape })),
      sources: d.sources,
      greedy: greedy.map((n) => n[0]!.ids),
    }),
  );
}
process.stderr.write(`wrote ${out}\n`);
