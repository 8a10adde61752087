import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SwitchyardError } from '../../errors/errors.js';
import type { ModelRegistry } from '../../gateway/model-registry.js';

/** Aliases are Switchyard's own names; they carry the date of the server's first release. */
const ALIAS_CREATED = 1_735_689_600;

interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** `GET /models` and `GET /models/{id}`; ids may hold slashes (`sandbox/echo`, `org/model`). */
export function registerModelRoutes(
  app: FastifyInstance,
  registry: ModelRegistry,
  aliases: readonly string[] = [],
  /** Personas, listed after the aliases as `persona://<id>` (read per listing: they change at run time). */
  personas?: { list(): Promise<Array<{ id: string; created_at: number }>> },
  /** The caller's permissions: a key limited to some models sees only those listed. */
  permissions?: { limited(request: FastifyRequest): boolean; mayUse(request: FastifyRequest, names: string[]): boolean },
): void {
  const objects = new Map<string, ModelObject>();
  // Aliases first: they are the names most callers should use.
  for (const alias of aliases) objects.set(alias, { id: alias, object: 'model', created: ALIAS_CREATED, owned_by: 'switchyard' });
  for (const model of registry.list()) {
    objects.set(model.publicId, { id: model.publicId, object: 'model', created: model.info.created, owned_by: model.info.ownedBy });
  }
  // The list does not change while the server runs: serialize it once.
  const listBody = JSON.stringify({ object: 'list', data: [...objects.values()] });

  const personaObject = (persona: { id: string; created_at: number }): ModelObject => ({
    id: `persona://${persona.id}`,
    object: 'model',
    created: Math.floor(persona.created_at / 1000),
    owned_by: 'switchyard',
  });

  app.get('/models', async (request, reply) => {
    const listed = personas ? await personas.list() : [];
    const limited = permissions?.limited(request) === true;
    if (listed.length === 0 && !limited) return reply.type('application/json').send(listBody);
    let data = [...aliases.map((alias) => objects.get(alias)!), ...listed.map(personaObject), ...[...objects.values()].slice(aliases.length)];
    if (limited) data = data.filter((model) => permissions!.mayUse(request, [model.id]));
    return reply.type('application/json').send(JSON.stringify({ object: 'list', data }));
  });

  app.get('/models/*', async (request, reply) => {
    // The router has decoded the path already (`openai%2Fgpt-4o` arrives as `openai/gpt-4o`): decoding
    // again would turn an id's own `%` into an escape, or fail on it.
    const id = (request.params as { '*': string })['*'];
    const notFound = () => new SwitchyardError('model_not_found', `The model '${id}' does not exist`, { param: 'model' });
    // A key limited to some models is told of no other, as its listing shows none (OpenAI answers
    // a model a key cannot use with the same 404 as one that does not exist).
    const resolved = registry.resolve(id);
    if (permissions?.limited(request) && !permissions.mayUse(request, resolved ? [id, resolved.publicId] : [id])) throw notFound();
    if (personas && id.startsWith('persona://')) {
      const persona = (await personas.list()).find((candidate) => `persona://${candidate.id}` === id);
      if (persona) return reply.type('application/json').send(JSON.stringify(personaObject(persona)));
    }
    const found = objects.get(id) ?? (resolved?.info ? objects.get(resolved.publicId) : undefined);
    if (!found) throw notFound();
    return reply.type('application/json').send(JSON.stringify(found));
  });
}
