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

interface ScopeState {
  start: number;
  requests: number;
  tokens: number;
  /** Lease id → when it lapses. */
  leases: Map<string, number>;
}

export interface MemoryLimiterOptions {
  /** Tokens a workspace used this month before this process started (read once per workspace and month). */
  loadBudgetUsage: (budgetId: string, month: string) => Promise<number>;
  concurrencyRetryAfterMs: number;
  now?: () => number;
}

/** Limits of one process. Single-threaded, so each check-and-take is atomic by construction. */
export class MemoryLimiter implements Limiter {
  readonly kind = 'memory';
  private readonly scopes = new Map<string, ScopeState>();
  private readonly budgets = new Map<string, number>();
  private readonly budgetLoads = new Map<string, Promise<void>>();
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: MemoryLimiterOptions) {
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), WINDOW_MS);
    this.sweeper.unref();
  }

  private state(id: string, now: number): ScopeState {
    let state = this.scopes.get(id);
    if (!state) {
      state = { start: now, requests: 0, tokens: 0, leases: new Map() };
      this.scopes.set(id, state);
    }
    if (now >= state.start + WINDOW_MS) {
      state.start = now;
      state.requests = 0;
      state.tokens = 0;
    }
    return state;
  }

  private counters(scopes: readonly LimitScope[], now: number): { states: ScopeState[]; counters: ScopeCounters[] } {
    const states: ScopeState[] = [];
    const counters: ScopeCounters[] = [];
    for (const scope of scopes) {
      const state = this.state(scope.id, now);
      states.push(state);
      counters.push({ start: state.start, requests: state.requests, tokens: state.tokens, inFlight: state.leases.size });
    }
    return { states, counters };
  }

  private async ensureBudget(budget: AcquireInput['budget']): Promise<number> {
    if (!budget) return 0;
    const id = `${budget.id}:${budget.month}`;
    if (!this.budgets.has(id)) {
      let loading = this.budgetLoads.get(id);
      if (!loading) {
        loading = this.options.loadBudgetUsage(budget.id, budget.month).then(
          (used) => {
            this.budgets.set(id, (this.budgets.get(id) ?? 0) + used);
          },
          (error: unknown) => {
            // A failed read is tried again by the next request, not remembered.
            this.budgetLoads.delete(id);
            throw error;
          },
        );
        this.budgetLoads.set(id, loading);
      }
      await loading;
    }
    return this.budgets.get(id) ?? 0;
  }

  async acquire(input: AcquireInput): Promise<Admission> {
    const budgetUsed = input.budget ? await this.ensureBudget(input.budget) : 0;
    const now = this.now();
    const { states, counters } = this.counters(input.scopes, now);
    const refusal = decide(input, counters, now, budgetUsed, this.options.concurrencyRetryAfterMs);
    if (!refusal) {
      input.scopes.forEach((scope, index) => {
        const state = states[index]!;
        state.requests += 1;
        state.tokens += input.tokens;
        if (scope.limits.concurrentRequests) state.leases.set(input.leaseId, now + LEASE_MS);
        counters[index] = { start: state.start, requests: state.requests, tokens: state.tokens, inFlight: state.leases.size };
      });
    }
    return { ...headerStates(input.scopes, counters, now), refusal, windowStarts: counters.map((counter) => counter.start) };
  }

  async settle(input: SettleInput): Promise<void> {
    input.scopes.forEach((scope, index) => {
      const state = this.scopes.get(scope.id);
      if (!state) return;
      state.leases.delete(input.leaseId);
      if (state.start === input.windowStarts[index]) state.tokens = Math.max(0, state.tokens + input.tokenDelta);
    });
    if (input.budget && input.tokensUsed > 0) {
      const id = `${input.budget.id}:${input.budget.month}`;
      this.budgets.set(id, (this.budgets.get(id) ?? 0) + input.tokensUsed);
    }
  }

  async peek(scopes: readonly LimitScope[]): Promise<Pick<Admission, 'requests' | 'tokens'>> {
    const now = this.now();
    return headerStates(scopes, this.counters(scopes, now).counters, now);
  }

  /**
   * Once a minute: leases that lapsed (a call whose end never came) leave, and idle scopes go. Not
   * per request: a check of every lease in flight on each admission cost O(in flight) on the hot
   * path for what is only a safety net (a call that ends always settles its lease).
   */
  private sweep(): void {
    const now = this.now();
    for (const [id, state] of this.scopes) {
      for (const [lease, lapses] of state.leases) if (lapses <= now) state.leases.delete(lease);
      if (now >= state.start + WINDOW_MS && state.leases.size === 0) this.scopes.delete(id);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}
