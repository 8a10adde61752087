import type { CompletionUsage } from 'openai/resources/completions';
import type { AnthropicUsage } from './wire-schemas.js';

/** Running totals of a reply's usage: `message_start` gives the input, `message_delta` the output so far. */
export function mergeUsage(into: AnthropicUsage, update: AnthropicUsage | null | undefined): AnthropicUsage {
  if (!update) return into;
  const merged = { ...into };
  // message_delta's counts are cumulative: each present field replaces the earlier one.
  for (const key of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const) {
    if (typeof update[key] === 'number') merged[key] = update[key];
  }
  return merged;
}

/**
 * Anthropic's usage in OpenAI's terms. Anthropic counts cache reads and writes apart from
 * `input_tokens`; OpenAI's `prompt_tokens` includes cached tokens, so all three are summed and
 * `cached_tokens` says how many were read from the cache. Cache writes are reported in the
 * extension field `prompt_tokens_details.cache_write_tokens`.
 */
export function convertUsage(usage: AnthropicUsage): CompletionUsage {
  const input = usage.input_tokens ?? 0;
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheWrite = usage.cache_creation_input_tokens ?? 0;
  const output = usage.output_tokens ?? 0;
  const promptTokens = input + cacheRead + cacheWrite;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: output,
    total_tokens: promptTokens + output,
    prompt_tokens_details: { cached_tokens: cacheRead, cache_write_tokens: cacheWrite } as CompletionUsage.PromptTokensDetails,
  };
}
