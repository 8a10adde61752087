import type { FastifyInstance } from 'fastify';

const ALLOWED_HEADERS = 'authorization, content-type, openai-beta, openai-organization, openai-project, x-client-request-id, x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version, x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout';
const EXPOSED_HEADERS = 'x-request-id, x-switchyard-audit-id, x-switchyard-route, x-switchyard-drift-score, x-switchyard-drift-alert, x-switchyard-layers, openai-processing-ms, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens, retry-after';

/**
 * CORS for the API, off unless origins are configured (`server.corsOrigins`): browsers may then
 * call /v1 from those origins with a bearer key (no cookies: credentials are never allowed). The
 * admin API and UI stay same-origin whatever is configured.
 */
export function registerCors(app: FastifyInstance, origins: readonly string[]): void {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (!origin || !request.url.startsWith('/v1') || (!any && !allowed.has(origin))) return;
    reply.header('access-control-allow-origin', any ? '*' : origin);
    if (!any) reply.header('vary', 'origin');
    reply.header('access-control-expose-headers', EXPOSED_HEADERS);
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) {
      reply.header('access-control-allow-methods', 'GET, POST, DELETE, OPTIONS');
      reply.header('access-control-allow-headers', ALLOWED_HEADERS);
      reply.header('access-control-max-age', '600');
      // Answered here, before the hook that stamps every other response.
      reply.header('x-request-id', request.id);
      await reply.code(204).send();
    }
  });
}
