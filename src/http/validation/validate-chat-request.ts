import type { ChatRequest } from '../../providers/provider.js';
import { chatRequestSchema } from './chat-request-schema.js';
import { checkChatRequestRules } from './chat-request-rules.js';
import { explainIssue, jsonObjectBody } from './format-issue.js';

/**
 * Validates a chat completions body and returns it as it came — not zod's copy — so that fields
 * Switchyard does not know reach OpenAI-compatible upstreams exactly as the client sent them.
 */
export function validateChatRequest(body: unknown): ChatRequest {
  jsonObjectBody(body);
  const result = chatRequestSchema.safeParse(body);
  if (!result.success) throw explainIssue(result.error.issues[0]!, [], body);
  const request = body as ChatRequest;
  checkChatRequestRules(request);
  return request;
}
