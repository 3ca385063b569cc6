/**
 * `s2s audit [CORPUS...]`: the checks a careful practitioner runs before
 * training, as a report (or `--json`), and `--write-clean OUT` to write the
 * corpus without the flagged pairs.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import type { AuditReport } from '../../data/audit.ts';
import { delimiterFor } from '../../data/corpus.ts';
import { usageError } from '../../errors.ts';
import { addConfigOptions, configFromOptions } from '../config-options.ts';
import { globalOptions } from '../global-options.ts';
import { prepareWorkers } from '../prepared-data.ts';

function percent(n: number, of: number): string {
  if (n === 0 || of === 0) return '0%';
  return `${((100 * n) / of).toFixed(n * 1000 < of ? 2 : 1)}%`;
}

/** The text report. */
export function formatAudit(report: AuditReport): string {
  const lines = [`${report.files.join(', ')}: ${report.pairs} pairs`];
  const width = Math.max(...report.findings.map((f) => f.label.length));
  for (const f of report.findings) {
    const examples = f.examples.length > 0 ? `  e.g. ${f.examples.join(', ')}` : '';
    lines.push(`  ${f.label.padEnd(width)}  ${String(f.count).padStart(8)}  ${percent(f.count, report.pairs).padStart(6)}${examples}`);
  }
  const r = report.lengthRatio;
  lines.push(
    `length ratio ln((src+1)/(tgt+1)): median ${r.median.toFixed(2)}, MAD ${r.mad.toFixed(2)}; outside [${r.low.toFixed(2)}, ${r.high.toFixed(2)}] is an outlier (|modified z| > 3.5)`,
  );
  for (const side of ['src', 'tgt'] as const) {
    const v = report.vocabulary[side];
    lines.push(
      `${side} vocabulary (${v.lang}, ${v.tokenizer}): ${v.types} types, ${v.kept} seen at least ${v.minFreq}×, covering ${(100 * v.coverage).toFixed(1)}% of tokens`,
    );
  }
  const rows = report.pairs + report.findings.filter((f) => f.id === 'malformed' || f.id === 'empty').reduce((n, f) => n + f.count, 0);
  lines.push(`${report.flagged} of ${rows} rows have at least one finding (${percent(report.flagged, rows)})`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  const cmd = program
    .command('audit')
    .description('check a corpus before training: duplicates, copies, empty sides, length ratios, scripts, control characters, lengths, vocabulary')
    .argument('[corpus...]', 'TSV/CSV corpus files (default: the config\'s --data, or --src/--tgt)')
    .option('--json', 'print the report as one JSON object')
    .option('--write-clean <file>', 'write the corpus without the flagged pairs (TSV corpora)')
    .option('--examples <n>', 'file:line examples per finding', '3')
    .option('--workers <n>', 'threads that read a tab-separated corpus of 16 MB or more (default: the available cores, at most 4)');
  addConfigOptions(cmd, ['data']);
  cmd.action(async (corpus: string[], opts: Record<string, unknown>, command: Command) => {
    if (corpus.length > 0) opts.data = corpus;
    const config = configFromOptions(opts, ['data']);
    const { quiet } = globalOptions(command);
    const examples = Number(opts.examples);
    if (!Number.isSafeInteger(examples) || examples < 0) throw usageError('--examples must be a non-negative integer', '--examples');
    const data = config.data;
    const files = data.src !== null && data.tgt !== null ? [data.src, data.tgt] : data.data;
    const out = typeof opts.writeClean === 'string' ? opts.writeClean : null;
    if (out !== null) {
      if (data.src !== null || files.some((f) => delimiterFor(f, data.delimiter) !== '\t')) {
        throw usageError('--write-clean writes TSV corpora only', '--write-clean', 'convert the corpus to TSV first');
      }
      const dir = dirname(resolve(out));
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw usageError(`no such directory: ${dir}`, '--write-clean');
      if (files.some((f) => resolve(f) === resolve(out))) {
        throw usageError('--write-clean would overwrite the corpus itself; write elsewhere', '--write-clean');
      }
    }
    const { auditCorpus, defaultAuditWorkers, writeClean } = await import('../../data/audit.ts');
    const workers = opts.workers === undefined ? defaultAuditWorkers() : prepareWorkers(opts);
    const { flaggedLines, ...report } = await auditCorpus(data, { examples, workers });
    process.stdout.write(opts.json === true ? `${JSON.stringify(report)}\n` : formatAudit(report));
    if (out !== null) {
      const written = await writeClean(files, flaggedLines, out);
      if (!quiet) {
        const reasons = report.findings.filter((f) => f.count > 0).map((f) => `${f.count} ${f.id}`);
        process.stderr.write(`wrote ${out}: ${written} pairs kept, ${report.flagged} dropped (${reasons.join(', ') || 'none'}; a pair can have several reasons)\n`);
      }
    }
  });
}
