/**
 * `s2s data get <corpus>` downloads (or imports) a corpus; `s2s data list`
 * shows the known corpora and whether they are on disk.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { usageError } from '../../errors.ts';
import { globalOptions } from '../global-options.ts';

interface GetFlags {
  from?: string;
  url?: string;
  out?: string;
  sha256?: string;
}

function parseSha256(value: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw usageError(`--sha256 must be 64 hex digits, got '${value}'`, '--sha256');
  return value.toLowerCase();
}

function countLines(path: string): number {
  const text = readFileSync(path, 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').length;
}

/** One line per corpus: name, present/missing, path, description. */
export function formatCorpusList(rows: { name: string; path: string; lines: number | null; description: string }[]): string {
  const width = Math.max(...rows.map((r) => r.name.length));
  return rows
    .map((r) => {
      const state = r.lines === null ? 'missing' : `present (${r.lines} lines)`;
      return `${r.name.padEnd(width)}  ${r.path}  ${state}\n${''.padEnd(width)}  ${r.description}`;
    })
    .join('\n')
    .concat('\n');
}

export function register(program: Command): void {
  const data = program.command('data').description('get and list corpora');

  data
    .command('get')
    .description('download a corpus (or import a local copy) into data/<corpus>/')
    .argument('<corpus>', 'cmn-eng')
    .option('--from <file>', 'import this local file (.tsv/.txt, .gz or .zip) instead of downloading')
    .option('--url <url>', 'download from this URL instead of the default')
    .option('--out <dir>', 'output directory (default: data/<corpus>)')
    .option('--sha256 <hex>', 'expected sha256 of the downloaded file', parseSha256)
    .action(async (corpus: string, flags: GetFlags, cmd: Command) => {
      const { getCorpus } = await import('../../data/download.ts');
      const { quiet } = globalOptions(cmd);
      const bar = !quiet && !flags.from && process.stderr.isTTY ? await progressBar() : null;
      let result: Awaited<ReturnType<typeof getCorpus>>;
      try {
        result = await getCorpus(corpus, {
          from: flags.from,
          url: flags.url,
          outDir: flags.out,
          sha256: flags.sha256,
          onProgress: bar?.update,
        });
      } finally {
        bar?.stop();
      }
      const r = result.record;
      process.stdout.write(
        `wrote ${result.path} (${r.lines} lines${r.member ? ` from ${r.member}` : ''})\n` +
          `source ${r.source}: ${r.bytes} bytes, sha256 ${r.sha256}\n`,
      );
    });

  data
    .command('list')
    .description('show the known corpora and whether they are on disk')
    .action(async () => {
      const { CORPORA } = await import('../../data/download.ts');
      const rows = CORPORA.map((c) => {
        const path = join(c.dir, c.file);
        return { name: c.name, path, lines: existsSync(path) ? countLines(path) : null, description: c.description };
      });
      process.stdout.write(formatCorpusList(rows));
    });

  data
    .command('split')
    .description('write the pairs a training run held out for validation, as TSV')
    .requiredOption('--checkpoint <dir>', 'the run (or one of its checkpoints)')
    .option('--out <file>', 'write the TSV here (default: standard output)')
    .action(writeSplit);
}

/**
 * `s2s data split --checkpoint DIR`: the pairs a run held out for validation,
 * re-read from its corpus, as TSV in the columns the run reads (so `s2s eval
 * --checkpoint DIR --data FILE` scores them), to --out or stdout.
 */
async function writeSplit(flags: { checkpoint: string; out?: string }): Promise<void> {
  const { readFileSync: read } = await import('node:fs');
  const { configFromPlain } = await import('../../config.ts');
  const { parseSplitRecord } = await import('../../data/split-record.ts');
  const { corpusColumns } = await import('../../data/corpus.ts');
  const { splitSides } = await import('../../data/dataset.ts');
  const { resolveModelDir } = await import('../../model-dir.ts');
  const { heldOut } = await import('../eval-model.ts');
  const { writeFileAtomic } = await import('../../fs-atomic.ts');
  const dir = resolveModelDir(flags.checkpoint);
  const json = (name: string): unknown => JSON.parse(read(join(dir, name), 'utf8'));
  const config = configFromPlain(json('config.json'), join(dir, 'config.json'));
  const split = existsSync(join(dir, 'split.json')) ? parseSplitRecord(json('split.json'), join(dir, 'split.json')) : null;
  const { valid } = await heldOut({ config, split }, flags.checkpoint, splitSides);
  const columns = corpusColumns(config.data);
  const tsv = valid
    .map((pair) => {
      const row = new Array<string>(Math.max(columns.src, columns.tgt) + 1).fill('');
      row[columns.src] = pair.src;
      row[columns.tgt] = pair.tgt;
      return `${row.join('\t')}\n`;
    })
    .join('');
  if (flags.out === undefined) process.stdout.write(tsv);
  else writeFileAtomic(flags.out, tsv);
}

/** A cli-progress bar on stderr, fed by the downloader's progress callback. */
async function progressBar(): Promise<{ update: (received: number, total: number | null) => void; stop: () => void }> {
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'downloading [{bar}] {percentage}% {value}/{total} bytes', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let stopped = false;
  return {
    update: (received, total) => {
      if (!started) {
        bar.start(total ?? 0, 0);
        started = true;
      }
      if (total === null) bar.setTotal(received);
      bar.update(received);
    },
    stop: () => {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}
