import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { ChatRequest } from '../../src/providers/provider.js';
import { RealtimeSession } from '../../src/protocols/realtime/realtime-session.js';

type Event = { type: string; [key: string]: any };

const chunk = (content: string): ChatCompletionChunk => ({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null, logprobs: null }] });

test('an item a response is still writing is retrieved in_progress with its text so far; deleted meanwhile, it gets no conversation.item.done', async () => {
  const events: Event[] = [];
  let resume!: () => void;
  const paused = new Promise<void>((resolve) => (resume = resolve));
  const session = new RealtimeSession({
    model: 'sandbox/echo',
    beta: false,
    send: (event) => events.push(event as Event),
    runChat: async () => ({
      chunks: (async function* () {
        yield chunk('Hel');
        await paused;
        yield chunk('lo');
      })(),
      release: () => {},
    }),
  });
  const wait = async (type: string) => {
    for (let i = 0; i < 200 && !events.some((event) => event.type === type); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    return events.find((event) => event.type === type)!;
  };
  session.start();
  session.handle(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } }));
  session.handle(JSON.stringify({ type: 'response.create' }));
  const added = await wait('response.output_item.added');
  await wait('response.output_text.delta');
  session.handle(JSON.stringify({ type: 'conversation.item.retrieve', item_id: added.item.id }));
  const retrieved = await wait('conversation.item.retrieved');
  assert.equal(retrieved.item.status, 'in_progress');
  assert.deepEqual(retrieved.item.content, [{ type: 'output_text', text: 'Hel' }]);

  session.handle(JSON.stringify({ type: 'conversation.item.delete', item_id: added.item.id }));
  resume();
  const done = await wait('response.done');
  assert.equal(done.response.status, 'completed');
  assert.equal(done.response.output[0].content[0].text, 'Hello');
  assert.ok(!events.some((event) => event.type === 'conversation.item.done' && event.item.id === added.item.id), 'no done for a deleted item');
});

/** A session whose chat calls are recorded and answered by `reply` (default: one chunk, "ok"). */
function recordingSession(reply: (request: ChatRequest, signal: AbortSignal) => AsyncIterable<ChatCompletionChunk> = async function* () {
  yield chunk('ok');
}) {
  const events: Event[] = [];
  const requests: ChatRequest[] = [];
  const session = new RealtimeSession({
    model: 'sandbox/echo',
    beta: false,
    send: (event) => events.push(event as Event),
    runChat: async (request, signal) => {
      requests.push(request);
      return { chunks: reply(request, signal), release: () => {} };
    },
  });
  const send = (event: unknown) => session.handle(JSON.stringify(event));
  /** The `count`-th event of this type (1-based), once it has come. */
  const wait = async (type: string, count = 1) => {
    const of = () => events.filter((event) => event.type === type);
    for (let i = 0; i < 400 && of().length < count; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(of().length >= count, `no ${type} #${count}; saw ${events.map((event) => event.type).join(', ')}`);
    return of()[count - 1]!;
  };
  const errors = () => events.filter((event) => event.type === 'error').map((event) => event.error);
  session.start();
  return { session, events, requests, send, wait, errors };
}

test('response.create takes metadata: null (the SDK types it Metadata | null), and echoes metadata given', async () => {
  const { send, wait, errors } = recordingSession();
  send({ type: 'response.create', response: { metadata: null } });
  const first = await wait('response.done');
  assert.deepEqual(errors(), []);
  assert.equal(first.response.status, 'completed');
  assert.equal(first.response.metadata, null);
  send({ type: 'response.create', response: { metadata: { topic: 'weather' } } });
  const second = await wait('response.done', 2);
  assert.deepEqual(second.response.metadata, { topic: 'weather' });
});

test('conversation.item.create with previous_item_id "root" puts the item first; an unknown previous_item_id is named as such', async () => {
  const { send, wait, requests, errors } = recordingSession();
  const say = (text: string, extra: Record<string, unknown> = {}) =>
    send({ type: 'conversation.item.create', ...extra, item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } });
  say('second');
  await wait('conversation.item.done');
  say('first', { previous_item_id: 'root', event_id: 'evt_root' });
  const added = await wait('conversation.item.added', 2);
  assert.deepEqual(errors(), []);
  assert.equal(added.previous_item_id, null);
  say('nowhere', { previous_item_id: 'item_missing', event_id: 'evt_missing' });
  assert.deepEqual(errors().map((error) => [error.event_id, error.code, error.param]), [['evt_missing', 'not_found', 'previous_item_id']]);
  send({ type: 'response.create' });
  await wait('response.done');
  assert.deepEqual(requests[0]!.messages.map((message) => message.content), ['first', 'second']);
});

test('response.input takes item_reference entries naming conversation items; an unknown id is an error naming the param', async () => {
  const { send, wait, requests, errors } = recordingSession();
  send({ type: 'conversation.item.create', item: { id: 'item_kept', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'from the conversation' }] } });
  send({
    type: 'response.create',
    response: {
      conversation: 'none',
      input: [{ type: 'item_reference', id: 'item_kept' }, { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'and a new one' }] }],
    },
  });
  await wait('response.done');
  assert.deepEqual(errors(), []);
  assert.deepEqual(requests[0]!.messages.map((message) => message.content), ['from the conversation', 'and a new one']);
  send({ type: 'response.create', event_id: 'evt_ref', response: { conversation: 'none', input: [{ type: 'message', role: 'user', content: [] }, { type: 'item_reference', id: 'item_missing' }] } });
  assert.deepEqual(errors().map((error) => [error.event_id, error.code, error.param]), [['evt_ref', 'not_found', 'response.input[1].id']]);
  assert.equal(requests.length, 1);
});

test('out-of-band responses run beside the one writing to the conversation, each cancellable by its id; a second conversation response is refused', async () => {
  let resume!: () => void;
  const paused = new Promise<void>((resolve) => (resume = resolve));
  const { send, wait, events, errors } = recordingSession(async function* (_request, signal) {
    yield chunk('partial');
    await Promise.race([paused, new Promise((_resolve, reject) => (signal.aborted ? reject(new Error('aborted')) : signal.addEventListener('abort', () => reject(new Error('aborted')))))]);
    yield chunk(' end');
  });
  send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } });
  send({ type: 'response.create' });
  const inConversation = (await wait('response.created')).response.id;
  send({ type: 'response.create', event_id: 'evt_oob', response: { conversation: 'none', metadata: { kind: 'side' } } });
  const outOfBand = (await wait('response.created', 2)).response.id;
  assert.notEqual(outOfBand, inConversation);
  send({ type: 'response.create', event_id: 'evt_second' });
  assert.deepEqual(errors().map((error) => [error.event_id, error.code]), [['evt_second', 'conversation_already_has_active_response']]);

  await wait('response.output_text.delta', 2);
  send({ type: 'response.cancel', response_id: outOfBand });
  const cancelled = await wait('response.done');
  assert.deepEqual([cancelled.response.id, cancelled.response.status], [outOfBand, 'cancelled']);
  resume();
  const completed = await wait('response.done', 2);
  assert.deepEqual([completed.response.id, completed.response.status], [inConversation, 'completed']);
  assert.equal(completed.response.output[0].content[0].text, 'partial end');
  // Only the conversation's response wrote to the conversation.
  const added = events.filter((event) => event.type === 'conversation.item.added').map((event) => event.item.role);
  assert.deepEqual(added, ['user', 'assistant']);
});
