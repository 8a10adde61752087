import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CallSummary } from '../gateway/gateway.js';
import type { TracingConfig } from './observability-config.js';

/** performance.now() time as the epoch milliseconds OpenTelemetry takes. */
const epoch = (time: number) => performance.timeOrigin + time;

/**
 * OpenTelemetry traces, built only when `observability.tracing.enabled` (else nothing here exists:
 * no hook, no listener, no span). A server span per HTTP request; per model call a client span
 * named by the GenAI semantic conventions (`chat {model}`, `embeddings {model}`), one per attempt
 * when fallbacks or retries ran, made when the call ends from what the gateway recorded, so the
 * hot path gains nothing but one array push per attempt. The request id is on every span.
 * Conventions followed: OpenTelemetry semantic conventions for GenAI (v1.37): `gen_ai.operation.name`,
 * `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.*`.
 */
export class Tracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  /** The server span of each request in flight, by request id, for the model calls to hang under. */
  private readonly requests = new Map<string, Span>();

  constructor(config: TracingConfig, endpoint: string) {
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName }),
      sampler: new TraceIdRatioBasedSampler(config.sampleRatio),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }), { scheduledDelayMillis: config.flushIntervalMs })],
    });
    this.tracer = this.provider.getTracer('switchyard');
  }

  /** The server span of every request: opened on arrival, closed when the response is done (streams included). */
  attach(app: FastifyInstance): void {
    app.addHook('onRequest', async (request, reply) => {
      const span = this.tracer.startSpan(`${request.method} ${request.routeOptions.url ?? 'unknown route'}`, {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': request.method, 'http.route': request.routeOptions.url ?? '', 'url.path': request.url.split('?')[0]!, 'switchyard.request_id': request.id },
      });
      this.requests.set(request.id, span);
      reply.raw.once('close', () => this.endRequest(request, reply.raw.statusCode));
    });
  }

  private endRequest(request: FastifyRequest, status: number): void {
    const span = this.requests.get(request.id);
    if (!span) return;
    this.requests.delete(request.id);
    span.setAttribute('http.response.status_code', status);
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }

  /** A model call ended: its spans, under its request's span. */
  onCallEnd(summary: CallSummary): void {
    const parent = this.requests.get(summary.requestId);
    const parentContext = parent ? trace.setSpan(context.active(), parent) : context.active();
    const operation = summary.kind === 'embeddings' ? 'embeddings' : summary.kind === 'completion' ? 'text_completion' : 'chat';
    const attempts = summary.attempts && summary.attempts.length > 0 ? summary.attempts : [{ target: summary.route, startedAt: summary.startedAt ?? performance.now() - summary.durationMs, endedAt: performance.now(), errorCode: summary.error?.code }];
    attempts.forEach((attempt, index) => {
      const last = index === attempts.length - 1;
      const target = attempt.target.split(' > ').at(-1)!.replace(/ \(after .*\)$/, '');
      const slash = target.indexOf('/');
      const model = slash === -1 ? target : target.slice(slash + 1);
      const span = this.tracer.startSpan(
        `${operation} ${model}`,
        {
          kind: SpanKind.CLIENT,
          startTime: epoch(attempt.startedAt),
          attributes: {
            'gen_ai.operation.name': operation,
            'gen_ai.provider.name': slash === -1 ? summary.providerId : target.slice(0, slash),
            'gen_ai.request.model': model,
            'switchyard.model_asked': summary.modelAsked,
            'switchyard.route': summary.route,
            'switchyard.request_id': summary.requestId,
            'switchyard.attempt': index + 1,
            ...(summary.auditId ? { 'switchyard.audit_id': summary.auditId } : {}),
            ...(summary.request?.maxTokens !== undefined ? { 'gen_ai.request.max_tokens': summary.request.maxTokens } : {}),
            ...(summary.request?.temperature !== undefined ? { 'gen_ai.request.temperature': summary.request.temperature } : {}),
            ...(summary.request?.topP !== undefined ? { 'gen_ai.request.top_p': summary.request.topP } : {}),
            ...(last && summary.usage ? { 'gen_ai.usage.input_tokens': summary.usage.prompt_tokens, 'gen_ai.usage.output_tokens': summary.usage.completion_tokens } : {}),
            ...(last && summary.response?.model ? { 'gen_ai.response.model': summary.response.model } : {}),
            ...(last && summary.response?.id ? { 'gen_ai.response.id': summary.response.id } : {}),
            ...(last && summary.response?.finishReasons ? { 'gen_ai.response.finish_reasons': summary.response.finishReasons } : {}),
          },
        },
        parentContext,
      );
      const errorCode = last ? (summary.error ? String(summary.error.code) : undefined) : attempt.errorCode;
      if (errorCode) {
        span.setAttribute('error.type', errorCode);
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode });
      }
      span.end(epoch(attempt.endedAt ?? performance.now()));
    });
  }

  /** Sends what is left. */
  async shutdown(): Promise<void> {
    for (const span of this.requests.values()) span.end();
    this.requests.clear();
    await this.provider.shutdown();
  }
}

/** The tracer when tracing is on, else undefined; `OTEL_EXPORTER_OTLP_ENDPOINT` names the collector too. */
export function createTracing(config: TracingConfig, env: NodeJS.ProcessEnv): Tracing | undefined {
  if (!config.enabled) return undefined;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  const endpoint = config.endpoint ?? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base}/v1/traces` : 'http://127.0.0.1:4318/v1/traces');
  return new Tracing(config, endpoint);
}
