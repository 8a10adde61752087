// Client-chosen text that reaches response headers: a model name routed to a provider that takes
// any model ends up in `x-switchyard-route`. It must never fail the response (Node throws on
// header characters beyond Latin-1) nor split a header.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-openai-upstream.js';

let server: RunningServer;
let upstream: FakeUpstream;

before(async () => {
  upstream = await startFakeUpstream();
  // No model list: the upstream decides what exists, so `up/<anything>` is routed to it.
  server = await startServer({ providers: [{ id: 'up', kind: 'openai-compatible', baseURL: upstream.baseURL }] });
});
after(async () => {
  await server.close();
  await upstream.close();
});

function call(model: string, stream: boolean) {
  return fetch(`${server.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'x' }] }),
    signal: AbortSignal.timeout(5_000),
  });
}

test('a model name beyond ASCII is percent-encoded in x-switchyard-route, streamed or not', async () => {
  for (const [model, route] of [
    ['up/gpt\u0100x', 'up/gpt%C4%80x'],
    ['up/caf\u00e9', 'up/caf%C3%A9'],
    ['up/x\r\nset-cookie: a=b', 'up/x%0D%0Aset-cookie: a=b'],
    ['up/\ud800', 'up/%EF%BF%BD'],
  ] as const) {
    const whole = await call(model, false);
    assert.equal(whole.status, 200, `${JSON.stringify(model)}: ${await whole.clone().text()}`);
    assert.equal(whole.headers.get('x-switchyard-route'), route);
    assert.equal(whole.headers.get('set-cookie'), null);
    await whole.text();
    const streamed = await call(model, true);
    assert.equal(streamed.status, 200);
    assert.equal(streamed.headers.get('x-switchyard-route'), route);
    assert.match(await streamed.text(), /data: \[DONE\]\n\n$/);
  }
});
