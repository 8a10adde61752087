import type { Kysely } from 'kysely';
import type { Persona } from '../gateway/personas/persona.js';
import type { Database } from './tables.js';

/** Personas in the store: the definition kept whole as JSON, keyed by id. */
export class PersonaStore {
  constructor(private readonly db: Kysely<Database>) {}

  async list(): Promise<Persona[]> {
    const rows = await this.db.selectFrom('personas').selectAll().orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
    return rows.map(fromRow);
  }

  async get(id: string): Promise<Persona | undefined> {
    const row = await this.db.selectFrom('personas').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  /** Creates or replaces one persona. */
  async put(persona: Persona): Promise<void> {
    const { id, created_at, updated_at, ...definition } = persona;
    const values = { id, definition: JSON.stringify(definition), created_at, updated_at };
    await this.db
      .insertInto('personas')
      .values(values)
      .onConflict((conflict) => conflict.column('id').doUpdateSet({ definition: values.definition, updated_at }))
      .execute();
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('personas').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

function fromRow(row: { id: string; definition: string; created_at: number | string; updated_at: number | string }): Persona {
  return { ...(JSON.parse(row.definition) as Omit<Persona, 'id' | 'created_at' | 'updated_at'>), id: row.id, created_at: Number(row.created_at), updated_at: Number(row.updated_at) };
}
