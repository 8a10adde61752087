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

/** OpenTelemetry traces over OTLP/HTTP (JSON). Off by default, and then free. */
export const TracingConfigSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** The collector's traces URL; default `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `$OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces`, or http://127.0.0.1:4318/v1/traces. */
  endpoint: z.url().optional(),
  serviceName: z.string().min(1).default('switchyard'),
  /** Share of traces kept (by trace id). */
  sampleRatio: z.number().min(0).max(1).default(1),
  /** Spans are sent in batches this often. */
  flushIntervalMs: z.number().int().positive().default(5_000),
});
export type TracingConfig = z.output<typeof TracingConfigSchema>;

/** The observability parts of the config file, spread into the top-level schema. */
export const ObservabilityConfigShape = {
  metrics: MetricsConfigSchema.default(MetricsConfigSchema.parse({})),
  logging: LoggingConfigSchema.default(LoggingConfigSchema.parse({})),
  tracing: TracingConfigSchema.default(TracingConfigSchema.parse({})),
};
export type MetricsConfig = z.output<typeof MetricsConfigSchema>;
export type LoggingConfig = z.output<typeof LoggingConfigSchema>;
