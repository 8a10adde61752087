import type { Kysely } from 'kysely';
import type { Database, UsageRecordTable } from './tables.js';
import { usageSeries, type SeriesBucket, type SeriesFilter } from './usage-series.js';
import { SqliteUsageWriter, type SqliteConnection } from './sqlite-usage-writer.js';
import { dailyRollup } from './daily-rollup.js';

export type UsageRecord = UsageRecordTable;

export type UsageGroup = 'workspace' | 'key' | 'model' | 'day';

export interface UsageFilter {
  /** `YYYY-MM-DD`, inclusive. */
  from?: string | undefined;
  to?: string | undefined;
  workspaceId?: string | undefined;
  keyId?: string | undefined;
  model?: string | undefined;
}

export interface UsageSummaryRow {
  workspace_id?: string;
  key_id?: string;
  model?: string;
  day?: string;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  cached_tokens: number;
  cost_usd: number;
}

export interface RequestLogFilter {
  workspaceId?: string | undefined;
  keyId?: string | undefined;
  model?: string | undefined;
  status?: string | undefined;
  /** Unix milliseconds, inclusive / exclusive. */
  since?: number | undefined;
  until?: number | undefined;
  limit?: number | undefined;
  /** A page's cursor: only records after this one in the log's order (newest first). */
  after?: { createdAt: number; auditId: string } | undefined;
}

const GROUP_COLUMNS = { workspace: 'workspace_id', key: 'key_id', model: 'model', day: 'day' } as const;
/** Rows per INSERT: under SQLite's bound-parameter limit whatever the column count. */
const INSERT_CHUNK = 200;

/** Usage records and their daily rollup. */
export class UsageStore {
  private readonly sqliteWriter: SqliteUsageWriter | undefined;

  /** `sqlite`: the connection under `db` when it is SQLite, for the batch writer's prepared statements. */
  constructor(
    private readonly db: Kysely<Database>,
    sqlite?: SqliteConnection,
  ) {
    this.sqliteWriter = sqlite ? new SqliteUsageWriter(sqlite) : undefined;
  }

  /** Writes records and folds them into the daily rollup, in one transaction. */
  async insertBatch(records: readonly UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    const writer = this.sqliteWriter;
    if (writer) {
      // Holding the query builder's connection: never inside a transaction of its that is under way.
      await this.db.connection().execute(async () => writer.write(records));
      return;
    }
    await this.db.transaction().execute(async (transaction) => {
      // A record already written (a journal replayed after a crash, an audit id seen twice) is
      // skipped, and only the records inserted now count in the daily rollup: replays are idempotent.
      const inserted = new Set<string>();
      for (let start = 0; start < records.length; start += INSERT_CHUNK) {
        const rows = await transaction
          .insertInto('usage_records')
          .values(records.slice(start, start + INSERT_CHUNK) as UsageRecord[])
          .onConflict((conflict) => conflict.column('audit_id').doNothing())
          .returning('audit_id')
          .execute();
        for (const row of rows) inserted.add(row.audit_id);
      }
      const rollup = dailyRollup(records.filter((record) => inserted.has(record.audit_id)));
      for (const entry of rollup.values()) {
        await transaction
          .insertInto('usage_daily')
          .values(entry)
          .onConflict((conflict) =>
            conflict.columns(['day', 'workspace_id', 'key_id', 'model']).doUpdateSet((eb) => ({
              requests: eb('usage_daily.requests', '+', eb.ref('excluded.requests')),
              errors: eb('usage_daily.errors', '+', eb.ref('excluded.errors')),
              prompt_tokens: eb('usage_daily.prompt_tokens', '+', eb.ref('excluded.prompt_tokens')),
              completion_tokens: eb('usage_daily.completion_tokens', '+', eb.ref('excluded.completion_tokens')),
              reasoning_tokens: eb('usage_daily.reasoning_tokens', '+', eb.ref('excluded.reasoning_tokens')),
              cached_tokens: eb('usage_daily.cached_tokens', '+', eb.ref('excluded.cached_tokens')),
              cost_usd: eb('usage_daily.cost_usd', '+', eb.ref('excluded.cost_usd')),
            })),
          )
          .execute();
      }
    });
  }

  /** Totals from the daily rollup, grouped by any of workspace, key, model, day. */
  async summary(groupBy: readonly UsageGroup[], filter: UsageFilter = {}): Promise<UsageSummaryRow[]> {
    const columns = groupBy.map((group) => GROUP_COLUMNS[group]);
    let query = this.db
      .selectFrom('usage_daily')
      .select((eb) => [
        eb.fn.sum<number>('requests').as('requests'),
        eb.fn.sum<number>('errors').as('errors'),
        eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
        eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
        eb.fn.sum<number>('reasoning_tokens').as('reasoning_tokens'),
        eb.fn.sum<number>('cached_tokens').as('cached_tokens'),
        eb.fn.sum<number>('cost_usd').as('cost_usd'),
      ]);
    if (columns.length > 0) query = query.select(columns).groupBy(columns);
    for (const column of columns) query = query.orderBy(column);
    if (filter.from) query = query.where('day', '>=', filter.from);
    if (filter.to) query = query.where('day', '<=', filter.to);
    if (filter.workspaceId) query = query.where('workspace_id', '=', filter.workspaceId);
    if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
    if (filter.model) query = query.where('model', '=', filter.model);
    const rows = (await query.execute()) as unknown as UsageSummaryRow[];
    return rows
      .filter((row) => row.requests !== null)
      .map((row) => ({
        ...row,
        requests: Number(row.requests),
        errors: Number(row.errors),
        prompt_tokens: Number(row.prompt_tokens),
        completion_tokens: Number(row.completion_tokens),
        reasoning_tokens: Number(row.reasoning_tokens),
        cached_tokens: Number(row.cached_tokens),
        cost_usd: Number(row.cost_usd),
      }));
  }

  /** Prompt + completion tokens a workspace used from `fromDay` on (for the monthly budget). */
  async tokensSince(workspaceId: string, fromDay: string): Promise<number> {
    const row = await this.db
      .selectFrom('usage_daily')
      .select((eb) => eb.fn.sum<number>(eb('prompt_tokens', '+', eb.ref('completion_tokens'))).as('tokens'))
      .where('workspace_id', '=', workspaceId)
      .where('day', '>=', fromDay)
      .executeTakeFirst();
    return Number(row?.tokens ?? 0);
  }

  /** The newest records first, filtered. */
  async requests(filter: RequestLogFilter = {}): Promise<UsageRecord[]> {
    let query = this.db.selectFrom('usage_records').selectAll().orderBy('created_at', 'desc').orderBy('audit_id', 'desc');
    if (filter.workspaceId) query = query.where('workspace_id', '=', filter.workspaceId);
    if (filter.keyId) query = query.where('key_id', '=', filter.keyId);
    if (filter.model) query = query.where((eb) => eb.or([eb('model_asked', '=', filter.model!), eb('route', '=', filter.model!)]));
    if (filter.status) query = query.where('status', '=', filter.status);
    if (filter.since !== undefined) query = query.where('created_at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('created_at', '<', filter.until);
    // Past the cursor in (created_at, audit_id) order: records of one millisecond are split exactly.
    const after = filter.after;
    if (after) query = query.where((eb) => eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('audit_id', '<', after.auditId)])]));
    // 1,001: a page of the most (1,000) and one more, which says whether another page follows.
    return query.limit(Math.min(filter.limit ?? 100, 1001)).execute();
  }

  /** Requests, errors, tokens and latency percentiles per minute or day, for charts. */
  series(bucket: SeriesBucket, sinceMs: number, untilMs: number, filter: SeriesFilter = {}) {
    return usageSeries(this.db, this, bucket, sinceMs, untilMs, filter);
  }

  async byAuditId(auditId: string): Promise<UsageRecord | undefined> {
    return this.db.selectFrom('usage_records').selectAll().where('audit_id', '=', auditId).executeTakeFirst();
  }

  async count(): Promise<number> {
    const row = await this.db.selectFrom('usage_records').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    return Number(row.count);
  }
}
