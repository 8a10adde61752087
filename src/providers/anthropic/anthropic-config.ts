import { z } from 'zod';

/** A model declaration, as for openai-compatible providers: a bare id, or an id with limits. */
const AnthropicModelSchema = z.union([
  z.string().min(1).transform((id) => ({ id })),
  z.strictObject({
    /** The model's name at Anthropic, e.g. `claude-sonnet-4-5`. */
    id: z.string().min(1),
    /** Largest `max_tokens` a request may ask for; also the default when a request sets none. */
    maxOutputTokens: z.number().int().positive().optional(),
    /** Context window in tokens, where known. */
    contextLength: z.number().int().positive().optional(),
  }),
]);

/** Anthropic's Messages API (`POST /v1/messages`), translated to and from chat completions. */
export const AnthropicProviderSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be lower-case letters, digits, ".", "_" or "-"')
    .default('anthropic'),
  kind: z.literal('anthropic'),
  /** Base URL without the version path; `/v1/messages` is appended. */
  baseURL: z.url({ protocol: /^https?$/ }).default('https://api.anthropic.com'),
  /** Sent as `x-api-key`; use `${ANTHROPIC_API_KEY}` to keep it out of the file. */
  apiKey: z.string().min(1),
  /** Sent as `anthropic-version` (https://docs.anthropic.com/en/api/versioning). */
  anthropicVersion: z.string().min(1).default('2023-06-01'),
  /** Models listed in /v1/models and reachable by their bare name. `<id>/<anything>` always reaches this provider. */
  models: z.array(AnthropicModelSchema).default([]),
  /**
   * Anthropic requires `max_tokens` on every request: this is sent when the client sets none and the
   * model declares no `maxOutputTokens`.
   */
  defaultMaxTokens: z.number().int().positive().default(4096),
  /** Time allowed for the response headers, and between two body chunks. */
  timeoutMs: z.number().int().positive().default(600_000),
  connectTimeoutMs: z.number().int().positive().default(10_000),
  /** Keep-alive connections kept open to Anthropic. */
  maxConnections: z.number().int().positive().default(128),
});

export type AnthropicProviderConfig = z.output<typeof AnthropicProviderSchema>;
