import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { completionReply, hangReply, streamReply } from '../helpers/fake-openai-upstream.js';
import { ask, askStream, assertOpenAIError, errorOf, startUpstreams, stop, USER, within, type Upstreams } from './helpers.js';

let upstreams: Upstreams;
let server: RunningServer;

before(async () => {
  upstreams = await startUpstreams();
  server = await startServer({
    providers: upstreams.providers,
    aliases: {
      pair: ['a/gpt-test', 'b/gpt-test'],
      slow: [{ model: 'a/gpt-test', firstChunkTimeoutMs: 300 }, 'b/gpt-test'],
      deadline: [{ model: 'a/gpt-test', timeoutMs: 300 }, 'b/gpt-test'],
    },
    routing: { breakerFailures: 1_000 },
  });
});

after(async () => {
  await stop(server);
  await upstreams?.close();
});

beforeEach(() => upstreams.reset());

/** A stream read as raw bytes, to see exactly what reached the client. */
async function rawStream(model: string) {
  const response = await fetch(`${server.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model, messages: USER, stream: true }),
  });
  const text = await response.text();
  const events: string[] = [];
  createParser({ onEvent: (event) => events.push(event.data) }).feed(text);
  return { status: response.status, route: response.headers.get('x-switchyard-route'), text, events };
}

describe('a stream’s first chunk', () => {
  test('slower than firstChunkTimeoutMs: the next target serves it, and nothing of the first reaches the client', async () => {
    upstreams.a.once(streamReply({ contents: ['from a'], firstDelayMs: 2_000 }));
    const started = performance.now();
    const raw = await rawStream('slow');
    const elapsed = performance.now() - started;
    assert.equal(raw.status, 200);
    assert.equal(raw.route, 'alias:slow > b/gpt-test (after 1 fallback)');
    assert.doesNotMatch(raw.text, /from a/);
    assert.match(raw.text, /from b/);
    assert.equal(raw.events.at(-1), '[DONE]');
    assert.ok(elapsed >= 290 && elapsed < 1_500, `fell back after ${Math.round(elapsed)} ms`);
    await within(upstreams.a.chatRequests[0]!.whenAborted, 1_000, 'the slow upstream request was cancelled');
  });

  test('an upstream that sends no headers in time is the same (through the SDK)', async () => {
    upstreams.a.once(streamReply({ contents: ['from a'], headersDelayMs: 2_000 }));
    const reply = await askStream(server, 'slow');
    assert.equal(reply.error, undefined);
    assert.equal(reply.content, 'from b');
    assert.equal(reply.route, 'alias:slow > b/gpt-test (after 1 fallback)');
  });

  test('a target’s timeoutMs bounds a stream’s first chunk too', async () => {
    upstreams.a.once(streamReply({ contents: ['from a'], firstDelayMs: 2_000 }));
    const reply = await askStream(server, 'deadline');
    assert.equal(reply.content, 'from b');
    assert.equal(reply.route, 'alias:deadline > b/gpt-test (after 1 fallback)');
  });

  test('within the deadline: served by the first target; chunks after the first may take longer', async () => {
    upstreams.a.once(streamReply({ contents: ['from', ' a'], firstDelayMs: 100, pauseMs: 200 }));
    const reply = await askStream(server, 'slow');
    assert.equal(reply.error, undefined);
    assert.equal(reply.content, 'from a');
    assert.equal(reply.route, 'alias:slow > a/gpt-test');
    assert.equal(upstreams.b.chatRequests.length, 0);
  });

  test('firstChunkTimeoutMs does not bound a non-streaming call', async () => {
    upstreams.a.once(async (exchange) => {
      await exchange.sleep(500);
      await completionReply({ content: 'from a' })(exchange);
    });
    assert.deepEqual(await ask(server, 'slow'), { content: 'from a', route: 'alias:slow > a/gpt-test' });
  });
});

describe('after the first byte', () => {
  test('an upstream cut ends the stream with an error event; no silent switch to the next target', async () => {
    upstreams.a.once(streamReply({ contents: ['one', ' two'], ending: 'cut' }));
    const raw = await rawStream('pair');
    assert.equal(raw.status, 200);
    assert.equal(raw.route, 'alias:pair > a/gpt-test');
    assert.ok(!raw.events.includes('[DONE]'));
    const last = JSON.parse(raw.events.at(-1)!);
    assert.equal(last.error.type, 'server_error');
    assert.ok(['stream_interrupted', 'upstream_error'].includes(last.error.code), last.error.code);
    assert.doesNotMatch(raw.text, /from b/);
    assert.equal(upstreams.b.chatRequests.length, 0);
  });

  test('an upstream error event mid-stream reaches the SDK as an APIError after the chunks it had', async () => {
    upstreams.a.once(streamReply({ contents: ['one', ' two'], ending: { error: { message: 'overloaded' } } }));
    const reply = await askStream(server, 'pair');
    assert.equal(reply.content, 'one two');
    assertOpenAIError(reply.error, { status: undefined, code: 'upstream_error' });
    assert.equal(upstreams.b.chatRequests.length, 0);
  });
});

describe('the client leaving cancels the running attempt', () => {
  test('a non-streaming call: the upstream sees its request closed; no fallback follows', async () => {
    upstreams.a.once(hangReply());
    const controller = new AbortController();
    const pending = server.client().chat.completions.create({ model: 'pair', messages: USER }, { signal: controller.signal });
    const upstream = await within(upstreams.a.nextRequest(), 2_000, 'the upstream got the request');
    controller.abort();
    await errorOf(pending);
    await within(upstream.whenAborted, 1_000, 'the upstream saw the abort');
    await sleep(100);
    assert.equal(upstreams.b.chatRequests.length, 0);
  });

  test('a stream before its first chunk', async () => {
    upstreams.a.once(hangReply());
    const controller = new AbortController();
    const pending = server.client().chat.completions.create({ model: 'slow', messages: USER, stream: true }, { signal: controller.signal });
    const upstream = await within(upstreams.a.nextRequest(), 2_000, 'the upstream got the request');
    controller.abort();
    await errorOf(pending);
    await within(upstream.whenAborted, 1_000, 'the upstream saw the abort');
    // Had the call gone on, the first-chunk deadline would have sent it to `b` by now.
    await sleep(400);
    assert.equal(upstreams.b.chatRequests.length, 0);
  });

  test('a stream mid-way, after a fallback: the serving upstream’s request is closed', async () => {
    upstreams.a.once(streamReply({ firstDelayMs: 2_000 }));
    upstreams.b.once(streamReply({ contents: Array.from({ length: 40 }, (_, index) => ` ${index}`), pauseMs: 100 }));
    const stream = await server.client().chat.completions.create({ model: 'slow', messages: USER, stream: true });
    let seen = 0;
    for await (const chunk of stream) {
      void chunk;
      if (++seen === 3) break;
    }
    const upstream = upstreams.b.chatRequests[0]!;
    await within(upstream.whenAborted, 1_000, 'the upstream saw the abort');
  });
});
