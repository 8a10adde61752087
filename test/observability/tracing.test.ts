// OpenTelemetry traces: a local OTLP/HTTP collector receives the spans of real requests — a server
// span per request and GenAI client spans per model call (one per attempt after a fallback) — with
// the request id on every span; off (the default), nothing is exported.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startServer } from '../helpers/start-server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-openai-upstream.js';

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status?: { code?: number };
}

/** A collector that accepts OTLP/HTTP JSON and keeps the spans. */
async function startCollector(): Promise<{ url: string; spans: ExportedSpan[]; requests: number; close(): Promise<void> }> {
  const state = { spans: [] as ExportedSpan[], requests: 0 };
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      state.requests++;
      const payload = JSON.parse(body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Omit<ExportedSpan, 'attributes'> & { attributes: Array<{ key: string; value: Record<string, unknown> }> }> }> }> };
      for (const resource of payload.resourceSpans) {
        for (const scope of resource.scopeSpans) {
          for (const span of scope.spans) {
            const attributes = Object.fromEntries(span.attributes.map(({ key, value }) => [key, Object.values(value)[0]]));
            state.spans.push({ ...span, attributes });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    get spans() {
      return state.spans;
    },
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('tracing on', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let upstream: FakeUpstream;

  before(async () => {
    collector = await startCollector();
    upstream = await startFakeUpstream();
  });
  after(async () => {
    await collector.close();
    await upstream.close();
  });

  test('a server span per request, GenAI spans per attempt under it, the request id on each', async () => {
    const server = await startServer({
      tracing: { enabled: true, endpoint: collector.url, flushIntervalMs: 100 },
      providers: [
        { id: 'sandbox', kind: 'sandbox' },
        { id: 'up', kind: 'openai-compatible', baseURL: upstream.baseURL, models: ['gpt-t'] },
      ],
      aliases: { pair: { targets: ['up/gpt-t', 'sandbox/echo'] } },
    });
    let requestId: string;
    let fallbackRequestId: string;
    try {
      const { response } = await server.client().chat.completions.create({ model: 'up/gpt-t', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20, temperature: 0.5 }).withResponse();
      requestId = response.headers.get('x-request-id')!;
      upstream.once(({ response: raw }) => void raw.writeHead(503).end());
      const second = await server.client().chat.completions.create({ model: 'pair', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
      fallbackRequestId = second.response.headers.get('x-request-id')!;
      await server.client().embeddings.create({ model: 'sandbox/echo', input: 'x' });
    } finally {
      await server.close(); // flushes the exporter
    }
    const ofRequest = (id: string) => collector.spans.filter((span) => span.attributes['switchyard.request_id'] === id);

    const [serverSpan, chatSpan] = [ofRequest(requestId).find((span) => span.kind === 2)!, ofRequest(requestId).find((span) => span.kind === 3)!];
    assert.equal(serverSpan.name, 'POST /v1/chat/completions');
    assert.equal(serverSpan.attributes['http.response.status_code'], 200);
    assert.equal(chatSpan.name, 'chat gpt-t');
    assert.equal(chatSpan.parentSpanId, serverSpan.spanId);
    assert.equal(chatSpan.traceId, serverSpan.traceId);
    assert.equal(chatSpan.attributes['gen_ai.operation.name'], 'chat');
    assert.equal(chatSpan.attributes['gen_ai.provider.name'], 'up');
    assert.equal(chatSpan.attributes['gen_ai.request.model'], 'gpt-t');
    assert.equal(chatSpan.attributes['gen_ai.request.max_tokens'], 20);
    assert.equal(chatSpan.attributes['gen_ai.request.temperature'], 0.5);
    assert.ok(Number(chatSpan.attributes['gen_ai.usage.input_tokens']) > 0);
    assert.ok(Number(chatSpan.attributes['gen_ai.usage.output_tokens']) > 0);
    assert.equal(chatSpan.attributes['gen_ai.response.id'], 'chatcmpl-fake0001');

    const attempts = ofRequest(fallbackRequestId).filter((span) => span.kind === 3);
    assert.deepEqual(attempts.map((span) => span.name).sort(), ['chat echo', 'chat gpt-t']);
    const failed = attempts.find((span) => span.name === 'chat gpt-t')!;
    assert.equal(failed.attributes['error.type'], 'upstream_unavailable');
    assert.equal(failed.status?.code, 2);
    assert.ok(collector.spans.some((span) => span.name === 'embeddings echo' && span.attributes['gen_ai.operation.name'] === 'embeddings'));
  });
});

test('tracing off (the default): nothing is exported', async () => {
  const collector = await startCollector();
  const server = await startServer({ tracing: { enabled: false, endpoint: collector.url, flushIntervalMs: 50 } });
  try {
    await server.client().chat.completions.create({ model: 'sandbox/echo', messages: [{ role: 'user', content: 'hi' }] });
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    await server.close();
    await collector.close();
  }
  assert.equal(collector.requests, 0);
});
