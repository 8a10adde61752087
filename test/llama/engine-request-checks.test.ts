// The embedded engine's answers to request fields at their edges (values just past what the model
// or its context can take, limits that cut a reply short), through the HTTP API with the official
// SDK, against the generated tiny model.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { collect, contentOf, NO_END_OF_GENERATION, ReferenceTokenizer, startLlamaServer, toolCallsOf, type LlamaTestServer } from '../helpers/llama-server.js';

const MODEL = 'local/tiny';
/** The same model file, declared with an output limit. */
const CAPPED = 'local/capped';
const CAP = 30;
const ask = (content: string): ChatCompletionMessageParam[] => [{ role: 'user', content }];

const WEATHER: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 10 } }, required: ['city'], additionalProperties: false },
  },
};
const ALARM: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'set_alarm',
    parameters: { type: 'object', properties: { hour: { type: 'integer' } }, required: ['hour'], additionalProperties: false },
  },
};

function isBadRequest(param: string, code: string, message?: RegExp) {
  return (error: InstanceType<typeof OpenAI.APIError>) => {
    assert.equal(error.status, 400, error.message);
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.param, param);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  };
}

describe('llama engine: request fields at their edges', () => {
  let running: LlamaTestServer;
  let client: OpenAI;
  let reference: ReferenceTokenizer;
  let vocabulary: number;

  before(async () => {
    running = await startLlamaServer([
      { id: 'tiny', contextSize: 1024, parallel: 2, contexts: 1 },
      { id: 'capped', contextSize: 1024, parallel: 1, maxOutputTokens: CAP },
    ]);
    client = running.client;
    reference = await ReferenceTokenizer.load(running.modelFile);
    vocabulary = reference.model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  });

  after(async () => {
    await reference?.dispose();
    await running?.close();
  });

  test("logit_bias keys outside the vocabulary are a 400 naming the key, before any work; the last id is fine", async () => {
    // 2^32 + 500 wrapped onto token 500 in the engine's Uint32Array.
    for (const key of [String(vocabulary), '99999', '4294967796', String(2 ** 64)]) {
      for (const stream of [false, true]) {
        await assert.rejects(
          client.chat.completions.create({ model: MODEL, messages: ask('Hi'), max_tokens: 4, logit_bias: { '5': 1, [key]: 5 }, stream }),
          isBadRequest('logit_bias', 'invalid_value', new RegExp(`Invalid key in 'logit_bias': ${key}\\b`)),
        );
      }
      await assert.rejects(
        client.completions.create({ model: MODEL, prompt: 'Hi', max_tokens: 4, logit_bias: { [key]: 5 } }),
        isBadRequest('logit_bias', 'invalid_value', new RegExp(`Invalid key in 'logit_bias': ${key}\\b`)),
      );
    }
    const last = await client.chat.completions.create({ model: MODEL, messages: ask('Hi'), max_tokens: 4, seed: 1, logit_bias: { [String(vocabulary - 1)]: 5 } });
    assert.equal(last.choices.length, 1);
  });

  test("a model's declared maxOutputTokens caps a reply that sets no limit (finish length); a smaller asked limit wins", async () => {
    const request = { model: CAPPED, messages: ask('Tell me a long story'), seed: 3, logit_bias: NO_END_OF_GENERATION };
    const reply = await client.chat.completions.create(request);
    assert.equal(reply.choices[0]!.finish_reason, 'length');
    assert.equal(reply.usage!.completion_tokens, CAP);
    const chunks = (await collect(await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } }))).map((item) => item.chunk);
    assert.equal(chunks.at(-1)!.usage!.completion_tokens, CAP);
    assert.equal(chunks.flatMap((chunk) => chunk.choices).find((choice) => choice.finish_reason)?.finish_reason, 'length');
    const asked = await client.chat.completions.create({ ...request, max_tokens: 7 });
    assert.equal(asked.usage!.completion_tokens, 7);
  });

  test('a forced tool call cut by the token limit names its tool, keeps the arguments written so far, finish length', async () => {
    const named = { type: 'function', function: { name: 'get_weather' } } as const;
    for (const [tools, toolChoice] of [[[WEATHER], 'required'], [[WEATHER], named], [[WEATHER, ALARM], named]] as const) {
      for (const limit of [1, 3, 12, 20]) {
        const request = { model: MODEL, messages: ask('Weather?'), tools: [...tools], tool_choice: toolChoice, max_completion_tokens: limit, seed: 2 };
        const context = `${tools.length} tool(s), ${typeof toolChoice === 'string' ? toolChoice : 'named'}, limit ${limit}`;
        const reply: OpenAI.ChatCompletion = await client.chat.completions.create(request);
        const choice = reply.choices[0]!;
        assert.equal(choice.finish_reason, 'length', context);
        const calls = choice.message.tool_calls ?? [];
        assert.equal(calls.length, 1, context);
        const call = calls[0]!;
        assert.ok(call.type === 'function');
        assert.equal(call.function.name, 'get_weather', context);
        assert.match(call.id, /^call_/);
        // What there is of the arguments is the start of a JSON object, never anything else.
        assert.ok(call.function.arguments === '' || call.function.arguments.startsWith('{'), `${context}: ${call.function.arguments}`);
        const streamed = toolCallsOf((await collect(await client.chat.completions.create({ ...request, stream: true }))).map((item) => item.chunk));
        assert.deepEqual(streamed.map(({ name, arguments: args }) => ({ name, arguments: args })), [{ name: 'get_weather', arguments: call.function.arguments }], context);
      }
    }
  });

  test('a forced tool call streams as it is generated: named at once, its arguments piece by piece', async () => {
    const flags = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}`, { type: 'boolean' }]));
    const SWITCHES: ChatCompletionTool = {
      type: 'function',
      function: { name: 'set_switches', parameters: { type: 'object', properties: flags, required: Object.keys(flags), additionalProperties: false } },
    };
    const request = { model: MODEL, messages: ask('Set them.'), tools: [SWITCHES], tool_choice: 'required' as const, seed: 3, max_completion_tokens: 300 };
    const chunks = await collect(await client.chat.completions.create({ ...request, stream: true }));
    const started = chunks.find((item) => item.chunk.choices[0]?.delta.tool_calls?.[0]?.function?.name)!;
    const finished = chunks.find((item) => item.chunk.choices[0]?.finish_reason)!;
    assert.equal(finished.chunk.choices[0]!.finish_reason, 'tool_calls');
    const firstChunk = chunks[0]!.at;
    // Held until the end, the call would arrive with the finish; streamed, it starts after a few
    // of the reply's ~60 tokens.
    assert.ok(finished.at - started.at > 0.5 * (finished.at - firstChunk), `started ${(started.at - firstChunk).toFixed(1)} ms in, finished at ${(finished.at - firstChunk).toFixed(1)} ms`);
    const [call] = toolCallsOf(chunks.map((item) => item.chunk));
    assert.deepEqual(Object.keys(JSON.parse(call!.arguments)), Object.keys(flags));
    // The same call, collected.
    const reply = await client.chat.completions.create(request);
    const collected = reply.choices[0]!.message.tool_calls![0]!;
    assert.ok(collected.type === 'function');
    assert.equal(collected.function.arguments, call!.arguments);
  });

  test('required among several tools, cut before the name is decided: no call rather than one without a name', async () => {
    const calls = new Map<number, number>();
    for (const limit of [1, 3, 6, 12, 20]) {
      const reply: OpenAI.ChatCompletion = await client.chat.completions.create({ model: MODEL, messages: ask('Do it.'), tools: [WEATHER, ALARM], tool_choice: 'required', max_completion_tokens: limit, seed: 4 });
      const choice = reply.choices[0]!;
      assert.equal(choice.finish_reason, 'length', `limit ${limit}`);
      for (const call of choice.message.tool_calls ?? []) {
        assert.ok(call.type === 'function' && ['get_weather', 'set_alarm'].includes(call.function.name), `limit ${limit}: ${JSON.stringify(call)}`);
      }
      calls.set(limit, choice.message.tool_calls?.length ?? 0);
    }
    // A token writes `{`, one more `"`...: the name is not begun after one; once it is, the first
    // letter decides between the two tools.
    assert.equal(calls.get(1), 0);
    assert.equal(calls.get(20), 1);
  });

  test('logprobs cover the returned content only: no token after a stop sequence, streamed or not', async () => {
    let stopped = 0;
    for (let seed = 1; seed <= 16; seed++) {
      for (const stop of ['pl ', 'e', ' t', 'an']) {
        const request = { model: MODEL, messages: ask('Say a few words'), max_tokens: 30, seed, stop, logprobs: true, top_logprobs: 1 } as const;
        const reply = await client.chat.completions.create(request);
        const choice = reply.choices[0]!;
        if (choice.finish_reason !== 'stop' || reply.usage!.completion_tokens === 0) continue;
        stopped++;
        const context = `seed ${seed}, stop ${JSON.stringify(stop)}`;
        const content = choice.message.content ?? '';
        const entries = choice.logprobs?.content ?? [];
        // The tokens' bytes, decoded as they come (a byte token alone is U+FFFD in `token`, its
        // byte in `bytes`): every token begins inside the content...
        const decoder = new TextDecoder();
        let spelled = '';
        for (const entry of entries) {
          assert.ok(spelled.length < content.length, `${context}: ${JSON.stringify(entry.token)} starts past the content ${JSON.stringify(content)}`);
          spelled += decoder.decode(Uint8Array.from(entry.bytes!), { stream: true });
        }
        spelled += decoder.decode();
        // ...and together they spell at least the content (the last one may run into the stop sequence).
        assert.ok(spelled.startsWith(content), `${context}: ${JSON.stringify(spelled)} does not begin with ${JSON.stringify(content)}`);
        const chunks = (await collect(await client.chat.completions.create({ ...request, stream: true }))).map((item) => item.chunk);
        assert.equal(contentOf(chunks), choice.message.content, context);
        assert.deepEqual(chunks.flatMap((chunk) => chunk.choices.flatMap((c) => c.logprobs?.content ?? [])), entries, context);
        const empty = chunks.flatMap((chunk) => chunk.choices).filter((c) => c.logprobs && !c.delta.content);
        assert.deepEqual(empty, [], `${context}: a logprob on a delta without content`);
      }
    }
    assert.ok(stopped >= 20, `only ${stopped} replies met their stop sequence`);
  });

  test('logprobs cover the returned content only in legacy completions too', async () => {
    let stopped = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const prompt = 'Say a few words';
      const reply = await client.completions.create({ model: MODEL, prompt, max_tokens: 30, seed, stop: ['e', ' t'], logprobs: 1 });
      const choice = reply.choices[0]!;
      if (choice.finish_reason !== 'stop' || choice.text === '') continue;
      stopped++;
      // Offsets count from the prompt's start, as OpenAI's do.
      const offsets = choice.logprobs!.text_offset!.map((offset) => offset - prompt.length);
      assert.equal(offsets[0], 0);
      for (const offset of offsets) assert.ok(offset < choice.text.length, `seed ${seed}: a token at ${offset} past ${JSON.stringify(choice.text)}`);
    }
    assert.ok(stopped >= 6, `only ${stopped} replies met their stop sequence`);
  });

  test('prompt plus an asked max_tokens beyond the context is a 400 context_length_exceeded; unasked, the reply runs to the end', async () => {
    const messages = ask(`x${' the'.repeat(1020 - reference.promptTokens(ask('x')))}`);
    assert.equal(reference.promptTokens(messages), 1020);
    for (const [field, stream] of [['max_tokens', false], ['max_completion_tokens', true]] as const) {
      await assert.rejects(
        client.chat.completions.create({ model: MODEL, messages, [field]: 100, stream }),
        isBadRequest('messages', 'context_length_exceeded', /maximum context length is 1024 tokens\. However, you requested 1120 tokens \(1020 in the messages, 100 in the completion\)/),
      );
    }
    // Exactly the context is allowed.
    const fits = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, seed: 1, logit_bias: NO_END_OF_GENERATION });
    assert.equal(fits.usage!.completion_tokens, 4);
    const unasked = await client.chat.completions.create({ model: MODEL, messages, seed: 1, logit_bias: NO_END_OF_GENERATION });
    assert.equal(unasked.choices[0]!.finish_reason, 'length');
    assert.equal(unasked.usage!.completion_tokens, 4);
    // A declared output limit is no ask of the client's: it is cut to the context's end, not refused.
    const capped = await client.chat.completions.create({ model: CAPPED, messages, seed: 1, logit_bias: NO_END_OF_GENERATION });
    assert.equal(capped.usage!.completion_tokens, 4);
    assert.equal(capped.choices[0]!.finish_reason, 'length');
  });

  test('legacy completions: a prompt plus an asked max_tokens beyond the context is a 400 too', async () => {
    const prompt = `x${' the'.repeat(1010)}`;
    const tokens = reference.model.tokenize(prompt).length + 1;
    await assert.rejects(
      client.completions.create({ model: MODEL, prompt, max_tokens: 1024 - tokens + 1 }),
      isBadRequest('prompt', 'context_length_exceeded', new RegExp(`you requested 1025 tokens \\(${tokens} in the prompt, ${1025 - tokens} in the completion\\)`)),
    );
    const fits = await client.completions.create({ model: MODEL, prompt, max_tokens: 1024 - tokens, seed: 1 });
    assert.equal(fits.choices.length, 1);
  });

  test('an empty stop string stops nothing: the reply is the one without it', async () => {
    const request = { model: MODEL, messages: ask('Write a line'), max_tokens: 12, seed: 6, logit_bias: NO_END_OF_GENERATION };
    const free = await client.chat.completions.create(request);
    assert.equal(free.usage!.completion_tokens, 12);
    for (const stop of ['', [''], ['', '']]) {
      const reply = await client.chat.completions.create({ ...request, stop });
      assert.equal(reply.choices[0]!.message.content, free.choices[0]!.message.content, JSON.stringify(stop));
      assert.equal(reply.choices[0]!.finish_reason, 'length');
    }
    // Beside a real stop sequence, the real one still works.
    const cut = free.choices[0]!.message.content!.slice(3, 5);
    const both = await client.chat.completions.create({ ...request, stop: ['', cut] });
    assert.equal(both.choices[0]!.message.content, free.choices[0]!.message.content!.slice(0, free.choices[0]!.message.content!.indexOf(cut)));
    const legacy = { model: MODEL, prompt: 'Write a line', max_tokens: 12, seed: 6, logit_bias: NO_END_OF_GENERATION };
    const legacyFree = await client.completions.create(legacy);
    assert.equal((await client.completions.create({ ...legacy, stop: [''] })).choices[0]!.text, legacyFree.choices[0]!.text);
  });
});
