/**
 * The s2s library: what a program imports from 's2s'. The command line is a
 * client of these same functions. Importing this module does nothing by itself:
 * TensorFlow.js starts when a model is loaded or training begins.
 *
 *   import { loadTranslator, corpusBleu } from 's2s';
 *   const translator = await loadTranslator();          // the default model
 *   const [t] = await translator.translate(['I like tea.'], { beam: 5, nbest: 2 });
 */
export { loadTranslator, startBackend, type BackendStartOptions, type LoadTranslatorOptions } from './api/load.ts';
export { Translator, MAX_TEXT_LENGTH, type Candidate, type TranslateOptions, type Translation } from './api/translator.ts';
export { corpusBleu, corpusChrf, BLEU_DEFAULTS, type BleuOptions, type BleuResult, type ChrfOptions, type ChrfResult } from './api/score.ts';
export { loadConfig, train, type RunHooks, type StopReason, type TrainEvent, type TrainListener, type TrainOptions, type TrainResult } from './api/train.ts';
export { defaultModel, exportModel, resolveModelDir, MODEL_ENV, SHIPPED_MODEL, type ExportOptions, type ExportResult, type ModelChoice } from './model-dir.ts';
export { readCheckpoint, type ReadFile, type CheckpointData } from './model/checkpoint-files.ts';
export { buildConfig, DEFAULTS, type S2SConfig, type DataConfig, type ModelConfig, type TrainingConfig, type DecodingConfig, type Overrides } from './config.ts';
export { UserError as S2SError, type S2SErrorCode } from './errors.ts';
export type { BackendRequest, BackendChoice } from './backend/index.ts';
