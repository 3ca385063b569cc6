/**
 * `s2s eval --checkpoint DIR --data TEST.tsv` (or --src/--tgt): translate the
 * test sources with the checkpoint (its decoding config, with the decoding flags laid over it), optionally
 * write the hypotheses, and hand hypotheses and references to scoring.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { buildConfig, type DecodingConfig, type S2SConfig } from '../config.ts';
import { UserError, usageError } from '../errors.ts';
import { initBackendFor } from './global-options.ts';

export interface ModelEvalFlags {
  checkpoint: string;
  data?: string;
  src?: string;
  tgt?: string;
  output?: string;
  /** Decoding flags, laid over the checkpoint's decoding config. */
  decoding: Partial<DecodingConfig>;
}

export interface DecodedTestSet {
  hypotheses: string[];
  references: string[];
  /** The checkpoint's target language (picks the default BLEU tokenizer). */
  tgtLang: string;
  /** The skipped-rows summary, if any. */
  skipped: string | null;
}

/** The checkpoint's data config pointed at the test files (columns, languages and tokenizers kept). */
function testDataConfig(config: S2SConfig, flags: ModelEvalFlags): S2SConfig['data'] {
  if (flags.data !== undefined && (flags.src !== undefined || flags.tgt !== undefined)) {
    throw usageError('give either --data or --src/--tgt, not both', '--data');
  }
  if ((flags.src === undefined) !== (flags.tgt === undefined)) {
    throw usageError('--src and --tgt go together', flags.src === undefined ? '--tgt' : '--src');
  }
  if (flags.data === undefined && flags.src === undefined) {
    throw usageError('model mode needs a test corpus: --data TEST.tsv or --src FILE --tgt FILE', '--data');
  }
  for (const file of [flags.data, flags.src, flags.tgt]) {
    if (file !== undefined && !existsSync(file)) throw new UserError('test corpus not found', { where: file });
  }
  return {
    ...config.data,
    data: flags.data !== undefined ? [flags.data] : [],
    src: flags.src ?? null,
    tgt: flags.tgt ?? null,
  };
}

export async function decodeTestSet(flags: ModelEvalFlags, cmd: Command): Promise<DecodedTestSet> {
  const { loadCheckpoint } = await import('../train/checkpoint.ts');
  const { readCorpus, SkipLog, formatSkipped, formatSkip } = await import('../data/corpus.ts');
  const { translate } = await import('../decode/translator.ts');
  const { writeFileAtomic } = await import('../fs-atomic.ts');
  await initBackendFor(cmd);
  const checkpoint = await loadCheckpoint(flags.checkpoint);
  // Only the best hypothesis is scored: nbest 1 whatever the checkpoint says.
  const decoding = buildConfig(checkpoint.config.name, { decoding: { ...checkpoint.config.decoding, ...flags.decoding, nbest: 1 } }).decoding;
  const data = testDataConfig(checkpoint.config, flags);
  const log = new SkipLog(false);
  const sources: string[] = [];
  const references: string[] = [];
  for await (const pair of readCorpus(data, log)) {
    sources.push(pair.src);
    references.push(pair.tgt);
  }
  if (sources.length === 0) throw new UserError('the test corpus has no usable pairs', { where: flags.data ?? flags.src });
  const hypotheses: string[] = [];
  for (let i = 0; i < sources.length; i += decoding.batchSize * 8) {
    const chunk = sources.slice(i, i + decoding.batchSize * 8);
    const out = await translate(checkpoint, chunk, { decoding, attention: false });
    hypotheses.push(...out.map((t) => t.translation));
  }
  if (flags.output !== undefined) writeFileAtomic(flags.output, hypotheses.map((h) => `${h}\n`).join(''));
  return {
    hypotheses,
    references,
    tgtLang: checkpoint.config.data.tgtLang,
    skipped: formatSkipped(log.count, log.first ? formatSkip(log.first) : null),
  };
}
