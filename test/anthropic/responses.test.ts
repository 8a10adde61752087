import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { APIError } from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { contentOf, finishReasons, reasoningOf, startHarness, type AnthropicHarness } from './setup.js';

const USER = [{ role: 'user' as const, content: 'Hello there.' }];
const WEATHER: ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather of a place', parameters: { type: 'object', properties: { location: { type: 'string' } } } },
};
const TIME: ChatCompletionTool = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } };

let harness: AnthropicHarness;
before(async () => {
  harness = await startHarness();
});
after(async () => harness?.close());
beforeEach(() => harness.fake.reset());

async function collect(params: Omit<ChatCompletionCreateParamsStreaming, 'stream'>): Promise<ChatCompletionChunk[]> {
  const stream = await harness.server.client().chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('anthropic: plain text', () => {
  test('streamed: role chunk, text deltas in order, one finish, usage last', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'text' });
    const chunks = await collect({ model: 'anthropic/claude-test', messages: USER });
    assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
    assert.equal(contentOf(chunks), 'Hello! How can I help?');
    assert.deepEqual(
      chunks.filter((chunk) => chunk.choices[0]?.delta.content).map((chunk) => chunk.choices[0]!.delta.content),
      ['Hello', '! How can', ' I help?'],
    );
    assert.deepEqual(finishReasons(chunks), ['stop']);
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    // As OpenAI streams with include_usage: `"usage": null` on every chunk before the last.
    assert.ok(chunks.slice(0, -1).every((chunk) => 'usage' in chunk && chunk.usage === null));
    assert.equal(last.usage?.prompt_tokens, 25);
    assert.equal(last.usage?.completion_tokens, 12);
    assert.equal(last.usage?.total_tokens, 37);
    assert.equal(chunks[0]!.model, 'claude-test');
    assert.ok(chunks.every((chunk) => chunk.id === chunks[0]!.id && chunk.object === 'chat.completion.chunk'));
    assert.equal(harness.fake.requests[0]!.body.stream, true);
  });

  test('not streamed: one chat.completion with the same text, finish and usage', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'text' });
    const completion = await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.choices[0]!.message.content, 'Hello! How can I help?');
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
    assert.deepEqual(
      { prompt: completion.usage?.prompt_tokens, completion: completion.usage?.completion_tokens },
      { prompt: 25, completion: 12 },
    );
    assert.equal(harness.fake.requests[0]!.body.stream, undefined);
  });

  test('usage is left out of the stream when the client did not ask for it', async () => {
    const stream = await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, stream: true });
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.every((chunk) => !('usage' in chunk)));
    assert.deepEqual(finishReasons(chunks), ['stop']);
  });
});

describe('anthropic: tool calls', () => {
  test('a tool call after a text block is tool_calls[0], arguments joined', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'tool-after-text' });
    const chunks = await collect({ model: 'claude-test', messages: USER, tools: [WEATHER] });
    const calls = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    assert.ok(calls.every((call) => call.index === 0), 'the tool block (Anthropic index 1) is tool_calls index 0');
    assert.equal(calls[0]!.id, 'toolu_01WeatherA');
    assert.equal(calls[0]!.function?.name, 'get_weather');
    assert.deepEqual(JSON.parse(calls.map((call) => call.function?.arguments ?? '').join('')), { location: 'San Francisco, CA', unit: 'fahrenheit' });
    assert.equal(contentOf(chunks), 'Okay, let me check the weather.');
    assert.deepEqual(finishReasons(chunks), ['tool_calls']);
  });

  test('the SDK helper builds the final completion of a tool call after text', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'tool-after-text' });
    const final = await harness.server.client().chat.completions.stream({ model: 'claude-test', messages: USER, tools: [WEATHER] }).finalChatCompletion();
    const message = final.choices[0]!.message;
    assert.equal(final.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(message.content, 'Okay, let me check the weather.');
    assert.equal(message.tool_calls?.length, 1);
    const call = message.tool_calls![0]!;
    assert.equal(call.type, 'function');
    assert.equal(call.type === 'function' && call.function.arguments, '{"location": "San Francisco, CA", "unit": "fahrenheit"}');
  });

  test('a tool call after a thinking block: reasoning shown, tool is tool_calls[0]', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'tool-after-thinking' });
    const final = await harness.server
      .client()
      .chat.completions.stream({ model: 'claude-test', messages: USER, tools: [WEATHER], reasoning_effort: 'low' })
      .finalChatCompletion();
    const message = final.choices[0]!.message as typeof final.choices[0]['message'] & { reasoning?: string; reasoning_content?: string };
    assert.equal(message.tool_calls?.length, 1);
    const call = message.tool_calls![0]!;
    assert.equal(call.id, 'toolu_01WeatherParis');
    assert.deepEqual(call.type === 'function' && JSON.parse(call.function.arguments), { location: 'Paris' });
    assert.equal(message.content, null);
    assert.equal(final.choices[0]!.finish_reason, 'tool_calls');

    harness.fake.reply({ kind: 'transcript', name: 'tool-after-thinking' });
    const chunks = await collect({ model: 'claude-test', messages: USER, tools: [WEATHER], reasoning_effort: 'low' });
    assert.equal(reasoningOf(chunks), 'The user wants the weather in Paris; I should call the tool.');
    const reasoningChunk = chunks.find((chunk) => (chunk.choices[0]?.delta as { reasoning?: string })?.reasoning);
    assert.equal((reasoningChunk!.choices[0]!.delta as { reasoning_content?: string }).reasoning_content, 'The user wants the weather');
    assert.ok(chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []).every((delta) => delta.index === 0));
  });

  test('non-streamed thinking reply: message.reasoning and reasoning_content', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'tool-after-thinking' });
    const completion = await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, tools: [WEATHER], reasoning_effort: 'low' });
    const message = completion.choices[0]!.message as typeof completion.choices[0]['message'] & { reasoning?: string; reasoning_content?: string };
    assert.equal(message.reasoning, 'The user wants the weather in Paris; I should call the tool.');
    assert.equal(message.reasoning_content, message.reasoning);
    assert.equal(message.tool_calls?.[0]?.id, 'toolu_01WeatherParis');
  });

  test('two parallel tool calls after text: indexes 0 and 1; a tool without input gets {}', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'parallel-tools' });
    const final = await harness.server.client().chat.completions.stream({ model: 'claude-test', messages: USER, tools: [WEATHER, TIME] }).finalChatCompletion();
    const calls = final.choices[0]!.message.tool_calls!;
    assert.deepEqual(
      calls.map((call) => call.type === 'function' && [call.id, call.function.name, call.function.arguments]),
      [
        ['toolu_01Paris', 'get_weather', '{"location": "Paris"}'],
        ['toolu_01Time', 'get_time', '{}'],
      ],
    );
    assert.equal(final.choices[0]!.message.content, "I'll look up both cities.");

    harness.fake.reply({ kind: 'transcript', name: 'parallel-tools' });
    const completion = await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, tools: [WEATHER, TIME] });
    // A whole reply carries parsed input: the arguments are the same JSON, re-serialized.
    const parsed = (list: ReadonlyArray<{ type: string; id: string; function?: { name: string; arguments: string } }>) => list.map((call) => call.function && [call.id, call.function.name, JSON.parse(call.function.arguments)]);
    assert.deepEqual(parsed(completion.choices[0]!.message.tool_calls!), parsed(calls));
  });

  test('argument fragments split mid-token, and the stream split mid-UTF-8 on the wire', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'split-utf8', options: { pieceBytes: 7, pauseMs: 1 } });
    const final = await harness.server.client().chat.completions.stream({ model: 'claude-test', messages: USER, tools: [WEATHER] }).finalChatCompletion();
    const message = final.choices[0]!.message;
    assert.equal(message.content, 'Météo à 東京 🌧️');
    const call = message.tool_calls![0]!;
    assert.deepEqual(call.type === 'function' && JSON.parse(call.function.arguments), { location: '東京 🗼', note: 'Zürich\u00e9' });
  });
});

describe('anthropic: thinking blocks handed back for the next turn', () => {
  const PARIS_BLOCKS = [
    { type: 'thinking', thinking: 'Paris first.', signature: 'EuYBCkQYAiJAsig1ParisFirst' },
    { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj' },
  ];
  const blocksOf = (chunks: readonly ChatCompletionChunk[]) =>
    chunks.flatMap((chunk) => (chunk.choices[0]?.delta as { thinking_blocks?: unknown[] } | undefined)?.thinking_blocks ?? []);

  test('streamed: each thinking block, redacted ones too, arrives whole with its signature when it stops', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'tool-after-redacted-thinking' });
    const chunks = await collect({ model: 'claude-test', messages: USER, tools: [WEATHER], reasoning_effort: 'low' });
    assert.deepEqual(blocksOf(chunks), PARIS_BLOCKS);
    assert.equal(reasoningOf(chunks), 'Paris first.');
    const firstBlock = chunks.findIndex((chunk) => (chunk.choices[0]?.delta as { thinking_blocks?: unknown[] }).thinking_blocks);
    const firstTool = chunks.findIndex((chunk) => chunk.choices[0]?.delta.tool_calls);
    assert.ok(firstBlock < firstTool, 'the blocks come before the tool call that follows them');
  });

  test('not streamed: message.thinking_blocks, in the order of the reply', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'tool-after-redacted-thinking' });
    const completion = await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, tools: [WEATHER], reasoning_effort: 'low' });
    assert.deepEqual((completion.choices[0]!.message as { thinking_blocks?: unknown }).thinking_blocks, PARIS_BLOCKS);
  });

  test('a tool loop with thinking on: the reply sent back as it came is a valid next turn', async () => {
    for (const stream of [false, true]) {
      harness.fake.reset();
      harness.fake.reply({ kind: 'transcript', name: 'tool-after-thinking' });
      const params: { model: string; tools: ChatCompletionTool[]; reasoning_effort: 'low' } = { model: 'claude-test', tools: [WEATHER], reasoning_effort: 'low' };
      let assistant: Record<string, unknown>;
      if (stream) {
        const chunks = await collect({ ...params, messages: USER });
        const calls = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
        assistant = {
          role: 'assistant',
          content: null,
          thinking_blocks: blocksOf(chunks),
          tool_calls: [{ id: calls[0]!.id, type: 'function', function: { name: calls[0]!.function!.name, arguments: calls.map((call) => call.function?.arguments ?? '').join('') } }],
        };
      } else {
        assistant = { ...(await harness.server.client().chat.completions.create({ ...params, messages: USER })).choices[0]!.message };
      }
      harness.fake.reply({ kind: 'transcript', name: 'text' });
      const messages = [...USER, assistant, { role: 'tool', tool_call_id: 'toolu_01WeatherParis', content: '18°C' }] as ChatCompletionMessageParam[];
      const next = await harness.server.client().chat.completions.create({ ...params, messages });
      assert.equal(next.choices[0]!.message.content, 'Hello! How can I help?', stream ? 'streamed' : 'not streamed');
      assert.deepEqual(harness.fake.requests[1]!.body.messages[1].content[0], {
        type: 'thinking',
        thinking: 'The user wants the weather in Paris; I should call the tool.',
        signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds',
      });
    }
  });

  test('reasoning.exclude: neither the reasoning nor its blocks come back', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'tool-after-redacted-thinking' });
    const chunks = await collect({ model: 'claude-test', messages: USER, tools: [WEATHER], reasoning: { effort: 'low', exclude: true } } as never);
    assert.deepEqual(blocksOf(chunks), []);
    assert.equal(reasoningOf(chunks), '');
  });
});

describe('anthropic: errors inside a 200 stream', () => {
  test('an error event after the first chunk ends the stream with an error event', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'error-mid-stream' });
    const stream = await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, stream: true });
    const chunks: ChatCompletionChunk[] = [];
    let failure: unknown;
    try {
      for await (const chunk of stream) chunks.push(chunk);
    } catch (error) {
      failure = error;
    }
    assert.equal(contentOf(chunks), 'Once upon');
    assert.ok(failure instanceof APIError, `an APIError, got ${String(failure)}`);
    assert.match(String((failure as APIError).message), /overloaded/i);
    assert.deepEqual(finishReasons(chunks), []);
  });

  test('the raw stream ends with one data: {"error": ...} event and no [DONE]', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'error-mid-stream' });
    const response = await fetch(`${harness.server.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify({ model: 'claude-test', messages: USER, stream: true }),
    });
    const text = await response.text();
    assert.equal(response.status, 200);
    const events = text.split('\n\n').filter((event) => event.startsWith('data: ')).map((event) => event.slice(6));
    const last = JSON.parse(events.at(-1)!);
    assert.equal(last.error.code, 'upstream_unavailable');
    assert.ok(!text.includes('[DONE]'));
  });

  test('an error event before any content is a proper HTTP error (503)', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'error-first' });
    await assert.rejects(
      harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, stream: true }),
      (error: APIError) => error.status === 503 && (error.error as { code?: string }).code === 'upstream_unavailable',
    );
  });

  test('an error event after message_start but before any content block is still a proper HTTP error (503)', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'error-after-message-start' });
    await assert.rejects(
      harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, stream: true }),
      (error: APIError) => error.status === 503 && (error.error as { code?: string }).code === 'upstream_unavailable',
    );
  });

  test('a stream cut before message_stop ends with stream_interrupted', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'text', options: { cutAfter: 5 } });
    const stream = await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, stream: true });
    await assert.rejects(
      (async () => {
        for await (const _chunk of stream) void _chunk;
      })(),
      (error: APIError) => /before it finished/.test(error.message),
    );
  });
});

describe('anthropic: cancellation', () => {
  test('a client that disconnects mid-stream cancels the request to Anthropic at once', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'text', options: { pieceBytes: 16, pauseMs: 50 } });
    const controller = new AbortController();
    const stream = await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, stream: true }, { signal: controller.signal });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();
    await iterator.return?.().catch(() => undefined);
    const how = await Promise.race([
      harness.fake.requests[0]!.whenClosed,
      new Promise((resolve) => setTimeout(() => resolve('still open'), 2000)),
    ]);
    assert.equal(how, 'aborted');
  });
});

describe('anthropic: usage', () => {
  test('cache reads and writes count in prompt_tokens; cached_tokens are the reads', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'cache-usage' });
    const chunks = await collect({ model: 'claude-test', messages: USER });
    const usage = chunks.at(-1)!.usage!;
    assert.equal(usage.prompt_tokens, 21 + 188 + 2048);
    assert.equal(usage.completion_tokens, 7);
    assert.equal(usage.total_tokens, 21 + 188 + 2048 + 7);
    assert.equal(usage.prompt_tokens_details?.cached_tokens, 2048);
    assert.equal((usage.prompt_tokens_details as { cache_write_tokens?: number }).cache_write_tokens, 188);

    harness.fake.reply({ kind: 'transcript', name: 'cache-usage' });
    const completion = await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER });
    assert.deepEqual(completion.usage, usage);
  });
});

describe('anthropic: stop reasons', () => {
  const cases: Array<[string, string, string]> = [
    ['end_turn', 'text', 'stop'],
    ['stop_sequence', 'text', 'stop'],
    ['max_tokens', 'text', 'length'],
    ['model_context_window_exceeded', 'text', 'length'],
    ['tool_use', 'tool-after-text', 'tool_calls'],
    ['refusal', 'text', 'content_filter'],
    ['pause_turn', 'text', 'stop'],
    ['some_future_reason', 'text', 'stop'],
  ];
  for (const [stopReason, transcript, expected] of cases) {
    test(`${stopReason} → ${expected}, streamed and not`, async () => {
      const tools = transcript === 'text' ? {} : { tools: [WEATHER] };
      harness.fake.reply({ kind: 'transcript', name: transcript, options: { stopReason } });
      const chunks = await collect({ model: 'claude-test', messages: USER, ...tools });
      assert.deepEqual(finishReasons(chunks), [expected]);
      harness.fake.reply({ kind: 'transcript', name: transcript, options: { stopReason } });
      const completion = await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, ...tools });
      assert.equal(completion.choices[0]!.finish_reason, expected);
    });
  }
});

describe('anthropic: tolerance', () => {
  test('unknown events, block types, delta types and fields are skipped', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'unknown-events' });
    const chunks = await collect({ model: 'claude-test', messages: USER });
    assert.equal(contentOf(chunks), 'Nothing new today.');
    assert.deepEqual(finishReasons(chunks), ['stop']);
    assert.ok(chunks.every((chunk) => !chunk.choices[0]?.delta.tool_calls), 'server tools are not client tool calls');

    harness.fake.reply({ kind: 'transcript', name: 'unknown-events' });
    const completion = await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER });
    assert.equal(completion.choices[0]!.message.content, 'Nothing new today.');
  });
});

describe('anthropic: response_format', () => {
  test('json_schema: the forced tool input comes back as the content, finish stop', async () => {
    harness.fake.reply({ kind: 'transcript', name: 'json-answer' });
    const params = {
      model: 'claude-test',
      messages: USER,
      response_format: { type: 'json_schema' as const, json_schema: { name: 'weather_report', schema: { type: 'object', properties: { city: { type: 'string' } } } } },
    };
    const chunks = await collect(params);
    assert.deepEqual(JSON.parse(contentOf(chunks)), { city: 'Oslo', celsius: -3 });
    assert.deepEqual(finishReasons(chunks), ['stop']);
    assert.ok(chunks.every((chunk) => !chunk.choices[0]?.delta.tool_calls));

    harness.fake.reply({ kind: 'transcript', name: 'json-answer' });
    const completion = await harness.server.client().chat.completions.create(params);
    assert.deepEqual(JSON.parse(completion.choices[0]!.message.content!), { city: 'Oslo', celsius: -3 });
    assert.equal(completion.choices[0]!.message.tool_calls, undefined);
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
  });
});
