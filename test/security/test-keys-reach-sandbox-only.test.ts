// sk_test_ keys reach the sandbox only, including the calls Switchyard makes on their behalf: a
// persona's drift judge must not send a test key's reply to the (perhaps paid) embedding model.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-openai-upstream.js';
import { startPlatformServer, type PlatformServer } from '../platform/helpers.js';

let upstream: FakeUpstream;
let server: PlatformServer;

before(async () => {
  upstream = await startFakeUpstream();
  server = await startPlatformServer(
    {
      providers: [
        { id: 'sandbox', kind: 'sandbox' },
        { id: 'paid', kind: 'openai-compatible', baseURL: upstream.baseURL, models: ['text-embedding-3-small'] },
      ],
      personas: [
        {
          id: 'persona_echo',
          name: 'Echo',
          base_model: 'sandbox/echo',
          system_prompt: 'Repeat.',
          style_examples: ['The quick brown fox jumps over the lazy dog.'],
          drift_rules: { min_similarity: 0.5 },
        },
      ],
      drift: { embeddingModel: 'paid/text-embedding-3-small' },
    },
    { logLevel: 'info' },
  );
});
after(async () => {
  await server.close();
  await upstream.close();
});

async function personaCall(key: string): Promise<number> {
  const response = await fetch(`${server.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'persona://persona_echo', messages: [{ role: 'user', content: 'Quarterly revenue, by region.' }] }),
  });
  await response.text();
  return response.status;
}

test("a test key's persona reply is judged without the embedding model; a live key's is judged with it", async () => {
  const testKey = (await server.admin('POST', '/keys', { name: 'tests', test: true })).body.value as string;
  assert.match(testKey, /^sk_test_/);
  upstream.reset();
  assert.equal(await personaCall(testKey), 200);
  assert.equal(upstream.requests.length, 0, `the paid upstream was called: ${upstream.requests.map((request) => request.path).join(', ')}`);

  const liveKey = (await server.admin('POST', '/keys', { name: 'live' })).body.value as string;
  assert.equal(await personaCall(liveKey), 200);
  assert.ok(upstream.requests.some((request) => request.path.endsWith('/embeddings')), 'a live key is judged with the embedding model');
});
