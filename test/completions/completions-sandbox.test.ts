// Legacy completions (`POST /v1/completions`) against the sandbox, with the official SDK's
// `completions.create`, streamed and not: prompt forms, echo, stop, n, logprobs, max_tokens,
// usage, include_usage, and OpenAI's 400s with `param` for bad input.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from 'openai';
import type { Completion } from 'openai/resources/completions';
import { encode } from 'gpt-tokenizer';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { specValidator } from '../helpers/openai-spec.js';
import type { CallSummary } from '../../src/gateway/gateway.js';

const validateResponse = specValidator('CreateCompletionResponse');
const validateError = specValidator('ErrorResponse');

/** Joins a stream's events per choice index, as a client would. */
function joinStream(events: readonly Completion[]): { texts: Map<number, string>; finishes: Map<number, string>; usage: Completion['usage'][] } {
  const texts = new Map<number, string>();
  const finishes = new Map<number, string>();
  const usage: Completion['usage'][] = [];
  for (const event of events) {
    if (event.usage) usage.push(event.usage);
    for (const choice of event.choices) {
      texts.set(choice.index, (texts.get(choice.index) ?? '') + choice.text);
      if (choice.finish_reason) finishes.set(choice.index, choice.finish_reason);
    }
  }
  return { texts, finishes, usage };
}

describe('legacy completions on the sandbox', () => {
  let server: RunningServer;
  const calls: CallSummary[] = [];

  before(async () => {
    server = await startServer({}, { onCallEnd: (summary) => calls.push(summary) });
  });
  after(async () => {
    await server?.close();
  });

  test('a completion has OpenAI\'s shape: cmpl- id, text_completion, choices, usage', async () => {
    const completion = await server.client().completions.create({ model: 'echo', prompt: 'Say this is a test' });
    assert.deepEqual(validateResponse(completion), []);
    assert.match(completion.id, /^cmpl-/);
    assert.equal(completion.object, 'text_completion');
    assert.equal(completion.model, 'sandbox/echo');
    assert.equal(completion.choices.length, 1);
    assert.equal(completion.choices[0]!.text, ' Say this is a test');
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
    assert.equal(completion.choices[0]!.logprobs, null);
    assert.deepEqual(completion.usage, { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });
  });

  test('max_tokens defaults to 16: a longer continuation finishes with length', async () => {
    const completion = await server.client().completions.create({ model: 'lorem', prompt: 'Once upon a time', seed: 3 });
    assert.equal(completion.choices[0]!.finish_reason, 'length');
    assert.equal(completion.usage!.completion_tokens, 16);
    assert.equal(encode(completion.choices[0]!.text).length, 16);
    const shorter = await server.client().completions.create({ model: 'lorem', prompt: 'Once upon a time', seed: 3, max_tokens: 5 });
    assert.equal(shorter.usage!.completion_tokens, 5);
    assert.ok(completion.choices[0]!.text.startsWith(shorter.choices[0]!.text));
  });

  test('seeds are int64, as on chat: 2^60 is a seed, and the same seed the same text', async () => {
    const ask = () => server.client().completions.create({ model: 'lorem', prompt: 'Once', seed: 2 ** 60, max_tokens: 8 });
    const [first, second] = [await ask(), await ask()];
    assert.equal(first.choices[0]!.text, second.choices[0]!.text);
  });

  test('echo puts the prompt before the completion', async () => {
    const completion = await server.client().completions.create({ model: 'echo', prompt: 'ping', echo: true });
    assert.equal(completion.choices[0]!.text, 'ping ping');
  });

  test('stop cuts the text before the stop sequence, which is never returned', async () => {
    const completion = await server.client().completions.create({ model: 'echo', prompt: 'alpha beta gamma', stop: [' gamma', 'zzz'] });
    assert.equal(completion.choices[0]!.text, ' alpha beta');
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
    // An empty stop string is no stop sequence.
    const empty = await server.client().completions.create({ model: 'echo', prompt: 'alpha beta gamma', stop: ['', ' gamma'] });
    assert.equal(empty.choices[0]!.text, ' alpha beta');
    assert.equal((await server.client().completions.create({ model: 'echo', prompt: 'alpha beta gamma', stop: '' })).choices[0]!.text, ' alpha beta gamma');
  });

  test('n choices per prompt, numbered prompt × n + choice; usage sums them', async () => {
    const completion = await server.client().completions.create({ model: 'lorem', prompt: ['first', 'second'], n: 2, max_tokens: 3 });
    assert.deepEqual(completion.choices.map((choice) => choice.index), [0, 1, 2, 3]);
    assert.notEqual(completion.choices[0]!.text, completion.choices[1]!.text);
    assert.equal(completion.usage!.prompt_tokens, 2);
    assert.equal(completion.usage!.completion_tokens, 12);
    assert.deepEqual(validateResponse(completion), []);
  });

  test('token prompts: an array of tokens and an array of token arrays', async () => {
    const one = await server.client().completions.create({ model: 'echo', prompt: encode('hello there') });
    assert.equal(one.choices[0]!.text, ' hello there');
    assert.equal(one.usage!.prompt_tokens, 2);
    const two = await server.client().completions.create({ model: 'echo', prompt: [encode('one'), encode('two three')] });
    assert.deepEqual(two.choices.map((choice) => choice.text), [' one', ' two three']);
  });

  test('logprobs (integer form): tokens, token_logprobs, top_logprobs, text_offset', async () => {
    const prompt = 'Once upon';
    const completion = await server.client().completions.create({ model: 'lorem', prompt, logprobs: 2, max_tokens: 6, seed: 1 });
    const choice = completion.choices[0]!;
    const logprobs = choice.logprobs!;
    assert.equal(logprobs.tokens!.length, 6);
    assert.equal(logprobs.tokens!.join(''), choice.text);
    assert.equal(logprobs.token_logprobs!.length, 6);
    assert.equal(logprobs.top_logprobs!.length, 6);
    assert.equal(logprobs.text_offset!.length, 6);
    assert.equal(logprobs.text_offset![0], prompt.length);
    for (const [i, top] of logprobs.top_logprobs!.entries()) {
      assert.ok(Object.keys(top).length <= 3, 'at most logprobs + 1 entries');
      assert.equal(top[logprobs.tokens![i]!], logprobs.token_logprobs![i], 'the sampled token is listed');
      assert.ok(logprobs.token_logprobs![i]! <= 0);
      if (i > 0) assert.equal(logprobs.text_offset![i], logprobs.text_offset![i - 1]! + logprobs.tokens![i - 1]!.length);
    }
    assert.deepEqual(validateResponse(completion), []);
  });

  test('streamed: events of the same shape, the same text as not streamed, [DONE]-terminated', async () => {
    const request = { model: 'lorem', prompt: 'In the beginning', n: 2, max_tokens: 10, seed: 9 } as const;
    const whole = await server.client().completions.create(request);
    const events: Completion[] = [];
    for await (const event of await server.client().completions.create({ ...request, stream: true })) events.push(event);
    for (const event of events) {
      assert.equal(event.object, 'text_completion');
      assert.equal(event.id, events[0]!.id);
      assert.match(event.id, /^cmpl-/);
    }
    const joined = joinStream(events);
    assert.deepEqual([...joined.texts.entries()].sort(), whole.choices.map((choice) => [choice.index, choice.text]));
    assert.deepEqual([...joined.finishes.values()], ['length', 'length']);
    assert.equal(joined.usage.length, 0, 'no usage event unless asked');
    assert.ok(events.every((event) => !('usage' in event)), 'no "usage": null either');
    const raw = await fetch(`${server.baseURL}/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify({ ...request, stream: true }),
    });
    assert.match(raw.headers.get('content-type')!, /^text\/event-stream/);
    assert.ok((await raw.text()).endsWith('data: [DONE]\n\n'));
  });

  test('streamed with include_usage: every event has usage null, then one usage event with no choices', async () => {
    const events: Completion[] = [];
    const stream = await server.client().completions.create({ model: 'echo', prompt: 'a b c', stream: true, stream_options: { include_usage: true } });
    for await (const event of stream) events.push(event);
    const last = events.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 });
    for (const event of events.slice(0, -1)) assert.equal(event.usage, null);
  });

  test('streamed with echo: the prompt comes first', async () => {
    const events: Completion[] = [];
    for await (const event of await server.client().completions.create({ model: 'echo', prompt: 'hi there', echo: true, stream: true })) events.push(event);
    assert.equal(events[0]!.choices[0]!.text, 'hi there');
    assert.equal(joinStream(events).texts.get(0), 'hi there hi there');
  });

  test('the call is reported to onCallEnd with its usage and route', async () => {
    calls.length = 0;
    await server.client().completions.create({ model: 'echo', prompt: 'count me' });
    const summary = calls.at(-1)!;
    assert.equal(summary.status, 'completed');
    assert.equal(summary.route, 'sandbox/echo');
    assert.equal(summary.usage!.total_tokens, 4);
  });

  test('bad input is a 400 in OpenAI\'s shape naming the param', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ prompt: 'x' }, 'model'],
      [{ model: 'echo', prompt: 5 }, 'prompt'],
      [{ model: 'echo', prompt: [[1, -2]] }, 'prompt[0][1]'],
      [{ model: 'echo', prompt: 'x', max_tokens: -1 }, 'max_tokens'],
      [{ model: 'echo', prompt: 'x', logprobs: 6 }, 'logprobs'],
      [{ model: 'echo', prompt: 'x', n: 0 }, 'n'],
      [{ model: 'echo', prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      [{ model: 'echo', prompt: 'x', temperature: 3 }, 'temperature'],
      [{ model: 'echo', prompt: 'x', stream_options: { include_usage: true } }, 'stream_options'],
      [{ model: 'echo', prompt: 'x', best_of: 1, n: 2 }, 'best_of'],
      [{ model: 'echo', prompt: 'x', echo: true, logprobs: 1 }, 'echo'],
      [{ model: 'echo', prompt: [] }, 'prompt'],
    ];
    for (const [body, param] of cases) {
      const response = await fetch(`${server.baseURL}/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 400, JSON.stringify(body));
      const error = (await response.json()) as { error: { type: string; param: string } };
      assert.deepEqual(validateError(error), []);
      assert.equal(error.error.type, 'invalid_request_error');
      assert.equal(error.error.param, param, JSON.stringify(body));
    }
    await assert.rejects(server.client().completions.create({ model: 'echo', prompt: 'x', top_p: 2 }), (error: unknown) => {
      assert.ok(error instanceof BadRequestError);
      assert.equal(error.param, 'top_p');
      return true;
    });
  });

  test('an unknown model is a 404 model_not_found', async () => {
    const response = await fetch(`${server.baseURL}/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify({ model: 'nope', prompt: 'x' }),
    });
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'model_not_found');
  });
});
