// What happens when the engine cannot go on with a reply: one request fails, the server does not.
// llama.cpp's grammar sampler throws when no token it allows is left; node-llama-cpp let that
// rejection escape unhandled, which ended the whole process (sampling-guard.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildVocab } from '../../src/providers/llama/test-model/vocab.js';
import { rawStream, useLlamaServer } from '../helpers/llama-server.js';

const MODEL = 'local/tiny';

/** `{` and its byte token `<0x7B>`: every way the tiny model has to open a JSON object. */
const NO_OPEN_BRACE: Record<string, number> = (() => {
  const vocab = buildVocab();
  const brace = vocab.tokens.indexOf('{');
  const byte = vocab.tokens.indexOf('<0x7B>');
  assert.ok(brace > 0 && byte > 0);
  return { [String(brace)]: -100, [String(byte)]: -100 };
})();

const OBJECT_SCHEMA = {
  type: 'object',
  properties: { ok: { type: 'boolean' } },
  required: ['ok'],
  additionalProperties: false,
};

describe('llama engine: a reply the engine cannot go on with', () => {
  const engine = useLlamaServer([{ id: 'tiny', contextSize: 1024, parallel: 2 }]);


  async function stillServes(): Promise<void> {
    const reply = await engine.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 3, seed: 1 });
    assert.equal(reply.choices[0]!.finish_reason, 'length');
  }

  test('logit_bias banning every way to open the object: a 400 naming logit_bias, and the server goes on', async () => {
    const body = {
      model: MODEL,
      messages: [{ role: 'user' as const, content: 'x' }],
      seed: 1,
      max_tokens: 20,
      logit_bias: NO_OPEN_BRACE,
      response_format: { type: 'json_schema' as const, json_schema: { name: 'x', schema: OBJECT_SCHEMA } },
    };
    const error = await engine.client.chat.completions.create(body).catch((caught: unknown) => caught);
    assert.equal((error as { status?: number }).status, 400, String(error));
    assert.equal((error as { code?: string }).code, 'invalid_value');
    assert.equal((error as { param?: string }).param, 'logit_bias');
    assert.match((error as Error).message, /bans every token/);
    await stillServes();

    // The same for a forced tool call, and for json_object.
    const tool = await engine.client.chat.completions
      .create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 20,
        logit_bias: NO_OPEN_BRACE,
        tools: [{ type: 'function', function: { name: 'f', parameters: OBJECT_SCHEMA } }],
        tool_choice: 'required',
      })
      .catch((caught: unknown) => caught);
    assert.equal((tool as { param?: string }).param, 'logit_bias', String(tool));
    const object = await engine.client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 20, logit_bias: NO_OPEN_BRACE, response_format: { type: 'json_object' } })
      .catch((caught: unknown) => caught);
    assert.equal((object as { param?: string }).param, 'logit_bias', String(object));
    await stillServes();
  });

  test('streamed, the failure after the first chunk is the stream error event, never silence', async () => {
    const { status, events } = await rawStream(engine.running.server.origin, {
      model: MODEL,
      messages: [{ role: 'user', content: 'x' }],
      seed: 1,
      max_tokens: 20,
      stream: true,
      logit_bias: NO_OPEN_BRACE,
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: OBJECT_SCHEMA } },
    });
    assert.equal(status, 200);
    const last = JSON.parse(events.at(-1)!.data) as { error?: { code: string; param: string } };
    assert.equal(last.error?.code, 'invalid_value');
    assert.equal(last.error?.param, 'logit_bias');
    assert.ok(!events.some((event) => event.data === '[DONE]'));
    await stillServes();
  });

  test('the sequence of a failed reply is released: more failures than sequences, then every sequence serves', async () => {
    const failing = {
      model: MODEL,
      messages: [{ role: 'user' as const, content: 'x' }],
      max_tokens: 20,
      logit_bias: NO_OPEN_BRACE,
      response_format: { type: 'json_object' as const },
    };
    const errors = await Promise.all([1, 2, 3, 4, 5].map((seed) => engine.client.chat.completions.create({ ...failing, seed }).catch((caught: unknown) => caught)));
    for (const error of errors) assert.equal((error as { status?: number }).status, 400);
    // Two sequences: both must be free again for two replies at once.
    await Promise.all([stillServes(), stillServes()]);
  });
});
