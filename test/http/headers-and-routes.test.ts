import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { AuthenticationError, NotFoundError } from 'openai';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { specValidator } from '../helpers/openai-spec.js';
import { postSse } from '../helpers/raw-sse.js';

// Headers every response carries, the model routes, the 404s for what is not served, and API keys.

let open: RunningServer;
let locked: RunningServer;
const GOOD_KEY = 'sk-good-key-123';

before(async () => {
  [open, locked] = await Promise.all([startServer({}), startServer({ auth: { keys: [GOOD_KEY] } })]);
});
after(async () => {
  await Promise.all([open?.close(), locked?.close()]);
});

const validateModel = specValidator('Model');
const validateModelList = specValidator('ListModelsResponse');
const CHAT = { model: 'sandbox/echo', messages: [{ role: 'user' as const, content: 'headers' }] };

function request(server: RunningServer, method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}) {
  return fetch(`${server.origin}${path}`, {
    method,
    headers: { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
}

async function errorOf(response: Response) {
  const body = (await response.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  return body.error;
}

describe('response headers', () => {
  test('x-request-id and openai-processing-ms on 200, 400, 404 and streams; each id unique', async () => {
    const responses = [
      await request(open, 'POST', '/v1/chat/completions', { body: CHAT }),
      await request(open, 'POST', '/v1/chat/completions', { body: { ...CHAT, temperature: 5 } }),
      await request(open, 'GET', '/v1/models/no-such-model'),
      await request(open, 'GET', '/definitely/not/a/route'),
      await request(open, 'POST', '/v1/chat/completions', { body: '{oops' as unknown }),
      await request(open, 'GET', '/v1/models'),
      (await postSse(`${open.baseURL}/chat/completions`, { ...CHAT, stream: true })).response,
    ];
    assert.deepEqual(
      responses.map((response) => response.status),
      [200, 400, 404, 404, 400, 200, 200],
    );
    const ids = responses.map((response) => response.headers.get('x-request-id'));
    for (const id of ids) assert.match(id ?? '', /^req_[A-Za-z0-9]{8,}$/);
    assert.equal(new Set(ids).size, ids.length, 'every response has its own id');
    for (const response of responses) assert.match(response.headers.get('openai-processing-ms') ?? '', /^\d+$/);
  });

  test('the x-request-id a client sends is not taken as the server’s id', async () => {
    const response = await request(open, 'GET', '/v1/models', { headers: { 'x-request-id': 'req_forged' } });
    assert.notEqual(response.headers.get('x-request-id'), 'req_forged');
  });

  test('x-client-request-id is echoed, on success and on error; an unprintable one is not', async () => {
    const ok = await request(open, 'POST', '/v1/chat/completions', { body: CHAT, headers: { 'x-client-request-id': 'client-abc-123' } });
    assert.equal(ok.headers.get('x-client-request-id'), 'client-abc-123');
    const bad = await request(open, 'POST', '/v1/chat/completions', { body: { ...CHAT, n: 0 }, headers: { 'x-client-request-id': 'client-err-9' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('x-client-request-id'), 'client-err-9');
    const stream = await postSse(`${open.baseURL}/chat/completions`, { ...CHAT, stream: true }, { headers: { 'x-client-request-id': 'client-stream' } });
    assert.equal(stream.response.headers.get('x-client-request-id'), 'client-stream');
    const tooLong = await request(open, 'GET', '/v1/models', { headers: { 'x-client-request-id': 'x'.repeat(513) } });
    assert.equal(tooLong.headers.get('x-client-request-id'), null);
    const none = await request(open, 'GET', '/v1/models');
    assert.equal(none.headers.get('x-client-request-id'), null);
  });

  test('x-switchyard-route names the route taken, for a bare model name too, streamed or not', async () => {
    const client = open.client();
    for (const model of ['sandbox/echo', 'echo']) {
      const { response } = await client.chat.completions.create({ ...CHAT, model }).withResponse();
      assert.equal(response.headers.get('x-switchyard-route'), 'sandbox/echo');
    }
    const lorem = await client.chat.completions.create({ ...CHAT, model: 'lorem' }).withResponse();
    assert.equal(lorem.response.headers.get('x-switchyard-route'), 'sandbox/lorem');
    const { response } = await client.chat.completions.create({ ...CHAT, stream: true }).withResponse();
    assert.equal(response.headers.get('x-switchyard-route'), 'sandbox/echo');
    assert.match(response.headers.get('x-switchyard-audit-id') ?? '', /^aud_/);
  });
});

describe('models', () => {
  test('client.models.list() lists the sandbox models in OpenAI’s shape', async () => {
    const page = await open.client().models.list();
    const models = page.data;
    const ids = models.map((model) => model.id);
    assert.equal(new Set(ids).size, ids.length, 'each id once');
    for (const id of ['sandbox/echo', 'sandbox/lorem']) assert.ok(ids.includes(id), `${id} in ${ids.join(', ')}`);
    for (const model of models) {
      assert.deepEqual(Object.keys(model).sort(), ['created', 'id', 'object', 'owned_by']);
      assert.equal(model.object, 'model');
      assert.ok(Number.isInteger(model.created) && model.created > 1_600_000_000 && model.created <= Date.now() / 1000);
      assert.equal(typeof model.owned_by, 'string');
      assert.deepEqual(validateModel(model), []);
    }
    for (const model of models.filter((model) => model.id.startsWith('sandbox/'))) assert.equal(model.owned_by, 'sandbox');
    const raw = await (await request(open, 'GET', '/v1/models')).json();
    assert.deepEqual(validateModelList(raw), []);
    assert.equal((raw as { object: string }).object, 'list');
  });

  test('every listed model can be retrieved and chatted with', async () => {
    const client = open.client();
    for (const { id } of (await client.models.list()).data) {
      assert.equal((await client.models.retrieve(id)).id, id);
      const completion = await client.chat.completions.create({ ...CHAT, model: id });
      assert.equal(completion.choices.length, 1, id);
    }
  });

  test('client.models.retrieve() finds a model by its id, slash and all', async () => {
    const model = await open.client().models.retrieve('sandbox/echo');
    assert.deepEqual({ ...model }, { id: 'sandbox/echo', object: 'model', created: model.created, owned_by: 'sandbox' });
    const byBareName = await open.client().models.retrieve('lorem');
    assert.equal(byBareName.id, 'sandbox/lorem');
    const encoded = await request(open, 'GET', '/v1/models/sandbox%2Fecho');
    assert.equal(encoded.status, 200);
    assert.equal(((await encoded.json()) as { id: string }).id, 'sandbox/echo');
    // A URL that cannot be decoded at all is a 400 in OpenAI's shape, with a request id.
    const undecodable = await request(open, 'GET', '/v1/models/%E0%A4%A');
    assert.equal(undecodable.status, 400);
    assert.match(undecodable.headers.get('x-request-id') ?? '', /^req_/);
    const body = (await undecodable.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error), ['message', 'type', 'param', 'code']);
    assert.equal(body.error.type, 'invalid_request_error');
    // The path is decoded once: an id with a `%` in it is an unknown model, not a server error.
    for (const path of ['/v1/models/foo%25', '/v1/models/sandbox%252Fecho']) {
      const odd = await request(open, 'GET', path);
      assert.equal(odd.status, 404, path);
      assert.equal(((await odd.json()) as { error: { code: string } }).error.code, 'model_not_found');
    }
  });

  test('an unknown model is a 404 model_not_found, for retrieve and for chat', async () => {
    const client = open.client();
    for (const call of [
      () => client.models.retrieve('no-such-model'),
      () => client.models.retrieve('sandbox/nope'),
      () => client.chat.completions.create({ ...CHAT, model: 'no-such-model' }),
      () => client.chat.completions.create({ ...CHAT, model: 'sandbox/nope' }),
      () => client.chat.completions.create({ ...CHAT, model: 'nope', stream: true }),
    ]) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof NotFoundError, String(error));
        assert.equal(error.code, 'model_not_found');
        assert.equal(error.type, 'invalid_request_error');
        return true;
      });
    }
  });
});

describe('routes', () => {
  test('the API is also served under /v1/openai', async () => {
    const client = new OpenAI({ baseURL: `${open.origin}/v1/openai`, apiKey: 'sk-test', maxRetries: 0 });
    const models = await client.models.list();
    assert.ok(models.data.some((model) => model.id === 'sandbox/echo'));
    assert.equal((await client.models.retrieve('sandbox/lorem')).id, 'sandbox/lorem');
    const { data, response } = await client.chat.completions.create({ ...CHAT, messages: [{ role: 'user', content: 'prefixed' }] }).withResponse();
    assert.equal(data.choices[0]!.message.content, 'prefixed');
    assert.equal(response.headers.get('x-switchyard-route'), 'sandbox/echo');
    let streamed = '';
    for await (const chunk of await client.chat.completions.create({ ...CHAT, messages: [{ role: 'user', content: 'streamed' }], stream: true })) {
      streamed += chunk.choices[0]?.delta.content ?? '';
    }
    assert.equal(streamed, 'streamed');
    await assert.rejects(client.models.retrieve('nope'), NotFoundError);
  });

  test('OpenAI endpoints Switchyard does not serve are a 404 endpoint_not_served saying so', async () => {
    for (const [method, path] of [
      ['POST', '/v1/images/generations'],
      ['POST', '/v1/audio/speech'],
      ['GET', '/v1/files'],
      ['GET', '/v1/openai/files'],
      ['POST', '/v1/moderations'],
      ['POST', '/v1/responses/input_tokens'],
      ['POST', '/v1/responses/resp_1/cancel'],
      // Listing stored chat completions: OpenAI's endpoint on the path chat is served at.
      ['GET', '/v1/chat/completions'],
      ['GET', '/v1/chat/completions/chatcmpl_1'],
    ] as const) {
      const response = await request(open, method, path, method === 'POST' ? { body: { model: 'x' } } : {});
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.ok(response.headers.get('x-request-id'));
      const error = await errorOf(response);
      assert.equal(error.code, 'endpoint_not_served', `${method} ${path}`);
      assert.equal(error.type, 'invalid_request_error');
      assert.match(error.message, /Switchyard does not serve/);
      assert.ok(error.message.includes(path), error.message);
    }
  });

  test('an endpoint not served is the 404 whatever its body: empty with a JSON content type (the Python SDK on a bodiless POST), or malformed', async () => {
    for (const body of [undefined, '{bad']) {
      const response = await fetch(`${open.origin}/v1/fine_tuning/jobs/ftjob_1/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body }),
      });
      assert.equal(response.status, 404);
      assert.equal((await errorOf(response)).code, 'endpoint_not_served');
    }
  });

  test('the SDK sees an endpoint not served as NotFoundError', async () => {
    await assert.rejects(open.client().images.generate({ prompt: 'a cat' }), (error: unknown) => {
      assert.ok(error instanceof NotFoundError);
      assert.equal(error.code, 'endpoint_not_served');
      return true;
    });
  });

  test('a URL the router cannot decode is a 400 in OpenAI shape with the headers every response has', async () => {
    const response = await request(open, 'GET', '/v1/%zz', { headers: { 'x-client-request-id': 'client-77' } });
    assert.equal(response.status, 400);
    assert.match(response.headers.get('x-request-id') ?? '', /^req_/);
    assert.equal(response.headers.get('x-client-request-id'), 'client-77');
    assert.ok(response.headers.get('openai-processing-ms') !== null);
    assert.equal((await errorOf(response)).type, 'invalid_request_error');
  });

  test('an unknown route is a 404 unknown_url', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['POST', '/v1/not-an-openai-family'],
      ['GET', '/v2/models'],
      // A served endpoint reached with another method or a trailing slash: a wrong URL, not an unserved endpoint.
      ['POST', '/v1/chat/completions/'],
      ['DELETE', '/v1/chat/completions'],
    ] as const) {
      const response = await request(open, method, path, method === 'POST' ? { body: {} } : {});
      assert.equal(response.status, 404);
      const error = await errorOf(response);
      assert.equal(error.code, 'unknown_url', `${method} ${path}`);
      assert.ok(error.message.includes(path));
    }
  });

  test('the wrong method on a served path is not a 200', async () => {
    const response = await request(open, 'GET', '/v1/embeddings');
    assert.equal(response.status, 404);
    assert.equal((await errorOf(response)).type, 'invalid_request_error');
  });

  test('the SDK’s chat.completions.list() is told the endpoint is not served', async () => {
    await assert.rejects(open.client().chat.completions.list(), (error: unknown) => error instanceof NotFoundError && error.code === 'endpoint_not_served');
  });
});

describe('API keys', () => {
  test('no key is a 401 invalid_api_key (the SDK’s AuthenticationError)', async () => {
    const response = await request(locked, 'POST', '/v1/chat/completions', { body: CHAT });
    assert.equal(response.status, 401);
    assert.ok(response.headers.get('x-request-id'));
    const error = await errorOf(response);
    assert.equal(error.code, 'invalid_api_key');
    assert.doesNotMatch(error.message, new RegExp(GOOD_KEY));

    const keyless = new OpenAI({ baseURL: locked.baseURL, apiKey: 'unused', maxRetries: 0, defaultHeaders: { Authorization: null } });
    await assert.rejects(keyless.models.list(), (error: unknown) => {
      assert.ok(error instanceof AuthenticationError, String(error));
      assert.equal(error.code, 'invalid_api_key');
      return true;
    });
  });

  test('a wrong key is a 401, on chat, models and streams', async () => {
    const client = locked.client('sk-wrong-key-456');
    for (const call of [
      () => client.chat.completions.create(CHAT),
      () => client.chat.completions.create({ ...CHAT, stream: true }),
      () => client.models.list(),
      () => client.models.retrieve('sandbox/echo'),
    ]) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof AuthenticationError, String(error));
        assert.equal(error.status, 401);
        assert.equal(error.code, 'invalid_api_key');
        return true;
      });
    }
    for (const header of [`Bearer ${GOOD_KEY}x`, `Bearer ${GOOD_KEY.slice(0, -1)}`, `Basic ${GOOD_KEY}`, GOOD_KEY]) {
      const response = await request(locked, 'GET', '/v1/models', { headers: { authorization: header } });
      assert.equal(response.status, 401, header);
    }
  });

  test('the right key is let in by Authorization: Bearer, and by the api-key header', async () => {
    const completion = await locked.client(GOOD_KEY).chat.completions.create(CHAT);
    assert.equal(completion.choices[0]!.message.content, 'headers');
    assert.ok((await locked.client(GOOD_KEY).models.list()).data.length > 0);
    const byApiKey = await request(locked, 'POST', '/v1/chat/completions', { body: CHAT, headers: { 'api-key': GOOD_KEY } });
    assert.equal(byApiKey.status, 200);
    const lowercaseBearer = await request(locked, 'GET', '/v1/models', { headers: { authorization: `bearer ${GOOD_KEY}` } });
    assert.equal(lowercaseBearer.status, 200);
    const streamed = await postSse(`${locked.baseURL}/chat/completions`, { ...CHAT, stream: true }, { headers: { authorization: `Bearer ${GOOD_KEY}` } });
    assert.equal(streamed.response.status, 200);
    assert.equal(streamed.events.at(-1)?.text, '[DONE]');
  });

  test('keys are checked before the body: a bad request without a key is a 401, not a 400', async () => {
    const response = await request(locked, 'POST', '/v1/chat/completions', { body: { model: 'sandbox/echo' } });
    assert.equal(response.status, 401);
  });

  test('with no keys configured, requests without a key succeed', async () => {
    const response = await request(open, 'POST', '/v1/chat/completions', { body: CHAT });
    assert.equal(response.status, 200);
    assert.equal((await request(open, 'GET', '/v1/models')).status, 200);
    const anyKey = await open.client('sk-anything-at-all').chat.completions.create(CHAT);
    assert.equal(anyKey.choices[0]!.finish_reason, 'stop');
  });
});
