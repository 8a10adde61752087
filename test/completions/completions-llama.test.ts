// Legacy completions on the embedded engine with the generated tiny model: raw text continued
// without any chat template, through the same token loop as chat. The model writes random words;
// these tests judge the plumbing (echo, stop, n, logprobs, max_tokens, usage), never the text.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type OpenAI from 'openai';
import type { Completion } from 'openai/resources/completions';
import { ReferenceTokenizer, startLlamaServer, type LlamaTestServer } from '../helpers/llama-server.js';
import { specValidator } from '../helpers/openai-spec.js';

const MODEL = 'local/tiny';
const validateResponse = specValidator('CreateCompletionResponse');

describe('legacy completions on the local engine', () => {
  let running: LlamaTestServer;
  let client: OpenAI;
  let reference: ReferenceTokenizer;
  let eos: number;

  before(async () => {
    running = await startLlamaServer([{ id: 'tiny', contextSize: 1024, threads: 1 }]);
    client = running.client;
    reference = await ReferenceTokenizer.load(running.modelFile);
    eos = reference.model.tokens.eos!;
  });
  after(async () => {
    await reference?.dispose();
    await running?.close();
  });

  /** Prompt tokens as llama.cpp counts a raw prompt: specials read, BOS prepended when the model asks. */
  function promptTokens(text: string): number {
    const tokens = reference.model.tokenize(text, true);
    const bos = reference.model.tokens.bos;
    return tokens.length + (bos !== null && reference.model.tokens.shouldPrependBosToken && tokens[0] !== bos ? 1 : 0);
  }

  test('max_tokens defaults to 16: finish length, 16 completion tokens, exact prompt tokens', async () => {
    // The end-of-generation token banned, so that only the limit can end it.
    const completion = await client.completions.create({ model: MODEL, prompt: 'The river runs', seed: 1, logit_bias: { [eos]: -100 } });
    assert.deepEqual(validateResponse(completion), []);
    assert.match(completion.id, /^cmpl-/);
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.model, MODEL);
    assert.equal(completion.choices[0]!.finish_reason, 'length');
    assert.equal(completion.usage!.completion_tokens, 16);
    assert.equal(completion.usage!.prompt_tokens, promptTokens('The river runs'));
    assert.equal(completion.usage!.total_tokens, completion.usage!.prompt_tokens + 16);
  });

  test('streamed and not, the same seed gives the same text; include_usage ends with the usage event', async () => {
    const request = { model: MODEL, prompt: 'Once upon a time', max_tokens: 12, temperature: 0.8, seed: 5 } as const;
    const whole = await client.completions.create(request);
    const events: Completion[] = [];
    for await (const event of await client.completions.create({ ...request, stream: true, stream_options: { include_usage: true } })) events.push(event);
    const text = events.flatMap((event) => event.choices.map((choice) => choice.text)).join('');
    assert.equal(text, whole.choices[0]!.text);
    assert.deepEqual(events.at(-1)!.choices, []);
    assert.deepEqual(events.at(-1)!.usage!.completion_tokens, whole.usage!.completion_tokens);
    for (const event of events.slice(0, -1)) assert.equal(event.usage, null);
  });

  test('echo puts the prompt first; a token prompt continues the same as its text', async () => {
    const prompt = 'A quiet morning';
    const plain = await client.completions.create({ model: MODEL, prompt, max_tokens: 6, temperature: 0 });
    const echoed = await client.completions.create({ model: MODEL, prompt, max_tokens: 6, temperature: 0, echo: true });
    assert.equal(echoed.choices[0]!.text, prompt + plain.choices[0]!.text);
    const tokens = [...reference.model.tokenize(prompt, true)];
    const bos = reference.model.tokens.bos;
    if (bos !== null && reference.model.tokens.shouldPrependBosToken) tokens.unshift(bos);
    const fromTokens = await client.completions.create({ model: MODEL, prompt: tokens as number[], max_tokens: 6, temperature: 0 });
    assert.equal(fromTokens.choices[0]!.text, plain.choices[0]!.text);
  });

  test('stop: the text ends before the stop sequence, with finish stop', async () => {
    const request = { model: MODEL, prompt: 'Tell a story', max_tokens: 30, temperature: 0, logit_bias: { [eos]: -100 } } as const;
    const free = (await client.completions.create(request)).choices[0]!.text;
    // A stop sequence from the middle of what the model writes greedily.
    const at = Math.floor(free.length / 2);
    const stop = free.slice(at, at + 3);
    const cut = free.indexOf(stop);
    const stopped = await client.completions.create({ ...request, stop });
    assert.equal(stopped.choices[0]!.text, free.slice(0, cut));
    assert.equal(stopped.choices[0]!.finish_reason, 'stop');
  });

  test('n choices for each prompt, numbered prompt × n + choice', async () => {
    const completion = await client.completions.create({ model: MODEL, prompt: ['one', 'two'], n: 2, max_tokens: 4, temperature: 1, seed: 3 });
    assert.deepEqual(completion.choices.map((choice) => choice.index), [0, 1, 2, 3]);
    assert.equal(completion.usage!.prompt_tokens, promptTokens('one') + promptTokens('two'));
    assert.ok(completion.usage!.completion_tokens <= 16);
    assert.deepEqual(validateResponse(completion), []);
  });

  test('logprobs (integer form): tokens, token_logprobs, top_logprobs, text_offset', async () => {
    const prompt = 'Numbers:';
    const completion = await client.completions.create({ model: MODEL, prompt, max_tokens: 8, logprobs: 3, seed: 2, logit_bias: { [eos]: -100 } });
    const choice = completion.choices[0]!;
    const logprobs = choice.logprobs!;
    assert.equal(logprobs.tokens!.length, 8);
    assert.equal(logprobs.tokens!.join(''), choice.text);
    assert.equal(logprobs.token_logprobs!.length, 8);
    assert.equal(logprobs.top_logprobs!.length, 8);
    assert.deepEqual(logprobs.text_offset![0], prompt.length);
    for (const [i, top] of logprobs.top_logprobs!.entries()) {
      assert.ok(Object.keys(top).length >= 1 && Object.keys(top).length <= 4);
      assert.ok(logprobs.token_logprobs![i]! <= 0);
      assert.equal(top[logprobs.tokens![i]!], logprobs.token_logprobs![i]);
      if (i > 0) assert.equal(logprobs.text_offset![i], logprobs.text_offset![i - 1]! + logprobs.tokens![i - 1]!.length);
    }
    assert.deepEqual(validateResponse(completion), []);
  });

  test('logprobs of byte tokens: named bytes:\\xNN, distinct in top_logprobs, offsets in characters of the text', async () => {
    // The test model spells "é" (C3 A9) with two byte tokens (ids 3 + byte); biased, it writes runs of them.
    const prompt = 'Write';
    const completion = await client.completions.create({
      model: MODEL,
      prompt,
      max_tokens: 12,
      logprobs: 2,
      seed: 1,
      logit_bias: { [String(3 + 0xc3)]: 100, [String(3 + 0xa9)]: 100, [eos]: -100 },
    });
    const choice = completion.choices[0]!;
    const { tokens, top_logprobs: tops, text_offset: offsets } = choice.logprobs! as Required<NonNullable<typeof choice.logprobs>>;
    const byteNames = tokens.filter((token) => token.startsWith('bytes:'));
    assert.ok(byteNames.length > 0, 'some tokens were single bytes');
    assert.ok(!tokens.some((token) => token.includes('\uFFFD')), 'no token is named by a replacement character');
    // The tokens' bytes, joined, are the text.
    const bytes = tokens.flatMap((token) =>
      token.startsWith('bytes:') ? token.slice(6).split('\\x').filter(Boolean).map((hex) => Number.parseInt(hex, 16)) : [...Buffer.from(token)],
    );
    assert.equal(Buffer.from(bytes).toString('utf8'), choice.text);
    for (const [i, top] of tops.entries()) {
      assert.equal(top[tokens[i]!], choice.logprobs!.token_logprobs![i], `token ${i} is among its top_logprobs`);
      assert.ok(Object.keys(top).length >= 2, `token ${i}: its alternatives keep distinct names`);
      assert.ok(offsets[i]! >= prompt.length && offsets[i]! <= prompt.length + choice.text.length);
      if (i > 0) assert.ok(offsets[i]! >= offsets[i - 1]!);
    }
  });

  test('what the engine cannot do is a clear 400: suffix without FIM tokens, echo with logprobs, a prompt over the context', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ suffix: 'end' }, 'suffix', 'unsupported_parameter'],
      [{ echo: true, logprobs: 1 }, 'echo', 'unsupported_parameter'],
      [{ prompt: [999_999] }, 'prompt', 'invalid_value'],
      [{ prompt: 'word '.repeat(1100) }, 'prompt', 'context_length_exceeded'],
    ];
    for (const [extra, param, code] of cases) {
      const response = await fetch(`${running.server.baseURL}/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
        body: JSON.stringify({ model: MODEL, prompt: 'x', ...extra }),
      });
      assert.equal(response.status, 400, JSON.stringify(extra));
      const { error } = (await response.json()) as { error: { param: string; code: string } };
      assert.equal(error.param, param);
      assert.equal(error.code, code);
    }
  });
});
