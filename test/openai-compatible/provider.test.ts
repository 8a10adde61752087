import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import {
  APIError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  RateLimitError,
} from 'openai';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import type { CallSummary } from '../../src/gateway/gateway.js';
import {
  closedPort,
  completionReply,
  encodeStream,
  errorReply,
  fakeChunks,
  fakeCompletion,
  fakeUsage,
  hangReply,
  openAIError,
  rawJsonReply,
  rawStreamReply,
  sseEvent,
  startFakeUpstream,
  streamReply,
  type FakeUpstream,
  type RecordedRequest,
} from '../helpers/fake-openai-upstream.js';

const USER = [{ role: 'user' as const, content: 'Say hello.' }];

let fake: FakeUpstream;
let server: RunningServer;
const summaries: CallSummary[] = [];

function providerConfig(baseURL: string, extra: Record<string, unknown> = {}) {
  return {
    id: 'up',
    kind: 'openai-compatible' as const,
    baseURL,
    apiKey: 'sk-upstream',
    models: ['gpt-test', { id: 'small', maxOutputTokens: 50 }],
    ...extra,
  };
}

before(async () => {
  fake = await startFakeUpstream();
  server = await startServer({ providers: [providerConfig(fake.baseURL)] }, { onCallEnd: (summary) => summaries.push(summary) });
});

/**
 * Closes a server once its tests are done. Node's `closeIdleConnections` (which Fastify's close
 * relies on) skips a socket that has not sent a request yet, and the SDK's fetch pool sometimes
 * leaves one behind after an aborted request: without this, close waits for the keep-alive timeout.
 */
async function stop(target: RunningServer | undefined): Promise<void> {
  if (!target) return;
  target.app.server.closeAllConnections();
  await target.close();
}

after(async () => {
  await stop(server);
  await fake?.close();
});

beforeEach(() => {
  fake.reset();
  summaries.length = 0;
});

// ——— helpers ———

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor<T>(probe: () => T | undefined, what: string, ms = 2000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(5);
  }
}

function onlyRequest(): RecordedRequest {
  assert.equal(fake.chatRequests.length, 1, 'exactly one upstream request');
  return fake.chatRequests[0]!;
}

function postChat(target: RunningServer, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${target.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-client', ...headers },
    body: JSON.stringify(body),
  });
}

interface RawStream {
  status: number;
  headers: Headers;
  text: string;
  /** Every event's data, `[DONE]` included. */
  events: string[];
  comments: string[];
}

async function rawStream(response: Response): Promise<RawStream> {
  const text = await response.text();
  const events: string[] = [];
  const comments: string[] = [];
  createParser({ onEvent: (event) => events.push(event.data), onComment: (comment) => comments.push(comment.trim()) }).feed(text);
  return { status: response.status, headers: response.headers, text, events, comments };
}

async function collect(target: RunningServer, params: Omit<ChatCompletionCreateParamsStreaming, 'stream'>, apiKey?: string) {
  const stream = await target.client(apiKey).chat.completions.create({ ...params, stream: true });
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** Runs an SDK stream to its end and returns the chunks it got and the error it raised. */
async function collectUntilError(target: RunningServer, params: Omit<ChatCompletionCreateParamsStreaming, 'stream'>) {
  const stream = await target.client().chat.completions.create({ ...params, stream: true });
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (error) {
    return { chunks, error };
  }
  return { chunks, error: undefined };
}

function contentOf(chunks: readonly ChatCompletionChunk[]): string {
  return chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
}

function assertOpenAIError(value: unknown, expected: { status: number | undefined; code?: string | null; param?: string | null; type?: string; message?: string | RegExp }) {
  assert.ok(value instanceof APIError, `expected an APIError, got ${String(value)}`);
  assert.equal(value.status, expected.status);
  if (expected.code !== undefined) assert.equal(value.code, expected.code);
  if (expected.param !== undefined) assert.equal(value.param, expected.param);
  if (expected.type !== undefined) assert.equal(value.type, expected.type);
  if (typeof expected.message === 'string') assert.equal((value.error as { message?: string }).message, expected.message);
  else if (expected.message) assert.match((value.error as { message?: string }).message ?? '', expected.message);
  return value;
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to fail');
}

// ——— tests ———

describe('the request the upstream receives', () => {
  test('the model name is rewritten to the upstream’s own', async () => {
    const cases = [
      ['up/gpt-test', 'gpt-test'],
      ['gpt-test', 'gpt-test'],
      ['up/other-model', 'other-model'],
      ['up/org/model-x', 'org/model-x'],
    ] as const;
    for (const [asked, sent] of cases) {
      fake.reset();
      await server.client().chat.completions.create({ model: asked, messages: USER });
      const request = onlyRequest();
      assert.equal(request.method, 'POST');
      assert.equal(request.path, '/v1/chat/completions');
      assert.equal(request.body.model, sent, asked);
      // And the same for a stream.
      fake.reset();
      await collect(server, { model: asked, messages: USER });
      assert.equal(onlyRequest().body.model, sent, `${asked} (stream)`);
    }
  });

  test('the upstream gets its own key, never the client’s', async () => {
    const client = server.client('sk-client-secret-42');
    await client.chat.completions.create({ model: 'up/gpt-test', messages: USER });
    await collect(server, { model: 'up/gpt-test', messages: USER }, 'sk-client-secret-42');
    await postChat(server, { model: 'up/gpt-test', messages: USER }, { authorization: '', 'api-key': 'sk-client-secret-42', 'openai-organization': 'org-client' });
    assert.equal(fake.chatRequests.length, 3);
    for (const request of fake.chatRequests) {
      assert.equal(request.headers.authorization, 'Bearer sk-upstream');
      assert.equal(request.headers['api-key'], undefined);
      assert.equal(request.headers['openai-organization'], undefined);
      for (const [name, value] of Object.entries(request.headers)) {
        assert.ok(!String(value).includes('sk-client'), `header ${name} carries the client's key`);
      }
      assert.ok(!request.rawBody.includes('sk-client'));
    }
  });

  test('unknown request fields pass through untouched (raw JSON)', async () => {
    const sent = {
      model: 'up/gpt-test',
      messages: [
        { role: 'system', content: 'Be brief.', vendor_cache: { ttl: '5m' } },
        { role: 'user', content: [{ type: 'text', text: 'Hi é 日本 🚀', cache_control: { type: 'ephemeral' } }] },
      ],
      temperature: 0.25,
      vendor_extension: { a: 1, nested: { list: [1, 'two', null, true], empty: {} } },
      top_k: 40,
      min_p: 0.05,
      repetition_penalty: 1.1,
      chat_template_kwargs: { enable_thinking: false },
      guided_json: { type: 'object' },
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' }, vendor_flag: true } },
      logit_bias: { '50256': -100 },
      metadata: { k: 'v' },
      reasoning: { effort: 'low' },
    };
    const response = await postChat(server, sent);
    assert.equal(response.status, 200);
    await response.text();
    assert.deepEqual(onlyRequest().body, { ...sent, model: 'gpt-test' });

    fake.reset();
    const streamed = { ...sent, stream: true, stream_options: { include_obfuscation: false, vendor_option: 'x' } };
    await rawStream(await postChat(server, streamed));
    assert.deepEqual(onlyRequest().body, {
      ...streamed,
      model: 'gpt-test',
      stream_options: { include_obfuscation: false, vendor_option: 'x', include_usage: true },
    });
  });

  test("Switchyard's own `reasoning: true|false` switch is not sent upstream (OpenAI refuses unknown fields); its object form is", async () => {
    for (const stream of [false, true]) {
      for (const reasoning of [true, false]) {
        fake.reset();
        const response = await postChat(server, { model: 'up/gpt-test', messages: USER, reasoning, stream });
        assert.equal(response.status, 200);
        await response.text();
        assert.equal('reasoning' in onlyRequest().body, false, `reasoning: ${reasoning}, stream: ${stream}`);
      }
    }
  });

  test('unknown request fields pass through untouched (the SDK’s extra body)', async () => {
    await server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER, vendor_extension: { a: 1 } } as never);
    assert.deepEqual(onlyRequest().body.vendor_extension, { a: 1 });
    fake.reset();
    await server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER }, { body: { model: 'up/gpt-test', messages: USER, vendor_extension: { b: [2] } } });
    assert.deepEqual(onlyRequest().body.vendor_extension, { b: [2] });
  });
});

describe('streams', () => {
  test('always ask the upstream for usage, and drop the usage chunk the client did not ask for', async () => {
    for (const streamOptions of [undefined, { include_usage: false }]) {
      fake.reset();
      summaries.length = 0;
      const chunks = await collect(server, { model: 'up/gpt-test', messages: USER, ...(streamOptions ? { stream_options: streamOptions } : {}) });
      assert.equal(onlyRequest().body.stream_options.include_usage, true);
      assert.equal(contentOf(chunks), 'Hello from the fake upstream.');
      assert.ok(chunks.every((chunk) => chunk.choices.length > 0), 'no usage chunk (choices: []) reached the client');
      assert.ok(chunks.every((chunk) => !chunk.usage), 'no usage reached the client');
      assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'stop');
      // The gateway still counted it.
      const summary = await waitFor(() => summaries[0], 'call summary');
      assert.deepEqual(summary.usage, fakeUsage(9, 5));
      assert.equal(summary.status, 'completed');
    }
  });

  test('keep the usage chunk when the client asked', async () => {
    const chunks = await collect(server, { model: 'up/gpt-test', messages: USER, stream_options: { include_usage: true } });
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, fakeUsage(9, 5));
    assert.equal(chunks.filter((chunk) => chunk.usage).length, 1);
  });

  // OpenAI: "All other chunks will also include a usage field, but with a null value" — only when
  // the client set include_usage. The `usage: null` Switchyard's own request caused must not show.
  test('chunks carry no `usage` field when the client did not ask (as OpenAI documents)', async () => {
    const chunks = await collect(server, { model: 'up/gpt-test', messages: USER });
    assert.ok(chunks.length > 0);
    for (const chunk of chunks) assert.ok(!('usage' in chunk), `chunk has a usage field: ${JSON.stringify(chunk)}`);
  });

  test('…wherever the upstream puts the `usage` key in its JSON', async () => {
    const chunks = fakeChunks({ contents: ['usage', ' first'] }).map(({ choices, ...frame }) => ({ usage: null, ...frame, choices }));
    fake.script(rawStreamReply([chunks.map((chunk) => sseEvent(JSON.stringify(chunk))).join('') + sseEvent('[DONE]')]));
    const relayed = await collect(server, { model: 'up/gpt-test', messages: USER });
    assert.equal(contentOf(relayed), 'usage first');
    for (const chunk of relayed) assert.ok(!('usage' in chunk), `chunk has a usage field: ${JSON.stringify(chunk)}`);
  });

  test('chunks are relayed as they arrive, not buffered', async () => {
    fake.script(streamReply({ contents: ['one', ' two', ' three', ' four'], pauseMs: 150 }));
    const started = performance.now();
    const stream = await server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER, stream: true });
    const arrivals: number[] = [];
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      arrivals.push(performance.now() - started);
      chunks.push(chunk);
    }
    assert.equal(contentOf(chunks), 'one two three four');
    assert.equal(arrivals.length, 6);
    // The fake takes 5 × 150 ms from its first chunk to its last; a buffering relay would deliver
    // them together. (No per-gap check: in a loaded test process two reads may coalesce.)
    const spread = arrivals.at(-1)! - arrivals[0]!;
    assert.ok(spread >= 450, `first and last chunk arrived ${spread.toFixed(0)} ms apart: buffered? (${arrivals.map((t) => t.toFixed(0)).join(', ')})`);
  });

  test('each event is relayed byte for byte, then [DONE]', async () => {
    const written: string[] = [];
    fake.script(streamReply({ contents: ['a "quoted"\nline', ' é 日本 🚀'], onEvent: (data) => written.push(data) }));
    const stream = await rawStream(await postChat(server, { model: 'up/gpt-test', messages: USER, stream: true, stream_options: { include_usage: true } }));
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(stream.headers.get('x-switchyard-route'), 'up/gpt-test');
    assert.ok(stream.headers.get('x-request-id'));
    assert.deepEqual(stream.events, written);
    assert.equal(stream.events.at(-1), '[DONE]');
    assert.ok(stream.text.endsWith('data: [DONE]\n\n'));
  });

  test('events split at odd byte boundaries, with \\r\\n endings and multibyte characters, arrive whole', async () => {
    const chunks = fakeChunks({ contents: ['Caf', 'é ', '日本', ' 🚀'], includeUsage: true });
    const bytes = Buffer.from(encodeStream(chunks, { lineEnding: '\r\n' }));
    const text = bytes.toString('utf8');
    // Cut inside each multibyte character, between each \r and \n, and inside `data:`.
    const cuts = new Set<number>();
    for (const character of ['é', '日', '本', '🚀']) {
      const start = Buffer.byteLength(text.slice(0, text.indexOf(character)));
      for (let inside = 1; inside < Buffer.byteLength(character); inside++) cuts.add(start + inside);
    }
    for (let index = 0; index < bytes.length - 1; index++) if (bytes[index] === 13 && bytes[index + 1] === 10) cuts.add(index + 1);
    for (let at = text.indexOf('data:'); at !== -1; at = text.indexOf('data:', at + 1)) cuts.add(Buffer.byteLength(text.slice(0, at)) + 3);
    const offsets = [...cuts].sort((a, b) => a - b);
    const pieces = offsets.map((at, index) => bytes.subarray(index === 0 ? 0 : offsets[index - 1], at));
    pieces.push(bytes.subarray(offsets.at(-1)));
    fake.script(rawStreamReply(pieces, { pauseMs: 2 }));

    const stream = await rawStream(await postChat(server, { model: 'up/gpt-test', messages: USER, stream: true, stream_options: { include_usage: true } }));
    assert.deepEqual(stream.events, [...chunks.map((chunk) => JSON.stringify(chunk)), '[DONE]']);
    assert.ok(!stream.text.includes('\r'), 'Switchyard frames with \\n');
    const viaSdk = await collect(server, { model: 'up/gpt-test', messages: USER });
    assert.equal(contentOf(viaSdk), 'Café 日本 🚀');
  });

  // SSE joins a multi-line `data:` field with \n; written back after one `data: ` prefix, that text
  // would break the client's framing.
  test('a multi-line data event (legal SSE) reaches the client as a valid event', async () => {
    const chunks = fakeChunks({ contents: ['multi-line'] });
    const first = JSON.stringify(chunks[1], null, 1)
      .split('\n')
      .map((line) => `data: ${line}\n`)
      .join('');
    fake.script(rawStreamReply([encodeStream(chunks.slice(0, 1), { done: false }), `${first}\n`, encodeStream(chunks.slice(2))]));
    const viaSdk = await collectUntilError(server, { model: 'up/gpt-test', messages: USER });
    assert.equal(viaSdk.error, undefined);
    assert.equal(contentOf(viaSdk.chunks), 'multi-line');
  });

  test('heartbeats keep a slow first token’s stream alive, and the chunks follow', async () => {
    const beating = await startServer({ server: { heartbeatMs: 40 }, providers: [providerConfig(fake.baseURL)] });
    try {
      fake.script(streamReply({ firstDelayMs: 250 }));
      const stream = await rawStream(await postChat(beating, { model: 'up/gpt-test', messages: USER, stream: true }));
      assert.equal(stream.status, 200);
      assert.ok(stream.comments.filter((comment) => comment === 'keep-alive').length >= 2, stream.text);
      assert.ok(stream.text.startsWith(': keep-alive\n\n'));
      assert.equal(stream.events.at(-1), '[DONE]');
      assert.equal(contentOf(stream.events.slice(0, -1).map((data) => JSON.parse(data))), 'Hello from the fake upstream.');
    } finally {
      await stop(beating);
    }
  });
});

describe('non-streaming replies', () => {
  test('the upstream’s body is relayed as it was sent', async () => {
    const body = JSON.stringify({ ...fakeCompletion({ content: 'Relayed é 🚀' }), x_vendor: { kept: [1, 2] } }, null, 2);
    fake.script(rawJsonReply(body));
    const response = await postChat(server, { model: 'up/gpt-test', messages: USER });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(response.headers.get('x-switchyard-route'), 'up/gpt-test');
    assert.ok(response.headers.get('x-request-id'));
    assert.equal(await response.text(), body);

    const completion = await server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER });
    assert.deepEqual(completion, JSON.parse(body));
    const summary = await waitFor(() => summaries.at(-1), 'call summary');
    assert.deepEqual(summary.usage, fakeCompletion({ content: 'Relayed é 🚀' }).usage);
  });

  test('a 200 whose body is not a completion is a 502', async () => {
    fake.script(rawJsonReply('<html>gateway says hi</html>'));
    assertOpenAIError(await errorOf(server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER })), { status: 502, code: 'upstream_error' });
    fake.script(rawJsonReply('{"object":"not a completion"}'));
    assertOpenAIError(await errorOf(server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER })), { status: 502, code: 'upstream_error' });
  });

  // Destroying the unread undici body emits a RequestAbortedError on it; with no listener that is an
  // uncaught exception, which ends a real server's process. The monitor sees it even here, where the
  // test runner's own handler keeps the process up.
  test('a stream request answered with JSON instead of a stream is a 502, and nothing is left uncaught', async () => {
    const uncaught: unknown[] = [];
    const monitor = (error: unknown) => uncaught.push(error);
    process.on('uncaughtExceptionMonitor', monitor);
    try {
      fake.script(completionReply());
      assertOpenAIError(await errorOf(collect(server, { model: 'up/gpt-test', messages: USER })), { status: 502, code: 'upstream_error' });
      // A deferred 'error' event on the discarded body fires within a tick or two.
      await sleep(100);
      assert.deepEqual(uncaught.map(String), []);
      assert.equal((await fetch(`${server.origin}/healthz`)).status, 200);
    } finally {
      process.off('uncaughtExceptionMonitor', monitor);
    }
  });
});

describe('upstream errors', () => {
  test('a 400 passes through with its status, message, param and code', async () => {
    const upstream = openAIError("Invalid value for 'temperature': must be at most 2.", 'invalid_request_error', 'temperature', 'invalid_value');
    fake.script(errorReply(400, upstream));
    for (const stream of [false, true]) {
      const error = await errorOf(
        stream ? collect(server, { model: 'up/gpt-test', messages: USER }) : server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER }),
      );
      assert.ok(error instanceof BadRequestError, String(error));
      assertOpenAIError(error, { status: 400, code: 'invalid_value', param: 'temperature', type: 'invalid_request_error', message: upstream.error.message });
    }
    const raw = await postChat(server, { model: 'up/gpt-test', messages: USER });
    assert.equal(raw.status, 400);
    assert.deepEqual(await raw.json(), upstream);
  });

  test('a 404 model_not_found passes through', async () => {
    const upstream = openAIError('The model `other-model` does not exist or you do not have access to it.', 'invalid_request_error', null, 'model_not_found');
    fake.script(errorReply(404, upstream));
    for (const stream of [false, true]) {
      const error = await errorOf(
        stream ? collect(server, { model: 'up/other-model', messages: USER }) : server.client().chat.completions.create({ model: 'up/other-model', messages: USER }),
      );
      assert.ok(error instanceof NotFoundError, String(error));
      assertOpenAIError(error, { status: 404, code: 'model_not_found', param: null, message: upstream.error.message });
    }
  });

  test('a 429 stays a 429 with its retry-after', async () => {
    const upstream = openAIError('Rate limit reached for gpt-test on requests per min (RPM): Limit 3.', 'requests', null, 'rate_limit_exceeded');
    fake.script(errorReply(429, upstream, { 'retry-after': '7' }));
    for (const stream of [false, true]) {
      const error = await errorOf(
        stream ? collect(server, { model: 'up/gpt-test', messages: USER }) : server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER }),
      );
      assert.ok(error instanceof RateLimitError, String(error));
      assertOpenAIError(error, { status: 429, code: 'rate_limit_exceeded', message: upstream.error.message });
      assert.equal(error.headers?.get('retry-after'), '7');
    }
  });

  test('a 500 becomes a 502 that does not leak the upstream’s body', async () => {
    const secret = 'sk-live-LEAKED-9f8e7d6c and password=hunter2 at /srv/internal/db.py:42';
    const bodies = [openAIError(`Internal error: ${secret}`, 'server_error', null, 'internal'), `<html><body>Traceback: ${secret}</body></html>`];
    for (const body of bodies) {
      fake.script(errorReply(500, body));
      for (const stream of [false, true]) {
        const error = await errorOf(
          stream ? collect(server, { model: 'up/gpt-test', messages: USER }) : server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER }),
        );
        assert.ok(error instanceof InternalServerError, String(error));
        assertOpenAIError(error, { status: 502, code: 'upstream_error', type: 'server_error' });
        assert.ok(!error.message.includes('LEAKED') && !error.message.includes('hunter2'), error.message);
      }
      const raw = await postChat(server, { model: 'up/gpt-test', messages: USER });
      assert.equal(raw.status, 502);
      const text = await raw.text();
      for (const leak of ['LEAKED', 'hunter2', '/srv/internal', 'Traceback']) assert.ok(!text.includes(leak), text);
    }
  });

  test('a 503 stays a 503 (upstream_unavailable), with retry-after and no body leaked', async () => {
    fake.script(errorReply(503, openAIError('Overloaded: node gpu-7.internal', 'server_error', null, null), { 'retry-after': '3' }));
    const error = await errorOf(server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER }));
    assertOpenAIError(error, { status: 503, code: 'upstream_unavailable' });
    assert.equal((error as APIError).headers?.get('retry-after'), '3');
    assert.ok(!(error as APIError).message.includes('gpu-7'));
  });

  test("an upstream's 401/403 is Switchyard's key refused: a 502 upstream_auth_failed that quotes nothing of the upstream's message", async () => {
    for (const status of [401, 403]) {
      fake.script(errorReply(status, openAIError('Incorrect API key provided: sk-proj-****wxyz. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_request_error', null, 'invalid_api_key')));
      const error = await errorOf(server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER }));
      assert.ok(!(error instanceof AuthenticationError), 'the client is not told its own key is wrong');
      assertOpenAIError(error, { status: 502, code: 'upstream_auth_failed', type: 'server_error' });
      assert.ok(!(error as APIError).message.includes('wxyz'), (error as APIError).message);
    }
  });

  test('an upstream 504 stays a timeout (504 upstream_timeout)', async () => {
    fake.script(errorReply(504, '<html>Gateway Timeout</html>'));
    const error = await errorOf(server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER }));
    assertOpenAIError(error, { status: 504, code: 'upstream_timeout', type: 'server_error' });
  });

  test('a refused connection is a 502', async () => {
    const refused = await startServer({ providers: [providerConfig(`http://127.0.0.1:${await closedPort()}/v1`)] });
    try {
      for (const stream of [false, true]) {
        const error = await errorOf(
          stream ? collect(refused, { model: 'up/gpt-test', messages: USER }) : refused.client().chat.completions.create({ model: 'up/gpt-test', messages: USER }),
        );
        assertOpenAIError(error, { status: 502, code: 'upstream_error', type: 'server_error' });
      }
    } finally {
      await stop(refused);
    }
  });

  test('max_tokens over a declared maxOutputTokens is a 400 before any upstream call', async () => {
    for (const model of ['small', 'up/small']) {
      for (const param of ['max_tokens', 'max_completion_tokens'] as const) {
        for (const stream of [false, true]) {
          const params = { model, messages: USER, [param]: 51 };
          const error = await errorOf(stream ? collect(server, params) : server.client().chat.completions.create(params));
          assert.ok(error instanceof BadRequestError, String(error));
          assertOpenAIError(error, { status: 400, param, type: 'invalid_request_error' });
        }
      }
    }
    assert.equal(fake.requests.length, 0, 'the upstream was never called');
    // At the limit it goes through.
    await server.client().chat.completions.create({ model: 'small', messages: USER, max_tokens: 50 });
    assert.equal(onlyRequest().body.max_tokens, 50);
    assert.equal(onlyRequest().body.model, 'small');
  });

  test("a request without a limit goes as the client sent it, even to a model that declares maxOutputTokens", async () => {
    for (const stream of [false, true]) {
      fake.reset();
      const params = { model: 'small', messages: USER };
      if (stream) await collect(server, params);
      else await server.client().chat.completions.create(params);
      // Nothing the client did not send: an upstream of another vendor may refuse the field.
      assert.equal(onlyRequest().body.max_completion_tokens, undefined, `stream: ${stream}`);
      assert.equal(onlyRequest().body.max_tokens, undefined);
    }
    fake.reset();
    await server.client().chat.completions.create({ model: 'small', messages: USER, max_tokens: 20 });
    assert.equal(onlyRequest().body.max_tokens, 20);
    assert.equal(onlyRequest().body.max_completion_tokens, undefined);
  });
});

describe('timeouts', () => {
  let quick: RunningServer;
  before(async () => {
    quick = await startServer({ providers: [providerConfig(fake.baseURL, { timeoutMs: 300 })] });
  });
  after(() => stop(quick));

  test('an upstream that never answers is a 504, and its request is cancelled', async () => {
    for (const stream of [false, true]) {
      fake.reset();
      fake.script(hangReply());
      const started = performance.now();
      const error = await errorOf(
        stream ? collect(quick, { model: 'up/gpt-test', messages: USER }) : quick.client().chat.completions.create({ model: 'up/gpt-test', messages: USER }),
      );
      assertOpenAIError(error, { status: 504, code: 'upstream_timeout', type: 'server_error' });
      assert.ok(performance.now() - started < 3000, 'answered soon after the timeout');
      await within(onlyRequest().whenAborted, 1000, 'the upstream request was cancelled');
    }
  });

  test('an upstream that stalls mid-stream ends the stream with an error event', async () => {
    fake.script(streamReply({ contents: ['partial'], ending: 'hang' }));
    const { chunks, error } = await collectUntilError(quick, { model: 'up/gpt-test', messages: USER });
    assert.equal(contentOf(chunks), 'partial');
    assertOpenAIError(error, { status: undefined, code: 'upstream_timeout' });
    await within(onlyRequest().whenAborted, 1000, 'the upstream request was cancelled');
  });
});

describe('streams that fail after their first chunk', () => {
  test('a connection cut mid-stream ends the client’s stream with an error event, not silence', async () => {
    fake.script(streamReply({ contents: ['one', ' two'], ending: 'cut' }));
    const { chunks, error } = await collectUntilError(server, { model: 'up/gpt-test', messages: USER });
    assert.equal(contentOf(chunks), 'one two');
    assert.ok(error instanceof APIError, `the SDK raised ${String(error)}`);
    assert.ok(['upstream_error', 'stream_interrupted'].includes(String(error.code)), String(error.code));

    const raw = await rawStream(await postChat(server, { model: 'up/gpt-test', messages: USER, stream: true }));
    assert.equal(raw.status, 200);
    assert.ok(!raw.events.includes('[DONE]'));
    const last = JSON.parse(raw.events.at(-1)!);
    assert.deepEqual(Object.keys(last.error), ['message', 'type', 'param', 'code']);
    assert.equal(last.error.type, 'server_error');
    // The upstream was reached; the message says the connection failed mid-reply, not that it could not be reached.
    if (last.error.code === 'upstream_error') assert.match(last.error.message, /while its reply was being read/);
    const summary = await waitFor(() => summaries.find((entry) => entry.status === 'failed'), 'a failed call summary');
    assert.ok(summary.error);
  });

  test('a stream that ends cleanly with neither finish nor [DONE] ends with stream_interrupted', async () => {
    fake.script(streamReply({ contents: ['one', ' two'], ending: 'end' }));
    const { chunks, error } = await collectUntilError(server, { model: 'up/gpt-test', messages: USER });
    assert.equal(contentOf(chunks), 'one two');
    assertOpenAIError(error, { status: undefined, code: 'stream_interrupted', type: 'server_error' });
  });

  test('a stream that ends after its finish without [DONE] is complete', async () => {
    fake.script(streamReply({ ending: 'no-done' }));
    const raw = await rawStream(await postChat(server, { model: 'up/gpt-test', messages: USER, stream: true }));
    assert.equal(raw.events.at(-1), '[DONE]');
    assert.ok(raw.events.slice(0, -1).every((data) => !('error' in JSON.parse(data))));
  });

  test('an error object inside a 200 stream becomes an error event', async () => {
    fake.script(streamReply({ contents: ['one'], ending: { error: { message: 'The model crashed while generating.', type: 'server_error' } } }));
    const { chunks, error } = await collectUntilError(server, { model: 'up/gpt-test', messages: USER });
    assert.equal(contentOf(chunks), 'one');
    assertOpenAIError(error, { status: undefined, code: 'upstream_error', type: 'server_error' });

    const raw = await rawStream(await postChat(server, { model: 'up/gpt-test', messages: USER, stream: true }));
    assert.ok(!raw.events.includes('[DONE]'));
    assert.ok(raw.text.endsWith('\n\n'));
    assert.equal(JSON.parse(raw.events.at(-1)!).error.code, 'upstream_error');
  });

  test('an `event: error` inside a 200 stream becomes an error event', async () => {
    fake.script(streamReply({ contents: ['one'], ending: { error: { message: 'overloaded' }, event: 'error' } }));
    const { chunks, error } = await collectUntilError(server, { model: 'up/gpt-test', messages: USER });
    assert.equal(contentOf(chunks), 'one');
    assertOpenAIError(error, { status: undefined, code: 'upstream_error' });
  });

  test('an error object as the very first event is an HTTP error (the first-byte contract)', async () => {
    fake.script(rawStreamReply([`data: ${JSON.stringify(openAIError('boom', 'server_error', null, null))}\n\n`]));
    const error = await errorOf(collect(server, { model: 'up/gpt-test', messages: USER }));
    assertOpenAIError(error, { status: 502, code: 'upstream_error' });
  });
});

describe('client disconnects', () => {
  test('mid-stream: the upstream request is cancelled within a second', async () => {
    fake.script(streamReply({ contents: Array.from({ length: 40 }, (_, index) => ` ${index}`), pauseMs: 100 }));
    const stream = await server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER, stream: true });
    let seen = 0;
    let leftAt = 0;
    for await (const _chunk of stream) {
      void _chunk;
      if (++seen === 3) {
        leftAt = performance.now();
        break;
      }
    }
    const upstream = onlyRequest();
    await within(upstream.whenAborted, 1000, 'the upstream saw the abort');
    assert.ok(upstream.abortedAt! - leftAt < 1000);
    const summary = await waitFor(() => summaries[0], 'call summary');
    assert.equal(summary.status, 'aborted');
  });

  test('before the first chunk: the upstream request is cancelled within a second', async () => {
    fake.script(hangReply());
    const controller = new AbortController();
    const pending = server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER, stream: true }, { signal: controller.signal });
    const upstream = await within(fake.nextRequest(), 2000, 'the upstream got the request');
    controller.abort();
    await errorOf(pending);
    await within(upstream.whenAborted, 1000, 'the upstream saw the abort');
  });

  test('a non-streaming request: the upstream request is cancelled within a second', async () => {
    fake.script(hangReply());
    const controller = new AbortController();
    const pending = server.client().chat.completions.create({ model: 'up/gpt-test', messages: USER }, { signal: controller.signal });
    const upstream = await within(fake.nextRequest(), 2000, 'the upstream got the request');
    controller.abort();
    await errorOf(pending);
    await within(upstream.whenAborted, 1000, 'the upstream saw the abort');
    const summary = await waitFor(() => summaries[0], 'call summary');
    assert.equal(summary.status, 'aborted');
  });
});

describe('a Switchyard as the upstream of another', () => {
  let inner: RunningServer;
  let outer: RunningServer;
  before(async () => {
    inner = await startServer({});
    outer = await startServer({ providers: [{ id: 'up', kind: 'openai-compatible', baseURL: inner.baseURL, apiKey: 'sk-upstream' }] });
  });
  after(async () => {
    await stop(outer);
    await stop(inner);
  });

  /** Ids and timestamps differ between two calls; everything else must not. */
  function normalize<T>(value: T): T {
    return JSON.parse(
      JSON.stringify(value, (key, field) => {
        if (key === 'id' && typeof field === 'string') return field.replace(/^(chatcmpl-|call_).*/, '$1*');
        if (key === 'created') return 0;
        return field;
      }),
    );
  }

  const messages = [{ role: 'user' as const, content: 'Échos: 日本語 and 🚀, twice over.' }];

  test('a non-streaming reply equals the inner server’s own', async () => {
    const direct = await inner.client().chat.completions.create({ model: 'sandbox/echo', messages, seed: 7 });
    const relayed = await outer.client().chat.completions.create({ model: 'up/sandbox/echo', messages, seed: 7 });
    assert.deepEqual(normalize(relayed), normalize(direct));
    assert.equal(relayed.choices[0]!.message.content, messages[0]!.content);
  });

  test('a streamed reply with usage equals the inner server’s own', async () => {
    const params = { messages, seed: 7, stream_options: { include_usage: true } };
    const direct = await collect(inner, { model: 'sandbox/echo', ...params });
    const relayed = await collect(outer, { model: 'up/sandbox/echo', ...params });
    assert.deepEqual(normalize(relayed), normalize(direct));
    assert.equal(contentOf(relayed), messages[0]!.content);
    assert.ok(relayed.at(-1)!.usage);
  });

  test('a streamed reply without usage equals the inner server’s own', async () => {
    const direct = await collect(inner, { model: 'sandbox/echo', messages });
    const relayed = await collect(outer, { model: 'up/sandbox/echo', messages });
    assert.deepEqual(normalize(relayed), normalize(direct));
    assert.equal(contentOf(relayed), messages[0]!.content);
    assert.ok(relayed.every((chunk) => !('usage' in chunk)));
  });

  test('tool calls are reassembled by the SDK’s stream helper', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'get_weather',
          description: 'Weather in a city',
          parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city', 'days'] },
        },
      },
    ];
    const toolMessages = [{ role: 'user' as const, content: 'Use get_weather for Zürich, please.' }];
    const relayed: ChatCompletion = await outer
      .client()
      .chat.completions.stream({ model: 'up/sandbox/echo', messages: toolMessages, tools, seed: 3 })
      .finalChatCompletion();
    const direct = await inner.client().chat.completions.create({ model: 'sandbox/echo', messages: toolMessages, tools, seed: 3 });

    const choice = relayed.choices[0]!;
    assert.equal(choice.finish_reason, 'tool_calls');
    const calls = choice.message.tool_calls ?? [];
    assert.equal(calls.length, 1);
    const call = calls[0]!;
    assert.equal(call.type, 'function');
    if (call.type !== 'function') return;
    assert.equal(call.function.name, 'get_weather');
    assert.match(call.id, /^call_/);
    const args = JSON.parse(call.function.arguments);
    assert.equal(typeof args.city, 'string');
    assert.ok(Number.isInteger(args.days));
    const directCall = direct.choices[0]!.message.tool_calls![0]!;
    assert.ok(directCall.type === 'function');
    assert.equal(call.function.arguments, directCall.function.arguments);
  });
});
