import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { Redis } from 'ioredis';
import { formatResetDuration } from '../../src/limits/duration.js';
import { RedisLimiter } from '../../src/limits/redis-limiter.js';
import { MemoryLimiter } from '../../src/limits/memory-limiter.js';
import { LEASE_MS } from '../../src/limits/limiter.js';
import { eventually, REDIS_URL, redisAvailable, startPlatformServer, tempDir, type PlatformServer } from './helpers.js';

const servers: PlatformServer[] = [];
after(() => Promise.all(servers.map((server) => server.close())));
async function start(...args: Parameters<typeof startPlatformServer>): Promise<PlatformServer> {
  const server = await startPlatformServer(...args);
  servers.push(server);
  return server;
}
const hello = { model: 'sandbox/echo', messages: [{ role: 'user' as const, content: 'Hello there' }], max_tokens: 16 };

test('reset durations in OpenAI format', () => {
  assert.equal(formatResetDuration(20), '20ms');
  assert.equal(formatResetDuration(1000), '1s');
  assert.equal(formatResetDuration(1500), '1.5s');
  assert.equal(formatResetDuration(360_000), '6m0s');
  assert.equal(formatResetDuration(3_723_000), '1h2m3s');
});

test('requests/min: headers on every /v1 response, then a 429 the SDK reads as RateLimitError', async () => {
  const server = await start();
  const { body } = await server.admin('POST', '/keys', { limits: { requests_per_minute: 2 } });
  const client = server.client(body.value);
  const first = await client.chat.completions.create(hello).withResponse();
  assert.equal(first.response.headers.get('x-ratelimit-limit-requests'), '2');
  assert.equal(first.response.headers.get('x-ratelimit-remaining-requests'), '1');
  assert.match(first.response.headers.get('x-ratelimit-reset-requests')!, /^\d+(\.\d+)?s$|^\d+m\d+(\.\d+)?s$/);
  assert.ok(first.response.headers.get('x-ratelimit-limit-tokens'), 'the workspace tier limits tokens');
  const models = await fetch(`${server.baseURL}/models`, { headers: { authorization: `Bearer ${body.value}` } });
  assert.equal(models.headers.get('x-ratelimit-remaining-requests'), '1');
  await client.chat.completions.create(hello);
  const error = await client.chat.completions.create(hello).then(
    () => assert.fail('expected a 429'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof OpenAI.RateLimitError);
  assert.equal(error.status, 429);
  assert.equal(error.code, 'rate_limit_exceeded');
  assert.equal(error.type, 'requests');
  assert.match(error.message, /requests per min \(RPM\): Limit 2, Used 2, Requested 1/);
  assert.equal(error.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.ok(Number(error.headers.get('retry-after')) >= 1);
  assert.ok(Number(error.headers.get('retry-after-ms')) > 50_000);
  assert.match(error.headers.get('x-switchyard-audit-id')!, /^aud_/);
  // The refusal is recorded too.
  const auditId = error.headers.get('x-switchyard-audit-id')!;
  assert.ok(await eventually(async () => (await server.admin('GET', `/requests/${auditId}`)).body.status === 'rejected'));
});

test('tokens/min: estimated before, settled after; a 429 of type tokens', async () => {
  const server = await start({ tiers: { small: { tokensPerMinute: 100 } }, defaultTier: 'small' });
  const { body } = await server.admin('POST', '/keys', {});
  const client = server.client(body.value);
  const first = await client.chat.completions.create({ ...hello, max_tokens: 50 }).withResponse();
  // Settled with the real usage: only what was used stays taken.
  const used = first.data.usage!.total_tokens;
  const models = await fetch(`${server.baseURL}/models`, { headers: { authorization: `Bearer ${body.value}` } });
  assert.equal(models.headers.get('x-ratelimit-remaining-tokens'), String(100 - used));
  const error = await client.chat.completions.create({ ...hello, max_tokens: 95 }).catch((caught: unknown) => caught);
  assert.ok(error instanceof OpenAI.RateLimitError);
  assert.equal(error.type, 'tokens');
  assert.match(error.message, /tokens per min \(TPM\): Limit 100/);
});

test('a request larger than the whole tokens/min limit: 429 that says to reduce it, with no retry hint, not retried', async () => {
  const server = await start({ tiers: { small: { tokensPerMinute: 100 } }, defaultTier: 'small' });
  const { body } = await server.admin('POST', '/keys', {});
  const retrying = new OpenAI({ baseURL: server.baseURL, apiKey: body.value, maxRetries: 3 });
  const started = Date.now();
  const error = await retrying.chat.completions.create({ ...hello, max_tokens: 500 }).catch((caught: unknown) => caught);
  assert.ok(error instanceof OpenAI.RateLimitError);
  assert.equal(error.type, 'tokens');
  assert.match(error.message, /Request too large .* Limit 100, Requested \d+\. The input or output tokens must be reduced/);
  assert.equal(error.headers.get('x-should-retry'), 'false');
  assert.equal(error.headers.get('retry-after'), null);
  assert.equal(error.headers.get('x-ratelimit-limit-tokens'), '100');
  assert.ok(Date.now() - started < 2_000, 'the SDK did not wait to retry');
  assert.ok(await eventually(async () => (await server.admin('GET', '/requests?status=rejected')).body.data.length === 1));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await server.admin('GET', '/requests?status=rejected')).body.data.length, 1, 'the SDK did not retry');
  // A request that fits still goes through: nothing was taken by the refused one.
  await server.client(body.value).chat.completions.create({ ...hello, max_tokens: 50 });
});

test('the tokens/min reservation is the prompt estimated from its UTF-8 length (4 bytes a token) plus max_tokens', async () => {
  const server = await start({ tiers: { small: { tokensPerMinute: 1_000 } }, defaultTier: 'small' });
  const { body } = await server.admin('POST', '/keys', {});
  const client = new OpenAI({ baseURL: server.baseURL, apiKey: body.value, maxRetries: 0 });
  // 1,200 characters of three bytes each: 900 tokens by bytes (a quarter of that by characters).
  const text = '漢'.repeat(1_200);
  const error = await client.chat.completions
    .create({ model: 'sandbox/echo', messages: [{ role: 'user', content: text }], max_tokens: 200 })
    .catch((caught: unknown) => caught);
  assert.ok(error instanceof OpenAI.RateLimitError);
  // 3 to prime the reply, 3 framing the message, 900 for its text, 200 of output.
  assert.match(error.message, /Limit 1000, Requested 1106\./);
  // A long prompt of ordinary text fits by the same rule: 3,000 bytes are 750 tokens, +6, +200.
  const fits = await client.chat.completions.create({ model: 'sandbox/echo', messages: [{ role: 'user', content: 'abc '.repeat(750) }], max_tokens: 200 }).withResponse();
  assert.equal(fits.response.headers.get('x-ratelimit-remaining-tokens'), String(1_000 - 956), 'reserved from the estimate before the call');
});

test('in memory, a lease whose call never ended lapses at the next sweep, and frees its concurrency slot', async () => {
  let now = 1_000_000;
  const limiter = new MemoryLimiter({ concurrencyRetryAfterMs: 1_000, loadBudgetUsage: async () => 0, now: () => now });
  try {
    const scopes = [{ id: 'key:k', limits: { concurrentRequests: 1 } }];
    assert.equal((await limiter.acquire({ scopes, tokens: 0, leaseId: 'lost' })).refusal, undefined);
    assert.equal((await limiter.acquire({ scopes, tokens: 0, leaseId: 'second' })).refusal?.kind, 'concurrency');
    now += LEASE_MS + 1;
    (limiter as unknown as { sweep(): void }).sweep();
    assert.equal((await limiter.acquire({ scopes, tokens: 0, leaseId: 'fourth' })).refusal, undefined);
  } finally {
    await limiter.close();
  }
});

test("a failed read of a workspace's month so far is tried again by its next request, not remembered", async () => {
  let reads = 0;
  const limiter = new MemoryLimiter({
    concurrencyRetryAfterMs: 1_000,
    loadBudgetUsage: async () => {
      reads += 1;
      if (reads === 1) throw new Error('database unavailable');
      return 40;
    },
  });
  try {
    const input = { scopes: [], tokens: 10, leaseId: 'l1', budget: { id: 'ws:w', limit: 45, month: '2026-11' } };
    await assert.rejects(limiter.acquire(input), /database unavailable/);
    const admitted = await limiter.acquire({ ...input, leaseId: 'l2' });
    assert.equal(admitted.refusal, undefined);
    await limiter.settle({ scopes: [], leaseId: 'l2', windowStarts: [], tokenDelta: 0, tokensUsed: 10, budget: input.budget });
    const refused = await limiter.acquire({ ...input, leaseId: 'l3' });
    assert.equal(refused.refusal?.kind, 'quota', 'the usage read on the retry (40) counts: 40 + 10 is over 45');
    assert.equal(reads, 2);
  } finally {
    await limiter.close();
  }
});

test('embeddings are admitted like chat: requests/min, allowed models, and their tokens count', async () => {
  const server = await start({ tiers: { small: { requestsPerMinute: 2, tokensPerMinute: 1_000 } }, defaultTier: 'small' });
  const { body } = await server.admin('POST', '/keys', { allowed_models: ['sandbox/echo'] });
  const client = new OpenAI({ baseURL: server.baseURL, apiKey: body.value, maxRetries: 0 });
  const refused = await client.embeddings.create({ model: 'sandbox/lorem', input: 'x' }).catch((caught: unknown) => caught);
  assert.ok(refused instanceof OpenAI.PermissionDeniedError, 'a model the key may not use');
  const first = await client.embeddings.create({ model: 'sandbox/echo', input: 'one two three' }).withResponse();
  assert.equal(first.response.headers.get('x-ratelimit-limit-requests'), '2');
  assert.equal(first.response.headers.get('x-ratelimit-remaining-requests'), '1', 'the refused call took nothing; this one took one');
  const models = await fetch(`${server.baseURL}/models`, { headers: { authorization: `Bearer ${body.value}` } });
  assert.equal(models.headers.get('x-ratelimit-remaining-tokens'), String(1_000 - first.data.usage.prompt_tokens), 'settled with the real prompt tokens');
  await client.embeddings.create({ model: 'sandbox/echo', input: 'x' });
  const limited = await client.embeddings.create({ model: 'sandbox/echo', input: 'x' }).catch((caught: unknown) => caught);
  assert.ok(limited instanceof OpenAI.RateLimitError);
  assert.equal(limited.type, 'requests');
});

test('a stream the client cuts before its usage came is charged its prompt and what was relayed, not refunded', async () => {
  const server = await start({ providers: [{ id: 'sandbox', kind: 'sandbox', chunkDelayMs: 40 }], tiers: { small: { tokensPerMinute: 10_000 } }, defaultTier: 'small' });
  const { body } = await server.admin('POST', '/keys', {});
  const remaining = async () => {
    const models = await fetch(`${server.baseURL}/models`, { headers: { authorization: `Bearer ${body.value}` } });
    return Number(models.headers.get('x-ratelimit-remaining-tokens'));
  };
  const controller = new AbortController();
  const stream = await server.client(body.value).chat.completions.create(
    { model: 'sandbox/lorem', messages: [{ role: 'user', content: 'x' }], max_tokens: 200, stream: true },
    { signal: controller.signal },
  );
  let chunks = 0;
  try {
    for await (const _chunk of stream) {
      void _chunk;
      if (++chunks === 5) controller.abort();
    }
  } catch {
    // The SDK may end the iteration or throw on an abort; either way the client has left.
  }
  assert.equal(chunks, 5);
  assert.ok(await eventually(async () => (await server.admin('GET', '/requests?status=aborted')).body.data.length === 1));
  const charged = 10_000 - (await remaining());
  assert.ok(charged >= 5, `charged ${charged} tokens: the prompt and the chunks relayed`);
  assert.ok(charged < 200, `charged ${charged} tokens: not the whole reservation of 200 output tokens`);
});

test('concurrency: the SDK retries after retry-after-ms and gets through', async () => {
  const server = await start({ providers: [{ id: 'sandbox', kind: 'sandbox', chunkDelayMs: 60 }], limits: { concurrencyRetryAfterMs: 700 } });
  const { body } = await server.admin('POST', '/keys', { limits: { concurrent_requests: 1 } });
  const slow = server.client(body.value).chat.completions.create({ model: 'sandbox/lorem', messages: [{ role: 'user', content: 'x' }], max_tokens: 8 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const retrying = new OpenAI({ baseURL: server.baseURL, apiKey: body.value, maxRetries: 2 });
  const started = Date.now();
  const { response } = await retrying.chat.completions.create(hello).withResponse();
  assert.equal(response.status, 200);
  assert.ok(Date.now() - started >= 650, `retried after ${Date.now() - started} ms, not after retry-after-ms`);
  await slow;
  assert.ok(await eventually(async () => (await server.admin('GET', '/requests?status=rejected')).body.data.length === 1));
});

test('monthly budget: 429 insufficient_quota, not retried', async () => {
  const server = await start({ tiers: { tiny: { monthlyTokenBudget: 10 } }, defaultTier: 'tiny' });
  const { body } = await server.admin('POST', '/keys', {});
  await server.client(body.value).chat.completions.create(hello);
  const retrying = new OpenAI({ baseURL: server.baseURL, apiKey: body.value, maxRetries: 3 });
  const error = await retrying.chat.completions.create(hello).catch((caught: unknown) => caught);
  assert.ok(error instanceof OpenAI.RateLimitError);
  assert.equal(error.code, 'insufficient_quota');
  assert.equal(error.type, 'insufficient_quota');
  assert.equal(error.headers.get('x-should-retry'), 'false');
  assert.ok(await eventually(async () => (await server.admin('GET', '/requests?status=rejected')).body.data.length === 1));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await server.admin('GET', '/requests?status=rejected')).body.data.length, 1, 'the SDK did not retry');
});

test('allowed models: a key limited to some models gets 403 model_not_allowed for others', async () => {
  const server = await start();
  const { body } = await server.admin('POST', '/keys', { allowed_models: ['sandbox/lorem'] });
  await server.client(body.value).chat.completions.create({ ...hello, model: 'sandbox/lorem' });
  const error = await server.client(body.value).chat.completions.create(hello).catch((caught: unknown) => caught);
  assert.ok(error instanceof OpenAI.PermissionDeniedError);
  assert.equal(error.code, 'model_not_allowed');
  // The models endpoints agree: the listing shows only the allowed model, and retrieving another is a 404.
  const client = server.client(body.value);
  assert.deepEqual((await client.models.list()).data.map((model) => model.id), ['sandbox/lorem']);
  assert.equal((await client.models.retrieve('sandbox/lorem')).id, 'sandbox/lorem');
  const hidden = await client.models.retrieve('sandbox/echo').catch((caught: unknown) => caught);
  assert.ok(hidden instanceof OpenAI.NotFoundError, String(hidden));
  assert.equal(hidden.code, 'model_not_found');
});

const redis = await redisAvailable();
test('with Redis, two nodes share one requests/min limit exactly', { skip: redis ? false : 'Redis is not reachable on 127.0.0.1:6379' }, async () => {
  const dataDir = tempDir();
  const redisKeyPrefix = `switchyard-test-${randomBytes(4).toString('hex')}:`;
  const nodeA = await start({}, { dataDir, redisUrl: REDIS_URL, redisKeyPrefix });
  const nodeB = await start({}, { dataDir, redisUrl: REDIS_URL, redisKeyPrefix });
  const { body } = await nodeA.admin('POST', '/keys', { limits: { requests_per_minute: 50 } });
  await eventually(() => !nodeB.authenticator.open);
  const results = await Promise.all(
    Array.from({ length: 120 }, (_, index) => (index % 2 === 0 ? nodeA : nodeB).client(body.value).chat.completions.create(hello).then(() => 200, (error: { status?: number }) => error.status)),
  );
  assert.equal(results.filter((status) => status === 200).length, 50);
  assert.equal(results.filter((status) => status === 429).length, 70);
});

test('with Redis, calls that end together are settled in one go: leases freed, estimates corrected, budget counted', { skip: redis ? false : 'Redis is not reachable on 127.0.0.1:6379' }, async () => {
  const prefix = `switchyard-test-${randomBytes(4).toString('hex')}:`;
  const limiter = new RedisLimiter({ url: REDIS_URL, keyPrefix: prefix, loadBudgetUsage: async () => 0, concurrencyRetryAfterMs: 100 });
  try {
    const workspace = { id: 'ws:settle', limits: { tokensPerMinute: 10_000, concurrentRequests: 3 } };
    const key = { id: 'key:settle', limits: { concurrentRequests: 3 } };
    const budget = { id: 'ws:settle', limit: 1_000_000, month: '2026-11' };
    const admissions = await Promise.all([0, 1, 2].map((index) => limiter.acquire({ scopes: [workspace, key], tokens: 100, leaseId: `lease_${index}`, budget })));
    assert.ok(admissions.every((admission) => admission.refusal === undefined));
    const full = await limiter.acquire({ scopes: [workspace, key], tokens: 100, leaseId: 'lease_over', budget });
    assert.equal(full.refusal?.kind, 'concurrency');
    // Three calls end in one turn: one script settles them all. Each used 10 of its 100 estimated tokens.
    await Promise.all(
      admissions.map((admission, index) =>
        limiter.settle({ scopes: [workspace, key], leaseId: `lease_${index}`, windowStarts: admission.windowStarts, tokenDelta: 10 - 100, tokensUsed: 10, budget }),
      ),
    );
    const after = await limiter.peek([workspace]);
    assert.equal(after.tokens?.remaining, 10_000 - 30, 'the estimates were corrected to the 30 tokens used');
    const again = await Promise.all([0, 1, 2].map((index) => limiter.acquire({ scopes: [workspace, key], tokens: 1, leaseId: `again_${index}`, budget })));
    assert.ok(again.every((admission) => admission.refusal === undefined), 'the three leases were freed');
    const client = new Redis(REDIS_URL);
    try {
      assert.equal(await client.get(`${prefix}budget:ws:settle:2026-11`), '30');
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
    } finally {
      client.disconnect();
    }
  } finally {
    await limiter.close();
  }
});

/** A TCP hop in front of Redis that can be cut and restored, for a Redis that becomes unreachable. */
async function cuttableRedis(): Promise<{ url: string; cut: () => Promise<void>; restore: () => Promise<void>; close: () => Promise<void> }> {
  const { createServer, connect } = await import('node:net');
  const upstream = new URL(REDIS_URL);
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((client) => {
    const redisSocket = connect(Number(upstream.port || 6379), upstream.hostname);
    for (const socket of [client, redisSocket]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
    }
    client.pipe(redisSocket).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  return {
    url: `redis://127.0.0.1:${port}`,
    cut: stop,
    restore: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
    close: stop,
  };
}

test('with Redis, a settlement that fails while Redis is unreachable is sent again: its lease is freed and its tokens count once', { skip: redis ? false : 'Redis is not reachable on 127.0.0.1:6379' }, async () => {
  const prefix = `switchyard-test-${randomBytes(4).toString('hex')}:`;
  const hop = await cuttableRedis();
  const outages: string[] = [];
  const limiter = new RedisLimiter({
    url: hop.url,
    keyPrefix: prefix,
    loadBudgetUsage: async () => 0,
    concurrencyRetryAfterMs: 100,
    settleRetryDelaysMs: [300, 300, 300, 300],
    onError: (_error, what) => outages.push(what),
  });
  const client = new Redis(REDIS_URL);
  try {
    const workspace = { id: 'ws:retry', limits: { tokensPerMinute: 10_000, concurrentRequests: 1 } };
    const budget = { id: 'ws:retry', limit: 1_000_000, month: '2026-12' };
    const admission = await limiter.acquire({ scopes: [workspace], tokens: 100, leaseId: 'lease_retry', budget });
    assert.equal(admission.refusal, undefined);
    await hop.cut();
    const settled = limiter.settle({ scopes: [workspace], leaseId: 'lease_retry', windowStarts: admission.windowStarts, tokenDelta: 40 - 100, tokensUsed: 40, budget });
    // Long enough for the first try to fail (ioredis gives up on a command after two reconnects).
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal(await client.zcard(`${prefix}cc:ws:retry`), 1, 'the lease is still held while Redis is out of reach');
    await hop.restore();
    await settled;
    assert.equal(await client.zcard(`${prefix}cc:ws:retry`), 0, 'the lease was freed by a retry');
    assert.equal(await client.get(`${prefix}budget:ws:retry:2026-12`), '40');
    const next = await limiter.acquire({ scopes: [workspace], tokens: 1, leaseId: 'lease_next', budget });
    assert.equal(next.refusal, undefined, 'the concurrency slot is free again');
    assert.equal(next.tokens?.remaining, 10_000 - 40 - 1, 'the estimate was corrected once');
    assert.equal(outages.length, 1, 'the outage was said once, not once per reconnect');
  } finally {
    await limiter.close();
    await hop.close();
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
  }
});

test('with Redis, a call settled twice (a retry whose first try went through) counts its tokens once', { skip: redis ? false : 'Redis is not reachable on 127.0.0.1:6379' }, async () => {
  const prefix = `switchyard-test-${randomBytes(4).toString('hex')}:`;
  const limiter = new RedisLimiter({ url: REDIS_URL, keyPrefix: prefix, loadBudgetUsage: async () => 0, concurrencyRetryAfterMs: 100 });
  const client = new Redis(REDIS_URL);
  try {
    const workspace = { id: 'ws:twice', limits: { tokensPerMinute: 10_000, concurrentRequests: 2 } };
    const budget = { id: 'ws:twice', limit: 1_000_000, month: '2026-12' };
    const admission = await limiter.acquire({ scopes: [workspace], tokens: 100, leaseId: 'lease_twice', budget });
    const settle = () => limiter.settle({ scopes: [workspace], leaseId: 'lease_twice', windowStarts: admission.windowStarts, tokenDelta: 25 - 100, tokensUsed: 25, budget });
    await settle();
    await settle();
    assert.equal(await client.get(`${prefix}budget:ws:twice:2026-12`), '25');
    const after = await limiter.peek([workspace]);
    assert.equal(after.tokens?.remaining, 10_000 - 25);
  } finally {
    await limiter.close();
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
  }
});

test('per-key limits follow the key across rotation: the new secret keeps the window, and both secrets share it during the grace', async () => {
  const server = await start();
  const { body: key } = await server.admin('POST', '/keys', { limits: { requests_per_minute: 3 } });
  const status = (secret: string) => server.client(secret).chat.completions.create(hello).then(() => 200, (error: { status?: number }) => error.status);
  assert.equal(await status(key.value), 200);
  const { body: rotated } = await server.admin('POST', `/keys/${key.id}/rotate`, { grace_seconds: 3_600 });
  const next = await server.client(rotated.value).chat.completions.create(hello).withResponse();
  assert.equal(next.response.headers.get('x-ratelimit-remaining-requests'), '1', 'the window the key opened before its rotation');
  assert.equal(await status(key.value), 200);
  const error = await server.client(rotated.value).chat.completions.create(hello).catch((caught: unknown) => caught);
  assert.ok(error instanceof OpenAI.RateLimitError);
  assert.match(error.message, new RegExp(`API key ${rotated.id} on requests per min \\(RPM\\): Limit 3, Used 3`), 'named by the key that called');
  assert.equal(await status(key.value), 429, 'the old secret shares the limit, not a second one');
});
