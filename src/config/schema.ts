import { z } from 'zod';
import { PlatformConfigShape } from './platform-schema.js';
import { RoutingConfigShape } from './routing-schema.js';
import { ObservabilityConfigShape } from '../observability/observability-config.js';
import { LlamaProviderSchema } from '../providers/llama/llama-config.js';
import { AnthropicProviderSchema } from '../providers/anthropic/anthropic-config.js';

/** A model a provider declares. A bare string is shorthand for `{ id }`. */
export const ModelDeclarationSchema = z.union([
  z.string().min(1).transform((id) => ({ id })),
  z.strictObject({
    /** The model's name at the backend (what is sent upstream). */
    id: z.string().min(1),
    /** Largest `max_tokens` / `max_completion_tokens` a request may ask for; more is a 400. A request
     * that sets neither is capped at it where Switchyard drives the backend (engine, sandbox,
     * Anthropic); an OpenAI-compatible upstream gets the body as the client sent it. */
    maxOutputTokens: z.number().int().positive().optional(),
    /** Context window in tokens, where known. */
    contextLength: z.number().int().positive().optional(),
    /** `false` for a text-only model: an image sent to it is a 400 instead of an upstream error. */
    vision: z.boolean().optional(),
  }),
]);
export type ModelDeclaration = z.output<typeof ModelDeclarationSchema>;

const providerId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be lower-case letters, digits, ".", "_" or "-"');

/** The deterministic sandbox backend (`sandbox/echo`, `sandbox/lorem`). */
export const SandboxProviderSchema = z.strictObject({
  id: providerId.default('sandbox'),
  kind: z.literal('sandbox'),
  /** Pause between streamed chunks, to imitate a real model's pace. */
  chunkDelayMs: z.number().int().min(0).max(10_000).default(0),
  /** Largest output a sandbox model writes when the request sets no limit. */
  maxOutputTokens: z.number().int().positive().default(4096),
});

/** Any upstream that speaks OpenAI's chat completions API: OpenAI, vLLM, Ollama, llama-server... */
export const OpenAICompatibleProviderSchema = z.strictObject({
  id: providerId,
  kind: z.literal('openai-compatible'),
  /** Base URL including the version path, e.g. `https://api.openai.com/v1`. */
  baseURL: z.url({ protocol: /^https?$/ }),
  /** Sent as `Authorization: Bearer`; use `${ENV_VAR}` to keep it out of the file. */
  apiKey: z.string().optional(),
  /** Extra headers sent on every upstream request. */
  headers: z.record(z.string(), z.string()).default({}),
  /** Models listed in /v1/models and reachable by their bare name. `<id>/<anything>` always reaches this provider. */
  models: z.array(ModelDeclarationSchema).default([]),
  /** Time allowed for the upstream's response headers, and between two body chunks. */
  timeoutMs: z.number().int().positive().default(600_000),
  connectTimeoutMs: z.number().int().positive().default(10_000),
  /** Keep-alive connections kept open to this upstream. */
  maxConnections: z.number().int().positive().default(128),
  /**
   * How the upstream takes http(s) image URLs: `url` passes them on (OpenAI, vLLM); `bytes` for
   * upstreams that need the image inline (Ollama, llama-server): downloaded by Switchyard when
   * `images.fetchRemote` is on, else refused with a 400.
   */
  remoteImages: z.enum(['url', 'bytes']).default('url'),
  /**
   * `native`: the upstream serves the Responses API itself (OpenAI): `/v1/responses` calls routed
   * only to such targets are passed through (bytes relayed, the upstream stores them). Default
   * `translate`: Responses calls become chat calls, as for every other backend.
   */
  responses: z.enum(['translate', 'native']).default('translate'),
  /** Features the upstream lacks, refused with a 400 before the network (others are learned from its refusals). */
  unsupported: z.array(z.enum(['tools', 'response_format', 'images', 'logprobs', 'reasoning_effort'])).default([]),
});

/** Image inputs (`image_url` content parts). */
export const ImagesConfigSchema = z.strictObject({
  /** Largest image accepted, decoded, inline or downloaded (OpenAI documents 20 MB). */
  maxBytes: z.number().int().positive().default(20 * 1024 * 1024),
  /** Download http(s) image URLs for backends that take bytes only; off, those requests are a 400. */
  fetchRemote: z.boolean().default(false),
  /** Time allowed for one download. */
  fetchTimeoutMs: z.number().int().positive().default(10_000),
  /**
   * Hosts that may be downloaded from although they resolve to private, loopback or link-local
   * addresses (an internal image server). Everything else on those addresses is refused.
   */
  allowPrivateHosts: z.array(z.string().min(1)).default([]),
});
export type ImagesConfig = z.output<typeof ImagesConfigSchema>;

export const ProviderConfigSchema = z.discriminatedUnion('kind', [
  SandboxProviderSchema,
  OpenAICompatibleProviderSchema,
  LlamaProviderSchema,
  AnthropicProviderSchema,
]);
export type ProviderConfig = z.output<typeof ProviderConfigSchema>;
export type SandboxProviderConfig = z.output<typeof SandboxProviderSchema>;
export type OpenAICompatibleProviderConfig = z.output<typeof OpenAICompatibleProviderSchema>;

export const ServerConfigSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535).default(8080),
  /** Largest request body accepted; bigger is a 413. Room for several base64 images. */
  bodyLimitBytes: z.number().int().positive().default(50 * 1024 * 1024),
  /** While a stream waits for its first token, an SSE comment is sent this often. */
  heartbeatMs: z.number().int().positive().default(5_000),
  /** Log level of the server's own log (pino levels). */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** On SIGTERM/SIGINT, in-flight requests and streams get this long to finish before they are cut. */
  shutdownTimeoutMs: z.number().int().min(0).default(10_000),
  /** A client has this long to send its request headers; slower ones are cut (slowloris). */
  headersTimeoutMs: z.number().int().positive().default(15_000),
  /**
   * A client has this long to send its whole request (headers and body); slower ones get a 408.
   * It bounds the upload only: a long streamed *response* is never cut by it.
   */
  requestTimeoutMs: z.number().int().positive().default(60_000),
  /** Open connections at most; beyond, new ones are closed at once. */
  maxConnections: z.number().int().positive().default(10_000),
  /** Browser origins allowed to call the API (CORS); none by default. `["*"]` allows any origin. */
  corsOrigins: z.array(z.string().min(1)).default([]),
  /** Serve HTTPS (and wss:// for Realtime) with this PEM certificate and key (file paths). */
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
});

/** The Realtime WebSocket's limits per socket. */
export const RealtimeConfigSchema = z.strictObject({
  /** Largest client message; a bigger one closes the socket (1009), as OpenAI's does. */
  maxMessageBytes: z.number().int().positive().default(4 * 1024 * 1024),
  /** Client events per second on average, and in a burst; beyond, each is dropped with an error event. */
  eventsPerSecond: z.number().positive().default(50),
  eventBurst: z.number().int().positive().default(100),
  /** A socket with no client or server event and no response in progress for this long is closed. */
  idleTimeoutMs: z.number().int().positive().default(15 * 60_000),
});

export const ConfigSchema = z.strictObject({
  server: ServerConfigSchema.default(ServerConfigSchema.parse({})),
  auth: z
    .strictObject({
      /** API keys accepted on /v1. None configured: the server runs open, and only on loopback. */
      keys: z.array(z.string().min(8, 'an API key must be at least 8 characters')).default([]),
    })
    .default({ keys: [] }),
  /** Backends. A sandbox provider is added when none is declared, unless `sandbox: false`. */
  providers: z.array(ProviderConfigSchema).default([]),
  sandbox: z.boolean().default(true),
  images: ImagesConfigSchema.default(ImagesConfigSchema.parse({})),
  realtime: RealtimeConfigSchema.default(RealtimeConfigSchema.parse({})),
  /** Personas seeded at start (created or replaced by id), in the admin API's shape: `{ id: persona_…, name, base_model, system_prompt, … }`. */
  personas: z.array(z.looseObject({ id: z.string().regex(/^persona_[A-Za-z0-9_-]{1,64}$/, 'a seeded persona needs an id like persona_support') })).default([]),
  /** Drift scoring of persona replies. */
  drift: z
    .strictObject({
      /** A reply scoring above this alerts, and runs its persona's recovery. */
      threshold: z.number().min(0).max(1).default(0.5),
      /** Per-workspace thresholds, by workspace id. */
      workspaceThresholds: z.record(z.string(), z.number().min(0).max(1)).default({}),
      /** An embedding model (`local/…`, `openai/text-embedding-3-small`) for the similarity rule; without it that rule is not scored. */
      embeddingModel: z.string().min(1).optional(),
    })
    .default({ threshold: 0.5, workspaceThresholds: {} }),
  ...PlatformConfigShape,
  ...RoutingConfigShape,
  ...ObservabilityConfigShape,
});

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
