import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { FAKE_API_KEY, startFakeAnthropic, type FakeAnthropic } from '../helpers/fake-anthropic-server.js';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { startHarness, type AnthropicHarness } from './setup.js';

const USER = [{ role: 'user' as const, content: 'Hello there.' }];

let harness: AnthropicHarness;
before(async () => {
  harness = await startHarness();
});
after(async () => harness?.close());
beforeEach(() => harness.fake.reset());

async function failure(stream: boolean): Promise<APIError> {
  try {
    if (stream) await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER, stream: true });
    else await harness.server.client().chat.completions.create({ model: 'claude-test', messages: USER });
  } catch (error) {
    assert.ok(error instanceof APIError, String(error));
    return error;
  }
  throw new Error('the call did not fail');
}

describe('anthropic errors: statuses', () => {
  const cases: Array<{
    status: number;
    type: string;
    message: string;
    headers?: Record<string, string>;
    expected: { status: number; code: string; passesMessage: boolean; retryAfter?: string; param?: string | null };
  }> = [
    { status: 400, type: 'invalid_request_error', message: 'messages.0.content: field required', expected: { status: 400, code: 'upstream_invalid_request', passesMessage: true, param: null } },
    // Anthropic's two ways of saying the conversation does not fit: OpenAI's code for it, which clients look for.
    { status: 400, type: 'invalid_request_error', message: 'prompt is too long: 208310 tokens > 200000 maximum', expected: { status: 400, code: 'context_length_exceeded', passesMessage: true, param: 'messages' } },
    {
      status: 400,
      type: 'invalid_request_error',
      message: 'input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, decrease input length or `max_tokens` and try again',
      expected: { status: 400, code: 'context_length_exceeded', passesMessage: true, param: 'messages' },
    },
    {
      status: 402,
      type: 'billing_error',
      message: 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
      expected: { status: 502, code: 'upstream_auth_failed', passesMessage: false },
    },
    // What Anthropic really sends for an account out of credits: a 400, not a 402. It is Switchyard's account, not the client's request.
    {
      status: 400,
      type: 'invalid_request_error',
      message: 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
      expected: { status: 502, code: 'upstream_auth_failed', passesMessage: false },
    },
    { status: 401, type: 'authentication_error', message: 'invalid x-api-key', expected: { status: 502, code: 'upstream_auth_failed', passesMessage: false } },
    { status: 403, type: 'permission_error', message: 'no access', expected: { status: 502, code: 'upstream_auth_failed', passesMessage: false } },
    { status: 404, type: 'not_found_error', message: 'model: claude-nope', expected: { status: 404, code: 'model_not_found', passesMessage: true } },
    { status: 429, type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit', headers: { 'retry-after': '7' }, expected: { status: 429, code: 'rate_limit_exceeded', passesMessage: true, retryAfter: '7' } },
    { status: 529, type: 'overloaded_error', message: 'Overloaded', headers: { 'retry-after': '3' }, expected: { status: 503, code: 'upstream_unavailable', passesMessage: false, retryAfter: '3' } },
    { status: 500, type: 'api_error', message: 'Internal secret detail', expected: { status: 502, code: 'upstream_error', passesMessage: false } },
    { status: 504, type: 'timeout_error', message: 'Request timed out', expected: { status: 504, code: 'upstream_timeout', passesMessage: false } },
  ];
  for (const { status, type, message, headers, expected } of cases) {
    for (const stream of [false, true]) {
      test(`${status} ${type} (${message.slice(0, 24)}…) → ${expected.status} ${expected.code}${stream ? ' (stream)' : ''}`, async () => {
        harness.fake.reply({ kind: 'error', status, type, message, ...(headers ? { headers } : {}) });
        const error = await failure(stream);
        assert.equal(error.status, expected.status);
        assert.equal(error.code, expected.code);
        if (expected.passesMessage) assert.equal(error.message.replace(/^\d+ /, ''), message);
        else assert.ok(!error.message.includes(message), `the upstream's message is not relayed: ${error.message}`);
        if (expected.retryAfter) assert.equal(error.headers?.get('retry-after'), expected.retryAfter);
        if (expected.param !== undefined) assert.equal(error.param, expected.param);
        // Switchyard's own credentials or billing: the SDKs' automatic retries of a 5xx cannot help.
        assert.equal(error.headers?.get('x-should-retry') ?? null, expected.code === 'upstream_auth_failed' ? 'false' : null);
      });
    }
  }
});

describe('anthropic errors: an error event inside a 200 stream is mapped by its type', () => {
  const cases: Array<{ type: string; status: number; code: string }> = [
    { type: 'overloaded_error', status: 503, code: 'upstream_unavailable' },
    { type: 'timeout_error', status: 504, code: 'upstream_timeout' },
    { type: 'api_error', status: 502, code: 'upstream_error' },
    { type: 'billing_error', status: 502, code: 'upstream_auth_failed' },
    // A type named like an Object.prototype key is an unknown type, not the key's value.
    { type: 'constructor', status: 502, code: 'upstream_error' },
  ];
  for (const { type, status, code } of cases) {
    test(`${type}: before the first chunk a ${status} ${code}; after it, the stream's last event`, async () => {
      harness.fake.reply({ kind: 'transcript', name: 'error-first', options: { errorType: type } });
      const error = await failure(true);
      assert.equal(error.status, status);
      assert.equal(error.code, code);

      harness.fake.reply({ kind: 'transcript', name: 'error-mid-stream', options: { errorType: type } });
      const response = await fetch(`${harness.server.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
        body: JSON.stringify({ model: 'claude-test', messages: USER, stream: true }),
      });
      assert.equal(response.status, 200);
      const events = (await response.text()).split('\n\n').filter((event) => event.startsWith('data: '));
      assert.equal(JSON.parse(events.at(-1)!.slice(6)).error.code, code);
    });
  }
});

describe('anthropic errors: failures of Switchyard\'s side move an alias on to its next target', () => {
  let fake: FakeAnthropic;
  let server: RunningServer;
  before(async () => {
    fake = await startFakeAnthropic();
    server = await startServer({
      providers: [{ kind: 'anthropic', baseURL: fake.origin, apiKey: FAKE_API_KEY, models: ['claude-test'] }],
      aliases: { chat: ['anthropic/claude-test', 'sandbox/echo'] },
    });
  });
  after(async () => {
    server?.app.server.closeAllConnections();
    await server?.close();
    await fake?.close();
  });
  beforeEach(() => fake.reset());

  test('the 400 "credit balance is too low" (an account out of credits)', async () => {
    fake.reply({ kind: 'error', status: 400, type: 'invalid_request_error', message: 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.' });
    const { data, response } = await server.client().chat.completions.create({ model: 'chat', messages: USER }).withResponse();
    assert.equal(fake.requests.length, 1);
    assert.match(response.headers.get('x-switchyard-route') ?? '', /sandbox\/echo \(after 1 fallback\)/);
    assert.equal(data.choices[0]!.finish_reason, 'stop');
  });

  test('an overloaded_error event right after message_start, before any content (streamed)', async () => {
    fake.reply({ kind: 'transcript', name: 'error-after-message-start' });
    const { data: stream, response } = await server.client().chat.completions.create({ model: 'chat', messages: USER, stream: true }).withResponse();
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(fake.requests.length, 1);
    assert.match(response.headers.get('x-switchyard-route') ?? '', /sandbox\/echo \(after 1 fallback\)/);
    assert.equal(chunks.filter((chunk) => chunk.choices[0]?.delta.role === 'assistant').length, 1);
    assert.equal(chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.finish_reason)).filter(Boolean).length, 1);
  });
});
