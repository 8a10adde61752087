import type { ChatCompletionContentPart, ChatCompletionMessageParam, ChatCompletionMessageToolCall, ChatCompletionTool, ChatCompletionToolChoiceOption } from 'openai/resources/chat/completions';
import { SwitchyardError } from '../../errors/errors.js';
import type { ChatRequest } from '../../providers/provider.js';
import type { RealtimeItem, SessionState } from './realtime-session.js';

function text(content: ReadonlyArray<{ type: string; text?: string | undefined; transcript?: unknown }>): string {
  return content.map((part) => part.text ?? (typeof part.transcript === 'string' ? part.transcript : '')).join('');
}

type ContentPart = { type: string; text?: string | undefined; transcript?: unknown; image_url?: unknown; detail?: unknown };

/**
 * A user message's parts with its images as chat's `image_url` parts, as the chat route gets them,
 * so the gateway's image handling (size, type, remote fetch, a backend without vision) applies.
 */
function userContent(content: readonly ContentPart[]): string | ChatCompletionContentPart[] {
  if (!content.some((part) => part.type === 'input_image')) return text(content);
  return content.flatMap((part): ChatCompletionContentPart[] => {
    if (part.type !== 'input_image') {
      const value = text([part]);
      return value ? [{ type: 'text', text: value }] : [];
    }
    const detail = part.detail === 'low' || part.detail === 'high' || part.detail === 'auto' ? part.detail : undefined;
    return [{ type: 'image_url', image_url: { url: part.image_url as string, ...(detail ? { detail } : {}) } }];
  });
}

/** An `input_image` part must carry its image, and only a user message may hold one (as in chat). */
export function checkImageParts(item: { type: string; role?: string; content?: readonly ContentPart[] }, at: string): void {
  if (item.type !== 'message') return;
  item.content!.forEach((part, index) => {
    if (part.type !== 'input_image') return;
    if (item.role !== 'user') throw new SwitchyardError('invalid_value', `Invalid '${at}.content[${index}].type': only user messages may hold input_image parts.`, { param: `${at}.content[${index}].type` });
    if (typeof part.image_url !== 'string' || part.image_url === '') {
      throw new SwitchyardError('missing_required_parameter', `Missing required parameter: '${at}.content[${index}].image_url' (a data URI or an https URL of the image).`, { param: `${at}.content[${index}].image_url` });
    }
  });
}

/**
 * A Realtime conversation as a chat request: instructions first as a system message, messages as
 * they are, consecutive function calls as one assistant message with `tool_calls`, each output as
 * a `tool` message, a user message's `input_image` parts as chat `image_url` parts. Always streamed with usage, for `response.done`.
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
    else if (item.role === 'user') messages.push({ role: 'user', content: userContent(item.content) });
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
