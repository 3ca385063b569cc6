/**
 * `s2s export CHECKPOINT OUT [--float16] [--web]`: a model directory (weights, both
 * vocabularies, config; no optimizer or trainer state) from any checkpoint,
 * model directory or training output directory (its `best`); with `--web`, a
 * static web page that translates with it (src/web/export.ts).
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
    .option('--web', 'write a web page that translates in the browser instead: OUT/index.html, OUT/app.js, the model in OUT/model/')
    .action(async (checkpoint: string, out: string, opts: { float16?: boolean; web?: boolean }, command: Command) => {
      if (opts.web === true) return exportWebPage(checkpoint, out, opts.float16 === true, command);
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

/** `--web`: the page, its bundle and the model, in a folder for any static file server. */
async function exportWebPage(checkpoint: string, out: string, float16: boolean, command: Command): Promise<void> {
  const { resolveModelDir } = await import('../../model-dir.ts');
  const { checkWebOut, exportWeb } = await import('../../web/export.ts');
  resolveModelDir(checkpoint); // before the backend starts
  checkWebOut(out);
  await initBackendFor(command);
  const result = await exportWeb(checkpoint, out, { float16 });
  if (!globalOptions(command).quiet) {
    const bytes = Object.values(result.files).reduce((a, b) => a + b, 0);
    process.stderr.write(
      `exported a web page → ${result.out}: ${(bytes / MB).toFixed(2)} MB; host it with any static file server, ` +
        `e.g. python3 -m http.server -d ${out} 8000, then open http://localhost:8000/\n`,
    );
  }
}
