import { z } from 'zod';
import { ValidationError } from '../../errors/errors.js';
import type { CompletionRequest } from '../../providers/provider.js';
import { explainIssue, jsonObjectBody } from './format-issue.js';
import { int64Seed } from './chat-request-schema.js';

const nullable = <T extends z.ZodType>(schema: T) => schema.nullable().optional();
const tokenId = z.number().int().min(0);

/**
 * OpenAI's CreateCompletionRequest (openapi.yaml), field by field. The object is loose: fields we
 * do not know pass through untouched to OpenAI-compatible upstreams.
 */
export const completionsRequestSchema = z.looseObject({
  model: z.string().min(1),
  prompt: nullable(
    z.union([
      z.string(),
      z.array(z.string()).min(1),
      z.array(tokenId).min(1),
      z.array(z.array(tokenId).min(1)).min(1),
    ]),
  ),
  best_of: nullable(z.number().int().min(0).max(20)),
  echo: nullable(z.boolean()),
  frequency_penalty: nullable(z.number().min(-2).max(2)),
  presence_penalty: nullable(z.number().min(-2).max(2)),
  logit_bias: nullable(z.record(z.string().regex(/^\d+$/, 'keys must be token ids'), z.number().min(-100).max(100))),
  logprobs: nullable(z.number().int().min(0).max(5)),
  max_tokens: nullable(z.number().int().min(0)),
  n: nullable(z.number().int().min(1).max(128)),
  seed: nullable(int64Seed),
  stop: nullable(z.union([z.string(), z.array(z.string()).min(1).max(4)])),
  stream: nullable(z.boolean()),
  stream_options: nullable(z.looseObject({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() })),
  suffix: nullable(z.string()),
  temperature: nullable(z.number().min(0).max(2)),
  top_p: nullable(z.number().min(0).max(1)),
  /** Extensions understood by the local engine; passed through to upstreams that know them. */
  top_k: nullable(z.number().int().min(0)),
  min_p: nullable(z.number().min(0).max(1)),
  user: z.string().optional(),
});

/**
 * Validates a legacy completions body and returns it as it came — not zod's copy — so that fields
 * Switchyard does not know reach upstreams exactly as the client sent them.
 */
export function validateCompletionsRequest(body: unknown): CompletionRequest {
  jsonObjectBody(body);
  const result = completionsRequestSchema.safeParse(body);
  if (!result.success) throw explainIssue(result.error.issues[0]!, [], body);
  const request = body as CompletionRequest;
  if (request.stream_options != null && request.stream !== true) {
    throw new ValidationError("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
  }
  if (request.best_of != null && request.best_of < (request.n ?? 1)) {
    throw new ValidationError('best_of must be greater than or equal to n.', 'best_of');
  }
  if (request.best_of != null && request.best_of > 1 && request.stream === true) {
    throw new ValidationError('Cannot stream results with best_of greater than 1.', 'best_of');
  }
  if (Array.isArray(request.prompt)) {
    for (const [index, item] of request.prompt.entries()) {
      if (Array.isArray(item) && item.length === 0) throw new ValidationError(`Invalid 'prompt[${index}]': empty token arrays are not allowed.`, `prompt[${index}]`);
    }
  }
  return request;
}
