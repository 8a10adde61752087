import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sql, type Kysely } from 'kysely';
import { SwitchyardError } from '../errors/errors.js';
import type { Authenticator } from '../http/auth.js';
import { missingKeyError, presentedKey } from '../http/auth.js';
import type { ServerMetrics } from './metrics.js';

export interface HealthRouteOptions {
  metrics: ServerMetrics | undefined;
  /** Whether `/metrics` takes a key (see `metrics.requireAuth`). */
  metricsRequireAuth: boolean;
  /** The admin-key check when the platform runs; otherwise any API key of `authenticator` gets in. */
  isAdmin?: ((request: FastifyRequest) => boolean) | undefined;
  authenticator: Authenticator;
  /** The platform's database, when there is one. */
  db?: Kysely<never> | undefined;
  /** Providers; those with `modelStates()` say whether their `preload` models are loaded. */
  providers: () => readonly unknown[];
  /** How long the store may take to answer `SELECT 1`. */
  storeTimeoutMs?: number;
}

interface PreloadingProvider {
  id: string;
  modelStates(): Array<{ id: string; preload?: boolean; ready?: boolean }>;
}

type Check = { status: 'ok' } | { status: 'failing'; reason: string };

async function storeCheck(db: Kysely<never> | undefined, timeoutMs: number): Promise<Check> {
  if (!db) return { status: 'ok' };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql`select 1`.execute(db),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'ok' };
  } catch (error) {
    return { status: 'failing', reason: `store unreachable: ${(error as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

function modelsCheck(providers: readonly unknown[]): Check {
  const waiting: string[] = [];
  for (const provider of providers) {
    const states = (provider as Partial<PreloadingProvider>).modelStates;
    if (typeof states !== 'function') continue;
    for (const state of states.call(provider)) {
      if (state.preload && !state.ready) waiting.push(`${(provider as PreloadingProvider).id}/${state.id}`);
    }
  }
  return waiting.length === 0 ? { status: 'ok' } : { status: 'failing', reason: `preload models not loaded yet: ${waiting.join(', ')}` };
}

/**
 * `GET /readyz`: 200 when the store answers and every `preload` model is loaded, else 503 with the
 * failing checks (`/healthz`, alive, is the server's own). `GET /metrics`: Prometheus text.
 */
export function registerHealthRoutes(app: FastifyInstance, options: HealthRouteOptions): void {
  app.get('/readyz', async (_request, reply) => {
    const checks = {
      store: await storeCheck(options.db, options.storeTimeoutMs ?? 2_000),
      models: modelsCheck(options.providers()),
    };
    const ready = Object.values(checks).every((check) => check.status === 'ok');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
  });

  const { metrics } = options;
  if (!metrics) return;
  app.get('/metrics', async (request, reply) => {
    if (options.metricsRequireAuth) await checkScraper(request, options);
    const { contentType, body } = await metrics.render();
    return reply.type(contentType).header('cache-control', 'no-store').send(body);
  });
}

async function checkScraper(request: FastifyRequest, options: HealthRouteOptions): Promise<void> {
  if (options.isAdmin) {
    if (options.isAdmin(request)) return;
    if (!presentedKey(request.headers)) throw missingKeyError();
    // A wrong key is a 401; a valid API key is a 403 (it is real, just not for this).
    await options.authenticator.authenticate(request.headers);
    throw new SwitchyardError('permission_denied', 'You have insufficient permissions for this operation: /metrics takes the admin key.');
  }
  await options.authenticator.authenticate(request.headers);
}
