// The embedded engine with a thinking model: the generated tiny model with a Qwen3-style template
// (the reply opens `<think>`; `enable_thinking: false` closes it empty). The model's words are
// random and never close the thought, so within a few tokens everything it writes is reasoning.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { THINKING_TEMPLATE } from '../../src/providers/llama/test-model/chat-template.js';
import { writeTestModel } from '../../src/providers/llama/test-model/write-test-model.js';
import { collect, startLlamaServer, type LlamaTestServer } from '../helpers/llama-server.js';

const MODEL = 'local/thinker';
const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Think about the river' }];
type WithReasoning = { reasoning?: string | null; reasoning_content?: string | null };

describe('llama engine: reasoning of a thinking model', () => {
  let running: LlamaTestServer;
  let client: OpenAI;

  before(async () => {
    running = await startLlamaServer(async (_file, dir) => {
      const file = path.join(dir, 'thinker.gguf');
      await writeTestModel(file, { seed: 1, chatTemplate: THINKING_TEMPLATE });
      return [{ id: 'thinker', file, contextSize: 1024, threads: 1, parallel: 2, queueLimit: 8 }];
    });
    client = running.client;
  });

  after(async () => {
    await running?.close();
  });

  const ask = (extra: Record<string, unknown> = {}) => client.chat.completions.create({ model: MODEL, messages, max_tokens: 12, seed: 3, ...extra } as never) as Promise<OpenAI.Chat.Completions.ChatCompletion>;

  test('the thought is message.reasoning (and reasoning_content), not content, and its tokens are reasoning_tokens', async () => {
    const reply = await ask();
    const message = reply.choices[0]!.message as typeof reply.choices[0]['message'] & WithReasoning;
    assert.ok(message.reasoning && message.reasoning.length > 0);
    assert.equal(message.reasoning_content, message.reasoning);
    assert.ok(!message.content, 'nothing left the thought');
    assert.equal(reply.usage!.completion_tokens, 12);
    assert.equal(reply.usage!.completion_tokens_details!.reasoning_tokens, 12);

    // Streamed: reasoning deltas, no content, the same text for the same seed.
    const streamed = await collect(await client.chat.completions.create({ model: MODEL, messages, max_tokens: 12, seed: 3, stream: true }));
    const deltas = streamed.map((item) => item.chunk as ChatCompletionChunk).flatMap((chunk) => chunk.choices.map((choice) => choice.delta as ChatCompletionChunk.Choice.Delta & WithReasoning));
    assert.equal(deltas.map((delta) => delta.reasoning ?? '').join(''), message.reasoning);
    assert.equal(deltas.map((delta) => delta.content ?? '').join(''), '');
  });

  test('reasoning_effort none, reasoning: false and {enabled: false} turn thinking off: the template closes the thought', async () => {
    const thinking = await ask();
    const replies = await Promise.all([ask({ reasoning_effort: 'none' }), ask({ reasoning: false }), ask({ reasoning: { enabled: false } })]);
    for (const reply of replies) {
      const message = reply.choices[0]!.message as typeof reply.choices[0]['message'] & WithReasoning;
      assert.ok(!message.reasoning);
      assert.ok(message.content && message.content.length > 0);
      assert.equal(reply.usage!.completion_tokens_details!.reasoning_tokens, 0);
      assert.ok(reply.usage!.prompt_tokens > thinking.usage!.prompt_tokens, 'the prompt carries the closed, empty thought');
      assert.equal(reply.usage!.prompt_tokens, replies[0]!.usage!.prompt_tokens);
      assert.equal(message.content, replies[0]!.choices[0]!.message.content);
    }
  });

  test('reasoning {exclude: true}: the model still thinks (counted), the thought is not returned', async () => {
    const reply = await ask({ reasoning: { exclude: true } });
    const message = reply.choices[0]!.message as typeof reply.choices[0]['message'] & WithReasoning;
    assert.ok(!message.reasoning && !message.reasoning_content);
    assert.equal(reply.usage!.completion_tokens_details!.reasoning_tokens, 12);
  });

  test('structured output on a thinking model: the thought is closed before the grammar starts, and the reply parses', async () => {
    const off = await ask({ reasoning_effort: 'none' });
    const reply = await ask({ response_format: { type: 'json_object' }, max_tokens: 200 });
    assert.equal(reply.usage!.prompt_tokens, off.usage!.prompt_tokens);
    assert.equal(reply.usage!.completion_tokens_details!.reasoning_tokens, 0);
    if (reply.choices[0]!.finish_reason === 'stop') assert.equal(typeof JSON.parse(reply.choices[0]!.message.content!), 'object');
  });
});
