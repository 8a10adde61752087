// `POST /v1/embeddings` from its three backends, through the official SDK and raw HTTP: the
// sandbox (deterministic vectors), the embedded engine on the generated tiny GGUF (real llama.cpp
// vectors, normalized), and an OpenAI-compatible upstream (relayed as it answered); OpenAI's
// response shape, input forms, `dimensions`, `encoding_format`, and 400s naming the `param`.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { APIError, BadRequestError, NotFoundError } from 'openai';
import type OpenAI from 'openai';
import { encode } from 'gpt-tokenizer';
import { startServer, type RunningServer } from '../helpers/start-server.js';
import { ReferenceTokenizer, startLlamaServer, type LlamaTestServer } from '../helpers/llama-server.js';
import { specValidator } from '../helpers/openai-spec.js';
import { SANDBOX_EMBEDDING_DIMENSIONS } from '../../src/providers/sandbox/sandbox-embeddings.js';
import { TEST_MODEL } from '../../src/providers/llama/test-model/write-test-model.js';
import type { CallSummary } from '../../src/gateway/gateway.js';

const validateResponse = specValidator('CreateEmbeddingResponse');
const validateError = specValidator('ErrorResponse');

async function rawPost(baseURL: string, body: unknown): Promise<{ status: number; text: string; json: any; headers: Headers }> {
  const response = await fetch(`${baseURL}/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: JSON.parse(text), headers: response.headers };
}

const norm = (vector: readonly number[]) => Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
const fromBase64 = (text: string) => Array.from(new Float32Array(new Uint8Array(Buffer.from(text, 'base64')).buffer));

function assertUnit(vector: readonly number[], length: number): void {
  assert.equal(vector.length, length);
  assert.ok(Math.abs(norm(vector) - 1) < 1e-5, `norm ${norm(vector)}`);
}

/** Floats of an SDK call made with `encoding_format: 'float'`. */
async function floats(client: OpenAI, model: string, input: string | string[] | number[] | number[][], dimensions?: number): Promise<number[][]> {
  const response = await client.embeddings.create({ model, input, encoding_format: 'float', ...(dimensions ? { dimensions } : {}) });
  return response.data.map((item) => item.embedding);
}

describe('embeddings on the sandbox', () => {
  let server: RunningServer;
  let client: OpenAI;
  const MODEL = 'sandbox/echo';

  before(async () => {
    server = await startServer({});
    client = server.client();
  });
  after(async () => {
    await server?.close();
  });

  test('the response has exactly OpenAI shape: list, embedding objects by index, model, usage', async () => {
    const input = ['The quick brown fox', 'jumped over the lazy dog'];
    const { status, json } = await rawPost(server.baseURL, { model: MODEL, input, encoding_format: 'float' });
    assert.equal(status, 200);
    assert.deepEqual(validateResponse(json), []);
    assert.deepEqual(Object.keys(json).sort(), ['data', 'model', 'object', 'usage']);
    assert.equal(json.object, 'list');
    assert.equal(json.model, MODEL);
    assert.equal(json.data.length, 2);
    json.data.forEach((item: any, index: number) => {
      assert.deepEqual(Object.keys(item).sort(), ['embedding', 'index', 'object']);
      assert.equal(item.object, 'embedding');
      assert.equal(item.index, index);
      assertUnit(item.embedding, SANDBOX_EMBEDDING_DIMENSIONS);
    });
    const tokens = encode(input[0]!).length + encode(input[1]!).length;
    assert.deepEqual(json.usage, { prompt_tokens: tokens, total_tokens: tokens });
  });

  test('strings, a token array and token arrays: one vector per input, in order; same input, same vector', async () => {
    const [alpha, gamma, alphaAgain] = await floats(client, MODEL, ['alpha beta', 'gamma', 'alpha beta']);
    assert.deepEqual(alpha, alphaAgain);
    assert.notDeepEqual(alpha, gamma);
    assert.deepEqual((await floats(client, MODEL, 'gamma'))[0], gamma);
    assert.deepEqual((await floats(client, MODEL, 'alpha beta'))[0], alpha);

    const flat = await client.embeddings.create({ model: MODEL, input: [1212, 318, 257], encoding_format: 'float' });
    assert.equal(flat.data.length, 1);
    assertUnit(flat.data[0]!.embedding, SANDBOX_EMBEDDING_DIMENSIONS);
    assert.deepEqual(flat.usage, { prompt_tokens: 3, total_tokens: 3 });

    const nested = await client.embeddings.create({ model: MODEL, input: [[7, 8], [1212, 318, 257], [7, 8]], encoding_format: 'float' });
    assert.deepEqual(nested.data.map((item) => item.index), [0, 1, 2]);
    assert.deepEqual(nested.data[1]!.embedding, flat.data[0]!.embedding);
    assert.deepEqual(nested.data[0]!.embedding, nested.data[2]!.embedding);
    assert.notDeepEqual(nested.data[0]!.embedding, nested.data[1]!.embedding);
    assert.deepEqual(nested.usage, { prompt_tokens: 7, total_tokens: 7 });
  });

  test('dimensions: 64 gives unit vectors of 64', async () => {
    for (const vector of await floats(client, MODEL, ['one', 'two words'], 64)) assertUnit(vector, 64);
  });

  test('base64: raw it is a base64 string; through the SDK it decodes to the float response', async () => {
    const input = ['base64 please', 'and another'];
    const float = await floats(client, MODEL, input);
    const raw = await rawPost(server.baseURL, { model: MODEL, input, encoding_format: 'base64' });
    assert.equal(raw.status, 200);
    for (const [index, item] of raw.json.data.entries()) {
      assert.equal(typeof item.embedding, 'string');
      assert.match(item.embedding, /^[A-Za-z0-9+/]+=*$/);
      assert.deepEqual(fromBase64(item.embedding), float[index]);
    }
    // Without encoding_format the SDK asks for base64 and decodes it itself.
    const decoded = await client.embeddings.create({ model: MODEL, input });
    assert.deepEqual(decoded.data.map((item) => item.embedding), float);
    const explicit = await client.embeddings.create({ model: MODEL, input, encoding_format: 'base64' });
    assert.deepEqual(explicit.data.map((item) => fromBase64(item.embedding as unknown as string)), float);
  });

  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['an empty string', { input: '' }, 'input'],
    ['an empty string in an array', { input: ['fine', ''] }, 'input[1]'],
    ['an empty array', { input: [] }, 'input'],
    ['2049 strings', { input: Array.from({ length: 2049 }, () => 'x') }, 'input'],
    ['a token array of 2049 ids', { input: Array.from({ length: 2049 }, () => 1) }, 'input'],
    ['an empty token array among token arrays', { input: [[1], []] }, 'input[1]'],
    ['dimensions 0', { input: 'x', dimensions: 0 }, 'dimensions'],
    ['dimensions 100000', { input: 'x', dimensions: 100_000 }, 'dimensions'],
    ['encoding_format x', { input: 'x', encoding_format: 'x' }, 'encoding_format'],
    ['no model', { model: undefined, input: 'x' }, 'model'],
  ];
  for (const [name, body, param] of bad) {
    test(`400 for ${name}, param ${param}`, async () => {
      const { status, json } = await rawPost(server.baseURL, { model: MODEL, ...body });
      assert.equal(status, 400);
      assert.deepEqual(validateError(json), []);
      assert.equal(json.error.type, 'invalid_request_error');
      assert.equal(json.error.param, param);
    });
  }

  test('an unknown model is a 404 model_not_found', async () => {
    await assert.rejects(client.embeddings.create({ model: 'sandbox/no-such-model', input: 'x' }), (error: unknown) => {
      assert.ok(error instanceof NotFoundError);
      assert.equal(error.code, 'model_not_found');
      assert.equal(error.param, 'model');
      return true;
    });
  });
});

describe('embeddings on the embedded engine', () => {
  let running: LlamaTestServer;
  let client: OpenAI;
  let reference: ReferenceTokenizer;
  let vocabulary: number;
  const MODEL = 'local/tiny';

  before(async () => {
    running = await startLlamaServer([{ id: 'tiny', contextSize: 1024, threads: 1 }]);
    client = running.client;
    reference = await ReferenceTokenizer.load(running.modelFile);
    vocabulary = (reference.model.fileInfo.metadata as { tokenizer: { ggml: { tokens: readonly string[] } } }).tokenizer.ggml.tokens.length;
  });
  after(async () => {
    await reference?.dispose();
    await running?.close();
  });

  test("unit vectors of the model's embedding size; same input same vector, different inputs differ", async () => {
    assert.equal(reference.model.embeddingVectorSize, TEST_MODEL.embedding);
    const { status, json } = await rawPost(running.server.baseURL, { model: MODEL, input: ['a red apple', 'a blue sky', 'a red apple'], encoding_format: 'float' });
    assert.equal(status, 200);
    assert.deepEqual(validateResponse(json), []);
    assert.equal(json.model, MODEL);
    const vectors: number[][] = json.data.map((item: { embedding: number[] }) => item.embedding);
    for (const vector of vectors) assertUnit(vector, TEST_MODEL.embedding);
    assert.deepEqual(vectors[0], vectors[2]);
    assert.notDeepEqual(vectors[0], vectors[1]);
    assert.deepEqual((await floats(client, MODEL, 'a blue sky'))[0], vectors[1]);
  });

  test("usage counts the model's own tokens; the text's tokens as a token array give its vector", async () => {
    const texts = ['The quick brown fox', 'jumped over the lazy dog'];
    const response = await client.embeddings.create({ model: MODEL, input: texts, encoding_format: 'float' });
    const expected = texts.reduce((sum, text) => sum + reference.tokenCount(text), 0);
    assert.deepEqual(response.usage, { prompt_tokens: expected, total_tokens: expected });

    const tokens = texts.map((text) => [...reference.model.tokenize(text)] as number[]);
    const flat = await client.embeddings.create({ model: MODEL, input: tokens[0]!, encoding_format: 'float' });
    assert.equal(flat.usage.prompt_tokens, tokens[0]!.length);
    assert.deepEqual(flat.data[0]!.embedding, response.data[0]!.embedding);
    const nested = await floats(client, MODEL, tokens);
    assert.deepEqual(nested, response.data.map((item) => item.embedding));
  });

  test('token ids must be in the vocabulary: a 400 naming input, or input[i] among token arrays', async () => {
    const last = await rawPost(running.server.baseURL, { model: MODEL, input: [1, vocabulary - 1] });
    assert.equal(last.status, 200);
    for (const [input, param] of [
      [[1, vocabulary], 'input'],
      [[1, 99_999_999], 'input'],
      [[[1, 2], [3, 99_999_999]], 'input[1]'],
    ] as const) {
      const { status, json } = await rawPost(running.server.baseURL, { model: MODEL, input });
      assert.equal(status, 400, JSON.stringify(input).slice(0, 40));
      assert.deepEqual(validateError(json), []);
      assert.equal(json.error.param, param);
    }
    // The engine still answers afterwards.
    assertUnit((await floats(client, MODEL, 'still alive'))[0]!, TEST_MODEL.embedding);
  });

  test("dimensions: more than the model's size is a 400; fewer truncates and renormalizes", async () => {
    const { status, json } = await rawPost(running.server.baseURL, { model: MODEL, input: 'x', dimensions: TEST_MODEL.embedding + 1 });
    assert.equal(status, 400);
    assert.equal(json.error.param, 'dimensions');
    const [full] = await floats(client, MODEL, 'truncate me');
    assert.deepEqual((await floats(client, MODEL, 'truncate me', TEST_MODEL.embedding))[0], full);
    const [short] = await floats(client, MODEL, 'truncate me', 8);
    assertUnit(short!, 8);
    const prefix = full!.slice(0, 8);
    const scale = norm(prefix);
    short!.forEach((value, index) => assert.ok(Math.abs(value - prefix[index]! / scale) < 1e-6));
  });
});

/** OpenAI's embeddings endpoint as documented: float arrays, or float32 little-endian base64. */
interface EmbeddingsUpstream {
  baseURL: string;
  requests: Array<{ path: string; headers: Record<string, unknown>; body: any }>;
  /** The JSON text of every answer sent, latest last. */
  answers: string[];
  once(reply: (response: ServerResponse) => void): void;
  close(): Promise<void>;
}

/** Exactly representable in float32, so base64 and float carry the same numbers. */
const upstreamVector = (index: number, dimensions: number) => Array.from({ length: dimensions }, (_, i) => ((i + index) % 4) * 0.25 - 0.5);

async function startEmbeddingsUpstream(): Promise<EmbeddingsUpstream> {
  const requests: EmbeddingsUpstream['requests'] = [];
  const answers: string[] = [];
  const queued: Array<(response: ServerResponse) => void> = [];
  const server: Server = createServer((incoming, response) => {
    let raw = '';
    incoming.setEncoding('utf8');
    incoming.on('data', (part: string) => (raw += part));
    incoming.on('end', () => {
      const body = JSON.parse(raw || '{}');
      requests.push({ path: incoming.url ?? '', headers: incoming.headers, body });
      const scripted = queued.shift();
      if (scripted) return scripted(response);
      const inputs = typeof body.input === 'string' || typeof body.input[0] === 'number' ? [body.input] : body.input;
      const data = inputs.map((_: unknown, index: number) => {
        const vector = upstreamVector(index, body.dimensions ?? 4);
        const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
        return { object: 'embedding', index, embedding };
      });
      const text = JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: 9, total_tokens: 9 } });
      answers.push(text);
      response.writeHead(200, { 'content-type': 'application/json' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    requests,
    answers,
    once: (reply) => queued.push(reply),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const errorReply = (status: number, error: Record<string, unknown>) => (response: ServerResponse) =>
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));

describe('embeddings through an OpenAI-compatible upstream', () => {
  let upstream: EmbeddingsUpstream;
  let server: RunningServer;
  const calls: CallSummary[] = [];
  const MODEL = 'up/text-embedding-3-small';

  before(async () => {
    upstream = await startEmbeddingsUpstream();
    server = await startServer(
      { providers: [{ id: 'up', kind: 'openai-compatible', baseURL: upstream.baseURL, apiKey: 'sk-upstream', models: ['text-embedding-3-small'] }] },
      { onCallEnd: (summary) => calls.push(summary) },
    );
  });
  after(async () => {
    await server?.close();
    await upstream?.close();
  });
  beforeEach(() => {
    upstream.requests.length = 0;
    calls.length = 0;
  });

  test("the body goes upstream with the model rewritten; the upstream's answer is relayed byte for byte", async () => {
    const body = { model: MODEL, input: ['one', 'two'], encoding_format: 'float', dimensions: 3, user: 'user-1234' };
    const { status, text, json, headers } = await rawPost(server.baseURL, body);
    assert.equal(status, 200);
    const sent = upstream.requests[0]!;
    assert.equal(sent.path, '/v1/embeddings');
    assert.equal(sent.headers.authorization, 'Bearer sk-upstream');
    assert.deepEqual(sent.body, { ...body, model: 'text-embedding-3-small' });
    assert.equal(text, upstream.answers.at(-1));
    // The model is named as the upstream answered, not as the client asked.
    assert.equal(json.model, 'text-embedding-3-small');
    assert.deepEqual(validateResponse(json), []);
    assert.equal(headers.get('x-switchyard-route'), MODEL);
    assert.equal(calls.at(-1)!.usage!.prompt_tokens, 9);
  });

  test("the SDK's default base64 and dimensions pass through; it decodes the upstream's vectors", async () => {
    const response = await server.client().embeddings.create({ model: MODEL, input: [[1, 2], [3]], dimensions: 5 });
    assert.equal(upstream.requests[0]!.body.encoding_format, 'base64');
    assert.equal(upstream.requests[0]!.body.dimensions, 5);
    assert.deepEqual(upstream.requests[0]!.body.input, [[1, 2], [3]]);
    assert.deepEqual(response.data.map((item) => item.embedding), [upstreamVector(0, 5), upstreamVector(1, 5)]);
  });

  test('an upstream that ignores encoding_format: the floats it sends reach the SDK as the base64 it asked for', async () => {
    const floats = JSON.stringify({
      object: 'list',
      data: [0, 1].map((index) => ({ object: 'embedding', index, embedding: upstreamVector(index, 4) })),
      model: MODEL,
      usage: { prompt_tokens: 2, total_tokens: 2 },
    });
    upstream.once((response) => response.writeHead(200, { 'content-type': 'application/json' }).end(floats));
    const response = await server.client().embeddings.create({ model: MODEL, input: ['a', 'b'] });
    assert.deepEqual(response.data.map((item) => item.embedding), [upstreamVector(0, 4), upstreamVector(1, 4)]);
    // Asked for floats, floats go on as they came.
    upstream.once((response) => response.writeHead(200, { 'content-type': 'application/json' }).end(floats));
    const text = await (await fetch(`${server.baseURL}/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, input: ['a', 'b'], encoding_format: 'float' }) })).text();
    assert.equal(text, floats);
  });

  test('an upstream 400 is a 400 in OpenAI shape, as the upstream said it', async () => {
    upstream.once(errorReply(400, { message: 'This model does not support specifying dimensions.', type: 'invalid_request_error', param: 'dimensions', code: null }));
    await assert.rejects(server.client().embeddings.create({ model: MODEL, input: 'x', dimensions: 7 }), (error: unknown) => {
      assert.ok(error instanceof BadRequestError);
      assert.equal(error.param, 'dimensions');
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.message, '400 This model does not support specifying dimensions.');
      return true;
    });
    upstream.once(errorReply(400, { message: 'Bad input', type: 'invalid_request_error', param: 'input', code: null }));
    const raw = await rawPost(server.baseURL, { model: MODEL, input: 'x' });
    assert.equal(raw.status, 400);
    assert.deepEqual(validateError(raw.json), []);
  });

  test('an upstream 500 is a 502 in OpenAI shape', async () => {
    upstream.once(errorReply(500, { message: 'boom', type: 'server_error', param: null, code: null }));
    const { status, json } = await rawPost(server.baseURL, { model: MODEL, input: 'x' });
    assert.equal(status, 502);
    assert.deepEqual(validateError(json), []);
    assert.equal(json.error.code, 'upstream_error');
    assert.equal(calls.at(-1)!.status, 'failed');
    upstream.once(errorReply(500, { message: 'boom', type: 'server_error', param: null, code: null }));
    await assert.rejects(server.client().embeddings.create({ model: MODEL, input: 'x' }), (error: unknown) => error instanceof APIError && error.status === 502);
  });
});
