import type {
  ChatCompletionAssistantMessageParam,
  ChatCompletionContentPart,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type {
  ResponseFunctionToolCallOutputItem,
  ResponseInputMessageContentList,
  ResponseInputMessageItem,
  ResponseOutputMessage,
} from 'openai/resources/responses/responses';
import { SwitchyardError, UnsupportedFeatureError, ValidationError } from '../../errors/errors.js';
import type { IdGenerator } from '../../util/ids.js';
import type { FunctionCallOutputItemParam, InputItemParam, MessageItemParam } from './request-schema.js';
import type { ContextItem, FunctionCallItem, ReasoningItem } from './types.js';

type InputPart = ResponseInputMessageContentList[number];
type MessagePart = MessageItemParam['content'] extends string | Array<infer P> ? P : never;

/** The parts of a user, system or developer message, refusing what chat cannot carry. */
function inputParts(parts: readonly MessagePart[], param: string): InputPart[] {
  return parts.map((part, index): InputPart => {
    const at = `${param}[${index}]`;
    switch (part.type) {
      case 'input_text':
        return { ...part, type: 'input_text', text: part.text };
      case 'output_text':
        // Clients replaying a transcript sometimes label user text this way; it is text all the same.
        return { type: 'input_text', text: part.text };
      case 'refusal':
        return { type: 'input_text', text: part.refusal };
      case 'input_image':
        if (!part.image_url) {
          throw new UnsupportedFeatureError(`Switchyard does not serve the Files API: give the image as 'image_url' (an http(s) or data URL), not a 'file_id'.`, `${at}.image_url`);
        }
        return { ...part, type: 'input_image', image_url: part.image_url, detail: part.detail ?? 'auto' };
      case 'input_file':
        if (part.file_data === undefined) {
          throw new UnsupportedFeatureError(`Switchyard does not serve the Files API or fetch file URLs: give the file inline as 'file_data'.`, `${at}.file_data`);
        }
        return { ...part, type: 'input_file', file_data: part.file_data };
      default: {
        const unexpected: never = part;
        return unexpected;
      }
    }
  });
}

/**
 * Chat carries only text in system and developer messages and in tool results: an image or a file
 * there would be dropped on the way, so it is refused, naming the part.
 */
function requireText(parts: readonly InputPart[], param: string, where: string): void {
  const index = parts.findIndex((part) => part.type !== 'input_text');
  if (index === -1) return;
  throw new UnsupportedFeatureError(
    `Switchyard carries only text in ${where}: chat has no ${parts[index]!.type === 'input_image' ? 'image' : 'file'} parts there. Send '${parts[index]!.type}' in a user message instead.`,
    `${param}[${index}].type`,
  );
}

/** The parts of an assistant message: text and refusals only. */
function assistantParts(parts: readonly MessagePart[], param: string): ResponseOutputMessage['content'] {
  return parts.map((part, index) => {
    switch (part.type) {
      case 'output_text':
      case 'input_text':
        return { type: 'output_text', text: part.text, annotations: [] };
      case 'refusal':
        return { type: 'refusal', refusal: part.refusal };
      case 'input_image':
      case 'input_file':
        throw new ValidationError(`Invalid value for '${param}[${index}].type': assistant messages carry text only.`, `${param}[${index}].type`);
      default: {
        const unexpected: never = part;
        return unexpected;
      }
    }
  });
}

/** The ids of a request's `item_reference` input items, to look up before translating it. */
export function referencedItemIds(input: string | readonly InputItemParam[] | undefined): string[] {
  if (!Array.isArray(input)) return [];
  return input.flatMap((item) => {
    const reference = item as { type?: unknown; id?: unknown };
    return reference.type === 'item_reference' && typeof reference.id === 'string' ? [reference.id] : [];
  });
}

/**
 * A request's `input` as items of the response's context, each with an id (the ones the client
 * gave are kept): what `input_items` lists and what a later `previous_response_id` continues from.
 * Item kinds chat cannot carry are refused here, naming the item.
 */
export function normalizeInput(
  input: string | readonly InputItemParam[] | undefined,
  ids: IdGenerator,
  references: ReadonlyMap<string, ContextItem> = new Map(),
): ContextItem[] {
  if (input === undefined) return [];
  if (typeof input === 'string') {
    return [{ id: ids('msg_'), type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: input }] }];
  }
  return input.map((item, index): ContextItem => {
    const param = `input[${index}]`;
    if (!('type' in item) || item.type === undefined || item.type === 'message') {
      const message = item as MessageItemParam;
      const id = message.id ?? ids('msg_');
      if (message.role === 'assistant') {
        const content = typeof message.content === 'string' ? [{ type: 'output_text' as const, text: message.content, annotations: [] }] : assistantParts(message.content, `${param}.content`);
        return { id, type: 'message', role: 'assistant', status: 'completed', content };
      }
      const content = typeof message.content === 'string' ? [{ type: 'input_text' as const, text: message.content }] : inputParts(message.content, `${param}.content`);
      if (message.role !== 'user') requireText(content, `${param}.content`, `a ${message.role} message`);
      const out: ResponseInputMessageItem = { id, type: 'message', role: message.role, status: 'completed', content };
      return out;
    }
    switch (item.type) {
      case 'function_call': {
        const call = item as FunctionCallItem;
        return { ...call, id: call.id ?? ids('fc_'), type: 'function_call', status: 'completed' };
      }
      case 'function_call_output': {
        const output = item as FunctionCallOutputItemParam;
        const out: ResponseFunctionToolCallOutputItem = {
          ...(output as Omit<ResponseFunctionToolCallOutputItem, 'id' | 'status'>),
          id: output.id ?? ids('fco_'),
          status: 'completed',
        };
        if (Array.isArray(output.output)) {
          const parts = inputParts(output.output, `${param}.output`);
          requireText(parts, `${param}.output`, 'a function call output');
          out.output = parts as ResponseFunctionToolCallOutputItem['output'];
        }
        return out;
      }
      case 'reasoning': {
        const reasoning = item as ReasoningItem;
        return { ...reasoning, id: reasoning.id || ids('rs_') };
      }
      case 'item_reference': {
        // An item of a stored response, by its id: what the AI SDK sends for the earlier turns of a
        // conversation it replays while `store` is on (the route looked them up beforehand).
        const id = (item as { id?: unknown }).id;
        const found = typeof id === 'string' ? references.get(id) : undefined;
        if (!found) {
          throw new SwitchyardError(
            'not_found',
            `Item with id '${String(id)}' not found. Items are not persisted when \`store\` is set to false; send the item itself instead of a reference.`,
            { param: `${param}.id` },
          );
        }
        return structuredClone(found);
      }
      default:
        throw new UnsupportedFeatureError(
          `Input items of type '${item.type}' are not served by Switchyard: it serves message, function_call, function_call_output and reasoning items.`,
          `${param}.type`,
        );
    }
  });
}

function textOfParts(parts: ReadonlyArray<{ type: string; text?: string; refusal?: string }>): string {
  return parts
    .map((part) => (part.type === 'refusal' ? (part.refusal ?? '') : (part.text ?? '')))
    .join('');
}

function chatPart(part: InputPart): ChatCompletionContentPart {
  switch (part.type) {
    case 'input_text':
      return { type: 'text', text: part.text };
    case 'input_image':
      return { type: 'image_url', image_url: { url: part.image_url!, detail: part.detail === 'original' ? 'high' : part.detail } };
    case 'input_file':
      return { type: 'file', file: { file_data: part.file_data!, ...(part.filename ? { filename: part.filename } : {}) } };
    default: {
      const unexpected: never = part;
      return unexpected;
    }
  }
}

/**
 * Every function call in the context must be answered by an output, and every output must answer a
 * call: OpenAI's rule, checked here so the 400 names Responses fields rather than chat ones.
 */
export function checkToolCallPairs(items: readonly ContextItem[]): void {
  const calls = new Set<string>();
  const answered = new Set<string>();
  for (const item of items) {
    if (item.type === 'function_call') calls.add(item.call_id);
    else if (item.type === 'function_call_output') {
      if (!calls.has(item.call_id)) throw new ValidationError(`No tool call found for function call output with call_id ${item.call_id}.`, 'input');
      answered.add(item.call_id);
    }
  }
  for (const call of calls) {
    if (!answered.has(call)) throw new ValidationError(`No tool output found for function call ${call}.`, 'input');
  }
}

/**
 * A context as chat messages: calls join the assistant message before them (chat carries a turn's
 * text and its tool calls on one message), outputs become tool messages. Reasoning items are left
 * out: chat completions has no field for the model's earlier reasoning.
 */
export function contextToMessages(items: readonly ContextItem[], origins?: number[]): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [];
  let assistant: ChatCompletionAssistantMessageParam | undefined;
  for (const [index, item] of items.entries()) {
    switch (item.type) {
      case 'message': {
        if (item.role === 'assistant') {
          const refusal = item.content.every((part) => part.type === 'refusal') && item.content.length > 0;
          assistant = refusal
            ? { role: 'assistant', content: null, refusal: textOfParts(item.content) }
            : { role: 'assistant', content: textOfParts(item.content) };
          messages.push(assistant);
          break;
        }
        assistant = undefined;
        const parts = item.content as InputPart[];
        if (item.role === 'user') {
          const onlyText = parts.every((part) => part.type === 'input_text');
          messages.push({ role: 'user', content: onlyText ? textOfParts(parts) : parts.map(chatPart) });
        } else {
          messages.push({ role: item.role, content: textOfParts(parts) });
        }
        break;
      }
      case 'function_call': {
        // `assistant` is set only while the last message is the assistant's turn.
        if (!assistant) {
          assistant = { role: 'assistant', content: null };
          messages.push(assistant);
        }
        if (assistant.content === '') assistant.content = null;
        assistant.tool_calls = [...(assistant.tool_calls ?? []), { id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } }];
        break;
      }
      case 'function_call_output': {
        assistant = undefined;
        const output = item.output;
        messages.push({ role: 'tool', tool_call_id: item.call_id, content: typeof output === 'string' ? output : textOfParts(output) });
        break;
      }
      case 'reasoning':
        break;
      default:
        // Only the kinds normalizeInput lets in, or our own output items, reach a context.
        throw new UnsupportedFeatureError(`Items of type '${item.type}' are not served by Switchyard.`, 'input');
    }
    // Which item each message came from (the first, for calls merged into one assistant turn): an
    // error about a message names that item. An item adds at most one message.
    if (origins && origins.length < messages.length) origins.push(index);
  }
  return messages;
}
