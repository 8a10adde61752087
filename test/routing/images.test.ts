// Image inputs through the real server: data URLs checked, remote URLs passed on or downloaded
// under the SSRF guard, models without vision refusing with a 400 that names the part.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { APIError } from 'openai';
import type { ChatCompletionContentPart } from 'openai/resources/chat/completions';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-openai-upstream.js';
import { blockedAddressReason } from '../../src/gateway/images/address-guard.js';
import { startLlamaServer, type LlamaTestServer } from '../helpers/llama-server.js';

const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
const PNG_BYTES = Buffer.from(PNG_1X1, 'base64');
const png = `data:image/png;base64,${PNG_1X1}`;

function withImages(...parts: ChatCompletionContentPart[]) {
  return [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'What is in these?' }, ...parts] }];
}
const image = (url: string): ChatCompletionContentPart => ({ type: 'image_url', image_url: { url } });

/** Asserts a 400 with this code and param. */
async function refused(call: Promise<unknown>, code: string, param: string, message?: RegExp) {
  await assert.rejects(call, (error: APIError) => {
    assert.equal(error.status, 400, `status of ${error.message}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.param, param);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/** A loopback image server: serves `/x.png`, a large file, a slow one, a redirect and a non-image; counts requests. */
async function startImageHost(address = '127.0.0.1'): Promise<{ origin: string; port: number; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server: Server = createServer((request, response) => {
    hits.push(request.url ?? '');
    switch (request.url) {
      case '/x.png':
        response.writeHead(200, { 'content-type': 'image/png' }).end(PNG_BYTES);
        return;
      case '/big.png': // no content-length: the cap must hold while streaming
        response.writeHead(200, { 'content-type': 'image/png' });
        response.write(PNG_BYTES);
        response.end(Buffer.alloc(64 * 1024, 1));
        return;
      case '/slow.png':
        response.writeHead(200, { 'content-type': 'image/png' });
        response.write(PNG_BYTES.subarray(0, 8)); // then nothing
        return;
      case '/redirect.png':
        response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' }).end();
        return;
      case '/page.html':
        response.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
        return;
      default:
        response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://${address}:${port}`,
    port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('the address guard', () => {
  test('refuses loopback, private, link-local, metadata and reserved addresses in every spelling', () => {
    const blocked = [
      '127.0.0.1', '127.8.9.10', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
      '0.0.0.0', '224.0.0.1', '255.255.255.255', '198.18.0.1',
      '::1', '::', 'fe80::1', 'fd00:ec2::254', 'fc00::1', 'ff02::1',
      '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '64:ff9b::a9fe:a9fe', '2002:c0a8:0101::1', '::127.0.0.1',
    ];
    for (const address of blocked) assert.ok(blockedAddressReason(address), `${address} is refused`);
  });

  test('lets public unicast addresses through', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '93.184.216.34', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2002:0808:0808::1']) {
      assert.equal(blockedAddressReason(address), undefined, `${address} is public`);
    }
  });
});

describe('image inputs', () => {
  let server: RunningServer;
  let fetching: RunningServer;
  let upstream: FakeUpstream;
  let host: Awaited<ReturnType<typeof startImageHost>>;

  before(async () => {
    upstream = await startFakeUpstream();
    host = await startImageHost();
    const providers = [
      { id: 'sandbox', kind: 'sandbox' as const },
      // An upstream that takes URLs (OpenAI-like), one that needs bytes (Ollama-like), one text-only model.
      { id: 'cloud', kind: 'openai-compatible' as const, baseURL: upstream.baseURL, models: ['vision-model', { id: 'text-only', vision: false }] },
      { id: 'ollama', kind: 'openai-compatible' as const, baseURL: upstream.baseURL, remoteImages: 'bytes' as const, models: ['llava'] },
    ];
    const aliases = { 'bytes-then-url': { targets: ['ollama/llava', 'cloud/vision-model'] } };
    server = await startServer({ providers, aliases, images: { maxBytes: 4096 } });
    fetching = await startServer({
      providers,
      images: { maxBytes: 4096, fetchRemote: true, fetchTimeoutMs: 500, allowPrivateHosts: ['images.internal.test', '127.0.0.2'] },
    });
  });
  after(async () => {
    await Promise.all([server.close(), fetching.close(), upstream.close(), host.close()]);
  });

  test('several base64 images in one turn reach the model', async () => {
    const completion = await server.client().chat.completions.create({ model: 'sandbox/echo', messages: withImages(image(png), image(png)) });
    const content = completion.choices[0]!.message.content!;
    assert.equal(content.split(`image/png ${PNG_BYTES.length} bytes`).length - 1, 2, content);
  });

  test('a data URL of a type that is not an image type', async () => {
    await refused(
      server.client().chat.completions.create({ model: 'sandbox/echo', messages: withImages(image(png), image('data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=')) }),
      'invalid_value',
      'messages[0].content[2].image_url.url',
    );
  });

  test('bytes that are not what the data URL declares', async () => {
    await refused(
      server.client().chat.completions.create({ model: 'sandbox/echo', messages: withImages(image(`data:image/jpeg;base64,${PNG_1X1}`)) }),
      'invalid_image',
      'messages[0].content[1].image_url.url',
      /image\/png image, not the image\/jpeg/,
    );
    await refused(
      server.client().chat.completions.create({ model: 'sandbox/echo', messages: withImages(image(`data:image/png;base64,${Buffer.from('plain text, no image').toString('base64')}`)) }),
      'invalid_image',
      'messages[0].content[1].image_url.url',
    );
  });

  test('an image over the size limit', async () => {
    const big = Buffer.concat([PNG_BYTES, Buffer.alloc(5000)]).toString('base64');
    await refused(
      server.client().chat.completions.create({ model: 'sandbox/echo', messages: withImages(image(`data:image/png;base64,${big}`)) }),
      'image_too_large',
      'messages[0].content[1].image_url.url',
      /over the limit of 4 KB/,
    );
  });

  test('a remote URL is passed untouched to an upstream that takes URLs', async () => {
    upstream.reset();
    const url = 'https://example.com/cat.png?size=large';
    await server.client().chat.completions.create({ model: 'cloud/vision-model', messages: withImages(image(url)) });
    assert.equal(upstream.chatRequests[0]!.body.messages[0].content[1].image_url.url, url);
  });

  test('a remote URL for a backend that needs bytes is refused while downloads are off', async () => {
    await refused(
      server.client().chat.completions.create({ model: 'ollama/llava', messages: withImages(image(png), image('https://example.com/cat.png')) }),
      'image_url_not_allowed',
      'messages[0].content[2].image_url.url',
      /base64 data URL/,
    );
  });

  test('an alias skips a target that needs bytes and serves the remote URL from one that takes URLs', async () => {
    upstream.reset();
    const response = await server.client().chat.completions.create({ model: 'bytes-then-url', messages: withImages(image('https://example.com/cat.png')) }).withResponse();
    assert.match(response.response.headers.get('x-switchyard-route') ?? '', /cloud\/vision-model/);
    assert.equal(upstream.chatRequests.length, 1);
    assert.equal(upstream.chatRequests[0]!.body.model, 'vision-model');
  });

  test('an image for a model declared without vision names the image part', async () => {
    await refused(
      server.client().chat.completions.create({ model: 'cloud/text-only', messages: withImages(image(png)) }),
      'image_input_not_supported',
      'messages[0].content[1].image_url.url',
      /does not accept image inputs/,
    );
  });

  test('the SSRF guard: loopback, metadata and a name resolving to loopback are refused without a connection', async () => {
    const before = host.hits.length;
    for (const url of [`${host.origin}/x.png`, 'http://169.254.169.254/latest/meta-data', `http://localhost:${new URL(host.origin).port}/x.png`, 'http://[::ffff:127.0.0.1]/x.png']) {
      await refused(
        fetching.client().chat.completions.create({ model: 'ollama/llava', messages: withImages(image(url)) }),
        'image_url_not_allowed',
        'messages[0].content[1].image_url.url',
        /private, loopback, link-local or reserved/,
      );
    }
    assert.equal(host.hits.length, before, 'the image host was never reached');
  });

  test('an allowed internal host is downloaded and sent to the backend as bytes', async () => {
    upstream.reset();
    // 127.0.0.2 is loopback too; the operator allowed it by name.
    const internal = await startImageHost('127.0.0.2');
    const url = `${internal.origin}/x.png`;
    try {
      await fetching.client().chat.completions.create({ model: 'ollama/llava', messages: withImages(image(url)) });
      assert.equal(upstream.chatRequests[0]!.body.messages[0].content[1].image_url.url, png, 'the upstream got the bytes as a data URL');
      // A backend that takes URLs still gets the URL itself.
      await fetching.client().chat.completions.create({ model: 'cloud/vision-model', messages: withImages(image(url)) });
      assert.equal(upstream.chatRequests[1]!.body.messages[0].content[1].image_url.url, url);
      assert.deepEqual(internal.hits, ['/x.png'], 'downloaded once, for the backend that needs bytes');
    } finally {
      await internal.close();
    }
  });

  test('downloads that fail are 400s that say why: too large, too slow, a redirect, not an image', async () => {
    const imageHost = await startImageHost('127.0.0.2');
    try {
      const at = (path: string) => `${imageHost.origin}${path}`;
      const ask = (path: string) => fetching.client().chat.completions.create({ model: 'ollama/llava', messages: withImages(image(at(path))) });
      const param = 'messages[0].content[1].image_url.url';
      await refused(ask('/big.png'), 'image_too_large', param);
      const started = performance.now();
      await refused(ask('/slow.png'), 'invalid_image_url', param, /timed out after 500 ms/);
      assert.ok(performance.now() - started < 5_000);
      await refused(ask('/redirect.png'), 'invalid_image_url', param, /redirects are not followed/);
      await refused(ask('/page.html'), 'invalid_image_url', param, /did not return a PNG/);
      await refused(ask('/missing.png'), 'invalid_image_url', param, /HTTP 404/);
    } finally {
      await imageHost.close();
    }
  });

  test('input_image in the Responses API follows the same rules', async () => {
    await assert.rejects(
      server.client().responses.create({
        model: 'cloud/text-only',
        input: [{ role: 'user', content: [{ type: 'input_text', text: 'see' }, { type: 'input_image', image_url: png, detail: 'auto' }] }],
      }),
      (error: APIError) => error.status === 400 && error.code === 'image_input_not_supported',
    );
  });
});

describe('image inputs on the embedded engine', () => {
  let engine: LlamaTestServer;
  before(async () => {
    engine = await startLlamaServer([{ id: 'tiny' }]);
  });
  after(() => engine.close());

  test('a local text model refuses an image with a 400 naming it, before any generation', async () => {
    await refused(
      engine.client.chat.completions.create({ model: 'local/tiny', messages: withImages(image(png)), max_tokens: 4 }),
      'image_input_not_supported',
      'messages[0].content[1].image_url.url',
    );
  });
});

