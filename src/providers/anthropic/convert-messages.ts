import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { UnsupportedFeatureError, ValidationError } from '../../errors/errors.js';
import type { AnthropicRequest, AnthropicRequestBlock, AnthropicRequestMessage } from './wire-schemas.js';

type SystemBlock = NonNullable<AnthropicRequest['system']>[number];

/** Anthropic's image types (https://docs.anthropic.com/en/docs/build-with-claude/vision). */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/**
 * Chat messages as Anthropic's `system` and `messages`.
 *
 * - `system` and `developer` messages, wherever they are, become `system` blocks in their order
 *   (Anthropic has no system turn inside the conversation).
 * - `tool` messages become `tool_result` blocks of a user turn; consecutive turns of one role are
 *   merged into one, tool results first (Anthropic wants them at the start of the user turn).
 * - An assistant's `tool_calls` become `tool_use` blocks whose `input` is the parsed arguments.
 */
export function convertMessages(messages: readonly ChatCompletionMessageParam[]): { system: SystemBlock[]; messages: AnthropicRequestMessage[] } {
  const system: SystemBlock[] = [];
  const turns: AnthropicRequestMessage[] = [];

  const append = (role: 'user' | 'assistant', blocks: AnthropicRequestBlock[]) => {
    if (blocks.length === 0) return;
    const last = turns.at(-1);
    if (last && last.role === role) {
      if (blocks.some((block) => block.type === 'tool_result')) {
        // Tool results go before the user's other blocks of the same turn.
        const results = last.content.filter((block) => block.type === 'tool_result');
        const others = last.content.filter((block) => block.type !== 'tool_result');
        last.content = [...results, ...blocks, ...others];
      } else {
        last.content.push(...blocks);
      }
    } else {
      turns.push({ role, content: blocks });
    }
  };

  for (const [index, message] of messages.entries()) {
    const param = `messages[${index}]`;
    switch (message.role) {
      case 'system':
      case 'developer':
        for (const block of textBlocks(message.content)) system.push(block);
        break;
      case 'user':
        append('user', userBlocks(message.content, param));
        break;
      case 'assistant': {
        // Thinking blocks a client kept from an earlier reply (the `thinking_blocks` extension, with
        // their signatures) go first: Anthropic needs them back in a tool loop with thinking on.
        const blocks: AnthropicRequestBlock[] = thinkingBlocks((message as { thinking_blocks?: unknown }).thinking_blocks, `${param}.thinking_blocks`);
        if (typeof message.content === 'string') {
          if (message.content !== '') blocks.push({ type: 'text', text: message.content });
        } else if (Array.isArray(message.content)) {
          for (const part of message.content) {
            const text = part.type === 'text' ? part.text : part.refusal;
            if (text !== '') blocks.push(withCacheControl({ type: 'text', text }, part));
          }
        }
        if (message.function_call) {
          throw new UnsupportedFeatureError("The Anthropic provider does not support the legacy 'function_call'; use 'tool_calls'.", `${param}.function_call`);
        }
        for (const [callIndex, call] of (message.tool_calls ?? []).entries()) {
          if (call.type !== 'function') {
            throw new UnsupportedFeatureError('The Anthropic provider supports function tool calls only.', `${param}.tool_calls[${callIndex}]`);
          }
          blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseArguments(call.function.arguments, `${param}.tool_calls[${callIndex}].function.arguments`) });
        }
        append('assistant', blocks);
        break;
      }
      case 'tool': {
        // Empty text parts beside others are left out, as in user messages.
        const said = typeof message.content === 'string' ? [] : message.content.filter((part) => part.text !== '');
        const content =
          typeof message.content === 'string' ? message.content : (said.length > 0 ? said : message.content).map((part) => ({ type: 'text' as const, text: part.text }));
        append('user', [{ type: 'tool_result', tool_use_id: message.tool_call_id, content }]);
        break;
      }
      case 'function':
        throw new UnsupportedFeatureError("The Anthropic provider does not support legacy 'function' messages; use 'tool' messages.", param);
      default: {
        const unhandled: never = message;
        throw new ValidationError(`Unknown message role '${(unhandled as { role: string }).role}'.`, `${param}.role`);
      }
    }
  }
  // OpenAI answers a conversation of instructions alone; Anthropic refuses one with no messages
  // ("messages must have at least one element"). The instructions become its one user turn.
  if (turns.length === 0 && system.length > 0) return { system: [], messages: [{ role: 'user', content: system.map(({ text }) => ({ type: 'text' as const, text })) }] };
  return { system, messages: turns };
}

function thinkingBlocks(value: unknown, param: string): AnthropicRequestBlock[] {
  if (value == null) return [];
  if (!Array.isArray(value)) throw new ValidationError(`Invalid '${param}': expected an array of thinking blocks.`, param);
  return value.map((block: { type?: unknown; thinking?: unknown; signature?: unknown; data?: unknown }, index): AnthropicRequestBlock => {
    if (block?.type === 'thinking' && typeof block.thinking === 'string' && typeof block.signature === 'string') {
      return { type: 'thinking', thinking: block.thinking, signature: block.signature };
    }
    if (block?.type === 'redacted_thinking' && typeof block.data === 'string') return { type: 'redacted_thinking', data: block.data };
    throw new ValidationError(`Invalid '${param}[${index}]': expected {type: 'thinking', thinking, signature} or {type: 'redacted_thinking', data}.`, `${param}[${index}]`);
  });
}

function textBlocks(content: string | ReadonlyArray<{ type: 'text'; text: string }>): SystemBlock[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  return content.filter((part) => part.text !== '').map((part) => withCacheControl({ type: 'text' as const, text: part.text }, part));
}

function userBlocks(content: string | ChatCompletionContentPart[], param: string): AnthropicRequestBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  // Anthropic refuses an empty text block ("messages: text content blocks must be non-empty"), which
  // OpenAI takes, as clients send beside an image without a caption: beside other parts it says
  // nothing and is left out. A message of nothing else stays as it is, for Anthropic to judge.
  const parts = content.map((part, partIndex) => ({ part, partIndex }));
  const said = parts.filter(({ part }) => part.type !== 'text' || part.text !== '');
  return (said.length > 0 ? said : parts).map(({ part, partIndex }): AnthropicRequestBlock => {
    const partParam = `${param}.content[${partIndex}]`;
    switch (part.type) {
      case 'text':
        return withCacheControl({ type: 'text', text: part.text }, part);
      case 'image_url':
        return withCacheControl({ type: 'image', source: imageSource(part.image_url.url, partParam) }, part);
      case 'file': {
        const data = part.file.file_data;
        const match = data ? /^data:application\/pdf;base64,(.*)$/s.exec(data) : null;
        if (!match) {
          throw new UnsupportedFeatureError('The Anthropic provider accepts files only as base64 PDF data URLs in `file_data`.', partParam);
        }
        return withCacheControl({ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: match[1]! } }, part);
      }
      case 'input_audio':
        throw new UnsupportedFeatureError('The Anthropic provider does not accept audio input.', partParam);
      default: {
        const unhandled: never = part;
        throw new UnsupportedFeatureError(`Unsupported content part type '${(unhandled as { type: string }).type}'.`, partParam);
      }
    }
  });
}

/** A base64 data URL as an inline image; an http(s) URL as a URL source Anthropic fetches itself. */
function imageSource(url: string, param: string): Extract<AnthropicRequestBlock, { type: 'image' }>['source'] {
  if (url.startsWith('http://') || url.startsWith('https://')) return { type: 'url', url };
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  const mediaType = match?.[1]?.toLowerCase().replace('image/jpg', 'image/jpeg');
  if (!match || !mediaType || !IMAGE_TYPES.has(mediaType)) {
    throw new UnsupportedFeatureError('The Anthropic provider accepts JPEG, PNG, GIF and WebP images only.', `${param}.image_url.url`);
  }
  return { type: 'base64', media_type: mediaType, data: match[2]! };
}

function parseArguments(text: string, param: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError(`Invalid '${param}': the tool call's arguments are not valid JSON.`, param);
  }
}

/**
 * Anthropic's prompt caching is asked per block (`cache_control`); a client that knows it may set it
 * on a content part (an extension field), and it is passed on.
 */
function withCacheControl<T extends AnthropicRequestBlock | SystemBlock>(block: T, part: object): T {
  const cacheControl = (part as { cache_control?: unknown }).cache_control;
  return cacheControl === undefined ? block : { ...block, cache_control: cacheControl };
}
