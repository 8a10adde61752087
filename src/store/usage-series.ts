import type { Kysely } from 'kysely';
import type { Database } from './tables.js';
import type { UsageStore } from './usage-store.js';

export type SeriesBucket = 'minute' | 'day';

export interface SeriesFilter {
  workspaceId?: string | undefined;
  keyId?: string | undefined;
  model?: string | undefined;
}

export interface SeriesPoint {
  /** Unix seconds at the start of the bucket (UTC). */
  start: number;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  /** Over requests that reached a backend (refusals take no time); null when there were none. */
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
}

const BUCKET_MS: Record<SeriesBucket, number> = { minute: 60_000, day: 86_400_000 };
/** Latency percentiles read at most this many records; beyond it they are those of the newest. */
export const SERIES_SAMPLE_LIMIT = 200_000;

function percentile(sorted: number[], fraction: number): number | null {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return Math.round(sorted[index]! * 10) / 10;
}

/**
 * Requests, errors, tokens and p50/p95 latency per minute or per UTC day, every bucket of
 * [since, until) present (zeros where nothing happened). Day buckets take their counts from the
 * daily rollup (exact however many records); latencies come from the records themselves.
 */
export async function usageSeries(
  db: Kysely<Database>,
  usage: UsageStore,
  bucket: SeriesBucket,
  sinceMs: number,
  untilMs: number,
  filter: SeriesFilter = {},
): Promise<{ points: SeriesPoint[]; sampled: boolean }> {
  const size = BUCKET_MS[bucket];
  const first = Math.floor(sinceMs / size) * size;
  const points = new Map<number, SeriesPoint>();
  const latencies = new Map<number, number[]>();
  for (let start = first; start < untilMs; start += size) {
    points.set(start, { start: start / 1000, requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, latency_p50_ms: null, latency_p95_ms: null });
    latencies.set(start, []);
  }

  let query = db
    .selectFrom('usage_records')
    .select(['created_at', 'latency_ms', 'status', 'prompt_tokens', 'completion_tokens'])
    .where('created_at', '>=', first)
    .where('created_at', '<', untilMs)
    .orderBy('created_at', 'desc')
    .limit(SERIES_SAMPLE_LIMIT);
  if (filter.workspaceId) query = query.where('workspace_id', '=', filter.workspaceId);
  if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
  if (filter.model) query = query.where((eb) => eb.or([eb('model_asked', '=', filter.model!), eb('route', '=', filter.model!)]));
  const records = await query.execute();

  for (const record of records) {
    const start = Math.floor(Number(record.created_at) / size) * size;
    const point = points.get(start);
    if (!point) continue;
    if (bucket === 'minute') {
      point.requests += 1;
      if (record.status !== 'completed') point.errors += 1;
      point.prompt_tokens += Number(record.prompt_tokens);
      point.completion_tokens += Number(record.completion_tokens);
    }
    if (record.status !== 'rejected') latencies.get(start)!.push(Number(record.latency_ms));
  }
  if (bucket === 'day') {
    const days = await usage.summary(['day'], {
      from: new Date(first).toISOString().slice(0, 10),
      to: new Date(untilMs - 1).toISOString().slice(0, 10),
      workspaceId: filter.workspaceId,
      keyId: filter.keyId,
      model: filter.model,
    });
    for (const row of days) {
      const point = points.get(Date.parse(`${row.day}T00:00:00Z`));
      if (!point) continue;
      point.requests = row.requests;
      point.errors = row.errors;
      point.prompt_tokens = row.prompt_tokens;
      point.completion_tokens = row.completion_tokens;
    }
  }
  for (const [start, values] of latencies) {
    values.sort((a, b) => a - b);
    const point = points.get(start)!;
    point.latency_p50_ms = percentile(values, 0.5);
    point.latency_p95_ms = percentile(values, 0.95);
  }
  return { points: [...points.values()], sampled: records.length >= SERIES_SAMPLE_LIMIT };
}
