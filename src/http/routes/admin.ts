import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SwitchyardError, ValidationError } from '../../errors/errors.js';
import type { Gateway } from '../../gateway/gateway.js';
import type { Platform } from '../../platform/platform.js';
import { keyStatus, type KeyLimits, type KeyRecord, type WorkspaceRecord } from '../../store/store.js';
import type { UsageGroup, UsageRecord } from '../../store/usage-store.js';
import { missingKeyError, presentedKey } from '../auth.js';
import { explainIssue, jsonObjectBody } from '../validation/format-issue.js';
import { CSRF_HEADER, type UiSessions } from '../ui/ui-session.js';
import { MAX_ROTATION_GRACE_SECONDS } from '../../config/platform-schema.js';
import { isCalendarDay, LATEST_TIME_MS, LATEST_TIME_TEXT, LATEST_UNIX_SECONDS } from '../../util/unix-time.js';

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

export function workspaceJson(workspace: WorkspaceRecord) {
  return {
    object: 'workspace',
    id: workspace.id,
    name: workspace.name,
    tier: workspace.tier,
    sandboxed: workspace.sandboxed,
    created_at: seconds(workspace.createdAt),
  };
}

function limitsJson(limits: KeyLimits | null) {
  if (!limits) return null;
  return {
    requests_per_minute: limits.requestsPerMinute ?? null,
    tokens_per_minute: limits.tokensPerMinute ?? null,
    concurrent_requests: limits.concurrentRequests ?? null,
  };
}

export function keyJson(key: KeyRecord) {
  return {
    object: 'api_key',
    id: key.id,
    name: key.name,
    workspace_id: key.workspaceId,
    redacted_value: `${key.prefix}…`,
    status: keyStatus(key),
    allowed_models: key.allowedModels,
    limits: limitsJson(key.limits),
    created_at: seconds(key.createdAt),
    expires_at: seconds(key.expiresAt),
    last_used_at: seconds(key.lastUsedAt),
    revoked_at: seconds(key.revokedAt),
    rotated_from: key.rotatedFrom,
    rotated_to: key.rotatedTo,
  };
}

export function usageRecordJson(record: UsageRecord) {
  return {
    object: 'usage.record',
    audit_id: record.audit_id,
    request_id: record.request_id,
    created_at: record.created_at / 1000,
    key_id: record.key_id,
    workspace_id: record.workspace_id,
    sandboxed: record.sandboxed === 1,
    model: record.model_asked,
    route: record.route,
    provider: record.provider_id,
    stream: record.stream === 1,
    usage: {
      prompt_tokens: record.prompt_tokens,
      completion_tokens: record.completion_tokens,
      total_tokens: record.prompt_tokens + record.completion_tokens,
      reasoning_tokens: record.reasoning_tokens,
      cached_tokens: record.cached_tokens,
    },
    cost_usd: record.cost_usd,
    latency_ms: record.latency_ms,
    time_to_first_token_ms: record.ttft_ms,
    status: record.status,
    error_code: record.error_code,
    drift:
      record.drift_score === null || record.drift_score === undefined
        ? null
        : { score: Number(record.drift_score), alert: Number(record.drift_alert) === 1, layers: record.layers ? record.layers.split(', ') : [], recovery: record.recovery ?? null },
  };
}

/** An admin body or query by its schema; the first problem is a 400 naming the field, as OpenAI names it. */
export function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value === undefined ? {} : jsonObjectBody(value));
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    // Named in `param`, as OpenAI names an unknown argument.
    const unknown = [...issue.path.map(String), issue.keys[0]!].join('.');
    throw new ValidationError(`Unrecognized request argument supplied: ${unknown}`, unknown, 'unknown_parameter');
  }
  throw explainIssue(issue, [], value ?? {});
}

const LimitsBody = z.strictObject({
  requests_per_minute: z.number().int().positive().nullish(),
  tokens_per_minute: z.number().int().positive().nullish(),
  concurrent_requests: z.number().int().positive().nullish(),
});

const CreateKeyBody = z.strictObject({
  name: z.string().max(200).optional(),
  workspace_id: z.string().optional(),
  test: z.boolean().optional(),
  allowed_models: z.array(z.string().min(1)).nullish(),
  limits: LimitsBody.nullish(),
  /** Unix seconds. */
  expires_at: z.number().int().positive().nullish(),
  expires_in_seconds: z.number().int().positive().optional(),
});

const WorkspaceBody = z.strictObject({
  name: z.string().min(1).max(200),
  tier: z.string().optional(),
  sandboxed: z.boolean().optional(),
});

const Id = z.strictObject({ id: z.string().min(1) });
const USAGE_GROUPS: readonly UsageGroup[] = ['workspace', 'key', 'model', 'day'];
/**
 * `group_by=model,day`. Checked here rather than by a schema over the split list: an issue there
 * points into an array the query never held, and the 400 showed `group_by[0]` and `undefined`.
 */
const GroupBy = z
  .string()
  .optional()
  .transform((value, context) => {
    const groups = value ? value.split(',').map((part) => part.trim()).filter(Boolean) : [];
    const unknown = groups.find((group) => !(USAGE_GROUPS as readonly string[]).includes(group));
    if (unknown !== undefined) {
      context.addIssue({ code: 'custom', message: `'${unknown}'. Supported values are: ${USAGE_GROUPS.map((group) => `'${group}'`).join(', ')}` });
      return z.NEVER;
    }
    return groups as UsageGroup[];
  });
/**
 * A time in a query, Unix seconds (fractions allowed), as the whole milliseconds the store's bigint
 * columns hold: the same on SQLite and PostgreSQL (which refused `1000.5` and values past its
 * range with a 500). Beyond 0 … 9999-12-31T23:59:59Z it is a 400 naming the parameter.
 */
export const UnixSecondsQuery = z.coerce
  .number()
  .min(0)
  .max(LATEST_UNIX_SECONDS)
  .transform((seconds) => Math.round(seconds * 1000))
  .optional();
/** A day of the calendar: `2025-13-45` matched the pattern and quietly matched nothing. */
const Day = z
  .string()
  .refine(isCalendarDay, { message: 'must be a date, YYYY-MM-DD' })
  .optional();

export function toKeyLimits(limits: z.output<typeof LimitsBody> | null | undefined): KeyLimits | null {
  if (!limits) return null;
  const out: KeyLimits = {};
  if (limits.requests_per_minute) out.requestsPerMinute = limits.requests_per_minute;
  if (limits.tokens_per_minute) out.tokensPerMinute = limits.tokens_per_minute;
  if (limits.concurrent_requests) out.concurrentRequests = limits.concurrent_requests;
  return Object.keys(out).length > 0 ? out : null;
}

/** One alias with its targets and the circuit state of each, as `GET /admin/v1/routes` shows it. */
export function routeJson(route: ReturnType<Gateway['routes']>[number]) {
  return {
    object: 'route',
    alias: route.name,
    strategy: route.strategy,
    retries: route.retries,
    targets: route.targets.map((target) => ({
      model: target.resolved.publicId,
      weight: target.weight,
      timeout_ms: target.timeoutMs ?? null,
      first_chunk_timeout_ms: target.firstChunkTimeoutMs ?? null,
      circuit: {
        state: target.circuit.state,
        consecutive_failures: target.circuit.consecutiveFailures,
        opened_at: target.circuit.openedAt === undefined ? null : target.circuit.openedAt / 1000,
      },
    })),
  };
}

/**
 * `/admin/v1/…`: workspaces, keys, usage, the request log, routes and their health. Only the admin
 * key gets in; an API key gets a 403 (it is valid, just not for this), anything else a 401.
 */
import { registerPersonaAdminRoutes } from './admin-personas.js';

export function registerAdminRoutes(app: FastifyInstance, platform: Platform, gateway: Gateway, options: { sessions?: UiSessions } = {}): void {
  const { store } = platform;
  const { sessions } = options;

  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (platform.isAdmin(request.headers)) return;
    // The admin UI: its session cookie counts only with the session's CSRF token beside it.
    if (sessions?.authorizes(request.headers)) return;
    if (!presentedKey(request.headers)) {
      if (sessions?.sessionOf(request.headers)) throw new SwitchyardError('permission_denied', `A UI session must send its CSRF token in the ${CSRF_HEADER} header.`);
      throw missingKeyError();
    }
    await platform.authenticator.authenticate(request.headers);
    throw new SwitchyardError('permission_denied', 'You have insufficient permissions for this operation: the admin API takes the admin key, not an API key.');
  });

  const checkTier = (tier: string | undefined) => {
    if (tier !== undefined && !platform.config.tiers[tier]) {
      throw new ValidationError(`Unknown tier '${tier}'. Tiers: ${Object.keys(platform.config.tiers).join(', ')}.`, 'tier');
    }
  };
  const list = <T>(data: T[]) => ({ object: 'list', data });

  app.get('/workspaces', async () => list((await store.listWorkspaces()).map(workspaceJson)));
  app.post('/workspaces', async (request) => {
    const body = parse(WorkspaceBody, request.body);
    checkTier(body.tier);
    return workspaceJson(await store.createWorkspace(body));
  });
  app.get('/workspaces/:id', async (request) => {
    const { id } = parse(Id, request.params);
    const workspace = await store.getWorkspace(id);
    if (!workspace) throw new SwitchyardError('not_found', `No workspace with id '${id}'.`, { param: 'id' });
    return workspaceJson(workspace);
  });
  app.patch('/workspaces/:id', async (request) => {
    const { id } = parse(Id, request.params);
    const body = parse(WorkspaceBody.omit({ sandboxed: true }).partial(), request.body);
    checkTier(body.tier);
    const workspace = await store.updateWorkspace(id, body);
    await platform.authenticator.refresh();
    return workspaceJson(workspace);
  });

  app.get('/keys', async (request) => {
    const query = parse(z.object({ workspace_id: z.string().optional() }), request.query);
    return list((await store.listKeys({ workspaceId: query.workspace_id })).map(keyJson));
  });
  app.post('/keys', async (request) => {
    const body = parse(CreateKeyBody, request.body);
    const expiresAt = body.expires_at ? body.expires_at * 1000 : body.expires_in_seconds ? Date.now() + body.expires_in_seconds * 1000 : null;
    // A key dead on arrival is a mistake (milliseconds for seconds, a past date), never what was meant.
    if (body.expires_at && expiresAt! <= Date.now()) {
      throw new ValidationError(`Invalid value for 'expires_at': ${body.expires_at} is in the past (Unix seconds expected).`, 'expires_at');
    }
    // An expiry no date can show (it broke every listing of the store) is refused, never stored.
    if (expiresAt !== null && expiresAt > LATEST_TIME_MS) {
      const field = body.expires_at ? 'expires_at' : 'expires_in_seconds';
      throw new ValidationError(
        `Invalid value for '${field}': ${body[field]} puts the expiry after ${LATEST_TIME_TEXT} (Unix ${LATEST_UNIX_SECONDS}), the latest a key can have.`,
        field,
      );
    }
    const created = await store.createKey({
      name: body.name,
      workspaceId: body.workspace_id,
      test: body.test,
      allowedModels: body.allowed_models ?? null,
      limits: toKeyLimits(body.limits),
      expiresAt,
    });
    await platform.authenticator.refresh();
    // The only time the secret is shown.
    return { ...keyJson(created.key), value: created.secret };
  });
  app.get('/keys/:id', async (request) => {
    const { id } = parse(Id, request.params);
    const key = await store.getKey(id);
    if (!key) throw new SwitchyardError('not_found', `No API key with id '${id}'.`, { param: 'id' });
    return keyJson(key);
  });
  app.post('/keys/:id/rotate', { config: { bodyOptional: true } }, async (request) => {
    const { id } = parse(Id, request.params);
    const body = parse(z.strictObject({ grace_seconds: z.number().int().min(0).max(MAX_ROTATION_GRACE_SECONDS).optional() }), request.body);
    const rotated = await store.rotateKey(id, body.grace_seconds ?? platform.config.keys.rotationGraceSeconds);
    await platform.authenticator.refresh();
    return { ...keyJson(rotated.key), value: rotated.secret, previous: keyJson(rotated.previous) };
  });
  const revoke = async (request: FastifyRequest) => {
    const { id } = parse(Id, request.params);
    const key = await store.revokeKey(id);
    await platform.authenticator.refresh();
    return keyJson(key);
  };
  app.post('/keys/:id/revoke', { config: { bodyOptional: true } }, revoke);
  app.delete('/keys/:id', revoke);

  app.get('/routes', async () => list(gateway.routes().map(routeJson)));

  app.get('/usage', async (request) => {
    const query = parse(
      z.object({
        group_by: GroupBy,
        from: Day,
        to: Day,
        workspace_id: z.string().optional(),
        key_id: z.string().optional(),
        model: z.string().optional(),
      }),
      request.query,
    );
    const rows = await store.usage.summary(query.group_by, {
      from: query.from,
      to: query.to,
      workspaceId: query.workspace_id,
      keyId: query.key_id,
      model: query.model,
    });
    return list(rows.map((row) => ({ object: 'usage.bucket', ...row })));
  });

  app.get('/requests', async (request) => {
    const query = parse(
      z.object({
        workspace_id: z.string().optional(),
        key_id: z.string().optional(),
        model: z.string().optional(),
        status: z.enum(['completed', 'failed', 'aborted', 'rejected']).optional(),
        since: UnixSecondsQuery,
        until: UnixSecondsQuery,
        limit: z.coerce.number().int().min(1).max(1000).optional(),
        after: z.string().min(1).optional(),
      }),
      request.query,
    );
    // OpenAI's list paging: `after` is the last id of the previous page, `has_more` says whether to ask again.
    let after: { createdAt: number; auditId: string } | undefined;
    if (query.after !== undefined) {
      const cursor = await store.usage.byAuditId(query.after);
      if (!cursor) throw new SwitchyardError('invalid_value', `No request with audit id '${query.after}' to page after.`, { param: 'after' });
      after = { createdAt: cursor.created_at, auditId: cursor.audit_id };
    }
    const limit = query.limit ?? 100;
    const records = await store.usage.requests({
      workspaceId: query.workspace_id,
      keyId: query.key_id,
      model: query.model,
      status: query.status,
      since: query.since,
      until: query.until,
      limit: limit + 1,
      after,
    });
    const page = records.slice(0, limit);
    return { ...list(page.map(usageRecordJson)), first_id: page[0]?.audit_id ?? null, last_id: page.at(-1)?.audit_id ?? null, has_more: records.length > limit };
  });
  registerPersonaAdminRoutes(app, gateway);

  app.get('/requests/:id', async (request) => {
    const { id } = parse(Id, request.params);
    const record = await store.usage.byAuditId(id);
    if (!record) throw new SwitchyardError('not_found', `No request with audit id '${id}' (records are written within a second or two).`, { param: 'id' });
    return usageRecordJson(record);
  });
}
