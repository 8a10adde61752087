import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundError } from 'openai';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { ask, askStream, assertOpenAIError, errorOf, startUpstreams, stop, USER, type Upstreams } from './helpers.js';

let upstreams: Upstreams;
let server: RunningServer;

before(async () => {
  upstreams = await startUpstreams();
  server = await startServer({
    providers: upstreams.providers,
    aliases: {
      // Fallback order as written: `b` first.
      pair: ['b/gpt-test', 'a/gpt-test'],
      // An alias shadows a model of the same bare name.
      'a-only': ['c/gpt-test'],
      fast: { targets: [{ model: 'c/c-only', timeoutMs: 5_000 }], retries: 1 },
    },
  });
});

after(async () => {
  await stop(server);
  await upstreams?.close();
});

beforeEach(() => {
  upstreams.reset();
});

function requestCounts() {
  return { a: upstreams.a.chatRequests.length, b: upstreams.b.chatRequests.length, c: upstreams.c.chatRequests.length };
}

describe('resolving `model`', () => {
  test('an alias goes to its first target, under the target’s own model name', async () => {
    const reply = await ask(server, 'pair');
    assert.equal(reply.content, 'from b');
    assert.equal(reply.route, 'alias:pair > b/gpt-test');
    assert.deepEqual(requestCounts(), { a: 0, b: 1, c: 0 });
    assert.equal(upstreams.b.chatRequests[0]!.body.model, 'gpt-test');
  });

  test('an alias wins over a model with the same bare name; the model stays reachable as provider/model', async () => {
    const shadowed = await ask(server, 'a-only');
    assert.equal(shadowed.content, 'from c');
    assert.equal(shadowed.route, 'alias:a-only > c/gpt-test');
    const direct = await ask(server, 'a/a-only');
    assert.equal(direct.content, 'from a');
    assert.equal(direct.route, 'a/a-only');
    assert.equal(upstreams.a.chatRequests[0]!.body.model, 'a-only');
  });

  test('a configured alias replaces the default of the same name', async () => {
    const reply = await ask(server, 'fast');
    assert.equal(reply.content, 'from c');
    assert.equal(reply.route, 'alias:fast > c/c-only');
  });

  test('provider/model goes to that provider, declared or not', async () => {
    assert.deepEqual(await ask(server, 'b/gpt-test'), { content: 'from b', route: 'b/gpt-test' });
    assert.deepEqual(await ask(server, 'c/undeclared-model'), { content: 'from c', route: 'c/undeclared-model' });
    assert.equal(upstreams.c.chatRequests[0]!.body.model, 'undeclared-model');
  });

  test('a bare declared name goes to the provider that declares it (the first, when several do)', async () => {
    assert.deepEqual(await ask(server, 'b-only'), { content: 'from b', route: 'b/b-only' });
    assert.deepEqual(await ask(server, 'c-only'), { content: 'from c', route: 'c/c-only' });
    assert.deepEqual(await ask(server, 'gpt-test'), { content: 'from a', route: 'a/gpt-test' });
    assert.equal(upstreams.b.chatRequests[0]!.body.model, 'b-only');
  });

  test('streams take the same route and say so', async () => {
    const reply = await askStream(server, 'pair');
    assert.equal(reply.error, undefined);
    assert.equal(reply.content, 'from b');
    assert.equal(reply.route, 'alias:pair > b/gpt-test');
    assert.deepEqual(requestCounts(), { a: 0, b: 1, c: 0 });
  });

  test('anything else is a 404 model_not_found, and no upstream hears of it', async () => {
    for (const model of ['no-such-model', 'zz/gpt-test', 'pair/extra', 'PAIR']) {
      const error = await errorOf(server.client().chat.completions.create({ model, messages: USER }));
      assert.ok(error instanceof NotFoundError, model);
      assertOpenAIError(error, { status: 404, code: 'model_not_found', param: 'model', type: 'invalid_request_error' });
      const streamed = await errorOf(server.client().chat.completions.create({ model, messages: USER, stream: true }));
      assertOpenAIError(streamed, { status: 404, code: 'model_not_found' });
    }
    assert.deepEqual(requestCounts(), { a: 0, b: 0, c: 0 });
  });
});

describe('GET /v1/models', () => {
  test('lists the aliases first, owned by switchyard, then the providers’ models', async () => {
    const list = await server.client().models.list();
    const models = list.data.map((model) => ({ id: model.id, owned_by: model.owned_by }));
    const aliases = models.filter((model) => model.owned_by === 'switchyard').map((model) => model.id);
    assert.deepEqual(aliases.sort(), ['a-only', 'balanced', 'fast', 'pair', 'smart']);
    assert.ok(models.slice(0, aliases.length).every((model) => model.owned_by === 'switchyard'), 'aliases come first');
    for (const id of ['a/gpt-test', 'a/a-only', 'b/gpt-test', 'b/b-only', 'c/c-only']) {
      assert.deepEqual(models.find((model) => model.id === id), { id, owned_by: id.split('/')[0] });
    }
    for (const model of list.data) assert.equal(model.object, 'model');
  });

  test('an alias can be retrieved by id', async () => {
    const pair = await server.client().models.retrieve('pair');
    assert.equal(pair.id, 'pair');
    assert.equal(pair.owned_by, 'switchyard');
  });
});

describe('default aliases', () => {
  test('with only the sandbox, fast / balanced / smart point at the sandbox', async () => {
    const sandboxOnly = await startServer({});
    try {
      const models = await sandboxOnly.client().models.list();
      for (const alias of ['fast', 'balanced', 'smart']) {
        assert.deepEqual(
          models.data.filter((model) => model.id === alias).map((model) => model.owned_by),
          ['switchyard'],
          alias,
        );
      }
      assert.equal((await ask(sandboxOnly, 'fast')).route, 'alias:fast > sandbox/echo');
      assert.equal((await ask(sandboxOnly, 'balanced')).route, 'alias:balanced > sandbox/echo');
      assert.equal((await ask(sandboxOnly, 'smart')).route, 'alias:smart > sandbox/lorem');
      const echoed = await ask(sandboxOnly, 'fast');
      assert.match(echoed.content ?? '', /Say hello\./);
    } finally {
      await stop(sandboxOnly);
    }
  });

  test('without the sandbox or a model for them, there are no default aliases', async () => {
    const bare = await startServer({ sandbox: false, providers: [upstreams.providers[0]!] });
    try {
      const models = await bare.client().models.list();
      assert.deepEqual(models.data.filter((model) => model.owned_by === 'switchyard'), []);
      assertOpenAIError(await errorOf(ask(bare, 'fast')), { status: 404, code: 'model_not_found' });
    } finally {
      await stop(bare);
    }
  });
});
