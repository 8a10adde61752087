import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { SwitchyardError } from '../errors/errors.js';
import type { Kysely } from 'kysely';
import type { Config } from '../config/schema.js';
import type { Provider } from '../providers/provider.js';
import { createProvider } from '../providers/registry.js';
import { ModelRegistry } from '../gateway/model-registry.js';
import { Gateway, type Caller, type CallSummary } from '../gateway/gateway.js';
import { randomId } from '../util/ids.js';
import { STATUS_CODES } from 'node:http';
import { failOpenStreams } from './sse-writer.js';
import { isLoopback, keysFromEnv, StaticKeyAuthenticator, type Authenticator } from './auth.js';
import { errorHeaders, fromAnyError, writeRawError } from './errors-reply.js';
import { blameDeepNesting } from './deep-nesting.js';
import { registerChatRoutes } from './routes/chat-completions.js';
import { registerModelRoutes } from './routes/models.js';
import { registerEmbeddingsRoutes } from './routes/embeddings.js';
import { registerCompletionsRoutes } from './routes/completions.js';
import { registerResponsesRoutes, responseRoutesFor, responsesStoreFor } from './routes/responses.js';
import { notFoundError, notFoundHandler } from './routes/not-served.js';
import { processingMs } from './request-timing.js';
import type { Platform } from '../platform/platform.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerAdminConsoleRoutes } from './routes/admin-console.js';
import { packageUiAssets, type UiAssets } from './ui/ui-assets.js';
import { registerUiRoutes } from './ui/ui-routes.js';
import { readFileSync } from 'node:fs';
import { registerCors } from './cors.js';
import { registerModelPullRoutes } from './routes/admin-model-pulls.js';
import { DEFAULT_MODEL_CACHE } from '../providers/llama/llama-config.js';
import { createTracing } from '../observability/tracing.js';
import { openPersonas } from '../gateway/personas/open-personas.js';
import { PersonaStore } from '../store/persona-store.js';
import websocket from '@fastify/websocket';
import { registerRealtimeRoutes, selectProtocol, withSubprotocolKey } from './routes/realtime.js';
import { UiSessions } from './ui/ui-session.js';
import { ServerMetrics } from '../observability/metrics.js';
import { callLogger, lazyChildLogger, loggerOptions } from '../observability/logging.js';
import { registerHealthRoutes } from '../observability/health-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
  }
}

export interface BuildServerOptions {
  config: Config;
  /** Replaces the config's keys (the platform's key store). */
  authenticator?: Authenticator;
  /** Replaces the providers built from the config (tests). */
  providers?: Provider[];
  onCallEnd?: (summary: CallSummary) => void;
  env?: NodeJS.ProcessEnv;
  /** The API platform (key store, limits, usage, admin API), already opened; closed with the server. */
  platform?: Platform;
  /** Where the log goes instead of stdout (tests read it). */
  logStream?: NodeJS.WritableStream;
  /** Draws for weighted aliases, in [0, 1); tests pass a seeded one. */
  random?: () => number;
  /** The admin UI's files (default: the package's `ui/dist`). */
  ui?: UiAssets;
}

export interface Server {
  app: FastifyInstance;
  gateway: Gateway;
  registry: ModelRegistry;
  authenticator: Authenticator;
  /** Stops listening, then frees every provider's connections and engines. */
  close(): Promise<void>;
}

/** The providers a config asks for, with the sandbox added unless turned off or declared. */
export function providersFromConfig(config: Config): Provider[] {
  const declared = [...config.providers];
  if (config.sandbox && !declared.some((provider) => provider.kind === 'sandbox')) {
    declared.push({ id: 'sandbox', kind: 'sandbox', chunkDelayMs: 0, maxOutputTokens: 4096 });
  }
  return declared.map(createProvider);
}

const CLIENT_REQUEST_ID = /^[\x20-\x7e]{1,512}$/;

/** The `/v1` routes whose POST is admitted by the platform (which sets the rate-limit headers itself). */
const ADMITTED_ROUTES = new Set(
  ['/chat/completions', '/completions', '/embeddings', '/responses'].flatMap((route) => [`/v1${route}`, `/v1/openai${route}`]),
);

/** Wires the whole server together: config → providers → registry → gateway → routes. */
export async function buildServer(options: BuildServerOptions): Promise<Server> {
  const { config } = options;
  const env = options.env ?? process.env;
  const providers = options.providers ?? providersFromConfig(config);
  const registry = new ModelRegistry(providers);
  const { platform } = options;
  // Gauges read these at scrape time only; `gateway` exists by then.
  const metrics = config.metrics.enabled
    ? new ServerMetrics(
        {
          targetHealth: () => gateway.targetHealth(),
          providers: () => registry.allProviders(),
          ...(platform ? { usage: platform.recorder } : {}),
        },
        { processMetrics: config.metrics.processMetrics },
      )
    : undefined;
  // Everyone who reads a call's summary once it ended: accounting, metrics, the call log, the caller.
  // Only the platform's returns something: its usage record becoming durable, which answers wait for.
  const callListeners: Array<(summary: CallSummary) => void> = [];
  if (metrics) callListeners.push(metrics.onCallEnd.bind(metrics));
  if (options.onCallEnd) callListeners.push(options.onCallEnd);
  const onCallEnd = (summary: CallSummary): Promise<void> | undefined => {
    for (const listener of callListeners) listener(summary);
    return platform?.onCallEnd(summary);
  };
  const tracing = createTracing(config.tracing, env);
  if (tracing) callListeners.push(tracing.onCallEnd.bind(tracing));
  const personas = await openPersonas(config, registry, platform ? new PersonaStore(platform.store.db) : undefined);
  const gateway = new Gateway({
    registry,
    personas,
    detailedSummaries: tracing !== undefined,
    aliases: config.aliases,
    routing: config.routing,
    images: {
      maxBytes: config.images.maxBytes,
      fetchRemote: config.images.fetchRemote,
      timeoutMs: config.images.fetchTimeoutMs,
      allowPrivateHosts: new Set(config.images.allowPrivateHosts.map((host) => host.toLowerCase())),
    },
    onCallEnd,
    ...(options.random ? { random: options.random } : {}),
  });
  const authenticator =
    options.authenticator ?? platform?.authenticator ?? new StaticKeyAuthenticator([...config.auth.keys, ...keysFromEnv(env)]);

  // Node checks these deadlines on an interval (30 s by default): often enough that they hold.
  const slowClientLimits = {
    headersTimeout: config.server.headersTimeoutMs,
    requestTimeout: config.server.requestTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, Math.floor(config.server.headersTimeoutMs / 2)),
  };
  let closing = false;
  const app = Fastify({
    // Secrets never reach a log line, whatever gets logged; nor prompts, unless `logging.prompts`.
    logger: loggerOptions({ level: config.server.logLevel, logging: config.logging, stream: options.logStream }),
    bodyLimit: config.server.bodyLimitBytes,
    // No log line per request: the hot path stays quiet; failures are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    genReqId: () => randomId('req_'),
    // Slow clients: headers and the whole request must arrive in time; responses (streams) are not bounded.
    requestTimeout: config.server.requestTimeoutMs,
    // HTTPS for every route when given a certificate (the SDK's Realtime client dials wss:// only).
    ...(config.server.tls
      ? { https: { ...slowClientLimits, cert: readFileSync(config.server.tls.cert), key: readFileSync(config.server.tls.key) } }
      : { http: slowClientLimits }),
    requestIdHeader: false,
    // Shutdown's 503 is ours (the `closing` hook below), in OpenAI's shape; Fastify's is not.
    return503OnClosing: false,
    // Bytes Node cannot take as a request (a timeout, oversized headers, garbage): answered in
    // OpenAI's shape too, on the raw socket, as no request object exists.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const failure =
        error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new SwitchyardError('request_timeout', 'The request did not arrive in time.')
          : error.code === 'HPE_HEADER_OVERFLOW'
            ? new SwitchyardError('request_headers_too_large', 'The request headers are too large.')
            : new SwitchyardError('malformed_request', 'The request could not be read as HTTP.');
      const body = JSON.stringify(failure.toBody());
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status]}\r\nx-request-id: ${randomId('req_')}\r\ncontent-type: application/json\r\n` +
            `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy(error);
    },
    // A URL the router cannot decode is answered before any hook runs: in OpenAI's shape all the same.
    frameworkErrors: (error, request, reply) => {
      const failure = new SwitchyardError('invalid_value', `The request URL could not be read: ${error.message}`);
      const clientId = request.headers['x-client-request-id'];
      writeRawError(reply.raw, failure, {
        'x-request-id': request.id,
        ...(typeof clientId === 'string' && CLIENT_REQUEST_ID.test(clientId) ? { 'x-client-request-id': clientId } : {}),
        'openai-processing-ms': processingMs(reply),
      });
    },
  });

  // Any content type is read as JSON: curl users forget the header, and a wrong body is a clear 400.
  // An empty body is no body where a route takes none or may (a DELETE; a POST whose route says
  // `config: { bodyOptional: true }`): the Python SDK sends `content-type: application/json` on
  // bodiless calls (`responses.delete`), which must not fail as malformed JSON. An empty chat
  // request stays the 400 invalid_json OpenAI gives.
  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser('error', 'ignore');
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    // A route Switchyard does not serve is a 404 saying so, whatever its body holds.
    if (request.is404) return done(null, undefined);
    const optional = request.method !== 'POST' || (request.routeOptions.config as { bodyOptional?: boolean } | undefined)?.bodyOptional === true;
    if (body === '' && optional) done(null, undefined);
    else parseJson(request, body as string, done);
  });

  app.server.maxConnections = config.server.maxConnections;
  tracing?.attach(app);
  if (config.server.corsOrigins.length > 0) registerCors(app, config.server.corsOrigins);

  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // A request on a kept-alive connection once shutdown began: refused, and the connection let go.
    if (closing) {
      reply.header('connection', 'close');
      throw new SwitchyardError('server_shutting_down', 'The server is shutting down; retry the request.');
    }
    const clientId = request.headers['x-client-request-id'];
    if (typeof clientId === 'string' && CLIENT_REQUEST_ID.test(clientId)) reply.header('x-client-request-id', clientId);
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('openai-processing-ms', processingMs(reply));
  });

  if (config.logging.calls) callListeners.push(callLogger(app.log));
  if (metrics) {
    app.addHook('onResponse', (request, reply, done) => {
      metrics.observeResponse(request, reply);
      done();
    });
  }

  app.setErrorHandler((error, request, reply) => {
    const failure = blameDeepNesting(fromAnyError(error), request.body);
    metrics?.countError(failure);
    if (failure.status >= 500) request.log.error({ err: failure, cause: failure.cause }, 'request failed');
    void reply
      .code(failure.status)
      .headers(errorHeaders(failure))
      .type('application/json')
      .send(JSON.stringify(failure.toBody()));
  });
  app.setNotFoundHandler(
    metrics
      ? (request, reply) => {
          const error = notFoundError(request);
          metrics.countError(error);
          notFoundHandler(request, reply, error);
        }
      : notFoundHandler,
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  registerHealthRoutes(app, {
    metrics,
    metricsRequireAuth: config.metrics.requireAuth ?? !isLoopback(config.server.host),
    isAdmin: platform ? (request) => platform.isAdmin(request.headers) : undefined,
    authenticator,
    db: platform?.store.db as Kysely<never> | undefined,
    providers: () => registry.allProviders(),
  });
  platform?.attach(gateway, app.log);

  await app.register(websocket, { options: { maxPayload: config.realtime.maxMessageBytes, handleProtocols: selectProtocol } });

  // The OpenAI API, also under /v1/openai for clients that expect a provider segment.
  const responsesStore = responsesStoreFor(platform);
  const passThrough = registry.allProviders().some((provider) => provider.nativeResponses)
    ? { routes: responseRoutesFor(platform), provider: (id: string) => registry.allProviders().find((provider) => provider.id === id) }
    : undefined;
  for (const prefix of ['/v1', '/v1/openai']) {
    await app.register(
      async (scope) => {
        scope.addHook('onRequest', async (request, reply) => {
          request.caller = await authenticator.authenticate(withSubprotocolKey(request.headers));
          // Model calls set the rate-limit headers when they take from the limits (a peek first
          // would be a second limiter read, a Redis round trip, per call); other routes show them.
          if (platform && !(request.method === 'POST' && ADMITTED_ROUTES.has(request.routeOptions.url ?? ''))) await platform.peekHeaders(request.caller, reply);
        });
        registerChatRoutes(scope, {
          gateway,
          heartbeatMs: config.server.heartbeatMs,
          ...(platform ? { admit: platform.admit.bind(platform) } : {}),
        });
        registerModelRoutes(
          scope,
          registry,
          gateway.aliasNames(),
          personas.catalog,
          platform ? { limited: (request) => platform.limitsModels(request.caller), mayUse: (request, names) => platform.mayUseModel(request.caller, names) } : undefined,
        );
        registerEmbeddingsRoutes(scope, gateway, platform ? platform.admit.bind(platform) : undefined);
        registerCompletionsRoutes(scope, { gateway, heartbeatMs: config.server.heartbeatMs, ...(platform ? { admit: platform.admit.bind(platform) } : {}) });
        registerResponsesRoutes(scope, {
          gateway,
          heartbeatMs: config.server.heartbeatMs,
          store: responsesStore,
          ...(passThrough ? { passThrough } : {}),
          ...(platform ? { admit: platform.admit.bind(platform) } : {}),
        });
        registerRealtimeRoutes(scope, {
          gateway,
          limits: config.realtime,
          authenticate: (headers) => authenticator.authenticate(headers),
          ...(platform ? { admit: platform.admit.bind(platform), assertModelAllowed: (caller, model) => platform.assertModelAllowed(caller, model) } : {}),
        });
      },
      { prefix },
    );
  }
  if (platform) {
    // The admin web app at /ui; its session (cookie + CSRF header) opens the admin API too.
    const sessions = new UiSessions(platform.store.hasher, undefined, undefined, () => platform.adminKeyBinding());
    registerUiRoutes(app, { platform, sessions, assets: options.ui ?? packageUiAssets() });
    await app.register(
      async (scope) => {
        registerAdminRoutes(scope, platform, gateway, { sessions });
        registerAdminConsoleRoutes(scope, { platform, gateway, registry, heartbeatMs: config.server.heartbeatMs });
        const llama = config.providers.find((provider) => provider.kind === 'llama');
        registerModelPullRoutes(scope, llama && 'modelCacheDir' in llama ? llama.modelCacheDir : DEFAULT_MODEL_CACHE);
      },
      { prefix: '/admin/v1' },
    );
  }

  return {
    app,
    gateway,
    registry,
    authenticator,
    async close() {
      closing = true;
      // In-flight requests and streams may finish, up to the deadline; then their sockets are cut.
      const deadline = setTimeout(() => {
        // Streams still open end with an error event, which leaves before their sockets are cut.
        failOpenStreams(app.server, new SwitchyardError('server_shutting_down', 'The server shut down before this stream finished.'));
        setImmediate(() => app.server.closeAllConnections());
      }, config.server.shutdownTimeoutMs);
      try {
        await app.close();
      } finally {
        clearTimeout(deadline);
      }
      await Promise.all(providers.map((provider) => provider.close?.()));
      // Last: the calls cut above still report their usage, which is flushed here.
      await platform?.close();
      await tracing?.shutdown();
    },
  };
}
