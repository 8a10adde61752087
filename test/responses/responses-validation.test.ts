import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { postSse } from '../helpers/raw-sse.js';

// Bad requests to POST /v1/responses: a 400 in OpenAI's shape whose `param` names the field in the
// Responses API's terms, never chat's; hosted tools and item kinds Switchyard does not serve, by name.

let server: RunningServer;

before(async () => {
  server = await startServer({ providers: [{ kind: 'sandbox', maxOutputTokens: 200 }] });
});
after(async () => {
  await server?.close();
});

async function post(body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.baseURL}/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const valid = { model: 'sandbox/echo', input: 'hi' };
const weather = { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} } };

const cases: Array<{ name: string; body: Record<string, unknown>; param: string | null; code?: string; status?: number }> = [
  { name: 'body not an object', body: [] as never, param: null, code: 'invalid_type' },
  { name: 'model missing', body: { input: 'hi' }, param: 'model', code: 'missing_required_parameter' },
  { name: 'input missing', body: { model: 'sandbox/echo' }, param: 'input', code: 'missing_required_parameter' },
  { name: 'input of the wrong type', body: { ...valid, input: 42 }, param: 'input', code: 'invalid_type' },
  { name: 'a message without role', body: { ...valid, input: [{ type: 'message', content: 'x' }] }, param: 'input[0].role' },
  { name: 'a bad role', body: { ...valid, input: [{ role: 'robot', content: 'x' }] }, param: 'input[0].role' },
  { name: 'an unknown part type', body: { ...valid, input: [{ role: 'user', content: [{ type: 'input_video', url: 'x' }] }] }, param: 'input[0].content[0].type' },
  { name: 'input_text without text', body: { ...valid, input: [{ role: 'user', content: [{ type: 'input_text' }] }] }, param: 'input[0].content[0].text' },
  {
    name: 'an image by file id',
    body: { ...valid, input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1', detail: 'auto' }] }] },
    param: 'input[0].content[0].image_url',
    code: 'unsupported_parameter',
  },
  {
    // Chat's system and developer messages carry text only: the image would be lost on the way.
    name: 'an image in a developer message',
    body: { ...valid, input: [{ role: 'developer', content: [{ type: 'input_text', text: 'Be exact.' }, { type: 'input_image', image_url: 'https://example.com/a.png' }] }, { role: 'user', content: 'hi' }] },
    param: 'input[0].content[1].type',
    code: 'unsupported_parameter',
  },
  {
    name: 'a file in a function call output',
    body: {
      ...valid,
      input: [
        { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_1', output: [{ type: 'input_text', text: 'see the file' }, { type: 'input_file', file_data: 'data:text/plain;base64,aGk=', filename: 'a.txt' }] },
      ],
    },
    param: 'input[1].output[1].type',
    code: 'unsupported_parameter',
  },
  {
    // Checked past translation (the gateway reads images): still named by the input item it came from.
    name: 'an image URL that is neither http(s) nor a data URL, after instructions and other items',
    body: {
      ...valid,
      instructions: 'Be brief.',
      input: [
        { role: 'user', content: 'first' },
        { role: 'user', content: [{ type: 'input_text', text: 'look' }, { type: 'input_image', image_url: 'notaurl', detail: 'auto' }] },
      ],
    },
    param: 'input[1].content[1].image_url',
  },
  { name: 'a function_call without call_id', body: { ...valid, input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }, param: 'input[0].call_id' },
  { name: 'an item kind not served', body: { ...valid, input: [{ type: 'web_search_call', id: 'ws_1' }] }, param: 'input[0].type', code: 'unsupported_parameter' },
  // OpenAI's answer to a reference to no stored item (never stored, `store: false`, deleted): a 404.
  { name: 'an item reference to no stored item', body: { ...valid, input: [{ type: 'item_reference', id: 'msg_1' }] }, param: 'input[0].id', code: 'not_found', status: 404 },
  { name: 'an item reference without an id', body: { ...valid, input: [{ type: 'item_reference' }] }, param: 'input[0].id' },
  { name: 'an item reference whose id is not a string', body: { ...valid, input: [{ type: 'item_reference', id: 5 }] }, param: 'input[0].id' },
  { name: 'a hosted tool', body: { ...valid, tools: [{ type: 'web_search' }] }, param: 'tools[0].type', code: 'unsupported_parameter' },
  { name: 'a function tool with a bad name', body: { ...valid, tools: [{ ...weather, name: 'get weather' }] }, param: 'tools[0].name' },
  { name: 'duplicate tool names', body: { ...valid, tools: [weather, weather] }, param: 'tools[1].name' },
  { name: 'tool_choice naming no tool', body: { ...valid, tools: [weather], tool_choice: { type: 'function', name: 'nope' } }, param: 'tool_choice.name' },
  { name: 'tool_choice required without tools', body: { ...valid, tool_choice: 'required' }, param: 'tool_choice' },
  { name: 'max_output_tokens below 16', body: { ...valid, max_output_tokens: 5 }, param: 'max_output_tokens' },
  { name: 'max_output_tokens above the model’s limit', body: { ...valid, max_output_tokens: 5000 }, param: 'max_output_tokens' },
  { name: 'temperature out of range', body: { ...valid, temperature: 3 }, param: 'temperature' },
  { name: 'top_p out of range', body: { ...valid, top_p: 1.5 }, param: 'top_p' },
  { name: 'json_schema format without a name', body: { ...valid, text: { format: { type: 'json_schema', schema: { type: 'object' } } } }, param: 'text.format.name' },
  { name: 'an unknown text format', body: { ...valid, text: { format: { type: 'yaml' } } }, param: 'text.format.type' },
  { name: 'a bad reasoning effort', body: { ...valid, reasoning: { effort: 'extreme' } }, param: 'reasoning.effort' },
  { name: 'metadata with a non-string value', body: { ...valid, metadata: { n: 1 } }, param: 'metadata.n' },
  { name: 'an include value not in the spec', body: { ...valid, include: ['message.output_text.logprobs', 'message.output_text.logprob'] }, param: 'include[1]', code: 'invalid_value' },
  { name: 'stream_options without stream', body: { ...valid, stream_options: { include_obfuscation: false } }, param: 'stream_options' },
  { name: 'background mode', body: { ...valid, background: true }, param: 'background', code: 'unsupported_parameter' },
  { name: 'a conversation', body: { ...valid, conversation: 'conv_1' }, param: 'conversation', code: 'unsupported_parameter' },
  { name: 'an unknown model', body: { ...valid, model: 'sandbox/nope' }, param: 'model', code: 'model_not_found', status: 404 },
];

describe('POST /v1/responses refuses', () => {
  for (const { name, body, param, code, status = 400 } of cases) {
    test(name, async () => {
      const response = await post(body);
      assert.equal(response.status, status, JSON.stringify(response.body));
      assert.deepEqual(Object.keys(response.body.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(response.body.error.param, param, response.body.error.message);
      assert.equal(response.body.error.type, 'invalid_request_error');
      if (code) assert.equal(response.body.error.code, code);
      assert.ok(!/messages|max_completion_tokens|response_format/.test(response.body.error.message), `chat words leak: ${response.body.error.message}`);
    });
  }

  test('the same 400 when streaming: an HTTP error, not an event stream', async () => {
    const { response } = await postSse(`${server.baseURL}/responses`, { ...valid, stream: true, max_output_tokens: 5000 });
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type')!, /application\/json/);
  });

  test('the SDK raises BadRequestError with the param', async () => {
    await assert.rejects(
      server.client().responses.create({ model: 'sandbox/echo', input: 'hi', temperature: 9 }),
      (error: any) => error.status === 400 && error.param === 'temperature',
    );
  });
});

describe('routes', () => {
  test('GET of an unknown response is a 404 in OpenAI’s shape', async () => {
    const response = await fetch(`${server.baseURL}/responses/resp_nope`);
    assert.equal(response.status, 404);
    assert.deepEqual(await response.json(), {
      error: { message: "Response with id 'resp_nope' not found.", type: 'invalid_request_error', param: null, code: 'not_found' },
    });
  });

  test('also served under /v1/openai', async () => {
    const response = await fetch(`${server.origin}/v1/openai/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(valid),
    });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { object: string }).object, 'response');
  });
});
