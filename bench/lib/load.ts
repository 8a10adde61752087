// One load run with autocannon, in this process. Latency is recorded here rather than taken from
// autocannon's summary: its histogram keeps whole milliseconds, and the differences this benchmark
// looks for (a few tenths of a millisecond at concurrency 1) would vanish in the rounding.
import autocannon from 'autocannon';
import { performance } from 'node:perf_hooks';

export interface LoadOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  connections: number;
  durationS: number;
}

export interface LoadResult {
  /** Responses with a 2xx status. */
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  wallMs: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Response times in ms, in a typed array that grows by doubling: no per-sample allocation. */
class LatencySamples {
  private values = new Float64Array(1 << 16);
  private count = 0;

  add(ms: number): void {
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.count++] = ms;
  }

  /** Percentiles by nearest rank. */
  percentiles(...ps: number[]): number[] {
    if (this.count === 0) return ps.map(() => Number.NaN);
    const sorted = this.values.slice(0, this.count).sort();
    return ps.map((p) => sorted[Math.min(this.count - 1, Math.max(0, Math.ceil((p / 100) * this.count) - 1))]!);
  }
}

export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const samples = new LatencySamples();
    let ok = 0;
    const started = performance.now();
    const instance = autocannon(
      {
        url: options.url,
        method: 'POST',
        headers: options.headers,
        body: options.body,
        connections: options.connections,
        duration: options.durationS,
        pipelining: 1,
        timeout: 30,
      },
      (error, result) => {
        const wallMs = performance.now() - started;
        if (error) {
          reject(error);
          return;
        }
        const [p50Ms, p99Ms] = samples.percentiles(50, 99);
        resolve({
          ok,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          wallMs,
          requestsPerSecond: (ok * 1000) / wallMs,
          p50Ms: p50Ms!,
          p99Ms: p99Ms!,
        });
      },
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
      // Only successful answers count: an error page is cheap and would flatter the figures.
      if (statusCode >= 200 && statusCode < 300) {
        ok += 1;
        samples.add(responseTimeMs);
      }
    });
  });
}
