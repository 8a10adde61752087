import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SwitchyardError } from '../errors/errors.js';
import type { CallSummary } from '../gateway/gateway.js';
import type { BreakerState } from '../gateway/circuit-breaker.js';

/** Where the scrape-time gauges read from; each part is optional (no platform, no engine). */
export interface MetricSources {
  /** Circuit state per target (`gateway.targetHealth()`). */
  targetHealth?: () => Array<{ target: string } & BreakerState>;
  /** Providers; those with `modelStates()` (the embedded engine) report sequences and queues. */
  providers?: () => readonly unknown[];
  /** The usage writer's backlog. */
  usage?: { readonly pending: number; readonly oldestPendingAt: number | undefined };
}

/** The per-model view a provider with an engine gives (`LlamaProvider.modelStates()`). */
export interface EngineModelState {
  id: string;
  ready?: boolean;
  busySequences?: number;
  queueDepth?: number;
}

interface EngineProvider {
  id: string;
  modelStates(): EngineModelState[];
}

function hasEngine(provider: unknown): provider is EngineProvider {
  return typeof (provider as Partial<EngineProvider> | null)?.modelStates === 'function';
}

/**
 * Label values a client can choose (the model it asks for) are capped: past `limit` distinct
 * values, new ones share `(other)`, so a caller spraying model names cannot grow the registry.
 */
class LabelGuard {
  private readonly seen = new Set<string>();
  constructor(private readonly limit: number) {}
  value(raw: string): string {
    if (this.seen.has(raw)) return raw;
    if (this.seen.size >= this.limit) return '(other)';
    this.seen.add(raw);
    return raw;
  }
}

/**
 * A metric's labelled children, found by a key the caller builds from values it already has:
 * prom-client hashes a label object (keys sorted, joined) on every update, which cost more than the
 * update itself. Label values are bounded (guarded or fixed sets), and so is this map.
 */
class Children<Child> {
  private readonly children = new Map<string, Child>();
  constructor(private readonly make: (labels: Record<string, string | number>) => Child) {}
  get(key: string, labels: () => Record<string, string | number>): Child {
    let child = this.children.get(key);
    if (child === undefined) {
      child = this.make(labels());
      this.children.set(key, child);
    }
    return child;
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const CIRCUIT_VALUE: Record<BreakerState['state'], number> = { closed: 0, half_open: 1, open: 2 };

/**
 * Switchyard's Prometheus metrics. Per request the work is a handful of counter and histogram
 * updates, done where the numbers already are: the `onResponse` hook (HTTP), the gateway's
 * `onCallEnd` (model calls, after the call ended), the error handler (errors, rejections).
 * Everything that is a state rather than an event (circuits, engine queues, the usage backlog)
 * is read only when Prometheus scrapes.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly models = new LabelGuard(500);
  private readonly routes = new LabelGuard(500);
  private readonly codes = new LabelGuard(200);

  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'method' | 'route'>;
  private readonly modelRequests: Counter<'route' | 'model' | 'provider' | 'status'>;
  private readonly modelDuration: Histogram<'model' | 'provider' | 'stream'>;
  private readonly timeToFirstToken: Histogram<'model' | 'provider'>;
  private readonly overhead: Histogram<'stream'>;
  private readonly tokens: Counter<'model' | 'provider' | 'direction'>;
  private readonly errors: Counter<'code' | 'status'>;
  private readonly rejections: Counter<'limit'>;
  private readonly httpRequestChildren = new Children((labels) => this.httpRequests.labels(labels));
  private readonly httpDurationChildren = new Children((labels) => this.httpDuration.labels(labels));
  private readonly modelRequestChildren = new Children((labels) => this.modelRequests.labels(labels));
  private readonly modelDurationChildren = new Children((labels) => this.modelDuration.labels(labels));
  private readonly timeToFirstTokenChildren = new Children((labels) => this.timeToFirstToken.labels(labels));
  private readonly overheadChildren = new Children((labels) => this.overhead.labels(labels));
  private readonly tokenChildren = new Children((labels) => this.tokens.labels(labels));

  constructor(sources: MetricSources = {}, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' });

    this.httpRequests = new Counter({
      name: 'switchyard_http_requests_total',
      help: 'HTTP responses sent, by method, route template and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'switchyard_http_request_duration_seconds',
      help: 'Time from request arrival to the response end (streams: the whole stream).',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.modelRequests = new Counter({
      name: 'switchyard_model_requests_total',
      help: 'Model calls (chat, responses, embeddings) by route taken, model asked, provider and outcome.',
      labelNames: ['route', 'model', 'provider', 'status'],
      registers,
    });
    this.modelDuration = new Histogram({
      name: 'switchyard_model_request_duration_seconds',
      help: 'Model call duration, from the gateway call to the last chunk.',
      labelNames: ['model', 'provider', 'stream'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.timeToFirstToken = new Histogram({
      name: 'switchyard_time_to_first_token_seconds',
      help: 'Streamed model calls: time from the gateway call to the first chunk.',
      labelNames: ['model', 'provider'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.overhead = new Histogram({
      name: 'switchyard_gateway_overhead_seconds',
      help:
        "Switchyard's own time per model call, backends excluded: from request arrival until the first chunk " +
        '(or the whole reply) is in hand, minus the time spent waiting on providers and in retry backoff.',
      labelNames: ['stream'],
      buckets: OVERHEAD_BUCKETS,
      registers,
    });
    this.tokens = new Counter({
      name: 'switchyard_tokens_total',
      help: 'Tokens by direction (in: prompt, out: completion), as the backends reported them.',
      labelNames: ['model', 'provider', 'direction'],
      registers,
    });
    this.errors = new Counter({
      name: 'switchyard_errors_total',
      help: 'Error responses and stream error events sent to clients, by error code and status.',
      labelNames: ['code', 'status'],
      registers,
    });
    this.rejections = new Counter({
      name: 'switchyard_rate_limit_rejections_total',
      help: "Requests refused by Switchyard's own limits (429), by limit: requests, tokens, concurrency, quota.",
      labelNames: ['limit'],
      registers,
    });

    const { targetHealth, providers, usage } = sources;
    // Gauges that share one reading: the first one registered reads for all (the registry
    // serializes in registration order, so the others are filled in before they are written).
    if (targetHealth) {
      const failures = () => failureGauge;
      new Gauge({
        name: 'switchyard_upstream_circuit_state',
        help: 'Circuit breaker state per target: 0 closed, 1 half-open, 2 open.',
        labelNames: ['target'],
        registers,
        collect() {
          this.reset();
          failures().reset();
          for (const health of targetHealth()) {
            this.set({ target: health.target }, CIRCUIT_VALUE[health.state]);
            failures().set({ target: health.target }, health.consecutiveFailures);
          }
        },
      });
      const failureGauge = new Gauge({
        name: 'switchyard_upstream_consecutive_failures',
        help: 'Consecutive retryable failures of each target.',
        labelNames: ['target'],
        registers,
      });
    }
    if (providers) {
      const engines = () => providers().filter(hasEngine);
      const others = () => ({ queue: queueGauge, ready: readyGauge });
      new Gauge({
        name: 'switchyard_engine_busy_sequences',
        help: 'Embedded engine: sequences generating now, per model.',
        labelNames: ['provider', 'model'],
        registers,
        collect() {
          const { queue, ready } = others();
          this.reset();
          queue.reset();
          ready.reset();
          for (const provider of engines()) {
            for (const state of provider.modelStates()) {
              const labels = { provider: provider.id, model: state.id };
              this.set(labels, state.busySequences ?? 0);
              queue.set(labels, state.queueDepth ?? 0);
              ready.set(labels, state.ready ? 1 : 0);
            }
          }
        },
      });
      const queueGauge = new Gauge({
        name: 'switchyard_engine_queue_depth',
        help: 'Embedded engine: requests waiting for a free sequence, per model.',
        labelNames: ['provider', 'model'],
        registers,
      });
      const readyGauge = new Gauge({
        name: 'switchyard_engine_model_loaded',
        help: 'Embedded engine: 1 when the model is loaded and serving.',
        labelNames: ['provider', 'model'],
        registers,
      });
    }
    if (usage) {
      new Gauge({
        name: 'switchyard_usage_pending_records',
        help: 'Usage records queued in memory, not yet written to the store.',
        registers,
        collect() {
          this.set(usage.pending);
        },
      });
      new Gauge({
        name: 'switchyard_usage_writer_lag_seconds',
        help: 'Age of the oldest usage record not yet written (0 when none waits).',
        registers,
        collect() {
          const oldest = usage.oldestPendingAt;
          this.set(oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
        },
      });
    }
  }

  /** The `onResponse` hook: one response sent (streams included: they end with `finish` too). */
  observeResponse(request: FastifyRequest, reply: FastifyReply): void {
    const route = request.routeOptions.url ?? '(unmatched)';
    const method = request.method;
    const status = reply.statusCode;
    this.httpRequestChildren.get(`${method} ${route} ${status}`, () => ({ method, route, status })).inc();
    this.httpDurationChildren.get(`${method} ${route}`, () => ({ method, route })).observe(reply.elapsedTime / 1000);
  }

  /** The gateway's `onCallEnd`: one model call ended, however it ended. */
  onCallEnd(summary: CallSummary): void {
    // A model the router could not resolve is a client's free text: never a label of its own.
    const resolved = summary.providerId !== '';
    const model = resolved ? this.models.value(summary.modelAsked) : '(unresolved)';
    const provider = resolved ? summary.providerId : '(none)';
    const route = resolved ? this.routes.value(summary.route) : '(none)';
    const status = summary.status;
    const stream = summary.stream ? 'true' : 'false';
    // Model and provider names hold no tab: the keys below are unambiguous.
    const modelKey = `${model}\t${provider}`;
    this.modelRequestChildren.get(`${route}\t${modelKey}\t${status}`, () => ({ route, model, provider, status })).inc();
    this.modelDurationChildren.get(`${modelKey}\t${stream}`, () => ({ model, provider, stream })).observe(summary.durationMs / 1000);
    if (status === 'completed' && summary.timeToFirstChunkMs !== undefined && summary.stream) {
      this.timeToFirstTokenChildren.get(modelKey, () => ({ model, provider })).observe(summary.timeToFirstChunkMs / 1000);
    }
    if (summary.overheadMs !== undefined) this.overheadChildren.get(stream, () => ({ stream })).observe(summary.overheadMs / 1000);
    const usage = summary.usage;
    if (usage) {
      if (usage.prompt_tokens) this.tokenChildren.get(`${modelKey}\tin`, () => ({ model, provider, direction: 'in' })).inc(usage.prompt_tokens);
      if (usage.completion_tokens) this.tokenChildren.get(`${modelKey}\tout`, () => ({ model, provider, direction: 'out' })).inc(usage.completion_tokens);
    }
    // Errors of non-streamed calls reach the HTTP error handler, which counts them; a stream's
    // travel inside the stream (or as its raw error response), so they are counted here.
    if (summary.stream && summary.error) this.countError(summary.error);
  }

  /** An error sent to a client: by the error handler, the not-found handler, or inside a stream. */
  countError(error: SwitchyardError): void {
    this.errors.inc({ code: this.codes.value(String(error.code)), status: error.status });
    const limit = rejectionLimit(error);
    if (limit) this.rejections.inc({ limit });
  }

  /** The Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * Which of Switchyard's own limits refused a request, if one did. Its refusals carry the limit in
 * `type` (as OpenAI's do); an upstream's 429 relayed keeps the upstream's `rate_limit_error` type.
 */
function rejectionLimit(error: SwitchyardError): string | undefined {
  if (error.code === 'insufficient_quota' && error.cause === undefined) return 'quota';
  if (error.code !== 'rate_limit_exceeded') return undefined;
  if (error.type === 'tokens') return 'tokens';
  if (error.type !== 'requests') return undefined;
  return error.message.includes('concurrent requests') ? 'concurrency' : 'requests';
}
