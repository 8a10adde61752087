import type { Kysely } from 'kysely';
import type { Database } from '../../store/tables.js';
import { pageOf, type InputItemsPage, type ListInputItemsOptions, type ResponsesStore, type StoredResponse } from './responses-store.js';

/** '' stands for "no workspace" in the column, which is NOT NULL so that equality finds it. */
const column = (workspaceId: string | null) => workspaceId ?? '';

/**
 * Responses in the platform's database (SQLite or PostgreSQL, the `responses` table of migration
 * 0002): shared by every node, so a conversation continues on whichever node a request reaches.
 */
export class KyselyResponsesStore implements ResponsesStore {
  constructor(private readonly db: Kysely<Database>) {}

  async save(workspaceId: string | null, record: StoredResponse): Promise<void> {
    const row = {
      id: record.response.id,
      workspace_id: column(workspaceId),
      created_at: record.response.created_at * 1000,
      response: JSON.stringify(record.response),
      input_items: JSON.stringify(record.inputItems),
      events: JSON.stringify(record.events),
    };
    await this.db
      .insertInto('responses')
      .values(row)
      .onConflict((conflict) => conflict.column('id').doUpdateSet({ response: row.response, input_items: row.input_items, events: row.events }))
      .execute();
  }

  async get(workspaceId: string | null, id: string): Promise<StoredResponse | undefined> {
    const row = await this.db
      .selectFrom('responses')
      .select(['response', 'input_items', 'events'])
      .where('id', '=', id)
      .where('workspace_id', '=', column(workspaceId))
      .executeTakeFirst();
    if (!row) return undefined;
    return { response: JSON.parse(row.response), inputItems: JSON.parse(row.input_items), events: JSON.parse(row.events) };
  }

  async delete(workspaceId: string | null, id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('responses').where('id', '=', id).where('workspace_id', '=', column(workspaceId)).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async listInputItems(workspaceId: string | null, id: string, options: ListInputItemsOptions): Promise<InputItemsPage | undefined> {
    const row = await this.db
      .selectFrom('responses')
      .select('input_items')
      .where('id', '=', id)
      .where('workspace_id', '=', column(workspaceId))
      .executeTakeFirst();
    return row ? pageOf(JSON.parse(row.input_items), options) : undefined;
  }
}
