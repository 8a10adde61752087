import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from 'openai';
import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionTool } from 'openai/resources/chat/completions';
import { FAKE_API_KEY } from '../helpers/fake-anthropic-server.js';
import { startHarness, type AnthropicHarness } from './setup.js';

const USER = [{ role: 'user' as const, content: 'Hello there.' }];
const WEATHER: ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather of a place', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } },
};
const TIME: ChatCompletionTool = { type: 'function', function: { name: 'get_time' } };
/** The thinking blocks of the tool-after-redacted-thinking transcript. */
const PARIS_SIGNATURE = 'EuYBCkQYAiJAsig1ParisFirst';
const PARIS_REDACTED = 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj';
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

let harness: AnthropicHarness;
before(async () => {
  harness = await startHarness();
});
after(async () => harness?.close());
beforeEach(() => harness.fake.reset());

/** Sends a request (not streamed) and returns the body the fake Anthropic received. */
async function sent(params: Partial<ChatCompletionCreateParamsNonStreaming> & Record<string, unknown>): Promise<any> {
  await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, ...params } as ChatCompletionCreateParamsNonStreaming);
  assert.equal(harness.fake.requests.length, 1);
  return harness.fake.requests[0]!.body;
}

async function rejected(params: Record<string, unknown>, param: string): Promise<void> {
  await assert.rejects(
    harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, ...params } as ChatCompletionCreateParamsNonStreaming),
    (error: unknown) => {
      assert.ok(error instanceof BadRequestError, String(error));
      assert.equal((error.error as { param?: string }).param, param);
      assert.equal(error.code, 'unsupported_parameter');
      return true;
    },
  );
  assert.equal(harness.fake.requests.length, 0, 'nothing reaches Anthropic');
}

describe('anthropic request: basics', () => {
  test('POST /v1/messages with x-api-key and anthropic-version; max_tokens defaulted', async () => {
    const body = await sent({});
    const request = harness.fake.requests[0]!;
    assert.equal(request.path, '/v1/messages');
    assert.equal(request.headers['x-api-key'], FAKE_API_KEY);
    assert.equal(request.headers['anthropic-version'], '2023-06-01');
    assert.equal(request.headers.authorization, undefined);
    assert.deepEqual(body, { model: 'claude-test', max_tokens: 4096, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello there.' }] }] });
  });

  test("max_tokens defaults to the model's maxOutputTokens; the client's value wins", async () => {
    assert.equal((await sent({ model: 'claude-small' })).max_tokens, 2000);
    harness.fake.reset();
    assert.equal((await sent({ max_tokens: 123 })).max_tokens, 123);
    harness.fake.reset();
    assert.equal((await sent({ max_completion_tokens: 77 })).max_tokens, 77);
  });

  test('stop, temperature, top_p, top_k and user are translated', async () => {
    const body = await sent({ stop: ['END', '###'], temperature: 0.3, top_p: 0.9, top_k: 40, user: 'user-42' });
    assert.deepEqual(body.stop_sequences, ['END', '###']);
    assert.equal(body.temperature, 0.3);
    assert.equal(body.top_p, 0.9);
    assert.equal(body.top_k, 40);
    assert.deepEqual(body.metadata, { user_id: 'user-42' });
    harness.fake.reset();
    assert.deepEqual((await sent({ stop: 'STOP' })).stop_sequences, ['STOP']);
    // An empty string is no stop sequence: left out, not refused.
    harness.fake.reset();
    assert.deepEqual((await sent({ stop: ['', 'END'] })).stop_sequences, ['END']);
    harness.fake.reset();
    assert.equal((await sent({ stop: '' })).stop_sequences, undefined);
  });
});

describe('anthropic request: temperature and top_p', () => {
  // Current models refuse the two together; clients often send both, one at its neutral value.
  test('top_p: 1 is not sent, so a current model takes the temperature', async () => {
    const body = await sent({ model: 'anthropic/claude-sonnet-4-5', temperature: 0.3, top_p: 1 });
    assert.equal(body.temperature, 0.3);
    assert.equal('top_p' in body, false);
  });

  test('temperature: 1 (the default) is not sent beside a top_p that is', async () => {
    const body = await sent({ model: 'anthropic/claude-haiku-4-5', temperature: 1, top_p: 0.9 });
    assert.equal(body.top_p, 0.9);
    assert.equal('temperature' in body, false);
    harness.fake.reset();
    assert.equal((await sent({ temperature: 1 })).temperature, 1);
  });
});

describe('anthropic request: messages', () => {
  test('system and developer messages become system blocks, in order', async () => {
    const body = await sent({
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Hi' },
      ],
    });
    assert.deepEqual(body.system, [
      { type: 'text', text: 'You are terse.' },
      { type: 'text', text: 'Answer in French.' },
    ]);
    assert.deepEqual(body.messages, [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }]);
  });

  test('instructions alone (system and developer messages only) become the one user turn Anthropic requires', async () => {
    const body = await sent({ messages: [{ role: 'system', content: 'Write a haiku about rain.' }, { role: 'developer', content: 'In English.' }] });
    assert.equal(body.system, undefined);
    assert.deepEqual(body.messages, [{ role: 'user', content: [{ type: 'text', text: 'Write a haiku about rain.' }, { type: 'text', text: 'In English.' }] }]);
  });

  test('multi-turn with tools: tool_use blocks, consecutive tool results merged into one user turn', async () => {
    const body = await sent({
      tools: [WEATHER, TIME],
      messages: [
        { role: 'user', content: 'Weather in Paris, and the time?' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
            { id: 'toolu_2', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
        { role: 'tool', tool_call_id: 'toolu_2', content: [{ type: 'text', text: '14:00' }] },
        { role: 'user', content: 'Thanks! Summarize.' },
      ],
    });
    assert.deepEqual(body.messages, [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris, and the time?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '14:00' }] },
          { type: 'text', text: 'Thanks! Summarize.' },
        ],
      },
    ]);
    assert.deepEqual(body.tools, [
      { name: 'get_weather', description: 'Weather of a place', input_schema: WEATHER.type === 'function' && WEATHER.function.parameters },
      { name: 'get_time', input_schema: { type: 'object', properties: {} } },
    ]);
  });

  test('thinking blocks kept by the client (thinking_blocks extension) lead the assistant turn', async () => {
    // The fake, like Anthropic, takes back only thinking blocks it issued: have it issue these first.
    harness.fake.reply({ kind: 'transcript', name: 'tool-after-redacted-thinking' });
    await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, tools: [WEATHER], reasoning_effort: 'low' });
    harness.fake.reset();
    const body = await sent({
      tools: [WEATHER],
      reasoning_effort: 'low',
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: null,
          thinking_blocks: [
            { type: 'thinking', thinking: 'Paris first.', signature: PARIS_SIGNATURE },
            { type: 'redacted_thinking', data: PARIS_REDACTED },
          ],
          tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
      ],
    } as Record<string, unknown>);
    assert.deepEqual(body.messages[1].content, [
      { type: 'thinking', thinking: 'Paris first.', signature: PARIS_SIGNATURE },
      { type: 'redacted_thinking', data: PARIS_REDACTED },
      { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } },
    ]);
  });

  test('an empty text part beside an image is left out (Anthropic refuses empty text blocks)', async () => {
    const body = await sent({
      messages: [{ role: 'user', content: [{ type: 'text', text: '' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] }],
    });
    assert.deepEqual(body.messages[0].content, [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }]);
  });

  test('images: base64 data URLs inline, http(s) URLs as url sources', async () => {
    const body = await sent({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare these.' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
          ],
        },
      ],
    });
    assert.deepEqual(body.messages[0].content, [
      { type: 'text', text: 'Compare these.' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ]);
  });
});

describe('anthropic request: tools', () => {
  const cases: Array<[string, Record<string, unknown>, unknown]> = [
    ['auto', { tool_choice: 'auto' }, { type: 'auto' }],
    ['required → any', { tool_choice: 'required' }, { type: 'any' }],
    ['named → tool', { tool_choice: { type: 'function', function: { name: 'get_weather' } } }, { type: 'tool', name: 'get_weather' }],
    ['none', { tool_choice: 'none' }, { type: 'none' }],
    ['parallel_tool_calls false alone', { parallel_tool_calls: false }, { type: 'auto', disable_parallel_tool_use: true }],
    ['required with parallel_tool_calls false', { tool_choice: 'required', parallel_tool_calls: false }, { type: 'any', disable_parallel_tool_use: true }],
    ['no choice', {}, undefined],
  ];
  for (const [name, params, expected] of cases) {
    test(`tool_choice: ${name}`, async () => {
      const body = await sent({ tools: [WEATHER], ...params });
      assert.deepEqual(body.tool_choice, expected);
    });
  }
});

describe('anthropic request: tool parameters', () => {
  test("parameters without a type (such as {}) are sent as an object schema, which Anthropic requires", async () => {
    const body = await sent({
      tools: [
        { type: 'function', function: { name: 'ping', parameters: {} } },
        { type: 'function', function: { name: 'lookup', parameters: { properties: { id: { type: 'string' } }, required: ['id'] } } },
        TIME,
        WEATHER,
      ],
    });
    assert.deepEqual(
      body.tools.map((tool: { input_schema: unknown }) => tool.input_schema),
      [
        { type: 'object' },
        { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        { type: 'object', properties: {} },
        WEATHER.function.parameters,
      ],
    );
  });
});

describe('anthropic request: tool_choice allowed_tools', () => {
  const allowedTime = (mode: 'auto' | 'required') => ({ type: 'allowed_tools' as const, allowed_tools: { mode, tools: [{ type: 'function', function: { name: 'get_time' } }] } });

  test('only the allowed tools are sent; auto stays auto, required becomes any', async () => {
    const body = await sent({ tools: [WEATHER, TIME], tool_choice: allowedTime('auto') });
    assert.deepEqual(body.tools.map((tool: { name: string }) => tool.name), ['get_time']);
    assert.deepEqual(body.tool_choice, { type: 'auto' });
    harness.fake.reset();
    const required = await sent({ tools: [WEATHER, TIME], tool_choice: allowedTime('required'), parallel_tool_calls: false });
    assert.deepEqual(required.tools.map((tool: { name: string }) => tool.name), ['get_time']);
    assert.deepEqual(required.tool_choice, { type: 'any', disable_parallel_tool_use: true });
  });

  test('an allowed tool that is not among the tools is a 400 naming the entry', async () => {
    await assert.rejects(
      harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, tools: [WEATHER], tool_choice: allowedTime('auto') } as ChatCompletionCreateParamsNonStreaming),
      (error: unknown) => {
        assert.ok(error instanceof BadRequestError, String(error));
        assert.equal((error.error as { param?: string }).param, 'tool_choice.allowed_tools.tools[0]');
        return true;
      },
    );
    assert.equal(harness.fake.requests.length, 0, 'nothing reaches Anthropic');
  });
});

describe('anthropic request: thinking', () => {
  test('reasoning_effort maps to a thinking budget; a defaulted max_tokens makes room for it', async () => {
    const body = await sent({ reasoning_effort: 'low' });
    assert.deepEqual(body.thinking, { type: 'enabled', budget_tokens: 2048 });
    assert.equal(body.max_tokens, 4096 + 2048);
  });

  test('reasoning: true is medium; reasoning.max_tokens is the budget; none is off', async () => {
    assert.deepEqual((await sent({ reasoning: true })).thinking, { type: 'enabled', budget_tokens: 8192 });
    harness.fake.reset();
    assert.deepEqual((await sent({ reasoning: { max_tokens: 3000 } })).thinking, { type: 'enabled', budget_tokens: 3000 });
    harness.fake.reset();
    assert.deepEqual((await sent({ reasoning: { effort: 'high' } })).thinking, { type: 'enabled', budget_tokens: 16_384 });
    harness.fake.reset();
    assert.equal((await sent({ reasoning_effort: 'none' })).thinking, undefined);
    harness.fake.reset();
    assert.equal((await sent({})).thinking, undefined);
  });

  test("the budget stays below the client's max_tokens; too small a limit is a 400", async () => {
    const body = await sent({ reasoning_effort: 'high', max_tokens: 3000 });
    assert.deepEqual(body.thinking, { type: 'enabled', budget_tokens: 2999 });
    assert.equal(body.max_tokens, 3000);
    harness.fake.reset();
    await assert.rejects(
      harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, reasoning_effort: 'low', max_tokens: 500 }),
      (error: unknown) => error instanceof BadRequestError && (error.error as { param?: string }).param === 'max_tokens',
    );
  });
});

describe("anthropic request: a defaulted max_tokens above the model's output limit", () => {
  test('is sent again within the limit Anthropic names, and the limit is kept for the model', async () => {
    // xhigh: 4096 + 32768 tokens, above Claude Opus 4.1's 32000.
    const completion = await harness.server.client().chat.completions.create({ model: 'anthropic/claude-opus-4-1', messages: USER, reasoning_effort: 'xhigh' } as ChatCompletionCreateParamsNonStreaming);
    assert.equal(completion.choices[0]!.message.content, 'Hello! How can I help?');
    assert.deepEqual(
      harness.fake.requests.map((request) => [request.body.max_tokens, request.body.thinking?.budget_tokens]),
      [
        [4096 + 32_768, 32_768],
        // Within the limit, the answer keeps its default room: the budget gives way.
        [32_000, 32_000 - 4096],
      ],
    );
    harness.fake.reset();
    await sent({ model: 'anthropic/claude-opus-4-1', reasoning_effort: 'xhigh' } as never);
    assert.equal(harness.fake.requests[0]!.body.max_tokens, 32_000, 'the learned limit caps at once, without a refusal first');
    // A cap, not a default: a call that needs less asks for what it would have asked.
    harness.fake.reset();
    assert.equal((await sent({ model: 'anthropic/claude-opus-4-1' } as never)).max_tokens, 4096);
  });

  test("the client's own max_tokens above the limit is the client's 400 naming it, as OpenAI words it, not retried", async () => {
    for (const param of ['max_tokens', 'max_completion_tokens'] as const) {
      harness.fake.reset();
      await assert.rejects(
        harness.server.client().chat.completions.create({ model: 'anthropic/claude-sonnet-4-5', messages: USER, [param]: 100_000 }),
        (error: unknown) => {
          assert.ok(error instanceof BadRequestError, String(error));
          assert.equal(error.param, param);
          assert.equal(error.code, 'invalid_value');
          assert.equal(error.message, `400 ${param} is too large: 100000. This model supports at most 64000 completion tokens, whereas you provided 100000.`);
          return true;
        },
      );
      assert.equal(harness.fake.requests.length, 1);
    }
  });
});

describe('anthropic request: response_format', () => {
  test('json_schema becomes a forced tool with the schema as its input_schema', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const body = await sent({ response_format: { type: 'json_schema', json_schema: { name: 'weather_report', description: 'The report', schema } } });
    assert.deepEqual(body.tools, [{ name: 'weather_report', description: 'The report', input_schema: schema }]);
    assert.deepEqual(body.tool_choice, { type: 'tool', name: 'weather_report' });
  });

  test('json_object becomes a forced tool taking any object', async () => {
    const body = await sent({ response_format: { type: 'json_object' } });
    assert.equal(body.tools[0].name, 'json_response');
    assert.deepEqual(body.tools[0].input_schema, { type: 'object', additionalProperties: true });
    assert.deepEqual(body.tool_choice, { type: 'tool', name: 'json_response' });
  });

  test('response_format text is nothing to translate', async () => {
    const body = await sent({ response_format: { type: 'text' } });
    assert.equal(body.tools, undefined);
  });
});

describe('anthropic request: what Anthropic cannot express is a 400 naming the param', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ n: 2 }, 'n'],
    [{ logprobs: true }, 'logprobs'],
    [{ logit_bias: { '50256': -100 } }, 'logit_bias'],
    [{ frequency_penalty: 0.5 }, 'frequency_penalty'],
    [{ presence_penalty: 0.5 }, 'presence_penalty'],
    [{ seed: 7 }, 'seed'],
    [{ temperature: 1.5 }, 'temperature'],
    [{ stop: ['END', '\n'] }, 'stop[1]'],
    [{ stop: '  ' }, 'stop'],
    [{ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] }, 'messages[0].content[0]'],
    [{ tools: [WEATHER], response_format: { type: 'json_object' } }, 'response_format'],
    [{ reasoning_effort: 'low', response_format: { type: 'json_object' } }, 'response_format'],
  ];
  for (const [params, param] of cases) {
    test(param + ' ' + JSON.stringify(params).slice(0, 60), async () => rejected(params, param));
  }

  test('neutral values that clients send by default are accepted', async () => {
    const body = await sent({ n: 1, logprobs: false, frequency_penalty: 0, presence_penalty: 0, logit_bias: {} });
    assert.equal(body.n, undefined);
    assert.equal(body.logprobs, undefined);
  });
});
