// Slow clients, floods and browser origins, against the real server over raw sockets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startServer, type RunningServer } from '../helpers/start-server.js';

/** Everything the server sends until it closes the connection (or `timeoutMs` passes). */
function collect(socket: Socket, timeoutMs: number): Promise<{ text: string; closed: boolean; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ text, closed, ms: performance.now() - started });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('close', () => done(true));
    socket.on('error', () => undefined);
  });
}

const open = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });

describe('shutdown', () => {
  test('a request arriving on a kept-alive connection once shutdown began gets a 503 in OpenAI shape, after the stream in flight finishes', async () => {
    const closing = await startServer({ providers: [{ id: 'sandbox', kind: 'sandbox', chunkDelayMs: 100 }] });
    const socket = await open(Number(new URL(closing.origin).port));
    const result = collect(socket, 8_000);
    const body = JSON.stringify({ model: 'sandbox/lorem', stream: true, max_tokens: 6, messages: [{ role: 'user', content: 'x' }] });
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const stopped = closing.close();
    // Pipelined behind the stream: read once the stream is done, while the server is closing.
    socket.write('GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n');
    const { text } = await result;
    await stopped;
    assert.match(text, /data: \[DONE\]\n\n/, 'the stream in flight finished');
    const second = text.slice(text.lastIndexOf('HTTP/1.1 '));
    assert.match(second, /^HTTP\/1.1 503/);
    assert.match(second, /\r\nx-request-id: req_/i);
    assert.equal((JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4)) as { error: { code: string } }).error.code, 'server_shutting_down');
  });
});

describe('shutdown deadline', () => {
  test('a stream still running at the shutdown deadline ends with an error event, not silence', async () => {
    const closing = await startServer({ server: { shutdownTimeoutMs: 300 }, providers: [{ id: 'sandbox', kind: 'sandbox', chunkDelayMs: 100 }] });
    const response = await fetch(`${closing.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sandbox/lorem', stream: true, max_tokens: 60, messages: [{ role: 'user', content: 'x' }] }),
    });
    const text = response.text();
    await new Promise((resolve) => setTimeout(resolve, 150));
    await closing.close();
    const events = (await text).split('\n\n').filter((event) => event.startsWith('data: '));
    assert.ok(events.length > 1, 'some chunks came first');
    assert.ok(!events.includes('data: [DONE]'));
    assert.equal((JSON.parse(events.at(-1)!.slice(6)) as { error: { code: string } }).error.code, 'server_shutting_down');
  });

  test('a Responses stream still running at the deadline ends with response.failed and an error event', async () => {
    const closing = await startServer({ server: { shutdownTimeoutMs: 300 }, providers: [{ id: 'sandbox', kind: 'sandbox', chunkDelayMs: 100 }] });
    const response = await fetch(`${closing.baseURL}/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sandbox/lorem', stream: true, max_output_tokens: 60, input: 'x' }),
    });
    const text = response.text();
    await new Promise((resolve) => setTimeout(resolve, 150));
    await closing.close();
    const events = (await text)
      .split('\n\n')
      .filter((event) => event.startsWith('event: '))
      .map((event) => ({ name: event.slice(7, event.indexOf('\n')), data: JSON.parse(event.slice(event.indexOf('data: ') + 6)) as Record<string, unknown> }));
    assert.ok(events.some((event) => event.name === 'response.output_text.delta'), 'some text came first');
    assert.deepEqual(events.slice(-2).map((event) => event.name), ['response.failed', 'error']);
    const failed = events.at(-2)!.data.response as { status: string; error: { code: string }; output: Array<{ status: string }> };
    assert.equal(failed.status, 'failed');
    // `response.error.code` is one of the spec's ResponseErrorCode values; the error event names the cause.
    assert.equal(failed.error.code, 'server_error');
    assert.equal(failed.output[0]?.status, 'incomplete');
    assert.equal(events.at(-1)!.data.code, 'server_shutting_down');
    const numbers = events.map((event) => event.data.sequence_number as number);
    assert.deepEqual(numbers, numbers.map((_, index) => numbers[0]! + index), 'sequence numbers run on without a gap');
  });
});

describe('slow clients and floods', () => {
  let server: RunningServer;
  let port: number;
  before(async () => {
    server = await startServer({ server: { headersTimeoutMs: 500, requestTimeoutMs: 1_000, maxConnections: 20, bodyLimitBytes: 64 * 1024 }, providers: [{ id: 'sandbox', kind: 'sandbox', chunkDelayMs: 200 }] });
    port = Number(new URL(server.origin).port);
  });
  after(() => server.close());

  test('headers sent byte by byte are cut after the header timeout', async () => {
    const socket = await open(port);
    const result = collect(socket, 5_000);
    const request = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n';
    let index = 0;
    const drip = setInterval(() => {
      if (index < request.length && !socket.destroyed) socket.write(request[index++]!);
    }, 100);
    const { closed, ms, text } = await result;
    clearInterval(drip);
    assert.ok(closed, 'the server closed the connection');
    assert.ok(ms < 3_000, `cut after ${Math.round(ms)} ms`);
    assert.match(text, /^(HTTP\/1.1 408|)/, 'a 408 or a plain close');
  });

  test('a body sent too slowly gets a 408 within the request timeout', async () => {
    const socket = await open(port);
    const result = collect(socket, 5_000);
    socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":');
    const { closed, ms, text } = await result;
    assert.ok(closed);
    assert.ok(ms >= 900 && ms < 4_000, `cut after ${Math.round(ms)} ms`);
    assert.match(text, /^HTTP\/1.1 408/);
    // In OpenAI's shape, with a request id, like every other error.
    assert.match(text, /\r\nx-request-id: req_/);
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: Record<string, unknown> };
    assert.deepEqual(body.error, { message: 'The request did not arrive in time.', type: 'invalid_request_error', param: null, code: 'request_timeout' });
  });

  test('bytes that are not HTTP get a 400 in OpenAI shape', async () => {
    const socket = await open(port);
    const result = collect(socket, 3_000);
    socket.write('NOT HTTP AT ALL\r\n\r\n');
    const { text } = await result;
    assert.match(text, /^HTTP\/1.1 400/);
    assert.equal((JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: { code: string } }).error.code, 'malformed_request');
  });

  test('a long streamed response is not cut by the request timeout', async () => {
    // 200 ms per chunk: several seconds of stream, well past the 1 s request timeout.
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sandbox/lorem', stream: true, max_tokens: 12, messages: [{ role: 'user', content: 'x' }] }),
    });
    const started = performance.now();
    const text = await response.text();
    assert.ok(performance.now() - started > 1_500, 'the stream outlived the request timeout');
    assert.match(text, /data: \[DONE\]\n\n$/);
  });

  test('a chunked body over the limit is refused with a 413 before it is all sent', async () => {
    const socket = await open(port);
    const result = collect(socket, 5_000);
    socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const piece = 'a'.repeat(16 * 1024);
    let sent = 0;
    // 10 MB offered, 16 KB at a time, while the server has a say.
    for (let i = 0; i < 640 && !socket.destroyed; i++) {
      socket.write(`${piece.length.toString(16)}\r\n${piece}\r\n`);
      sent += piece.length;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const { text } = await result;
    assert.match(text, /^HTTP\/1.1 413/);
    assert.match(text, /request_too_large/);
    console.log(`# 413 after ${Math.round(sent / 1024)} KB offered of 10240 KB`);
  });

  test('connections beyond the cap are closed at once', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => open(port)));
    const extra = await open(port);
    const { closed } = await collect(extra, 2_000);
    assert.ok(closed, 'the 21st connection was closed');
    for (const socket of sockets) socket.destroy();
  });

  test('no framework banner headers', async () => {
    const response = await fetch(`${server.baseURL}/models`);
    assert.equal(response.headers.get('x-powered-by'), null);
    assert.equal(response.headers.get('server'), null);
  });
});

describe('CORS', () => {
  test('off by default: no CORS headers, a preflight is not answered with permissions', async () => {
    const server = await startServer({});
    try {
      const response = await fetch(`${server.baseURL}/models`, { headers: { origin: 'https://app.example' } });
      assert.equal(response.headers.get('access-control-allow-origin'), null);
      const preflight = await fetch(`${server.baseURL}/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    } finally {
      await server.close();
    }
  });

  test('configured origins get CORS on /v1, others do not; never on the admin API', async () => {
    const server = await startServer({ server: { corsOrigins: ['https://app.example'] } });
    try {
      const preflight = await fetch(`${server.baseURL}/chat/completions`, {
        method: 'OPTIONS',
        // What the SDK's `.stream()` helper sends from a browser: its helper header and its user agent too.
        headers: {
          origin: 'https://app.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type,user-agent,x-stainless-helper-method,x-stainless-retry-count',
        },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
      const allowed = preflight.headers.get('access-control-allow-headers')!.split(/\s*,\s*/);
      for (const header of ['authorization', 'content-type', 'user-agent', 'x-stainless-helper-method', 'x-stainless-retry-count']) assert.ok(allowed.includes(header), header);
      assert.match(preflight.headers.get('vary')!, /access-control-request-headers/);
      assert.equal(preflight.headers.get('access-control-allow-credentials'), null, 'credentials never allowed');
      assert.match(preflight.headers.get('x-request-id') ?? '', /^req_/);
      const call = await fetch(`${server.baseURL}/models`, { headers: { origin: 'https://app.example' } });
      assert.equal(call.headers.get('access-control-allow-origin'), 'https://app.example');
      const exposed = call.headers.get('access-control-expose-headers')!.split(/\s*,\s*/);
      // What the SDK reads: its retry timing, and whether to retry at all.
      for (const header of ['x-request-id', 'retry-after', 'retry-after-ms', 'x-should-retry', 'x-ratelimit-remaining-requests']) assert.ok(exposed.includes(header), header);
      const stranger = await fetch(`${server.baseURL}/models`, { headers: { origin: 'https://evil.example' } });
      assert.equal(stranger.headers.get('access-control-allow-origin'), null);
      const admin = await fetch(`${server.origin}/admin/v1/keys`, { headers: { origin: 'https://app.example' } });
      assert.equal(admin.headers.get('access-control-allow-origin'), null);
    } finally {
      await server.close();
    }
  });
});
