import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Migrator } from 'kysely';
import { openDatabase } from '../../src/store/open-database.js';
import { migrate, migrationProvider } from '../../src/store/migrations.js';
import { KyselyResponsesStore } from '../../src/protocols/responses/kysely-responses-store.js';
import { freshPostgres, postgresAdminUrl, tempDir } from './helpers.js';

// Forward-only migrations over data a server already wrote: a store brought to an earlier version,
// filled as that version's code filled it, then migrated to the latest, keeps what it held.

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`migrations (${dialect})`, () => {
    let drop: (() => Promise<void>) | undefined;
    after(async () => drop?.());

    test('0006 keeps every item an item_reference could name through 0005’s index', async (context) => {
      let databaseUrl: string | undefined;
      if (dialect === 'postgres') {
        if (!(await postgresAdminUrl())) return context.skip('PostgreSQL is not reachable');
        const database = await freshPostgres();
        drop = database.drop;
        databaseUrl = database.url;
      }
      const { db } = openDatabase({ dataDir: tempDir(), ...(databaseUrl ? { databaseUrl } : {}) });
      try {
        const migrator = new Migrator({ db, provider: migrationProvider, migrationTableName: 'switchyard_migrations', migrationLockTableName: 'switchyard_migrations_lock' });
        const { error } = await migrator.migrateTo('0005_response_items');
        assert.equal(error, undefined);
        const response = { id: 'resp_1', created_at: 1_700_000_000, output: [{ id: 'msg_out', type: 'message', role: 'assistant', status: 'completed', content: [] }] };
        const inputItems = [{ id: 'msg_in', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] }];
        await (db as any)
          .insertInto('responses')
          .values({ id: 'resp_1', workspace_id: 'ws_a', created_at: 1_700_000_000_000, response: JSON.stringify(response), input_items: JSON.stringify(inputItems), events: '[]' })
          .execute();
        await (db as any)
          .insertInto('response_items')
          .values([
            { workspace_id: 'ws_a', item_id: 'msg_in', response_id: 'resp_1' },
            { workspace_id: 'ws_a', item_id: 'msg_out', response_id: 'resp_1' },
          ])
          .execute();

        // 0006 runs first (later migrations follow it).
        assert.equal((await migrate(db))[0], '0006_response_item_holders');
        const store = new KyselyResponsesStore(db);
        const found = await store.findItems('ws_a', ['msg_in', 'msg_out', 'msg_nope']);
        assert.deepEqual([...found.keys()].sort(), ['msg_in', 'msg_out']);
        assert.equal((await store.findItems('ws_b', ['msg_in'])).size, 0);
      } finally {
        await db.destroy();
      }
    });

    test('0007 gives every key the first key of its rotation chain, which per-key limits count under', async (context) => {
      let databaseUrl: string | undefined;
      if (dialect === 'postgres') {
        if (!(await postgresAdminUrl())) return context.skip('PostgreSQL is not reachable');
        const database = await freshPostgres();
        const previous = drop;
        drop = async () => {
          await previous?.();
          await database.drop();
        };
        databaseUrl = database.url;
      }
      const { db } = openDatabase({ dataDir: tempDir(), ...(databaseUrl ? { databaseUrl } : {}) });
      try {
        const migrator = new Migrator({ db, provider: migrationProvider, migrationTableName: 'switchyard_migrations', migrationLockTableName: 'switchyard_migrations_lock' });
        assert.equal((await migrator.migrateTo('0006_response_item_holders')).error, undefined);
        await (db as any).insertInto('workspaces').values({ id: 'ws_a', name: 'A', tier: 'pro', sandboxed: 0, created_at: 1, updated_at: 1 }).execute();
        const key = (id: string, from: string | null, to: string | null) => ({
          id, workspace_id: 'ws_a', name: id, prefix: 'sk_live_x', secret_hash: `hash_${id}`, allowed_models: null, limits: null,
          expires_at: null, created_at: 1, last_used_at: null, revoked_at: null, rotated_from: from, rotated_to: to, version: 1,
        });
        // A chain of three written newest first (the walk does not rely on order), and a key never rotated.
        await (db as any).insertInto('api_keys').values([key('key_c', 'key_b', null), key('key_b', 'key_a', 'key_c'), key('key_a', null, 'key_b'), key('key_d', null, null)]).execute();
        assert.deepEqual(await migrate(db), ['0007_key_lineage']);
        const rows = await (db as any).selectFrom('api_keys').select(['id', 'lineage_id']).orderBy('id').execute();
        assert.deepEqual(rows.map((row: { id: string; lineage_id: string }) => [row.id, row.lineage_id]), [['key_a', 'key_a'], ['key_b', 'key_a'], ['key_c', 'key_a'], ['key_d', 'key_d']]);
      } finally {
        await db.destroy();
      }
    });
  });
}
