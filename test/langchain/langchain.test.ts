// LangChain.js pointed at Switchyard, as its users do: `new ChatOpenAI({ model, apiKey,
// configuration: { baseURL } })` and `new OpenAIEmbeddings(...)`. ChatOpenAI speaks chat
// completions by default and the Responses API with `useResponsesApi: true`. Whatever LangChain
// sends or reads that Switchyard mishandles fails here, on the sandbox (deterministic) and on the
// real engine with the generated tiny model.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatOpenAI, OpenAI as OpenAILLM, OpenAIEmbeddings } from '@langchain/openai';
import { AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage, type BaseMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { z } from 'zod';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { NO_END_OF_GENERATION, startLlamaServer, type LlamaTestServer } from '../helpers/llama-server.js';
import { errorReply, openAIError, startFakeUpstream, streamReply, type FakeUpstream } from '../helpers/fake-openai-upstream.js';

type ChatFields = ConstructorParameters<typeof ChatOpenAI>[0] & object;

/** A ChatOpenAI on `baseURL`, with LangChain's own retries off so a test sees each status once. */
function chatModel(baseURL: string, fields: ChatFields = {}, apiKey = 'sk-test'): ChatOpenAI {
  return new ChatOpenAI({ apiKey, maxRetries: 0, ...fields, configuration: { baseURL, ...fields.configuration } });
}

function embeddings(baseURL: string, fields: ConstructorParameters<typeof OpenAIEmbeddings>[0] = {}): OpenAIEmbeddings {
  return new OpenAIEmbeddings({ apiKey: 'sk-test', maxRetries: 0, ...fields, configuration: { baseURL } });
}

/** Every chunk of a LangChain stream, and their concatenation (LangChain's own `concat`). */
async function streamAll(stream: AsyncIterable<AIMessageChunk>): Promise<{ chunks: AIMessageChunk[]; joined: AIMessageChunk }> {
  const chunks: AIMessageChunk[] = [];
  let joined: AIMessageChunk | undefined;
  for await (const chunk of stream) {
    chunks.push(chunk);
    joined = joined ? joined.concat(chunk) : chunk;
  }
  assert.ok(joined, 'the stream yielded chunks');
  return { chunks, joined };
}

const weather = tool(async ({ city }: { city: string }) => `It is 21 degrees in ${city}.`, {
  name: 'get_weather',
  description: 'The weather in a city',
  schema: z.object({ city: z.string().describe('the city') }),
});

const Person = z.object({ name: z.string(), age: z.number().int() }).describe('A person');

/** A 1×1 PNG, as a user's image would arrive in base64. */
const PIXEL_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const PIXEL_PNG_BYTES = Buffer.from(PIXEL_PNG, 'base64').length;

const lengthOfText = (message: BaseMessage) => (typeof message.content === 'string' ? message.content : '').length;

/**
 * Where a suite runs: the sandbox served directly, or reached through an OpenAI-compatible provider
 * whose upstream is another Switchyard's sandbox (the relay path a vLLM or OpenAI upstream takes).
 */
interface Setup {
  name: string;
  /** The model name for a sandbox model (`echo` or `lorem`) on this setup. */
  model(name: 'echo' | 'lorem'): string;
  start(): Promise<{ server: RunningServer; close(): Promise<void> }>;
}

const direct: Setup = {
  name: 'the sandbox',
  model: (name) => `sandbox/${name}`,
  async start() {
    const server = await startServer({});
    return { server, close: () => server.close() };
  },
};

function relayed(responses: 'translate' | 'native'): Setup {
  return {
    name: `an OpenAI-compatible upstream (responses: ${responses})`,
    model: (name) => `up/sandbox/${name}`,
    async start() {
      const upstream = await startServer({});
      const server = await startServer({
        providers: [{ id: 'up', kind: 'openai-compatible', baseURL: upstream.baseURL, apiKey: 'sk-upstream', responses }],
      });
      return {
        server,
        async close() {
          await server.close();
          await upstream.close();
        },
      };
    },
  };
}

for (const setup of [direct, relayed('translate')]) describe(`LangChain ChatOpenAI on ${setup.name} (chat completions)`, () => {
  let server: RunningServer;
  let close: () => Promise<void>;
  const echo = setup.model('echo');
  const lorem = setup.model('lorem');

  before(async () => {
    ({ server, close } = await setup.start());
  });
  after(() => close());

  test('invoke: text, usage_metadata, finish reason and the model that answered', async () => {
    const model = chatModel(server.baseURL, { model: echo });
    const reply = await model.invoke([new SystemMessage('Be brief.'), new HumanMessage('Say hello to LangChain')]);
    assert.ok(reply instanceof AIMessage);
    assert.equal(reply.content, 'Say hello to LangChain', 'the echo model repeats the last user message');
    assert.equal(reply.response_metadata.finish_reason, 'stop');
    assert.equal(reply.response_metadata.model_name, 'sandbox/echo');
    assert.match(reply.id ?? '', /^chatcmpl-/);
    const usage = reply.usage_metadata;
    assert.ok(usage, 'usage_metadata on the message');
    assert.ok(usage.input_tokens > 0 && usage.output_tokens > 0, `tokens counted: ${JSON.stringify(usage)}`);
    assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
  });

  test('stream: chunks join to the invoke text, usage_metadata arrives once (stream_options.include_usage)', async () => {
    const model = chatModel(server.baseURL, { model: lorem, maxTokens: 30, seed: 7 } as ChatFields);
    const { chunks, joined } = await streamAll(await model.stream('Tell me a story', { seed: 7 } as never));
    assert.ok(chunks.length > 3, `streamed in pieces (${chunks.length})`);
    const withUsage = chunks.filter((chunk) => chunk.usage_metadata);
    assert.equal(withUsage.length, 1, 'usage rides on one chunk only');
    const usage = joined.usage_metadata!;
    assert.ok(usage.output_tokens > 0 && usage.output_tokens <= 30, `output tokens within max_tokens: ${usage.output_tokens}`);
    assert.ok(usage.input_tokens > 0);
    assert.ok(['stop', 'length'].includes(String(joined.response_metadata.finish_reason)));
    const invoked = await model.invoke('Tell me a story', { seed: 7 } as never);
    assert.equal(joined.content, invoked.content, 'the same seed gives the same text, streamed or not');
    assert.deepEqual(
      { input: invoked.usage_metadata?.input_tokens, output: invoked.usage_metadata?.output_tokens },
      { input: usage.input_tokens, output: usage.output_tokens },
      'the same usage streamed and not',
    );
  });

  test('streamUsage: false sends no stream_options and gets no usage chunk', async () => {
    const model = chatModel(server.baseURL, { model: echo, streamUsage: false });
    const { chunks, joined } = await streamAll(await model.stream('no usage please'));
    assert.equal(joined.content, 'no usage please');
    assert.equal(chunks.filter((chunk) => chunk.usage_metadata).length, 0);
  });

  test('bindTools: the tool call, its result sent back as a ToolMessage, and the final answer', async () => {
    const model = chatModel(server.baseURL, { model: echo }).bindTools([weather]);
    const question = new HumanMessage('Use get_weather for Paris, please.');
    const first = await model.invoke([question]);
    assert.equal(first.tool_calls?.length, 1, 'one tool call');
    const call = first.tool_calls![0]!;
    assert.equal(call.name, 'get_weather');
    assert.equal(typeof call.args.city, 'string', `arguments parsed against the schema: ${JSON.stringify(call.args)}`);
    assert.match(call.id ?? '', /^call_/);
    assert.equal(first.response_metadata.finish_reason, 'tool_calls');
    assert.deepEqual(first.invalid_tool_calls, []);

    const result = await weather.invoke(call);
    assert.ok(result instanceof ToolMessage);
    assert.equal(result.tool_call_id, call.id);
    const second = await model.invoke([question, first, result]);
    assert.deepEqual(second.tool_calls, [], 'no call after the result');
    assert.equal(second.content, `Tool results: It is 21 degrees in ${call.args.city}.`);
    assert.equal(second.response_metadata.finish_reason, 'stop');
  });

  test('bindTools streamed: tool_call_chunks assemble into the same call', async () => {
    const model = chatModel(server.baseURL, { model: echo }).bindTools([weather]);
    const { chunks, joined } = await streamAll(await model.stream('Use get_weather for Rome'));
    assert.ok(chunks.some((chunk) => (chunk.tool_call_chunks ?? []).length > 0), 'tool_call_chunks streamed');
    assert.equal(joined.tool_calls?.length, 1);
    assert.equal(joined.tool_calls![0]!.name, 'get_weather');
    assert.equal(typeof joined.tool_calls![0]!.args.city, 'string');
    const invoked = await model.invoke('Use get_weather for Rome');
    assert.deepEqual(joined.tool_calls![0]!.args, invoked.tool_calls![0]!.args, 'same arguments streamed or not');
  });

  test('tool_choice: a named tool, "required" and "any" force a call; "none" forbids it', async () => {
    const lookup = tool(async ({ query }: { query: string }) => query, {
      name: 'lookup',
      description: 'Look something up',
      schema: z.object({ query: z.string() }),
    });
    const base = chatModel(server.baseURL, { model: echo });
    // The prompt names neither tool: under "auto" the sandbox would answer in text.
    const auto = await base.bindTools([weather, lookup]).invoke('hello there');
    assert.deepEqual(auto.tool_calls, []);
    const named = await base.bindTools([weather, lookup], { tool_choice: 'lookup' }).invoke('hello there');
    assert.deepEqual(named.tool_calls?.map((call) => call.name), ['lookup']);
    const required = await base.bindTools([weather, lookup], { tool_choice: 'required' }).invoke('hello there');
    assert.equal(required.tool_calls?.length, 1);
    const any = await base.bindTools([weather, lookup], { tool_choice: 'any' }).invoke('hello there');
    assert.equal(any.tool_calls?.length, 1, '"any" is LangChain\'s word for "required"');
    const none = await base.bindTools([weather, lookup], { tool_choice: 'none' }).invoke('call get_weather now');
    assert.deepEqual(none.tool_calls, []);
    assert.equal(none.content, 'call get_weather now');
  });

  test('parallel_tool_calls: false keeps it to one call', async () => {
    const lookup = tool(async ({ query }: { query: string }) => query, { name: 'lookup', schema: z.object({ query: z.string() }) });
    const base = chatModel(server.baseURL, { model: echo });
    const both = await base.bindTools([weather, lookup]).invoke('use get_weather and lookup');
    assert.equal(both.tool_calls?.length, 2);
    const one = await base.bindTools([weather, lookup], { parallel_tool_calls: false }).invoke('use get_weather and lookup');
    assert.equal(one.tool_calls?.length, 1);
  });

  test('withStructuredOutput, jsonSchema method (response_format json_schema, strict)', async () => {
    const model = chatModel(server.baseURL, { model: echo });
    const structured = model.withStructuredOutput(Person, { method: 'jsonSchema', name: 'person' });
    const person = await structured.invoke('Make up a person');
    assert.equal(typeof person.name, 'string');
    assert.ok(Number.isInteger(person.age));
    const raw = await model.withStructuredOutput(Person, { method: 'jsonSchema', includeRaw: true }).invoke('Make up a person');
    assert.deepEqual(Person.parse(JSON.parse(String(raw.raw.content))), raw.parsed);
  });

  test('withStructuredOutput, functionCalling method (a forced tool call)', async () => {
    const model = chatModel(server.baseURL, { model: echo });
    const person = await model.withStructuredOutput(Person, { method: 'functionCalling', name: 'person' }).invoke('Make up a person');
    assert.equal(typeof person.name, 'string');
    assert.ok(Number.isInteger(person.age));
    const strict = await model.withStructuredOutput(Person, { method: 'functionCalling', strict: true }).invoke('Make up a person');
    assert.deepEqual(Person.parse(strict), strict);
  });

  test('withStructuredOutput, jsonMode method (response_format json_object)', async () => {
    const model = chatModel(server.baseURL, { model: echo });
    const schema = z.object({ reply: z.string() });
    const out = await model.withStructuredOutput(schema, { method: 'jsonMode' }).invoke('Reply in JSON');
    assert.equal(out.reply, 'Reply in JSON');
  });

  test('n, seed and stop reach the model', async () => {
    const model = chatModel(server.baseURL, { model: lorem, n: 3, temperature: 0.7, maxTokens: 20 });
    const result = await model.generate([[new HumanMessage('three answers')]], { seed: 42 } as never);
    const generations = result.generations[0]!;
    assert.equal(generations.length, 3, 'n choices become n generations');
    assert.ok(new Set(generations.map((generation) => generation.text)).size > 1, 'the choices differ');
    const again = await model.generate([[new HumanMessage('three answers')]], { seed: 42 } as never);
    assert.deepEqual(again.generations[0]!.map((generation) => generation.text), generations.map((generation) => generation.text), 'same seed, same choices');

    const stopping = chatModel(server.baseURL, { model: echo, stop: ['STOP'] });
    const cut = await stopping.invoke('before STOP after');
    assert.equal(cut.content, 'before ');
    assert.equal(cut.response_metadata.finish_reason, 'stop');
    const callStop = await chatModel(server.baseURL, { model: echo }).invoke('one|two', { stop: ['|'] });
    assert.equal(callStop.content, 'one');
  });

  test('logprobs and top_logprobs come back in response_metadata, streamed and not', async () => {
    const model = chatModel(server.baseURL, { model: echo, logprobs: true, topLogprobs: 2 });
    const reply = await model.invoke('count my tokens');
    const logprobs = reply.response_metadata.logprobs as { content: Array<{ token: string; logprob: number; top_logprobs: unknown[] }> };
    assert.ok(logprobs?.content?.length > 0, 'token logprobs');
    assert.equal(logprobs.content.map((entry) => entry.token).join(''), reply.content);
    for (const entry of logprobs.content) {
      assert.ok(entry.logprob <= 0);
      assert.equal(entry.top_logprobs.length, 2);
    }
    const { joined } = await streamAll(await model.stream('count my tokens'));
    const streamed = joined.response_metadata.logprobs as { content: Array<{ token: string }> } | undefined;
    assert.equal(streamed?.content.map((entry) => entry.token).join(''), reply.content);
  });

  test('batch: several prompts at once, answered each in its place', async () => {
    const model = chatModel(server.baseURL, { model: echo });
    const prompts = ['first', 'second', 'third', 'fourth'];
    const replies = await model.batch(prompts, { maxConcurrency: 2 });
    assert.deepEqual(replies.map((reply) => reply.content), prompts);
  });

  test('images as LangChain content blocks (base64 standard block and image_url) reach the model', async () => {
    const model = chatModel(server.baseURL, { model: echo });
    const standard = await model.invoke([
      new HumanMessage({ content: [{ type: 'text', text: 'what is this' }, { type: 'image', source_type: 'base64', mime_type: 'image/png', data: PIXEL_PNG }] }),
    ]);
    assert.equal(standard.content, `what is this\n[1 image: image/png ${PIXEL_PNG_BYTES} bytes]`);
    const imageUrl = await model.invoke([
      new HumanMessage({ content: [{ type: 'text', text: 'what is this' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PIXEL_PNG}` } }] }),
    ]);
    assert.equal(imageUrl.content, standard.content);
  });

  test('an alias answers like a model', async () => {
    const reply = await chatModel(server.baseURL, { model: 'fast' }).invoke('through an alias');
    assert.ok(lengthOfText(reply) > 0);
  });

  test('an unknown model is a 404 LangChain marks MODEL_NOT_FOUND', async () => {
    const model = chatModel(server.baseURL, { model: 'no-such-model' });
    await assert.rejects(model.invoke('x'), (error: Error & { status?: number; lc_error_code?: string; code?: string }) => {
      assert.equal(error.status, 404);
      assert.equal(error.lc_error_code, 'MODEL_NOT_FOUND');
      assert.equal(error.code, 'model_not_found');
      return true;
    });
  });

  test('a bad parameter is a 400 naming it', async () => {
    const model = chatModel(server.baseURL, { model: echo, temperature: 5 });
    await assert.rejects(model.invoke('x'), (error: Error & { status?: number; param?: string; type?: string }) => {
      assert.equal(error.status, 400);
      assert.equal(error.param, 'temperature');
      assert.equal(error.type, 'invalid_request_error');
      return true;
    });
  });

  test('a tool result with no call before it is a 400 LangChain marks INVALID_TOOL_RESULTS', async () => {
    const model = chatModel(server.baseURL, { model: echo }).bindTools([weather]);
    await assert.rejects(
      model.invoke([new HumanMessage('hi'), new ToolMessage({ content: 'orphan', tool_call_id: 'call_nowhere' })]),
      (error: Error & { status?: number; lc_error_code?: string }) => {
        assert.equal(error.status, 400);
        assert.equal(error.lc_error_code, 'INVALID_TOOL_RESULTS');
        return true;
      },
    );
  });

  test('OpenAIEmbeddings: embedQuery and embedDocuments (base64 on the wire), and dimensions', async () => {
    const model = embeddings(server.baseURL, { model: echo });
    const query = await model.embedQuery('hello');
    assert.ok(query.length > 0 && query.every(Number.isFinite));
    const documents = await model.embedDocuments(['hello', 'world', 'line\nbreak']);
    assert.equal(documents.length, 3);
    assert.deepEqual(documents[0], query, 'the same text, the same vector, in order');
    assert.notDeepEqual(documents[1], query);
    // stripNewLines (LangChain's default) turns the newline into a space before sending.
    assert.deepEqual(documents[2], await model.embedQuery('line break'));
    const small = await embeddings(server.baseURL, { model: echo, dimensions: 8 }).embedQuery('hello');
    assert.equal(small.length, 8);
    const norm = Math.hypot(...small);
    assert.ok(Math.abs(norm - 1) < 1e-5, `shortened vectors are renormalized (${norm})`);
    const batched = await embeddings(server.baseURL, { model: echo, batchSize: 2 }).embedDocuments(['hello', 'world', 'again']);
    assert.deepEqual(batched.slice(0, 2), documents.slice(0, 2), 'batches keep their order');
  });
});

for (const setup of [direct, relayed('translate'), relayed('native')]) describe(`LangChain ChatOpenAI on ${setup.name} (Responses API)`, () => {
  let server: RunningServer;
  let close: () => Promise<void>;
  const echo = setup.model('echo');
  const lorem = setup.model('lorem');

  before(async () => {
    ({ server, close } = await setup.start());
  });
  after(() => close());

  const responsesModel = (fields: ChatFields = {}) => chatModel(server.baseURL, { model: echo, useResponsesApi: true, ...fields });

  test('invoke: text, usage_metadata and a resp_ id', async () => {
    const reply = await responsesModel().invoke([new SystemMessage('Be brief.'), new HumanMessage('Hello Responses')]);
    assert.equal(reply.text, 'Hello Responses');
    assert.match(String(reply.response_metadata.id), /^resp_/);
    assert.ok((reply.usage_metadata?.input_tokens ?? 0) > 0 && (reply.usage_metadata?.output_tokens ?? 0) > 0, JSON.stringify(reply.usage_metadata));
  });

  test('stream: deltas join to the text, usage on the completed event', async () => {
    const { chunks, joined } = await streamAll(await responsesModel({ model: lorem, maxTokens: 40 }).stream('Tell me a story'));
    assert.ok(chunks.length > 3, `streamed in pieces (${chunks.length})`);
    const usage = joined.usage_metadata;
    assert.ok(usage && usage.output_tokens > 0 && usage.output_tokens <= 40, JSON.stringify(usage));
    assert.ok(joined.text.length > 0);
  });

  test('tools: a function call, its output sent back, and the answer', async () => {
    const model = responsesModel().bindTools([weather]);
    const question = new HumanMessage('Use get_weather for Oslo');
    const first = await model.invoke([question]);
    assert.equal(first.tool_calls?.length, 1);
    const call = first.tool_calls![0]!;
    assert.equal(call.name, 'get_weather');
    const result = await weather.invoke(call);
    const second = await model.invoke([question, first, result]);
    assert.deepEqual(second.tool_calls, []);
    assert.equal(second.text, `Tool results: It is 21 degrees in ${call.args.city}.`);
  });

  test('tool_choice forces a named tool', async () => {
    const reply = await responsesModel().bindTools([weather], { tool_choice: 'get_weather' }).invoke('hello');
    assert.deepEqual(reply.tool_calls?.map((call) => call.name), ['get_weather']);
  });

  test('withStructuredOutput through text.format json_schema, and through a forced function call', async () => {
    const model = responsesModel();
    const viaSchema = await model.withStructuredOutput(Person, { method: 'jsonSchema' }).invoke('A person');
    assert.deepEqual(Person.parse(viaSchema), viaSchema);
    const viaTool = await model.withStructuredOutput(Person, { method: 'functionCalling' }).invoke('A person');
    assert.deepEqual(Person.parse(viaTool), viaTool);
  });

  test('a conversation: the output items of each reply, invoked or streamed, go back as input', async () => {
    const model = responsesModel();
    const first = await model.invoke('first turn');
    // LangChain sends an AI message back as the `output` items it came with (ids, status, annotations, logprobs).
    assert.ok(Array.isArray(first.response_metadata.output) && first.response_metadata.output.length > 0);
    const second = await model.invoke([new HumanMessage('first turn'), first, new HumanMessage('second turn')]);
    assert.equal(second.text, 'second turn');
    const { joined } = await streamAll(await model.stream('first turn'));
    const third = await model.invoke([new HumanMessage('first turn'), joined, new HumanMessage('third turn')]);
    assert.equal(third.text, 'third turn');
  });

  test('streamed tool calls: the chunks assemble into calls, the streamed message goes back with the results', async () => {
    const lookup = tool(async ({ query }: { query: string }) => `found ${query}`, { name: 'lookup', schema: z.object({ query: z.string() }) });
    const model = responsesModel().bindTools([weather, lookup]);
    const question = new HumanMessage('use get_weather and lookup');
    const { joined } = await streamAll(await model.stream([question]));
    assert.deepEqual(joined.tool_calls?.map((call) => call.name), ['get_weather', 'lookup']);
    const [weatherCall, lookupCall] = joined.tool_calls!;
    const results = [await weather.invoke(weatherCall!), await lookup.invoke(lookupCall!)];
    const answer = await model.invoke([question, joined, ...results]);
    assert.equal(answer.text, `Tool results: It is 21 degrees in ${joined.tool_calls![0]!.args.city}. | found ${joined.tool_calls![1]!.args.query}`);
  });

  test('max_output_tokens reached: an incomplete response, streamed and not', async () => {
    const model = responsesModel({ model: lorem, maxTokens: 16 });
    const reply = await model.invoke('Tell me a long story');
    assert.equal(reply.response_metadata.status, 'incomplete');
    assert.deepEqual(reply.response_metadata.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(reply.usage_metadata?.output_tokens, 16);
    const { joined } = await streamAll(await model.stream('Tell me a long story'));
    assert.equal(joined.response_metadata.status, 'incomplete');
    assert.equal(joined.text, reply.text);
  });

  test('previous_response_id continues a stored conversation', async () => {
    const model = responsesModel();
    const first = await model.invoke('first turn');
    const responseId = String(first.response_metadata.id);
    assert.match(responseId, /^resp_/);
    const second = await model.invoke('second turn', { previous_response_id: responseId } as never);
    assert.equal(second.text, 'second turn');
    // The stored turns are part of the prompt: more input tokens than the same message alone.
    const alone = await model.invoke('second turn');
    assert.ok(
      (second.usage_metadata?.input_tokens ?? 0) > (alone.usage_metadata?.input_tokens ?? 0),
      `${second.usage_metadata?.input_tokens} > ${alone.usage_metadata?.input_tokens}`,
    );
  });

  test('an unknown model is a 404', async () => {
    await assert.rejects(responsesModel({ model: 'no-such-model' }).invoke('x'), (error: Error & { status?: number }) => {
      assert.equal(error.status, 404);
      return true;
    });
  });
});

describe('LangChain with a reasoning model (an alias named as OpenAI\'s)', () => {
  // LangChain treats `gpt-5*` and `o*` names as reasoning models: `reasoning_effort`, `max_completion_tokens`,
  // system messages sent as `developer`; and a `reasoning.summary` sends it to the Responses API.
  let server: RunningServer;

  before(async () => {
    server = await startServer({ aliases: { 'gpt-5-mini': ['sandbox/echo'] } });
  });
  after(() => server.close());

  test('chat completions: reasoning_content and reasoning tokens, streamed and not, and the next turn', async () => {
    const model = chatModel(server.baseURL, { model: 'gpt-5-mini', reasoning: { effort: 'low' }, maxTokens: 100 });
    const messages = [new SystemMessage('Be brief.'), new HumanMessage('think first')];
    const reply = await model.invoke(messages);
    assert.equal(reply.content, 'think first');
    const reasoning = reply.additional_kwargs.reasoning_content;
    assert.equal(typeof reasoning, 'string');
    assert.ok((reply.usage_metadata?.output_token_details?.reasoning ?? 0) > 0, JSON.stringify(reply.usage_metadata));
    const { joined } = await streamAll(await model.stream(messages));
    assert.equal(joined.additional_kwargs.reasoning_content, reasoning, 'the same reasoning streamed');
    assert.equal(joined.usage_metadata?.output_token_details?.reasoning, reply.usage_metadata?.output_token_details?.reasoning);
    const next = await model.invoke([...messages, reply, new HumanMessage('and now')]);
    assert.equal(next.content, 'and now');
  });

  test('Responses API: a reasoning summary, and the reasoning item sent back on the next turn', async () => {
    const model = chatModel(server.baseURL, { model: 'gpt-5-mini', reasoning: { effort: 'low', summary: 'auto' } });
    const reply = await model.invoke('think first');
    assert.match(String(reply.response_metadata.id), /^resp_/, 'a reasoning summary goes to the Responses API');
    const block = reply.contentBlocks.find((part) => part.type === 'reasoning');
    assert.ok(block && typeof block.reasoning === 'string' && block.reasoning.length > 0, JSON.stringify(reply.contentBlocks));
    assert.equal(reply.text, 'think first');
    const next = await model.invoke([new HumanMessage('think first'), reply, new HumanMessage('and now')]);
    assert.equal(next.text, 'and now');
    const { joined } = await streamAll(await model.stream('think first'));
    assert.deepEqual(
      joined.contentBlocks.filter((part) => part.type === 'reasoning').map((part) => part.reasoning).join(''),
      block.reasoning,
      'the same summary streamed',
    );
    const afterStream = await model.invoke([new HumanMessage('think first'), joined, new HumanMessage('and now')]);
    assert.equal(afterStream.text, 'and now');
  });
});

describe('LangChain OpenAI (text completions, /v1/completions) on the sandbox', () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({});
  });
  after(() => server.close());

  const llm = (fields: ConstructorParameters<typeof OpenAILLM>[0] = {}) =>
    new OpenAILLM({ apiKey: 'sk-test', maxRetries: 0, model: 'sandbox/echo', maxTokens: 20, ...fields, configuration: { baseURL: server.baseURL } });

  test('invoke, stream and stop', async () => {
    const text = await llm().invoke('Once upon a time');
    assert.equal(text, ' Once upon a time', 'the echo model continues with the prompt');
    let streamed = '';
    for await (const piece of await llm().stream('Once upon a time')) streamed += piece;
    assert.equal(streamed, text);
    assert.equal(await llm({ stop: ['upon'] }).invoke('Once upon a time'), ' Once ');
  });

  test('several prompts in one request with n: choices grouped per prompt, streamed the same', async () => {
    // LangChain sends the prompts as one `prompt` array and regroups the choices by index: prompt × n + choice.
    const prompts = ['one', 'two', 'three'];
    const plain = await llm({ model: 'sandbox/lorem', n: 2 }).generate(prompts);
    assert.equal(plain.generations.length, 3);
    for (const group of plain.generations) {
      assert.equal(group.length, 2);
      assert.notEqual(group[0]!.text, group[1]!.text);
    }
    assert.ok((plain.llmOutput?.tokenUsage?.completionTokens ?? 0) > 0);
    const streamed = await llm({ model: 'sandbox/lorem', n: 2, streaming: true }).generate(prompts);
    assert.deepEqual(streamed.generations.map((group) => group.map((g) => g.text)), plain.generations.map((group) => group.map((g) => g.text)));
  });
});

describe('LangChain through an OpenAI-compatible upstream that fails', () => {
  let upstream: FakeUpstream;
  let server: RunningServer;

  before(async () => {
    upstream = await startFakeUpstream();
    server = await startServer({ providers: [{ id: 'up', kind: 'openai-compatible', baseURL: upstream.baseURL, apiKey: 'sk-upstream' }] });
  });
  after(async () => {
    await server.close();
    await upstream.close();
  });

  const model = () => chatModel(server.baseURL, { model: 'up/m' });

  test('a stream cut after its first chunks fails the LangChain stream, never ends it quietly', async () => {
    upstream.once(streamReply({ ending: 'cut' }));
    await assert.rejects(streamAll(await model().stream('x')), /failed while its reply was being read/);
    upstream.once(streamReply({ ending: { error: { message: 'boom', type: 'server_error' } } }));
    await assert.rejects(streamAll(await model().stream('x')), /boom/);
  });

  test('the upstream\'s statuses as LangChain classifies them: 429 rate limit, 5xx a 502', async () => {
    upstream.once(errorReply(429, openAIError('slow down', 'rate_limit_error', null, 'rate_limit_exceeded'), { 'retry-after': '1' }));
    await assert.rejects(model().invoke('x'), (error: Error & { status?: number; lc_error_code?: string }) => {
      assert.equal(error.status, 429);
      assert.equal(error.lc_error_code, 'MODEL_RATE_LIMIT');
      return true;
    });
    upstream.once(errorReply(500, openAIError('bad', 'server_error', null, null)));
    await assert.rejects(model().invoke('x'), (error: Error & { status?: number }) => {
      assert.equal(error.status, 502);
      return true;
    });
  });
});

describe('LangChain against a server with API keys', () => {
  let server: RunningServer;
  const key = 'sk-langchain-key-1';

  before(async () => {
    server = await startServer({ auth: { keys: [key] } });
  });
  after(() => server.close());

  test('the right key works; a wrong one is a 401 LangChain marks MODEL_AUTHENTICATION', async () => {
    const reply = await chatModel(server.baseURL, { model: 'sandbox/echo' }, key).invoke('with a key');
    assert.equal(reply.content, 'with a key');
    await assert.rejects(chatModel(server.baseURL, { model: 'sandbox/echo' }, 'sk-wrong-key').invoke('x'), (error: Error & { status?: number; lc_error_code?: string; type?: string }) => {
      assert.equal(error.status, 401);
      assert.equal(error.lc_error_code, 'MODEL_AUTHENTICATION');
      return true;
    });
    await assert.rejects(
      new OpenAIEmbeddings({ apiKey: 'sk-wrong-key', model: 'sandbox/echo', maxRetries: 0, configuration: { baseURL: server.baseURL } }).embedQuery('x'),
      (error: Error & { status?: number }) => {
        assert.equal(error.status, 401);
        return true;
      },
    );
  });
});

describe('LangChain ChatOpenAI on the embedded engine (generated tiny model)', () => {
  let engine: LlamaTestServer;

  before(async () => {
    engine = await startLlamaServer([{ id: 'tiny' }]);
  });
  after(() => engine.close());

  test('invoke and stream from real inference agree at temperature 0, usage counted', async () => {
    const model = chatModel(engine.server.baseURL, { model: 'local/tiny', temperature: 0, maxTokens: 12 });
    const reply = await model.invoke('Hello');
    assert.ok((reply.usage_metadata?.output_tokens ?? 0) > 0 && (reply.usage_metadata?.output_tokens ?? 0) <= 12, JSON.stringify(reply.usage_metadata));
    const { joined } = await streamAll(await model.stream('Hello'));
    assert.equal(joined.content, reply.content);
    assert.equal(joined.usage_metadata?.input_tokens, reply.usage_metadata?.input_tokens);
    assert.equal(joined.usage_metadata?.output_tokens, reply.usage_metadata?.output_tokens);
  });

  test('withStructuredOutput held by the grammar, both methods', async () => {
    const schema = z.object({ ok: z.boolean(), tag: z.enum(['a', 'b']) });
    // Greedy, with room: sampled, the random model could spend 64 tokens on the whitespace the JSON
    // grammar allows and be cut (finish_reason length) inside the arguments.
    const model = chatModel(engine.server.baseURL, { model: 'local/tiny', temperature: 0, maxTokens: 256 });
    const viaSchema = await model.withStructuredOutput(schema, { method: 'jsonSchema' }).invoke('Answer');
    assert.deepEqual(schema.parse(viaSchema), viaSchema);
    const viaTool = await model.withStructuredOutput(schema, { method: 'functionCalling' }).invoke('Answer');
    assert.deepEqual(schema.parse(viaTool), viaTool);
  });

  test('logprobs from the engine', async () => {
    const model = chatModel(engine.server.baseURL, { model: 'local/tiny', temperature: 0, maxTokens: 6, logprobs: true, topLogprobs: 3 });
    const reply = await model.invoke('Hi');
    const logprobs = reply.response_metadata.logprobs as { content: Array<{ token: string; logprob: number; top_logprobs: unknown[] }> };
    assert.equal(logprobs.content.length, reply.usage_metadata?.output_tokens);
    for (const entry of logprobs.content) assert.equal(entry.top_logprobs.length, 3);
  });

  test('a prompt beyond the context is a ContextOverflowError, for chat and embeddings', async () => {
    const long = 'word '.repeat(3000);
    await assert.rejects(chatModel(engine.server.baseURL, { model: 'local/tiny', maxTokens: 4 }).invoke(long), (error: Error) => {
      assert.equal(error.name, 'ContextOverflowError');
      assert.match(error.message, /maximum context length is 1024 tokens/);
      return true;
    });
    await assert.rejects(embeddings(engine.server.baseURL, { model: 'local/tiny' }).embedQuery(long), { name: 'ContextOverflowError' });
  });

  test('an aborted call rejects with AbortError at once', async () => {
    const controller = new AbortController();
    // The end-of-generation tokens banned: the reply runs its 500 tokens, so the abort lands mid-reply.
    const pending = chatModel(engine.server.baseURL, { model: 'local/tiny', maxTokens: 500, logitBias: { ...NO_END_OF_GENERATION } }).invoke('Hello', { signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    const started = performance.now();
    await assert.rejects(pending, { name: 'AbortError' });
    assert.ok(performance.now() - started < 2000);
  });

  test('OpenAIEmbeddings from the engine: normalized, deterministic, dimensions honoured', async () => {
    const model = embeddings(engine.server.baseURL, { model: 'local/tiny' });
    const [a, b, again] = await model.embedDocuments(['hello world', 'something else', 'hello world']);
    assert.ok(a!.length > 0);
    assert.ok(Math.abs(Math.hypot(...a!) - 1) < 1e-4, 'normalized');
    assert.deepEqual(again, a);
    assert.notDeepEqual(b, a);
    const short = await embeddings(engine.server.baseURL, { model: 'local/tiny', dimensions: 4 }).embedQuery('hello world');
    assert.equal(short.length, 4);
  });
});
