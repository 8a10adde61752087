/**
 * Rate limits the OpenAI way: requests per minute, tokens per minute and requests in flight, for a
 * key and for its workspace, plus a monthly token budget per workspace.
 *
 * Each scope has a fixed one-minute window that opens with its first request (a counter that
 * expires): a burst sees exactly the limit, counted atomically — in memory, or in Redis across
 * every node. Tokens are reserved with an estimate before the call and settled with the real usage
 * after it; a request in flight holds a lease until it ends.
 */

export interface LimitSet {
  requestsPerMinute?: number | undefined;
  tokensPerMinute?: number | undefined;
  concurrentRequests?: number | undefined;
}

/** One thing limits apply to: `key:<id>` or `ws:<id>`. */
export interface LimitScope {
  id: string;
  limits: LimitSet;
}

export interface Budget {
  /** Usually the workspace's scope id. */
  id: string;
  /** Tokens per calendar month (UTC). */
  limit: number;
  /** `YYYY-MM`. */
  month: string;
}

export interface AcquireInput {
  scopes: readonly LimitScope[];
  /** Estimated tokens: the prompt plus the largest output asked for. */
  tokens: number;
  /** Identifies the request's concurrency lease. */
  leaseId: string;
  budget?: Budget | undefined;
}

/** What the `x-ratelimit-*` headers of one dimension say. */
export interface WindowState {
  limit: number;
  remaining: number;
  resetMs: number;
}

export type RefusalKind = 'requests' | 'tokens' | 'concurrency' | 'quota';

export interface Refusal {
  kind: RefusalKind;
  scopeId: string;
  limit: number;
  used: number;
  requested: number;
  /** How long until a retry can succeed; undefined for the monthly budget. */
  retryAfterMs: number | undefined;
}

export interface Admission {
  requests: WindowState | undefined;
  tokens: WindowState | undefined;
  refusal: Refusal | undefined;
  /** Per scope, when its window opened (a settlement applies only to the window it reserved in). */
  windowStarts: number[];
}

export interface SettleInput {
  scopes: readonly LimitScope[];
  leaseId: string;
  windowStarts: readonly number[];
  /** Real tokens minus the estimate (negative gives tokens back). */
  tokenDelta: number;
  /** Real tokens, added to the budget. */
  tokensUsed: number;
  budget?: Budget | undefined;
}

export interface Limiter {
  readonly kind: 'memory' | 'redis';
  acquire(input: AcquireInput): Promise<Admission>;
  settle(input: SettleInput): Promise<void>;
  /** The headers' view without taking anything (routes that are not model calls). */
  peek(scopes: readonly LimitScope[]): Promise<Pick<Admission, 'requests' | 'tokens'>>;
  close(): Promise<void>;
}

export const WINDOW_MS = 60_000;
/** A lease outlives a crashed node by this much at most. Streams longer than this stop counting. */
export const LEASE_MS = 10 * 60_000;

/** A scope's counters at one instant, as both implementations read them. */
export interface ScopeCounters {
  start: number;
  requests: number;
  tokens: number;
  inFlight: number;
}

/**
 * The one decision both implementations make (the Redis script mirrors it): refuse on the first
 * limit that the request would cross, else admit. `counters` are before the request.
 */
export function decide(
  input: AcquireInput,
  counters: readonly ScopeCounters[],
  now: number,
  budgetUsed: number,
  concurrencyRetryAfterMs: number,
): Refusal | undefined {
  if (input.budget && budgetUsed >= input.budget.limit) {
    return { kind: 'quota', scopeId: input.budget.id, limit: input.budget.limit, used: budgetUsed, requested: input.tokens, retryAfterMs: undefined };
  }
  for (let index = 0; index < input.scopes.length; index++) {
    const { id, limits } = input.scopes[index]!;
    const state = counters[index]!;
    const reset = state.start + WINDOW_MS - now;
    if (limits.requestsPerMinute && state.requests + 1 > limits.requestsPerMinute) {
      return { kind: 'requests', scopeId: id, limit: limits.requestsPerMinute, used: state.requests, requested: 1, retryAfterMs: reset };
    }
    if (limits.tokensPerMinute && state.tokens + input.tokens > limits.tokensPerMinute) {
      return { kind: 'tokens', scopeId: id, limit: limits.tokensPerMinute, used: state.tokens, requested: input.tokens, retryAfterMs: reset };
    }
    if (limits.concurrentRequests && state.inFlight + 1 > limits.concurrentRequests) {
      return { kind: 'concurrency', scopeId: id, limit: limits.concurrentRequests, used: state.inFlight, requested: 1, retryAfterMs: concurrencyRetryAfterMs };
    }
  }
  return undefined;
}

/** For each dimension, the scope closest to its limit: that is what the headers report. */
export function headerStates(
  scopes: readonly LimitScope[],
  counters: readonly ScopeCounters[],
  now: number,
): Pick<Admission, 'requests' | 'tokens'> {
  let requests: WindowState | undefined;
  let tokens: WindowState | undefined;
  scopes.forEach(({ limits }, index) => {
    const state = counters[index]!;
    const resetMs = Math.max(0, state.start + WINDOW_MS - now);
    if (limits.requestsPerMinute) {
      const remaining = Math.max(0, limits.requestsPerMinute - state.requests);
      if (!requests || remaining < requests.remaining) requests = { limit: limits.requestsPerMinute, remaining, resetMs: state.requests === 0 ? 0 : resetMs };
    }
    if (limits.tokensPerMinute) {
      const remaining = Math.max(0, limits.tokensPerMinute - state.tokens);
      if (!tokens || remaining < tokens.remaining) tokens = { limit: limits.tokensPerMinute, remaining, resetMs: state.tokens === 0 ? 0 : resetMs };
    }
  });
  return { requests, tokens };
}

export function monthOf(time: number): string {
  return new Date(time).toISOString().slice(0, 7);
}
