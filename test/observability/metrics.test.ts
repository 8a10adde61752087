import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { errorReply, openAIError, startFakeUpstream, type FakeUpstream } from '../helpers/fake-openai-upstream.js';
import { ADMIN_KEY, startPlatformServer, type PlatformServer } from '../platform/helpers.js';
import { SandboxProvider } from '../../src/providers/sandbox/sandbox-provider.js';
import type { Provider } from '../../src/providers/provider.js';

/** One sample of the Prometheus text: `name{labels} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of every sample of `name` whose labels include `where`. */
function total(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  return samples
    .filter((sample) => sample.name === name && Object.entries(where).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}

async function scrape(origin: string, key?: string): Promise<Sample[]> {
  const response = await fetch(`${origin}/metrics`, key ? { headers: { authorization: `Bearer ${key}` } } : {});
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

async function post(origin: string, path: string, body: unknown, key = 'sk-test'): Promise<Response> {
  return fetch(`${origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
}

/** A stand-in for the embedded engine: a provider that reports sequences and queues like `LlamaProvider`. */
class FakeEngine extends SandboxProvider {
  states = [{ id: 'tiny', loaded: true, ready: false, preload: true, busySequences: 2, queueDepth: 3 }];
  constructor() {
    super({ id: 'engine', kind: 'sandbox', chunkDelayMs: 0, maxOutputTokens: 64 });
  }
  modelStates() {
    return this.states;
  }
}

describe('GET /metrics', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({});
  });
  after(() => server.close());

  it('counts requests, tokens, latency, time to first token, overhead and errors by code', async () => {
    const chat = { model: 'sandbox/echo', messages: [{ role: 'user', content: 'Hello there, metrics.' }] };
    assert.equal((await post(server.origin, '/v1/chat/completions', chat)).status, 200);
    const stream = await post(server.origin, '/v1/chat/completions', { ...chat, stream: true });
    assert.equal(stream.status, 200);
    await stream.text();
    assert.equal((await post(server.origin, '/v1/embeddings', { model: 'sandbox/echo', input: 'vectors please' })).status, 200);
    assert.equal((await post(server.origin, '/v1/chat/completions', { model: 'sandbox/echo', messages: 'nope' })).status, 400);
    assert.equal((await post(server.origin, '/v1/chat/completions', { ...chat, model: 'no-such-model-x' })).status, 404);
    assert.equal((await fetch(`${server.origin}/v1/nowhere`)).status, 404);
    const streamedUnknown = await post(server.origin, '/v1/chat/completions', { ...chat, model: 'no-such-model-y', stream: true });
    assert.equal(streamedUnknown.status, 404);
    await streamedUnknown.text();

    const samples = await scrape(server.origin);
    assert.equal(total(samples, 'switchyard_http_requests_total', { route: '/v1/chat/completions', status: '200', method: 'POST' }), 2);
    assert.equal(total(samples, 'switchyard_http_requests_total', { route: '/v1/chat/completions', status: '400' }), 1);
    assert.equal(total(samples, 'switchyard_http_requests_total', { route: '/v1/embeddings', status: '200' }), 1);
    assert.equal(total(samples, 'switchyard_http_requests_total', { route: '(unmatched)', status: '404' }), 1);
    assert.equal(total(samples, 'switchyard_http_request_duration_seconds_count', { route: '/v1/chat/completions' }), 5);

    const echo = { model: 'sandbox/echo', provider: 'sandbox', route: 'sandbox/echo' };
    assert.equal(total(samples, 'switchyard_model_requests_total', { ...echo, status: 'completed' }), 3);
    // A model nobody serves is the client's free text: it never becomes a label.
    assert.equal(total(samples, 'switchyard_model_requests_total', { model: '(unresolved)', status: 'failed' }), 2);
    assert.ok(!samples.some((sample) => Object.values(sample.labels).some((value) => value.startsWith('no-such-model'))));

    assert.ok(total(samples, 'switchyard_tokens_total', { model: 'sandbox/echo', direction: 'in' }) > 0);
    assert.ok(total(samples, 'switchyard_tokens_total', { model: 'sandbox/echo', direction: 'out' }) > 0);
    assert.equal(total(samples, 'switchyard_time_to_first_token_seconds_count', { model: 'sandbox/echo' }), 1);
    assert.equal(total(samples, 'switchyard_model_request_duration_seconds_count', { model: 'sandbox/echo' }), 3);
    assert.equal(total(samples, 'switchyard_gateway_overhead_seconds_count'), 3);
    const overheadSum = total(samples, 'switchyard_gateway_overhead_seconds_sum');
    assert.ok(overheadSum > 0 && overheadSum < 1, `overhead sum ${overheadSum}s`);

    assert.equal(total(samples, 'switchyard_errors_total', { code: 'invalid_type', status: '400' }) + total(samples, 'switchyard_errors_total', { code: 'invalid_value', status: '400' }), 1);
    // One non-streamed (through the error handler), one streamed (counted from the call's end).
    assert.equal(total(samples, 'switchyard_errors_total', { code: 'model_not_found', status: '404' }), 2);
    assert.equal(total(samples, 'switchyard_errors_total', { code: 'unknown_url', status: '404' }), 1);
    assert.ok(total(samples, 'switchyard_process_resident_memory_bytes') > 0 || total(samples, 'switchyard_nodejs_heap_size_used_bytes') > 0);
  });

  it('is open on a loopback bind by default, and /readyz is ready without a store or engine', async () => {
    const ready = await fetch(`${server.origin}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { store: { status: 'ok' }, models: { status: 'ok' } } });
  });
});

describe('/metrics and /readyz: engine gauges, preload readiness, auth', () => {
  it('reports busy sequences and queue depth, and is not ready until preload models are loaded', async () => {
    const engine = new FakeEngine();
    const server = await startServer({ auth: { keys: ['sk-metrics-key'] }, metrics: { requireAuth: true } }, { providers: [engine as Provider] });
    try {
      assert.equal((await fetch(`${server.origin}/metrics`)).status, 401);
      assert.equal((await fetch(`${server.origin}/metrics`, { headers: { authorization: 'Bearer wrong-key-123' } })).status, 401);
      const samples = await scrape(server.origin, 'sk-metrics-key');
      assert.equal(total(samples, 'switchyard_engine_busy_sequences', { provider: 'engine', model: 'tiny' }), 2);
      assert.equal(total(samples, 'switchyard_engine_queue_depth', { provider: 'engine', model: 'tiny' }), 3);
      assert.equal(total(samples, 'switchyard_engine_model_loaded', { provider: 'engine', model: 'tiny' }), 0);

      const notReady = await fetch(`${server.origin}/readyz`);
      assert.equal(notReady.status, 503);
      const body = (await notReady.json()) as { status: string; checks: { models: { status: string; reason: string } } };
      assert.equal(body.status, 'not_ready');
      assert.match(body.checks.models.reason, /engine\/tiny/);

      engine.states[0]!.ready = true;
      assert.equal((await fetch(`${server.origin}/readyz`)).status, 200);
      assert.equal(total(await scrape(server.origin, 'sk-metrics-key'), 'switchyard_engine_model_loaded', { model: 'tiny' }), 1);
    } finally {
      await server.close();
    }
  });

  it('can be turned off', async () => {
    const server = await startServer({ metrics: { enabled: false } });
    try {
      assert.equal((await fetch(`${server.origin}/metrics`)).status, 404);
    } finally {
      await server.close();
    }
  });
});

describe('circuit state', () => {
  let fake: FakeUpstream;
  let server: RunningServer;
  before(async () => {
    fake = await startFakeUpstream();
    server = await startServer({
      providers: [{ id: 'up', kind: 'openai-compatible', baseURL: fake.baseURL, models: ['m'] }],
      routing: { breakerFailures: 2, breakerCooldownMs: 60_000 },
    });
  });
  after(async () => {
    await server.close();
    await fake.close();
  });

  it('shows each target closed, then open after its failures', async () => {
    const chat = { model: 'up/m', messages: [{ role: 'user', content: 'hi' }] };
    assert.equal((await post(server.origin, '/v1/chat/completions', chat)).status, 200);
    let samples = await scrape(server.origin);
    assert.equal(total(samples, 'switchyard_upstream_circuit_state', { target: 'up/m' }), 0);
    fake.script(errorReply(500, openAIError('boom', 'server_error', null, null)));
    for (let i = 0; i < 2; i++) assert.equal((await post(server.origin, '/v1/chat/completions', chat)).status, 502);
    samples = await scrape(server.origin);
    assert.equal(total(samples, 'switchyard_upstream_circuit_state', { target: 'up/m' }), 2);
    assert.equal(total(samples, 'switchyard_upstream_consecutive_failures', { target: 'up/m' }), 2);
    assert.equal(total(samples, 'switchyard_model_requests_total', { provider: 'up', status: 'failed' }), 2);
    assert.equal(total(samples, 'switchyard_errors_total', { status: '502' }), 2);
  });
});

describe('with the platform', () => {
  let server: PlatformServer;
  before(async () => {
    server = await startPlatformServer({ metrics: { requireAuth: true }, usage: { flushIntervalMs: 60_000 } });
  });
  after(() => server.close());

  it('counts rate-limit rejections, shows the usage backlog, takes the admin key, and checks the store', async () => {
    const created = await server.admin('POST', '/keys', { name: 'limited', limits: { requests_per_minute: 1 } });
    assert.equal(created.status, 200);
    const key = created.body.value as string;
    const chat = { model: 'sandbox/echo', messages: [{ role: 'user', content: 'hi' }] };
    assert.equal((await post(server.origin, '/v1/chat/completions', chat, key)).status, 200);
    assert.equal((await post(server.origin, '/v1/chat/completions', chat, key)).status, 429);

    assert.equal((await fetch(`${server.origin}/metrics`, { headers: { authorization: `Bearer ${key}` } })).status, 403);
    const samples = await scrape(server.origin, ADMIN_KEY);
    assert.equal(total(samples, 'switchyard_rate_limit_rejections_total', { limit: 'requests' }), 1);
    assert.equal(total(samples, 'switchyard_errors_total', { code: 'rate_limit_exceeded', status: '429' }), 1);
    // The writer flushes once a minute here: both records (the call and the refusal) wait.
    assert.equal(total(samples, 'switchyard_usage_pending_records'), 2);
    assert.ok(total(samples, 'switchyard_usage_writer_lag_seconds') >= 0);
    assert.ok(samples.some((sample) => sample.name === 'switchyard_usage_writer_lag_seconds'));

    assert.equal((await fetch(`${server.origin}/readyz`)).status, 200);
    await server.platform.recorder.flush();
    await server.platform.store.db.destroy();
    const down = await fetch(`${server.origin}/readyz`);
    assert.equal(down.status, 503);
    const body = (await down.json()) as { checks: { store: { status: string } } };
    assert.equal(body.checks.store.status, 'failing');
  });
});
