import { z } from 'zod';
import { ValidationError } from '../../errors/errors.js';
import { explainIssue, jsonObjectBody } from '../../http/validation/format-issue.js';
import { allowedToolsChoice, functionToolChoice, inputItemSchemaFor, responsesRequestSchema, toolSchemaFor, type ResponsesRequest } from './request-schema.js';

function check(schema: z.ZodType, value: unknown, path: PropertyKey[], body: unknown): void {
  const result = schema.safeParse(value);
  if (!result.success) throw explainIssue(result.error.issues[0]!, path, body);
}

/**
 * Validates a create-response body and returns it as it came: a 400 in OpenAI's words names the
 * field (`input[2].content[0].image_url`, `tools[0].name`, `max_output_tokens`).
 */
export function validateResponsesRequest(body: unknown): ResponsesRequest {
  jsonObjectBody(body);
  check(responsesRequestSchema, body, [], body);
  const request = body as ResponsesRequest & Record<string, unknown>;
  if (Array.isArray(request.input)) {
    request.input.forEach((item, index) => check(inputItemSchemaFor(item), item, ['input', index], body));
  }
  request.tools?.forEach((tool, index) => check(toolSchemaFor(tool), tool, ['tools', index], body));
  const choice = request.tool_choice as unknown;
  if (choice !== null && typeof choice === 'object') {
    const type = (choice as { type: string }).type;
    if (type === 'function') check(functionToolChoice, choice, ['tool_choice'], body);
    if (type === 'allowed_tools') check(allowedToolsChoice, choice, ['tool_choice'], body);
  }
  if (request.stream_options != null && request.stream !== true) {
    throw new ValidationError("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
  }
  return request;
}
