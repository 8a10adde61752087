import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';

/**
 * The conversation without its oldest turn, for Responses' `truncation: "auto"` ("dropping items
 * from the beginning of the conversation"): the leading system and developer messages (the
 * instructions) and the last message stay; tool results go with the turn that called them, since
 * a tool message with no call before it is something chat templates refuse. `undefined` when
 * nothing more can go.
 */
export function withoutOldestTurn(messages: readonly ChatCompletionMessageParam[]): ChatCompletionMessageParam[] | undefined {
  let start = 0;
  while (start < messages.length && (messages[start]!.role === 'system' || messages[start]!.role === 'developer')) start++;
  if (start >= messages.length - 1) return undefined;
  let end = start + 1;
  while (end < messages.length - 1 && messages[end]!.role === 'tool') end++;
  return [...messages.slice(0, start), ...messages.slice(end)];
}
