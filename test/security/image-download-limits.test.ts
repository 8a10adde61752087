// Remote images downloaded for bytes-only backends: what one small request may make the server
// fetch. A body of short URLs must not open thousands of connections at once, nor hold gigabytes
// of downloads.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-openai-upstream.js';

const PNG_BYTES = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');
const MB = 1024 * 1024;

/** An image host on 127.0.0.2 that counts the connections open at once. */
async function startHost(): Promise<{ origin: string; hits: () => number; mostAtOnce: () => number; close(): Promise<void> }> {
  let open = 0;
  let most = 0;
  let hits = 0;
  const server: Server = createServer((request, response) => {
    hits += 1;
    open += 1;
    most = Math.max(most, open);
    response.on('close', () => (open -= 1));
    const path = new URL(request.url ?? '/', 'http://host').pathname;
    if (path === '/slow.png') {
      response.writeHead(200, { 'content-type': 'image/png' });
      response.write(PNG_BYTES.subarray(0, 8)); // then nothing
      return;
    }
    if (path === '/huge.png') {
      // 20 MB, no content-length: the cap must hold while streaming.
      response.writeHead(200, { 'content-type': 'image/png' });
      response.write(PNG_BYTES);
      response.end(Buffer.alloc(20 * MB - PNG_BYTES.length - 1));
      return;
    }
    response.writeHead(200, { 'content-type': 'image/png' }).end(PNG_BYTES);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.2:${port}`,
    hits: () => hits,
    mostAtOnce: () => most,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let server: RunningServer;
let upstream: FakeUpstream;
let host: Awaited<ReturnType<typeof startHost>>;

before(async () => {
  upstream = await startFakeUpstream();
  host = await startHost();
  server = await startServer({
    providers: [{ id: 'ollama', kind: 'openai-compatible', baseURL: upstream.baseURL, remoteImages: 'bytes', models: ['llava'] }],
    images: { fetchRemote: true, fetchTimeoutMs: 500, allowPrivateHosts: ['127.0.0.2'] },
  });
});
after(async () => {
  await Promise.all([server.close(), upstream.close(), host.close()]);
});

async function ask(urls: string[]): Promise<{ status: number; error?: { code: string; param: string; message: string } }> {
  const response = await fetch(`${server.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'ollama/llava',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, ...urls.map((url) => ({ type: 'image_url', image_url: { url } }))] }],
    }),
  });
  const body = (await response.json()) as { error?: { code: string; param: string; message: string } };
  return { status: response.status, ...(body.error ? { error: body.error } : {}) };
}

describe('image downloads of one request', () => {
  test('at most 500 image URLs are downloaded for one request; beyond, a 400 before any download', async () => {
    const before = host.hits();
    const reply = await ask(Array.from({ length: 501 }, (_, index) => `${host.origin}/x.png?${index}`));
    assert.equal(reply.status, 400);
    assert.equal(reply.error?.param, 'messages[0].content[501].image_url.url');
    assert.equal(host.hits(), before, 'nothing was downloaded');
  });

  test('downloads run a few at a time, and the first failure stops the rest', async () => {
    const before = host.hits();
    const reply = await ask(Array.from({ length: 40 }, () => `${host.origin}/slow.png`));
    assert.equal(reply.status, 400);
    assert.match(reply.error!.message, /timed out/);
    assert.ok(host.mostAtOnce() <= 4, `${host.mostAtOnce()} connections at once`);
    assert.ok(host.hits() - before <= 8, `${host.hits() - before} downloads started`);
  });

  test('the images of one request are capped in all (50 MB), each one within its own limit', async () => {
    const reply = await ask([`${host.origin}/huge.png?1`, `${host.origin}/huge.png?2`, `${host.origin}/huge.png?3`]);
    assert.equal(reply.status, 400);
    assert.equal(reply.error?.code, 'image_too_large');
    assert.match(reply.error!.message, /in all/);
    // Two of them are within it.
    upstream.reset();
    const two = await ask([`${host.origin}/huge.png?1`, `${host.origin}/huge.png?2`]);
    assert.equal(two.status, 200, JSON.stringify(two.error));
  });
});
