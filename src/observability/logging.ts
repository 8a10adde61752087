import type { FastifyBaseLogger } from 'fastify';
import type { FastifyChildLoggerFactory } from 'fastify/types/logger.js';
import type { CallSummary } from '../gateway/gateway.js';
import type { LoggingConfig } from './observability-config.js';

/** Where a secret can sit in a log line: request headers, provider configs, error causes. */
const SECRET_PATHS = [
  'req.headers.authorization',
  'req.headers["api-key"]',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["api-key"]',
  'headers["x-api-key"]',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers["api-key"]',
  '*.headers["x-api-key"]',
  '*.headers.cookie',
  'authorization',
  'apiKey',
  '*.apiKey',
  'api_key',
  '*.api_key',
  'secret',
  '*.secret',
  'adminKey',
  '*.adminKey',
];

/** Fields that hold prompt or completion text (OpenAI's chat, Responses, completions, embeddings). */
const PROMPT_FIELDS = ['messages', 'input', 'prompt', 'instructions', 'content', 'body'];

/** The redaction paths for a config: secrets always; prompt contents unless `logging.prompts`. */
export function redactPaths(logging: Pick<LoggingConfig, 'prompts'>): string[] {
  if (logging.prompts) return [...SECRET_PATHS];
  // fast-redact has no recursive wildcard: top level and two levels down cover `{ body: { messages } }`
  // and `{ err: { cause: { body } } }`, which is where a request's text can travel.
  const prompts = PROMPT_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]);
  return [...SECRET_PATHS, ...prompts];
}

/** Fastify's `logger` option: pino JSON lines, redacted, to `stream` when given (tests read it). */
export function loggerOptions(options: { level: string; logging: Pick<LoggingConfig, 'prompts'>; stream?: NodeJS.WritableStream | undefined }) {
  return {
    level: options.level,
    redact: { paths: redactPaths(options.logging), censor: '[Redacted]' },
    ...(options.stream ? { stream: options.stream } : {}),
  };
}

/**
 * `logging.calls`: one line per model call when it ends, keyed by the request id like every line
 * Fastify's request logger writes (`reqId`). Never the prompt, never the key: ids, names, numbers.
 */
export function callLogger(log: FastifyBaseLogger): (summary: CallSummary) => void {
  return (summary) => {
    const line = {
      reqId: summary.requestId,
      auditId: summary.auditId,
      keyId: summary.caller.keyId,
      model: summary.modelAsked,
      route: summary.route,
      provider: summary.providerId,
      stream: summary.stream,
      status: summary.status,
      errorCode: summary.error?.code,
      promptTokens: summary.usage?.prompt_tokens,
      completionTokens: summary.usage?.completion_tokens,
      durationMs: Math.round(summary.durationMs),
      timeToFirstChunkMs: summary.timeToFirstChunkMs === undefined ? undefined : Math.round(summary.timeToFirstChunkMs),
    };
    if (summary.status === 'failed') log.warn(line, 'model call failed');
    else log.info(line, 'model call ended');
  };
}

/**
 * A request's logger, made only when the request logs something. Fastify makes a pino child per
 * request (with its redaction set up) although the hot path never logs: a measurable share of a
 * request's CPU, spent on nothing.
 */
class LazyChildLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Record<string, unknown>,
    private readonly options: Record<string, unknown>,
  ) {}

  private get logger(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.made?.level ?? (this.options.level as string | undefined) ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  child(bindings: Record<string, unknown>, options?: Record<string, unknown>): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }

  silent(): void {}
}
for (const method of ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const) {
  Object.defineProperty(LazyChildLogger.prototype, method, {
    value: function (this: LazyChildLogger, ...args: unknown[]) {
      const logger = (this as unknown as { logger: FastifyBaseLogger }).logger;
      (logger[method] as (...rest: unknown[]) => void)(...args);
    },
  });
}

/** Fastify's `childLoggerFactory`: request loggers made on first use (see LazyChildLogger). */
export const lazyChildLogger: FastifyChildLoggerFactory = (logger, bindings, options) =>
  new LazyChildLogger(logger, bindings, options as Record<string, unknown>) as unknown as FastifyBaseLogger;
