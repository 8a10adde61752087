import type { ChatCompletionChunk } from 'openai/resources/chat/completions';

/** The stop reasons Anthropic documents (https://docs.anthropic.com/en/api/handling-stop-reasons). */
const KNOWN = ['end_turn', 'stop_sequence', 'max_tokens', 'tool_use', 'pause_turn', 'refusal', 'model_context_window_exceeded'] as const;
export type AnthropicStopReason = (typeof KNOWN)[number];

type FinishReason = NonNullable<ChatCompletionChunk.Choice['finish_reason']>;

function isKnown(reason: string): reason is AnthropicStopReason {
  return (KNOWN as readonly string[]).includes(reason);
}

/**
 * Anthropic's `stop_reason` as OpenAI's `finish_reason`. `answeredByTool` is true when the reply was
 * a forced tool standing in for `response_format`: its `tool_use` stop is an ordinary end of answer.
 * A reason newer than this table ends the reply as `stop`.
 */
export function mapStopReason(reason: string | null | undefined, answeredByTool = false): FinishReason {
  if (!reason || !isKnown(reason)) return 'stop';
  switch (reason) {
    // pause_turn: the server paused a long-running server-tool turn; to the client the reply is complete.
    case 'end_turn':
    case 'stop_sequence':
    case 'pause_turn':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return answeredByTool ? 'stop' : 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default: {
      const unhandled: never = reason;
      return unhandled;
    }
  }
}
