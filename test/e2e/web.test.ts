/**
 * The page `s2s export CHECKPOINT OUT --web` writes, in a real browser:
 * Debian's chromium, headless, driven by puppeteer-core, the folder served
 * from 127.0.0.1 by a plain static server. The page must translate 20
 * validation sentences of a tiny model exactly as `s2s translate` does with the same checkpoint (greedy and beam),
 * on WebGL and on WebAssembly; without WebGL, or without its model, it must
 * say so on the page. A screenshot is kept in test/artifacts/ (git-ignored).
 * A second tiny model, with BPE vocabularies on both sides, must translate on
 * the page as `s2s translate` does too.
 *
 * No browser is downloaded: the test fails (does not skip) when chromium is
 * missing; `.ci/run` installs it (apt-get install chromium).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { applySplit, parseSplitRecord } from '../../src/data/split.ts';
import { REPO_ROOT, runS2S, stderrLines, TRAIN_FIXTURE } from '../helpers/cli.ts';
import { serveStatic, type StaticServer } from '../helpers/static-server.ts';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts');
const work = mkdtempSync(join(tmpdir(), 's2s-web-'));
const run = join(work, 'tiny');
/** The run's best checkpoint: a model directory (no optimizer state), what export writes. */
const checkpoint = join(run, 'best');
const site = join(work, 'site');
/** Polls on a timer: a page in a background tab gets no animation frames to poll on. */
const WAIT = { polling: 100, timeout: 120_000 };
const browsers: Browser[] = [];
let server: StaticServer;
let sentences: string[] = [];
const expected = { greedy: [] as string[], beam: [] as string[] };

after(async () => {
  for (const browser of browsers) await browser.close();
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

/** The first `count` validation sources of a run's checkpoint: its own split.json applied to its corpus. */
function validationSentences(checkpoint: string, count: number): string[] {
  const rows = readFileSync(join(REPO_ROOT, 'data', 'toy', 'toy.tsv'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.split('\t'));
  const splitFile = join(checkpoint, 'split.json');
  const record = parseSplitRecord(JSON.parse(readFileSync(splitFile, 'utf8')), splitFile);
  return [...new Set(applySplit(rows, record, (row) => row[0]!).valid.map((row) => row[0]!))].slice(0, count);
}

/** `s2s translate` of `lines` with the checkpoint, one output line per input line. */
async function cliTranslations(checkpoint: string, lines: string[], extra: string[]): Promise<string[]> {
  const r = await runS2S(['--backend', 'cpu', '--quiet', 'translate', '--checkpoint', checkpoint, '--input', '-', ...extra], {
    input: lines.join('\n') + '\n',
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').slice(0, -1);
}

async function launch(extraArgs: string[] = []): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM`);
  const browser = await puppeteer.launch({ timeout: 120_000,
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: mkdtempSync(join(work, 'profile-')),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
  browsers.push(browser);
  return browser;
}

/** Opens the page (of `site`, default the tiny run's) and waits until the model is loaded (or failed to load). */
async function open(browser: Browser, query = '', host = '127.0.0.1', site: StaticServer = server): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(`${site.url.replace('127.0.0.1', host)}${query}`, { waitUntil: 'load' });
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'loading', WAIT);
  assert.deepEqual(errors, [], 'no uncaught errors on the page');
  return page;
}

const text = (page: Page, selector: string) => page.$eval(selector, (el) => (el as HTMLElement).innerText.trim());
const runs = (page: Page) => page.$eval('#status', (el) => Number((el as HTMLElement).dataset.runs ?? 0));

/** Types `input` into the box, picks the search, presses Translate, returns the translations shown. */
async function translateOnPage(page: Page, input: string, search: 'greedy' | 'beam'): Promise<string[]> {
  const before = await runs(page);
  await page.$eval('#source', (el) => ((el as HTMLTextAreaElement).value = ''));
  await page.type('#source', input);
  await page.select('#search', search);
  await page.click('#translate');
  await page.waitForFunction((n: number) => Number(document.getElementById('status')?.dataset.runs ?? 0) > n, WAIT, before);
  assert.equal(await page.$eval('#status', (el) => (el as HTMLElement).dataset.state), 'ready', await text(page, '#error'));
  return page.$$eval('#results li', (items) => items.map((li) => li.textContent ?? ''));
}

/** Greedy one sentence at a time (as a user types), then beam on all 20 lines at once. */
async function assertSameAsCli(page: Page): Promise<void> {
  const greedy: string[] = [];
  for (const sentence of sentences) {
    const shown = await translateOnPage(page, sentence, 'greedy');
    assert.equal(shown.length, 1);
    greedy.push(shown[0]!);
  }
  assert.deepEqual(greedy, expected.greedy, 'greedy: the page translates as s2s translate does');
  const beam = await translateOnPage(page, sentences.join('\n'), 'beam');
  assert.deepEqual(beam, expected.beam, 'beam 5: the page translates as s2s translate --beam 5 does');
}

describe('web page (tiny checkpoint, headless chromium)', () => {
  before(async () => {
    const r = await runS2S([...TRAIN_FIXTURE, '--quiet', 'train', '--config', 'tiny', '--out', run], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, `training the tiny checkpoint failed: ${r.stderr}`);
    sentences = validationSentences(checkpoint, 20);
    assert.equal(sentences.length, 20);
    expected.greedy = await cliTranslations(checkpoint, sentences, []);
    expected.beam = await cliTranslations(checkpoint, sentences, ['--beam', '5']);
    assert.equal(expected.greedy.length, 20);
    const exported = await runS2S(['--backend', 'cpu', 'export', checkpoint, site, '--web'], { timeoutMs: 300_000 });
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stderr, /exported a web page/);
    server = await serveStatic(site);
  });

  test('translates 20 validation sentences as s2s translate does, and shows the attention heatmap', async (t) => {
    const page = await open(await launch());
    const backend = await text(page, '#backend');
    t.diagnostic(`backend: ${backend}${(await page.$eval('#notice', (el) => (el as HTMLElement).hidden)) ? '' : ` (${await text(page, '#notice')})`}`);
    const first = await translateOnPage(page, sentences[0]!, 'greedy');
    t.diagnostic(`first translation ${await page.$eval('#timing', (el) => (el as HTMLElement).dataset.firstMs)} ms after navigation start`);
    assert.deepEqual(first, expected.greedy.slice(0, 1));
    const tensors = await page.$eval('#status', (el) => (el as HTMLElement).dataset.tensors);
    await assertSameAsCli(page);
    assert.equal(await page.$eval('#status', (el) => (el as HTMLElement).dataset.tensors), tensors, 'tf.memory().numTensors flat');

    await translateOnPage(page, sentences.slice(0, 3).join('\n'), 'greedy');
    const cells = await page.$$eval('#heatmap svg rect', (rects) => rects.length);
    assert.ok(cells > 1, 'the heatmap of the first translation is drawn');
    await page.click('#results li:nth-child(2)');
    assert.notEqual(await page.$$eval('#heatmap svg rect', (rects) => rects.length), 0);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'web-page.png'), fullPage: true });
    t.diagnostic(`screenshot: ${join('test', 'artifacts', 'web-page.png')}`);
  });

  test('on WebGL (?backend=webgl) it translates the same', async () => {
    const page = await open(await launch(['--enable-unsafe-swiftshader']), '?backend=webgl');
    assert.equal(await text(page, '#backend'), 'WebGL');
    await assertSameAsCli(page);
  });

  test('a browser without WebGL runs on WebAssembly and says so on the page', async () => {
    const page = await open(await launch(['--disable-webgl', '--disable-3d-apis']));
    assert.equal(await text(page, '#backend'), 'WebAssembly');
    assert.match(await text(page, '#notice'), /no WebGL/);
    assert.deepEqual(await translateOnPage(page, sentences.slice(0, 5).join('\n'), 'greedy'), expected.greedy.slice(0, 5));
  });

  test('a model that fails to load is a visible message naming the file', async () => {
    const broken = await serveStatic(site, new Set(['/model/weights.bin']));
    try {
      const browser = browsers[0] ?? (await launch());
      const page = await browser.newPage();
      await page.goto(broken.url, { waitUntil: 'load' });
      await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'error', WAIT);
      const message = await text(page, '#error');
      assert.match(message, /Could not load the model/);
      assert.match(message, /weights\.bin/);
      assert.equal(await page.$eval('#translate', (el) => (el as HTMLButtonElement).disabled), true);
    } finally {
      await broken.close();
    }
  });

  test('served from a plain-http origin other than localhost: a visible message, no half-loaded page', async () => {
    // The page's host name resolves to 127.0.0.1, but the origin is not a secure context.
    const page = await open(await launch(['--host-resolver-rules=MAP s2s-insecure.test 127.0.0.1']), '', 's2s-insecure.test');
    assert.equal(await page.$eval('#status', (el) => (el as HTMLElement).dataset.state), 'error');
    assert.match(await text(page, '#error'), /https:\/\/ \(or from localhost\)/);
    assert.equal(await page.$eval('#translate', (el) => (el as HTMLButtonElement).disabled), true);
  });

  test('export --web into a folder that is not an earlier web export: one line, nothing touched', async () => {
    const mine = join(work, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep me');
    const r = await runS2S(['--backend', 'cpu', 'export', checkpoint, mine, '--web']);
    assert.notEqual(r.code, 0);
    assert.deepEqual(stderrLines(r).length, 1, r.stderr);
    assert.match(r.stderr, /not an s2s web export/);
    assert.deepEqual(readdirSync(mine), ['notes.txt']);
    assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'keep me');
  });
});

describe('web page with BPE vocabularies on both sides (tiny checkpoint, headless chromium)', () => {
  const bpeRun = join(work, 'tiny-bpe');
  const bpeCheckpoint = join(bpeRun, 'best');
  const bpeSite = join(work, 'site-bpe');
  /** Validation sentences, and one whose words the toy corpus never has whole. */
  let lines: string[] = [];
  const cli = { greedy: [] as string[], beam: [] as string[] };
  let bpeServer: StaticServer;

  before(async () => {
    // A few seconds of training (40 steps at a high learning rate): enough for outputs that are neither empty nor all alike.
    const r = await runS2S(
      [...TRAIN_FIXTURE, '--quiet', 'train', '--config', 'tiny', '--out', bpeRun, '--max-steps', '40', '--lr', '0.03',
        '--src-tokenizer', 'bpe', '--src-vocab-size', '150', '--tgt-tokenizer', 'bpe', '--tgt-vocab-size', '150'],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, `training the BPE checkpoint failed: ${r.stderr}`);
    lines = [...validationSentences(bpeCheckpoint, 8), 'Mary doesn\'t understand the geographers.'];
    cli.greedy = await cliTranslations(bpeCheckpoint, lines, []);
    cli.beam = await cliTranslations(bpeCheckpoint, lines, ['--beam', '5']);
    assert.equal(cli.greedy.length, lines.length);
    assert.ok(new Set(cli.greedy).size > 1 && cli.greedy.every((t) => t !== ''), `a model that says something: ${cli.greedy.join(' | ')}`);
    const exported = await runS2S(['--backend', 'cpu', 'export', bpeCheckpoint, bpeSite, '--web'], { timeoutMs: 300_000 });
    assert.equal(exported.code, 0, exported.stderr);
    for (const side of ['src', 'tgt']) assert.ok(existsSync(join(bpeSite, 'model', `${side}.tokenizer.json`)), `${side}.tokenizer.json exported`);
    bpeServer = await serveStatic(bpeSite);
  });
  after(() => bpeServer?.close());

  test('the page splits and joins BPE pieces as s2s translate does: greedy and beam', async () => {
    const page = await open(browsers[0] ?? (await launch()), '', '127.0.0.1', bpeServer);
    const greedy: string[] = [];
    for (const line of lines) greedy.push(...(await translateOnPage(page, line, 'greedy')));
    assert.deepEqual(greedy, cli.greedy, 'greedy: the page translates as s2s translate does');
    assert.deepEqual(await translateOnPage(page, lines.join('\n'), 'beam'), cli.beam, 'beam 5: as s2s translate --beam 5');
    assert.ok(greedy.every((t) => !t.includes('\u2581')), 'no BPE word-boundary marks in what the page shows');
  });
});
