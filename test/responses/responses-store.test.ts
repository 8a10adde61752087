import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import type { ResponseItem, ResponseStreamEvent } from 'openai/resources/responses/responses';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { dataJson, postSse } from '../helpers/raw-sse.js';
import { freshPostgres, postgresAdminUrl, startPlatformServer, tempDir, type PlatformServer } from '../platform/helpers.js';
import type { Authenticator } from '../../src/http/auth.js';
import { SwitchyardError } from '../../src/errors/errors.js';
import { MemoryResponsesStore } from '../../src/protocols/responses/responses-store.js';
import { RecordingSandbox } from './helpers.js';

// Stored responses: previous_response_id, retrieve (and its replay), delete, input_items with
// pagination, and the workspace wall around all of them, in memory and in the platform's database.

/** Keys → workspaces, as the platform's key store would give them. */
const workspaceKeys: Authenticator = {
  open: false,
  authenticate(headers: IncomingHttpHeaders) {
    const key = headers.authorization?.replace(/^Bearer /, '');
    if (key === 'sk-a') return { keyId: 'a', workspaceId: 'ws_a' };
    if (key === 'sk-a2') return { keyId: 'a2', workspaceId: 'ws_a' };
    if (key === 'sk-b') return { keyId: 'b', workspaceId: 'ws_b' };
    throw new SwitchyardError('invalid_api_key', 'Incorrect API key provided.');
  },
};

let server: RunningServer;
let sandbox: RecordingSandbox;
let client: ReturnType<RunningServer['client']>;

before(async () => {
  sandbox = new RecordingSandbox();
  server = await startServer({}, { providers: [sandbox], authenticator: workspaceKeys });
  client = server.client('sk-a');
});
after(async () => {
  await server?.close();
});

const text = (item: ResponseItem) =>
  item.type === 'message' ? item.content.map((part) => ('text' in part ? part.text : '')).join('') : item.type;

describe('previous_response_id', () => {
  test('continues a conversation across three turns; instructions are not carried over', async () => {
    const first = await client.responses.create({ model: 'sandbox/echo', input: 'My name is Ada.', instructions: 'Be brief.' });
    const second = await client.responses.create({ model: 'sandbox/echo', input: 'I live in Paris.', previous_response_id: first.id });
    const third = await client.responses.create({ model: 'sandbox/echo', input: 'What do you know?', previous_response_id: second.id });

    assert.equal(third.previous_response_id, second.id);
    assert.equal(third.output_text, 'What do you know?');
    // What the backend saw on the third turn: the whole conversation, without the first turn's instructions.
    assert.deepEqual(sandbox.calls[sandbox.calls.length - 1]!.messages, [
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'My name is Ada.' },
      { role: 'user', content: 'I live in Paris.' },
      { role: 'assistant', content: 'I live in Paris.' },
      { role: 'user', content: 'What do you know?' },
    ]);
    assert.ok(third.usage!.input_tokens > second.usage!.input_tokens && second.usage!.input_tokens > 0);

    // The third response's input items: its context, newest first by default; output items keep their ids.
    const items = await client.responses.inputItems.list(third.id);
    assert.deepEqual(items.data.map(text), ['What do you know?', 'I live in Paris.', 'I live in Paris.', 'My name is Ada.', 'My name is Ada.']);
    assert.equal(items.data[1]!.id, second.output[0]!.id);
    assert.equal(items.data[3]!.id, first.output[0]!.id);
    for (const item of items.data) assert.match(item.id, /^msg_/);
  });

  test('the same on a streamed turn', async () => {
    const first = await client.responses.create({ model: 'sandbox/echo', input: 'one' });
    const stream = client.responses.stream({ model: 'sandbox/echo', input: 'two', previous_response_id: first.id });
    const final = await stream.finalResponse();
    assert.equal(final.previous_response_id, first.id);
    assert.deepEqual(sandbox.calls[sandbox.calls.length - 1]!.messages.map((message) => message.content), ['one', 'one', 'two']);
  });

  test('an unknown id is a 400 naming previous_response_id', async () => {
    await assert.rejects(
      client.responses.create({ model: 'sandbox/echo', input: 'x', previous_response_id: 'resp_nope' }),
      (error: any) => error.status === 400 && error.param === 'previous_response_id' && error.code === 'previous_response_not_found',
    );
  });

  test('store: false keeps nothing', async () => {
    const response = await client.responses.create({ model: 'sandbox/echo', input: 'forget me', store: false });
    assert.equal((response as typeof response & { store?: boolean }).store, false);
    await assert.rejects(client.responses.retrieve(response.id), (error: any) => error.status === 404);
    await assert.rejects(
      client.responses.create({ model: 'sandbox/echo', input: 'x', previous_response_id: response.id }),
      (error: any) => error.status === 400 && error.param === 'previous_response_id',
    );
  });
});

describe('retrieve and delete', () => {
  test('GET returns the stored object; DELETE removes it; both 404 after', async () => {
    const response = await client.responses.create({ model: 'sandbox/echo', input: 'keep me' });
    const stored = await client.responses.retrieve(response.id);
    assert.deepEqual(stored, response);

    // With a JSON content type and no body, as the Python SDK sends a DELETE.
    const deleted = await fetch(`${server.baseURL}/responses/${response.id}`, { method: 'DELETE', headers: { authorization: 'Bearer sk-a', 'content-type': 'application/json' } });
    assert.equal(deleted.status, 200);
    assert.deepEqual(await deleted.json(), { id: response.id, object: 'response', deleted: true });

    await assert.rejects(client.responses.retrieve(response.id), (error: any) => error.status === 404 && error.code === 'not_found');
    await assert.rejects(client.responses.delete(response.id), (error: any) => error.status === 404);
    await assert.rejects(client.responses.inputItems.list(response.id), (error: any) => error.status === 404);
  });

  test('GET ?stream=true replays the stored events exactly, from starting_after when given', async () => {
    const { events } = await postSse(`${server.baseURL}/responses`, { model: 'sandbox/echo', input: 'replay this reply', stream: true }, { headers: { authorization: 'Bearer sk-a' } });
    const original = dataJson<ResponseStreamEvent>(events);
    const id = (original[0] as Extract<ResponseStreamEvent, { type: 'response.created' }>).response.id;

    const replay = await fetch(`${server.baseURL}/responses/${id}?stream=true`, { headers: { authorization: 'Bearer sk-a' } });
    assert.match(replay.headers.get('content-type')!, /^text\/event-stream/);
    const body = await replay.text();
    const replayed = body.split('\n\n').filter(Boolean).map((block) => JSON.parse(block.split('\n')[1]!.slice(6)) as ResponseStreamEvent);
    assert.deepEqual(replayed, original);

    const tail = await fetch(`${server.baseURL}/responses/${id}?stream=true&starting_after=3`, { headers: { authorization: 'Bearer sk-a' } });
    const tailed = (await tail.text()).split('\n\n').filter(Boolean).map((block) => JSON.parse(block.split('\n')[1]!.slice(6)) as ResponseStreamEvent);
    assert.deepEqual(tailed, original.slice(4));

    // The SDK's own replay helper builds the same final object.
    const final = await client.responses.stream({ response_id: id }).finalResponse();
    assert.equal(final.id, id);
    assert.equal(final.output_text, 'replay this reply');
  });
});

describe('input_items', () => {
  let id: string;
  let ids: string[];

  before(async () => {
    const response = await client.responses.create({
      model: 'sandbox/echo',
      input: ['one', 'two', 'three', 'four', 'five'].map((content) => ({ role: 'user' as const, content })),
    });
    id = response.id;
    const all = await client.responses.inputItems.list(id, { order: 'asc' });
    ids = all.data.map((item) => item.id);
  });

  test('lists the items with ids, in order asked, as OpenAI’s list object', async () => {
    const response = await fetch(`${server.baseURL}/responses/${id}/input_items?order=asc`, { headers: { authorization: 'Bearer sk-a' } });
    const list = (await response.json()) as any;
    assert.deepEqual(Object.keys(list).sort(), ['data', 'first_id', 'has_more', 'last_id', 'object']);
    assert.equal(list.object, 'list');
    assert.equal(list.has_more, false);
    assert.deepEqual(list.data.map(text), ['one', 'two', 'three', 'four', 'five']);
    assert.deepEqual(list.data[0], { id: list.first_id, type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'one' }] });
    assert.equal(list.last_id, ids[4]);
  });

  test('pages with limit and after, both ways; the SDK’s auto-pagination walks them all', async () => {
    const page = await client.responses.inputItems.list(id, { limit: 2, order: 'asc' });
    assert.deepEqual(page.data.map((item) => item.id), ids.slice(0, 2));
    assert.equal(page.has_more, true);
    const next = await client.responses.inputItems.list(id, { limit: 2, order: 'asc', after: ids[1]! });
    assert.deepEqual(next.data.map((item) => item.id), ids.slice(2, 4));
    const last = await client.responses.inputItems.list(id, { limit: 2, order: 'asc', after: ids[3]! });
    assert.deepEqual(last.data.map((item) => item.id), ids.slice(4));
    assert.equal(last.has_more, false);

    const walked: string[] = [];
    for await (const item of client.responses.inputItems.list(id, { limit: 2 })) walked.push(item.id);
    assert.deepEqual(walked, [...ids].reverse());
  });

  test('a bad limit or order is a 400 naming it', async () => {
    await assert.rejects(client.responses.inputItems.list(id, { limit: 0 }), (error: any) => error.status === 400 && error.param === 'limit');
    await assert.rejects(client.responses.inputItems.list(id, { limit: 101 }), (error: any) => error.status === 400 && error.param === 'limit');
    await assert.rejects(client.responses.inputItems.list(id, { order: 'sideways' as 'asc' }), (error: any) => error.status === 400 && error.param === 'order');
  });
});

describe('workspaces', () => {
  test('another workspace’s response does not exist; the same workspace’s other key sees it', async () => {
    const response = await client.responses.create({ model: 'sandbox/echo', input: 'private' });
    const other = server.client('sk-b');
    await assert.rejects(other.responses.retrieve(response.id), (error: any) => error.status === 404);
    await assert.rejects(other.responses.inputItems.list(response.id), (error: any) => error.status === 404);
    await assert.rejects(other.responses.delete(response.id), (error: any) => error.status === 404);
    await assert.rejects(
      other.responses.create({ model: 'sandbox/echo', input: 'x', previous_response_id: response.id }),
      (error: any) => error.status === 400 && error.param === 'previous_response_id',
    );
    const replay = await fetch(`${server.baseURL}/responses/${response.id}?stream=true`, { headers: { authorization: 'Bearer sk-b' } });
    assert.equal(replay.status, 404);

    const colleague = server.client('sk-a2');
    assert.equal((await colleague.responses.retrieve(response.id)).output_text, 'private');
    // Still there for its own workspace after the other's DELETE failed.
    assert.equal((await client.responses.retrieve(response.id)).id, response.id);
  });

  test('item references: the items of stored responses, in the same workspace, until no response holds them', async () => {
    const first = await client.responses.create({ model: 'sandbox/echo', input: 'referenced turn' });
    const inputId = (await client.responses.inputItems.list(first.id)).data[0]!.id;
    const outputId = first.output[0]!.id!;
    const reference = (id: string) => ({ type: 'item_reference' as const, id });
    const next = await client.responses.create({ model: 'sandbox/echo', input: [reference(inputId), reference(outputId), { role: 'user', content: 'next' }] });
    assert.equal(next.output_text, 'next');
    const context = (await client.responses.inputItems.list(next.id, { order: 'asc' })).data;
    assert.deepEqual(context.map(text), ['referenced turn', 'referenced turn', 'next']);
    assert.deepEqual(context.slice(0, 2).map((item) => item.id), [inputId, outputId], 'the referenced items, ids kept');
    // The model saw the earlier turns as messages.
    assert.deepEqual(sandbox.calls.at(-1)!.messages.map((message) => message.role), ['user', 'assistant', 'user']);
    await assert.rejects(server.client('sk-b').responses.create({ model: 'sandbox/echo', input: [reference(outputId)] }), (error: any) => error.status === 404 && error.param === 'input[0].id');
    const unstored = await client.responses.create({ model: 'sandbox/echo', input: 'not kept', store: false });
    await assert.rejects(client.responses.create({ model: 'sandbox/echo', input: [reference(unstored.output[0]!.id!)] }), (error: any) => error.status === 404);
    await client.responses.delete(first.id);
    assert.equal((await client.responses.create({ model: 'sandbox/echo', input: [reference(outputId)] })).object, 'response', 'still held by the later response');
  });

  test('deleting a later response of a chain leaves the earlier one’s items referable', async () => {
    const first = await client.responses.create({ model: 'sandbox/echo', input: 'first of a chain' });
    const second = await client.responses.create({ model: 'sandbox/echo', input: 'second of a chain', previous_response_id: first.id });
    await client.responses.delete(second.id);
    const reference = { type: 'item_reference' as const, id: first.output[0]!.id! };
    const again = await client.responses.create({ model: 'sandbox/echo', input: [reference, { role: 'user', content: 'again' }] });
    assert.deepEqual((await client.responses.inputItems.list(again.id, { order: 'asc' })).data.map(text), ['first of a chain', 'again']);
  });

  test('the memory store scopes by workspace, no-workspace included', async () => {
    const store = new MemoryResponsesStore();
    const record = { response: { id: 'resp_1', output: [] } as never, inputItems: [], events: [] };
    await store.save(null, record);
    assert.ok(await store.get(null, 'resp_1'));
    assert.equal(await store.get('ws_a', 'resp_1'), undefined);
    assert.equal(await store.delete('ws_a', 'resp_1'), false);
    assert.equal(await store.listInputItems('ws_a', 'resp_1', { limit: 20, order: 'desc' }), undefined);
    assert.equal(await store.delete(null, 'resp_1'), true);
  });
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`in the platform’s database (${dialect})`, () => {
    let platform: PlatformServer | undefined;
    let database: { url: string; drop: () => Promise<void> } | undefined;
    const dataDir = tempDir();
    after(async () => {
      await platform?.close();
      await database?.drop();
    });

    test('stored, continued, listed and deleted through the store; walled by workspace; kept across restarts', async (context) => {
      if (dialect === 'postgres') {
        if (!(await postgresAdminUrl())) return context.skip('PostgreSQL is not reachable');
        database = await freshPostgres();
      }
      const options = { dataDir, ...(database ? { databaseUrl: database.url } : {}) };
      platform = await startPlatformServer({}, options);
      const workspaceA = (await platform.admin('POST', '/workspaces', { name: 'A' })).body;
      const workspaceB = (await platform.admin('POST', '/workspaces', { name: 'B' })).body;
      const keyA = (await platform.admin('POST', '/keys', { workspace_id: workspaceA.id })).body.value as string;
      const keyB = (await platform.admin('POST', '/keys', { workspace_id: workspaceB.id })).body.value as string;
      const a = platform.client(keyA);
      const b = platform.client(keyB);

      const first = await a.responses.create({ model: 'sandbox/echo', input: 'first turn' });
      const second = await a.responses.create({ model: 'sandbox/echo', input: 'second turn', previous_response_id: first.id });
      assert.equal(second.output_text, 'second turn');
      const items = await a.responses.inputItems.list(second.id, { order: 'asc' });
      assert.deepEqual(items.data.map(text), ['first turn', 'first turn', 'second turn']);
      await assert.rejects(b.responses.retrieve(first.id), (error: any) => error.status === 404);

      const row = await platform.platform.store.db.selectFrom('responses').select(['id', 'workspace_id']).where('id', '=', second.id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { id: second.id, workspace_id: workspaceA.id });

      // Item references find the items of stored responses, input and output, in the same workspace only.
      const firstInput = items.data[0]!.id;
      const reference = (id: string) => ({ type: 'item_reference' as const, id });
      // A later response of the chain deleted: the earlier one still holds its items.
      const branch = await a.responses.create({ model: 'sandbox/echo', input: 'a branch', previous_response_id: first.id });
      await a.responses.delete(branch.id);
      assert.equal((await a.responses.create({ model: 'sandbox/echo', input: [reference(first.output[0]!.id!)], store: false })).object, 'response');
      const referenced = await a.responses.create({ model: 'sandbox/echo', input: [reference(firstInput), reference(first.output[0]!.id!), { role: 'user', content: 'third turn' }] });
      assert.deepEqual((await a.responses.inputItems.list(referenced.id, { order: 'asc' })).data.map(text), ['first turn', 'first turn', 'third turn']);
      await assert.rejects(b.responses.create({ model: 'sandbox/echo', input: [reference(firstInput)] }), (error: any) => error.status === 404 && error.param === 'input[0].id');

      await platform.close();
      platform = await startPlatformServer({}, options);
      const again = platform.client(keyA);
      assert.deepEqual(await again.responses.retrieve(second.id), second);
      await again.responses.delete(first.id);
      await assert.rejects(again.responses.retrieve(first.id), (error: any) => error.status === 404);
      // A deleted response's successor keeps its own copy of the context.
      assert.equal((await again.responses.inputItems.list(second.id)).data.length, 3);
      // ...and its items stay referable through it; once every response holding them is gone, they are not.
      const kept = await again.responses.create({ model: 'sandbox/echo', input: [reference(first.output[0]!.id!), { role: 'user', content: 'go on' }] });
      assert.equal(kept.output_text, 'go on');
      for (const id of [second.id, referenced.id, kept.id]) await again.responses.delete(id);
      await assert.rejects(again.responses.create({ model: 'sandbox/echo', input: [reference(first.output[0]!.id!)] }), (error: any) => error.status === 404);
    });
  });
}
