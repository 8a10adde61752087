import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ValidationError } from '../../errors/errors.js';
import type { Gateway } from '../../gateway/gateway.js';
import type { ModelRegistry } from '../../gateway/model-registry.js';
import type { Platform } from '../../platform/platform.js';
import { registerChatRoutes } from './chat-completions.js';
import { parse, UnixSecondsQuery } from './admin.js';

export interface AdminConsoleOptions {
  platform: Platform;
  gateway: Gateway;
  registry: ModelRegistry;
  heartbeatMs: number;
}

/** Requests looked at for a target's recent error rate. */
const RECENT_WINDOW_MS = 15 * 60_000;
const RECENT_LIMIT = 1000;

/**
 * What the admin UI needs beyond the platform's admin API: usage as time series, tiers, every
 * model with its circuit, recent error rate and (local ones) loaded state, and a playground that
 * calls any model or alias as the admin.
 * Registered in the admin scope, so the admin key (or a UI session) guards all of it.
 */
export function registerAdminConsoleRoutes(app: FastifyInstance, options: AdminConsoleOptions): void {
  const { platform, gateway, registry } = options;

  app.get('/usage/series', async (request) => {
    const query = parse(
      z.object({
        bucket: z.enum(['minute', 'day']).default('minute'),
        since: UnixSecondsQuery,
        until: UnixSecondsQuery,
        workspace_id: z.string().optional(),
        key_id: z.string().optional(),
        model: z.string().optional(),
      }),
      request.query,
    );
    const until = query.until ?? Date.now();
    // By default the last 60 minutes or 30 days, the current (partial) bucket included.
    const size = query.bucket === 'minute' ? 60_000 : 86_400_000;
    const current = Math.floor((until - 1) / size) * size;
    const since = query.since ?? current - (query.bucket === 'minute' ? 59 : 29) * size;
    const maxBuckets = query.bucket === 'minute' ? 24 * 60 : 366;
    if (until <= since) throw new ValidationError('`until` must be after `since`.', 'until');
    if ((until - since) / size > maxBuckets) {
      throw new ValidationError(`At most ${maxBuckets} ${query.bucket} buckets per call.`, 'since');
    }
    const { points, sampled } = await platform.store.usage.series(query.bucket, since, until, {
      workspaceId: query.workspace_id,
      keyId: query.key_id,
      model: query.model,
    });
    return { object: 'usage.series', bucket: query.bucket, latency_sampled: sampled, data: points };
  });

  app.get('/tiers', async () => ({
    object: 'list',
    default_tier: platform.config.defaultTier,
    data: Object.entries(platform.config.tiers).map(([name, tier]) => ({
      object: 'tier',
      name,
      requests_per_minute: tier.requestsPerMinute ?? null,
      tokens_per_minute: tier.tokensPerMinute ?? null,
      concurrent_requests: tier.concurrentRequests ?? null,
      monthly_token_budget: tier.monthlyTokenBudget ?? null,
      allowed_models: tier.allowedModels ?? null,
    })),
  }));

  // Aliases and their circuits are `GET /routes` (admin.ts); this is every model with the same health.
  app.get('/models', async () => {
    const health = new Map(gateway.targetHealth().map((entry) => [entry.target, entry]));
    const recent = await platform.store.usage.requests({ since: Date.now() - RECENT_WINDOW_MS, limit: RECENT_LIMIT });
    const counts = new Map<string, { requests: number; errors: number }>();
    for (const record of recent) {
      const target = routeTarget(record.route);
      if (!target) continue;
      const count = counts.get(target) ?? { requests: 0, errors: 0 };
      count.requests += 1;
      if (record.status === 'failed') count.errors += 1;
      counts.set(target, count);
    }
    const loaded = new Map<string, boolean>();
    for (const provider of registry.allProviders()) {
      const states = (provider as { modelStates?: () => Array<{ id: string; loaded: boolean }> }).modelStates?.call(provider);
      for (const state of states ?? []) loaded.set(`${provider.id}/${state.id}`, state.loaded);
    }
    return {
      object: 'list',
      recent_window_seconds: RECENT_WINDOW_MS / 1000,
      aliases: gateway.aliasNames(),
      data: registry.list().map((model) => {
        const breaker = health.get(model.publicId);
        const count = counts.get(model.publicId) ?? { requests: 0, errors: 0 };
        return {
          object: 'model',
          id: model.publicId,
          provider: model.provider.id,
          kind: model.provider.kind,
          /** Local engine models only: whether the weights are in memory now. */
          loaded: loaded.get(model.publicId) ?? null,
          circuit: breaker?.state ?? 'closed',
          consecutive_failures: breaker?.consecutiveFailures ?? 0,
          recent_requests: count.requests,
          recent_error_rate: count.requests === 0 ? null : count.errors / count.requests,
        };
      }),
    };
  });

  // The playground: the chat API itself, called as the admin (no key, no workspace; accounted as such).
  void app.register(
    async (scope) => {
      scope.addHook('onRequest', async (request) => {
        request.caller = { keyId: null };
      });
      registerChatRoutes(scope, { gateway, heartbeatMs: options.heartbeatMs, admit: platform.admit.bind(platform) });
    },
    { prefix: '/playground' },
  );
}

/**
 * The target a recorded call ended on: the last link of its route chain
 * (`alias:fast > sandbox/echo (after 1 fallback)` is `sandbox/echo`), so calls made through an
 * alias or a persona count for the model that answered (or failed) them.
 */
function routeTarget(route: string): string {
  return route.replace(/ \(after \d+ fallbacks?\)$/, '').split(' > ').at(-1)?.trim() ?? '';
}
