// Translate and score from a program: `npx tsx examples/api.ts [MODEL_DIR]`.
// From an installed package the import is the same ('s2s'); plain JavaScript works too.
import { corpusBleu, loadTranslator, S2SError } from 's2s';

try {
  const translator = await loadTranslator(process.argv[2]); // omitted: the default model (`s2s info` names it)
  const [tea] = await translator.translate(['I like tea.'], { beam: 5, nbest: 2, attention: true });
  console.log(tea.translation);
  for (const candidate of tea.nbest) console.log(`  ${candidate.score.toFixed(3)}  ${candidate.translation}`);
  console.log(`attention: ${tea.attention!.length} × ${tea.sourceTokens.length}`);
  const bleu = corpusBleu([tea.translation], ['我喜欢茶。'], { tokenize: 'zh' });
  console.log(`BLEU ${bleu.score.toFixed(1)} (${bleu.signature})`);
  translator.dispose();
} catch (err) {
  if (!(err instanceof S2SError)) throw err;
  console.error(`${err.code}: ${err.message}${err.where ? ` (${err.where})` : ''}`);
  process.exitCode = 1;
}
