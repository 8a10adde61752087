import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import type { Tier } from '../config/platform-schema.js';
import { SwitchyardError, toSwitchyardError } from '../errors/errors.js';
import { RECOVERY_AUDIT_SUFFIX, type Caller, type CallSummary, type Gateway } from '../gateway/gateway.js';
import type { ChatRequest } from '../providers/provider.js';
import { estimatePromptTokens } from '../chat/token-count.js';
import { presentedKey, type Authenticator } from '../http/auth.js';
import { isPlatformCaller, StoreAuthenticator, type PlatformCaller } from '../http/store-authenticator.js';
import { formatResetDuration } from '../limits/duration.js';
import { monthOf, type Admission, type Budget, type Limiter, type LimitScope, type Refusal } from '../limits/limiter.js';
import { MemoryLimiter } from '../limits/memory-limiter.js';
import { RedisLimiter } from '../limits/redis-limiter.js';
import { newSecret } from '../store/key-secrets.js';
import { Store } from '../store/store.js';
import type { UsageRecord } from '../store/usage-store.js';
import { UsageRecorder } from './usage-recorder.js';
import { UsageJournal } from './usage-journal.js';
import path from 'node:path';

export interface OpenPlatformOptions {
  config: Config;
  env?: NodeJS.ProcessEnv;
  /** Keys accepted beside the store's (the config's `auth.keys`, `SWITCHYARD_API_KEYS`). */
  fallback?: Authenticator;
  /** Prefix of every Redis key (tests isolate themselves). */
  redisKeyPrefix?: string;
  /** Called with each SQL statement (tests). */
  onQuery?: (sql: string) => void;
}

/** What one admitted call holds until it ends: its scopes, its reservation, its lease. */
interface Ticket {
  scopes: LimitScope[];
  budget: Budget | undefined;
  admission: Admission;
  /** Prompt tokens counted before the call plus the output it may make (0 when nothing needs it). */
  estimate: number;
  promptEstimate: number;
  /** Tokens of calls made inside this one under their own audit id (a persona's recovery), settled with it. */
  extraTokens: number;
}

const RATE_LIMIT_HEADERS = {
  requests: ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  tokens: ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
} as const;

/** `openai/*`, `*`, exact names. */
function modelMatcher(patterns: readonly string[]): (name: string) => boolean {
  const expressions = patterns.map(
    (pattern) => new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`),
  );
  return (name) => expressions.some((expression) => expression.test(name));
}

const DAY_MS = 86_400_000;
let cachedDay = { start: 0, end: 0, text: '' };

/** `2026-11-24`: the UTC day of a time, formatted once per day rather than once per request. */
function utcDay(time: number): string {
  if (time < cachedDay.start || time >= cachedDay.end) {
    const start = Math.floor(time / DAY_MS) * DAY_MS;
    cachedDay = { start, end: start + DAY_MS, text: new Date(start).toISOString().slice(0, 10) };
  }
  return cachedDay.text;
}

/**
 * The API platform around the gateway: the key store and its authenticator, rate limits, usage
 * accounting and the admin key. `buildServer` wires it into the routes.
 */
export class Platform {
  /** The admin key, when this start created it: printed once, never again. */
  adminKeyCreated: string | undefined;
  /** Background failures go here; the server's logger once the server exists. */
  log: Pick<FastifyBaseLogger, 'error' | 'warn'> = { error: () => {}, warn: () => {} };
  private readonly tickets = new Map<string, Ticket>();
  /**
   * Chat calls between admission and their end, with the request as admitted (what a call cut
   * before its usage came is estimated from); shutdown waits for them before the last flush.
   */
  private readonly inFlight = new Map<string, ChatRequest>();
  private readonly matchers = new WeakMap<readonly string[], (name: string) => boolean>();
  private readonly warnedTiers = new Set<string>();
  private adminDigests: string[] = [];
  private gateway: Gateway | undefined;

  private constructor(
    readonly config: Config,
    readonly store: Store,
    readonly authenticator: StoreAuthenticator,
    readonly limiter: Limiter,
    readonly recorder: UsageRecorder,
  ) {}

  static async open(options: OpenPlatformOptions): Promise<Platform> {
    const { config } = options;
    const env = options.env ?? process.env;
    const store = await Store.open({
      dataDir: config.store.dataDir,
      databaseUrl: config.store.databaseUrl ?? (env.DATABASE_URL || undefined),
      env,
      defaultTier: config.defaultTier,
      ...(options.onQuery ? { onQuery: options.onQuery } : {}),
    });
    // Background failures reach the server's log, which exists only once the platform is attached.
    const created: { platform?: Platform } = {};
    const onError = (error: unknown, what: string) => created.platform?.log.error({ err: error }, `platform: failed ${what}`);
    const loadBudgetUsage = async (budgetId: string, month: string) => store.usage.tokensSince(budgetId.replace(/^ws:/, ''), `${month}-01`);
    const redisUrl = config.limits.redisUrl ?? (env.REDIS_URL || undefined);
    const concurrencyRetryAfterMs = config.limits.concurrencyRetryAfterMs;
    const limiter: Limiter = redisUrl
      ? new RedisLimiter({ url: redisUrl, loadBudgetUsage, concurrencyRetryAfterMs, onError, ...(options.redisKeyPrefix ? { keyPrefix: options.redisKeyPrefix } : {}) })
      : new MemoryLimiter({ loadBudgetUsage, concurrencyRetryAfterMs });
    const authenticator = new StoreAuthenticator(store, {
      pollMs: config.keys.changePollMs,
      onError,
      ...(options.fallback ? { fallback: options.fallback } : {}),
    });
    // Records a killed process had made durable are written before anything else is served.
    const journal = config.usage.journal ? new UsageJournal(path.join(config.store.dataDir, 'journal')) : undefined;
    if (journal) {
      const orphaned = journal.orphaned();
      if (orphaned.records.length > 0) await store.usage.insertBatch(orphaned.records);
      journal.discard(orphaned.files);
    }
    const recorder = new UsageRecorder(store.usage, { flushIntervalMs: config.usage.flushIntervalMs, batchSize: config.usage.batchSize, onError, ...(journal ? { journal } : {}) });
    const platform = new Platform(config, store, authenticator, limiter, recorder);
    created.platform = platform;
    try {
      await authenticator.start();
      await platform.setUpAdminKey(env);
    } catch (error) {
      await platform.close();
      throw error;
    }
    return platform;
  }

  /** Lets the platform resolve models the way the gateway will (for permissions and estimates). */
  attach(gateway: Gateway, log: Platform['log']): void {
    this.gateway = gateway;
    this.log = log;
  }

  // ── admin key ────────────────────────────────────────────────────────────

  private async setUpAdminKey(env: NodeJS.ProcessEnv): Promise<void> {
    const digests: string[] = [];
    if (env.SWITCHYARD_ADMIN_KEY) digests.push(this.store.hasher.digest(env.SWITCHYARD_ADMIN_KEY));
    let stored = await this.store.getSetting('admin_key_hash');
    if (stored === undefined && digests.length === 0) {
      const secret = newSecret('admin');
      const digest = this.store.hasher.digest(secret);
      stored = await this.store.setSettingOnce('admin_key_hash', digest);
      // Of several nodes starting at once, the one whose key was kept prints it.
      if (stored === digest) this.adminKeyCreated = secret;
    }
    if (stored !== undefined) digests.push(stored);
    this.adminDigests = digests;
  }

  /** The admin keys in force, as their digests: what an admin UI session is bound to. */
  adminKeyBinding(): string {
    return this.adminDigests.join(',');
  }

  /** Whether the request carries the admin key (compared in constant time). */
  isAdmin(headers: IncomingHttpHeaders): boolean {
    const secret = presentedKey(headers);
    if (!secret) return false;
    const digest = Buffer.from(this.store.hasher.digest(secret));
    let match = false;
    for (const known of this.adminDigests) {
      const candidate = Buffer.from(known);
      if (candidate.length === digest.length && timingSafeEqual(candidate, digest)) match = true;
    }
    return match;
  }

  // ── admission ────────────────────────────────────────────────────────────

  private tierOf(caller: PlatformCaller): Tier {
    const name = caller.identity.workspace.tier;
    const tier = this.config.tiers[name];
    if (!tier) {
      if (!this.warnedTiers.has(name)) {
        this.warnedTiers.add(name);
        this.log.warn(`workspace ${caller.workspaceId} has tier '${name}', which the config does not define: no tier limits apply`);
      }
      return {};
    }
    return tier;
  }

  /** Whether the caller's key or tier limits the models it may call (else every model is listed). */
  limitsModels(caller: Caller): boolean {
    if (!isPlatformCaller(caller)) return false;
    return caller.identity.key.allowedModels != null || (caller.sandboxed !== true && this.tierOf(caller).allowedModels != null);
  }

  /** The model as the gateway resolves it for this caller; undefined when it does not (the gateway answers that itself). */
  private resolved(model: string, caller: Caller) {
    try {
      return this.gateway?.resolveModel(model, caller);
    } catch {
      return undefined;
    }
  }

  /**
   * The 403 `model_not_allowed` for a model the caller's key or tier does not allow, by the name
   * asked or the one it resolves to: what a chat call's admission checks, and a Realtime session's
   * upgrade, once, before it opens.
   */
  assertModelAllowed(caller: Caller, model: string, resolved = this.resolved(model, caller)): void {
    if (!isPlatformCaller(caller)) return;
    if (!this.mayUseModel(caller, resolved ? [model, resolved.publicId] : [model])) {
      throw new SwitchyardError('model_not_allowed', `This API key is not allowed to use the model \`${model}\`.`, { param: 'model' });
    }
  }

  /** Whether the caller's key and tier allow a model known by any of `names` (its listing in /v1/models). */
  mayUseModel(caller: Caller, names: string[]): boolean {
    if (!isPlatformCaller(caller)) return true;
    const { key } = caller.identity;
    return this.allows(key.allowedModels, names) && (caller.sandboxed === true || this.allows(this.tierOf(caller).allowedModels, names));
  }

  private allows(patterns: readonly string[] | null | undefined, names: string[]): boolean {
    if (!patterns) return true;
    let matcher = this.matchers.get(patterns);
    if (!matcher) {
      matcher = modelMatcher(patterns);
      this.matchers.set(patterns, matcher);
    }
    return names.some(matcher);
  }

  /**
   * Before a chat call: model permissions, then limits (one atomic check-and-take). Sets the
   * rate-limit headers; throws a 403/429 to refuse (and records the refusal). The returned
   * release ends the call's hold if `onCallEnd` has not (it always has, unless a bug intervenes).
   */
  async admit(request: FastifyRequest, reply: FastifyReply, body: ChatRequest, auditId: string): Promise<() => void> {
    const caller = request.caller;
    this.inFlight.set(auditId, body);
    const release = this.releaseOf(auditId);
    if (!isPlatformCaller(caller)) return release;
    try {
      const { key, workspace } = caller.identity;
      const tier = this.tierOf(caller);
      const resolved = this.resolved(body.model, caller);
      this.assertModelAllowed(caller, body.model, resolved);

      const scopes: LimitScope[] = [];
      // Under the chain's first key: a rotated key keeps its window, and during the grace the old
      // and new secrets share one budget (not one each).
      if (key.limits) scopes.push({ id: `key:${key.lineageId}`, limits: key.limits });
      if (tier.requestsPerMinute || tier.tokensPerMinute || tier.concurrentRequests) scopes.push({ id: `ws:${workspace.id}`, limits: tier });
      const budget: Budget | undefined =
        tier.monthlyTokenBudget && !caller.sandboxed ? { id: `ws:${workspace.id}`, limit: tier.monthlyTokenBudget, month: monthOf(Date.now()) } : undefined;
      if (scopes.length === 0 && !budget) return release;

      // Only when a tokens/min limit or a budget needs the estimate (a call cut before its usage
      // is known is charged from it).
      const needsTokens = budget !== undefined || scopes.some((scope) => scope.limits.tokensPerMinute);
      const maxOutput = body.max_completion_tokens ?? body.max_tokens ?? resolved?.info?.maxOutputTokens ?? this.config.limits.defaultMaxOutputTokens;
      const promptEstimate = needsTokens ? estimatePromptTokens(body.messages) : 0;
      const estimate = needsTokens ? promptEstimate + maxOutput * (body.n ?? 1) : 0;
      const tooLarge = scopes.find((scope) => scope.limits.tokensPerMinute && estimate > scope.limits.tokensPerMinute);
      if (tooLarge) {
        // No wait would let it through: say so, and tell the SDKs not to retry.
        setRateLimitHeaders(reply, await this.limiter.peek(scopes));
        reply.header('x-should-retry', 'false');
        throw new SwitchyardError(
          'rate_limit_exceeded',
          `Request too large for ${scopeName(tooLarge.id, key.id)} on tokens per min (TPM): Limit ${tooLarge.limits.tokensPerMinute}, Requested ${estimate}. The input or output tokens must be reduced in order to run successfully.`,
          { type: 'tokens' },
        );
      }
      const admission = await this.limiter.acquire({ scopes, tokens: estimate, leaseId: auditId, budget });
      setRateLimitHeaders(reply, admission);
      if (admission.refusal) throw refusalError(admission.refusal, reply, key.id);
      this.tickets.set(auditId, { scopes, budget, admission, estimate, promptEstimate, extraTokens: 0 });
      return release;
    } catch (error) {
      this.inFlight.delete(auditId);
      this.recordRefusal(request, body, auditId, toSwitchyardError(error));
      throw error;
    }
  }

  /** The rate-limit headers for /v1 routes that are not model calls (nothing is taken). */
  async peekHeaders(caller: Caller, reply: FastifyReply): Promise<void> {
    if (!isPlatformCaller(caller)) return;
    const tier = this.tierOf(caller);
    const scopes: LimitScope[] = [];
    if (caller.identity.key.limits) scopes.push({ id: `key:${caller.identity.key.lineageId}`, limits: caller.identity.key.limits });
    if (tier.requestsPerMinute || tier.tokensPerMinute) scopes.push({ id: `ws:${caller.workspaceId}`, limits: tier });
    if (scopes.length === 0) return;
    setRateLimitHeaders(reply, await this.limiter.peek(scopes));
  }

  /** The call's release, made without a named closure (tsx's keep-names transform would name it at a cost on every request). */
  private releaseOf(auditId: string): () => void {
    return () => this.release(auditId);
  }

  private release(auditId: string): void {
    this.inFlight.delete(auditId);
    const ticket = this.tickets.get(auditId);
    if (!ticket) return;
    this.tickets.delete(auditId);
    this.settle(auditId, ticket, ticket.extraTokens);
  }

  private settle(auditId: string, ticket: Ticket, tokensUsed: number): void {
    this.limiter
      .settle({
        scopes: ticket.scopes,
        leaseId: auditId,
        windowStarts: ticket.admission.windowStarts,
        tokenDelta: ticket.estimate > 0 ? tokensUsed - ticket.estimate : 0,
        tokensUsed,
        budget: ticket.budget,
      })
      .catch((error) => this.log.error({ err: error }, 'platform: failed settling a rate limit'));
  }

  // ── accounting ───────────────────────────────────────────────────────────

  /**
   * The gateway's `onCallEnd`: settles the call's limits and queues its usage record; the promise
   * settles once the record is durable (journaled), which the call's answer waits for.
   */
  onCallEnd(summary: CallSummary): Promise<void> | undefined {
    const auditId = summary.auditId;
    const usage = summary.usage;
    const admitted = auditId === undefined ? undefined : this.inFlight.get(auditId);
    const ticket = auditId === undefined ? undefined : this.tickets.get(auditId);
    // One count for the limits and the record: a call cut before its usage came (the client left,
    // the backend broke off) is charged and recorded with what was served, never 0 in one and
    // the estimate in the other.
    const served = usage
      ? { prompt: usage.prompt_tokens ?? 0, completion: usage.completion_tokens ?? 0 }
      : servedWithoutUsage(summary, ticket, admitted);
    const tokens = served.prompt + served.completion;
    if (auditId) {
      this.inFlight.delete(auditId);
      if (ticket) {
        this.tickets.delete(auditId);
        this.settle(auditId, ticket, tokens + ticket.extraTokens);
      } else if (usage && auditId.endsWith(RECOVERY_AUDIT_SUFFIX)) {
        // A persona's recovery: no admission of its own, its tokens go with the call it recovers
        // (which ends after it), so the limits and the budget see what its usage record says.
        const parent = this.tickets.get(auditId.slice(0, -RECOVERY_AUDIT_SUFFIX.length));
        if (parent) parent.extraTokens += tokens;
      }
    }
    const now = Date.now();
    const sandboxed = summary.caller.sandboxed === true;
    const cached = usage?.prompt_tokens_details?.cached_tokens ?? 0;
    return this.recorder.record({
      audit_id: auditId ?? summary.requestId,
      request_id: summary.requestId,
      created_at: now,
      day: utcDay(now),
      key_id: summary.caller.keyId,
      workspace_id: summary.caller.workspaceId ?? null,
      sandboxed: sandboxed ? 1 : 0,
      model_asked: summary.modelAsked,
      route: summary.route,
      provider_id: summary.providerId,
      stream: summary.stream ? 1 : 0,
      prompt_tokens: served.prompt,
      completion_tokens: served.completion,
      reasoning_tokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0,
      cached_tokens: cached,
      cost_usd: sandboxed ? 0 : this.cost(summary.target ?? summary.route, served.prompt, cached, served.completion),
      latency_ms: Math.round(summary.durationMs * 1000) / 1000,
      ttft_ms: summary.timeToFirstChunkMs === undefined ? null : Math.round(summary.timeToFirstChunkMs * 1000) / 1000,
      status: summary.status,
      error_code: summary.error ? String(summary.error.code) : null,
      ...(summary.drift
        ? { drift_score: summary.drift.score, drift_alert: summary.drift.alert ? 1 : 0, layers: summary.drift.layers.join(', '), recovery: summary.drift.recovery ?? null }
        : {}),
    });
  }

  private recordRefusal(request: FastifyRequest, body: ChatRequest, auditId: string, error: SwitchyardError): void {
    const caller = request.caller;
    const now = Date.now();
    const record: UsageRecord = {
      audit_id: auditId,
      request_id: request.id,
      created_at: now,
      day: utcDay(now),
      key_id: caller.keyId,
      workspace_id: caller.workspaceId ?? null,
      sandboxed: caller.sandboxed ? 1 : 0,
      model_asked: body.model,
      route: '',
      provider_id: '',
      stream: body.stream === true ? 1 : 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      reasoning_tokens: 0,
      cached_tokens: 0,
      cost_usd: 0,
      latency_ms: 0,
      ttft_ms: null,
      status: 'rejected',
      error_code: String(error.code),
    };
    this.recorder.record(record);
  }

  /** USD from the config's per-million prices, by the answering model's public id (`openai/gpt-4o`) or bare name. */
  private cost(model: string, promptTokens: number, cachedTokens: number, completionTokens: number): number {
    const prices = this.config.usage.prices;
    const price = prices[model] ?? prices[model.slice(model.indexOf('/') + 1)];
    if (!price) return 0;
    const uncached = Math.max(0, promptTokens - cachedTokens);
    return (uncached * price.input + cachedTokens * (price.cachedInput ?? price.input) + completionTokens * price.output) / 1_000_000;
  }

  // ── shutdown ─────────────────────────────────────────────────────────────

  /** Waits (briefly) for calls still ending, writes every usage record, closes connections. */
  async close(): Promise<void> {
    const deadline = Date.now() + 2_000;
    while (this.inFlight.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await this.authenticator.close();
    await this.recorder.close();
    this.recorder.closeJournal();
    await this.limiter.close();
    await this.store.close();
  }
}

/**
 * What a call whose usage never came (a stream cut by the client or the backend) was served, and
 * is charged and recorded with: once the backend answered, its prompt as estimated before the
 * call and a completion token per chunk relayed (OpenAI-style streams send a token per chunk), a
 * lower bound of what the backend billed; before that, nothing. OpenAI, too, bills what was
 * generated for a client that disconnects.
 */
function servedWithoutUsage(summary: CallSummary, ticket: Ticket | undefined, admitted: ChatRequest | undefined): { prompt: number; completion: number } {
  if (summary.timeToFirstChunkMs === undefined) return { prompt: 0, completion: 0 };
  // The admission's own estimate when it made one (what the limits reserved), else the same estimate now.
  const prompt = ticket && ticket.estimate > 0 ? ticket.promptEstimate : admitted ? estimatePromptTokens(admitted.messages) : 0;
  return { prompt, completion: summary.streamedChunks ?? 0 };
}

function setRateLimitHeaders(reply: FastifyReply, states: Pick<Admission, 'requests' | 'tokens'>): void {
  for (const dimension of ['requests', 'tokens'] as const) {
    const state = states[dimension];
    if (!state) continue;
    const [limit, remaining, reset] = RATE_LIMIT_HEADERS[dimension];
    reply.header(limit, String(state.limit));
    reply.header(remaining, String(state.remaining));
    reply.header(reset, formatResetDuration(state.resetMs));
  }
}

/** A scope as a message names it; a key scope (counted under its chain's first key) by the key that called. */
function scopeName(scopeId: string, keyId: string): string {
  return scopeId.startsWith('key:') ? `API key ${keyId}` : `workspace ${scopeId.slice(3)}`;
}

/** A refusal in OpenAI's words: `type` says which limit (`requests` / `tokens`), as OpenAI's 429s do. */
function refusalError(refusal: Refusal, reply: FastifyReply, keyId: string): SwitchyardError {
  const retryAfterSeconds = refusal.retryAfterMs === undefined ? undefined : Math.max(0.001, refusal.retryAfterMs / 1000);
  const wait = refusal.retryAfterMs === undefined ? '' : ` Please try again in ${formatResetDuration(refusal.retryAfterMs)}.`;
  const where = scopeName(refusal.scopeId, keyId);
  switch (refusal.kind) {
    case 'requests':
      return new SwitchyardError(
        'rate_limit_exceeded',
        `Rate limit reached for ${where} on requests per min (RPM): Limit ${refusal.limit}, Used ${refusal.used}, Requested ${refusal.requested}.${wait}`,
        { type: 'requests', ...(retryAfterSeconds ? { retryAfterSeconds } : {}) },
      );
    case 'tokens':
      return new SwitchyardError(
        'rate_limit_exceeded',
        `Rate limit reached for ${where} on tokens per min (TPM): Limit ${refusal.limit}, Used ${refusal.used}, Requested ${refusal.requested}.${wait}`,
        { type: 'tokens', ...(retryAfterSeconds ? { retryAfterSeconds } : {}) },
      );
    case 'concurrency':
      return new SwitchyardError(
        'rate_limit_exceeded',
        `Rate limit reached for ${where} on concurrent requests: Limit ${refusal.limit}, In flight ${refusal.used}.${wait}`,
        { type: 'requests', ...(retryAfterSeconds ? { retryAfterSeconds } : {}) },
      );
    case 'quota':
      // Waiting does not help until the month turns: tell the SDKs not to retry.
      reply.header('x-should-retry', 'false');
      return new SwitchyardError(
        'insufficient_quota',
        `You exceeded your current quota: ${where} has used its monthly budget of ${refusal.limit} tokens. Ask an admin for a larger tier.`,
      );
    default: {
      const never: never = refusal.kind;
      throw new Error(`unknown refusal ${String(never)}`);
    }
  }
}
