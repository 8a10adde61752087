// How calls are charged to the limits and the budget in edge cases: a persona's recovery call,
// which runs under its own audit id inside the request that was admitted.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { completionReply, fakeUsage, startFakeUpstream } from '../helpers/fake-openai-upstream.js';
import { eventually, startPlatformServer, type PlatformServer } from './helpers.js';

const servers: PlatformServer[] = [];
const closers: Array<() => Promise<void>> = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await Promise.all(closers.map((close) => close()));
});

test("a persona's recovery call counts against tokens/min and the monthly budget, as its usage record does", async () => {
  const upstream = await startFakeUpstream();
  closers.push(() => upstream.close());
  const server = await startPlatformServer({
    providers: [
      { id: 'sandbox', kind: 'sandbox' },
      { id: 'up', kind: 'openai-compatible', baseURL: upstream.baseURL, models: ['m'] },
    ],
    personas: [
      {
        id: 'persona_calm',
        name: 'Calm',
        base_model: 'up/m',
        system_prompt: 'You are calm.',
        drift_rules: { forbidden_phrases: ['as an AI'] },
        recovery: { policy: 'regenerate' },
      },
    ],
    drift: { threshold: 0.4 },
    tiers: { metered: { tokensPerMinute: 100_000, monthlyTokenBudget: 1_000 } },
    defaultTier: 'metered',
  });
  servers.push(server);
  const key = (await server.admin('POST', '/keys', {})).body.value as string;
  upstream.once(
    completionReply({ content: 'As an AI, I cannot say.', usage: fakeUsage(100, 200) }),
    completionReply({ content: 'All is well.', usage: fakeUsage(300, 400) }),
  );
  const { response } = await server
    .client(key)
    .chat.completions.create({ model: 'persona://persona_calm', messages: [{ role: 'user', content: 'How is it?' }], max_tokens: 500 })
    .withResponse();
  assert.equal(response.headers.get('x-switchyard-drift-recovery'), 'regenerate');
  assert.equal(upstream.chatRequests.length, 2);
  // Both calls' tokens are taken: 100 + 200 for the first, 300 + 400 for its recovery.
  const models = await fetch(`${server.baseURL}/models`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(models.headers.get('x-ratelimit-remaining-tokens'), String(100_000 - 1_000));
  // The month's budget of 1,000 tokens is spent: the next call is refused.
  const refused = await fetch(`${server.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'Again?' }], max_tokens: 5 }),
  });
  assert.equal(refused.status, 429);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'insufficient_quota');
});

test('model calls take from the limits once, with no extra peek; other routes peek', async () => {
  const server = await startPlatformServer();
  servers.push(server);
  const { body } = await server.admin('POST', '/keys', { limits: { requests_per_minute: 100 } });
  const limiter = server.platform.limiter;
  const peek = limiter.peek.bind(limiter);
  let peeks = 0;
  limiter.peek = (scopes) => {
    peeks++;
    return peek(scopes);
  };
  const client = server.client(body.value);
  const embedded = await client.embeddings.create({ model: 'sandbox/echo', input: 'hello' }).withResponse();
  const completed = await client.completions.create({ model: 'sandbox/echo', prompt: 'hello', max_tokens: 5 }).withResponse();
  const chatted = await client.chat.completions.create({ model: 'sandbox/echo', messages: [{ role: 'user', content: 'hello' }], max_tokens: 5 }).withResponse();
  const responded = await client.responses.create({ model: 'sandbox/echo', input: 'hello', max_output_tokens: 16 }).withResponse();
  assert.equal(peeks, 0);
  assert.deepEqual(
    [embedded, completed, chatted, responded].map(({ response }) => response.headers.get('x-ratelimit-remaining-requests')),
    ['99', '98', '97', '96'],
  );
  const models = await fetch(`${server.baseURL}/models`, { headers: { authorization: `Bearer ${body.value}` } });
  assert.equal(models.headers.get('x-ratelimit-remaining-requests'), '96');
  assert.equal(peeks, 1);
});

/** Streams `sandbox/echo` and leaves after `keep` chunks; returns the call's audit id. */
async function cutStream(server: PlatformServer, key: string, keep: number): Promise<string> {
  const controller = new AbortController();
  const { data: stream, response } = await server
    .client(key)
    .chat.completions.create(
      { model: 'sandbox/echo', messages: [{ role: 'user', content: 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen' }], stream: true },
      { signal: controller.signal },
    )
    .withResponse();
  let chunks = 0;
  try {
    for await (const _chunk of stream) {
      void _chunk;
      if (++chunks === keep) controller.abort();
    }
  } catch {
    // The SDK may end the iteration or throw on an abort; either way the client has left.
  }
  assert.equal(chunks, keep);
  return response.headers.get('x-switchyard-audit-id')!;
}

async function recordOf(server: PlatformServer, auditId: string) {
  let record: any;
  const written = async () => {
    const found = await server.admin('GET', `/requests/${auditId}`);
    record = found.body;
    return found.status === 200;
  };
  assert.ok(await eventually(written), `no usage record for ${auditId}`);
  return record;
}

test('a stream the client cuts is recorded with what it was served, the same tokens the limits were settled with, and their cost', async () => {
  const server = await startPlatformServer({
    providers: [{ id: 'sandbox', kind: 'sandbox', chunkDelayMs: 30 }],
    tiers: { metered: { tokensPerMinute: 10_000, monthlyTokenBudget: 1_000_000 } },
    defaultTier: 'metered',
    usage: { prices: { 'sandbox/echo': { input: 1_000_000, output: 2_000_000 } } },
  });
  servers.push(server);
  const key = (await server.admin('POST', '/keys', {})).body.value as string;
  const record = await recordOf(server, await cutStream(server, key, 5));
  assert.equal(record.status, 'aborted');
  assert.ok(record.usage.prompt_tokens > 0, 'the prompt, as estimated before the call');
  assert.ok(record.usage.completion_tokens >= 5, `the chunks relayed (${record.usage.completion_tokens})`);
  const models = await fetch(`${server.baseURL}/models`, { headers: { authorization: `Bearer ${key}` } });
  const charged = 10_000 - Number(models.headers.get('x-ratelimit-remaining-tokens'));
  assert.equal(record.usage.total_tokens, charged, 'the record holds what the limiter was settled with');
  assert.equal(record.cost_usd, record.usage.prompt_tokens * 1 + record.usage.completion_tokens * 2);
  // The month's budget is rebuilt from the records after a restart: they hold the same tokens.
  assert.equal(await server.platform.store.usage.tokensSince('ws_default', '2000-01-01'), charged);
});

test('a cut stream of a caller with no token limits is recorded with its estimated prompt and the chunks relayed', async () => {
  const server = await startPlatformServer({ providers: [{ id: 'sandbox', kind: 'sandbox', chunkDelayMs: 30 }], tiers: { unmetered: {} }, defaultTier: 'unmetered' });
  servers.push(server);
  const key = (await server.admin('POST', '/keys', {})).body.value as string;
  const record = await recordOf(server, await cutStream(server, key, 4));
  assert.equal(record.status, 'aborted');
  assert.ok(record.usage.prompt_tokens > 0);
  assert.ok(record.usage.completion_tokens >= 4);
});
