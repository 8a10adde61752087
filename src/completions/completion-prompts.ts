import type { CompletionRequest } from '../providers/provider.js';

/** OpenAI's default `max_tokens` for legacy completions. */
export const DEFAULT_COMPLETION_MAX_TOKENS = 16;

/**
 * The prompts of a legacy completions request, one entry per prompt: a text, or token ids. An
 * absent or null prompt is one empty prompt (OpenAI reads it as the start of a new document).
 */
export function promptsOf(request: Pick<CompletionRequest, 'prompt'>): Array<string | number[]> {
  const prompt = request.prompt;
  if (prompt == null) return [''];
  if (typeof prompt === 'string') return [prompt];
  if (prompt.length === 0) return [''];
  if (typeof prompt[0] === 'number') return [prompt as number[]];
  return prompt as Array<string | number[]>;
}
