import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { errorReply, openAIError } from '../helpers/fake-openai-upstream.js';
import { ask, askStream, seededRandom, startUpstreams, stop, type Upstreams } from './helpers.js';

const CALLS = 400;

let upstreams: Upstreams;
let server: RunningServer;

before(async () => {
  upstreams = await startUpstreams();
  server = await startServer(
    {
      providers: upstreams.providers,
      aliases: {
        lb: { strategy: 'weighted', targets: [{ model: 'a/gpt-test', weight: 3 }, { model: 'b/gpt-test', weight: 1 }] },
        three: { strategy: 'weighted', targets: [{ model: 'a/gpt-test', weight: 1 }, { model: 'b/gpt-test', weight: 2 }, { model: 'c/gpt-test', weight: 1 }] },
      },
      routing: { breakerFailures: 1_000 },
    },
    // Seeded draws: the same split on every run.
    { random: seededRandom(20_250_101) },
  );
});

after(async () => {
  await stop(server);
  await upstreams?.close();
});

beforeEach(() => upstreams.reset());

/** `CALLS` calls, twenty at a time; returns how many of them each route header named. */
async function spread(model: string, call = ask): Promise<Map<string, number>> {
  const routes = new Map<string, number>();
  for (let done = 0; done < CALLS; done += 20) {
    const replies = await Promise.all(Array.from({ length: 20 }, () => call(server, model)));
    for (const reply of replies) routes.set(reply.route ?? '', (routes.get(reply.route ?? '') ?? 0) + 1);
  }
  return routes;
}

function assertShare(count: number, expected: number, what: string): void {
  const share = count / CALLS;
  assert.ok(Math.abs(share - expected) <= 0.05, `${what}: ${count} of ${CALLS} (${share.toFixed(3)}), expected ${expected} ± 0.05`);
}

describe('weighted load balancing', () => {
  test('weights 3:1 split ~400 calls 3:1, within tolerance', async () => {
    const routes = await spread('lb');
    const a = upstreams.a.chatRequests.length;
    const b = upstreams.b.chatRequests.length;
    assert.equal(a + b, CALLS, 'one upstream request per call');
    assertShare(a, 0.75, 'a');
    assertShare(b, 0.25, 'b');
    // The route header tells the same story, with no fallback.
    assert.deepEqual(Object.fromEntries(routes), { 'alias:lb > a/gpt-test': a, 'alias:lb > b/gpt-test': b });
  });

  test('three targets 1:2:1, streamed', async () => {
    await spread('three', askStream);
    const counts = [upstreams.a, upstreams.b, upstreams.c].map((fake) => fake.chatRequests.length);
    assert.equal(counts[0]! + counts[1]! + counts[2]!, CALLS);
    assertShare(counts[0]!, 0.25, 'a');
    assertShare(counts[1]!, 0.5, 'b');
    assertShare(counts[2]!, 0.25, 'c');
  });

  test('the targets not drawn remain fallbacks', async () => {
    upstreams.b.script(errorReply(503, openAIError('down', 'server_error', null, null)));
    const routes = await spread('lb');
    // Every call ends at `a`; those that drew `b` first say so.
    assert.equal(upstreams.a.chatRequests.length, CALLS);
    const fellBack = routes.get('alias:lb > a/gpt-test (after 1 fallback)') ?? 0;
    assert.equal(fellBack, upstreams.b.chatRequests.length);
    assert.equal((routes.get('alias:lb > a/gpt-test') ?? 0) + fellBack, CALLS);
    assertShare(fellBack, 0.25, 'drew b first');
  });
});
