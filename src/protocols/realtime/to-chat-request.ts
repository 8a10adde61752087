import type { ChatCompletionMessageParam, ChatCompletionMessageToolCall, ChatCompletionTool, ChatCompletionToolChoiceOption } from 'openai/resources/chat/completions';
import type { ChatRequest } from '../../providers/provider.js';
import type { RealtimeItem, SessionState } from './realtime-session.js';

function text(content: ReadonlyArray<{ type: string; text?: string | undefined; transcript?: unknown }>): string {
  return content.map((part) => part.text ?? (typeof part.transcript === 'string' ? part.transcript : '')).join('');
}

/**
 * A Realtime conversation as a chat request: instructions first as a system message, messages as
 * they are, consecutive function calls as one assistant message with `tool_calls`, each output as
 * a `tool` message. Always streamed with usage, for `response.done`.
 */
export function toChatRequest(model: string, session: SessionState, items: readonly RealtimeItem[]): ChatRequest {
  const messages: ChatCompletionMessageParam[] = [];
  if (session.instructions) messages.push({ role: 'system', content: session.instructions });
  let calls: ChatCompletionMessageToolCall[] | undefined;
  for (const item of items) {
    if (item.type === 'function_call') {
      if (!calls) {
        calls = [];
        messages.push({ role: 'assistant', content: null, tool_calls: calls });
      }
      calls.push({ id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } });
      continue;
    }
    calls = undefined;
    if (item.type === 'function_call_output') messages.push({ role: 'tool', tool_call_id: item.call_id, content: item.output });
    else messages.push({ role: item.role, content: text(item.content) });
  }
  const tools: ChatCompletionTool[] | undefined = session.tools.length
    ? session.tools.map((tool) => ({
        type: 'function',
        function: { name: tool.name, ...(tool.description ? { description: tool.description } : {}), ...(tool.parameters ? { parameters: tool.parameters } : {}) },
      }))
    : undefined;
  const choice = session.tool_choice;
  const toolChoice: ChatCompletionToolChoiceOption | undefined =
    tools === undefined || choice === undefined ? undefined : typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
  return {
    model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
    ...(tools ? { tools } : {}),
    ...(toolChoice ? { tool_choice: toolChoice } : {}),
    ...(session.max_output_tokens !== 'inf' ? { max_completion_tokens: session.max_output_tokens } : {}),
    ...(session.temperature !== undefined ? { temperature: session.temperature } : {}),
  };
}
