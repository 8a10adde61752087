import type { AnthropicMessage, AnthropicStreamEvent } from './wire-schemas.js';

/**
 * A whole (non-streaming) Messages reply as the events a stream of it would have carried, so that
 * one translator serves both and a reply reads the same streamed or not.
 */
export function messageToEvents(message: AnthropicMessage): AnthropicStreamEvent[] {
  const events: AnthropicStreamEvent[] = [{ type: 'message_start', message: { ...message, content: [] } }];
  for (const [index, block] of message.content.entries()) {
    switch (block.type) {
      case 'text':
        events.push({ type: 'content_block_start', index, content_block: { ...block, text: '' } });
        events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: block.text } });
        break;
      case 'thinking':
        events.push({ type: 'content_block_start', index, content_block: { ...block, thinking: '' } });
        events.push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: block.thinking } });
        break;
      case 'tool_use':
        events.push({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
        events.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input ?? {}) } });
        break;
      case 'redacted_thinking':
      case 'unknown':
        events.push({ type: 'content_block_start', index, content_block: block });
        break;
      default: {
        const unhandled: never = block;
        return unhandled;
      }
    }
    events.push({ type: 'content_block_stop', index });
  }
  events.push({ type: 'message_delta', delta: { stop_reason: message.stop_reason ?? null, stop_sequence: message.stop_sequence ?? null }, usage: message.usage ?? null });
  events.push({ type: 'message_stop' });
  return events;
}
