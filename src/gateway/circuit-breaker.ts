/** The state of one target, as the admin API and metrics show it. */
export interface BreakerState {
  state: 'closed' | 'open' | 'half_open';
  consecutiveFailures: number;
  openedAt: number | undefined;
}

interface Entry {
  failures: number;
  openedAt: number | undefined;
  probing: boolean;
}

/**
 * A circuit breaker per target: after `threshold` failures in a row the target is skipped; after
 * `cooldownMs` one request probes it (half-open); its success closes the circuit, its failure
 * opens it again.
 */
export class CircuitBreakers {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private entry(target: string): Entry {
    let entry = this.entries.get(target);
    if (!entry) {
      entry = { failures: 0, openedAt: undefined, probing: false };
      this.entries.set(target, entry);
    }
    return entry;
  }

  /** Whether a request may go to the target now; a half-open circuit lets one probe through. */
  allow(target: string): boolean {
    const entry = this.entries.get(target);
    if (!entry || entry.openedAt === undefined) return true;
    if (this.now() - entry.openedAt < this.cooldownMs || entry.probing) return false;
    entry.probing = true;
    return true;
  }

  success(target: string): void {
    const entry = this.entries.get(target);
    if (!entry) return;
    entry.failures = 0;
    entry.openedAt = undefined;
    entry.probing = false;
  }

  /**
   * The attempt ended without a verdict on the target's health: the request's own fault (4xx) or
   * the client leaving. A probe in flight is let go, so that the next request may probe instead.
   */
  release(target: string): void {
    const entry = this.entries.get(target);
    if (entry) entry.probing = false;
  }

  failure(target: string): void {
    const entry = this.entry(target);
    entry.failures++;
    entry.probing = false;
    if (entry.failures >= this.threshold) entry.openedAt = this.now();
  }

  state(target: string): BreakerState {
    const entry = this.entries.get(target);
    if (!entry || entry.openedAt === undefined) return { state: 'closed', consecutiveFailures: entry?.failures ?? 0, openedAt: undefined };
    const cooling = this.now() - entry.openedAt < this.cooldownMs;
    return { state: cooling ? 'open' : 'half_open', consecutiveFailures: entry.failures, openedAt: entry.openedAt };
  }

  targets(): string[] {
    return [...this.entries.keys()];
  }
}
