import { UnsupportedFeatureError, ValidationError } from '../../errors/errors.js';
import { allowedTools } from '../../chat/allowed-tools.js';
import { OUTPUT_LIMIT_DEFAULTED, type ChatRequest } from '../provider.js';
import { stopSequences } from '../../chat/stop-sequences.js';
import { rejectAudioAndLegacyFunctions, unsupportedBy } from '../unsupported-features.js';
import { convertMessages } from './convert-messages.js';
import { MIN_THINKING_BUDGET, thinkingBudget } from './thinking-budget.js';
import type { AnthropicRequest, AnthropicTool, AnthropicToolChoice } from './wire-schemas.js';

/** The tool that stands in for `response_format: json_object`. */
export const JSON_OBJECT_TOOL = 'json_response';

export interface BuiltRequest {
  body: AnthropicRequest;
  /** The forced tool standing in for `response_format`: its input is the reply's content. */
  answerTool: string | undefined;
  /** Thinking is on and the client wants to see it. */
  showReasoning: boolean;
}

export interface RequestDefaults {
  /** The model's declared output limit, when it has one. */
  maxOutputTokens: number | undefined;
  /** The output limit Anthropic named when it refused a larger one: it caps a limit Switchyard chose, it is no default. */
  learnedLimit?: number | undefined;
  defaultMaxTokens: number;
}

/**
 * A chat completions request as a Messages API request. Anything Anthropic cannot express is an
 * `UnsupportedFeatureError` naming the parameter (a 400), never a silent drop; see
 * `checkUnsupported` for the list. Bookkeeping fields that do not change the reply (`store`,
 * `metadata`, `service_tier`, `prompt_cache_key`, `stream_options`) are accepted and not sent.
 */
export function buildRequest(request: ChatRequest, defaults: RequestDefaults): BuiltRequest {
  checkUnsupported(request);
  const { system, messages } = convertMessages(request.messages);
  const body: AnthropicRequest = { model: request.model, max_tokens: 0, messages };
  if (system.length > 0) body.system = system;

  // Anthropic requires max_tokens; thinking counts against it, so a defaulted limit makes room for it.
  const budget = thinkingBudget(request);
  // A limit the gateway filled in from the declared one is not the client's: the defaults here
  // (a learned limit first) decide it.
  const asked = request[OUTPUT_LIMIT_DEFAULTED] ? undefined : (request.max_completion_tokens ?? request.max_tokens ?? undefined);
  const defaulted = asked === undefined && defaults.maxOutputTokens === undefined;
  let maxTokens = asked ?? defaults.maxOutputTokens ?? defaults.defaultMaxTokens;
  if (budget !== undefined && defaulted) maxTokens += budget;
  // A limit Anthropic named caps what Switchyard chose; the client's own limit goes as asked.
  if (asked === undefined && defaults.learnedLimit !== undefined) maxTokens = Math.min(maxTokens, defaults.learnedLimit);
  body.max_tokens = maxTokens;
  if (budget !== undefined) {
    // budget_tokens must be at least 1024 and below max_tokens. A limit Switchyard chose keeps the
    // answer its default room (defaultMaxTokens) when a learned cap shrank it, as far as the
    // smallest budget allows; the client's own limit leaves the answer what the budget does not take.
    const room = defaulted ? Math.max(1, Math.min(defaults.defaultMaxTokens, maxTokens - MIN_THINKING_BUDGET)) : 1;
    const fitted = Math.min(budget, maxTokens - room);
    if (fitted < MIN_THINKING_BUDGET) {
      const param = request.max_completion_tokens != null && !request[OUTPUT_LIMIT_DEFAULTED] ? 'max_completion_tokens' : 'max_tokens';
      throw new ValidationError(
        `With reasoning enabled, Anthropic needs '${param}' above ${MIN_THINKING_BUDGET} (its smallest thinking budget); got ${maxTokens}.`,
        param,
      );
    }
    body.thinking = { type: 'enabled', budget_tokens: fitted };
  }

  if (request.stop != null) {
    const given = typeof request.stop === 'string' ? [request.stop] : [...request.stop];
    // Anthropic refuses a stop sequence of whitespace only ("stop_sequences: each stop sequence must
    // contain non-whitespace"), so a common `stop: ["\n"]` cannot be expressed. An empty one is no
    // stop sequence at all, and is left out (stop-sequences.ts).
    const blank = given.findIndex((stop) => stop !== '' && stop.trim() === '');
    if (blank !== -1) {
      const param = typeof request.stop === 'string' ? 'stop' : `stop[${blank}]`;
      throw new UnsupportedFeatureError('Anthropic does not accept a stop sequence of whitespace only.', param);
    }
    const stops = stopSequences(given);
    if (stops.length > 0) body.stop_sequences = stops;
  }
  // Anthropic's range is 0 to 1; scaling OpenAI's 0 to 2 would change what the client asked for.
  if (request.temperature != null && request.temperature > 1) throw new UnsupportedFeatureError("Anthropic accepts 'temperature' from 0 to 1 only.", 'temperature');
  // Anthropic's current models (Claude Opus 4.1, Sonnet 4.5, Haiku 4.5 and later) refuse the two together
  // ("`temperature` and `top_p` cannot both be specified for this model"), and many OpenAI clients send
  // both, one of them at its neutral value. A neutral value asks for nothing, so it is not sent: `top_p: 1`
  // (no truncation) never, `temperature: 1` (Anthropic's default) not beside a `top_p` that is sent.
  const topP = request.top_p != null && request.top_p < 1 ? request.top_p : undefined;
  if (request.temperature != null && !(request.temperature === 1 && topP !== undefined)) body.temperature = request.temperature;
  if (topP !== undefined) body.top_p = topP;
  if (request.top_k != null && request.top_k > 0) body.top_k = request.top_k;
  const user = request.user ?? request.safety_identifier;
  if (user) body.metadata = { user_id: user };

  let tools: AnthropicTool[] = (request.tools ?? []).map((tool, index) => {
    if (tool.type !== 'function') throw new UnsupportedFeatureError('The Anthropic provider supports function tools only.', `tools[${index}]`);
    return {
      name: tool.function.name,
      ...(tool.function.description ? { description: tool.function.description } : {}),
      input_schema: inputSchema(tool.function.parameters as Record<string, unknown> | undefined),
    };
  });
  const allowed = allowedTools(request.tool_choice, new Set(tools.map((tool) => tool.name)));
  if (allowed) tools = tools.filter((tool) => allowed.names.has(tool.name));
  let toolChoice = convertToolChoice(request);

  // response_format: a forced tool whose input is the answer (Anthropic's documented way to get JSON,
  // https://docs.anthropic.com/en/docs/build-with-claude/tool-use#json-mode).
  let answerTool: string | undefined;
  const format = request.response_format;
  if (format && format.type !== 'text') {
    if (tools.length > 0) {
      throw new UnsupportedFeatureError("The Anthropic provider cannot combine 'response_format' with 'tools'.", 'response_format');
    }
    if (budget !== undefined) {
      // Anthropic refuses a forced tool_choice while thinking is on.
      throw new UnsupportedFeatureError("The Anthropic provider cannot combine 'response_format' with reasoning.", 'response_format');
    }
    if (format.type === 'json_schema') {
      answerTool = format.json_schema.name;
      tools.push({
        name: answerTool,
        description: format.json_schema.description ?? 'Give the answer by calling this tool; its input is the answer.',
        input_schema: format.json_schema.schema ? inputSchema(format.json_schema.schema) : { type: 'object' },
      });
    } else {
      answerTool = JSON_OBJECT_TOOL;
      tools.push({ name: answerTool, description: 'Give the answer as a JSON object by calling this tool.', input_schema: { type: 'object', additionalProperties: true } });
    }
    toolChoice = { type: 'tool', name: answerTool };
  }
  if (tools.length > 0) body.tools = tools;
  if (toolChoice) body.tool_choice = toolChoice;

  const showReasoning = budget !== undefined && !(typeof request.reasoning === 'object' && request.reasoning?.exclude === true);
  return { body, answerTool, showReasoning };
}

/**
 * A function's `parameters` as Anthropic's `input_schema`, which must say `type: "object"` ("input_schema.type:
 * Field required"). OpenAI takes any JSON Schema object, `{}` included, and no parameters at all is an empty
 * list; a schema without a `type` gets `object`, which it describes anyway (a tool's input is an object).
 */
function inputSchema(parameters: Record<string, unknown> | undefined): Record<string, unknown> {
  if (parameters === undefined) return { type: 'object', properties: {} };
  return 'type' in parameters ? parameters : { type: 'object', ...parameters };
}

/** `tool_choice` and `parallel_tool_calls` as Anthropic's one `tool_choice` object. */
function convertToolChoice(request: ChatRequest): AnthropicToolChoice | undefined {
  const choice = request.tool_choice;
  const serial = request.parallel_tool_calls === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined || choice === null) return request.parallel_tool_calls === false ? { type: 'auto', ...serial } : undefined;
  if (typeof choice === 'string') {
    switch (choice) {
      case 'none':
        return { type: 'none' };
      case 'auto':
        return { type: 'auto', ...serial };
      case 'required':
        return { type: 'any', ...serial };
      default: {
        const unhandled: never = choice;
        throw new UnsupportedFeatureError(`Unsupported 'tool_choice' value '${String(unhandled)}'.`, 'tool_choice');
      }
    }
  }
  switch (choice.type) {
    case 'function':
      return { type: 'tool', name: choice.function.name, ...serial };
    case 'allowed_tools':
      // The tools were narrowed to the allowed ones (allowedTools); the mode is what tool_choice would say.
      return { type: choice.allowed_tools.mode === 'required' ? 'any' : 'auto', ...serial };
    case 'custom':
      throw new UnsupportedFeatureError(`The Anthropic provider does not support 'tool_choice' of type '${choice.type}'.`, 'tool_choice');
    default: {
      const unhandled: never = choice;
      throw new UnsupportedFeatureError(`Unsupported 'tool_choice' type '${(unhandled as { type: string }).type}'.`, 'tool_choice');
    }
  }
}

/**
 * Parameters the Messages API has no way to express. Their neutral values (`n: 1`,
 * `logprobs: false`, penalties of 0, an empty `logit_bias`...) are accepted: clients send them by default.
 */
function checkUnsupported(request: ChatRequest): void {
  const unsupported = unsupportedBy('The Anthropic provider');
  if (request.n != null && request.n !== 1) throw unsupported('n', 'more than one choice per request');
  if (request.logprobs === true) throw unsupported('logprobs', 'log probabilities');
  if (request.top_logprobs != null && request.top_logprobs > 0) throw unsupported('top_logprobs', 'log probabilities');
  if (request.logit_bias != null && Object.keys(request.logit_bias).length > 0) throw unsupported('logit_bias', 'logit bias');
  if (request.frequency_penalty != null && request.frequency_penalty !== 0) throw unsupported('frequency_penalty', 'a frequency penalty');
  if (request.presence_penalty != null && request.presence_penalty !== 0) throw unsupported('presence_penalty', 'a presence penalty');
  if (request.seed != null) throw unsupported('seed', 'seeded sampling');
  if (request.min_p != null && request.min_p !== 0) throw unsupported('min_p', 'min-p sampling');
  rejectAudioAndLegacyFunctions(request, unsupported);
  if (request.prediction != null) throw unsupported('prediction', 'predicted outputs');
  if (request.web_search_options != null) throw unsupported('web_search_options', 'web search options');
  if (request.verbosity != null) throw unsupported('verbosity', 'a verbosity setting');
}
