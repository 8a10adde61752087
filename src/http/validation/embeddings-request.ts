import { z } from 'zod';
import { ValidationError } from '../../errors/errors.js';
import { explainIssue, jsonObjectBody } from './format-issue.js';

/** OpenAI's CreateEmbeddingRequest; unknown fields pass through to upstreams. */
const embeddingsRequestSchema = z.looseObject({
  model: z.string().min(1),
  input: z.union([
    z.string(),
    z.array(z.string()).min(1).max(2048),
    z.array(z.number().int().min(0)).min(1).max(2048),
    z.array(z.array(z.number().int().min(0)).min(1)).min(1).max(2048),
  ]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().min(1).optional(),
  user: z.string().optional(),
});

export type EmbeddingsBody = z.output<typeof embeddingsRequestSchema>;

export function validateEmbeddingsRequest(body: unknown): { body: EmbeddingsBody; inputs: Array<string | number[]> } {
  jsonObjectBody(body);
  const result = embeddingsRequestSchema.safeParse(body);
  if (!result.success) throw explainIssue(result.error.issues[0]!, [], body);
  const input = result.data.input;
  const inputs: Array<string | number[]> =
    typeof input === 'string' ? [input] : typeof input[0] === 'number' ? [input as number[]] : (input as Array<string | number[]>);
  inputs.forEach((item, index) => {
    if (typeof item === 'string' && item.length === 0) {
      const param = typeof input === 'string' ? 'input' : `input[${index}]`;
      throw new ValidationError(`Invalid '${param}': empty strings cannot be embedded.`, param);
    }
  });
  return { body: body as EmbeddingsBody, inputs };
}
