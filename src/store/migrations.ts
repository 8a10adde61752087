import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/**
 * The store's schema, as forward-only versioned migrations: a new version is a new entry, never an
 * edit of a shipped one. Kysely's migrator records what ran and takes a lock, so several nodes
 * starting at once against one PostgreSQL apply each migration once.
 */
const MIGRATIONS: Record<string, Migration> = {
  '0001_platform': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('settings')
        .addColumn('name', 'text', (column) => column.primaryKey())
        .addColumn('value', 'text', (column) => column.notNull())
        .addColumn('updated_at', 'bigint', (column) => column.notNull())
        .execute();
      await db.schema
        .createTable('counters')
        .addColumn('name', 'text', (column) => column.primaryKey())
        .addColumn('value', 'bigint', (column) => column.notNull())
        .execute();
      await db.insertInto('counters').values({ name: 'keys', value: 0 }).execute();

      await db.schema
        .createTable('workspaces')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('tier', 'text', (column) => column.notNull())
        .addColumn('sandboxed', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .addColumn('updated_at', 'bigint', (column) => column.notNull())
        .execute();

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('workspace_id', 'text', (column) => column.notNull().references('workspaces.id'))
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('prefix', 'text', (column) => column.notNull())
        .addColumn('secret_hash', 'text', (column) => column.notNull().unique())
        .addColumn('allowed_models', 'text')
        .addColumn('limits', 'text')
        .addColumn('expires_at', 'bigint')
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('rotated_from', 'text')
        .addColumn('rotated_to', 'text')
        .addColumn('version', 'bigint', (column) => column.notNull())
        .execute();
      await db.schema.createIndex('api_keys_workspace').on('api_keys').column('workspace_id').execute();
      await db.schema.createIndex('api_keys_version').on('api_keys').column('version').execute();

      await db.schema
        .createTable('usage_records')
        .addColumn('audit_id', 'text', (column) => column.primaryKey())
        .addColumn('request_id', 'text', (column) => column.notNull())
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .addColumn('day', 'text', (column) => column.notNull())
        .addColumn('key_id', 'text')
        .addColumn('workspace_id', 'text')
        .addColumn('sandboxed', 'integer', (column) => column.notNull())
        .addColumn('model_asked', 'text', (column) => column.notNull())
        .addColumn('route', 'text', (column) => column.notNull())
        .addColumn('provider_id', 'text', (column) => column.notNull())
        .addColumn('stream', 'integer', (column) => column.notNull())
        .addColumn('prompt_tokens', 'bigint', (column) => column.notNull())
        .addColumn('completion_tokens', 'bigint', (column) => column.notNull())
        .addColumn('reasoning_tokens', 'bigint', (column) => column.notNull())
        .addColumn('cached_tokens', 'bigint', (column) => column.notNull())
        .addColumn('cost_usd', 'double precision', (column) => column.notNull())
        .addColumn('latency_ms', 'double precision', (column) => column.notNull())
        .addColumn('ttft_ms', 'double precision')
        .addColumn('status', 'text', (column) => column.notNull())
        .addColumn('error_code', 'text')
        .execute();
      await db.schema.createIndex('usage_records_created').on('usage_records').column('created_at').execute();
      await db.schema.createIndex('usage_records_workspace').on('usage_records').columns(['workspace_id', 'created_at']).execute();
      await db.schema.createIndex('usage_records_key').on('usage_records').columns(['key_id', 'created_at']).execute();

      await db.schema
        .createTable('usage_daily')
        .addColumn('day', 'text', (column) => column.notNull())
        .addColumn('workspace_id', 'text', (column) => column.notNull())
        .addColumn('key_id', 'text', (column) => column.notNull())
        .addColumn('model', 'text', (column) => column.notNull())
        .addColumn('sandboxed', 'integer', (column) => column.notNull())
        .addColumn('requests', 'bigint', (column) => column.notNull())
        .addColumn('errors', 'bigint', (column) => column.notNull())
        .addColumn('prompt_tokens', 'bigint', (column) => column.notNull())
        .addColumn('completion_tokens', 'bigint', (column) => column.notNull())
        .addColumn('reasoning_tokens', 'bigint', (column) => column.notNull())
        .addColumn('cached_tokens', 'bigint', (column) => column.notNull())
        .addColumn('cost_usd', 'double precision', (column) => column.notNull())
        .addPrimaryKeyConstraint('usage_daily_pk', ['day', 'workspace_id', 'key_id', 'model'])
        .execute();
      await db.schema.createIndex('usage_daily_workspace').on('usage_daily').columns(['workspace_id', 'day']).execute();
    },
  },
  '0002_responses': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('responses')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('workspace_id', 'text', (column) => column.notNull())
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .addColumn('response', 'text', (column) => column.notNull())
        .addColumn('input_items', 'text', (column) => column.notNull())
        .addColumn('events', 'text', (column) => column.notNull())
        .execute();
      await db.schema.createIndex('responses_workspace').on('responses').columns(['workspace_id', 'created_at']).execute();
    },
  },
  '0003_personas': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('personas')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('definition', 'text', (column) => column.notNull())
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .addColumn('updated_at', 'bigint', (column) => column.notNull())
        .execute();
      // The audit record of a persona call: its drift score, whether it alerted, the layers that shaped it, the recovery that ran.
      await db.schema.alterTable('usage_records').addColumn('drift_score', 'double precision').execute();
      await db.schema.alterTable('usage_records').addColumn('drift_alert', 'integer').execute();
      await db.schema.alterTable('usage_records').addColumn('layers', 'text').execute();
      await db.schema.alterTable('usage_records').addColumn('recovery', 'text').execute();
    },
  },
  '0004_response_routes': {
    async up(db: Kysely<any>) {
      // Responses passed through to an upstream that speaks the Responses API: which one holds each.
      await db.schema
        .createTable('response_routes')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('workspace_id', 'text', (column) => column.notNull())
        .addColumn('provider_id', 'text', (column) => column.notNull())
        .addColumn('created_at', 'bigint', (column) => column.notNull())
        .execute();
    },
  },
  '0005_response_items': {
    async up(db: Kysely<any>) {
      // Which stored response holds each item, so that an `item_reference` input item finds it.
      await db.schema
        .createTable('response_items')
        .addColumn('workspace_id', 'text', (column) => column.notNull())
        .addColumn('item_id', 'text', (column) => column.notNull())
        .addColumn('response_id', 'text', (column) => column.notNull())
        .addPrimaryKeyConstraint('response_items_pk', ['workspace_id', 'item_id'])
        .execute();
      await db.schema.createIndex('response_items_response').on('response_items').columns(['response_id']).execute();
    },
  },
  '0006_response_item_holders': {
    async up(db: Kysely<any>) {
      // Every response that holds an item, not only the last saved: a chained response holds the
      // items of the ones before it, and deleting it must leave them referable through those.
      await db.schema
        .createTable('response_item_holders')
        .addColumn('workspace_id', 'text', (column) => column.notNull())
        .addColumn('item_id', 'text', (column) => column.notNull())
        .addColumn('response_id', 'text', (column) => column.notNull())
        .addColumn('saved_at', 'bigint', (column) => column.notNull())
        .addPrimaryKeyConstraint('response_item_holders_pk', ['workspace_id', 'item_id', 'response_id'])
        .execute();
      await db.schema.createIndex('response_item_holders_response').on('response_item_holders').columns(['response_id']).execute();
      // The holders known so far: the last saved one of each item (migration 0005 kept no others).
      await db
        .insertInto('response_item_holders')
        .columns(['workspace_id', 'item_id', 'response_id', 'saved_at'])
        .expression(
          db
            .selectFrom('response_items')
            .innerJoin('responses', 'responses.id', 'response_items.response_id')
            .select(['response_items.workspace_id', 'response_items.item_id', 'response_items.response_id', 'responses.created_at']),
        )
        .execute();
      await db.schema.dropTable('response_items').execute();
    },
  },
  '0007_key_lineage': {
    async up(db: Kysely<any>) {
      // The first key of each rotation chain, which per-key limits count under (see ApiKeyTable).
      await db.schema.alterTable('api_keys').addColumn('lineage_id', 'text').execute();
      const rows: Array<{ id: string; rotated_from: string | null }> = await db.selectFrom('api_keys').select(['id', 'rotated_from']).execute();
      const from = new Map(rows.map((row) => [row.id, row.rotated_from]));
      for (const row of rows) {
        let root = row.id;
        const seen = new Set([root]);
        for (let previous = from.get(root); previous && from.has(previous) && !seen.has(previous); previous = from.get(root)) {
          root = previous;
          seen.add(root);
        }
        await db.updateTable('api_keys').set({ lineage_id: root }).where('id', '=', row.id).execute();
      }
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** The migrations by name, in order: for tests that bring a database to an earlier version first. */
export const migrationProvider = provider;

/** Brings the schema up to date; throws with the failing migration's name. */
export async function migrate(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider, migrationTableName: 'switchyard_migrations', migrationLockTableName: 'switchyard_migrations_lock' });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error || failed) {
    throw new Error(`Store migration ${failed?.migrationName ?? ''} failed: ${(error as Error | undefined)?.message ?? 'unknown error'}`, { cause: error });
  }
  return (results ?? []).map((result) => result.migrationName);
}
