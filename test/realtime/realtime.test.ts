// The Realtime WebSocket (text), over TLS with a certificate made at test time: the official SDK's
// client (`OpenAIRealtimeWS`, which dials wss:// only) for text turns and a function call, and a
// raw `ws` client where the test needs to see the handshake or misbehave on purpose.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { Agent } from 'undici';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { makeTestCertificate, type TestCertificate } from '../helpers/tls-cert.js';
import { startLlamaServer, type LlamaTestServer } from '../helpers/llama-server.js';

type Event = { type: string; [key: string]: any };

const KEY = 'sk-realtime-test-0123456789';

/** Opens the SDK's client and collects every server event. */
function sdkClient(server: RunningServer, cert: string, model = 'sandbox/echo') {
  const client = new OpenAI({ baseURL: server.baseURL, apiKey: KEY });
  const rt = new OpenAIRealtimeWS({ model, options: { ca: cert } }, client);
  const events: Event[] = [];
  rt.on('event', (event) => events.push(event as Event));
  rt.on('error', () => {}); // error events are asserted from `events`
  return { rt, events };
}

/** Resolves once an event of this type arrives at or after `from`, with its index. */
async function waitFor(events: Event[], type: string, from = 0, timeoutMs = 10_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const index = events.findIndex((event, at) => at >= from && event.type === type);
    if (index !== -1) return index;
    if (performance.now() > deadline) throw new Error(`no ${type} event; saw ${events.map((event) => event.type).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A raw client: resolves when open (or rejects with the HTTP status of a refused upgrade). */
function rawClient(url: string, options: { protocols?: string[]; headers?: Record<string, string>; ca?: string } = {}): Promise<{ socket: WebSocket; events: Event[] }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options.protocols ?? [], { headers: options.headers, ...(options.ca ? { ca: options.ca } : {}) });
    const events: Event[] = [];
    socket.on('message', (data) => events.push(JSON.parse(data.toString()) as Event));
    socket.once('open', () => resolve({ socket, events }));
    socket.once('unexpected-response', (_request, response) => reject(Object.assign(new Error(`HTTP ${response.statusCode}`), { status: response.statusCode })));
    socket.once('error', reject);
  });
}

const closed = (socket: WebSocket) => new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));

describe('Realtime over TLS', () => {
  let cert: TestCertificate;
  let server: RunningServer;
  let wss: string;

  before(async () => {
    cert = await makeTestCertificate();
    server = await startServer({
      auth: { keys: [KEY] },
      server: { tls: { cert: cert.certFile, key: cert.keyFile } },
      providers: [{ id: 'sandbox', kind: 'sandbox' }, { id: 'slow', kind: 'sandbox', chunkDelayMs: 30 }],
      realtime: { maxMessageBytes: 64 * 1024, eventsPerSecond: 5, eventBurst: 10 },
    });
    wss = `${server.origin.replace('https:', 'wss:')}/v1/realtime`;
  });
  after(async () => {
    await server.close();
    await cert.remove();
  });

  test('a text turn with the SDK client: events in OpenAI’s order, deltas equal the done text, usage', async () => {
    const { rt, events } = sdkClient(server, cert.cert);
    await waitFor(events, 'session.created');
    assert.equal(events[0]!.type, 'session.created');
    assert.match(events[0]!.session.id, /^sess_/);
    rt.send({ type: 'session.update', session: { type: 'realtime', instructions: 'Be brief.', output_modalities: ['text'] } });
    await waitFor(events, 'session.updated');
    rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hello over a socket' }] } });
    await waitFor(events, 'conversation.item.done');
    const start = events.length;
    rt.send({ type: 'response.create' });
    const doneAt = await waitFor(events, 'response.done', start);
    const turn = events.slice(start, doneAt + 1);
    const types = [...new Set(turn.map((event) => event.type))];
    assert.deepEqual(types, [
      'response.created',
      'response.output_item.added',
      'conversation.item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'conversation.item.done',
      'response.done',
    ]);
    const deltas = turn.filter((event) => event.type === 'response.output_text.delta').map((event) => event.delta as string);
    const done = turn.find((event) => event.type === 'response.output_text.done')!;
    assert.equal(deltas.join(''), done.text);
    assert.match(done.text, /Hello over a socket/, 'the echo model saw the conversation');
    const response = turn.at(-1)!.response;
    assert.equal(response.status, 'completed');
    assert.equal(response.output[0].content[0].text, done.text);
    assert.ok(response.usage.input_tokens > 0 && response.usage.output_tokens > 0, JSON.stringify(response.usage));
    assert.equal(response.usage.total_tokens, response.usage.input_tokens + response.usage.output_tokens);
    for (const event of events) assert.match(event.event_id, /^event_/);
    rt.close();
  });

  test('a function call round trip with the SDK client', async () => {
    const { rt, events } = sdkClient(server, cert.cert);
    await waitFor(events, 'session.created');
    rt.send({
      type: 'session.update',
      session: {
        type: 'realtime',
        tools: [{ type: 'function', name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }],
      },
    });
    rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Use get_weather for Paris' }] } });
    rt.send({ type: 'response.create' });
    const firstDone = await waitFor(events, 'response.done');
    const call = events[firstDone]!.response.output[0];
    assert.equal(call.type, 'function_call');
    assert.equal(call.name, 'get_weather');
    const argsDone = events.find((event) => event.type === 'response.function_call_arguments.done')!;
    const argDeltas = events.filter((event) => event.type === 'response.function_call_arguments.delta').map((event) => event.delta).join('');
    assert.equal(argDeltas, argsDone.arguments);
    assert.equal(typeof JSON.parse(argsDone.arguments).city, 'string');

    rt.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: call.call_id, output: '{"temperature":21}' } });
    rt.send({ type: 'response.create' });
    const secondDone = await waitFor(events, 'response.done', firstDone + 1);
    const answer = events[secondDone]!.response;
    assert.equal(answer.status, 'completed');
    assert.match(answer.output[0].content[0].text, /temperature/, 'the model saw the function output');
    rt.close();
  });

  test('the browser style: key in a subprotocol, `realtime` echoed; a wrong key is a 401 before any upgrade', async () => {
    const { socket, events } = await rawClient(`${wss}?model=sandbox/echo`, { protocols: ['realtime', `openai-insecure-api-key.${KEY}`], ca: cert.cert });
    assert.equal(socket.protocol, 'realtime');
    await waitFor(events, 'session.created');
    socket.close();
    await assert.rejects(rawClient(`${wss}?model=sandbox/echo`, { protocols: ['realtime', 'openai-insecure-api-key.sk-wrong-key-000000'], ca: cert.cert }), { status: 401 });
    await assert.rejects(rawClient(`${wss}?model=sandbox/echo`, { ca: cert.cert }), { status: 401 });
    await assert.rejects(rawClient(`${wss}?model=no-such-model`, { headers: { authorization: `Bearer ${KEY}` }, ca: cert.cert }), { status: 404 });
    await assert.rejects(rawClient(wss, { headers: { authorization: `Bearer ${KEY}` }, ca: cert.cert }), { status: 400 });
  });

  test('beta clients (OpenAI-Beta: realtime=v1) get the beta event names', async () => {
    const { socket, events } = await rawClient(`${wss}?model=sandbox/echo`, { headers: { authorization: `Bearer ${KEY}`, 'OpenAI-Beta': 'realtime=v1' }, ca: cert.cert });
    socket.send(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'beta' }] } }));
    socket.send(JSON.stringify({ type: 'response.create' }));
    await waitFor(events, 'response.done');
    const types = new Set(events.map((event) => event.type));
    for (const type of ['conversation.item.created', 'response.text.delta', 'response.text.done']) assert.ok(types.has(type), `${type} sent`);
    for (const type of ['conversation.item.added', 'response.output_text.delta']) assert.ok(!types.has(type), `${type} not sent`);
    socket.close();
  });

  test('audio is refused with error events that name the field; bad events get error events with the client’s event_id', async () => {
    const { socket, events } = await rawClient(`${wss}?model=sandbox/echo`, { headers: { authorization: `Bearer ${KEY}` }, ca: cert.cert });
    await waitFor(events, 'session.created');
    const send = (event: unknown) => socket.send(typeof event === 'string' ? event : JSON.stringify(event));
    send({ type: 'session.update', event_id: 'evt_audio', session: { output_modalities: ['audio'] } });
    send({ type: 'input_audio_buffer.append', event_id: 'evt_buffer', audio: 'AAAA' });
    send({ type: 'no.such.event', event_id: 'evt_unknown' });
    send('{not json');
    send({ type: 'conversation.item.delete', event_id: 'evt_delete', item_id: 'item_missing' });
    send({ type: 'response.cancel', event_id: 'evt_cancel' });
    send({ type: 'session.update', event_id: 'evt_tool', session: { tools: [{ type: 'function', parameters: { type: 'object' } }] } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const errors = events.filter((event) => event.type === 'error').map((event) => event.error);
    assert.deepEqual(
      errors.map((error) => [error.event_id, error.code, error.param]),
      [
        ['evt_audio', 'unsupported_parameter', 'session.output_modalities'],
        ['evt_buffer', 'unsupported_parameter', 'type'],
        ['evt_unknown', 'invalid_value', 'type'],
        [null, 'invalid_json', null],
        ['evt_delete', 'not_found', 'item_id'],
        ['evt_cancel', 'not_found', 'response_id'],
        // Named as the chat route names a field.
        ['evt_tool', 'invalid_value', 'session.tools[0].name'],
      ],
    );
    assert.equal(socket.readyState, WebSocket.OPEN, 'the socket stays open');
    socket.close();
  });

  test('input_image parts reach the model as chat image_url parts; an image chat would refuse is refused the same way', async () => {
    const { socket, events } = await rawClient(`${wss}?model=sandbox/echo`, { headers: { authorization: `Bearer ${KEY}` }, ca: cert.cert });
    await waitFor(events, 'session.created');
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
    const image = (url: string) => ({ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is this?' }, { type: 'input_image', image_url: url, detail: 'low' }] });
    socket.send(JSON.stringify({ type: 'conversation.item.create', item: image(`data:image/png;base64,${png}`) }));
    socket.send(JSON.stringify({ type: 'response.create' }));
    const doneAt = await waitFor(events, 'response.done');
    // The sandbox describes each image it was given: the bytes arrived.
    assert.match(events[doneAt]!.response.output[0].content[0].text, /\[1 image: image\/png 70 bytes\]/);

    socket.send(JSON.stringify({ type: 'response.create', event_id: 'evt_bad_image', response: { conversation: 'none', input: [image('data:image/png;base64,AAAA')] } }));
    const failedAt = await waitFor(events, 'response.done', doneAt + 1);
    assert.equal(events[failedAt]!.response.status, 'failed');
    const error = events.find((event) => event.type === 'error')!.error;
    assert.deepEqual([error.event_id, error.code], ['evt_bad_image', 'invalid_image']);
    socket.send(JSON.stringify({ type: 'conversation.item.create', event_id: 'evt_no_url', item: { type: 'message', role: 'user', content: [{ type: 'input_image' }] } }));
    await waitFor(events, 'error', events.indexOf(events.find((event) => event.type === 'error')!) + 1);
    assert.deepEqual(events.filter((event) => event.type === 'error').map((event) => [event.error.event_id, event.error.param]).at(-1), ['evt_no_url', 'item.content[0].image_url']);
    socket.close();
  });

  test('response.cancel stops the response; a second response.create meanwhile is refused', async () => {
    const { socket, events } = await rawClient(`${wss}?model=slow/lorem`, { headers: { authorization: `Bearer ${KEY}` }, ca: cert.cert });
    socket.send(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'a long story' }] } }));
    socket.send(JSON.stringify({ type: 'response.create' }));
    await waitFor(events, 'response.output_text.delta');
    socket.send(JSON.stringify({ type: 'response.create', event_id: 'evt_second' }));
    socket.send(JSON.stringify({ type: 'response.cancel' }));
    const doneAt = await waitFor(events, 'response.done');
    const response = events[doneAt]!.response;
    assert.equal(response.status, 'cancelled');
    const deltasBefore = events.filter((event) => event.type === 'response.output_text.delta').length;
    assert.ok(deltasBefore < 40, `stopped early (${deltasBefore} deltas)`);
    assert.ok(events.some((event) => event.type === 'error' && event.error.code === 'conversation_already_has_active_response' && event.error.event_id === 'evt_second'));
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(events.filter((event) => event.type === 'response.output_text.delta').length, deltasBefore, 'no delta after the cancel');
    socket.close();
  });

  test('limits: an oversized message closes the socket (1009); a flood gets rate-limit error events', async () => {
    const big = await rawClient(`${wss}?model=sandbox/echo`, { headers: { authorization: `Bearer ${KEY}` }, ca: cert.cert });
    const closing = closed(big.socket);
    big.socket.send(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'x'.repeat(100 * 1024) }] } }));
    assert.equal(await closing, 1009);

    const flood = await rawClient(`${wss}?model=sandbox/echo`, { headers: { authorization: `Bearer ${KEY}` }, ca: cert.cert });
    for (let i = 0; i < 15; i++) flood.socket.send(JSON.stringify({ type: 'conversation.item.retrieve', item_id: 'nope' }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const codes = flood.events.filter((event) => event.type === 'error').map((event) => event.error.code);
    assert.equal(codes.filter((code) => code === 'not_found').length, 10, 'the burst is served');
    assert.ok(codes.filter((code) => code === 'rate_limit_exceeded').length >= 4, `the rest is refused: ${codes.join(',')}`);
    flood.socket.close();
  });

  test('a plain GET without an upgrade is told to use a WebSocket', async () => {
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      import('node:https').then(({ get }) =>
        get(`${server.baseURL}/realtime?model=sandbox/echo`, { ca: cert.cert, headers: { authorization: `Bearer ${KEY}` } }, (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        }).on('error', reject),
      );
    });
    assert.equal(response.status, 426);
    assert.equal(JSON.parse(response.body).error.code, 'websocket_upgrade_required');
  });

  test('every route is served over the same TLS listener', async () => {
    const client = new OpenAI({ baseURL: server.baseURL, apiKey: KEY, maxRetries: 0, fetchOptions: { dispatcher: new Agent({ connect: { ca: cert.cert } }) } as never });
    const completion = await client.chat.completions.create({ model: 'sandbox/echo', messages: [{ role: 'user', content: 'over https' }] });
    assert.match(completion.choices[0]!.message.content!, /over https/);
  });
});

describe('Realtime on the embedded engine', () => {
  let engine: LlamaTestServer;
  before(async () => {
    engine = await startLlamaServer([{ id: 'tiny' }]);
  });
  after(() => engine.close());

  test('a text turn from real inference', async () => {
    const url = `${engine.server.origin.replace('http:', 'ws:')}/v1/realtime?model=local/tiny`;
    const { socket, events } = await rawClient(url);
    socket.send(JSON.stringify({ type: 'session.update', session: { max_output_tokens: 12 } }));
    socket.send(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hello' }] } }));
    socket.send(JSON.stringify({ type: 'response.create' }));
    const doneAt = await waitFor(events, 'response.done', 0, 30_000);
    const response = events[doneAt]!.response;
    assert.ok(['completed', 'incomplete'].includes(response.status), response.status);
    assert.ok(response.usage.output_tokens > 0 && response.usage.output_tokens <= 12, JSON.stringify(response.usage));
    const deltas = events.filter((event) => event.type === 'response.output_text.delta').map((event) => event.delta).join('');
    if (response.output.length > 0) assert.equal(deltas, response.output[0].content[0].text);
    socket.close();
  });
});

describe('Realtime idle timeout', () => {
  test('a response in progress keeps the session alive, even with the backend silent longer than the timeout; idle after it, the socket closes', async () => {
    // Each chunk comes 400 ms after the last: longer than the 250 ms idle timeout.
    const server = await startServer({ providers: [{ id: 'slow', kind: 'sandbox', chunkDelayMs: 400 }], realtime: { idleTimeoutMs: 250 } });
    try {
      const { socket, events } = await rawClient(`${server.origin.replace('http:', 'ws:')}/v1/realtime?model=slow/echo`);
      const closing = closed(socket);
      socket.send(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'one two three' }] } }));
      socket.send(JSON.stringify({ type: 'response.create' }));
      const doneAt = await waitFor(events, 'response.done');
      assert.equal(events[doneAt]!.response.status, 'completed');
      assert.ok(!events.some((event) => event.type === 'error'), JSON.stringify(events.filter((event) => event.type === 'error')));
      const endedAt = performance.now();
      assert.equal(await closing, 1000);
      assert.ok(performance.now() - endedAt >= 200, 'the idle clock started when the response ended');
      assert.equal(events.at(-1)!.error.code, 'session_idle_timeout');
    } finally {
      await server.close();
    }
  });
});

describe('Realtime and the key store', () => {
  test("a persona is a Realtime model like any other; a model the key may not use is refused at the upgrade (403), as chat refuses it", async () => {
    const { startPlatformServer } = await import('../platform/helpers.js');
    const server = await startPlatformServer();
    try {
      const persona = await server.admin('POST', '/personas', { name: 'Pirate', base_model: 'sandbox/echo', system_prompt: 'Talk like a pirate.' });
      assert.equal(persona.status, 200);
      const { body: key } = await server.admin('POST', '/keys', { name: 'realtime' });
      const url = (model: string) => `${server.origin.replace('http:', 'ws:')}/v1/realtime?model=${encodeURIComponent(model)}`;
      const { socket, events } = await rawClient(url(persona.body.model), { headers: { authorization: `Bearer ${key.value}` } });
      await waitFor(events, 'session.created');
      socket.send(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'ahoy' }] } }));
      socket.send(JSON.stringify({ type: 'response.create' }));
      const done = await waitFor(events, 'response.done');
      assert.equal(events[done]!.response.status, 'completed');
      socket.close();
      await assert.rejects(rawClient(url('persona://persona_missing'), { headers: { authorization: `Bearer ${key.value}` } }), (error: { status?: number }) => error.status === 404);

      const { body: limited } = await server.admin('POST', '/keys', { name: 'echo only', allowed_models: ['sandbox/echo'] });
      await assert.rejects(rawClient(url('sandbox/lorem'), { headers: { authorization: `Bearer ${limited.value}` } }), (error: { status?: number }) => error.status === 403);
      const allowed = await rawClient(url('sandbox/echo'), { headers: { authorization: `Bearer ${limited.value}` } });
      await waitFor(allowed.events, 'session.created');
      allowed.socket.close();
    } finally {
      await server.close();
    }
  });

  test('a key revoked while its session is open: the next response is refused within the revocation bound', async () => {
    const { startPlatformServer } = await import('../platform/helpers.js');
    const server = await startPlatformServer();
    try {
      const { body: key } = await server.admin('POST', '/keys', { name: 'realtime' });
      const { socket, events } = await rawClient(`${server.origin.replace('http:', 'ws:')}/v1/realtime?model=sandbox/echo`, { headers: { authorization: `Bearer ${key.value}` } });
      await waitFor(events, 'session.created');
      const ask = (text: string) => {
        socket.send(JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } }));
        socket.send(JSON.stringify({ type: 'response.create' }));
      };
      ask('before');
      const done = await waitFor(events, 'response.done');
      assert.equal(events[done]!.response.status, 'completed');

      assert.equal((await server.admin('POST', `/keys/${key.id}/revoke`)).status, 200);
      // Revocation reaches every node's key cache within 1 s.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const from = events.length;
      ask('after');
      const error = await waitFor(events, 'error', from);
      assert.equal(events[error]!.error.code, 'invalid_api_key');
      assert.equal(events.slice(from).some((event) => event.type === 'response.done' && event.response.status === 'completed'), false);
      socket.close();
    } finally {
      await server.close();
    }
  });
});
