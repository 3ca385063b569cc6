/**
 * The translation server: a fastify app with POST /translate, GET /health and
 * GET /info in front of a Batcher. Requests are validated by JSON schema and
 * by the limits below; every error is a JSON body `{error, code, field?, limit?}`.
 * The caller (the CLI) listens, logs and handles signals; nothing here prints.
 */
import { createServer } from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import * as tf from '@tensorflow/tfjs-core';
import type { DecodingConfig } from '../config.ts';
import { emptyTranslation, type StreamText, type Translation, type Translator } from '../api/translator.ts';
import { Batcher, QueueFullError, type BatcherLimits, type BatcherStats, type Sentence } from './batcher.ts';

export interface ServeLimits extends BatcherLimits {
  /** Most sentences in one request (`texts`). */
  maxSentences: number;
  /** Most characters (code points) in one sentence. */
  maxChars: number;
  /** Largest `beam` a request may ask for. */
  maxBeam: number;
  /** Largest request body, bytes. */
  bodyLimit: number;
  /** A request not answered this long after it arrived gets 504. */
  timeoutMs: number;
  /** A client must send its whole request within this (slow clients are cut off with 408). */
  readTimeoutMs: number;
  /** On close, queued and decoding requests get this long to be answered. */
  drainTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<ServeLimits> = {
  maxBatch: 64,
  maxWaitMs: 5,
  maxQueue: 4096,
  maxSentences: 64,
  maxChars: 1000,
  maxBeam: 16,
  bodyLimit: 1024 * 1024,
  timeoutMs: 30_000,
  readTimeoutMs: 10_000,
  drainTimeoutMs: 10_000,
};

/** A loaded model as the server uses it. */
export interface ServedModel {
  translator: Translator;
  /** Reported as `model` in every answer. */
  name: string;
}

/** The decoding options a request may set; the rest come from the model's decoding config. */
export interface RequestOptions {
  beam: number;
  nbest: number;
  lengthPenalty: number;
  attention: boolean;
}

export interface TranslationJson {
  text: string;
  score: number;
  nbest?: { text: string; score: number }[];
  attention?: number[][];
  sourceTokens?: string[];
  tokens?: string[];
  /** Source tokens beyond the model's maximum length that were not translated. */
  truncated?: number;
}

/** One line of the access log. */
export interface AccessEntry {
  method: string;
  path: string;
  status: number;
  /** Sentences in the request (0 when it had none or was rejected before counting). */
  sentences: number;
  ms: number;
}

export interface ServerOptions {
  limits?: Partial<ServeLimits>;
  /** Called once per request when its answer has been sent (or the client went away: status 499). */
  onAccess?: (entry: AccessEntry) => void;
}

export interface ServerStats extends BatcherStats {
  requests: number;
}

export interface TranslationServer {
  app: FastifyInstance;
  limits: Readonly<ServeLimits>;
  /** /health turns 200 and /translate is served from now on. */
  setModel(model: ServedModel): void;
  /** @returns the address, e.g. http://127.0.0.1:8080 */
  listen(host: string, port: number): Promise<string>;
  /**
   * Stops accepting, answers what is queued or decoding (for at most
   * limits.drainTimeoutMs; then the rest get 503) and closes.
   */
  close(): Promise<void>;
  stats(): ServerStats;
}

/** An error answer. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { field?: string; limit?: number; retryAfter?: number } = {},
  ) {
    super(message);
  }
}

const TRANSLATE_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    text: { type: 'string' },
    texts: { type: 'array', minItems: 1, items: { type: 'string' } },
    beam: { type: 'integer', minimum: 1 },
    nbest: { type: 'integer', minimum: 1 },
    lengthPenalty: { type: 'number', minimum: 0 },
    attention: { type: 'boolean' },
  },
} as const;

/** The 200 answer of POST /translate, for fastify's compiled serializer (faster than JSON.stringify). */
const TRANSLATE_ANSWER = {
  type: 'object',
  properties: {
    translations: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          text: { type: 'string' },
          score: { type: 'number' },
          nbest: { type: 'array', items: { type: 'object', properties: { text: { type: 'string' }, score: { type: 'number' } } } },
          attention: { type: 'array', items: { type: 'array', items: { type: 'number' } } },
          sourceTokens: { type: 'array', items: { type: 'string' } },
          tokens: { type: 'array', items: { type: 'string' } },
          truncated: { type: 'integer' },
        },
      },
    },
    model: { type: 'string' },
    ms: { type: 'number' },
  },
} as const;

interface TranslateBody {
  text?: string;
  texts?: string[];
  beam?: number;
  nbest?: number;
  lengthPenalty?: number;
  attention?: boolean;
}

/** Sentences counted per request, for the access log. */
const sentencesOf = new WeakMap<FastifyRequest, number>();

export function createTranslationServer(options: ServerOptions = {}): TranslationServer {
  const limits: ServeLimits = { ...DEFAULT_LIMITS, ...options.limits };
  let model: ServedModel | null = null;
  let closing: Promise<void> | null = null;
  let requests = 0;
  /** POST /translate requests received but not yet queued (or answered): a greedy decode waits for them. */
  const arriving = new Set<FastifyRequest>();
  const batcher = new Batcher<RequestOptions, TranslationJson>(
    limits,
    (opts, batch, more) => decodeBatch(model!, limits, opts, batch, more),
    (opts) => opts.beam === 1,
    () => arriving.size > 0,
  );

  const app = Fastify({
    logger: false,
    bodyLimit: limits.bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Types must be exact: "3" is not a beam size, and unknown fields are errors.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    serverFactory: (handler) => {
      const server = createServer(
        {
          requestTimeout: limits.readTimeoutMs,
          headersTimeout: limits.readTimeoutMs,
          connectionsCheckingInterval: Math.max(50, Math.min(1000, limits.readTimeoutMs / 4)),
        },
        handler,
      );
      // Longer than clients' own idle timeouts (undici: 4 s), so a client never reuses a connection the server is closing.
      server.keepAliveTimeout = 72_000;
      return server;
    },
  });

  const starts = new WeakMap<FastifyRequest, number>();
  const startOf = (req: FastifyRequest): number => starts.get(req) ?? performance.now();
  const access = (req: FastifyRequest, status: number, ms: number): void => {
    options.onAccess?.({ method: req.method, path: req.url.split('?')[0]!, status, sentences: sentencesOf.get(req) ?? 0, ms });
  };
  app.addHook('onResponse', async (req, reply) => access(req, reply.statusCode, reply.elapsedTime));
  app.addHook('onRequestAbort', async (req) => access(req, 499, performance.now() - startOf(req)));
  app.addHook('onRequest', async (req, reply) => {
    requests += 1;
    starts.set(req, performance.now());
    if (req.method !== 'POST') return;
    // Until it is queued, or answered, or its connection closes (a slow client cut off included).
    arriving.add(req);
    reply.raw.once('close', () => arriving.delete(req));
  });

  app.setErrorHandler((err: FastifyError | HttpError, _req, reply) => {
    const e = err instanceof HttpError ? err : fromFastifyError(err);
    if (e.extra.retryAfter !== undefined) void reply.header('Retry-After', String(e.extra.retryAfter));
    const { retryAfter: _, ...extra } = e.extra;
    return reply.code(e.status).send({ error: e.message, code: e.code, ...extra });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}`, code: 'not_found' }),
  );

  app.get('/health', async (_req, reply) => {
    if (closing) return reply.code(503).send({ status: 'closing' });
    if (!model) return reply.code(503).send({ status: 'loading' });
    return { status: 'ok' };
  });

  app.get('/info', async () => ({
    model: model ? modelInfo(model) : null,
    backend: tf.getBackend() ?? null,
    limits,
    stats: { ...batcher.stats(), requests },
    tensors: tf.memory().numTensors,
    memory: { rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed },
  }));

  app.post('/translate', { schema: { body: TRANSLATE_BODY, response: { 200: TRANSLATE_ANSWER } } }, async (req, reply) => {
    if (closing) throw new HttpError(503, 'closing', 'the server is shutting down');
    if (!model) throw new HttpError(503, 'loading', 'the model is still loading', { retryAfter: 1 });
    const body = req.body as TranslateBody;
    sentencesOf.set(req, body.texts?.length ?? (body.text === undefined ? 0 : 1));
    const texts = requestTexts(body, limits);
    const opts = requestOptions(body, model.translator.config.decoding, limits);
    let submission;
    arriving.delete(req);
    try {
      submission = batcher.submit(JSON.stringify(opts), opts, texts);
    } catch (err) {
      if (err instanceof QueueFullError) throw new HttpError(503, 'queue_full', err.message, { limit: limits.maxQueue, retryAfter: 1 });
      throw err;
    }
    const timer = setTimeout(
      () => submission.cancel(new HttpError(504, 'timeout', `not answered within ${limits.timeoutMs} ms`, { limit: limits.timeoutMs })),
      Math.max(0, limits.timeoutMs - (performance.now() - startOf(req))),
    );
    // A client that hangs up gives its queued sentences back.
    const gone = (): void => {
      if (!reply.raw.writableEnded) submission.cancel(new HttpError(499, 'client_closed', 'the client closed the connection'));
    };
    reply.raw.once('close', gone);
    try {
      const translations = await submission.promise;
      return { translations, model: model.name, ms: round1(performance.now() - startOf(req)) };
    } finally {
      clearTimeout(timer);
    }
  });

  return {
    app,
    limits,
    setModel(m) {
      model = m;
    },
    async listen(host, port) {
      return app.listen({ host, port });
    },
    close() {
      closing ??= (async () => {
        const drained = batcher.drain();
        const force = setTimeout(() => {
          batcher.abort(new HttpError(503, 'closing', 'the server shut down before this request was decoded'));
          app.server.closeAllConnections();
        }, limits.drainTimeoutMs);
        try {
          await Promise.all([app.close(), drained]);
        } finally {
          clearTimeout(force);
        }
      })();
      return closing;
    },
    stats: () => ({ ...batcher.stats(), requests }),
  };
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function modelInfo(m: ServedModel): Record<string, unknown> {
  const { data, decoding } = m.translator.config;
  return {
    name: m.name,
    srcLang: data.srcLang,
    tgtLang: data.tgtLang,
    srcVocab: m.translator.vocabSizes.src,
    tgtVocab: m.translator.vocabSizes.tgt,
    maxLen: data.maxLen,
    decoding: { beam: decoding.beam, nbest: decoding.nbest, lengthPenalty: decoding.lengthPenalty },
  };
}

/** The request's sentences: exactly one of `text` and `texts`, within the limits (422 names the field and the limit). */
export function requestTexts(body: TranslateBody, limits: ServeLimits): string[] {
  if (body.text !== undefined && body.texts !== undefined) {
    throw new HttpError(400, 'bad_request', 'give "text" or "texts", not both', { field: 'texts' });
  }
  if (body.text === undefined && body.texts === undefined) {
    throw new HttpError(400, 'bad_request', 'the body needs "text" (a string) or "texts" (an array of strings)', { field: 'text' });
  }
  const texts = body.texts ?? [body.text!];
  if (texts.length > limits.maxSentences) {
    throw new HttpError(422, 'too_many_sentences', `texts has ${texts.length} sentences; the limit is ${limits.maxSentences}`, {
      field: 'texts',
      limit: limits.maxSentences,
    });
  }
  texts.forEach((text, i) => {
    const chars = [...text].length;
    if (chars <= limits.maxChars) return;
    const field = body.texts ? `texts[${i}]` : 'text';
    throw new HttpError(422, 'sentence_too_long', `${field} has ${chars} characters; the limit is ${limits.maxChars}`, {
      field,
      limit: limits.maxChars,
    });
  });
  return texts;
}

/** The request's decoding options over the model's (422 for a beam over the limit or nbest over beam). */
export function requestOptions(body: TranslateBody, decoding: DecodingConfig, limits: ServeLimits): RequestOptions {
  const beam = body.beam ?? decoding.beam;
  if (beam > limits.maxBeam) {
    throw new HttpError(422, 'beam_too_large', `beam is ${beam}; the limit is ${limits.maxBeam}`, { field: 'beam', limit: limits.maxBeam });
  }
  const nbest = body.nbest ?? Math.min(decoding.nbest, beam);
  if (nbest > beam) throw new HttpError(422, 'nbest_too_large', `nbest is ${nbest}; it can be at most beam (${beam})`, { field: 'nbest', limit: beam });
  return { beam, nbest, lengthPenalty: body.lengthPenalty ?? decoding.lengthPenalty, attention: body.attention ?? false };
}

/** Lets the event loop run between decoder steps, so requests keep being parsed and answered. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Decodes one batch; blank texts get an empty translation, as blank lines do in
 * `s2s translate`. Greedy search streams: sentences that queue up while it
 * runs join it between steps (`more`), and each is answered as soon as it ends.
 */
async function decodeBatch(
  m: ServedModel,
  limits: ServeLimits,
  opts: RequestOptions,
  batch: Sentence<TranslationJson>[],
  more: (max: number) => Sentence<TranslationJson>[],
): Promise<void> {
  const options = {
    beam: opts.beam,
    nbest: opts.nbest,
    lengthPenalty: opts.lengthPenalty,
    batchSize: limits.maxBatch,
    attention: opts.attention,
    pause: yieldToEventLoop,
  };
  const blankAnswered = (sentences: Sentence<TranslationJson>[]): Sentence<TranslationJson>[] =>
    sentences.filter((s) => {
      if (s.text.trim() !== '') return true;
      s.done(translationJson(emptyTranslation(s.text), opts));
      return false;
    });
  if (opts.beam === 1) {
    let first: Sentence<TranslationJson>[] | null = batch;
    const take = (max: number): StreamText[] => {
      for (;;) {
        const sentences = first ? first.splice(0, max) : more(max);
        if (first?.length === 0) first = null;
        if (sentences.length === 0) return [];
        const kept = blankAnswered(sentences);
        if (kept.length > 0) return kept.map((s) => ({ text: s.text, done: (t: Translation) => s.done(translationJson(t, opts)) }));
      }
    };
    return m.translator.translateStream(take, options);
  }
  const sentences = blankAnswered(batch);
  const found = await m.translator.translate(sentences.map((s) => s.text), options);
  sentences.forEach((s, i) => s.done(translationJson(found[i]!, opts)));
}

export function translationJson(t: Translation, opts: RequestOptions): TranslationJson {
  return {
    text: t.translation,
    score: t.score,
    ...(opts.nbest > 1 ? { nbest: t.nbest.map((c) => ({ text: c.translation, score: c.score })) } : {}),
    ...(opts.attention ? { attention: t.attention ?? [], sourceTokens: t.sourceTokens, tokens: t.tokens } : {}),
    ...(t.truncated > 0 ? { truncated: t.truncated } : {}),
  };
}

/** fastify's and ajv's errors as answers that name the field. */
function fromFastifyError(err: FastifyError): HttpError {
  if (err.validation && err.validation.length > 0) {
    const v = err.validation[0]!;
    const params = v.params as Record<string, unknown>;
    if (v.keyword === 'additionalProperties') {
      const field = String(params.additionalProperty);
      return new HttpError(400, 'bad_request', `unknown field "${field}"`, { field });
    }
    const field = fieldName(v.instancePath);
    if (field === '') return new HttpError(400, 'bad_request', 'the body must be a JSON object', {});
    return new HttpError(400, 'bad_request', `${field} ${v.message ?? 'is invalid'}`, { field });
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(413, 'body_too_large', `the body is larger than ${err.message.match(/\d+/)?.[0] ?? 'the limit'} bytes`);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError(400, 'bad_json', `the body is not valid JSON: ${err.message}`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(415, 'unsupported_media_type', 'send the body as application/json');
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return new HttpError(status, 'bad_request', err.message);
  return new HttpError(500, 'internal', 'internal error');
}

/** `/texts/3` → `texts[3]`. */
function fieldName(instancePath: string): string {
  return instancePath
    .split('/')
    .filter((p) => p !== '')
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join('');
}
