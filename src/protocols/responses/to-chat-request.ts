import type {
  ChatCompletionFunctionTool,
  ChatCompletionMessageParam,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import type { ResponseFormatTextConfig } from 'openai/resources/responses/responses';
import { SwitchyardError, UnsupportedFeatureError, ValidationError } from '../../errors/errors.js';
import { TRUNCATE_AUTO, type ChatRequest } from '../../providers/provider.js';
import type { IdGenerator } from '../../util/ids.js';
import { checkToolCallPairs, contextToMessages, normalizeInput } from './input-items.js';
import type { FunctionToolParam, ResponsesRequest } from './request-schema.js';
import type { StoredResponse } from './responses-store.js';
import type { ContextItem } from './types.js';

export interface ChatTranslation {
  chat: ChatRequest;
  /** This request's own input items, with ids. */
  inputItems: ContextItem[];
  /** Everything the model sees besides the instructions: the previous response's context and output, then this input. */
  context: ContextItem[];
  /** The function tools as the response echoes them. */
  tools: FunctionToolParam[];
  /** A reasoning summary was asked for: reasoning becomes summary text rather than reasoning text. */
  summarizeReasoning: boolean;
  /** For each chat message, the Responses param it came from: `instructions`, `input[k]`, or `input`. */
  messageParams: string[];
}

/** Function tools only; every other kind is OpenAI-hosted and refused by name. */
function functionTools(request: ResponsesRequest): FunctionToolParam[] {
  return (request.tools ?? []).map((tool, index) => {
    if (tool.type !== 'function') {
      throw new UnsupportedFeatureError(
        `The tool type '${tool.type}' is hosted by OpenAI and not served by Switchyard: only 'function' tools are.`,
        `tools[${index}].type`,
      );
    }
    return tool as FunctionToolParam;
  });
}

function toolChoice(request: ResponsesRequest, names: ReadonlySet<string>): ChatCompletionToolChoiceOption | undefined {
  const choice = request.tool_choice as unknown;
  if (choice === undefined) return undefined;
  if (typeof choice === 'string') {
    if (choice !== 'none' && names.size === 0) {
      throw new ValidationError("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", 'tool_choice');
    }
    return choice as 'none' | 'auto' | 'required';
  }
  const object = choice as { type: string; name?: string; mode?: 'auto' | 'required'; tools?: Array<{ type: string; name?: string }> };
  if (object.type === 'function') {
    if (!names.has(object.name!)) {
      throw new ValidationError(`Invalid value for 'tool_choice': no tool named '${object.name}' is specified in the 'tools' parameter.`, 'tool_choice.name');
    }
    return { type: 'function', function: { name: object.name! } };
  }
  if (object.type === 'allowed_tools') {
    const tools = (object.tools ?? []).map((tool, index) => {
      if (tool.type !== 'function' || !tool.name) {
        throw new UnsupportedFeatureError("Only function tools (with a 'name') can be allowed here.", `tool_choice.tools[${index}]`);
      }
      if (!names.has(tool.name)) {
        throw new ValidationError(`Invalid value for 'tool_choice.tools[${index}].name': no tool named '${tool.name}' is specified in the 'tools' parameter.`, `tool_choice.tools[${index}].name`);
      }
      return { type: 'function', function: { name: tool.name } };
    });
    return { type: 'allowed_tools', allowed_tools: { mode: object.mode!, tools } };
  }
  throw new UnsupportedFeatureError(`The tool choice type '${object.type}' names an OpenAI-hosted tool and is not served by Switchyard.`, 'tool_choice.type');
}

function responseFormat(format: ResponseFormatTextConfig | undefined): ChatRequest['response_format'] {
  if (!format) return undefined;
  switch (format.type) {
    case 'text':
      return undefined;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema':
      return {
        type: 'json_schema',
        json_schema: {
          name: format.name,
          schema: format.schema,
          ...(format.description !== undefined ? { description: format.description } : {}),
          ...(format.strict != null ? { strict: format.strict } : {}),
        },
      };
    default: {
      const unexpected: never = format;
      return unexpected;
    }
  }
}

/**
 * A Responses request as the one canonical chat request, with the conversation it continues:
 * `instructions` as a system message first (never carried over from the previous response, as
 * OpenAI does), then the previous response's context and output, then this request's input.
 */
export function toChatRequest(
  request: ResponsesRequest,
  previous: StoredResponse | undefined,
  ids: IdGenerator,
  references: ReadonlyMap<string, ContextItem> = new Map(),
): ChatTranslation {
  if (request.input === undefined && !previous) {
    throw new ValidationError("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  }
  if (request.background === true) throw new UnsupportedFeatureError('Background responses are not served by Switchyard.', 'background');
  if (request.conversation != null) {
    throw new UnsupportedFeatureError("The Conversations API is not served by Switchyard: continue with 'previous_response_id' instead.", 'conversation');
  }
  if (request.prompt != null) throw new UnsupportedFeatureError('Prompt templates are not served by Switchyard.', 'prompt');

  const inputItems = normalizeInput(request.input, ids, references);
  const context = previous ? [...previous.inputItems, ...(previous.response.output as ContextItem[]), ...inputItems] : inputItems;
  checkToolCallPairs(context);

  const messages: ChatCompletionMessageParam[] = [];
  const messageParams: string[] = [];
  if (request.instructions) {
    messages.push({ role: 'system', content: request.instructions });
    messageParams.push('instructions');
  }
  const origins: number[] = [];
  messages.push(...contextToMessages(context, origins));
  // The previous response's items come first in the context; this request's input after them.
  const firstInput = context.length - inputItems.length;
  for (const origin of origins) {
    messageParams.push(origin >= firstInput && Array.isArray(request.input) ? `input[${origin - firstInput}]` : 'input');
  }
  if (messages.length === 0) throw new ValidationError("Invalid 'input': the conversation has no messages.", 'input');

  const tools = functionTools(request);
  const names = new Set<string>();
  tools.forEach((tool, index) => {
    if (names.has(tool.name)) throw new ValidationError(`Invalid 'tools': duplicate tool name '${tool.name}'.`, `tools[${index}].name`);
    names.add(tool.name);
  });
  const chatTools: ChatCompletionFunctionTool[] = tools.map((tool) => ({
    type: 'function',
    function: {
      name: tool.name,
      ...(tool.description != null ? { description: tool.description } : {}),
      ...(tool.parameters != null ? { parameters: tool.parameters } : {}),
      ...(tool.strict != null ? { strict: tool.strict } : {}),
    },
  }));

  const reasoning = request.reasoning;
  const summary = reasoning?.summary ?? reasoning?.generate_summary;
  const logprobs = request.include?.includes('message.output_text.logprobs') === true || (request.top_logprobs ?? 0) > 0;

  const chat: ChatRequest = { model: request.model, messages };
  if (chatTools.length > 0) chat.tools = chatTools;
  const choice = toolChoice(request, names);
  if (choice !== undefined) chat.tool_choice = choice;
  if (request.parallel_tool_calls != null && chatTools.length > 0) chat.parallel_tool_calls = request.parallel_tool_calls;
  const format = responseFormat(request.text?.format as ResponseFormatTextConfig | undefined);
  if (format) chat.response_format = format;
  if (request.text?.verbosity != null) chat.verbosity = request.text.verbosity;
  if (reasoning?.effort != null) chat.reasoning_effort = reasoning.effort;
  // Switchyard's extension: backends return their reasoning only when asked for it.
  if (summary != null) chat.reasoning = true;
  if (request.max_output_tokens != null) chat.max_completion_tokens = request.max_output_tokens;
  if (request.temperature != null) chat.temperature = request.temperature;
  if (request.top_p != null) chat.top_p = request.top_p;
  if (logprobs) {
    chat.logprobs = true;
    if (request.top_logprobs != null) chat.top_logprobs = request.top_logprobs;
  }
  if (request.truncation === 'auto') chat[TRUNCATE_AUTO] = true;
  if (request.user != null) chat.user = request.user;
  if (request.safety_identifier != null) chat.safety_identifier = request.safety_identifier;
  if (request.prompt_cache_key != null) chat.prompt_cache_key = request.prompt_cache_key;
  // The SDK's types predate fast mode (`fast`, `ultrafast`), which the spec's tiers include.
  if (request.service_tier != null) chat.service_tier = request.service_tier as ChatRequest['service_tier'];
  // `metadata` and `store` stay with the response: on chat completions they would ask an OpenAI
  // upstream to store the chat call too, which the client did not ask for.
  if (request.stream === true) {
    chat.stream = true;
    // Usage is always collected: the response reports it whether or not the client streams.
    chat.stream_options = { include_usage: true };
  }
  // A persona puts its own system message first, so the gateway's message indices would be one
  // off: its errors name `input` rather than the wrong item.
  const personaShifted = request.model.startsWith('persona://');
  return { chat, inputItems, context, tools, summarizeReasoning: summary != null, messageParams: personaShifted ? [] : messageParams };
}

/** Chat field names in errors raised past translation (the gateway, a provider), as Responses names them. */
const PARAM_NAMES: Array<[RegExp, string]> = [
  [/^max_completion_tokens$|^max_tokens$/, 'max_output_tokens'],
  [/^response_format\.json_schema\.schema$/, 'text.format.schema'],
  [/^response_format/, 'text.format'],
  [/^tools\[(\d+)\]\.function\./, 'tools[$1].'],
  [/^reasoning_effort$/, 'reasoning.effort'],
];

/**
 * `messages[i]…` as the input item it came from: a content part keeps its index (parts translate
 * one for one), and a chat image's `image_url.url` is the Responses part's `image_url`.
 */
function inputParam(param: string, messageParams: readonly string[]): string | undefined {
  const match = /^messages\[(\d+)\](.*)$/.exec(param) ?? /^messages()()$/.exec(param);
  if (!match) return undefined;
  const origin = match[1] ? messageParams[Number(match[1])] : undefined;
  if (!origin || origin === 'input' || origin === 'instructions') return origin ?? 'input';
  const part = /^\.content\[(\d+)\](\.image_url)?/.exec(match[2]!);
  return part ? `${origin}.content[${part[1]}]${part[2] ?? ''}` : origin;
}

export function renameChatParams(error: SwitchyardError, messageParams: readonly string[] = []): SwitchyardError {
  const param = error.param;
  if (!param) return error;
  const rule = PARAM_NAMES.find(([pattern]) => pattern.test(param));
  const renamed = rule ? param.replace(rule[0], rule[1]) : inputParam(param, messageParams);
  if (renamed === undefined) return error;
  const message = error.message.split(param).join(renamed);
  return new SwitchyardError(error.code, message, {
    param: renamed,
    status: error.status,
    type: error.type,
    ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
    cause: error,
  });
}
