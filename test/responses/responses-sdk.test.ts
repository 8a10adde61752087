import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FunctionTool, Response, ResponseStreamEvent } from 'openai/resources/responses/responses';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { dataJson, postSse } from '../helpers/raw-sse.js';
import { jsonSchemaAjv, specValidator } from '../helpers/openai-spec.js';
import { assertEventGrammar, failingProvider, interleavedCallsProvider, RecordingSandbox, slowFailingProvider, tieredProvider } from './helpers.js';

// The Responses API over the sandbox, through the official SDK: the object and the events exactly
// per spec, the stream and the final object agreeing, tools, structured output, limits, reasoning.

let server: RunningServer;
let client: ReturnType<RunningServer['client']>;
let sandbox: RecordingSandbox;

before(async () => {
  sandbox = new RecordingSandbox();
  server = await startServer({}, { providers: [sandbox, failingProvider(), tieredProvider('priority'), interleavedCallsProvider()] });
  client = server.client();
});
after(async () => {
  await server?.close();
});

const validateResponse = specValidator('Response');
const validateEvent = specValidator('ResponseStreamEvent');
const tokens = (text: string) => encode(text).length;
const lastCall = () => sandbox.calls[sandbox.calls.length - 1]!;

const weather: FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string', enum: ['Paris', 'Oslo'] } }, required: ['city'], additionalProperties: false },
  strict: true,
};

/** The object as the API sent it: the SDK adds `output_text`, `output_parsed`, `parsed_arguments` and `parsed` on its side. */
function wire(response: Response): Record<string, unknown> {
  const { output_text: _text, output_parsed: _parsed, ...rest } = response as Response & { output_text?: string; output_parsed?: unknown };
  const output = rest.output.map(({ parsed_arguments: _parsed, ...item }: any) =>
    item.type === 'message' ? { ...item, content: item.content.map(({ parsed: _value, ...part }: any) => part) } : item,
  );
  return JSON.parse(JSON.stringify({ ...rest, output }));
}

describe('responses.create', () => {
  test('answers with exactly OpenAI’s Response object', async () => {
    const before = Math.floor(Date.now() / 1000);
    const response = await client.responses.create({ model: 'sandbox/echo', input: 'Hello there, world!', instructions: 'Answer briefly.', metadata: { run: 'one' } });
    const after = Math.ceil(Date.now() / 1000);

    assert.deepEqual(validateResponse(wire(response)), []);
    assert.match(response.id, /^resp_/);
    assert.equal(response.object, 'response');
    assert.equal(response.status, 'completed');
    assert.ok(response.created_at >= before && response.created_at <= after);
    assert.ok(response.completed_at! >= response.created_at);
    assert.equal(response.model, 'sandbox/echo');
    assert.equal(response.error, null);
    assert.equal(response.incomplete_details, null);
    assert.equal(response.instructions, 'Answer briefly.');
    assert.deepEqual(response.metadata, { run: 'one' });
    assert.equal((response as typeof response & { store?: boolean }).store, true);
    assert.equal(response.previous_response_id, null);
    assert.deepEqual(response.tools, []);
    assert.equal(response.tool_choice, 'auto');
    assert.equal(response.parallel_tool_calls, true);
    assert.deepEqual(response.text, { format: { type: 'text' }, verbosity: 'medium' });

    assert.equal(response.output.length, 1);
    const message = response.output[0]!;
    assert.equal(message.type, 'message');
    assert.match(message.id!, /^msg_/);
    assert.equal(message.type === 'message' && message.status, 'completed');
    assert.equal(response.output_text, 'Hello there, world!');

    // Instructions go first, as a system message; the sandbox echoes the user's text.
    assert.deepEqual(lastCall().messages, [
      { role: 'system', content: 'Answer briefly.' },
      { role: 'user', content: 'Hello there, world!' },
    ]);
    const input = 3 + 3 + tokens('Answer briefly.') + 3 + tokens('Hello there, world!');
    assert.deepEqual(response.usage, {
      input_tokens: input,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: tokens('Hello there, world!'),
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: input + tokens('Hello there, world!'),
    });
  });

  test('takes messages with input_text and input_image parts', async () => {
    // A PNG's signature then filler: the gateway checks an image's first bytes against its type.
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('then bytes')]).toString('base64');
    const response = await client.responses.create({
      model: 'sandbox/echo',
      input: [
        { role: 'developer', content: 'Be exact.' },
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is this?' },
            { type: 'input_image', image_url: `data:image/png;base64,${png}`, detail: 'low' },
          ],
        },
      ],
    });
    assert.match(response.output_text, /^What is this\?\n\[1 image: image\/png \d+ bytes\]$/);
    assert.deepEqual(lastCall().messages, [
      { role: 'developer', content: 'Be exact.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png}`, detail: 'low' } },
        ],
      },
    ]);
  });

  test('passes sampling settings and echoes them', async () => {
    const response = await client.responses.create({ model: 'sandbox/echo', input: 'x', temperature: 0.2, top_p: 0.5, max_output_tokens: 50, user: 'u1' });
    assert.equal(response.temperature, 0.2);
    assert.equal(response.top_p, 0.5);
    assert.equal(response.max_output_tokens, 50);
    const call = lastCall();
    assert.equal(call.temperature, 0.2);
    assert.equal(call.top_p, 0.5);
    assert.equal(call.max_completion_tokens, 50);
    assert.equal(call.user, 'u1');
  });
});

describe('service_tier', () => {
  test('the finished response names the tier the backend says served it, streamed or not', async () => {
    const created = await client.responses.create({ model: 'tiered/model', input: 'x', service_tier: 'auto' });
    assert.equal(created.service_tier, 'priority');
    assert.equal(created.output_text, 'Served.');
    const stream = client.responses.stream({ model: 'tiered/model', input: 'x', service_tier: 'auto' });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const first = events[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>;
    // Until the call is served, the response echoes what was asked.
    assert.equal(first.response.service_tier, 'auto');
    assert.equal((await stream.finalResponse()).service_tier, 'priority');
  });

  test('`auto` is not a tier: a backend that names none served it at `default`', async () => {
    const response = await client.responses.create({ model: 'sandbox/echo', input: 'x', service_tier: 'auto' });
    assert.equal(response.service_tier, 'default');
    assert.equal(lastCall().service_tier, 'auto');
  });
});

describe('responses.stream', () => {
  test('sends the events in OpenAI’s order, and finalResponse() equals what they built', async () => {
    const stream = client.responses.stream({ model: 'sandbox/echo', input: 'Stream me a reply, please.' });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();

    for (const event of events) assert.deepEqual(validateEvent(event), [], event.type);
    assertEventGrammar(events);
    assert.deepEqual(
      [...new Set(events.map((event) => event.type))],
      [
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ],
    );
    const created = events[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>;
    assert.equal(created.response.status, 'in_progress');
    assert.deepEqual(created.response.output, []);

    const completed = events[events.length - 1] as Extract<ResponseStreamEvent, { type: 'response.completed' }>;
    assert.deepEqual(validateResponse(completed.response), []);
    assert.equal(final.output_text, 'Stream me a reply, please.');
    // The final object's items are the items the stream closed, ids included.
    const done = events.filter((event) => event.type === 'response.output_item.done').map((event) => event.item);
    assert.deepEqual(wire(final).output, done);
    assert.deepEqual(wire(final), completed.response);
    assert.equal(final.id, created.response.id);

    // And the stored object is the same one.
    const stored = await client.responses.retrieve(final.id);
    assert.deepEqual(wire(stored), wire(final));
  });

  test('asks the backend for usage and reports it on the final object', async () => {
    const stream = client.responses.stream({ model: 'sandbox/echo', input: 'count me' });
    const final = await stream.finalResponse();
    assert.deepEqual(lastCall().stream_options, { include_usage: true });
    assert.equal(final.usage!.output_tokens, tokens('count me'));
    assert.equal(final.usage!.total_tokens, final.usage!.input_tokens + final.usage!.output_tokens);
  });

  test('a failure after the first chunk ends with response.failed, then an error event', async () => {
    const { response, events } = await postSse(`${server.baseURL}/responses`, { model: 'broken/model', input: 'hi', stream: true });
    assert.equal(response.status, 200);
    const raw = events.filter((event) => event.kind === 'data');
    const json = dataJson<ResponseStreamEvent>(raw);
    assertEventGrammar(json);
    const failed = json[json.length - 2] as Extract<ResponseStreamEvent, { type: 'response.failed' }>;
    assert.equal(failed.type, 'response.failed');
    assert.equal(failed.response.status, 'failed');
    assert.deepEqual(failed.response.error, { code: 'server_error', message: 'The upstream closed the stream mid-reply.' });
    assert.deepEqual(validateResponse(failed.response), []);
    const error = json[json.length - 1]!;
    assert.deepEqual(error, { type: 'error', code: 'stream_interrupted', message: 'The upstream closed the stream mid-reply.', param: null, sequence_number: json.length - 1 });
    const stored = await client.responses.retrieve(failed.response.id);
    assert.equal(stored.status, 'failed');
    // The SDK's stream helper surfaces it as an error.
    await assert.rejects(client.responses.stream({ model: 'broken/model', input: 'hi' }).finalResponse());
  });

  test('each event travels with its `event:` name, and there is no [DONE]', async () => {
    const { raw } = await postSse(`${server.baseURL}/responses`, { model: 'sandbox/echo', input: 'names', stream: true });
    const blocks = raw.split('\n\n').filter(Boolean);
    for (const block of blocks) {
      const [eventLine, dataLine] = block.split('\n');
      assert.equal(eventLine, `event: ${(JSON.parse(dataLine!.slice(6)) as { type: string }).type}`);
    }
    assert.ok(!raw.includes('[DONE]'));
  });
});

describe('a failure after a heartbeat committed the stream', () => {
  let slow: RunningServer;
  before(async () => {
    slow = await startServer({ server: { heartbeatMs: 20 } }, { providers: [slowFailingProvider(150)] });
  });
  after(async () => {
    await slow?.close();
  });

  test('still ends with the Responses API’s own events: created, in_progress, response.failed, error', async () => {
    const { response, events } = await postSse(`${slow.baseURL}/responses`, { model: 'slow/model', input: 'hi', stream: true });
    assert.equal(response.status, 200);
    assert.ok(events.some((event) => event.kind === 'comment'), 'the heartbeat committed to a stream before the failure');
    const json = dataJson<ResponseStreamEvent>(events.filter((event) => event.kind === 'data'));
    for (const event of json) assert.deepEqual(validateEvent(event), [], event.type);
    assertEventGrammar(json);
    assert.deepEqual(json.map((event) => event.type), ['response.created', 'response.in_progress', 'response.failed', 'error']);
    const failed = json[2] as Extract<ResponseStreamEvent, { type: 'response.failed' }>;
    assert.equal(failed.response.status, 'failed');
    assert.deepEqual(failed.response.error, { code: 'server_error', message: 'The upstream did not answer.' });
    assert.deepEqual(failed.response.output, []);
    assert.equal((json[3] as { code?: string }).code, 'upstream_unavailable');
    // Stored as failed, like a failure later in the stream.
    assert.equal((await slow.client().responses.retrieve(failed.response.id)).status, 'failed');
  });
});

describe('function calling', () => {
  test('a round trip: function_call, then function_call_output in the next request', async () => {
    const first = await client.responses.create({ model: 'sandbox/echo', input: 'What is the get_weather in Paris?', tools: [weather] });
    assert.deepEqual(validateResponse(wire(first)), []);
    assert.equal(first.output.length, 1);
    const call = first.output[0]!;
    assert.equal(call.type, 'function_call');
    if (call.type !== 'function_call') return;
    assert.match(call.id!, /^fc_/);
    assert.match(call.call_id, /^call_/);
    assert.equal(call.name, 'get_weather');
    assert.equal(call.status, 'completed');
    assert.ok(['Paris', 'Oslo'].includes((JSON.parse(call.arguments) as { city: string }).city));
    assert.deepEqual(first.tools, [weather]);
    assert.equal(lastCall().tools![0]!.type, 'function');

    // Stateless: the client sends the call back with its output.
    const second = await client.responses.create({
      model: 'sandbox/echo',
      tools: [weather],
      input: [
        { role: 'user', content: 'What is the get_weather in Paris?' },
        call,
        { type: 'function_call_output', call_id: call.call_id, output: '{"temperature":21}' },
      ],
    });
    assert.equal(second.output_text, 'Tool results: {"temperature":21}');
    assert.deepEqual(lastCall().messages.slice(1), [
      { role: 'assistant', content: null, tool_calls: [{ id: call.call_id, type: 'function', function: { name: 'get_weather', arguments: call.arguments } }] },
      { role: 'tool', tool_call_id: call.call_id, content: '{"temperature":21}' },
    ]);

    // An output given as text parts reaches the backend as the parts' text.
    const parts = await client.responses.create({
      model: 'sandbox/echo',
      tools: [weather],
      input: [
        { role: 'user', content: 'What is the get_weather in Paris?' },
        call,
        { type: 'function_call_output', call_id: call.call_id, output: [{ type: 'input_text', text: '{"temperature":' }, { type: 'input_text', text: '20}' }] },
      ],
    });
    assert.equal(parts.output_text, 'Tool results: {"temperature":20}');

    // Stateful: only the output, after previous_response_id.
    const third = await client.responses.create({
      model: 'sandbox/echo',
      tools: [weather],
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temperature":19}' }],
    });
    assert.equal(third.output_text, 'Tool results: {"temperature":19}');
    assert.equal(third.previous_response_id, first.id);
  });

  test('streams a call as added, argument deltas, done', async () => {
    const stream = client.responses.stream({ model: 'sandbox/echo', input: 'x', tools: [weather], tool_choice: 'required' });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();
    assertEventGrammar(events);
    for (const event of events) assert.deepEqual(validateEvent(event), [], event.type);
    assert.ok(events.some((event) => event.type === 'response.function_call_arguments.delta'));
    const done = events.find((event) => event.type === 'response.function_call_arguments.done')!;
    assert.equal(done.type === 'response.function_call_arguments.done' && done.name, 'get_weather');
    assert.equal(final.output[0]!.type, 'function_call');
    assert.equal(final.tool_choice, 'required');
    assert.equal(lastCall().tool_choice, 'required');
  });

  test('calls whose arguments come interleaved are each written whole, their done events holding all of them', async () => {
    const stream = client.responses.stream({ model: 'interleaved/model', input: 'x' });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();
    assertEventGrammar(events);
    for (const event of events) assert.deepEqual(validateEvent(event), [], event.type);
    const done = events.flatMap((event) => (event.type === 'response.output_item.done' && event.item.type === 'function_call' ? [event.item] : []));
    assert.deepEqual(
      done.map((item) => [item.call_id, item.name, item.arguments]),
      [
        ['call_a', 'get_weather', '{"city":"Paris"}'],
        ['call_b', 'get_time', '{"zone":"CET"}'],
      ],
    );
    const argumentsDone = events.flatMap((event) => (event.type === 'response.function_call_arguments.done' ? [event.arguments] : []));
    assert.deepEqual(argumentsDone, ['{"city":"Paris"}', '{"zone":"CET"}']);
    assert.deepEqual(
      final.output.map((item) => item.type === 'function_call' && item.arguments),
      ['{"city":"Paris"}', '{"zone":"CET"}'],
    );
    const collected = await client.responses.create({ model: 'interleaved/model', input: 'x' });
    assert.deepEqual(
      collected.output.map((item) => item.type === 'function_call' && [item.call_id, item.arguments]),
      [
        ['call_a', '{"city":"Paris"}'],
        ['call_b', '{"zone":"CET"}'],
      ],
    );
  });

  test('tool_choice naming a function, and parallel_tool_calls, reach the backend in chat’s form', async () => {
    const response = await client.responses.create({
      model: 'sandbox/echo',
      input: 'x',
      tools: [weather, { ...weather, name: 'get_time' }],
      tool_choice: { type: 'function', name: 'get_time' },
      parallel_tool_calls: false,
    });
    assert.deepEqual(lastCall().tool_choice, { type: 'function', function: { name: 'get_time' } });
    assert.equal(lastCall().parallel_tool_calls, false);
    assert.equal(response.parallel_tool_calls, false);
    assert.deepEqual(response.tool_choice, { type: 'function', name: 'get_time' });
    assert.equal(response.output[0]!.type === 'function_call' && response.output[0]!.name, 'get_time');
  });

  test('an unanswered call, or an output for no call, is a 400 naming input', async () => {
    const first = await client.responses.create({ model: 'sandbox/echo', input: 'get_weather now', tools: [weather] });
    await assert.rejects(
      client.responses.create({ model: 'sandbox/echo', previous_response_id: first.id, input: 'never mind' }),
      (error: any) => error.status === 400 && error.param === 'input' && /No tool output found for function call call_/.test(error.message),
    );
    await assert.rejects(
      client.responses.create({ model: 'sandbox/echo', input: [{ type: 'function_call_output', call_id: 'call_nope', output: 'x' }] }),
      (error: any) => error.status === 400 && error.param === 'input' && /call_nope/.test(error.message),
    );
  });
});

describe('text.format', () => {
  test('json_schema: the output conforms, and the backend got response_format', async () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } },
      required: ['name', 'age'],
      additionalProperties: false,
    };
    const response = await client.responses.create({
      model: 'sandbox/echo',
      input: 'Make up a person.',
      text: { format: { type: 'json_schema', name: 'person', schema, strict: true } },
    });
    const value = JSON.parse(response.output_text) as unknown;
    const validate = jsonSchemaAjv().compile(schema);
    assert.ok(validate(value), JSON.stringify(validate.errors));
    assert.deepEqual(lastCall().response_format, { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } });
    assert.deepEqual(response.text!.format, { type: 'json_schema', name: 'person', schema, strict: true });
  });

  test('json_object', async () => {
    const response = await client.responses.create({ model: 'sandbox/echo', input: 'json please', text: { format: { type: 'json_object' } } });
    assert.deepEqual(JSON.parse(response.output_text), { reply: 'json please' });
    assert.deepEqual(lastCall().response_format, { type: 'json_object' });
  });
});

describe('max_output_tokens', () => {
  const long = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty';

  test('a reply cut by the limit is incomplete, with the reason', async () => {
    const response = await client.responses.create({ model: 'sandbox/echo', input: long, max_output_tokens: 16 });
    assert.deepEqual(validateResponse(wire(response)), []);
    assert.equal(response.status, 'incomplete');
    assert.deepEqual(response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(response.completed_at, null);
    assert.equal(response.output[0]!.type === 'message' && response.output[0]!.status, 'incomplete');
    assert.equal(response.usage!.output_tokens, 16);
    assert.ok(long.startsWith(response.output_text) && response.output_text.length < long.length);
  });

  test('streamed, it ends with response.incomplete', async () => {
    const stream = client.responses.stream({ model: 'sandbox/echo', input: long, max_output_tokens: 16 });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    assertEventGrammar(events);
    const last = events[events.length - 1]!;
    assert.equal(last.type, 'response.incomplete');
    assert.deepEqual(validateEvent(last), []);
    const final = await stream.finalResponse();
    assert.equal(final.status, 'incomplete');
    assert.deepEqual(final.incomplete_details, { reason: 'max_output_tokens' });
  });
});

describe('reasoning', () => {
  test('with a summary asked: a reasoning item with summary text, before the message', async () => {
    const stream = client.responses.stream({ model: 'sandbox/echo', input: 'think', reasoning: { effort: 'low', summary: 'auto' } });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();
    assertEventGrammar(events);
    for (const event of events) assert.deepEqual(validateEvent(event), [], event.type);
    assert.equal(lastCall().reasoning_effort, 'low');
    assert.equal(lastCall().reasoning, true);
    const [reasoning, message] = final.output;
    assert.equal(reasoning!.type, 'reasoning');
    assert.match(reasoning!.id!, /^rs_/);
    assert.match(reasoning!.type === 'reasoning' ? reasoning!.summary[0]!.text : '', /^The user wrote 5 characters/);
    assert.equal(message!.type, 'message');
    assert.equal(final.output_text, 'think');
    assert.ok(final.usage!.output_tokens_details.reasoning_tokens > 0);
    assert.deepEqual(final.reasoning, { effort: 'low', summary: 'auto' });
  });

  test('without a summary: the reasoning the backend sent is reasoning text', async () => {
    const response = await client.responses.create({ model: 'sandbox/echo', input: 'think', reasoning: { effort: 'medium' } });
    assert.deepEqual(validateResponse(wire(response)), []);
    assert.equal(lastCall().reasoning, undefined);
    const reasoning = response.output[0]!;
    assert.equal(reasoning.type, 'reasoning');
    if (reasoning.type !== 'reasoning') return;
    assert.deepEqual(reasoning.summary, []);
    assert.match(reasoning.content![0]!.text, /^The user wrote/);
  });
});

describe('logprobs', () => {
  test('include message.output_text.logprobs asks chat for logprobs and returns them per delta and part', async () => {
    const response = await client.responses.create({ model: 'sandbox/echo', input: 'two words', include: ['message.output_text.logprobs'], top_logprobs: 2 });
    assert.equal(lastCall().logprobs, true);
    assert.equal(lastCall().top_logprobs, 2);
    const part = response.output[0]!.type === 'message' ? response.output[0]!.content[0]! : undefined;
    assert.equal(part?.type, 'output_text');
    const logprobs = part?.type === 'output_text' ? part.logprobs! : [];
    assert.deepEqual(logprobs.map((entry) => entry.token).join(''), 'two words');
    assert.equal(logprobs[0]!.top_logprobs.length, 2);
  });
});
