// What one Realtime socket can make the server hold: the conversation it builds, and the events it
// asks for without reading them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { MAX_CONVERSATION_CHARS } from '../../src/protocols/realtime/realtime-session.js';

type Event = { type: string; error?: { code: string; param: string | null }; item?: { id: string } };

let server: RunningServer;
let url: string;

before(async () => {
  server = await startServer({ providers: [{ id: 'sandbox', kind: 'sandbox' }] });
  url = `${server.baseURL.replace(/^http/, 'ws')}/realtime?model=sandbox/echo`;
});
after(() => server.close());

function connect(): Promise<{ socket: WebSocket; events: Event[] }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const events: Event[] = [];
    socket.on('message', (data) => events.push(JSON.parse(data.toString()) as Event));
    socket.once('open', () => resolve({ socket, events }));
    socket.once('error', reject);
  });
}

async function waitFor(events: Event[], check: (event: Event) => boolean, count = 1, timeoutMs = 10_000): Promise<void> {
  const started = performance.now();
  while (events.filter(check).length < count) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out; got ${events.map((event) => event.error?.code ?? event.type).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const item = (id: string, chars: number) => JSON.stringify({ type: 'conversation.item.create', item: { id, type: 'message', role: 'user', content: [{ type: 'input_text', text: 'x'.repeat(chars) }] } });

test('the items a client adds are capped in all; deleting some makes room again', async () => {
  const { socket, events } = await connect();
  const size = 3 * 1024 * 1024;
  const fits = Math.floor(MAX_CONVERSATION_CHARS / (size + 200));
  for (let index = 0; index <= fits; index++) socket.send(item(`item_${index}`, size));
  await waitFor(events, (event) => event.type === 'conversation.item.added' || event.type === 'error', fits + 1);
  assert.equal(events.filter((event) => event.type === 'conversation.item.added').length, fits);
  const refused = events.find((event) => event.type === 'error');
  assert.equal(refused?.error?.code, 'request_too_large');
  socket.send(JSON.stringify({ type: 'conversation.item.delete', item_id: 'item_0' }));
  socket.send(item('item_again', size));
  await waitFor(events, (event) => event.type === 'conversation.item.added', fits + 1);
  socket.close();
});

test('a client that asks for events and does not read them waits for itself; the server does not buffer for it', async () => {
  const { socket, events } = await connect();
  const size = 3 * 1024 * 1024;
  socket.send(item('big', size));
  await waitFor(events, (event) => event.type === 'conversation.item.added');
  // Stop reading: every retrieve echoes the 3 MB item back.
  const raw = (socket as unknown as { _socket: import('node:net').Socket })._socket;
  raw.pause();
  for (let index = 0; index < 40; index++) socket.send(JSON.stringify({ type: 'conversation.item.retrieve', item_id: 'big' }));
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const held = Math.max(...[...server.app.websocketServer.clients].map((client) => client.bufferedAmount));
  // The limit (16 MB) and what was on its way when it was reached, not 40 echoes of 3 MB.
  assert.ok(held < 24 * 1024 * 1024, `the server holds ${(held / (1024 * 1024)).toFixed(0)} MB for the client`);
  // Once it reads again, it gets every answer.
  raw.resume();
  await waitFor(events, (event) => event.type === 'conversation.item.retrieved', 40, 20_000);
  socket.close();
});
