import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { APIError, APIUserAbortError, InternalServerError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { dataJson, postSse, type SseEvent } from '../helpers/raw-sse.js';
import { SandboxProvider } from '../../src/providers/sandbox/sandbox-provider.js';
import { UpstreamError } from '../../src/errors/errors.js';
import type { CallSummary } from '../../src/gateway/gateway.js';
import type { ChatCallContext, ChatRequest, ChatResult, ModelInfo, Provider, RelayChunk } from '../../src/providers/provider.js';

// How streams behave in time: pacing without buffering, heartbeats only before a slow first chunk,
// a client that leaves stopping the generation, and failures before and after the first byte.

const CHUNK_DELAY_MS = 40;
const HEARTBEAT_MS = 40;
const FIRST_CHUNK_DELAY_MS = 400;

/** The sandbox, paced, with every chunk it hands out counted: what "stopped generating" means. */
class CountingSandbox implements Provider {
  readonly kind = 'sandbox';
  readonly id = 'sandbox';
  readonly acceptsUndeclaredModels = false;
  pulled = 0;
  private readonly inner = new SandboxProvider({ id: 'sandbox', kind: 'sandbox', chunkDelayMs: CHUNK_DELAY_MS, maxOutputTokens: 4096 });

  listModels(): ModelInfo[] {
    return this.inner.listModels();
  }

  async chat(request: ChatRequest, context: ChatCallContext): Promise<ChatResult> {
    const result = await this.inner.chat(request, context);
    if (result.kind !== 'stream') return result;
    const count = () => this.pulled++;
    return {
      kind: 'stream',
      chunks: (async function* () {
        for await (const chunk of result.chunks) {
          count();
          yield chunk;
        }
      })(),
    };
  }
}

function chunk(id: string, delta: ChatCompletionChunk.Choice.Delta, finish: ChatCompletionChunk.Choice['finish_reason'] = null): RelayChunk {
  return {
    id,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: 'scripted/model',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  };
}

/**
 * A backend that behaves as its model name says: slow before its first chunk, failing before or
 * after it. It records the abort signal each call got, to show the cancellation reached it.
 */
class ScriptedProvider implements Provider {
  readonly kind = 'scripted';
  readonly id = 'scripted';
  readonly acceptsUndeclaredModels = false;
  signals: AbortSignal[] = [];

  listModels(): ModelInfo[] {
    return ['slow-first', 'slow-call', 'fail-after-first', 'interrupted-after-first', 'reject-before-first', 'throw-before-first', 'slow-then-fail'].map(
      (id) => ({ id, created: 1_735_689_600, ownedBy: 'scripted' }),
    );
  }

  async chat(request: ChatRequest, context: ChatCallContext): Promise<ChatResult> {
    this.signals.push(context.signal);
    const wait = () => sleep(FIRST_CHUNK_DELAY_MS, undefined, { signal: context.signal });
    const hello = [chunk('chatcmpl-scripted', { role: 'assistant', content: '' }), chunk('chatcmpl-scripted', { content: 'Hello' })];
    switch (request.model) {
      case 'slow-call':
        await wait();
        return { kind: 'stream', chunks: stream([...hello, chunk('chatcmpl-scripted', {}, 'stop')]) };
      case 'reject-before-first':
        throw new UpstreamError('upstream_error', 'The upstream answered 500.', { status: 502 });
      default:
        break;
    }
    const model = request.model;
    return {
      kind: 'stream',
      chunks: (async function* () {
        if (model === 'slow-first' || model === 'slow-then-fail') await wait();
        if (model === 'throw-before-first' || model === 'slow-then-fail') {
          throw new UpstreamError('upstream_unavailable', 'The upstream is down.');
        }
        yield* hello;
        if (model === 'fail-after-first') throw new Error('secret-upstream-detail: socket hang up');
        if (model === 'interrupted-after-first') throw new UpstreamError('stream_interrupted', 'The upstream stream ended early.');
        yield chunk('chatcmpl-scripted', { content: ', world' });
        yield chunk('chatcmpl-scripted', {}, 'stop');
      })(),
    };
  }
}

async function* stream(chunks: RelayChunk[]): AsyncGenerator<RelayChunk> {
  yield* chunks;
}

let server: RunningServer;
const sandbox = new CountingSandbox();
const scripted = new ScriptedProvider();
const summaries: CallSummary[] = [];

before(async () => {
  server = await startServer(
    { server: { heartbeatMs: HEARTBEAT_MS } },
    { providers: [sandbox, scripted], onCallEnd: (summary) => summaries.push(summary) },
  );
});
after(async () => {
  await server?.close();
});
beforeEach(() => {
  summaries.length = 0;
  scripted.signals = [];
});

/** Resolves with the first summary that matches, or fails after `ms`. */
async function summaryWhere(predicate: (summary: CallSummary) => boolean, ms: number): Promise<CallSummary> {
  const deadline = performance.now() + ms;
  for (;;) {
    const found = summaries.find(predicate);
    if (found) return found;
    if (performance.now() > deadline) throw new Error(`no matching call summary within ${ms} ms: ${JSON.stringify(summaries.map((s) => [s.modelAsked, s.status]))}`);
    await sleep(5);
  }
}

const words = (count: number) => Array.from({ length: count }, (_, i) => `w${i}`).join(' ');
const streamBody = (model: string, content = 'stream please') => ({ model, stream: true, messages: [{ role: 'user', content }] });
const dataEvents = (events: readonly SseEvent[]) => events.filter((event) => event.kind === 'data');

describe('pacing', () => {
  test('chunks arrive as they are produced, not buffered, with SSE headers', async () => {
    const text = 'one two three four five six seven eight nine ten';
    const { response, events } = await postSse(`${server.baseURL}/chat/completions`, streamBody('sandbox/echo', text));
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(response.headers.get('cache-control'), 'no-cache');
    assert.equal(response.headers.get('x-accel-buffering'), 'no');
    assert.ok(response.headers.get('x-request-id'));
    assert.equal(response.headers.get('x-switchyard-route'), 'sandbox/echo');

    const data = dataEvents(events);
    const chunks = dataJson<ChatCompletionChunk>(events);
    const contentChunks = chunks.filter((c) => c.choices[0]?.delta.content).length;
    assert.equal(contentChunks, 10, 'one chunk per token');
    // role + 10 content + finish: 11 pauses between the first chunk and the last.
    const expected = (chunks.length - 1) * CHUNK_DELAY_MS;
    const spread = data.at(-2)!.at - data[0]!.at;
    assert.ok(spread >= expected * 0.75, `first to last chunk took ${spread.toFixed(0)} ms, expected about ${expected}`);
    // A busy machine may merge a few reads; a buffering server would deliver everything at once.
    const distinctArrivals = new Set(data.map((event) => Math.round(event.at))).size;
    assert.ok(distinctArrivals >= data.length / 2, `${distinctArrivals} arrival times for ${data.length} events: chunks were batched`);
  });

  test('a sandbox stream, whose first chunk is immediate, carries no heartbeat even when slower than heartbeatMs', async () => {
    const { events } = await postSse(`${server.baseURL}/chat/completions`, streamBody('sandbox/echo', words(8)));
    assert.ok(events.length > 8);
    assert.deepEqual(events.filter((event) => event.kind === 'comment'), []);
    assert.equal(events.at(-1)!.text, '[DONE]');
  });
});

describe('a client that leaves', () => {
  test('aborting the SDK’s stream stops the generation at once', async () => {
    const total = 60; // about 62 chunks at 40 ms: 2.5 s if it ran to the end
    const controller = new AbortController();
    const pulledBefore = sandbox.pulled;
    const stream = await server.client().chat.completions.create(
      { model: 'sandbox/echo', messages: [{ role: 'user', content: words(total) }], stream: true },
      { signal: controller.signal },
    );
    let received = 0;
    let abortedAt = 0;
    // The SDK ends the iteration quietly when its own signal aborts it.
    for await (const _ of stream) {
      if (++received === 3) {
        abortedAt = performance.now();
        controller.abort();
      }
    }
    assert.ok(received < 10, `${received} chunks read after the abort`);
    const summary = await summaryWhere((s) => s.modelAsked === 'sandbox/echo' && s.stream, 1000);
    const noticedAfter = performance.now() - abortedAt;
    assert.equal(summary.status, 'aborted');
    assert.ok(noticedAfter < 1000, `the server noticed within ${noticedAfter.toFixed(0)} ms`);
    assert.ok(summary.durationMs < (total * CHUNK_DELAY_MS) / 2, `the call ended after ${summary.durationMs.toFixed(0)} ms, not at the stream's end`);

    const pulledAtEnd = sandbox.pulled - pulledBefore;
    await sleep(CHUNK_DELAY_MS * 5);
    assert.equal(sandbox.pulled - pulledBefore, pulledAtEnd, 'no chunk was generated after the call ended');
    assert.ok(pulledAtEnd < total / 2, `${pulledAtEnd} of ~${total + 2} chunks were generated`);
  });

  test('a fetch aborted while waiting for a slow first chunk cancels the backend', async () => {
    const controller = new AbortController();
    const reading = postSse(`${server.baseURL}/chat/completions`, streamBody('scripted/slow-first'), {
      signal: controller.signal,
      onEvent: (event) => {
        // Abort at the first heartbeat: the stream has started but no chunk exists yet.
        if (event.kind === 'comment') controller.abort();
      },
    });
    await assert.rejects(reading, { name: 'AbortError' });
    const summary = await summaryWhere((s) => s.modelAsked === 'scripted/slow-first', 1000);
    assert.equal(summary.status, 'aborted');
    assert.ok(summary.durationMs < FIRST_CHUNK_DELAY_MS, `ended after ${summary.durationMs.toFixed(0)} ms`);
    assert.equal(scripted.signals.length, 1);
    assert.equal(scripted.signals[0]!.aborted, true, 'the provider’s signal was aborted');
  });

  test('a non-streaming call whose client leaves stops the generation too', async () => {
    const total = 60;
    const controller = new AbortController();
    const pulledBefore = sandbox.pulled;
    const call = server.client().chat.completions.create(
      { model: 'sandbox/echo', messages: [{ role: 'user', content: words(total) }] },
      { signal: controller.signal },
    );
    await sleep(CHUNK_DELAY_MS * 4);
    controller.abort();
    await assert.rejects(call, APIUserAbortError);
    const summary = await summaryWhere((s) => s.modelAsked === 'sandbox/echo' && !s.stream, 1000);
    assert.equal(summary.status, 'aborted');
    assert.ok(summary.durationMs < (total * CHUNK_DELAY_MS) / 2, `the call ended after ${summary.durationMs.toFixed(0)} ms`);
    const pulledAtEnd = sandbox.pulled - pulledBefore;
    await sleep(CHUNK_DELAY_MS * 5);
    assert.equal(sandbox.pulled - pulledBefore, pulledAtEnd, 'no chunk was generated after the call ended');
  });
});

describe('heartbeats', () => {
  for (const model of ['scripted/slow-first', 'scripted/slow-call']) {
    test(`${model}: keep-alive comments come before the first data event, and never after it`, async () => {
      const { response, events } = await postSse(`${server.baseURL}/chat/completions`, streamBody(model));
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const firstData = events.findIndex((event) => event.kind === 'data');
      const comments = events.slice(0, firstData);
      assert.ok(comments.length >= 3, `${comments.length} heartbeats in ${FIRST_CHUNK_DELAY_MS} ms at ${HEARTBEAT_MS} ms`);
      assert.ok(comments.every((event) => event.kind === 'comment' && event.text === 'keep-alive'));
      assert.deepEqual(events.slice(firstData).filter((event) => event.kind === 'comment'), [], 'no heartbeat once chunks flow');
      assert.ok(comments[0]!.at - events[0]!.at < FIRST_CHUNK_DELAY_MS);
      assert.equal(events.at(-1)!.text, '[DONE]');
      const content = dataJson<ChatCompletionChunk>(events).map((c) => c.choices[0]?.delta.content ?? '').join('');
      assert.equal(content, model.endsWith('slow-call') ? 'Hello' : 'Hello, world');
    });
  }

  test('the SDK reads through the heartbeats', async () => {
    const stream = await server.client().chat.completions.create({ model: 'scripted/slow-first', messages: [{ role: 'user', content: 'x' }], stream: true });
    let content = '';
    for await (const part of stream) content += part.choices[0]?.delta.content ?? '';
    assert.equal(content, 'Hello, world');
  });
});

describe('failures', () => {
  test('a provider that throws after its first chunk: the stream ends with an error event, no [DONE], nothing leaked', async () => {
    const { response, events, raw } = await postSse(`${server.baseURL}/chat/completions`, streamBody('scripted/fail-after-first'));
    assert.equal(response.status, 200);
    const data = dataEvents(events);
    assert.ok(!data.some((event) => event.text === '[DONE]'), 'no [DONE] after a failure');
    const last = JSON.parse(data.at(-1)!.text) as { error?: Record<string, unknown> };
    assert.ok(last.error, 'the last event carries an error');
    assert.deepEqual(Object.keys(last.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(last.error.type, 'server_error');
    assert.doesNotMatch(raw, /secret-upstream-detail/);
    const before = dataJson<ChatCompletionChunk>(data.slice(0, -1));
    assert.equal(before.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'Hello', 'what came before the failure arrived');
    const summary = await summaryWhere((s) => s.modelAsked === 'scripted/fail-after-first', 1000);
    assert.equal(summary.status, 'failed');
  });

  test('an interrupted upstream stream keeps its code in the error event', async () => {
    const { events } = await postSse(`${server.baseURL}/chat/completions`, streamBody('scripted/interrupted-after-first'));
    const last = JSON.parse(events.at(-1)!.text) as { error: { code: string; type: string } };
    assert.equal(last.error.code, 'stream_interrupted');
    assert.equal(last.error.type, 'server_error');
  });

  test('the SDK raises an APIError while iterating a stream that fails after its first chunk', async () => {
    const stream = await server.client().chat.completions.create({ model: 'scripted/fail-after-first', messages: [{ role: 'user', content: 'x' }], stream: true });
    let content = '';
    await assert.rejects(
      (async () => {
        for await (const part of stream) content += part.choices[0]?.delta.content ?? '';
      })(),
      (error: unknown) => {
        assert.ok(error instanceof APIError, String(error));
        assert.ok(!(error instanceof APIUserAbortError));
        return true;
      },
    );
    assert.equal(content, 'Hello');
  });

  for (const model of ['scripted/reject-before-first', 'scripted/throw-before-first']) {
    test(`${model}: a failure before the first chunk is an HTTP error status, not a 200 stream`, async () => {
      const response = await fetch(`${server.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(streamBody(model)),
      });
      const expected = model.endsWith('reject-before-first') ? 502 : 503;
      assert.equal(response.status, expected);
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
      assert.ok(response.headers.get('x-request-id'));
      const body = (await response.json()) as { error: Record<string, unknown> };
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(body.error.type, 'server_error');

      await assert.rejects(
        server.client().chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], stream: true }),
        (error: unknown) => {
          assert.ok(error instanceof InternalServerError, String(error));
          assert.equal(error.status, expected);
          return true;
        },
      );
      const summary = await summaryWhere((s) => s.modelAsked === model, 1000);
      assert.equal(summary.status, 'failed');
    });
  }

  test('a failure after heartbeats began (headers sent) ends the 200 stream with an error event', async () => {
    const { response, events } = await postSse(`${server.baseURL}/chat/completions`, streamBody('scripted/slow-then-fail'));
    assert.equal(response.status, 200);
    assert.ok(events.some((event) => event.kind === 'comment'), 'heartbeats came first');
    const data = dataEvents(events);
    assert.equal(data.length, 1, 'only the error event');
    const body = JSON.parse(data[0]!.text) as { error: { code: string } };
    assert.equal(body.error.code, 'upstream_unavailable');
  });

  test('a non-streaming call to a provider that fails mid-stream is a 5xx, not a partial reply', async () => {
    await assert.rejects(
      server.client().chat.completions.create({ model: 'scripted/fail-after-first', messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) => {
        assert.ok(error instanceof InternalServerError, String(error));
        assert.equal(error.status, 500);
        assert.doesNotMatch(error.message, /secret-upstream-detail/);
        return true;
      },
    );
  });
});
