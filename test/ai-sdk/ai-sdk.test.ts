// The Vercel AI SDK pointed at Switchyard, as its users do: `createOpenAI({ baseURL, apiKey })`.
// `openai(model)` speaks the Responses API, `openai.chat(model)` chat completions and
// `openai.embedding(model)` embeddings. Whatever the SDK sends or reads that Switchyard mishandles
// fails here, on the sandbox (deterministic) and on the real engine with the generated tiny model.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createOpenAI } from '@ai-sdk/openai';
import { embed, embedMany, generateText, jsonSchema, Output, stepCountIs, streamText, tool } from 'ai';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { NO_END_OF_GENERATION, startLlamaServer, type LlamaTestServer } from '../helpers/llama-server.js';

describe('Vercel AI SDK on the sandbox', () => {
  let server: RunningServer;
  let openai: ReturnType<typeof createOpenAI>;

  before(async () => {
    server = await startServer({});
    openai = createOpenAI({ baseURL: server.baseURL, apiKey: 'sk-test' });
  });
  after(() => server.close());

  test('generateText on the Responses API: text, usage and finish reason', async () => {
    const result = await generateText({ model: openai('sandbox/echo'), prompt: 'Say hello to the test' });
    assert.match(result.text, /Say hello to the test/, 'the echo model repeats the prompt');
    assert.equal(result.finishReason, 'stop');
    assert.ok((result.usage.inputTokens ?? 0) > 0, 'input tokens counted');
    assert.ok((result.usage.outputTokens ?? 0) > 0, 'output tokens counted');
    // The same call twice gives the same text: the sandbox is deterministic, and so is the translation.
    const again = await generateText({ model: openai('sandbox/echo'), prompt: 'Say hello to the test' });
    assert.equal(again.text, result.text);
    assert.match(result.response.id, /^resp_/, 'the id of a Responses API object');
  });

  test('streamText on the Responses API: deltas concatenate to the final text, finish carries usage', async () => {
    const result = streamText({ model: openai('sandbox/lorem'), prompt: 'Tell me something long', maxOutputTokens: 40 });
    const deltas: string[] = [];
    for await (const delta of result.textStream) deltas.push(delta);
    assert.ok(deltas.length > 3, `streamed in pieces (${deltas.length})`);
    const text = await result.text;
    assert.equal(deltas.join(''), text);
    const usage = await result.usage;
    assert.ok((usage.outputTokens ?? 0) > 0 && (usage.outputTokens ?? 0) <= 40, `output tokens within the limit: ${usage.outputTokens}`);
    assert.ok(['stop', 'length'].includes(await result.finishReason));
  });

  test('a tool called by the model, executed by the SDK, and its result sent back for the next step', async () => {
    const calls: Array<{ city: string }> = [];
    const result = await generateText({
      model: openai('sandbox/echo'),
      prompt: 'Use get_weather for the city, please.',
      tools: {
        get_weather: tool({
          description: 'Weather in a city',
          inputSchema: jsonSchema<{ city: string }>({
            type: 'object',
            properties: { city: { type: 'string' } },
            required: ['city'],
            additionalProperties: false,
          }),
          execute: async (input) => {
            calls.push(input);
            return { temperature: 21, city: input.city };
          },
        }),
      },
      stopWhen: stepCountIs(3),
    });
    assert.equal(calls.length, 1, 'the tool ran once');
    assert.equal(typeof calls[0]!.city, 'string');
    assert.equal(result.steps.length, 2, 'a tool step, then an answer step');
    assert.equal(result.steps[0]!.finishReason, 'tool-calls');
    assert.equal(result.steps[0]!.toolCalls[0]!.toolName, 'get_weather');
    assert.equal(result.steps[1]!.finishReason, 'stop');
    assert.ok(result.text.length > 0, 'the second step answers in text');
  });

  test('streamText with a tool: the call arrives streamed and the second step streams text', async () => {
    const result = streamText({
      model: openai('sandbox/echo'),
      prompt: 'Please call lookup.',
      tools: {
        lookup: tool({
          inputSchema: jsonSchema<{ query: string }>({ type: 'object', properties: { query: { type: 'string' } }, required: ['query'] }),
          execute: async ({ query }) => `found ${query.length} things`,
        }),
      },
      stopWhen: stepCountIs(2),
    });
    const kinds = new Set<string>();
    for await (const part of result.fullStream) kinds.add(part.type);
    for (const kind of ['tool-call', 'tool-result', 'text-delta', 'finish']) assert.ok(kinds.has(kind), `a ${kind} part (saw ${[...kinds].join(', ')})`);
    assert.equal((await result.steps).length, 2);
  });

  test('chat completions through openai.chat(): generateText and streamText', async () => {
    const generated = await generateText({ model: openai.chat('sandbox/echo'), prompt: 'chat path' });
    assert.match(generated.text, /chat path/);
    assert.match(generated.response.id, /^chatcmpl-/);
    const streamed = streamText({ model: openai.chat('sandbox/echo'), prompt: 'chat path' });
    assert.equal(await streamed.text, generated.text);
    assert.ok(((await streamed.usage).outputTokens ?? 0) > 0, 'usage on the stream (include_usage)');
  });

  test('structured output through the Responses API (text.format json_schema)', async () => {
    const schema = jsonSchema<{ name: string; age: number }>({
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'integer' } },
      required: ['name', 'age'],
      additionalProperties: false,
    });
    const result = await generateText({ model: openai('sandbox/echo'), prompt: 'A person', output: Output.object({ schema }) });
    assert.equal(typeof result.output.name, 'string');
    assert.ok(Number.isInteger(result.output.age));
  });

  test('embed and embedMany', async () => {
    const one = await embed({ model: openai.embedding('sandbox/echo'), value: 'hello' });
    assert.ok(one.embedding.length > 0);
    const many = await embedMany({ model: openai.embedding('sandbox/echo'), values: ['hello', 'world'] });
    assert.equal(many.embeddings.length, 2);
    assert.deepEqual(many.embeddings[0], one.embedding, 'the same text, the same vector');
    assert.notDeepEqual(many.embeddings[1], one.embedding);
  });

  test('an unknown model is an error the SDK surfaces with its status', async () => {
    await assert.rejects(generateText({ model: openai('no-such-model'), prompt: 'x', maxRetries: 0 }), (error: Error & { statusCode?: number }) => {
      assert.equal(error.statusCode, 404);
      return true;
    });
  });
});

describe('Vercel AI SDK on the embedded engine (generated tiny model)', () => {
  let engine: LlamaTestServer;
  let openai: ReturnType<typeof createOpenAI>;

  before(async () => {
    engine = await startLlamaServer([{ id: 'tiny' }]);
    openai = createOpenAI({ baseURL: engine.server.baseURL, apiKey: 'sk-test' });
  });
  after(() => engine.close());

  test('streamText on the Responses API from real inference', async () => {
    const result = streamText({ model: openai('local/tiny'), prompt: 'Hello', maxOutputTokens: 16, temperature: 0 });
    let deltas = '';
    for await (const delta of result.textStream) deltas += delta;
    assert.equal(deltas, await result.text);
    const usage = await result.usage;
    assert.ok((usage.outputTokens ?? 0) > 0 && (usage.outputTokens ?? 0) <= 16, `output tokens: ${usage.outputTokens}`);
  });

  test('structured output held by the grammar, even from random weights', async () => {
    const schema = jsonSchema<{ ok: boolean; tag: 'a' | 'b' }>({
      type: 'object',
      properties: { ok: { type: 'boolean' }, tag: { enum: ['a', 'b'] } },
      required: ['ok', 'tag'],
      additionalProperties: false,
    });
    const result = await generateText({ model: openai('local/tiny'), prompt: 'Answer', output: Output.object({ schema }), maxOutputTokens: 64 });
    assert.equal(typeof result.output.ok, 'boolean');
    assert.ok(['a', 'b'].includes(result.output.tag));
  });

  test('a named tool on both paths: the grammar holds the arguments, the SDK executes it, the next step answers', async () => {
    for (const model of [openai('local/tiny'), openai.chat('local/tiny')]) {
      const calls: Array<{ city: string }> = [];
      const result = await generateText({
        model,
        prompt: 'Weather?',
        temperature: 0,
        maxOutputTokens: 64,
        tools: {
          get_weather: tool({
            // An enum keeps the random-weight model's arguments short: the grammar allows only these.
            inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { enum: ['Oslo', 'Lima'] } }, required: ['city'], additionalProperties: false }),
            execute: async (input) => {
              calls.push(input);
              return 'sunny';
            },
          }),
        },
        toolChoice: { type: 'tool', toolName: 'get_weather' },
        // The SDK resets a forced tool choice only through prepareStep: the second step may answer.
        prepareStep: ({ stepNumber }) => (stepNumber > 0 ? { toolChoice: 'none' } : {}),
        stopWhen: stepCountIs(2),
      });
      assert.equal(calls.length, 1, `${model.provider}: the tool ran once`);
      assert.ok(['Oslo', 'Lima'].includes(calls[0]!.city));
      assert.equal(result.steps[0]!.finishReason, 'tool-calls');
      assert.equal(result.steps.length, 2);
      assert.notEqual(result.steps[1]!.finishReason, 'tool-calls');
    }
  });

  test('chat and legacy completions from real inference: text, usage, finish reason, abort', async () => {
    const chat = await generateText({ model: openai.chat('local/tiny'), prompt: 'Hello', maxOutputTokens: 8, temperature: 0 });
    const outputTokens = chat.usage.outputTokens ?? 0;
    assert.ok(outputTokens > 0 && outputTokens <= 8, `${outputTokens} output tokens`);
    if (chat.finishReason === 'length') assert.equal(outputTokens, 8);
    assert.ok((chat.usage.inputTokens ?? 0) > 0);
    const completion = await generateText({ model: openai.completion('local/tiny'), prompt: 'Once upon', maxOutputTokens: 6, temperature: 0 });
    assert.ok(['length', 'stop'].includes(completion.finishReason));
    assert.ok((completion.usage.outputTokens ?? 0) > 0 && (completion.usage.outputTokens ?? 0) <= 6);
    const streamed = streamText({ model: openai.completion('local/tiny'), prompt: 'Once upon', maxOutputTokens: 6, temperature: 0 });
    assert.equal(await streamed.text, completion.text, 'greedy decoding: the same text streamed');
    const controller = new AbortController();
    // The end-of-generation tokens banned: the reply cannot end on its own before the abort.
    const long = streamText({
      model: openai.chat('local/tiny'), prompt: 'Go on', maxOutputTokens: 900, abortSignal: controller.signal, onError: () => {},
      providerOptions: { openai: { logitBias: { ...NO_END_OF_GENERATION } } },
    });
    let deltas = 0;
    let aborted = false;
    for await (const part of long.fullStream) {
      if (part.type === 'text-delta' && ++deltas === 2) controller.abort();
      if (part.type === 'abort') aborted = true;
    }
    assert.ok(aborted && deltas < 100, `aborted after ${deltas} deltas`);
  });
});
