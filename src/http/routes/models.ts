import type { FastifyInstance } from 'fastify';
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
export function registerModelRoutes(app: FastifyInstance, registry: ModelRegistry, aliases: readonly string[] = []): void {
  const objects = new Map<string, ModelObject>();
  // Aliases first: they are the names most callers should use.
  for (const alias of aliases) objects.set(alias, { id: alias, object: 'model', created: ALIAS_CREATED, owned_by: 'switchyard' });
  for (const model of registry.list()) {
    objects.set(model.publicId, { id: model.publicId, object: 'model', created: model.info.created, owned_by: model.info.ownedBy });
  }
  // The list does not change while the server runs: serialize it once.
  const listBody = JSON.stringify({ object: 'list', data: [...objects.values()] });

  app.get('/models', async (_request, reply) => reply.type('application/json').send(listBody));

  app.get('/models/*', async (request, reply) => {
    const id = decodeURIComponent((request.params as { '*': string })['*']);
    const resolved = registry.resolve(id);
    const found = objects.get(id) ?? (resolved?.info ? objects.get(resolved.publicId) : undefined);
    if (!found) {
      throw new SwitchyardError('model_not_found', `The model '${id}' does not exist`, { param: 'model' });
    }
    return reply.type('application/json').send(JSON.stringify(found));
  });
}
