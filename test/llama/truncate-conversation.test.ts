import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { withoutOldestTurn } from '../../src/providers/llama/truncate-conversation.js';

const roles = (messages: readonly ChatCompletionMessageParam[] | undefined) => messages?.map((message) => message.role);

test('truncation drops the oldest turn after the instructions, tool results with the call they answer, and never the last message', () => {
  const call = { id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{}' } };
  const conversation: ChatCompletionMessageParam[] = [
    { role: 'system', content: 's' },
    { role: 'developer', content: 'd' },
    { role: 'assistant', content: null, tool_calls: [call] },
    { role: 'tool', tool_call_id: 'call_1', content: 'r1' },
    { role: 'tool', tool_call_id: 'call_1', content: 'r2' },
    { role: 'user', content: 'u1' },
    { role: 'user', content: 'u2' },
  ];
  let messages: ChatCompletionMessageParam[] | undefined = conversation;
  const steps: Array<string[] | undefined> = [];
  while ((messages = withoutOldestTurn(messages)) !== undefined) steps.push(roles(messages));
  assert.deepEqual(steps, [
    ['system', 'developer', 'user', 'user'],
    ['system', 'developer', 'user'],
  ]);
  // A tool result that is the last message stays, even when its call goes.
  const lastIsTool: ChatCompletionMessageParam[] = [conversation[2]!, conversation[3]!];
  assert.deepEqual(roles(withoutOldestTurn(lastIsTool)), ['tool']);
  assert.equal(withoutOldestTurn([{ role: 'system', content: 's' }, { role: 'user', content: 'u' }]), undefined);
});
