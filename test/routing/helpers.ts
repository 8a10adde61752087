import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { APIError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { RunningServer } from '../helpers/start-server.js';
import { completionReply, startFakeUpstream, streamReply, type FakeUpstream, type Reply } from '../helpers/fake-openai-upstream.js';
import type { ConfigInput } from '../../src/config/schema.js';

export const USER = [{ role: 'user' as const, content: 'Say hello.' }];

/** A healthy upstream that signs its replies: `from <name>`, streamed when asked. */
export function signedReply(name: string): Reply {
  return (exchange) =>
    exchange.request.body?.stream === true ? streamReply({ contents: [`from ${name}`] })(exchange) : completionReply({ content: `from ${name}` })(exchange);
}

/** Two or three fake OpenAI upstreams, as providers `a`, `b`, `c`, each declaring `gpt-test` and its own `<id>-only`. */
export interface Upstreams {
  a: FakeUpstream;
  b: FakeUpstream;
  c: FakeUpstream;
  providers: NonNullable<ConfigInput['providers']>;
  reset(): void;
  close(): Promise<void>;
}

export async function startUpstreams(): Promise<Upstreams> {
  const [a, b, c] = await Promise.all([startFakeUpstream(), startFakeUpstream(), startFakeUpstream()]);
  const fakes = { a, b, c };
  for (const [id, fake] of Object.entries(fakes)) fake.script(signedReply(id));
  return {
    ...fakes,
    providers: Object.entries(fakes).map(([id, fake]) => ({
      id,
      kind: 'openai-compatible' as const,
      baseURL: fake.baseURL,
      apiKey: `sk-upstream-${id}`,
      models: ['gpt-test', `${id}-only`],
    })),
    /** Forgets requests and scripts; each fake then answers `from <id>`. */
    reset() {
      for (const [id, fake] of Object.entries(fakes)) {
        fake.reset();
        fake.script(signedReply(id));
      }
    },
    async close() {
      await Promise.all(Object.values(fakes).map((fake) => fake.close()));
    },
  };
}

/**
 * Closes a server once its tests are done. The SDK's fetch pool may leave an idle socket behind
 * after an aborted request, which Fastify's close would wait on until the keep-alive timeout.
 */
export async function stop(target: RunningServer | undefined): Promise<void> {
  if (!target) return;
  target.app.server.closeAllConnections();
  await target.close();
}

export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function waitFor<T>(probe: () => T | undefined, what: string, ms = 2000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(5);
  }
}

export async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to fail');
}

export function assertOpenAIError(value: unknown, expected: { status: number | undefined; code?: string | null; param?: string | null; type?: string }): APIError {
  assert.ok(value instanceof APIError, `expected an APIError, got ${String(value)}`);
  assert.equal(value.status, expected.status);
  if (expected.code !== undefined) assert.equal(value.code, expected.code);
  if (expected.param !== undefined) assert.equal(value.param, expected.param);
  if (expected.type !== undefined) assert.equal(value.type, expected.type);
  return value;
}

/** A non-streaming call through the SDK: the reply's text and its `x-switchyard-route`. */
export async function ask(server: RunningServer, model: string): Promise<{ content: string | null; route: string | null }> {
  const { data, response } = await server.client().chat.completions.create({ model, messages: USER }).withResponse();
  return { content: data.choices[0]!.message.content, route: response.headers.get('x-switchyard-route') };
}

/** A streamed call through the SDK, read to its end or its error. */
export async function askStream(server: RunningServer, model: string) {
  const { data: stream, response } = await server.client().chat.completions.create({ model, messages: USER, stream: true }).withResponse();
  const chunks: ChatCompletionChunk[] = [];
  let error: unknown;
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (caught) {
    error = caught;
  }
  return { chunks, error, route: response.headers.get('x-switchyard-route'), content: contentOf(chunks) };
}

export function contentOf(chunks: readonly ChatCompletionChunk[]): string {
  return chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
}

/** A seeded PRNG (mulberry32), so that weighted draws are the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
