import type { ResponseTextConfig, Tool } from 'openai/resources/responses/responses';
import type { CompletionUsage } from 'openai/resources/completions';
import type { ResponseUsage } from 'openai/resources/responses/responses';
import type { FunctionToolParam, ResponsesRequest } from './request-schema.js';
import type { ResponseObject } from './types.js';

export interface ResponseFrame {
  id: string;
  /** Unix seconds. */
  createdAt: number;
  model: string;
}

/**
 * A response in progress, in the field order OpenAI sends, with the request's settings echoed back
 * and OpenAI's defaults where the request left them out.
 */
export function initialResponse(request: ResponsesRequest, tools: readonly FunctionToolParam[], frame: ResponseFrame): ResponseObject {
  const text: ResponseTextConfig = {
    format: (request.text?.format as ResponseTextConfig['format']) ?? { type: 'text' },
    verbosity: request.text?.verbosity ?? 'medium',
  };
  return {
    id: frame.id,
    object: 'response',
    created_at: frame.createdAt,
    status: 'in_progress',
    background: false,
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    max_tool_calls: request.max_tool_calls ?? null,
    model: frame.model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    prompt_cache_key: request.prompt_cache_key ?? null,
    reasoning: { effort: request.reasoning?.effort ?? null, summary: request.reasoning?.summary ?? request.reasoning?.generate_summary ?? null },
    safety_identifier: request.safety_identifier ?? null,
    service_tier: request.service_tier ?? 'default',
    // Not in the spec's Response schema, but OpenAI sends it (and its own example shows it).
    store: request.store ?? true,
    temperature: request.temperature ?? 1,
    text,
    tool_choice: (request.tool_choice as ResponseObject['tool_choice'] | undefined) ?? 'auto',
    tools: tools.map((tool): Tool => ({
      type: 'function',
      name: tool.name,
      description: tool.description ?? null,
      parameters: tool.parameters ?? null,
      strict: tool.strict ?? null,
    })),
    top_logprobs: request.top_logprobs ?? 0,
    top_p: request.top_p ?? 1,
    truncation: request.truncation ?? 'disabled',
    // `usage` comes once known, and `user` only when given: the spec has neither as nullable.
    ...(request.user != null ? { user: request.user } : {}),
    metadata: request.metadata ?? {},
  } as ResponseObject;
}

/** Chat usage in the Responses API's terms. */
export function responseUsage(usage: CompletionUsage): ResponseUsage {
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: usage.prompt_tokens_details?.cached_tokens ?? 0, cache_write_tokens: 0 },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: usage.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: usage.total_tokens,
  };
}
