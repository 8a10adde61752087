// More of what AI SDK users do, through `createOpenAI({ baseURL, apiKey })`: every model factory,
// multi-turn conversations fed back from `response.messages`, tool choices, structured outputs with
// zod, images, reasoning options, `store: false` and `previousResponseId`, embeddings with
// dimensions, abort signals and the errors the SDK classifies. On the sandbox (deterministic).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createOpenAI } from '@ai-sdk/openai';
import {
  APICallError,
  embedMany,
  generateObject,
  generateText,
  Output,
  stepCountIs,
  streamObject,
  streamText,
  tool,
  type ModelMessage,
} from 'ai';
import { z } from 'zod';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { startPlatformServer, type PlatformServer } from '../platform/helpers.js';
import { completionReply, errorReply, fakeUsage, openAIError, startFakeUpstream, streamReply, type FakeUpstream } from '../helpers/fake-openai-upstream.js';

// A 1x1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

describe('Vercel AI SDK on the sandbox: the default factory and the other paths', () => {
  let server: RunningServer;
  let openai: ReturnType<typeof createOpenAI>;

  before(async () => {
    server = await startServer({});
    openai = createOpenAI({ baseURL: server.baseURL, apiKey: 'sk-test' });
  });
  after(() => server.close());

  test('the default factory speaks the Responses API; response id and model come back', async () => {
    const result = await generateText({ model: openai('sandbox/echo'), prompt: 'which path' });
    assert.match(result.response.id, /^resp_/);
    assert.equal(result.response.modelId, 'sandbox/echo');
    assert.ok(result.response.timestamp instanceof Date && !Number.isNaN(result.response.timestamp.getTime()));
    assert.match(String(result.providerMetadata?.openai?.responseId), /^resp_/);
    assert.deepEqual(result.warnings ?? [], []);
  });

  test('a conversation continued from response.messages (item references on the Responses API)', async () => {
    const messages: ModelMessage[] = [{ role: 'user', content: 'first turn' }];
    const first = await generateText({ model: openai('sandbox/echo'), messages });
    messages.push(...first.response.messages, { role: 'user', content: 'second turn' });
    const second = await generateText({ model: openai('sandbox/echo'), messages });
    assert.match(second.text, /second turn/);
    const streamed = streamText({ model: openai('sandbox/echo'), messages: [...messages, ...second.response.messages, { role: 'user', content: 'third' }] });
    assert.match(await streamed.text, /third/);
    // With store: false the SDK sends the items themselves (ids kept), never references.
    const unstored = { openai: { store: false } };
    const history: ModelMessage[] = [{ role: 'user', content: 'kept nowhere' }];
    const firstUnstored = await generateText({ model: openai('sandbox/echo'), messages: history, providerOptions: unstored });
    history.push(...firstUnstored.response.messages, { role: 'user', content: 'still works' });
    assert.match((await generateText({ model: openai('sandbox/echo'), messages: history, providerOptions: unstored })).text, /still works/);
  });

  test('previousResponseId continues a stored response; store: false is not found later', async () => {
    const first = await generateText({ model: openai('sandbox/echo'), prompt: 'remember me' });
    const id = first.providerMetadata?.openai?.responseId as string;
    const second = await generateText({
      model: openai('sandbox/echo'),
      prompt: 'and now?',
      providerOptions: { openai: { previousResponseId: id } },
    });
    assert.match(second.text, /and now\?/);
    const items = await server.client().responses.inputItems.list(second.providerMetadata?.openai?.responseId as string);
    assert.ok(JSON.stringify(items.data).includes('remember me'), 'the earlier turn is in the context');

    const unstored = await generateText({ model: openai('sandbox/echo'), prompt: 'forget me', providerOptions: { openai: { store: false } } });
    const unstoredId = unstored.providerMetadata?.openai?.responseId as string;
    await assert.rejects(
      generateText({ model: openai('sandbox/echo'), prompt: 'x', maxRetries: 0, providerOptions: { openai: { previousResponseId: unstoredId } } }),
      // OpenAI's status for this one is 400, code previous_response_not_found.
      (error: unknown) => APICallError.isInstance(error) && error.statusCode === 400 && error.isRetryable === false,
    );
  });

  test('reasoning on the Responses path: effort and summary, reasoning text and reasoning tokens', async () => {
    const options = { openai: { forceReasoning: true, reasoningEffort: 'low', reasoningSummary: 'auto' } } as const;
    const result = await generateText({ model: openai('sandbox/echo'), prompt: 'think first', providerOptions: options });
    assert.match(result.text, /think first/);
    assert.ok((result.reasoningText ?? '').length > 0, 'reasoning summary text');
    assert.ok((result.usage.outputTokenDetails.reasoningTokens ?? 0) > 0, `reasoning tokens: ${JSON.stringify(result.usage)}`);
    assert.equal(result.usage.inputTokenDetails.cacheReadTokens, 0);
    const streamed = streamText({ model: openai('sandbox/echo'), prompt: 'think first', providerOptions: options });
    const kinds = new Set<string>();
    for await (const part of streamed.fullStream) kinds.add(part.type);
    assert.ok(kinds.has('reasoning-delta'), `reasoning streamed (${[...kinds].join(', ')})`);
    assert.equal(await streamed.reasoningText, result.reasoningText);
    assert.equal((await streamed.usage).outputTokenDetails.reasoningTokens, result.usage.outputTokenDetails.reasoningTokens);
  });

  test('reasoning with store: false asks for encrypted content, and a tool loop still works', async () => {
    const result = await generateText({
      model: openai('sandbox/echo'),
      prompt: 'Use get_time please',
      tools: { get_time: tool({ inputSchema: z.object({ zone: z.string() }), execute: async () => '12:00' }) },
      stopWhen: stepCountIs(3),
      providerOptions: { openai: { forceReasoning: true, reasoningEffort: 'low', store: false } },
    });
    assert.equal(result.steps.length, 2);
    assert.match(result.text, /12:00/);
  });

  test('a reasoning conversation continued from response.messages (stored reasoning items referenced)', async () => {
    const options = { openai: { forceReasoning: true, reasoningEffort: 'low', reasoningSummary: 'auto' } } as const;
    const messages: ModelMessage[] = [{ role: 'user', content: 'one' }];
    const first = await generateText({ model: openai('sandbox/echo'), messages, providerOptions: options });
    messages.push(...first.response.messages, { role: 'user', content: 'two' });
    const second = await generateText({ model: openai('sandbox/echo'), messages, providerOptions: options });
    assert.match(second.text, /two/);
  });

  test('toolChoice: required, a named tool, none', async () => {
    const tools = {
      alpha: tool({ inputSchema: z.object({ a: z.string() }) }),
      beta: tool({ inputSchema: z.object({ b: z.number() }) }),
    };
    for (const model of [openai('sandbox/echo'), openai.chat('sandbox/echo')]) {
      const required = await generateText({ model, prompt: 'no names here', tools, toolChoice: 'required' });
      assert.equal(required.finishReason, 'tool-calls');
      assert.equal(required.toolCalls.length, 1);
      const named = await generateText({ model, prompt: 'no names here', tools, toolChoice: { type: 'tool', toolName: 'beta' } });
      assert.deepEqual(named.toolCalls.map((call) => call.toolName), ['beta']);
      assert.equal(typeof (named.toolCalls[0]!.input as { b: number }).b, 'number');
      const none = await generateText({ model, prompt: 'alpha beta', tools, toolChoice: 'none' });
      assert.equal(none.toolCalls.length, 0);
      assert.equal(none.finishReason, 'stop');
    }
  });

  test('a multi-step tool loop on chat completions, streamed', async () => {
    const result = streamText({
      model: openai.chat('sandbox/echo'),
      prompt: 'call get_weather now',
      tools: { get_weather: tool({ inputSchema: z.object({ city: z.string() }), execute: async ({ city }) => ({ city, temp: 20 }) }) },
      stopWhen: stepCountIs(4),
    });
    const steps = await result.steps;
    assert.equal(steps.length, 2);
    assert.equal(steps[0]!.finishReason, 'tool-calls');
    assert.match(await result.text, /temp/);
    assert.ok(((await result.totalUsage).inputTokens ?? 0) > ((steps[0]!.usage.inputTokens ?? 0)), 'total usage adds the steps');
  });

  test('generateObject and streamObject with zod on both paths (strict json_schema)', async () => {
    const schema = z.object({ name: z.string(), tags: z.array(z.string()), score: z.number().int(), nick: z.string().nullable() });
    for (const model of [openai('sandbox/echo'), openai.chat('sandbox/echo')]) {
      const generated = await generateObject({ model, schema, prompt: 'a record' });
      assert.equal(typeof generated.object.name, 'string');
      assert.ok(Array.isArray(generated.object.tags));
      assert.ok(Number.isInteger(generated.object.score));
      assert.equal(generated.finishReason, 'stop');
      const streamed = streamObject({ model, schema, prompt: 'a record' });
      let partials = 0;
      for await (const partial of streamed.partialObjectStream) if (partial) partials++;
      assert.ok(partials > 0);
      assert.deepEqual(await streamed.object, generated.object, 'deterministic');
    }
    const text = await generateText({ model: openai.chat('sandbox/echo'), prompt: 'x', output: Output.object({ schema }) });
    assert.equal(typeof text.output.name, 'string');
  });

  test('generateObject without a schema (json_object) and an enum output', async () => {
    const free = await generateObject({ model: openai.chat('sandbox/echo'), output: 'no-schema', prompt: 'anything in json' });
    assert.equal(typeof free.object, 'object');
    const pick = await generateObject({ model: openai('sandbox/echo'), output: 'enum', enum: ['red', 'green'], prompt: 'a colour' });
    assert.ok(['red', 'green'].includes(pick.object));
  });

  test('image input parts reach the model on both paths', async () => {
    for (const model of [openai('sandbox/echo'), openai.chat('sandbox/echo')]) {
      const result = await generateText({
        model,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this' }, { type: 'image', image: PNG, mediaType: 'image/png' }] }],
      });
      assert.match(result.text, /1 image/);
    }
  });

  test('chat: usage details, finish reason, provider metadata, response id and model', async () => {
    const result = await generateText({ model: openai.chat('sandbox/echo'), prompt: 'details', providerOptions: { openai: { reasoningEffort: 'low', forceReasoning: true } } });
    assert.equal(result.finishReason, 'stop');
    assert.equal(result.response.modelId, 'sandbox/echo');
    assert.ok((result.usage.outputTokenDetails.reasoningTokens ?? 0) > 0, JSON.stringify(result.usage));
    assert.equal(result.usage.inputTokenDetails.cacheReadTokens, 0);
    const streamed = streamText({ model: openai.chat('sandbox/echo'), prompt: 'details of a longer prompt than two tokens', maxOutputTokens: 2 });
    assert.equal(await streamed.finishReason, 'length');
    assert.match((await streamed.response).id, /^chatcmpl-/);
  });

  test('legacy completions through openai.completion()', async () => {
    const generated = await generateText({ model: openai.completion('sandbox/lorem'), prompt: 'Once upon a time', maxOutputTokens: 8 });
    assert.ok(generated.text.length > 0);
    assert.equal(generated.finishReason, 'length');
    assert.equal(generated.usage.outputTokens, 8);
    assert.match(generated.response.id, /^cmpl-/);
    const streamed = streamText({ model: openai.completion('sandbox/lorem'), prompt: 'Once upon a time', maxOutputTokens: 8 });
    assert.equal(await streamed.text, generated.text);
    assert.equal((await streamed.usage).outputTokens, 8);
    assert.equal(await streamed.finishReason, 'length');
  });

  test('embedMany with dimensions, through embedding() and textEmbeddingModel()', async () => {
    const shortened = await embedMany({ model: openai.embedding('sandbox/echo'), values: ['a', 'b', 'c'], providerOptions: { openai: { dimensions: 8 } } });
    assert.equal(shortened.embeddings.length, 3);
    for (const vector of shortened.embeddings) {
      assert.equal(vector.length, 8);
      assert.ok(Math.abs(Math.hypot(...vector) - 1) < 1e-5, 'renormalized');
    }
    assert.ok((shortened.usage.tokens ?? 0) > 0);
    const other = await embedMany({ model: openai.textEmbeddingModel('sandbox/echo'), values: ['a'] });
    assert.ok(other.embeddings[0]!.length > 8);
    await assert.rejects(
      embedMany({ model: openai.embedding('sandbox/echo'), values: ['a'], maxRetries: 0, providerOptions: { openai: { dimensions: 100000 } } }),
      (error: unknown) => APICallError.isInstance(error) && error.statusCode === 400 && error.isRetryable === false,
    );
  });

  test('an abort signal stops a stream on every path', async () => {
    for (const model of [openai('sandbox/lorem'), openai.chat('sandbox/lorem'), openai.completion('sandbox/lorem')]) {
      const controller = new AbortController();
      const errors: unknown[] = [];
      const result = streamText({ model, prompt: 'long', maxOutputTokens: 4000, abortSignal: controller.signal, onError: ({ error }) => void errors.push(error) });
      let seen = 0;
      let aborted = false;
      for await (const part of result.fullStream) {
        if (part.type === 'text-delta' && ++seen === 3) controller.abort();
        if (part.type === 'abort') aborted = true;
      }
      assert.ok(aborted, 'an abort part');
      assert.ok(seen < 50);
    }
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(generateText({ model: openai('sandbox/echo'), prompt: 'x', abortSignal: controller.signal }), (error: Error) => error.name === 'AbortError');
  });

  test('errors: 400 and 404 as APICallError with status and isRetryable', async () => {
    const check = async (promise: Promise<unknown>, status: number, retryable: boolean) =>
      assert.rejects(promise, (error: unknown) => {
        assert.ok(APICallError.isInstance(error), String(error));
        assert.equal(error.statusCode, status);
        assert.equal(error.isRetryable, retryable);
        assert.ok(error.message.length > 0);
        return true;
      });
    // 400: a temperature out of OpenAI's range, on each path
    await check(generateText({ model: openai('sandbox/echo'), prompt: 'x', maxRetries: 0, temperature: 7 }), 400, false);
    await check(generateText({ model: openai.chat('sandbox/echo'), prompt: 'x', maxRetries: 0, temperature: 7 }), 400, false);
    await check(generateText({ model: openai.completion('sandbox/echo'), prompt: 'x', maxRetries: 0, temperature: 7 }), 400, false);
    await check(generateText({ model: openai.chat('no-such-model'), prompt: 'x', maxRetries: 0 }), 404, false);
    await check(generateText({ model: openai.completion('no-such-model'), prompt: 'x', maxRetries: 0 }), 404, false);
    await check(embedMany({ model: openai.embedding('no-such-model'), values: ['x'], maxRetries: 0 }), 404, false);
  });
});

describe('Vercel AI SDK against keys and limits (the platform on)', () => {
  let server: PlatformServer;

  before(async () => {
    server = await startPlatformServer({}, { logLevel: 'info' });
    // The server runs open until its first key exists.
    assert.equal((await server.admin('POST', '/keys', {})).status, 200);
  });
  after(() => server.close());

  const rejectsWith = (promise: Promise<unknown>, status: number, retryable: boolean) =>
    assert.rejects(promise, (error: unknown) => {
      assert.ok(APICallError.isInstance(error), String(error));
      assert.equal(error.statusCode, status);
      assert.equal(error.isRetryable, retryable);
      return true;
    });

  test('a wrong key is a 401 the SDK does not retry, on every path', async () => {
    const openai = createOpenAI({ baseURL: server.baseURL, apiKey: 'sk-wrong' });
    await rejectsWith(generateText({ model: openai('sandbox/echo'), prompt: 'x', maxRetries: 0 }), 401, false);
    await rejectsWith(generateText({ model: openai.chat('sandbox/echo'), prompt: 'x', maxRetries: 0 }), 401, false);
    await rejectsWith(embedMany({ model: openai.embedding('sandbox/echo'), values: ['x'], maxRetries: 0 }), 401, false);
  });

  test('over a rate limit: a 429 the SDK retries after retry-after; a conversation by item references works with a key', async () => {
    const { body } = await server.admin('POST', '/keys', { limits: { requests_per_minute: 3 } });
    const openai = createOpenAI({ baseURL: server.baseURL, apiKey: body.value as string });
    // Item references are looked up in the platform's database, within the key's workspace.
    const messages: ModelMessage[] = [{ role: 'user', content: 'stored turn' }];
    const first = await generateText({ model: openai('sandbox/echo'), messages, maxRetries: 0 });
    messages.push(...first.response.messages, { role: 'user', content: 'next turn' });
    const second = await generateText({ model: openai('sandbox/echo'), messages, maxRetries: 0 });
    assert.match(second.text, /next turn/);
    // Another workspace does not see those items.
    const other = await server.admin('POST', '/workspaces', { name: 'other' });
    const otherKey = await server.admin('POST', '/keys', { workspace_id: other.body.id });
    const outsider = createOpenAI({ baseURL: server.baseURL, apiKey: otherKey.body.value as string });
    await rejectsWith(generateText({ model: outsider('sandbox/echo'), messages, maxRetries: 0 }), 404, false);

    await generateText({ model: openai.chat('sandbox/echo'), prompt: 'x', maxRetries: 0 });
    await rejectsWith(generateText({ model: openai.chat('sandbox/echo'), prompt: 'x', maxRetries: 0 }), 429, true);
  });
});

describe('Vercel AI SDK through an OpenAI-compatible upstream', () => {
  let fake: FakeUpstream;
  let server: RunningServer;
  let openai: ReturnType<typeof createOpenAI>;
  const usage = { ...fakeUsage(120, 30), prompt_tokens_details: { cached_tokens: 96, audio_tokens: 0 } };
  usage.completion_tokens_details = { ...usage.completion_tokens_details!, reasoning_tokens: 12 };

  before(async () => {
    fake = await startFakeUpstream();
    server = await startServer({ providers: [{ id: 'up', kind: 'openai-compatible', baseURL: fake.baseURL, models: ['m'] }] });
    openai = createOpenAI({ baseURL: server.baseURL, apiKey: 'sk-test' });
  });
  after(async () => {
    await server.close();
    await fake.close();
  });

  test('cached and reasoning tokens reach the SDK on chat and on the Responses path, streamed or not', async () => {
    fake.script((exchange) => (exchange.request.body?.stream ? streamReply({ usage }) : completionReply({ usage }))(exchange));
    for (const model of [openai.chat('up/m'), openai('up/m')]) {
      const generated = await generateText({ model, prompt: 'cached?' });
      const streamed = streamText({ model, prompt: 'cached?' });
      for (const result of [generated.usage, await streamed.usage]) {
        assert.equal(result.inputTokens, 120);
        assert.equal(result.outputTokens, 30);
        assert.equal(result.inputTokenDetails.cacheReadTokens, 96, `${model.provider}: ${JSON.stringify(result)}`);
        assert.equal(result.outputTokenDetails.reasoningTokens, 12, `${model.provider}: ${JSON.stringify(result)}`);
      }
      assert.equal(generated.text, 'Hello from the fake upstream.');
      assert.equal(await streamed.text, generated.text);
    }
  });

  test("an upstream's 429 reaches the SDK as retryable, and the SDK's retry succeeds", async () => {
    fake.script(completionReply());
    fake.once(errorReply(429, openAIError('Rate limit reached', 'requests', null, 'rate_limit_exceeded'), { 'retry-after-ms': '10' }));
    const before = fake.chatRequests.length;
    const result = await generateText({ model: openai.chat('up/m'), prompt: 'retry me', maxRetries: 2 });
    assert.equal(result.text, 'Hello from the fake upstream.');
    assert.ok(fake.chatRequests.length - before >= 2, 'the upstream saw the retry');
  });
});
