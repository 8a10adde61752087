// The embedded engine through the HTTP API, with the official SDK, against the generated tiny
// model: sampling (seed, stop, length, n, logprobs), the stream's shape, exact usage counts,
// KV-cache reuse and the context limit. The model's output is random words; these tests judge
// the engine's plumbing, never the text.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { collect, contentOf, rawStream, ReferenceTokenizer, startLlamaServer, type LlamaTestServer } from '../helpers/llama-server.js';

const MODEL = 'local/tiny';
const ask = (content: string): ChatCompletionMessageParam[] => [{ role: 'user', content }];

describe('llama engine: sampling, streaming and usage over HTTP', () => {
  let running: LlamaTestServer;
  let client: OpenAI;
  let reference: ReferenceTokenizer;

  before(async () => {
    running = await startLlamaServer([{ id: 'tiny', contextSize: 1024, threads: 1, parallel: 4, queueLimit: 8 }]);
    client = running.client;
    reference = await ReferenceTokenizer.load(running.modelFile);
  });

  after(async () => {
    await reference?.dispose();
    await running?.close();
  });

  test('same seed and request give the same output at temperature > 0; other seeds differ', async () => {
    const request = { model: MODEL, messages: ask('Tell me about the river'), max_tokens: 24, temperature: 0.9 };
    const first = await client.chat.completions.create({ ...request, seed: 7 });
    const again = await client.chat.completions.create({ ...request, seed: 7 });
    assert.equal(again.choices[0]!.message.content, first.choices[0]!.message.content);
    // The same seed streamed: the same text, chunk by chunk.
    const streamed = await collect(await client.chat.completions.create({ ...request, seed: 7, stream: true }));
    assert.equal(contentOf(streamed.map((item) => item.chunk)), first.choices[0]!.message.content);

    const others = await Promise.all(
      [8, 9, 10].map(async (seed) => (await client.chat.completions.create({ ...request, seed })).choices[0]!.message.content),
    );
    for (const other of others) assert.notEqual(other, first.choices[0]!.message.content);
    assert.equal(new Set(others).size, others.length, 'three more seeds, three different outputs');
  });

  test('every seed is reproducible, -1 and 2^32 - 1 too (llama.cpp reads 0xFFFFFFFF as "random")', async () => {
    const request = { model: MODEL, messages: ask('Tell me about the river'), max_tokens: 24, temperature: 1 };
    for (const seed of [-1, 4_294_967_295, 2 ** 40 + 3]) {
      const first = await client.chat.completions.create({ ...request, seed });
      const again = await client.chat.completions.create({ ...request, seed });
      assert.equal(again.choices[0]!.message.content, first.choices[0]!.message.content, `seed ${seed}`);
    }
    // n > 1 walks seed, seed + 1, ...: past 2^32 - 2 too.
    const [a, b] = await Promise.all([0, 1].map(() => client.chat.completions.create({ ...request, seed: 4_294_967_294, n: 2 })));
    assert.deepEqual(b!.choices.map((choice) => choice.message.content), a!.choices.map((choice) => choice.message.content));
  });

  test('presence and frequency penalties reach the sampler, in chat and in legacy completions', async () => {
    // Greedy, so that only the penalties can change the text; the tiny model repeats itself.
    const request = { model: MODEL, messages: ask('Say it again and again'), max_tokens: 40, temperature: 0 };
    const plain = (await client.chat.completions.create(request)).choices[0]!.message.content;
    const presence = (await client.chat.completions.create({ ...request, presence_penalty: 2 })).choices[0]!.message.content;
    const frequency = (await client.chat.completions.create({ ...request, frequency_penalty: 2 })).choices[0]!.message.content;
    assert.notEqual(presence, plain);
    assert.notEqual(frequency, plain);
    const legacy = { model: MODEL, prompt: 'Say it again and again', max_tokens: 40, temperature: 0 };
    const legacyPlain = (await client.completions.create(legacy)).choices[0]!.text;
    assert.notEqual((await client.completions.create({ ...legacy, presence_penalty: 2 })).choices[0]!.text, legacyPlain);
  });

  test('temperature 0 is greedy: the same output whatever the seed', async () => {
    const request = { model: MODEL, messages: ask('Tell me about the river'), max_tokens: 24, temperature: 0 };
    const outputs = await Promise.all([1, 2, 3].map(async (seed) => (await client.chat.completions.create({ ...request, seed })).choices[0]!.message.content));
    assert.equal(new Set(outputs).size, 1);
  });

  test('without a seed, two requests differ (the seed is random, not fixed)', async () => {
    const request = { model: MODEL, messages: ask('Say something'), max_tokens: 16, temperature: 1 };
    const a = await client.chat.completions.create(request);
    const b = await client.chat.completions.create(request);
    assert.notEqual(a.choices[0]!.message.content, b.choices[0]!.message.content);
  });

  test('stream order: role first, content deltas, one finish last, then the usage chunk, then [DONE]', async () => {
    const { status, events } = await rawStream(running.server.origin, {
      model: MODEL,
      messages: ask('Hello there'),
      max_tokens: 12,
      seed: 3,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(status, 200);
    assert.equal(events.at(-1)!.data, '[DONE]');
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event.data) as OpenAI.ChatCompletionChunk);
    assert.ok(chunks.length >= 4);
    const ids = new Set(chunks.map((chunk) => chunk.id));
    assert.equal(ids.size, 1, 'one id for the whole stream');
    assert.ok([...ids][0]!.startsWith('chatcmpl-'));
    for (const chunk of chunks) assert.equal(chunk.object, 'chat.completion.chunk');

    const usageChunk = chunks.at(-1)!;
    assert.deepEqual(usageChunk.choices, []);
    assert.ok(usageChunk.usage, 'the last chunk carries usage');
    const body = chunks.slice(0, -1);
    for (const chunk of body) {
      assert.equal(chunk.choices.length, 1);
      assert.equal(chunk.usage ?? null, null, 'usage is null on every other chunk when include_usage is set');
    }
    assert.equal(body[0]!.choices[0]!.delta.role, 'assistant', 'the role comes first');
    for (const chunk of body.slice(1)) assert.equal(chunk.choices[0]!.delta.role, undefined, 'and only once');
    const finishes = body.filter((chunk) => chunk.choices[0]!.finish_reason !== null);
    assert.equal(finishes.length, 1, 'exactly one finish');
    assert.equal(finishes[0], body.at(-1), 'the finish is the last choice chunk');
    assert.equal(finishes[0]!.choices[0]!.finish_reason, 'length');
    assert.equal(usageChunk.usage!.completion_tokens, 12);

    // Without include_usage: no usage chunk, and no usage field worth reading on any chunk.
    const plain = await rawStream(running.server.origin, { model: MODEL, messages: ask('Hello there'), max_tokens: 5, seed: 3, stream: true });
    const plainChunks = plain.events.slice(0, -1).map((event) => JSON.parse(event.data) as OpenAI.ChatCompletionChunk);
    assert.equal(plain.events.at(-1)!.data, '[DONE]');
    for (const chunk of plainChunks) {
      assert.equal(chunk.choices.length, 1, 'no choice-less usage chunk');
      assert.equal(chunk.usage ?? null, null);
    }
  });

  test('max_tokens and max_completion_tokens end with finish_reason length and exactly that many tokens', async () => {
    for (const [field, limit] of [['max_tokens', 1], ['max_tokens', 17], ['max_completion_tokens', 9]] as const) {
      const reply = await client.chat.completions.create({ model: MODEL, messages: ask('Count for me'), seed: 11, [field]: limit });
      assert.equal(reply.choices[0]!.finish_reason, 'length', `${field}: ${limit}`);
      assert.equal(reply.usage!.completion_tokens, limit, `${field}: ${limit}`);
    }
  });

  test('logit_bias reaches the end-of-generation tokens too: +100 ends the reply at once, -100 reaches the sampler', async () => {
    const vocabulary = reference.model.fileInfo.metadata.tokenizer.ggml.tokens.length;
    const ends = Array.from({ length: vocabulary }, (_, token) => token).filter((token) => reference.model.isEogToken(token as never));
    assert.ok(ends.length > 0, 'the test model has an end-of-generation token');
    const request = { model: MODEL, messages: ask('Tell me a long story'), max_tokens: 40, seed: 5 };
    const free = await client.chat.completions.create(request);
    assert.equal(free.choices[0]!.finish_reason, 'length', 'unbiased, the tiny model writes to the limit');
    const ended = await client.chat.completions.create({ ...request, logit_bias: Object.fromEntries(ends.map((token) => [String(token), 100])) });
    assert.equal(ended.choices[0]!.finish_reason, 'stop');
    assert.equal(ended.choices[0]!.message.content, '');
    assert.equal(ended.usage!.completion_tokens, 0);
    // Banned, their share of the distribution goes to the other tokens: the same seed samples
    // another text (were the bias dropped, the text would be the unbiased one), still to the limit.
    const banned = await client.chat.completions.create({ ...request, logit_bias: Object.fromEntries(ends.map((token) => [String(token), -100])) });
    assert.notEqual(banned.choices[0]!.message.content, free.choices[0]!.message.content);
    assert.equal(banned.choices[0]!.finish_reason, 'length');
  });

  test('stop sequences never appear, and cut the text exactly where the unstopped text has them', async () => {
    // Property: with the same seed, the output with `stop` is the output without it, cut before the
    // first stop sequence (sampling does not depend on `stop`). Stops are short ASCII strings the
    // random words contain often, so most runs really stop.
    const base = new Map<number, string>();
    let stopped = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.uniqueArray(fc.constantFrom('e', 'a', 'th', 'in', 'o', ' s', 'er', 'an', 'ow', ' t'), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        async (seed, stop, stream) => {
          const request = { model: MODEL, messages: ask('Write a line'), max_tokens: 40, seed, temperature: 1 };
          if (!base.has(seed)) base.set(seed, (await client.chat.completions.create(request)).choices[0]!.message.content ?? '');
          const full = base.get(seed)!;
          let text: string;
          let finish: string | null;
          if (stream) {
            const chunks = (await collect(await client.chat.completions.create({ ...request, stop, stream: true }))).map((item) => item.chunk);
            text = contentOf(chunks);
            finish = chunks.flatMap((chunk) => chunk.choices).find((choice) => choice.finish_reason)?.finish_reason ?? null;
          } else {
            const reply = await client.chat.completions.create({ ...request, stop });
            text = reply.choices[0]!.message.content ?? '';
            finish = reply.choices[0]!.finish_reason;
          }
          for (const s of stop) assert.ok(!text.includes(s), `${JSON.stringify(s)} appeared in ${JSON.stringify(text)}`);
          const cuts = stop.map((s) => full.indexOf(s)).filter((at) => at !== -1);
          if (cuts.length > 0) {
            stopped++;
            assert.equal(text, full.slice(0, Math.min(...cuts)));
            assert.equal(finish, 'stop');
          } else {
            assert.equal(text, full);
          }
        },
      ),
      { numRuns: 24, seed: 42 },
    );
    assert.ok(stopped >= 12, `only ${stopped} of 24 runs met a stop sequence`);
  });

  test('n > 1 gives n choices, indexed, each with its own finish; usage sums them', async () => {
    const reply = await client.chat.completions.create({ model: MODEL, messages: ask('Pick a word'), max_tokens: 6, seed: 5, n: 3 });
    assert.deepEqual(reply.choices.map((choice) => choice.index), [0, 1, 2]);
    for (const choice of reply.choices) {
      assert.equal(choice.finish_reason, 'length');
      assert.equal(choice.message.role, 'assistant');
      assert.equal(typeof choice.message.content, 'string');
    }
    assert.equal(new Set(reply.choices.map((choice) => choice.message.content)).size, 3, 'the choices are sampled independently');
    assert.equal(reply.usage!.completion_tokens, 18);
    assert.equal(reply.usage!.prompt_tokens, reference.promptTokens(ask('Pick a word')), 'the prompt counts once');

    const chunks = (await collect(await client.chat.completions.create({ model: MODEL, messages: ask('Pick a word'), max_tokens: 6, seed: 5, n: 3, stream: true }))).map((item) => item.chunk);
    for (const index of [0, 1, 2]) {
      const mine = chunks.flatMap((chunk) => chunk.choices).filter((choice) => choice.index === index);
      assert.equal(mine[0]!.delta.role, 'assistant');
      assert.equal(mine.filter((choice) => choice.finish_reason !== null).length, 1);
      assert.equal(mine.at(-1)!.finish_reason, 'length');
      assert.equal(contentOf(chunks, index), reply.choices[index]!.message.content, 'streamed choices equal the collected ones');
    }
  });

  test('logprobs: one entry per generated token, logprob <= 0, bytes, top_logprobs of the asked length', async () => {
    const sampled = new Map<number, Array<[string, number]>>();
    for (const top of [0, 1, 5]) {
      const reply = await client.chat.completions.create({
        model: MODEL,
        messages: ask('Say a few words'),
        max_tokens: 20,
        seed: 21,
        logprobs: true,
        top_logprobs: top,
      });
      const choice = reply.choices[0]!;
      const content = choice.logprobs!.content!;
      assert.equal(content.length, reply.usage!.completion_tokens, 'one entry per completion token');
      for (const entry of content) {
        assert.equal(typeof entry.token, 'string');
        assert.ok(entry.logprob <= 0 && Number.isFinite(entry.logprob), `logprob ${entry.logprob}`);
        assert.ok(Array.isArray(entry.bytes) && entry.bytes.every((byte) => Number.isInteger(byte) && byte >= 0 && byte <= 255));
        if (!entry.token.includes('\uFFFD')) assert.deepEqual(entry.bytes, [...Buffer.from(entry.token)]);
        assert.equal(entry.top_logprobs.length, top);
        for (let i = 0; i < entry.top_logprobs.length; i++) {
          const alternative = entry.top_logprobs[i]!;
          assert.ok(alternative.logprob <= 0);
          assert.equal(typeof alternative.token, 'string');
          if (i > 0) assert.ok(alternative.logprob <= entry.top_logprobs[i - 1]!.logprob, 'sorted, most likely first');
        }
        // The most likely alternative is at least as likely as the sampled token.
        if (top > 0) assert.ok(entry.top_logprobs[0]!.logprob >= entry.logprob - 1e-9);
      }
      if (!choice.message.content!.includes('\uFFFD')) {
        assert.equal(content.map((entry) => entry.token).join(''), choice.message.content, 'the tokens spell the content');
      }
      sampled.set(top, content.map((entry) => [entry.token, entry.logprob]));
    }
    // Without alternatives the engine reports the sampled token's probability alone (it never hands
    // over the distribution): the same tokens and the same logprobs as with them.
    for (const top of [1, 5]) {
      const [without, withAlternatives] = [sampled.get(0)!, sampled.get(top)!];
      assert.deepEqual(without.map(([token]) => token), withAlternatives.map(([token]) => token));
      without.forEach(([, logprob], i) => assert.ok(Math.abs(logprob - withAlternatives[i]![1]) < 1e-5, `token ${i}: ${logprob} vs ${withAlternatives[i]![1]}`));
    }
    // Streamed: the same entries, spread over the content chunks.
    const request = { model: MODEL, messages: ask('Say a few words'), max_tokens: 20, seed: 21, logprobs: true, top_logprobs: 2 } as const;
    const whole = await client.chat.completions.create(request);
    const chunks = (await collect(await client.chat.completions.create({ ...request, stream: true }))).map((item) => item.chunk);
    const streamed = chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.logprobs?.content ?? []));
    assert.deepEqual(streamed, whole.choices[0]!.logprobs!.content);
  });

  test('without top_k every token of the vocabulary stays in the draw (no engine default of 40); top_k cuts it', async () => {
    // At temperature 2 the random model's distribution is nearly flat over its 3,076 tokens, so the
    // 20 likeliest hold a few percent of it. Cut to 40 candidates (node-llama-cpp's default when
    // top-k is left undefined), the 20 likeliest of them would hold at least half.
    const shareOfTop20 = async (extra: object) => {
      const reply = await client.chat.completions.create({
        model: MODEL,
        messages: ask('Say a few words'),
        max_tokens: 12,
        temperature: 2,
        seed: 5,
        logprobs: true,
        top_logprobs: 20,
        ...extra,
      } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      return reply.choices[0]!.logprobs!.content!.map((entry) => entry.top_logprobs.reduce((sum, alternative) => sum + Math.exp(alternative.logprob), 0));
    };
    const whole = await shareOfTop20({});
    assert.ok(whole.length > 0);
    for (const share of whole) assert.ok(share < 0.5, `the 20 likeliest tokens hold ${share} of the draw`);
    const cut = await shareOfTop20({ top_k: 40 });
    for (const share of cut) assert.ok(share >= 0.5 - 1e-9, `with top_k 40 the 20 likeliest hold ${share}`);
  });

  // The test model spells anything non-ASCII with byte tokens <0x00>..<0xFF> (ids 3..258). Biasing
  // the two bytes of "é" (C3 A9) makes it write runs of them: whole "é"s and stray bytes.
  const eAcuteRequest = {
    model: MODEL,
    messages: ask('Write'),
    max_tokens: 24,
    seed: 1,
    logprobs: true,
    logit_bias: { [String(3 + 0xc3)]: 100, [String(3 + 0xa9)]: 100 },
  } as const;

  test('logprobs bytes of byte-fallback tokens are their raw bytes, so joined they rebuild characters', async () => {
    // OpenAI: `bytes` exists so that a character split over several tokens can be rebuilt by
    // joining the bytes. A lone byte token decodes to U+FFFD; its `bytes` must still be its byte.
    // C3 is far likelier than A9 to this model (~97%), so a given seed may draw no C3 A9 pair at
    // all: a few seeds are tried, and at least one must spell an "é".
    let pairsSeen = 0;
    for (let seed = 1; seed <= 8 && pairsSeen === 0; seed++) {
      const reply = await client.chat.completions.create({ ...eAcuteRequest, seed });
      const entries = reply.choices[0]!.logprobs!.content!;
      assert.equal(entries.length, 24);
      for (const entry of entries) {
        assert.equal(entry.token, '\uFFFD', 'only the two biased byte tokens were generated');
        assert.equal(entry.bytes!.length, 1);
        assert.ok(entry.bytes![0] === 0xc3 || entry.bytes![0] === 0xa9, `byte ${entry.bytes![0]}`);
      }
      const rebuilt = Buffer.from(entries.flatMap((entry) => entry.bytes!)).toString('utf8');
      const pairs = entries.filter((entry, i) => entry.bytes![0] === 0xc3 && entries[i + 1]?.bytes![0] === 0xa9).length;
      assert.equal([...rebuilt].filter((c) => c === 'é').length, pairs, 'every C3 A9 pair is an "é"');
      if (pairs > 0) assert.match(reply.choices[0]!.message.content!, /é/);
      pairsSeen += pairs;
    }
    assert.ok(pairsSeen > 0, 'some seed drew a C3 A9 pair');
  });

  test(
    'content is the UTF-8 decoding of the generated bytes, even after a run of broken bytes',
    async () => {
      const reply = await client.chat.completions.create(eAcuteRequest);
      const bytes = Buffer.from(reply.choices[0]!.logprobs!.content!.flatMap((entry) => entry.bytes!));
      assert.equal(reply.choices[0]!.message.content, bytes.toString('utf8'));
    },
  );

  test('usage counts equal the model tokenizer: prompt by rendering the template, completion by streamed tokens', async () => {
    const conversations: ChatCompletionMessageParam[][] = [
      ask('the people would like to know'),
      [{ role: 'system', content: 'You are terse.' }, ...ask('Hi!')],
      [...ask('Hello'), { role: 'assistant', content: 'Hello, how can I help?' }, ...ask('Tell me — café, 日本語 🙂')],
      [{ role: 'developer', content: 'Answer in one word.' }, ...ask('What now?\n\nReally?')],
    ];
    for (const messages of conversations) {
      const expected = reference.promptTokens(messages.map((m) => (m.role === 'developer' ? { ...m, role: 'system' } : m)));
      const reply = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 8, seed: 1, logprobs: true });
      assert.equal(reply.usage!.prompt_tokens, expected, JSON.stringify(messages));
      assert.equal(reply.usage!.completion_tokens, reply.choices[0]!.logprobs!.content!.length);
      assert.equal(reply.usage!.total_tokens, reply.usage!.prompt_tokens + reply.usage!.completion_tokens);
    }
    // A cross-check that needs no template: after a word, each extra " the" is one token (▁the) of
    // this vocabulary, so fifty of them add exactly fifty prompt tokens.
    const base = await client.chat.completions.create({ model: MODEL, messages: ask('x'), max_tokens: 1 });
    const longer = await client.chat.completions.create({ model: MODEL, messages: ask(`x${' the'.repeat(50)}`), max_tokens: 1 });
    assert.equal(longer.usage!.prompt_tokens - base.usage!.prompt_tokens, 50);

    // Streamed, completion_tokens equals the number of token logprobs that went by.
    const chunks = (await collect(await client.chat.completions.create({
      model: MODEL, messages: ask('Go on'), max_tokens: 30, seed: 4, logprobs: true, stream: true, stream_options: { include_usage: true },
    }))).map((item) => item.chunk);
    const tokens = chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.logprobs?.content ?? [])).length;
    const usage = chunks.at(-1)!.usage!;
    assert.equal(usage.completion_tokens, tokens);
    assert.equal(usage.prompt_tokens, reference.promptTokens(ask('Go on')));
  });

  test('KV cache: the next turn of a conversation reports cached prompt tokens', async () => {
    const history: ChatCompletionMessageParam[] = [{ role: 'system', content: 'You answer with random words.' }, ...ask('A long first question about rivers and mountains')];
    const first = await client.chat.completions.create({ model: MODEL, messages: history, max_tokens: 10, seed: 2 });
    const secondTurn: ChatCompletionMessageParam[] = [...history, first.choices[0]!.message as ChatCompletionMessageParam, ...ask('And then?')];
    const second = await client.chat.completions.create({ model: MODEL, messages: secondTurn, max_tokens: 10, seed: 2 });
    const cached = second.usage!.prompt_tokens_details!.cached_tokens!;
    // At least the whole first prompt is reused (a couple of tokens of slack where the reply's text
    // re-tokenizes differently from the tokens that were generated).
    assert.ok(cached >= first.usage!.prompt_tokens - 2, `cached ${cached} of first prompt ${first.usage!.prompt_tokens}`);
    assert.ok(cached < second.usage!.prompt_tokens);

    // Reusing the cache does not change what is sampled: the same second turn again, now cached
    // all but its last token, gives the same text.
    const streamed = await client.chat.completions.create({ model: MODEL, messages: secondTurn, max_tokens: 10, seed: 2, stream: true, stream_options: { include_usage: true } });
    const chunks = (await collect(streamed)).map((item) => item.chunk);
    assert.equal(contentOf(chunks), second.choices[0]!.message.content);
    assert.ok(chunks.at(-1)!.usage!.prompt_tokens_details!.cached_tokens! >= second.usage!.prompt_tokens - 1, 'the identical prompt is all cached but the last token');
  });

  test("Responses truncation 'auto' drops the oldest turns until the conversation fits; 'disabled' (the default) is a 400", async () => {
    const instructions = 'Answer briefly.';
    const turns: ChatCompletionMessageParam[] = Array.from({ length: 6 }, (_, index) => ({
      role: index % 2 === 0 ? ('user' as const) : ('assistant' as const),
      content: `${index}${' the'.repeat(250)}`,
    }));
    const all: ChatCompletionMessageParam[] = [{ role: 'system', content: instructions }, ...turns];
    assert.ok(reference.promptTokens(all) > 1024);
    const body = { model: MODEL, instructions, input: turns as never, max_output_tokens: 16 };
    await assert.rejects(client.responses.create(body), (error: InstanceType<typeof OpenAI.APIError>) => error.status === 400 && error.code === 'context_length_exceeded');

    const response = await client.responses.create({ ...body, truncation: 'auto' });
    assert.equal(response.truncation, 'auto');
    // The random model runs to max_output_tokens (incomplete) or ends sooner: either way it answered.
    assert.ok(response.status === 'completed' || response.incomplete_details?.reason === 'max_output_tokens', response.status);
    assert.ok(response.usage!.output_tokens > 0);
    const inputTokens = response.usage!.input_tokens;
    assert.ok(inputTokens + 16 < 1024, `${inputTokens} input tokens leave room for the reply`);
    // What was kept is the instructions and the newest turns, oldest dropped first.
    const kept = [1, 2, 3, 4, 5].map((drop) => [all[0]!, ...turns.slice(drop)]).find((messages) => reference.promptTokens(messages) === inputTokens);
    assert.ok(kept, `${inputTokens} input tokens match the instructions plus the newest turns`);
  });

  test('a prompt longer than the context is a 400 context_length_exceeded before any work', async () => {
    const messages = ask(' the'.repeat(1100));
    const expected = reference.promptTokens(messages);
    assert.ok(expected > 1024);
    for (const stream of [false, true]) {
      const started = performance.now();
      await assert.rejects(client.chat.completions.create({ model: MODEL, messages, max_tokens: 5, stream }), (error: InstanceType<typeof OpenAI.APIError>) => {
        assert.equal(error.status, 400);
        assert.equal(error.code, 'context_length_exceeded');
        assert.equal(error.type, 'invalid_request_error');
        assert.equal(error.param, 'messages');
        assert.match(error.message, new RegExp(`\\b${expected}\\b`), 'names the prompt size');
        assert.match(error.message, /\b1024\b/, 'names the context size');
        return true;
      });
      // Well under the time one generation of the 1,100-token prompt would take.
      assert.ok(performance.now() - started < 1000, `took ${(performance.now() - started).toFixed(0)} ms`);
    }
    // Exactly the context size is refused too (no room for a single generated token); one less is served.
    const atLimit = ask(`x${' the'.repeat(1024 - reference.promptTokens(ask('x')))}`);
    assert.equal(reference.promptTokens(atLimit), 1024);
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: atLimit, max_tokens: 1 }), { status: 400 });
    const fits = ask(`x${' the'.repeat(1023 - reference.promptTokens(ask('x')))}`);
    // No max_tokens: the reply may run to the context's end (an asked one that cannot fit is a 400,
    // engine-request-checks.test.ts).
    const reply = await client.chat.completions.create({ model: MODEL, messages: fits, seed: 1 });
    assert.equal(reply.usage!.prompt_tokens, 1023);
    assert.equal(reply.usage!.completion_tokens, 1, 'the context leaves room for one token');
    assert.equal(reply.choices[0]!.finish_reason, 'length');
  });
});
