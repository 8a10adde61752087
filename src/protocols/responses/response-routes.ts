import type { Kysely } from 'kysely';
import type { Database } from '../../store/tables.js';

/**
 * Which upstream holds a passed-through response: `GET`, `DELETE` and `input_items` for its id
 * go to that upstream (it stored the response; Switchyard did not). Scoped by workspace like
 * stored responses: another workspace does not find it.
 */
export interface ResponseRoutes {
  remember(workspaceId: string | null, id: string, providerId: string): Promise<void>;
  providerOf(workspaceId: string | null, id: string): Promise<string | undefined>;
  forget(workspaceId: string | null, id: string): Promise<void>;
}

export class MemoryResponseRoutes implements ResponseRoutes {
  private readonly routes = new Map<string, string>();
  async remember(workspaceId: string | null, id: string, providerId: string) {
    this.routes.set(`${workspaceId ?? ''}\u0000${id}`, providerId);
  }
  async providerOf(workspaceId: string | null, id: string) {
    return this.routes.get(`${workspaceId ?? ''}\u0000${id}`);
  }
  async forget(workspaceId: string | null, id: string) {
    this.routes.delete(`${workspaceId ?? ''}\u0000${id}`);
  }
}

export class KyselyResponseRoutes implements ResponseRoutes {
  constructor(private readonly db: Kysely<Database>) {}
  async remember(workspaceId: string | null, id: string, providerId: string) {
    await this.db
      .insertInto('response_routes')
      .values({ id, workspace_id: workspaceId ?? '', provider_id: providerId, created_at: Date.now() })
      .onConflict((conflict) => conflict.column('id').doNothing())
      .execute();
  }
  async providerOf(workspaceId: string | null, id: string) {
    const row = await this.db.selectFrom('response_routes').select('provider_id').where('id', '=', id).where('workspace_id', '=', workspaceId ?? '').executeTakeFirst();
    return row?.provider_id;
  }
  async forget(workspaceId: string | null, id: string) {
    await this.db.deleteFrom('response_routes').where('id', '=', id).where('workspace_id', '=', workspaceId ?? '').execute();
  }
}
