import type { FastifyInstance } from 'fastify';

/** What a preflight that names no headers is told; one that names them gets them back (below). */
const ALLOWED_HEADERS = 'authorization, content-type, openai-beta, openai-organization, openai-project, x-client-request-id';
const EXPOSED_HEADERS =
  'x-request-id, x-client-request-id, x-switchyard-audit-id, x-switchyard-route, x-switchyard-drift-score, x-switchyard-drift-alert, x-switchyard-layers, openai-processing-ms, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens, retry-after, retry-after-ms, x-should-retry';
/** A list of header names, as `access-control-request-headers` carries them. */
const HEADER_NAMES = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/;

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
      // The headers the browser asks for are allowed back: the SDKs add their own as they grow
      // (`x-stainless-helper-method` from `.stream()` and `.parse()`, `user-agent`), a fixed
      // list fails their preflight, and with credentials never allowed a header grants nothing a
      // bearer key does not.
      const asked = request.headers['access-control-request-headers'];
      reply.header('access-control-allow-headers', typeof asked === 'string' && HEADER_NAMES.test(asked.trim()) ? asked.trim() : ALLOWED_HEADERS);
      if (!any) reply.header('vary', 'origin, access-control-request-headers');
      else reply.header('vary', 'access-control-request-headers');
      reply.header('access-control-max-age', '600');
      // Answered here, before the hook that stamps every other response.
      reply.header('x-request-id', request.id);
      await reply.code(204).send();
    }
  });
}
