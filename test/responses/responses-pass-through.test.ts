// The Responses API passed through to an upstream that serves it (`responses: native`): the body
// goes on untouched, the answer comes back as it came, usage is accounted, and the response's
// later reads reach the upstream that stored it. The upstream is a local server speaking the
// Responses API as OpenAI documents it.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { APIError } from 'openai';
import type { Exchange, FakeUpstream } from '../helpers/fake-openai-upstream.js';
import { completionReply, openAIError, startFakeUpstream } from '../helpers/fake-openai-upstream.js';
import { eventually, startPlatformServer, type PlatformServer } from '../platform/helpers.js';

const USAGE = { input_tokens: 11, output_tokens: 3, total_tokens: 14, input_tokens_details: { cached_tokens: 2 }, output_tokens_details: { reasoning_tokens: 0 } };

/** The upstream's side of the Responses API: create (JSON or SSE), retrieve, input_items, delete. */
function respondLikeOpenAI(stored: Map<string, Record<string, unknown>>) {
  let next = 1;
  return async ({ request, response }: Exchange): Promise<void> => {
    const json = (status: number, body: unknown): void => void response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const match = /\/responses(?:\/([^/?]+))?(\/input_items)?/.exec(request.path);
    if (!match) return completionReply()({ request, response } as Exchange);
    const [, id, inputItems] = match;
    if (request.method === 'POST' && !id) {
      const body = request.body as { model: string; stream?: boolean };
      const responseId = `resp_upstream_${next++}`;
      const message = { type: 'message', id: `msg_${responseId}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hello from upstream', annotations: [], logprobs: [] }] };
      const final = { id: responseId, object: 'response', created_at: 1_735_689_600, status: 'completed', model: body.model, output: [message], usage: USAGE, error: null, incomplete_details: null, instructions: null, metadata: {}, parallel_tool_calls: true, temperature: 1, tool_choice: 'auto', tools: [], top_p: 1 };
      stored.set(responseId, final);
      if (!body.stream) return json(200, final);
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const started = { ...final, status: 'in_progress', output: [], usage: null };
      const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
      const events: Array<Record<string, unknown>> = [
        { type: 'response.created', response: started },
        { type: 'response.in_progress', response: started },
        { type: 'response.output_item.added', output_index: 0, item: { ...message, status: 'in_progress', content: [] } },
        { type: 'response.content_part.added', item_id: message.id, output_index: 0, content_index: 0, part },
        { type: 'response.output_text.delta', item_id: message.id, output_index: 0, content_index: 0, delta: 'Hello from ', logprobs: [] },
        { type: 'response.output_text.delta', item_id: message.id, output_index: 0, content_index: 0, delta: 'upstream', logprobs: [] },
        { type: 'response.output_text.done', item_id: message.id, output_index: 0, content_index: 0, text: 'Hello from upstream', logprobs: [] },
        { type: 'response.content_part.done', item_id: message.id, output_index: 0, content_index: 0, part: message.content[0] },
        { type: 'response.output_item.done', output_index: 0, item: message },
        { type: 'response.completed', response: final },
      ];
      for (const [sequence, event] of events.entries()) response.write(`event: ${String(event.type)}\ndata: ${JSON.stringify({ ...event, sequence_number: sequence })}\n\n`);
      response.end();
      return;
    }
    const found = id ? stored.get(id) : undefined;
    if (!found) return json(404, openAIError(`Response with id '${id}' not found.`, 'invalid_request_error', null, null));
    if (request.method === 'DELETE') {
      stored.delete(id!);
      return json(200, { id, object: 'response', deleted: true });
    }
    if (inputItems) return json(200, { object: 'list', data: [{ id: 'msg_in', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], first_id: 'msg_in', last_id: 'msg_in', has_more: false });
    return json(200, found);
  };
}

describe('Responses pass-through', () => {
  let upstream: FakeUpstream;
  let backup: FakeUpstream;
  let server: PlatformServer;
  let key: string;
  const stored = new Map<string, Record<string, unknown>>();
  const client = () => server.client(key);

  before(async () => {
    upstream = await startFakeUpstream();
    backup = await startFakeUpstream();
    server = await startPlatformServer({
      providers: [
        { id: 'sandbox', kind: 'sandbox' },
        { id: 'oai', kind: 'openai-compatible', baseURL: upstream.baseURL, responses: 'native', models: ['gpt-x'] },
        { id: 'oai2', kind: 'openai-compatible', baseURL: backup.baseURL, responses: 'native', models: ['gpt-x'] },
        { id: 'plain', kind: 'openai-compatible', baseURL: upstream.baseURL, models: ['chat-only'] },
      ],
      aliases: { native2: { targets: ['oai/gpt-x', 'oai2/gpt-x'] }, mixed: { targets: ['oai/gpt-x', 'plain/chat-only'] } },
    });
    key = (await server.admin('POST', '/keys', { name: 'pass-through' })).body.value as string;
  });
  after(async () => {
    await server.close();
    await upstream.close();
    await backup.close();
  });
  beforeEach(() => {
    upstream.reset();
    backup.reset();
    upstream.script(respondLikeOpenAI(stored));
    backup.script(respondLikeOpenAI(stored));
  });

  test('create: the body goes on untouched (model rewritten), the answer comes back as the upstream sent it, usage is accounted', async () => {
    const { data, response } = await client()
      .responses.create({ model: 'oai/gpt-x', input: 'hi', tools: [{ type: 'web_search' }], metadata: { team: 'a' }, include: ['web_search_call.action.sources'] } as never)
      .withResponse();
    assert.equal(data.id, 'resp_upstream_1');
    assert.equal(data.output_text, 'Hello from upstream');
    const sent = upstream.requests.find((request) => request.path === '/v1/responses')!.body;
    assert.equal(sent.model, 'gpt-x');
    assert.deepEqual(sent.tools, [{ type: 'web_search' }], 'a hosted tool Switchyard could not translate goes through');
    assert.deepEqual(sent.include, ['web_search_call.action.sources']);
    assert.equal(response.headers.get('x-switchyard-route'), 'oai/gpt-x');
    const auditId = response.headers.get('x-switchyard-audit-id')!;
    assert.ok(await eventually(async () => (await server.admin('GET', `/requests/${auditId}`)).status === 200));
    const record = (await server.admin('GET', `/requests/${auditId}`)).body;
    assert.deepEqual([record.usage.prompt_tokens, record.usage.completion_tokens, record.usage.cached_tokens], [11, 3, 2]);
  });

  test('stream: events relayed in order, and the SDK’s final object equals what they built', async () => {
    const stream = client().responses.stream({ model: 'oai/gpt-x', input: 'hi' });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalResponse();
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.completed');
    assert.equal(types.filter((type) => type === 'response.output_text.delta').length, 2);
    assert.equal(final.output_text, 'Hello from upstream');
    assert.deepEqual(final.usage, USAGE);
  });

  test('a client that stops reading a long stream and then leaves: the relay stops waiting, and the call is accounted as aborted', async () => {
    const delta = 'x'.repeat(16 * 1024);
    upstream.script(async ({ response }) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(`event: response.created\ndata: ${JSON.stringify({ type: 'response.created', response: { id: 'resp_long', status: 'in_progress', usage: null } })}\n\n`);
      // Far more than the sockets between here and the client can hold.
      for (let index = 0; index < 400 && !response.destroyed; index++) {
        if (!response.write(`event: response.output_text.delta\ndata: ${JSON.stringify({ type: 'response.output_text.delta', delta })}\n\n`)) {
          await new Promise((resolve) => response.once('drain', resolve).once('close', resolve));
        }
      }
      response.end();
    });
    const { request: httpRequest } = await import('node:http');
    const auditId = await new Promise<string>((resolve, reject) => {
      const request = httpRequest(`${server.baseURL}/responses`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } }, (response) => {
        // Never read: the server's buffers fill, then the client leaves.
        response.pause();
        setTimeout(() => {
          request.destroy();
          resolve(String(response.headers['x-switchyard-audit-id']));
        }, 500);
      });
      request.on('error', () => undefined);
      request.once('error', reject);
      request.end(JSON.stringify({ model: 'oai/gpt-x', input: 'hi', stream: true }));
    });
    assert.ok(
      await eventually(async () => (await server.admin('GET', `/requests/${auditId}`)).body.status === 'aborted'),
      'the call was recorded as aborted once the client left',
    );
  });

  test('GET, input_items and DELETE of a passed-through response reach the upstream that holds it; another workspace does not find it', async () => {
    const created = await client().responses.create({ model: 'oai/gpt-x', input: 'hi' });
    const fetched = await client().responses.retrieve(created.id);
    assert.equal(fetched.output_text, 'Hello from upstream');
    const items = await client().responses.inputItems.list(created.id);
    assert.equal(items.data[0]!.id, 'msg_in');

    const workspace = (await server.admin('POST', '/workspaces', { name: 'other' })).body.id as string;
    const otherKey = (await server.admin('POST', '/keys', { name: 'other', workspace_id: workspace })).body.value as string;
    await assert.rejects(server.client(otherKey).responses.retrieve(created.id), (error: APIError) => error.status === 404);

    await client().responses.delete(created.id);
    assert.ok(upstream.requests.some((request) => request.method === 'DELETE' && request.path === `/v1/responses/${created.id}`));
    await assert.rejects(client().responses.retrieve(created.id), (error: APIError) => error.status === 404);
  });

  test('an upstream 400 reaches the client as the upstream said it', async () => {
    upstream.script(({ response }) => {
      response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(openAIError("Invalid value for 'reasoning.effort'.", 'invalid_request_error', 'reasoning.effort', 'invalid_value')));
    });
    await assert.rejects(client().responses.create({ model: 'oai/gpt-x', input: 'hi', reasoning: { effort: 'low' } }), (error: APIError) => {
      assert.equal(error.status, 400);
      assert.equal(error.param, 'reasoning.effort');
      return true;
    });
  });

  test('an upstream 500 falls back to the next native target', async () => {
    upstream.script(({ response }) => void response.writeHead(500).end('boom'));
    const { data, response } = await client().responses.create({ model: 'native2', input: 'hi' }).withResponse();
    assert.equal(data.output_text, 'Hello from upstream');
    assert.match(response.headers.get('x-switchyard-route')!, /oai2\/gpt-x \(after 1 fallback\)/);
  });

  test('an alias that mixes in a backend without the Responses API is translated to chat for all its targets', async () => {
    upstream.script(completionReply({ content: 'via chat' }));
    const data = await client().responses.create({ model: 'mixed', input: 'hi' });
    assert.equal(data.output_text, 'via chat');
    assert.ok(upstream.requests.every((request) => request.path === '/v1/chat/completions'));
  });
});
