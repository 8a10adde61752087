import { Redis } from 'ioredis';
import {
  decide,
  headerStates,
  LEASE_MS,
  WINDOW_MS,
  type AcquireInput,
  type Admission,
  type Limiter,
  type LimitScope,
  type ScopeCounters,
  type SettleInput,
} from './limiter.js';
import { TurnBatch } from '../util/turn-batch.js';

/**
 * Check-and-take in one script, so that every node sees one sequence of counters: the limit holds
 * exactly across nodes, not limit × nodes. Redis's own clock is used, so node clocks may differ.
 * It mirrors `decide()` in limiter.ts.
 *
 * KEYS: per scope its window hash and its lease set; then the budget counter (or a placeholder).
 * ARGV: scope count, window ms, tokens, lease id, lease ms, budget limit (0: none), then per scope
 * requests/min, tokens/min, concurrency (0: none).
 * Returns: kind ('ok' or what refused), refused scope index, now, budget used, then per scope its
 * window start, requests, tokens, in flight (after taking when 'ok').
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
local lease = ARGV[4]
local leaseMs = tonumber(ARGV[5])
local budgetLimit = tonumber(ARGV[6])
local budgetUsed = 0
if budgetLimit > 0 then budgetUsed = tonumber(redis.call('GET', KEYS[2 * n + 1]) or '0') end
local s, r, k, c = {}, {}, {}, {}
for i = 1, n do
  local h = redis.call('HMGET', KEYS[2 * i - 1], 's', 'r', 't')
  s[i] = tonumber(h[1]); r[i] = tonumber(h[2]) or 0; k[i] = tonumber(h[3]) or 0
  if s[i] == nil or now >= s[i] + window then s[i] = now; r[i] = 0; k[i] = 0 end
  redis.call('ZREMRANGEBYSCORE', KEYS[2 * i], '-inf', now)
  c[i] = redis.call('ZCARD', KEYS[2 * i])
end
local function result(kind, index)
  local out = { kind, index, now, budgetUsed }
  for i = 1, n do table.insert(out, s[i]); table.insert(out, r[i]); table.insert(out, k[i]); table.insert(out, c[i]) end
  return out
end
if budgetLimit > 0 and budgetUsed >= budgetLimit then return result('quota', 0) end
for i = 1, n do
  local rpm = tonumber(ARGV[6 + 3 * i - 2]); local tpm = tonumber(ARGV[6 + 3 * i - 1]); local conc = tonumber(ARGV[6 + 3 * i])
  if rpm > 0 and r[i] + 1 > rpm then return result('requests', i) end
  if tpm > 0 and k[i] + tokens > tpm then return result('tokens', i) end
  if conc > 0 and c[i] + 1 > conc then return result('concurrency', i) end
end
for i = 1, n do
  r[i] = r[i] + 1; k[i] = k[i] + tokens
  redis.call('HSET', KEYS[2 * i - 1], 's', s[i], 'r', r[i], 't', k[i])
  redis.call('PEXPIREAT', KEYS[2 * i - 1], s[i] + window)
  if tonumber(ARGV[6 + 3 * i]) > 0 then
    redis.call('ZADD', KEYS[2 * i], now + leaseMs, lease)
    redis.call('PEXPIRE', KEYS[2 * i], leaseMs)
    c[i] = c[i] + 1
  end
end
return result('ok', 0)
`;

/**
 * Settles every call that ended in one turn of the event loop, in one script: each call's lease
 * leaves its concurrency sets, its token estimate is corrected in the window it was taken from, and
 * its tokens count against the month's budget. One command for many calls instead of one per call:
 * the per-command cost (encoding, a promise, a reply) was most of what Redis added to a request.
 *
 * A settlement may be sent again (its reply was lost to a failing connection): each call's marker
 * (SET NX) lets its tokens count once, while freeing its leases is the same however often it runs.
 *
 * KEYS: per call, its scopes' window hashes and lease sets (as ACQUIRE), then its budget counter
 * (or the placeholder '-'), then its marker. ARGV: call count, budget ttl ms, marker ttl ms, then
 * per call: scope count, lease id, token delta, tokens used, and per scope the window start its
 * estimate was taken in.
 */
const SETTLE = `
local m = tonumber(ARGV[1])
local ttl = ARGV[2]
local markerTtl = ARGV[3]
local a = 4
local k = 1
for j = 1, m do
  local n = tonumber(ARGV[a])
  local lease = ARGV[a + 1]
  local delta = tonumber(ARGV[a + 2])
  local used = tonumber(ARGV[a + 3])
  local first = redis.call('SET', KEYS[k + 2 * n + 1], '1', 'NX', 'PX', markerTtl)
  for i = 1, n do
    local hash = KEYS[k + 2 * i - 2]
    redis.call('ZREM', KEYS[k + 2 * i - 1], lease)
    if first and delta ~= 0 and redis.call('HGET', hash, 's') == ARGV[a + 3 + i] then
      if redis.call('HINCRBY', hash, 't', delta) < 0 then redis.call('HSET', hash, 't', 0) end
    end
  end
  local budget = KEYS[k + 2 * n]
  if first and used > 0 and budget ~= '-' then
    redis.call('INCRBY', budget, used)
    redis.call('PEXPIRE', budget, ttl)
  end
  k = k + 2 * n + 2
  a = a + 4 + n
end
return m
`;

/** KEYS: per scope its window hash and lease set. ARGV: scope count, window ms. */
const PEEK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = { now }
for i = 1, tonumber(ARGV[1]) do
  local h = redis.call('HMGET', KEYS[2 * i - 1], 's', 'r', 't')
  local s = tonumber(h[1])
  if s == nil or now >= s + tonumber(ARGV[2]) then table.insert(out, now); table.insert(out, 0); table.insert(out, 0)
  else table.insert(out, s); table.insert(out, tonumber(h[2]) or 0); table.insert(out, tonumber(h[3]) or 0) end
  table.insert(out, redis.call('ZCOUNT', KEYS[2 * i], now, '+inf'))
end
return out
`;

/** A month's budget counter lives a little over a month. */
const BUDGET_TTL_MS = 40 * 24 * 3_600_000;

/**
 * A settlement that failed (Redis unreachable) is sent again after these delays: otherwise its
 * leases would hold concurrency slots until they expire (LEASE_MS, minutes) and its tokens would
 * never count. Past the last, the leases still expire on their own.
 */
const SETTLE_RETRY_DELAYS_MS = [1_000, 5_000, 20_000];

/** A settled call's marker outlives every retry of its settlement. */
const SETTLE_MARKER_TTL_MS = 2 * 60_000;

type LimiterRedis = Redis & {
  switchyardAcquire(...args: Array<string | number>): Promise<Array<string | number>>;
  switchyardSettle(...args: Array<string | number>): Promise<number>;
  switchyardPeek(...args: Array<string | number>): Promise<number[]>;
};

export interface RedisLimiterOptions {
  url: string;
  /** Prefix of every key (tests isolate themselves with their own). */
  keyPrefix?: string;
  loadBudgetUsage: (budgetId: string, month: string) => Promise<number>;
  concurrencyRetryAfterMs: number;
  /** Delays before a failed settlement is sent again (tests shorten them). */
  settleRetryDelaysMs?: readonly number[];
  /** Redis out of reach: said once per outage (ioredis keeps reconnecting), not once per attempt. */
  onError?: (error: unknown, what: string) => void;
}

/** Limits shared by every node through Redis. */
export class RedisLimiter implements Limiter {
  readonly kind = 'redis';
  private readonly redis: LimiterRedis;
  private readonly prefix: string;
  /** Calls ended in this turn of the event loop, settled together at its end (see SETTLE). */
  private readonly settling = new TurnBatch<SettleInput>((batch) => this.sendSettles(batch));
  private readonly retryDelays: readonly number[];
  /** Set by close(): the last settlements get one try, shutdown does not wait out retries. */
  private closing = false;
  /** Budgets this process has seeded from the store (once per workspace and month). */
  private readonly seeded = new Map<string, Promise<void>>();

  constructor(private readonly options: RedisLimiterOptions) {
    this.prefix = options.keyPrefix ?? 'switchyard:';
    this.retryDelays = options.settleRetryDelaysMs ?? SETTLE_RETRY_DELAYS_MS;
    const redis = new Redis(options.url, { maxRetriesPerRequest: 2, enableAutoPipelining: true });
    let reachable = true;
    redis.on('error', (error: unknown) => {
      if (!reachable) return;
      reachable = false;
      options.onError?.(error, 'reaching Redis for the rate limits (reconnecting)');
    });
    redis.on('ready', () => (reachable = true));
    redis.defineCommand('switchyardAcquire', { lua: ACQUIRE });
    redis.defineCommand('switchyardSettle', { lua: SETTLE });
    redis.defineCommand('switchyardPeek', { lua: PEEK });
    this.redis = redis as LimiterRedis;
  }

  private scopeKeys(scopes: readonly LimitScope[]): string[] {
    return scopes.flatMap((scope) => [`${this.prefix}rl:${scope.id}`, `${this.prefix}cc:${scope.id}`]);
  }

  private budgetKey(budget: AcquireInput['budget']): string {
    return budget ? `${this.prefix}budget:${budget.id}:${budget.month}` : '-';
  }

  /** A budget counter starts from what the store recorded, once; later usage is added as it settles. */
  private seed(budget: NonNullable<AcquireInput['budget']>): Promise<void> {
    const key = this.budgetKey(budget);
    let seeding = this.seeded.get(key);
    if (!seeding) {
      seeding = (async () => {
        if ((await this.redis.exists(key)) === 1) return;
        const used = await this.options.loadBudgetUsage(budget.id, budget.month);
        await this.redis.set(key, used, 'PX', BUDGET_TTL_MS, 'NX');
      })();
      seeding.catch(() => this.seeded.delete(key));
      this.seeded.set(key, seeding);
    }
    return seeding;
  }

  async acquire(input: AcquireInput): Promise<Admission> {
    if (input.budget) await this.seed(input.budget);
    const keys = [...this.scopeKeys(input.scopes), this.budgetKey(input.budget)];
    const limits = input.scopes.flatMap(({ limits: l }) => [l.requestsPerMinute ?? 0, l.tokensPerMinute ?? 0, l.concurrentRequests ?? 0]);
    const reply = await this.redis.switchyardAcquire(
      keys.length,
      ...keys,
      input.scopes.length,
      WINDOW_MS,
      input.tokens,
      input.leaseId,
      LEASE_MS,
      input.budget?.limit ?? 0,
      ...limits,
    );
    const now = Number(reply[2]);
    const budgetUsed = Number(reply[3]);
    const counters = readCounters(reply, 4, input.scopes.length);
    // The script admitted or refused; decide() on the counters it saw names the refusal the same way.
    const refusal = reply[0] === 'ok' ? undefined : decide(input, counters, now, budgetUsed, this.options.concurrencyRetryAfterMs);
    return { ...headerStates(input.scopes, counters, now), refusal, windowStarts: counters.map((counter) => counter.start) };
  }

  /** Queued, and sent with every other call that ends in this turn of the event loop (see SETTLE). */
  settle(input: SettleInput): Promise<void> {
    return this.settling.add(input);
  }

  /** Resolves once a try went through; rejects when the last failed (or the limiter is closing). */
  private async sendSettles(batch: SettleInput[]): Promise<void> {
    const keys: string[] = [];
    const args: Array<string | number> = [batch.length, BUDGET_TTL_MS, SETTLE_MARKER_TTL_MS];
    for (const input of batch) {
      keys.push(...this.scopeKeys(input.scopes), this.budgetKey(input.budget), `${this.prefix}settled:${input.leaseId}`);
      args.push(input.scopes.length, input.leaseId, Math.round(input.tokenDelta), Math.round(input.tokensUsed), ...input.windowStarts);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.redis.switchyardSettle(keys.length, ...keys, ...args);
        return;
      } catch (error) {
        const delay = this.retryDelays[attempt];
        if (delay === undefined || this.closing) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
      }
    }
  }

  async peek(scopes: readonly LimitScope[]): Promise<Pick<Admission, 'requests' | 'tokens'>> {
    const keys = this.scopeKeys(scopes);
    const reply = await this.redis.switchyardPeek(keys.length, ...keys, scopes.length, WINDOW_MS);
    return headerStates(scopes, readCounters(reply, 1, scopes.length), Number(reply[0]));
  }

  async close(): Promise<void> {
    // Calls that ended just now still release their leases and count their tokens.
    this.closing = true;
    await Promise.resolve(this.settling.flush()).catch(() => undefined);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

function readCounters(reply: ReadonlyArray<string | number>, offset: number, count: number): ScopeCounters[] {
  const counters: ScopeCounters[] = [];
  for (let index = 0; index < count; index++) {
    const at = offset + index * 4;
    counters.push({ start: Number(reply[at]), requests: Number(reply[at + 1]), tokens: Number(reply[at + 2]), inFlight: Number(reply[at + 3]) });
  }
  return counters;
}
