/**
 * `s2s export CHECKPOINT OUT [--float16]`: a model directory (weights, both
 * vocabularies, config; no optimizer or trainer state) from any checkpoint,
 * model directory or training output directory (its `best`).
 */
import type { Command } from 'commander';
import { globalOptions, initBackendFor } from '../global-options.ts';

const MB = 1024 * 1024;

export function register(program: Command): void {
  program
    .command('export')
    .description('write a model directory (weights, vocabularies, config) from a checkpoint')
    .argument('<checkpoint>', 'checkpoint, model directory, or training output directory (its best)')
    .argument('<out>', 'new directory, or an earlier export to replace')
    .option('--float16', 'store the weights as float16 (half the bytes; decoded to float32 on load)')
    .action(async (checkpoint: string, out: string, opts: { float16?: boolean }, command: Command) => {
      const { checkExportPaths, exportModel } = await import('../../model-dir.ts');
      checkExportPaths(checkpoint, out); // before the backend starts
      await initBackendFor(command);
      const result = await exportModel(checkpoint, out, { float16: opts.float16 === true });
      if (!globalOptions(command).quiet) {
        const kind = opts.float16 === true ? 'float16' : 'float32';
        process.stderr.write(
          `exported ${result.from} → ${result.out}: ${(result.bytes / MB).toFixed(2)} MB (${kind} weights ${(result.weightBytes / MB).toFixed(2)} MB)\n`,
        );
      }
    });
}
