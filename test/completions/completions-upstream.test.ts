// Legacy completions relayed to an OpenAI-compatible upstream: the body forwarded with only the
// model rewritten, a reply relayed byte for byte, a stream event by event with usage always asked
// of the upstream and its usage event dropped when the client did not ask; upstream errors, the
// fallback to the next target, and a backend without raw completion.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestError } from 'openai';
import type { Completion } from 'openai/resources/completions';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import type { CallSummary } from '../../src/gateway/gateway.js';
import { errorReply, startCompletionsUpstream, UPSTREAM_BODY, type CompletionsUpstream } from './fake-completions-upstream.js';

async function rawPost(server: RunningServer, body: unknown): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`${server.baseURL}/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

describe('legacy completions through an OpenAI-compatible upstream', () => {
  let upstream: CompletionsUpstream;
  let server: RunningServer;
  const calls: CallSummary[] = [];

  before(async () => {
    upstream = await startCompletionsUpstream();
    server = await startServer(
      {
        providers: [
          { id: 'up', kind: 'openai-compatible', baseURL: upstream.baseURL, apiKey: 'sk-upstream', models: ['gpt-3.5-turbo-instruct'] },
          { id: 'claude', kind: 'anthropic', apiKey: 'sk-ant', baseURL: 'http://127.0.0.1:9' },
        ],
        aliases: { instruct: ['up/gpt-3.5-turbo-instruct', 'sandbox/echo'], mixed: ['claude/claude-x', 'sandbox/echo'] },
        routing: { baseDelayMs: 1 },
      },
      { onCallEnd: (summary) => calls.push(summary) },
    );
  });
  after(async () => {
    await server?.close();
    await upstream?.close();
  });
  beforeEach(() => {
    upstream.requests.length = 0;
    calls.length = 0;
  });

  test('not streamed: the body goes on as sent, model rewritten; the reply comes back byte for byte', async () => {
    const body = { model: 'up/gpt-3.5-turbo-instruct', prompt: ['Say this is a test'], max_tokens: 7, suffix: '!', logprobs: 2, some_vendor_field: { keep: true } };
    const { status, text, headers } = await rawPost(server, body);
    assert.equal(status, 200);
    assert.equal(text, UPSTREAM_BODY);
    assert.equal(headers.get('x-switchyard-route'), 'up/gpt-3.5-turbo-instruct');
    const sent = upstream.requests[0]!;
    assert.equal(sent.path, '/v1/completions');
    assert.equal(sent.headers.authorization, 'Bearer sk-upstream');
    assert.deepEqual(sent.body, { ...body, model: 'gpt-3.5-turbo-instruct' });
    assert.equal(calls.at(-1)!.usage!.total_tokens, 12);
  });

  test('streamed without include_usage: usage asked upstream, its usage event and "usage":null dropped', async () => {
    const events: Completion[] = [];
    for await (const event of await server.client().completions.create({ model: 'up/gpt-3.5-turbo-instruct', prompt: 'x', stream: true })) events.push(event);
    assert.equal(upstream.requests[0]!.body.stream_options.include_usage, true);
    assert.equal(events.map((event) => event.choices[0]?.text ?? '').join(''), 'This is a test');
    assert.equal(events.at(-1)!.choices[0]!.finish_reason, 'stop');
    assert.ok(events.every((event) => !('usage' in event)));
    // Accounting still saw the usage the client did not ask for.
    assert.equal(calls.at(-1)!.usage!.total_tokens, 7);
  });

  test('streamed with include_usage: relayed event by event, ending with the usage event, then [DONE]', async () => {
    const { status, text } = await rawPost(server, { model: 'up/gpt-3.5-turbo-instruct', prompt: 'x', stream: true, stream_options: { include_usage: true } });
    assert.equal(status, 200);
    const data = text.split('\n\n').filter(Boolean).map((block) => block.replace(/^data: /, ''));
    assert.equal(data.at(-1), '[DONE]');
    const events = data.slice(0, -1).map((json) => JSON.parse(json) as Completion);
    assert.equal(events.length, 6);
    assert.deepEqual(events.at(-1)!.usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    assert.deepEqual(events.at(-1)!.choices, []);
    // Each event is the upstream's own JSON text.
    assert.ok(data[0]!.includes('"usage":null'));
  });

  test('an upstream 400 reaches the client as the upstream said it, param included', async () => {
    upstream.once(errorReply(400, { message: 'Bad suffix', type: 'invalid_request_error', param: 'suffix', code: null }));
    await assert.rejects(server.client().completions.create({ model: 'up/gpt-3.5-turbo-instruct', prompt: 'x', suffix: 'y' }), (error: unknown) => {
      assert.ok(error instanceof BadRequestError);
      assert.equal(error.param, 'suffix');
      assert.equal(error.message, '400 Bad suffix');
      return true;
    });
  });

  test('a failing upstream falls back to the next target of the route', async () => {
    upstream.once(errorReply(500, { message: 'boom', type: 'server_error', param: null, code: null }));
    const { status, text, headers } = await rawPost(server, { model: 'instruct', prompt: 'fallback works' });
    assert.equal(status, 200);
    assert.equal(JSON.parse(text).choices[0].text, ' fallback works');
    assert.match(headers.get('x-switchyard-route')!, /sandbox\/echo \(after 1 fallback\)/);
  });

  test('a client that leaves mid-stream cancels the upstream request at once', async () => {
    let closed!: () => void;
    const upstreamClosed = new Promise<void>((resolve) => (closed = resolve));
    upstream.once((response) => {
      response.on('close', closed);
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(`data: ${JSON.stringify({ id: 'cmpl-1', object: 'text_completion', created: 1, model: 'm', choices: [{ text: 'Hi', index: 0, logprobs: null, finish_reason: null }] })}\n\n`);
      // …and nothing more: the upstream hangs until the client leaves.
    });
    const controller = new AbortController();
    const stream = await server.client().completions.create({ model: 'up/gpt-3.5-turbo-instruct', prompt: 'x', stream: true }, { signal: controller.signal });
    for await (const event of stream) {
      assert.equal(event.choices[0]!.text, 'Hi');
      controller.abort();
    }
    await upstreamClosed;
    // The call's end is reported as the stream unwinds, around the time the upstream sees the close.
    for (let waited = 0; calls.length === 0 && waited < 2_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.status, 'aborted');
  });

  test('a backend without raw completion: skipped in a route, a 400 naming the model when alone', async () => {
    const routed = await rawPost(server, { model: 'mixed', prompt: 'hi' });
    assert.equal(routed.status, 200);
    assert.equal(JSON.parse(routed.text).model, 'sandbox/echo');
    const alone = await rawPost(server, { model: 'claude/claude-x', prompt: 'hi' });
    assert.equal(alone.status, 400);
    const error = JSON.parse(alone.text).error;
    assert.equal(error.code, 'unsupported_parameter');
    assert.equal(error.param, 'model');
    assert.match(error.message, /legacy completions/);
    assert.equal(calls.at(-1)!.status, 'failed');
  });
});
