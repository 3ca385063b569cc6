/**
 * The translation page (the browser entry that `exportWeb` bundles): loads the
 * model directory `model/` beside index.html, translates each line the user
 * types with the same tokenizers, model and search as `s2s translate`, and
 * draws the attention heatmap of the selected translation.
 *
 * `?backend=webgl` (or `wasm`, `cpu`) overrides the backend choice, e.g. to compare backends.
 */
import * as tf from '@tensorflow/tfjs-core';
import { renderHeatmapSvg } from '../decode/heatmap.ts';
import { translate, type Translation, type TranslationModel } from '../decode/translator.ts';
import { UserError } from '../errors.ts';
import { chooseBackend, type WebBackend } from './backend.ts';
import { loadModel, startDownload } from './load-model.ts';

/** Beam size of the page's "beam" search. */
export const PAGE_BEAM = 5;
/** Characters the input box accepts (the model reads at most data.max-len tokens of a line anyway). */
export const MAX_INPUT_CHARS = 20_000;

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html lacks #${id}`);
  return el as T;
};

function setStatus(state: 'loading' | 'ready' | 'busy' | 'error', text: string): void {
  const status = $('status');
  status.dataset.state = state;
  status.textContent = text;
}

/** A visible error line; `where` (a file or URL) is appended as the CLI does. */
function showError(prefix: string, err: unknown): void {
  const where = err instanceof UserError && err.where ? ` (${err.where})` : '';
  const message = err instanceof Error ? err.message : String(err);
  const box = $('error');
  box.textContent = `${prefix}: ${message}${where}`;
  box.hidden = false;
}

function showHeatmap(t: Translation | undefined): void {
  const box = $('heatmap');
  if (!t || t.tokens.length === 0 || t.sourceTokens.length === 0) {
    box.textContent = '';
    return;
  }
  box.innerHTML = renderHeatmapSvg([{ source: t.sourceTokens, target: t.tokens, attention: t.attention ?? [] }]);
  // Drawn at 1.5× its natural size: the picture's cells are sized for a file, not a screen.
  const svg = box.querySelector('svg');
  if (svg) {
    const [w, h] = [Number(svg.getAttribute('width')), Number(svg.getAttribute('height'))];
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    svg.setAttribute('width', String(w * 1.5));
    svg.setAttribute('height', String(h * 1.5));
  }
}

function showResults(results: Translation[]): void {
  const list = $('results');
  list.textContent = '';
  results.forEach((t, i) => {
    const item = document.createElement('li');
    item.className = 'translation';
    item.textContent = t.translation;
    item.title = `score ${t.score.toFixed(4)}`;
    item.tabIndex = 0;
    const select = (): void => {
      for (const other of list.children) other.classList.remove('selected');
      item.classList.add('selected');
      showHeatmap(t);
    };
    item.addEventListener('click', select);
    item.addEventListener('keydown', (e) => e.key === 'Enter' && select());
    list.append(item);
    if (i === 0) select();
  });
  if (results.length === 0) showHeatmap(undefined);
}

async function main(): Promise<void> {
  const here = new URL('./', document.baseURI).href;
  const modelBase = new URL('model/', here).href;
  // The model downloads while the backend starts.
  const download = startDownload(modelBase);
  const requested = new URLSearchParams(location.search).get('backend');
  const backend = await chooseBackend(here, requested === 'webgl' || requested === 'wasm' || requested === 'cpu' ? (requested as WebBackend) : null);
  $('backend').textContent = backend.name === 'webgl' ? 'WebGL' : backend.name === 'wasm' ? 'WebAssembly' : 'JavaScript (cpu)';
  if (backend.fallback !== null) {
    const notice = $('notice');
    notice.textContent = `Running on ${$('backend').textContent}, not WebGL: ${backend.fallback}.`;
    notice.hidden = false;
  }

  let model: TranslationModel;
  if (!globalThis.crypto?.subtle) {
    // Model files are checked against their SHA-256 sums, which browsers compute only for https:// and localhost pages.
    setStatus('error', 'The model could not be loaded.');
    showError('Could not load the model', new Error('this page must be served over https:// (or from localhost) to check the model files'));
    return;
  }
  try {
    model = await loadModel(modelBase, download);
  } catch (err) {
    setStatus('error', 'The model could not be loaded.');
    showError('Could not load the model', err);
    return;
  }
  const { srcLang, tgtLang } = model.config.data;
  $('languages').textContent = `${srcLang} → ${tgtLang}`;

  const form = $<HTMLFormElement>('form');
  const source = $<HTMLTextAreaElement>('source');
  const search = $<HTMLSelectElement>('search');
  const button = $<HTMLButtonElement>('translate');
  source.maxLength = MAX_INPUT_CHARS;
  let first = true;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      button.disabled = true;
      setStatus('busy', 'Translating…');
      $('error').hidden = true;
      try {
        const lines = source.value.split('\n').filter((line) => line.trim() !== '');
        const beam = search.value === 'beam' ? PAGE_BEAM : 1;
        const results = await translate(model, lines, { decoding: { ...model.config.decoding, beam, nbest: 1 }, attention: true });
        showResults(results);
        // For tests: how many translations ran, and the tensors left (flat from one to the next).
        const status = $('status');
        status.dataset.runs = String(Number(status.dataset.runs ?? 0) + 1);
        status.dataset.tensors = String(tf.memory().numTensors);
        if (first) {
          first = false;
          const ms = Math.round(performance.now());
          const timing = $('timing');
          timing.dataset.firstMs = String(ms);
          timing.textContent = `First translation ${(ms / 1000).toFixed(2)} s after the page started loading.`;
        }
        setStatus('ready', 'Ready.');
      } catch (err) {
        setStatus('error', 'Translation failed.');
        showError('Could not translate', err);
      } finally {
        button.disabled = false;
      }
    })();
  });
  source.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  button.disabled = false;
  setStatus('ready', 'Ready.');
}

main().catch((err: unknown) => {
  setStatus('error', 'The page failed to start.');
  showError('Error', err);
});
