import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { errorReply, hangReply, openAIError, streamReply, type Reply } from '../helpers/fake-openai-upstream.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startPlatformServer, type PlatformServer } from '../platform/helpers.js';
import { ask, askStream, assertOpenAIError, errorOf, signedReply, startUpstreams, stop, USER, within, type Upstreams } from './helpers.js';

const COOLDOWN_MS = 1_000;

let upstreams: Upstreams;
let server: RunningServer;

function routingConfig(): ConfigInput {
  return {
    providers: upstreams.providers,
    aliases: {
      flaky: ['a/gpt-test', 'b/gpt-test'],
      weighted: { strategy: 'weighted', targets: [{ model: 'a/gpt-test', weight: 3 }, { model: 'b/gpt-test', weight: 1, timeoutMs: 1_000, firstChunkTimeoutMs: 200 }], retries: 1 },
    },
    routing: { breakerFailures: 2, breakerCooldownMs: COOLDOWN_MS, baseDelayMs: 10 },
  };
}

const failing: Reply = errorReply(500, openAIError('boom', 'server_error', null, null));

before(async () => {
  upstreams = await startUpstreams();
});
after(async () => {
  await upstreams?.close();
});
// Circuits live in the gateway: each test gets a fresh server.
beforeEach(async () => {
  upstreams.reset();
  server = await startServer(routingConfig());
});
afterEach(async () => {
  await stop(server);
});

function circuitOf(target: string) {
  return server.gateway.targetHealth().find((health) => health.target === target);
}

/** Fails `a` until its circuit opens (two calls, each falling back to `b`). */
async function openCircuitOfA(): Promise<number> {
  upstreams.a.script(failing);
  for (let call = 0; call < 2; call++) assert.equal((await ask(server, 'flaky')).content, 'from b');
  const openedAt = performance.now();
  assert.equal(upstreams.a.chatRequests.length, 2);
  assert.equal(circuitOf('a/gpt-test')?.state, 'open');
  return openedAt;
}

async function untilCooledDown(openedAt: number): Promise<void> {
  const left = openedAt + COOLDOWN_MS + 20 - performance.now();
  if (left > 0) await sleep(left);
  assert.equal(circuitOf('a/gpt-test')?.state, 'half_open');
}

describe('circuit breaker', () => {
  test('after breakerFailures failures in a row the target is skipped; after the cooldown one probe closes it', async () => {
    const openedAt = await openCircuitOfA();
    assert.deepEqual(
      { ...circuitOf('a/gpt-test'), openedAt: undefined },
      { target: 'a/gpt-test', state: 'open', consecutiveFailures: 2, openedAt: undefined },
    );

    // Open: `a` hears nothing, non-streaming or streamed, and the route says a fallback happened.
    for (let call = 0; call < 3; call++) {
      assert.deepEqual(await ask(server, 'flaky'), { content: 'from b', route: 'alias:flaky > b/gpt-test (after 1 fallback)' });
    }
    const streamed = await askStream(server, 'flaky');
    assert.equal(streamed.content, 'from b');
    assert.equal(streamed.route, 'alias:flaky > b/gpt-test (after 1 fallback)');
    assert.equal(upstreams.a.chatRequests.length, 2, 'no request reached the open target');
    assert.ok(performance.now() - openedAt < COOLDOWN_MS, 'all of that within the cooldown');

    // Half-open: one probe goes through; it succeeds and closes the circuit.
    await untilCooledDown(openedAt);
    upstreams.a.script(signedReply('a'));
    assert.deepEqual(await ask(server, 'flaky'), { content: 'from a', route: 'alias:flaky > a/gpt-test' });
    assert.equal(upstreams.a.chatRequests.length, 3);
    assert.deepEqual(circuitOf('a/gpt-test'), { target: 'a/gpt-test', state: 'closed', consecutiveFailures: 0, openedAt: undefined });
    assert.equal((await ask(server, 'flaky')).content, 'from a');
    assert.equal(upstreams.a.chatRequests.length, 4);
  });

  test('failures that are not in a row do not open it', async () => {
    upstreams.a.once(failing, signedReply('a'), failing, signedReply('a'), failing);
    const contents = [];
    for (let call = 0; call < 5; call++) contents.push((await ask(server, 'flaky')).content);
    assert.deepEqual(contents, ['from b', 'from a', 'from b', 'from a', 'from b']);
    assert.equal(circuitOf('a/gpt-test')?.state, 'closed');
    assert.equal((await ask(server, 'flaky')).content, 'from a');
  });

  test('a failed probe opens the circuit again for another cooldown', async () => {
    const openedAt = await openCircuitOfA();
    await untilCooledDown(openedAt);
    assert.equal((await ask(server, 'flaky')).content, 'from b');
    assert.equal(upstreams.a.chatRequests.length, 3, 'the probe reached the target');
    assert.equal(circuitOf('a/gpt-test')?.state, 'open');
    assert.equal((await ask(server, 'flaky')).content, 'from b');
    assert.equal(upstreams.a.chatRequests.length, 3, 'open again: skipped');
  });

  test('half-open lets exactly one probe through at a time', async () => {
    const openedAt = await openCircuitOfA();
    await untilCooledDown(openedAt);
    upstreams.a.script(async (exchange) => {
      await exchange.sleep(300);
      await signedReply('a')(exchange);
    });
    const probe = ask(server, 'flaky');
    await within(upstreams.a.nextRequest(), 2_000, 'the probe');
    const meanwhile = await Promise.all([ask(server, 'flaky'), ask(server, 'flaky')]);
    assert.deepEqual(
      meanwhile.map((reply) => reply.content),
      ['from b', 'from b'],
    );
    assert.equal((await probe).content, 'from a');
    assert.equal(upstreams.a.chatRequests.length, 3);
  });

  test('a probe that meets the request’s own fault (400) does not leave the circuit stuck', async () => {
    const openedAt = await openCircuitOfA();
    await untilCooledDown(openedAt);
    upstreams.a.once(errorReply(400, openAIError('Bad.', 'invalid_request_error', null, null)));
    assertOpenAIError(await errorOf(ask(server, 'flaky')), { status: 400 });
    upstreams.a.script(signedReply('a'));
    assert.equal((await ask(server, 'flaky')).content, 'from a', 'the next request probes again');
    assert.equal(circuitOf('a/gpt-test')?.state, 'closed');
  });

  test('a client that leaves during the probe does not leave the circuit stuck', async () => {
    const openedAt = await openCircuitOfA();
    await untilCooledDown(openedAt);
    upstreams.a.script(hangReply());
    const controller = new AbortController();
    const pending = server.client().chat.completions.create({ model: 'flaky', messages: USER }, { signal: controller.signal });
    const probe = await within(upstreams.a.nextRequest(), 2_000, 'the probe');
    controller.abort();
    await errorOf(pending);
    await within(probe.whenAborted, 1_000, 'the probe was cancelled');
    upstreams.a.script(signedReply('a'));
    await sleep(50);
    assert.equal(upstreams.b.chatRequests.length, 2, 'no fallback after the client left');
    assert.equal((await ask(server, 'flaky')).content, 'from a', 'the next request probes again');
  });

  test('a target whose streams break after their first chunk opens its circuit too', async () => {
    upstreams.a.script(streamReply({ ending: 'cut' }));
    for (let call = 0; call < 2; call++) {
      const broken = await askStream(server, 'flaky');
      assert.ok(broken.error, 'the stream ended with an error event');
      assert.equal(broken.route, 'alias:flaky > a/gpt-test');
    }
    assert.equal(circuitOf('a/gpt-test')?.state, 'open');
    // Skipped now: the next stream is the fallback's, whole.
    const next = await askStream(server, 'flaky');
    assert.equal(next.error, undefined);
    assert.equal(next.route, 'alias:flaky > b/gpt-test (after 1 fallback)');
    assert.equal(upstreams.a.chatRequests.length, 2);
  });

  test('a direct model whose circuit is half-open with its probe out is still tried, as when it is open', async () => {
    upstreams.a.script(failing);
    for (let call = 0; call < 2; call++) await errorOf(ask(server, 'a/gpt-test'));
    const openedAt = performance.now();
    assert.equal(circuitOf('a/gpt-test')?.state, 'open');
    await untilCooledDown(openedAt);
    upstreams.a.script(async (exchange) => {
      await exchange.sleep(300);
      await signedReply('a')(exchange);
    });
    const probe = ask(server, 'a/gpt-test');
    await within(upstreams.a.nextRequest(), 2_000, 'the probe');
    // Not a 503 "every target unavailable": the one target is tried, as it is while open.
    assert.equal((await ask(server, 'a/gpt-test')).content, 'from a');
    assert.equal((await probe).content, 'from a');
    assert.equal(circuitOf('a/gpt-test')?.state, 'closed');
  });

  test('when every target’s circuit is open, the call is tried anyway', async () => {
    upstreams.a.script(failing);
    upstreams.b.script(failing);
    for (let call = 0; call < 2; call++) assertOpenAIError(await errorOf(ask(server, 'flaky')), { status: 502 });
    assert.equal(circuitOf('a/gpt-test')?.state, 'open');
    assert.equal(circuitOf('b/gpt-test')?.state, 'open');
    upstreams.reset();
    assert.equal((await ask(server, 'flaky')).content, 'from a');
    assert.equal(circuitOf('a/gpt-test')?.state, 'closed');
  });
});

describe('GET /admin/v1/routes', () => {
  let platformServer: PlatformServer;
  before(async () => {
    platformServer = await startPlatformServer(routingConfig());
  });
  after(async () => {
    await stop(platformServer);
  });

  test('lists each alias with its targets and their circuit state', async () => {
    upstreams.a.script(failing);
    for (let call = 0; call < 2; call++) assert.equal((await ask(platformServer, 'flaky')).content, 'from b');

    const { status, body } = await platformServer.admin('GET', '/routes');
    assert.equal(status, 200);
    assert.equal(body.object, 'list');
    const flaky = body.data.find((route: { alias: string }) => route.alias === 'flaky');
    assert.deepEqual(
      { ...flaky, targets: flaky.targets.map((target: { circuit: { opened_at: unknown } }) => ({ ...target, circuit: { ...target.circuit, opened_at: typeof target.circuit.opened_at } })) },
      {
        object: 'route',
        alias: 'flaky',
        strategy: 'fallback',
        retries: 0,
        targets: [
          { model: 'a/gpt-test', weight: 1, timeout_ms: null, first_chunk_timeout_ms: null, circuit: { state: 'open', consecutive_failures: 2, opened_at: 'number' } },
          { model: 'b/gpt-test', weight: 1, timeout_ms: null, first_chunk_timeout_ms: null, circuit: { state: 'closed', consecutive_failures: 0, opened_at: 'object' } },
        ],
      },
    );
    const openedAt = flaky.targets[0].circuit.opened_at as number;
    assert.ok(Math.abs(openedAt - Date.now() / 1000) < 10, 'opened_at is in unix seconds');

    const weighted = body.data.find((route: { alias: string }) => route.alias === 'weighted');
    assert.equal(weighted.strategy, 'weighted');
    assert.equal(weighted.retries, 1);
    assert.deepEqual(
      weighted.targets.map((target: { model: string; weight: number; timeout_ms: number | null; first_chunk_timeout_ms: number | null; circuit: { state: string } }) => [target.model, target.weight, target.timeout_ms, target.first_chunk_timeout_ms, target.circuit.state]),
      [
        ['a/gpt-test', 3, null, null, 'open'],
        ['b/gpt-test', 1, 1_000, 200, 'closed'],
      ],
    );
    // The default aliases are routes too.
    assert.deepEqual(
      body.data.filter((route: { alias: string }) => ['fast', 'balanced', 'smart'].includes(route.alias)).map((route: { targets: Array<{ model: string }> }) => route.targets[0]!.model),
      ['sandbox/echo', 'sandbox/echo', 'sandbox/lorem'],
    );
  });

  test('takes the admin key only', async () => {
    // No keys exist yet, so the server is open on loopback: any API key is valid, just not here.
    const asKey = await platformServer.admin('GET', '/routes', undefined, 'sk_live_not_the_admin_key');
    assert.equal(asKey.status, 403);
    assert.equal(asKey.body.error.code, 'permission_denied');
    assert.equal((await fetch(`${platformServer.origin}/admin/v1/routes`)).status, 401);
  });
});
