import type { ChatRequest } from '../../providers/provider.js';
import { ValidationError } from '../../errors/errors.js';
import { dataUrlImageType } from '../../gateway/images/image-data.js';

/**
 * An image part's URL: an http(s) URL, or a data URL of an image type. Its bytes (base64, size,
 * first bytes) are the gateway's to check, once, for every API that carries images.
 */
function checkImageUrl(url: string, param: string): void {
  if (url.startsWith('http://') || url.startsWith('https://')) {
    try {
      new URL(url);
      return;
    } catch {
      throw new ValidationError(`Invalid '${param}': not a valid URL.`, param);
    }
  }
  if (dataUrlImageType(url) === undefined) {
    throw new ValidationError(
      `Invalid '${param}'. Expected a base64-encoded data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), or an http(s) URL, but got an invalid value.`,
      param,
    );
  }
}

/**
 * The rules that span fields, checked after the shape is known to be right. Each names the param
 * OpenAI names for the same mistake.
 */
export function checkChatRequestRules(request: ChatRequest): void {
  if (request.stream_options != null && request.stream !== true) {
    throw new ValidationError("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
  }
  if (request.max_tokens != null && request.max_completion_tokens != null) {
    // OpenAI's own answer: the two are one limit under two names, never both.
    throw new ValidationError("Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported.", 'max_tokens', 'invalid_parameter_combination');
  }
  if (request.top_logprobs != null && request.top_logprobs > 0 && request.logprobs !== true) {
    throw new ValidationError("Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.", 'top_logprobs');
  }

  const tools = request.tools ?? [];
  const names = new Set<string>();
  for (const [index, tool] of tools.entries()) {
    const name = tool.type === 'function' ? tool.function.name : tool.custom.name;
    if (names.has(name)) throw new ValidationError(`Invalid 'tools': duplicate tool name '${name}'.`, `tools[${index}]`);
    names.add(name);
  }
  const choice = request.tool_choice;
  if (choice !== undefined && choice !== 'none' && tools.length === 0) {
    throw new ValidationError("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", 'tool_choice');
  }
  if (choice && typeof choice === 'object' && (choice.type === 'function' || choice.type === 'custom')) {
    const name = choice.type === 'function' ? choice.function.name : choice.custom.name;
    if (!names.has(name)) {
      throw new ValidationError(`Invalid value for 'tool_choice': no tool named '${name}' is specified in the 'tools' parameter.`, 'tool_choice');
    }
  }
  // The deprecated pair, held to the same rule as tool_choice and tools.
  const functionCall = request.function_call;
  if (functionCall !== undefined && functionCall !== 'none' && !request.functions) {
    throw new ValidationError("Invalid value for 'function_call': 'function_call' is only allowed when 'functions' are specified.", 'function_call');
  }
  if (functionCall && typeof functionCall === 'object' && !request.functions!.some((fn) => fn.name === functionCall.name)) {
    throw new ValidationError(`Invalid value for 'function_call': no function named '${functionCall.name}' is specified in the 'functions' parameter.`, 'function_call');
  }
  if (request.parallel_tool_calls != null && tools.length === 0) {
    throw new ValidationError("Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.", 'parallel_tool_calls');
  }

  // Tool results must answer calls made earlier, and every call must be answered before the next turn.
  const open = new Map<string, number>();
  for (const [index, message] of request.messages.entries()) {
    if (message.role === 'assistant') {
      if (open.size > 0) throw unanswered(open);
      const hasContent = message.content != null || message.refusal != null || message.function_call != null;
      if (!hasContent && !message.tool_calls?.length) {
        throw new ValidationError(`Missing required parameter: 'messages[${index}].content'.`, `messages[${index}].content`, 'missing_required_parameter');
      }
      for (const call of message.tool_calls ?? []) open.set(call.id, index);
    } else if (message.role === 'tool') {
      if (!open.delete(message.tool_call_id)) {
        throw new ValidationError(
          `Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls' (no call with id '${message.tool_call_id}').`,
          `messages[${index}].tool_call_id`,
        );
      }
    } else if (open.size > 0) {
      throw unanswered(open);
    } else if (message.role === 'user' && Array.isArray(message.content)) {
      for (const [partIndex, part] of message.content.entries()) {
        if (part.type === 'image_url') checkImageUrl(part.image_url.url, `messages[${index}].content[${partIndex}].image_url.url`);
      }
    }
  }
}

function unanswered(open: Map<string, number>): ValidationError {
  const [first] = open.values();
  return new ValidationError(
    `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...open.keys()].join(', ')}`,
    `messages[${first}].tool_calls`,
  );
}
