import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { APIError, BadRequestError } from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { specValidator } from '../helpers/openai-spec.js';

// Bad chat requests get OpenAI's 400: `invalid_request_error`, the exact `param`, the same four keys.

const BODY_LIMIT = 16 * 1024;
let server: RunningServer;

before(async () => {
  server = await startServer({ server: { bodyLimitBytes: BODY_LIMIT }, providers: [{ kind: 'sandbox', maxOutputTokens: 200 }] });
});
after(async () => {
  await server?.close();
});

const validateErrorBody = specValidator('ErrorResponse');

type Body = Record<string, unknown>;
const USER = { role: 'user', content: 'hi' };
const TOOL = { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } };
const valid = (extra: Body = {}): Body => ({ model: 'sandbox/echo', messages: [USER], ...extra });
const withoutKey = (key: string): Body => {
  const body = valid();
  delete body[key];
  return body;
};

async function post(body: string | unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const response = await fetch(`${server.baseURL}/chat/completions`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { response, text };
}

/** An error body in OpenAI's exact shape; returns its `error`. */
function openAIError(text: string): { message: string; type: string; param: string | null; code: string | null } {
  const body = JSON.parse(text) as { error: { message: string; type: string; param: string | null; code: string | null } };
  assert.deepEqual(Object.keys(body), ['error'], text);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type'], text);
  assert.deepEqual(validateErrorBody(body), [], text);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  return body.error;
}

interface Case {
  name: string;
  body: Body;
  param: string | null;
  code?: string;
}

const CASES: Case[] = [
  {
    name: 'a message content of the wrong type',
    body: valid({ messages: [USER, { role: 'assistant', content: 'ok' }, { role: 'user', content: 42 }] }),
    param: 'messages[2].content',
    code: 'invalid_type',
  },
  { name: 'an audio format not in the spec', body: valid({ modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'ogg' } }), param: 'audio.format' },
  { name: 'a prediction without content', body: valid({ prediction: { type: 'content' } }), param: 'prediction.content', code: 'missing_required_parameter' },
  { name: 'web_search_options not an object', body: valid({ web_search_options: 5 }), param: 'web_search_options', code: 'invalid_type' },
  { name: 'functions empty', body: valid({ functions: [] }), param: 'functions' },
  { name: 'function_call of the wrong type', body: valid({ functions: [{ name: 'f' }], function_call: 5 }), param: 'function_call' },
  { name: 'function_call without functions', body: valid({ function_call: { name: 'f' } }), param: 'function_call' },
  { name: 'function_call naming no function', body: valid({ functions: [{ name: 'f' }], function_call: { name: 'g' } }), param: 'function_call' },
  { name: 'temperature above 2', body: valid({ temperature: 2.5 }), param: 'temperature' },
  { name: 'temperature below 0', body: valid({ temperature: -0.1 }), param: 'temperature' },
  { name: 'temperature as a string', body: valid({ temperature: 'hot' }), param: 'temperature', code: 'invalid_type' },
  { name: 'top_p above 1', body: valid({ top_p: 1.01 }), param: 'top_p' },
  { name: 'n of 0', body: valid({ n: 0 }), param: 'n' },
  { name: 'n of 129', body: valid({ n: 129 }), param: 'n' },
  { name: 'n not an integer', body: valid({ n: 1.5 }), param: 'n' },
  { name: 'stop with 5 items', body: valid({ stop: ['a', 'b', 'c', 'd', 'e'] }), param: 'stop' },
  { name: 'an unknown role', body: valid({ messages: [{ role: 'wizard', content: 'abracadabra' }] }), param: 'messages[0].role' },
  { name: 'a missing model', body: withoutKey('model'), param: 'model', code: 'missing_required_parameter' },
  { name: 'missing messages', body: withoutKey('messages'), param: 'messages', code: 'missing_required_parameter' },
  { name: 'empty messages', body: valid({ messages: [] }), param: 'messages' },
  {
    name: 'max_tokens and max_completion_tokens together, as OpenAI refuses them',
    body: valid({ max_tokens: 5, max_completion_tokens: 5 }),
    param: 'max_tokens',
    code: 'invalid_parameter_combination',
  },
  { name: 'an assistant message with empty content parts', body: valid({ messages: [USER, { role: 'assistant', content: [] }, USER] }), param: 'messages[1].content' },
  { name: 'a safety_identifier over 64 characters', body: valid({ safety_identifier: 'x'.repeat(65) }), param: 'safety_identifier' },
  { name: 'a service_tier not in the spec', body: valid({ service_tier: 'turbo' }), param: 'service_tier' },
  { name: 'a user message without content', body: valid({ messages: [{ role: 'user' }] }), param: 'messages[0].content' },
  {
    name: 'an invalid function name',
    body: valid({ tools: [{ type: 'function', function: { name: 'get weather!' } }] }),
    param: 'tools[0].function.name',
  },
  {
    name: 'a function name over 64 characters',
    body: valid({ tools: [{ type: 'function', function: { name: 'x'.repeat(65) } }] }),
    param: 'tools[0].function.name',
  },
  { name: 'two tools with one name', body: valid({ tools: [TOOL, TOOL] }), param: 'tools[1]' },
  {
    name: 'tool_choice naming a tool not given',
    body: valid({ tools: [TOOL], tool_choice: { type: 'function', function: { name: 'missing_tool' } } }),
    param: 'tool_choice',
  },
  { name: 'tool_choice without tools', body: valid({ tool_choice: 'required' }), param: 'tool_choice' },
  { name: 'parallel_tool_calls without tools', body: valid({ parallel_tool_calls: false }), param: 'parallel_tool_calls' },
  { name: 'stream_options without stream', body: valid({ stream_options: { include_usage: true } }), param: 'stream_options' },
  { name: 'stream_options with stream false', body: valid({ stream: false, stream_options: { include_usage: true } }), param: 'stream_options' },
  { name: 'top_logprobs without logprobs', body: valid({ top_logprobs: 2 }), param: 'top_logprobs' },
  { name: 'top_logprobs above 20', body: valid({ logprobs: true, top_logprobs: 21 }), param: 'top_logprobs' },
  {
    name: 'a tool message with no preceding tool call',
    body: valid({ messages: [USER, { role: 'tool', tool_call_id: 'call_nothing', content: 'result' }] }),
    param: 'messages[1].tool_call_id',
  },
  {
    name: 'a tool message answering a call id that was never made',
    body: valid({
      messages: [
        USER,
        { role: 'assistant', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_2', content: 'result' },
      ],
    }),
    param: 'messages[2].tool_call_id',
  },
  {
    name: 'an assistant tool call left unanswered',
    body: valid({
      messages: [
        USER,
        { role: 'assistant', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{}' } }] },
        { role: 'user', content: 'and?' },
      ],
    }),
    param: 'messages[1].tool_calls',
  },
  {
    name: 'an assistant message with neither content nor tool calls',
    body: valid({ messages: [USER, { role: 'assistant' }, USER] }),
    param: 'messages[1].content',
    code: 'missing_required_parameter',
  },
  {
    name: 'an image data URL that is not base64',
    body: valid({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,not base64!' } }] }] }),
    param: 'messages[0].content[0].image_url.url',
  },
  {
    name: 'an image data URL of a non-image type',
    body: valid({ messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: 'data:text/plain;base64,aGVsbG8=' } }] }] }),
    param: 'messages[0].content[1].image_url.url',
  },
  {
    name: 'a response_format json_schema name with spaces',
    body: valid({ response_format: { type: 'json_schema', json_schema: { name: 'my schema', schema: { type: 'object' } } } }),
    param: 'response_format.json_schema.name',
  },
  { name: 'an unknown response_format type', body: valid({ response_format: { type: 'yaml' } }), param: 'response_format.type' },
  { name: 'a logit_bias value of 200', body: valid({ logit_bias: { '50256': 200 } }), param: 'logit_bias.50256' },
  {
    name: 'metadata with 17 keys',
    body: valid({ metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`key${i}`, 'value'])) }),
    param: 'metadata',
  },
  { name: 'max_tokens of 0', body: valid({ max_tokens: 0 }), param: 'max_tokens' },
  { name: 'a seed that is not whole', body: valid({ seed: 1.5 }), param: 'seed' },
  {
    name: 'a custom tool call without its input',
    body: valid({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'custom', custom: { name: 'run_sql' } }] }] }),
    param: 'messages[1].tool_calls[0].custom.input',
  },
  { name: 'a seed beyond int64', body: valid({ seed: 2 ** 64 }), param: 'seed' },
  { name: 'an unknown reasoning_effort', body: valid({ reasoning_effort: 'extreme' }), param: 'reasoning_effort' },
];

describe('a bad request is a 400 naming the param', () => {
  for (const { name, body, param, code } of CASES) {
    test(name, async () => {
      const { response, text } = await post(body);
      assert.equal(response.status, 400, text);
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
      assert.match(response.headers.get('x-request-id') ?? '', /^req_/);
      const error = openAIError(text);
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.param, param, text);
      if (code) assert.equal(error.code, code, text);
    });
  }

  test('a stream that fails validation is a 400, not a 200 stream', async () => {
    const { response, text } = await post(valid({ stream: true, temperature: 9 }));
    assert.equal(response.status, 400);
    assert.equal(openAIError(text).param, 'temperature');
  });

  test('the valid neighbours of those cases pass', async () => {
    for (const body of [
      valid({ temperature: 2, top_p: 1, n: 128, stop: ['a', 'b', 'c', 'd'], max_tokens: 1 }),
      valid({ tools: [TOOL], tool_choice: { type: 'function', function: { name: 'lookup' } }, parallel_tool_calls: false }),
      valid({ stream: true, stream_options: { include_usage: true } }),
      valid({ logprobs: true, top_logprobs: 20 }),
      valid({ logit_bias: { '50256': -100 }, metadata: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`key${i}`, 'v'])) }),
      valid({ response_format: { type: 'json_schema', json_schema: { name: 'my_schema-1', schema: { type: 'object' } } } }),
      // A custom tool's call sent back with its output, as the turn after a GPT-5 custom tool call does
      // (without the custom tool itself, which the sandbox does not serve).
      valid({
        messages: [
          { role: 'user', content: 'count users' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'custom', custom: { name: 'run_sql', input: 'select count(*) from users' } }] },
          { role: 'tool', tool_call_id: 'call_1', content: '42' },
        ],
      }),
      // Any int64 seed, as OpenAI takes (a Python client may send 2**62).
      valid({ seed: 2 ** 62 }),
      valid({ seed: -(2 ** 62) }),
      // Fast mode, which the spec's service tiers include; a null limit beside the other one.
      valid({ service_tier: 'fast', safety_identifier: 'x'.repeat(64) }),
      valid({ max_tokens: null, max_completion_tokens: 5 }),
    ]) {
      const { response, text } = await post(body);
      assert.equal(response.status, 200, `${JSON.stringify(body).slice(0, 200)} → ${text.slice(0, 300)}`);
    }
  });
});

describe('the SDK sees these as BadRequestError with .param', () => {
  const client = () => server.client();
  for (const { name, body, param, code } of CASES) {
    test(name, async () => {
      await assert.rejects(client().chat.completions.create(body as unknown as ChatCompletionCreateParamsNonStreaming), (error: unknown) => {
        assert.ok(error instanceof BadRequestError, String(error));
        assert.equal(error.status, 400);
        assert.equal(error.param, param);
        assert.equal(error.type, 'invalid_request_error');
        if (code) assert.equal(error.code, code);
        assert.match(error.requestID ?? '', /^req_/);
        return true;
      });
    });
  }
});

describe('error messages', () => {
  test('a tool_choice of an unknown type lists every type tool_choice takes', async () => {
    const { response, text } = await post(JSON.stringify(valid({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'bogus' } })));
    assert.equal(response.status, 400);
    const error = openAIError(text);
    assert.equal(error.param, 'tool_choice.type');
    assert.match(error.message, /'function', 'custom', 'allowed_tools'/);
  });
});

describe('bodies that are not a chat request', () => {
  test('malformed JSON is a 400 invalid_json', async () => {
    for (const raw of ['{"model": "sandbox/echo",', '{bad json}', '']) {
      const { response, text } = await post(raw);
      assert.equal(response.status, 400, JSON.stringify(raw));
      const error = openAIError(text);
      assert.equal(error.code, 'invalid_json');
      assert.equal(error.type, 'invalid_request_error');
    }
  });

  test('a body that is JSON but not an object is a 400', async () => {
    for (const raw of ['[{"model":"sandbox/echo"}]', 'null', '"text"', '42', 'true']) {
      const { response, text } = await post(raw);
      assert.equal(response.status, 400, raw);
      const error = openAIError(text);
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.param, null);
    }
  });

  test('a body over server.bodyLimitBytes is a 413', async () => {
    const big = valid({ messages: [{ role: 'user', content: 'x'.repeat(BODY_LIMIT + 10) }] });
    const { response, text } = await post(big);
    assert.equal(response.status, 413);
    const error = openAIError(text);
    assert.equal(error.code, 'request_too_large');
    const justUnder = valid({ messages: [{ role: 'user', content: 'x'.repeat(BODY_LIMIT - 200) }] });
    assert.equal((await post(justUnder)).response.status, 200);
  });

  test('the SDK surfaces a 413 as an APIError with its status', async () => {
    const big = valid({ messages: [{ role: 'user', content: 'y'.repeat(BODY_LIMIT * 2) }] });
    await assert.rejects(server.client().chat.completions.create(big as unknown as ChatCompletionCreateParamsNonStreaming), (error: unknown) => {
      assert.ok(error instanceof APIError);
      assert.equal(error.status, 413);
      assert.equal(error.code, 'request_too_large');
      return true;
    });
  });

  test('a JSON body sent without a JSON content type is still read as JSON', async () => {
    const ok = await post(valid(), { 'content-type': 'text/plain' });
    assert.equal(ok.response.status, 200, ok.text);
    const bad = await post('{nope', { 'content-type': 'text/plain' });
    assert.equal(bad.response.status, 400);
    assert.equal(openAIError(bad.text).code, 'invalid_json');
  });
});

// ——— property: random JSON in random fields never yields a 5xx ———

/** A request using most of the API at once, so that a random edit lands somewhere meaningful. */
const richRequest = (): Body => ({
  model: 'sandbox/echo',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'call lookup now' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: 'result' },
    { role: 'user', content: [{ type: 'text', text: 'again, lookup' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
  ],
  tools: [{ type: 'function', function: { name: 'lookup', description: 'Looks up.', parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } } }],
  tool_choice: 'auto',
  temperature: 0.7,
  top_p: 1,
  n: 1,
  max_tokens: 40,
  stop: ['zzz'],
  seed: 7,
  logprobs: false,
  response_format: { type: 'text' },
  metadata: { team: 'qa' },
  user: 'tester',
});

type Path = ReadonlyArray<string | number>;
const FIELDS: Path[] = [
  ['model'], ['messages'], ['messages', 0], ['messages', 0, 'role'], ['messages', 0, 'content'], ['messages', 1, 'content'],
  ['messages', 1, 'name'], ['messages', 2, 'content'], ['messages', 2, 'tool_calls'], ['messages', 2, 'tool_calls', 0, 'id'],
  ['messages', 2, 'tool_calls', 0, 'function'], ['messages', 2, 'tool_calls', 0, 'function', 'arguments'], ['messages', 3, 'tool_call_id'],
  ['messages', 3, 'content'], ['messages', 4, 'content'], ['messages', 4, 'content', 0], ['messages', 4, 'content', 1, 'image_url'],
  ['messages', 4, 'content', 1, 'image_url', 'url'], ['messages', 5], ['tools'], ['tools', 0], ['tools', 0, 'type'], ['tools', 0, 'function', 'name'],
  ['tools', 0, 'function', 'strict'], ['tool_choice'], ['parallel_tool_calls'], ['temperature'], ['top_p'], ['n'], ['max_tokens'],
  ['max_completion_tokens'], ['stop'], ['seed'], ['logprobs'], ['top_logprobs'], ['response_format'], ['response_format', 'type'],
  ['metadata'], ['user'], ['stream'], ['stream_options'], ['logit_bias'], ['frequency_penalty'], ['presence_penalty'], ['reasoning'],
  ['reasoning_effort'], ['modalities'], ['audio'], ['prediction'], ['service_tier'], ['store'], ['functions'], ['function_call'],
  ['top_k'], ['min_p'], ['verbosity'], ['web_search_options'], ['an_unknown_field'],
];

/** JSON-schema bodies: what the sandbox feeds its schema faker. */
const SCHEMA_FIELDS: Path[] = [['tools', 0, 'function', 'parameters'], ['response_format', 'json_schema', 'schema']];

function setAt(target: Body, path: Path, value: unknown): void {
  let node: unknown = target;
  for (const key of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return;
    node = (node as Record<string | number, unknown>)[key];
  }
  // A copy: the constant values below are shared between runs, and an edit that nests one inside
  // itself (`messages[0] = v`, then `messages[0].content = v`) would otherwise leave it cyclic for good.
  if (node !== null && typeof node === 'object') (node as Record<string | number, unknown>)[path.at(-1)!] = structuredClone(value);
}

/** Values a client might send: any JSON, plus near-misses of the values the fields expect. */
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(0, -1, 1, 2, 128, 129, 1e9, -1e9, 0.5, Number.MAX_SAFE_INTEGER, '', 'auto', 'none', 'required', 'user', 'tool', true, false, null, [], {}),
  fc.constantFrom({ type: 'json_object' }, { type: 'json_schema', json_schema: { name: 'x' } }, { type: 'function', function: { name: 'lookup' } }),
);

async function injectStatus(body: Body): Promise<{ status: number; text: string }> {
  const reply = await server.app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  return { status: reply.statusCode, text: reply.body };
}

function checkOutcome(status: number, text: string, what: string): void {
  assert.ok(status < 500, `${status} for ${what}: ${text.slice(0, 300)}`);
  if (status === 200) return;
  assert.ok(status >= 400, `${status} for ${what}`);
  const error = openAIError(text);
  if (status === 400) assert.equal(error.type, 'invalid_request_error');
}

describe('fuzzing', () => {
  test('random JSON in random fields of a valid request: 200 or an OpenAI-shaped 4xx, never a 5xx', async () => {
    assert.equal((await injectStatus(richRequest())).status, 200, 'the request before edits is valid');
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...FIELDS), anyValue), { minLength: 1, maxLength: 3 }), async (edits) => {
        const body = richRequest();
        for (const [path, value] of edits) setAt(body, path, value);
        const { status, text } = await injectStatus(body);
        seen.add(status);
        checkOutcome(status, text, JSON.stringify(edits));
      }),
      // A fixed seed: CI runs the same cases every time (set FC_SEED to explore others).
      { numRuns: 400, seed: Number(process.env.FC_SEED ?? 20261123) },
    );
    assert.ok(seen.has(200) && seen.has(400), `both outcomes were exercised: ${[...seen].join(', ')}`);
  });

  test('random JSON as a tool’s parameters or a response format’s schema never yields a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SCHEMA_FIELDS), fc.jsonValue({ maxDepth: 3 }), async (path, value) => {
        // Only the schema of the path is used: tools when the tool is called, else the response format.
        const body =
          path[0] === 'tools'
            ? valid({ tools: [{ type: 'function', function: { name: 'lookup' } }], tool_choice: 'required' })
            : valid({ response_format: { type: 'json_schema', json_schema: { name: 'answer' } } });
        setAt(body, path, value);
        const { status, text } = await injectStatus(body);
        checkOutcome(status, text, `${path.join('.')} = ${JSON.stringify(value)}`);
      }),
      { numRuns: 200, seed: Number(process.env.FC_SEED ?? 20261123), examples: [[SCHEMA_FIELDS[1]!, { type: 'foo' }], [SCHEMA_FIELDS[0]!, { enum: [] }]] },
    );
  });
});

describe('JSON schemas the sandbox cannot instantiate', () => {
  const SCHEMAS = [{ type: 'foo' }, { enum: [] }, { type: 'object', properties: { a: { $ref: '#/$defs/missing' } }, required: ['a'] }];

  test('a response_format json_schema the sandbox cannot fake is a 400, not a 500', async () => {
    for (const schema of SCHEMAS) {
      const { response, text } = await post(valid({ response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } } }));
      assert.equal(response.status, 400, `${JSON.stringify(schema)} → ${text}`);
      const error = openAIError(text);
      assert.equal(error.type, 'invalid_request_error');
      assert.match(error.param ?? '', /^response_format/);
    }
  });

  test('tool parameters the sandbox cannot fake are a 400, not a 500', async () => {
    for (const schema of SCHEMAS) {
      const tools = [{ type: 'function', function: { name: 'lookup', parameters: schema } }];
      const { response, text } = await post(valid({ tools, tool_choice: 'required' }));
      assert.equal(response.status, 400, `${JSON.stringify(schema)} → ${text}`);
      assert.match(openAIError(text).param ?? '', /^tools/);
    }
  });
});

describe('missing message content', () => {
  test('a message without content is missing_required_parameter, with a message that says so', async () => {
    for (const message of [{ role: 'user' }, { role: 'system' }, { role: 'developer' }]) {
      const { text } = await post(valid({ messages: [message] }));
      const error = openAIError(text);
      assert.equal(error.param, 'messages[0].content');
      assert.equal(error.code, 'missing_required_parameter', text);
      assert.doesNotMatch(error.message, /undefined/, text);
    }
  });
});
