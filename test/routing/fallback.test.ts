import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from 'openai';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { closedPort, errorReply, hangReply, openAIError } from '../helpers/fake-openai-upstream.js';
import { ask, askStream, assertOpenAIError, errorOf, startUpstreams, stop, USER, within, type Upstreams } from './helpers.js';

let upstreams: Upstreams;
let server: RunningServer;

before(async () => {
  upstreams = await startUpstreams();
  const deadPort = await closedPort();
  server = await startServer({
    providers: [
      ...upstreams.providers,
      { id: 'dead', kind: 'openai-compatible', baseURL: `http://127.0.0.1:${deadPort}/v1`, models: ['gpt-test'] },
      { id: 'claude', kind: 'anthropic', baseURL: `http://127.0.0.1:${deadPort}`, apiKey: 'sk-ant-test', models: [{ id: 'claude-x' }] },
      { kind: 'sandbox' },
    ],
    aliases: {
      pair: ['a/gpt-test', 'b/gpt-test'],
      timed: [{ model: 'a/gpt-test', timeoutMs: 300 }, 'b/gpt-test'],
      refused: ['dead/gpt-test', 'b/gpt-test'],
      retrying: { targets: ['a/gpt-test', 'b/gpt-test'], retries: 2 },
      vectors: ['dead/gpt-test', 'sandbox/echo'],
      mixed: ['claude/claude-x', 'sandbox/echo'],
    },
    // Backoff without retry-after stays short; the breaker stays out of these tests.
    routing: { baseDelayMs: 10, maxDelayMs: 2_500, breakerFailures: 1_000 },
  });
});

after(async () => {
  await stop(server);
  await upstreams?.close();
});

beforeEach(() => upstreams.reset());

function requestCounts() {
  return { a: upstreams.a.chatRequests.length, b: upstreams.b.chatRequests.length };
}

const serverFault = (status: number, headers: Record<string, string> = {}) =>
  errorReply(status, openAIError(`internal detail ${status}: db password hunter2`, 'server_error', null, null), headers);

describe('fallback to the next target', () => {
  test('a parameter a target cannot serve (Anthropic and n, seed, logprobs) moves an alias on to the next target', async () => {
    for (const extra of [{ n: 2 }, { seed: 1 }, { logprobs: true }]) {
      const { data, response } = await server.client().chat.completions.create({ model: 'mixed', messages: USER, ...extra }).withResponse();
      assert.equal(response.headers.get('x-switchyard-route'), 'alias:mixed > sandbox/echo (after 1 fallback)', JSON.stringify(extra));
      assert.equal(data.choices.length, extra.n ?? 1);
    }
    // Asked of the target alone, it is the target's 400.
    const refused = await errorOf(server.client().chat.completions.create({ model: 'claude/claude-x', messages: USER, n: 2 }));
    assertOpenAIError(refused, { status: 400, param: 'n' });
  });

  test('embeddings fall back like chat, and skip a target whose backend makes none', async () => {
    for (const [alias, route] of [
      ['vectors', 'alias:vectors > sandbox/echo (after 1 fallback)'],
      ['mixed', 'alias:mixed > sandbox/echo'],
    ] as const) {
      const { data, response } = await server.client().embeddings.create({ model: alias, input: 'hello', encoding_format: 'float' }).withResponse();
      assert.equal(data.data[0]!.embedding.length > 0, true);
      assert.equal(response.headers.get('x-switchyard-route'), route);
    }
    // No target of the route makes embeddings: a 400 naming the model.
    const refused = await errorOf(server.client().embeddings.create({ model: 'claude/claude-x', input: 'hello' }));
    assertOpenAIError(refused, { status: 400, param: 'model' });
  });

  for (const status of [500, 502, 503, 429]) {
    test(`on an upstream ${status}`, async () => {
      upstreams.a.once(serverFault(status));
      const reply = await ask(server, 'pair');
      assert.equal(reply.content, 'from b');
      assert.equal(reply.route, 'alias:pair > b/gpt-test (after 1 fallback)');
      assert.deepEqual(requestCounts(), { a: 1, b: 1 });
      // The second target gets the same request, under its own model name.
      assert.deepEqual(upstreams.b.chatRequests[0]!.body.messages, USER);
      assert.equal(upstreams.b.chatRequests[0]!.body.model, 'gpt-test');
    });

    test(`on an upstream ${status}, streamed`, async () => {
      upstreams.a.once(serverFault(status));
      const reply = await askStream(server, 'pair');
      assert.equal(reply.error, undefined);
      assert.equal(reply.content, 'from b');
      assert.equal(reply.route, 'alias:pair > b/gpt-test (after 1 fallback)');
      assert.deepEqual(requestCounts(), { a: 1, b: 1 });
    });
  }

  test('on a target timeout (`timeoutMs`): the slow attempt is cancelled', async () => {
    upstreams.a.once(hangReply());
    const started = performance.now();
    const reply = await ask(server, 'timed');
    const elapsed = performance.now() - started;
    assert.equal(reply.content, 'from b');
    assert.equal(reply.route, 'alias:timed > b/gpt-test (after 1 fallback)');
    assert.ok(elapsed >= 290 && elapsed < 2_000, `fell back after ${Math.round(elapsed)} ms`);
    await within(upstreams.a.chatRequests[0]!.whenAborted, 1_000, 'the timed-out upstream request was cancelled');
  });

  test('on a refused connection', async () => {
    const reply = await ask(server, 'refused');
    assert.equal(reply.content, 'from b');
    assert.equal(reply.route, 'alias:refused > b/gpt-test (after 1 fallback)');
    const streamed = await askStream(server, 'refused');
    assert.equal(streamed.content, 'from b');
    assert.equal(streamed.route, 'alias:refused > b/gpt-test (after 1 fallback)');
  });

  test('when every target fails, the client gets the last failure, without any upstream’s details', async () => {
    upstreams.a.once(serverFault(500));
    upstreams.b.once(serverFault(503));
    const error = assertOpenAIError(await errorOf(ask(server, 'pair')), { status: 503, code: 'upstream_unavailable', type: 'server_error' });
    assert.doesNotMatch(error.message, /hunter2|internal detail/);
    assert.deepEqual(requestCounts(), { a: 1, b: 1 });
  });
});

describe('no fallback on a request’s own fault', () => {
  for (const status of [400, 404, 422]) {
    test(`an upstream ${status} reaches the client as it was; the next target receives nothing`, async () => {
      upstreams.a.once(errorReply(status, openAIError('Invalid value for temperature.', 'invalid_request_error', 'temperature', 'invalid_value')));
      const error = assertOpenAIError(await errorOf(ask(server, 'pair')), { status, code: 'invalid_value', param: 'temperature', type: 'invalid_request_error' });
      assert.equal((error.error as { message?: string }).message, 'Invalid value for temperature.');
      if (status === 400) assert.ok(error instanceof BadRequestError);
      assert.deepEqual(requestCounts(), { a: 1, b: 0 });
    });
  }

  test('nor for a stream', async () => {
    upstreams.a.once(errorReply(400, openAIError('Bad tools.', 'invalid_request_error', 'tools', null)));
    assertOpenAIError(await errorOf(askStream(server, 'pair')), { status: 400, param: 'tools' });
    assert.deepEqual(requestCounts(), { a: 1, b: 0 });
  });

  test('nor on retries: a 400 is not retried', async () => {
    upstreams.a.once(errorReply(400, openAIError('Bad.', 'invalid_request_error', null, null)));
    assertOpenAIError(await errorOf(ask(server, 'retrying')), { status: 400 });
    assert.deepEqual(requestCounts(), { a: 1, b: 0 });
  });
});

describe('retries', () => {
  test('a 429 with retry-after: 1 is retried on the same target about a second later', async () => {
    upstreams.a.once(serverFault(429, { 'retry-after': '1' }));
    const reply = await ask(server, 'retrying');
    assert.equal(reply.content, 'from a');
    assert.equal(reply.route, 'alias:retrying > a/gpt-test');
    assert.deepEqual(requestCounts(), { a: 2, b: 0 });
    const [first, second] = upstreams.a.chatRequests;
    const waited = second!.receivedAt - first!.receivedAt;
    assert.ok(waited >= 950 && waited < 1_500, `the retry came ${Math.round(waited)} ms later`);
  });

  test('a 503 with retry-after as an HTTP date is honoured too', async () => {
    // A date has whole-second precision: two seconds ahead is read as one or two.
    const date = new Date(Date.now() + 2_000).toUTCString();
    upstreams.a.once(serverFault(503, { 'retry-after': date }));
    const reply = await ask(server, 'retrying');
    assert.equal(reply.content, 'from a');
    const [first, second] = upstreams.a.chatRequests;
    const waited = second!.receivedAt - first!.receivedAt;
    assert.ok(waited >= 950 && waited <= 2_100, `the retry came ${Math.round(waited)} ms later`);
  });

  test('without retry-after, exponential backoff; once retries are spent, the next target', async () => {
    upstreams.a.script(serverFault(500));
    const reply = await ask(server, 'retrying');
    assert.equal(reply.content, 'from b');
    assert.equal(reply.route, 'alias:retrying > b/gpt-test (after 1 fallback)');
    assert.deepEqual(requestCounts(), { a: 3, b: 1 });
  });

  test('a retry-after beyond routing.maxDelayMs moves on to the next target at once', async () => {
    upstreams.a.once(serverFault(429, { 'retry-after': '30' }));
    const started = performance.now();
    const reply = await ask(server, 'retrying');
    const elapsed = performance.now() - started;
    assert.equal(reply.content, 'from b');
    assert.equal(reply.route, 'alias:retrying > b/gpt-test (after 1 fallback)');
    assert.deepEqual(requestCounts(), { a: 1, b: 1 });
    assert.ok(elapsed < 500, `moved on after ${Math.round(elapsed)} ms`);
  });

  test('the client leaving during a backoff stops the call: no retry, no fallback', async () => {
    upstreams.a.once(serverFault(429, { 'retry-after': '1' }));
    const controller = new AbortController();
    const pending = server.client().chat.completions.create({ model: 'retrying', messages: USER }, { signal: controller.signal });
    await within(upstreams.a.nextRequest(), 2_000, 'the first attempt');
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort();
    await errorOf(pending);
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    assert.deepEqual(requestCounts(), { a: 1, b: 0 });
  });
});
