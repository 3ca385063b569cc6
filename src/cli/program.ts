/**
 * The s2s program: global options and one subcommand per file in commands/.
 * Building it loads no TensorFlow: commands import heavy modules in their actions.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { BACKEND_REQUESTS } from '../backend/index.ts';
import { defaultWasmThreads, parseThreads, THREADS_ENV, THREADS_EXPECTED, WASM_MAX_THREADS } from '../backend/wasm-threads.ts';
import { register as registerAudit } from './commands/audit.ts';
import { register as registerData } from './commands/data.ts';
import { register as registerDoctor } from './commands/doctor.ts';
import { register as registerEval } from './commands/eval.ts';
import { register as registerExport } from './commands/export.ts';
import { register as registerInfo } from './commands/info.ts';
import { register as registerPrepare } from './commands/prepare.ts';
import { register as registerServe } from './commands/serve.ts';
import { register as registerTrain } from './commands/train.ts';
import { register as registerTranslate } from './commands/translate.ts';
import { register as registerVocab } from './commands/vocab.ts';
import { s2sVersion } from '../project.ts';

/** `--threads <n>`: a bad value (flag or S2S_THREADS) is a usage error naming the flag. */
function threadsArg(raw: string): number {
  const n = parseThreads(raw);
  if (n === null) throw new InvalidArgumentError(`Expected ${THREADS_EXPECTED}.`);
  return n;
}

/** Errors surface as CommanderErrors for main.ts to report; commander itself prints nothing on error. */
function quietErrors(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureOutput({ outputError: () => {} });
  cmd.showSuggestionAfterError();
  for (const sub of cmd.commands) quietErrors(sub);
}

export function buildProgram(): Command {
  const program = new Command('s2s')
    .description('Train and run LSTM encoder-decoder translation models with Luong attention on TensorFlow.js')
    .version(s2sVersion(), '-V, --version', 'print the s2s version')
    .addOption(
      new Option('--backend <name>', 'TensorFlow.js backend')
        .choices(BACKEND_REQUESTS)
        .env('S2S_BACKEND')
        .default('auto'),
    )
    .addOption(
      new Option('--threads <n>', 'wasm backend threads (1: the single-threaded SIMD binary)')
        .argParser(threadsArg)
        .env(THREADS_ENV)
        .default(defaultWasmThreads(), `the number of cores, at most ${WASM_MAX_THREADS}`),
    )
    .option('-q, --quiet', 'print only errors on stderr')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError(false);
  for (const register of [
    registerTrain,
    registerPrepare,
    registerTranslate,
    registerEval,
    registerExport,
    registerServe,
    registerVocab,
    registerAudit,
    registerData,
    registerInfo,
    registerDoctor,
  ]) {
    register(program);
  }
  quietErrors(program);
  return program;
}
