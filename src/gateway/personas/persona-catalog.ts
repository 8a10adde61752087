import { randomId } from '../../util/ids.js';
import type { PersonaStore } from '../../store/persona-store.js';
import { PersonaInputSchema, type Persona, type PersonaInput } from './persona.js';

/** How long a node trusts what it read of a persona: edits on another node show within this. */
const CACHE_MS = 1_000;

/**
 * Where personas come from: the store (admin API, CLI), seeded from config at start; in memory
 * when the platform has no store. A persona read is cached for a second, so a persona call costs
 * no database read in the common case and an edit on any node is seen everywhere within a second.
 * Calls to models that are not personas never come here.
 */
export class PersonaCatalog {
  private readonly memory = new Map<string, Persona>();
  private readonly cache = new Map<string, { persona: Persona | undefined; at: number }>();

  constructor(private readonly store: PersonaStore | undefined, private readonly now: () => number = Date.now) {}

  /** Config seeds: created or replaced at start (an edit made through the API since is overwritten, as config is the source of truth for seeds). */
  async seed(inputs: readonly PersonaInput[]): Promise<void> {
    for (const input of inputs) await this.save(input, input.id);
  }

  async list(): Promise<Persona[]> {
    return this.store ? this.store.list() : [...this.memory.values()];
  }

  async get(id: string): Promise<Persona | undefined> {
    const cached = this.cache.get(id);
    if (cached && this.now() - cached.at < CACHE_MS) return cached.persona;
    const persona = this.store ? await this.store.get(id) : this.memory.get(id);
    this.cache.set(id, { persona, at: this.now() });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return persona;
  }

  /** Validates and stores a persona; `id` given: create-or-replace that id. Throws a ZodError on bad input. */
  async save(input: unknown, id?: string): Promise<Persona> {
    const parsed = PersonaInputSchema.parse(input);
    const personaId = id ?? parsed.id ?? randomId('persona_', 16);
    const existing = await (this.store ? this.store.get(personaId) : this.memory.get(personaId));
    const now = this.now();
    const persona: Persona = { ...parsed, id: personaId, created_at: existing?.created_at ?? now, updated_at: now };
    if (this.store) await this.store.put(persona);
    else this.memory.set(personaId, persona);
    this.cache.delete(personaId);
    return persona;
  }

  async delete(id: string): Promise<boolean> {
    this.cache.delete(id);
    if (this.store) return this.store.delete(id);
    return this.memory.delete(id);
  }
}
