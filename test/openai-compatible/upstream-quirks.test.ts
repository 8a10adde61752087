import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createParser } from 'eventsource-parser';
import { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { errorReply, rawJsonReply, rawStreamReply, startFakeUpstream, streamReply, type FakeUpstream, type Reply } from '../helpers/fake-openai-upstream.js';

/**
 * What real OpenAI-compatible servers send that OpenAI does not, replayed byte for byte through a
 * real Switchyard, and what an OpenAI client then sees: it must see what OpenAI would have sent.
 */

const USER = [{ role: 'user' as const, content: 'Say hello.' }];
const TOOLS = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

let fake: FakeUpstream;
let server: RunningServer;

before(async () => {
  fake = await startFakeUpstream();
  server = await startServer({ providers: [{ id: 'up', kind: 'openai-compatible', baseURL: fake.baseURL, models: ['m'] }] });
});

after(async () => {
  server.app.server.closeAllConnections();
  await server.close();
  await fake.close();
});

beforeEach(() => fake.reset());

/** One chunk as the upstream writes it, compact as most servers' JSON is. */
function chunk(delta: Record<string, unknown>, finishReason: string | null = null, extra: Record<string, unknown> = {}): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-q', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }], ...extra })}\n\n`;
}

const DONE = 'data: [DONE]\n\n';

async function collect(): Promise<ChatCompletionChunk[]> {
  const stream = await server.client().chat.completions.create({ model: 'up/m', messages: USER, stream: true });
  const chunks: ChatCompletionChunk[] = [];
  for await (const piece of stream) chunks.push(piece);
  return chunks;
}

async function errorOf(promise: Promise<unknown>): Promise<APIError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof APIError, `expected an APIError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

async function rawEvents(body: unknown): Promise<string[]> {
  const response = await fetch(`${server.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-client' },
    body: JSON.stringify(body),
  });
  const events: string[] = [];
  createParser({ onEvent: (event) => events.push(event.data) }).feed(await response.text());
  return events;
}

describe('stream_options, which Switchyard adds, refused by the upstream', () => {
  /** Azure's older API versions and other vendors' gateways refuse the unknown field. */
  const refusing: Reply = (exchange) => {
    if (exchange.request.body?.stream_options !== undefined) {
      return errorReply(400, { error: { message: 'Unrecognized request argument supplied: stream_options', type: 'invalid_request_error', param: null, code: null } })(exchange);
    }
    return rawStreamReply([chunk({ role: 'assistant', content: 'Hi' }), chunk({}, 'stop'), DONE])(exchange);
  };

  test('the request goes again as the client sent it, and later ones without the field', async () => {
    const isolated = await startServer({ providers: [{ id: 'up', kind: 'openai-compatible', baseURL: fake.baseURL, models: ['m'] }] });
    try {
      fake.script(refusing);
      const stream = await isolated.client().chat.completions.create({ model: 'up/m', messages: USER, stream: true });
      let text = '';
      for await (const piece of stream) text += piece.choices[0]?.delta.content ?? '';
      assert.equal(text, 'Hi');
      assert.equal(fake.chatRequests.length, 2);
      assert.equal(fake.chatRequests[1]!.body.stream_options, undefined);

      const again = await isolated.client().chat.completions.create({ model: 'up/m', messages: USER, stream: true });
      for await (const _ of again) void _;
      assert.equal(fake.chatRequests.length, 3, 'the refusal is remembered: one request');
      assert.equal(fake.chatRequests[2]!.body.stream_options, undefined);
    } finally {
      isolated.app.server.closeAllConnections();
      await isolated.close();
    }
  });

  test('…FastAPI-style, a 422 whose validation list names the field', async () => {
    const isolated = await startServer({ providers: [{ id: 'up', kind: 'openai-compatible', baseURL: fake.baseURL, models: ['m'] }] });
    try {
      fake.script((exchange) =>
        exchange.request.body?.stream_options !== undefined
          ? errorReply(422, { detail: [{ type: 'extra_forbidden', loc: ['body', 'stream_options'], msg: 'Extra inputs are not permitted', input: { include_usage: true } }] })(exchange)
          : rawStreamReply([chunk({ role: 'assistant', content: 'Hi' }), chunk({}, 'stop'), DONE])(exchange),
      );
      const stream = await isolated.client().chat.completions.create({ model: 'up/m', messages: USER, stream: true });
      for await (const _ of stream) void _;
      assert.equal(fake.chatRequests.length, 2);
    } finally {
      isolated.app.server.closeAllConnections();
      await isolated.close();
    }
  });

  test('when the client sent stream_options itself, the refusal is its own: passed on, not retried', async () => {
    fake.script(refusing);
    const error = await errorOf(collectWith({ stream_options: { include_usage: true } }));
    assert.equal(error.status, 400);
    assert.match(error.message, /stream_options/);
    assert.equal(fake.chatRequests.length, 1);
  });

  async function collectWith(extra: Record<string, unknown>) {
    const stream = await server.client().chat.completions.create({ model: 'up/m', messages: USER, stream: true, ...extra });
    for await (const _ of stream) void _;
  }
});

describe('tool-call deltas without `index` (Ollama before 0.5, Gemini, mistral.rs)', () => {
  test('a whole call in one delta reaches the SDK stream helper as a tool call', async () => {
    fake.script(
      rawStreamReply([
        chunk({ role: 'assistant', content: '' }),
        chunk({ tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }),
        chunk({}, 'tool_calls'),
        DONE,
      ]),
    );
    const completion = await server.client().chat.completions.stream({ model: 'up/m', messages: USER, tools: TOOLS }).finalChatCompletion();
    assert.deepEqual(completion.choices[0]!.message.tool_calls, [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
  });

  test('two calls, each streamed in fragments, get indexes 0 and 1', async () => {
    fake.script(
      rawStreamReply([
        chunk({ role: 'assistant', content: null }),
        chunk({ tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
        chunk({ tool_calls: [{ function: { arguments: '{"city":' } }] }),
        chunk({ tool_calls: [{ function: { arguments: '"Oslo"}' } }] }),
        chunk({ tool_calls: [{ id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] }),
        chunk({}, 'tool_calls'),
        DONE,
      ]),
    );
    const chunks = await collect();
    const indexes = chunks.flatMap((piece) => piece.choices[0]?.delta.tool_calls?.map((call) => call.index) ?? []);
    assert.deepEqual(indexes, [0, 0, 0, 1]);
    const completion = await (async () => {
      fake.reset();
      fake.script(
        rawStreamReply([
          chunk({ role: 'assistant', content: null }),
          chunk({ tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
          chunk({ tool_calls: [{ function: { arguments: '{"city":"Oslo"}' } }] }),
          chunk({ tool_calls: [{ id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] }),
          chunk({}, 'tool_calls'),
          DONE,
        ]),
      );
      return server.client().chat.completions.stream({ model: 'up/m', messages: USER, tools: TOOLS }).finalChatCompletion();
    })();
    assert.deepEqual(
      completion.choices[0]!.message.tool_calls?.map((call) => [call.id, call.function.arguments]),
      [
        ['call_a', '{"city":"Oslo"}'],
        ['call_b', '{"city":"Rome"}'],
      ],
    );
  });

  test('deltas that carry their index are relayed byte for byte', async () => {
    const events = [
      chunk({ role: 'assistant', content: null }),
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
    ];
    fake.script(rawStreamReply([...events, DONE]));
    const seen = await rawEvents({ model: 'up/m', messages: USER, stream: true, tools: TOOLS });
    assert.deepEqual(seen, [...events.map((event) => event.slice('data: '.length, -2)), '[DONE]']);
  });
});

describe('finish reasons', () => {
  test('a stream that ends with [DONE] and no finish reason gets one, so the SDK helper completes', async () => {
    fake.script(rawStreamReply([chunk({ role: 'assistant', content: 'Hi' }), chunk({ content: '!' }), DONE]));
    const completion = await server.client().chat.completions.stream({ model: 'up/m', messages: USER }).finalChatCompletion();
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
    assert.equal(completion.choices[0]!.message.content, 'Hi!');
  });

  test('…`tool_calls` when the stream made tool calls, and before the usage chunk', async () => {
    const usage = { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 };
    fake.script(
      rawStreamReply([
        chunk({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] }),
        `data: ${JSON.stringify({ id: 'chatcmpl-q', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage })}\n\n`,
        DONE,
      ]),
    );
    const stream = await server.client().chat.completions.create({ model: 'up/m', messages: USER, tools: TOOLS, stream: true, stream_options: { include_usage: true } });
    const chunks: ChatCompletionChunk[] = [];
    for await (const piece of stream) chunks.push(piece);
    assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'tool_calls');
    assert.deepEqual(chunks.at(-1)!.choices, []);
    assert.deepEqual(chunks.at(-1)!.usage, usage);
  });

  test('usage on the finish chunk (not a chunk of its own) reaches only a client that asked for it', async () => {
    const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
    const reply = rawStreamReply([chunk({ role: 'assistant', content: 'Hi' }), chunk({}, 'stop', { usage }), DONE]);
    fake.script(reply);
    const unasked = await collect();
    assert.deepEqual(
      unasked.map((piece) => piece.usage),
      [undefined, undefined],
      'no usage in a stream that did not ask for it',
    );
    assert.equal(unasked.at(-1)!.choices[0]!.finish_reason, 'stop');
    fake.script(reply);
    const stream = await server.client().chat.completions.create({ model: 'up/m', messages: USER, stream: true, stream_options: { include_usage: true } });
    const asked: ChatCompletionChunk[] = [];
    for await (const piece of stream) asked.push(piece);
    assert.deepEqual(asked.at(-1)!.usage, usage);
  });

  test('"" for "not yet" (Ollama\'s and SGLang\'s older builds) is null, as OpenAI says it', async () => {
    fake.script(rawStreamReply([chunk({ role: 'assistant', content: 'Hi' }, ''), chunk({ content: '!' }, ''), chunk({}, 'stop'), DONE]));
    const reasons = (await collect()).map((piece) => piece.choices[0]?.finish_reason);
    assert.deepEqual(reasons, [null, null, 'stop']);
  });

  test("TGI's `eos_token` is `stop`, streamed or not", async () => {
    fake.script(rawStreamReply([chunk({ role: 'assistant', content: 'Hi' }), chunk({}, 'eos_token'), DONE]));
    assert.equal((await collect()).at(-1)!.choices[0]!.finish_reason, 'stop');

    fake.script(rawJsonReply(JSON.stringify({ id: 'chatcmpl-q', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'eos_token' }] })));
    const completion = await server.client().chat.completions.create({ model: 'up/m', messages: USER });
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
    assert.equal(completion.choices[0]!.message.content, 'Hi');
  });

  test('a finish reason named like an object key (`constructor`) is passed on as it came, not mapped', async () => {
    fake.script(rawJsonReply(JSON.stringify({ id: 'chatcmpl-k', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'constructor' }] })));
    const completion = await server.client().chat.completions.create({ model: 'up/m', messages: USER });
    assert.equal(completion.choices[0]!.finish_reason, 'constructor');
  });
});

describe('errors in the shapes other servers send', () => {
  test("vLLM's bare `{\"object\":\"error\"}` event mid-stream ends the stream with an error event", async () => {
    fake.script(
      rawStreamReply([chunk({ role: 'assistant', content: 'Hi' }), `data: ${JSON.stringify({ object: 'error', message: 'The engine died.', type: 'InternalServerError', param: null, code: 500 })}\n\n`, DONE]),
    );
    const stream = await server.client().chat.completions.create({ model: 'up/m', messages: USER, stream: true });
    const error = await errorOf(
      (async () => {
        for await (const piece of stream) assert.ok(Array.isArray(piece.choices), 'no error object reaches the client as a chunk');
      })(),
    );
    assert.match(error.message, /The engine died\./);
  });

  test('an `{"error": "text"}` event mid-stream keeps its message', async () => {
    fake.script(rawStreamReply([chunk({ role: 'assistant', content: 'Hi' }), `data: ${JSON.stringify({ error: 'out of memory' })}\n\n`]));
    const stream = await server.client().chat.completions.create({ model: 'up/m', messages: USER, stream: true });
    const error = await errorOf(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    );
    assert.match(error.message, /out of memory/);
  });

  test('a FastAPI 422 validation list becomes the message, its field the param', async () => {
    fake.script(errorReply(422, { detail: [{ type: 'less_than_equal', loc: ['body', 'temperature'], msg: 'Input should be less than or equal to 2', input: 5 }] }));
    const error = await errorOf(server.client().chat.completions.create({ model: 'up/m', messages: USER }));
    assert.equal(error.status, 422);
    assert.equal(error.param, 'temperature');
    assert.match(error.message, /temperature: Input should be less than or equal to 2/);
  });

  test('`{"detail": "text"}` and a plain-text 4xx keep their message; an HTML page does not leak', async () => {
    fake.once(errorReply(400, { detail: 'Model m is not loaded.' }), errorReply(400, 'messages must not be empty'), errorReply(400, '<html><body><h1>400 Bad Request</h1></body></html>'));
    assert.match((await errorOf(server.client().chat.completions.create({ model: 'up/m', messages: USER }))).message, /Model m is not loaded\./);
    assert.match((await errorOf(server.client().chat.completions.create({ model: 'up/m', messages: USER }))).message, /messages must not be empty/);
    const html = await errorOf(server.client().chat.completions.create({ model: 'up/m', messages: USER }));
    assert.equal(html.status, 400);
    assert.doesNotMatch(html.message, /html/i);
  });

  test('a 200 whose body is an error object is that error, with the status its code gives', async () => {
    fake.script(rawJsonReply(JSON.stringify({ error: { message: 'Rate limit exceeded upstream.', code: 429 } })));
    const error = await errorOf(server.client().chat.completions.create({ model: 'up/m', messages: USER }));
    assert.equal(error.status, 429);
    assert.match(error.message, /Rate limit exceeded upstream\./);
  });

  test('a stream request answered with a 200 JSON error is that error, not "without a stream"', async () => {
    fake.script(rawJsonReply(JSON.stringify({ error: { message: 'No such model.', type: 'invalid_request_error', code: 404 } })));
    const error = await errorOf(collect());
    assert.equal(error.status, 404);
    assert.match(error.message, /No such model\./);
  });
});

test('the ordinary case is untouched: OpenAI-shaped streams are relayed byte for byte', async () => {
  const events: string[] = [];
  fake.script(streamReply({ contents: ['Hello', ' there'], onEvent: (data) => events.push(data) }));
  const seen = await rawEvents({ model: 'up/m', messages: USER, stream: true, stream_options: { include_usage: true } });
  assert.deepEqual(seen, events);
});
