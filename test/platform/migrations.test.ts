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

        assert.deepEqual(await migrate(db), ['0006_response_item_holders']);
        const store = new KyselyResponsesStore(db);
        const found = await store.findItems('ws_a', ['msg_in', 'msg_out', 'msg_nope']);
        assert.deepEqual([...found.keys()].sort(), ['msg_in', 'msg_out']);
        assert.equal((await store.findItems('ws_b', ['msg_in'])).size, 0);
      } finally {
        await db.destroy();
      }
    });
  });
}
