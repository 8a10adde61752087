import type { Kysely } from 'kysely';
import type { Database } from '../../store/tables.js';
import type { ContextItem } from './types.js';
import { itemsOf, pageOf, type InputItemsPage, type ListInputItemsOptions, type ResponsesStore, type StoredResponse } from './responses-store.js';

/** Rows per insert into `response_items`, well under SQLite's limit on bound variables. */
const ITEM_ROWS_PER_INSERT = 500;

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
    // Which responses hold each item, for `item_reference`: every one saved that has it.
    const items = [...new Set(itemsOf(record).flatMap((item) => (item.id ? [item.id] : [])))];
    const savedAt = Date.now();
    for (let start = 0; start < items.length; start += ITEM_ROWS_PER_INSERT) {
      const rows = items.slice(start, start + ITEM_ROWS_PER_INSERT).map((itemId) => ({ workspace_id: row.workspace_id, item_id: itemId, response_id: row.id, saved_at: savedAt }));
      await this.db
        .insertInto('response_item_holders')
        .values(rows)
        .onConflict((conflict) => conflict.columns(['workspace_id', 'item_id', 'response_id']).doUpdateSet({ saved_at: savedAt }))
        .execute();
    }
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
    await this.db.deleteFrom('response_item_holders').where('response_id', '=', id).where('workspace_id', '=', column(workspaceId)).execute();
    return Number(result.numDeletedRows) > 0;
  }

  async findItems(workspaceId: string | null, ids: readonly string[]): Promise<Map<string, ContextItem>> {
    const found = new Map<string, ContextItem>();
    if (ids.length === 0) return found;
    const rows = await this.db
      .selectFrom('response_item_holders')
      .select(['item_id', 'response_id', 'saved_at'])
      .where('workspace_id', '=', column(workspaceId))
      .where('item_id', 'in', [...new Set(ids)])
      .orderBy('saved_at', 'desc')
      .orderBy('response_id', 'desc')
      .execute();
    // The last saved holder of each item, as an id reused by a client names its latest item.
    const holders = [...new Map(rows.reverse().map((holder) => [holder.item_id, holder])).values()];
    for (const responseId of new Set(holders.map((holder) => holder.response_id))) {
      const record = await this.get(workspaceId, responseId);
      if (!record) continue;
      const wanted = new Set(holders.filter((holder) => holder.response_id === responseId).map((holder) => holder.item_id));
      for (const item of itemsOf(record)) if (item.id && wanted.has(item.id)) found.set(item.id, item);
    }
    return found;
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
