import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { UpstreamCall } from '../../src/providers/openai-compatible/upstream-call.js';

// A local server whose routes write bodies of known bytes, and say how far they got.
const CHUNK = Buffer.alloc(16 * 1024, 'x');
const BIG_CHUNKS = 512; // 8 MiB in all: far more than any socket buffer holds
let server: Server;
let origin: string;
let written = 0;
let bigDone = false;
const closedEarly: string[] = [];

function writeMany(response: ServerResponse, left: number): void {
  while (left > 0) {
    left--;
    written += CHUNK.length;
    if (!response.write(CHUNK)) {
      response.once('drain', () => writeMany(response, left));
      return;
    }
  }
  bigDone = true;
  response.end();
}

before(async () => {
  server = createServer((request, response) => {
    response.on('close', () => {
      if (!response.writableFinished) closedEarly.push(request.url ?? '');
    });
    if (request.url === '/big') {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      writeMany(response, BIG_CHUNKS);
    } else if (request.url === '/slow') {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.write('first ');
      // Never ends by itself: the caller has to abort.
    } else {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end(`hello ${request.method} ${request.url}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function call(dispatcher: Agent, path: string, signal = new AbortController().signal): UpstreamCall {
  return new UpstreamCall(dispatcher, { origin, path, method: 'GET', headers: {} }, signal);
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('UpstreamCall: one upstream call through undici with our own handler', () => {
  test('a whole body as text, with the status and headers first', async () => {
    const agent = new Agent();
    const upstream = call(agent, '/hello');
    const head = await upstream.head;
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers['content-type'], 'text/plain');
    assert.equal(await upstream.text(), 'hello GET /hello');
    await agent.close();
  });

  test('a reader that does not read holds the upstream back (the socket is paused), and then gets every byte in order', async () => {
    const agent = new Agent();
    written = 0;
    bigDone = false;
    const upstream = call(agent, '/big');
    await upstream.head;
    await sleep(300);
    // Without the pause the server writes all 8 MiB into the never-read body at once.
    assert.ok(!bigDone, 'the upstream wrote its whole body while nobody read it');
    assert.ok(written < (BIG_CHUNKS * CHUNK.length) / 2, `the upstream wrote ${written} bytes while nobody read`);
    let total = 0;
    for await (const bytes of upstream) {
      assert.ok(bytes.every((byte) => byte === 0x78));
      total += bytes.length;
    }
    assert.equal(total, BIG_CHUNKS * CHUNK.length);
    await agent.close();
  });

  test('the abort signal ends a call mid-body: the reader gets the reason and the upstream sees its connection closed', async () => {
    const agent = new Agent();
    const controller = new AbortController();
    const upstream = call(agent, '/slow', controller.signal);
    await upstream.head;
    assert.equal((await upstream.read())?.toString(), 'first ');
    const reading = upstream.read();
    controller.abort(new Error('client gone'));
    await assert.rejects(reading, /client gone/);
    await until(() => closedEarly.includes('/slow'), 'the upstream to see the abort');
    await agent.close();
  });

  test('a signal already aborted never dispatches; one aborted while waiting for a connection rejects at once', async () => {
    const agent = new Agent({ connections: 1 });
    const aborted = AbortSignal.abort(new Error('gone before'));
    await assert.rejects(call(agent, '/hello', aborted).head, /gone before/);

    const busy = call(agent, '/slow');
    await busy.head;
    const controller = new AbortController();
    const waiting = call(agent, '/hello', controller.signal);
    await sleep(50);
    controller.abort(new Error('gone while queued'));
    await assert.rejects(waiting.head, /gone while queued/);
    busy.discard();
    await agent.close();
  });

  test('a body left unread is discarded: the call is aborted and the one connection serves the next call', async () => {
    const agent = new Agent({ connections: 1 });
    const first = call(agent, '/slow');
    await first.head;
    first.discard();
    await assert.rejects(first.read(), /not read to its end/);
    const second = call(agent, '/again');
    await second.head;
    assert.equal(await second.text(), 'hello GET /again');
    await agent.close();
  });

  test('text(limit) reads no further than the limit and frees the call', async () => {
    const agent = new Agent({ connections: 1 });
    const upstream = call(agent, '/big');
    await upstream.head;
    const text = await upstream.text(1000);
    assert.equal(text.length, 1000);
    assert.match(text, /^x+$/);
    const next = call(agent, '/after');
    await next.head;
    assert.equal(await next.text(), 'hello GET /after');
    await agent.close();
  });
});
