import { z } from 'zod';

/** `GET /metrics` (Prometheus text format). */
export const MetricsConfigSchema = z.strictObject({
  /** Serve `/metrics` at all. */
  enabled: z.boolean().default(true),
  /**
   * Whether a scrape must present the admin key (`Authorization: Bearer <admin key>`; an API key
   * when the server runs without the platform). Unset: required exactly when the server listens on
   * a non-loopback address, since metrics name models, routes and traffic volumes.
   */
  requireAuth: z.boolean().optional(),
  /** Also export Node's process metrics (heap, event-loop lag, GC, handles), prefixed `switchyard_`. */
  processMetrics: z.boolean().default(true),
});

/** The server's structured (pino JSON) log. */
export const LoggingConfigSchema = z.strictObject({
  /**
   * Let prompt and completion contents reach log lines. Off: any `messages`, `input`, `prompt`,
   * `instructions`, `content` or request `body` field in a log line is written as `[Redacted]`.
   * Secrets (authorization headers, keys) are redacted whatever this says.
   */
  prompts: z.boolean().default(false),
  /** One `info` line per model call when it ends (model, route, status, tokens, timings). */
  calls: z.boolean().default(false),
});

/** The observability parts of the config file, spread into the top-level schema. */
export const ObservabilityConfigShape = {
  metrics: MetricsConfigSchema.default(MetricsConfigSchema.parse({})),
  logging: LoggingConfigSchema.default(LoggingConfigSchema.parse({})),
};
export type MetricsConfig = z.output<typeof MetricsConfigSchema>;
export type LoggingConfig = z.output<typeof LoggingConfigSchema>;
