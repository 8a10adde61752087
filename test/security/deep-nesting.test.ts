// A body nested thousands of levels deep parses (JSON.parse does not recurse) but overflows the
// stack where it is serialized again: the sandbox's seed, a body forwarded upstream. It must be a
// 400 in OpenAI's shape (the SDKs retry a 500), streamed or not, and the server must go on serving.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-openai-upstream.js';
import { nestsDeeperThan } from '../../src/http/deep-nesting.js';

let server: RunningServer;
let upstream: FakeUpstream;

before(async () => {
  upstream = await startFakeUpstream();
  server = await startServer({ providers: [{ id: 'sandbox', kind: 'sandbox' }, { id: 'up', kind: 'openai-compatible', baseURL: upstream.baseURL }] });
});
after(async () => {
  await server.close();
  await upstream.close();
});

const DEEP = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

async function post(path: string, body: string) {
  const response = await fetch(`${server.baseURL}/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, text: await response.text() };
}

test('a message nested 100,000 levels deep is a 400 invalid_json on the sandbox and on an upstream, streamed or not', async () => {
  for (const model of ['sandbox/echo', 'up/gpt-4o-mini']) {
    for (const stream of [false, true]) {
      const { status, text } = await post('chat/completions', `{"model":"${model}","stream":${stream},"messages":[{"role":"user","content":"hi","x":${DEEP}}]}`);
      assert.equal(status, 400, `${model}${stream ? ' (stream)' : ''}: ${text.slice(0, 200)}`);
      const error = (JSON.parse(text) as { error: { code: string; type: string; message: string } }).error;
      assert.equal(error.code, 'invalid_json');
      assert.equal(error.type, 'invalid_request_error');
      assert.match(error.message, /nests more than 1000 levels/);
    }
  }
  const after = await post('chat/completions', JSON.stringify({ model: 'sandbox/echo', messages: [{ role: 'user', content: 'still here' }] }));
  assert.equal(after.status, 200);
});

test('the depth walk: counts arrays and objects, not strings, and stops at the limit', () => {
  assert.equal(nestsDeeperThan({ a: [{ b: [1, 2] }] }, 4), false);
  assert.equal(nestsDeeperThan({ a: [{ b: [1, 2] }] }, 3), true);
  assert.equal(nestsDeeperThan('[[[[[[', 1), false);
  assert.equal(nestsDeeperThan(JSON.parse(DEEP), 1000), true);
});
