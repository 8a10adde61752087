// A model file that is not a usable GGUF is an error response, never a crash or a hung server:
// each malformed file below is served as a model next to a good one, through the HTTP API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import OpenAI from 'openai';
import type { LlamaProvider } from '../../src/providers/llama/llama-provider.js';
import { startLlamaServer, waitFor, type LlamaTestServer, type TestModelEntry } from '../helpers/llama-server.js';
import { writeTestModel } from '../../src/providers/llama/test-model/write-test-model.js';

type APIError = InstanceType<typeof OpenAI.APIError>;

/** How to spoil the good model, by name. */
const BAD_FILES: Record<string, (good: Buffer) => Buffer | undefined> = {
  'truncated-half': (good) => good.subarray(0, Math.floor(good.length / 2)),
  'truncated-by-one-byte': (good) => good.subarray(0, good.length - 1),
  'truncated-to-100-bytes': (good) => good.subarray(0, 100),
  'bad-magic': (good) => Buffer.concat([Buffer.from('GGUX'), good.subarray(4)]),
  'version-99': (good) => {
    const copy = Buffer.from(good);
    copy.writeUInt32LE(99, 4);
    return copy;
  },
  'huge-tensor-count': (good) => {
    const copy = Buffer.from(good);
    copy.writeBigUInt64LE(2n ** 40n, 8);
    return copy;
  },
  empty: () => Buffer.alloc(0),
  'text-file': () => Buffer.from('this is not a model\n'),
  missing: () => undefined,
};
/** A sound GGUF whose chat template is not Jinja that parses: the load fails after llama.cpp took the model. */
const BAD_TEMPLATE = 'bad-template';

describe('llama engine: malformed model files over HTTP', () => {
  let running: LlamaTestServer;
  let client: OpenAI;

  before(async () => {
    running = await startLlamaServer(async (modelFile, dir) => {
      const good = await readFile(modelFile);
      // A model whose file is broken at first and repaired later, unloaded after a second idle.
      await writeFile(path.join(dir, 'repaired.gguf'), good.subarray(0, good.length >> 1));
      const entries: TestModelEntry[] = [{ id: 'tiny', contextSize: 512 }, { id: 'repaired', file: path.join(dir, 'repaired.gguf'), contextSize: 512, idleUnloadSeconds: 1 }];
      for (const [name, spoil] of Object.entries(BAD_FILES)) {
        const file = path.join(dir, `${name}.gguf`);
        const bytes = spoil(good);
        if (bytes) await writeFile(file, bytes);
        entries.push({ id: name, file, contextSize: 512 });
      }
      await writeTestModel(path.join(dir, `${BAD_TEMPLATE}.gguf`), { chatTemplate: '{% if %}{{ messages' });
      entries.push({ id: BAD_TEMPLATE, file: path.join(dir, `${BAD_TEMPLATE}.gguf`), contextSize: 512 });
      return entries;
    });
    client = running.client;
    // Start the engine (llama.cpp's binary check takes most of a second) so that the failures below
    // are timed on their own.
    await client.chat.completions.create({ model: 'local/tiny', messages: [{ role: 'user', content: 'warm up' }], max_tokens: 1 });
  });

  after(async () => {
    await running?.close();
  });

  for (const name of [...Object.keys(BAD_FILES), BAD_TEMPLATE]) {
    test(`${name}: a clean 503 model_file_error, again on retry, streaming or not; the server stays up`, async () => {
      for (const stream of [false, true, false]) {
        const started = performance.now();
        await assert.rejects(client.chat.completions.create({ model: `local/${name}`, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, stream }), (error: APIError) => {
          assert.ok(error instanceof OpenAI.APIError, String(error));
          assert.equal(error.status, 503, `${name}: ${JSON.stringify(error.error)}`);
          assert.equal(error.code, 'model_file_error', `${name}: ${JSON.stringify(error.error)}`);
          assert.equal(error.type, 'server_error');
          assert.ok(error.message.includes(`${name}.gguf`), `names the file: ${error.message}`);
          return true;
        });
        assert.ok(performance.now() - started < 5000, `${name} took ${(performance.now() - started).toFixed(0)} ms to fail`);
      }
      const reply = await client.chat.completions.create({ model: 'local/tiny', messages: [{ role: 'user', content: 'still fine?' }], max_tokens: 3, seed: 1 });
      assert.equal(reply.usage!.completion_tokens, 3);
    });
  }

  test('the good model is listed and served; the process did not grow without bound', async () => {
    const models = await client.models.list();
    assert.ok(models.data.some((model) => model.id === 'local/tiny'));
    const reply = await client.chat.completions.create({ model: 'local/tiny', messages: [{ role: 'user', content: 'hello' }], max_tokens: 5, seed: 1 });
    assert.equal(reply.choices[0]!.finish_reason, 'length');
    assert.ok(process.memoryUsage().rss < 1024 ** 3, `rss ${(process.memoryUsage().rss / 1024 ** 2).toFixed(0)} MB`);
  });

  test('a file repaired after a failed load is served, and the model still unloads when idle', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'local/repaired', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }), { status: 503 });
    await writeFile(path.join(running.dir, 'repaired.gguf'), await readFile(running.modelFile));
    const reply = await client.chat.completions.create({ model: 'local/repaired', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, seed: 1 });
    assert.equal(reply.usage!.completion_tokens, 2);
    const provider = running.server.registry.allProviders().find((p) => p.kind === 'llama') as LlamaProvider;
    const loaded = () => provider.modelStates().find((state) => state.id === 'repaired')!.loaded;
    assert.ok(loaded());
    // idleUnloadSeconds: 1. A failed load must not leave the model counted as in use forever.
    assert.ok(await waitFor(() => !loaded(), 3000), 'the model was still loaded 3 s after its last request');
  });
});
