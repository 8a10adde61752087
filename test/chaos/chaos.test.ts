// Faults survived: 1,000 requests, streamed and not, over an alias whose first target is a chaos
// upstream (20% 5xx, 10% timeouts, 5% mid-stream cuts) and whose second is healthy. Every client
// must get a complete reply or an OpenAI-shaped error: no hang, no stream cut without an error
// event. The counts of each outcome are printed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createParser } from 'eventsource-parser';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-openai-upstream.js';
import { startChaosUpstream, type ChaosUpstream } from '../helpers/chaos-upstream.js';

type Outcome = 'complete' | 'complete after fallback' | 'error (HTTP)' | 'error (stream event)' | 'HANG' | 'TRUNCATED' | 'MALFORMED';

const isOpenAIError = (value: unknown): boolean => {
  const error = (value as { error?: Record<string, unknown> } | null)?.error;
  return !!error && typeof error.message === 'string' && typeof error.type === 'string' && 'param' in error && 'code' in error;
};

/** One request, classified by what the client saw. */
async function call(baseURL: string, model: string, stream: boolean, deadlineMs: number): Promise<Outcome> {
  const signal = AbortSignal.timeout(deadlineMs);
  try {
    const response = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hello' }], ...(stream ? { stream_options: { include_usage: true } } : {}) }),
      signal,
    });
    const fellBack = /fallback/.test(response.headers.get('x-switchyard-route') ?? '');
    const text = await response.text();
    if (response.status !== 200) return isOpenAIError(JSON.parse(text)) ? 'error (HTTP)' : 'MALFORMED';
    if (!stream) {
      const body = JSON.parse(text) as { choices?: Array<{ message?: { content?: string } }> };
      return typeof body.choices?.[0]?.message?.content === 'string' ? (fellBack ? 'complete after fallback' : 'complete') : 'MALFORMED';
    }
    const events: string[] = [];
    createParser({ onEvent: (event) => events.push(event.data) }).feed(text);
    const last = events.at(-1);
    if (last === '[DONE]') {
      const finished = events.slice(0, -1).some((data) => /"finish_reason":"stop"/.test(data));
      return finished ? (fellBack ? 'complete after fallback' : 'complete') : 'TRUNCATED';
    }
    if (last !== undefined && isOpenAIError(JSON.parse(last))) return 'error (stream event)';
    return 'TRUNCATED';
  } catch (error) {
    if (signal.aborted) return 'HANG';
    throw error;
  }
}

describe('chaos', () => {
  let chaos: ChaosUpstream;
  let healthy: FakeUpstream;
  let server: RunningServer;

  before(async () => {
    chaos = await startChaosUpstream({ serverError: 0.2, timeout: 0.1, midStreamCut: 0.05 }, 42);
    healthy = await startFakeUpstream();
    server = await startServer({
      providers: [
        // The chaos upstream's socket idles out after 1 s between chunks (a timeout that ends the wait for headers too).
        { id: 'chaos', kind: 'openai-compatible', baseURL: chaos.baseURL, models: ['m'], timeoutMs: 1_000 },
        { id: 'healthy', kind: 'openai-compatible', baseURL: healthy.baseURL, models: ['m'] },
      ],
      aliases: { resilient: { targets: [{ model: 'chaos/m', timeoutMs: 400 }, 'healthy/m'] } },
      // Keep the chaos target in play: a short cooldown after the breaker opens.
      routing: { breakerFailures: 5, breakerCooldownMs: 200, baseDelayMs: 10, maxDelayMs: 50 },
    });
  });
  after(async () => {
    await server.close();
    await chaos.close();
    await healthy.close();
  });

  test('1,000 requests: every one completes or fails with an OpenAI-shaped error', async () => {
    const counts = new Map<Outcome, number>();
    let next = 0;
    const worker = async () => {
      while (next < 1_000) {
        const index = next++;
        const outcome = await call(server.baseURL, 'resilient', index % 2 === 0, 10_000);
        counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const faults = new Map<string, number>();
    for (const fault of chaos.faults) faults.set(fault, (faults.get(fault) ?? 0) + 1);
    console.log(`# outcomes of 1,000 requests: ${JSON.stringify(Object.fromEntries([...counts].sort()))}`);
    console.log(`# faults the chaos upstream injected over ${chaos.faults.length} requests it saw: ${JSON.stringify(Object.fromEntries([...faults].sort()))}`);
    assert.equal([...counts.values()].reduce((sum, count) => sum + count, 0), 1_000);
    for (const forbidden of ['HANG', 'TRUNCATED', 'MALFORMED'] as const) assert.equal(counts.get(forbidden) ?? 0, 0, `${forbidden}: ${counts.get(forbidden)}`);
    assert.ok((counts.get('complete after fallback') ?? 0) > 100, 'the healthy target took over often');
    assert.ok((counts.get('error (stream event)') ?? 0) > 0, 'cuts after the first byte end with an error event');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(chaos.openSockets() <= 16, true, `sockets to the chaos upstream left open: ${chaos.openSockets()}`);
  });

  test('malformed events, oversized events and a backend that hangs after its first token', async () => {
    const local = await startChaosUpstream({ malformed: 1 / 3, oversized: 1 / 3, hangAfterFirst: 1 / 3 }, 7);
    const strict = await startServer({ providers: [{ id: 'odd', kind: 'openai-compatible', baseURL: local.baseURL, models: ['m'], timeoutMs: 500 }] });
    try {
      const counts = new Map<Outcome, number>();
      for (let i = 0; i < 30; i++) {
        const outcome = await call(strict.baseURL, 'odd/m', true, 10_000);
        counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
      }
      console.log(`# malformed/oversized/hang-after-first-token streams: ${JSON.stringify(Object.fromEntries(counts))}; faults ${JSON.stringify(local.faults.reduce<Record<string, number>>((all, fault) => ({ ...all, [fault]: (all[fault] ?? 0) + 1 }), {}))}`);
      for (const forbidden of ['HANG', 'TRUNCATED', 'MALFORMED'] as const) assert.equal(counts.get(forbidden) ?? 0, 0, forbidden);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(local.openSockets() <= 1, true, `upstream sockets freed after the idle timeout (${local.openSockets()} open)`);
    } finally {
      await strict.close();
      await local.close();
    }
  });
});
