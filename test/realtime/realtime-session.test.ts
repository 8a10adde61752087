import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
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
