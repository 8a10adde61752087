import type { FastifyInstance } from 'fastify';
import { SwitchyardError, ValidationError } from '../../errors/errors.js';
import { parse } from './admin.js';
import { jsonObjectBody } from '../validation/format-issue.js';
import type { Gateway } from '../../gateway/gateway.js';
import { PersonaInputSchema, type Persona } from '../../gateway/personas/persona.js';

function personaJson(persona: Persona) {
  // Whole seconds, as every other admin object's times.
  return { object: 'persona', model: `persona://${persona.id}`, ...persona, created_at: Math.floor(persona.created_at / 1000), updated_at: Math.floor(persona.updated_at / 1000) };
}

const validated = (body: unknown) => parse(PersonaInputSchema, body);
/** JSON merge patch (RFC 7386): objects merge key by key, `null` removes, anything else replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const merged: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = mergePatch(merged[key], value);
  }
  return merged;
}

/** What the GET answers and a PUT may send back as it came: the read-only fields go. */
function writable(body: Record<string, unknown>): Record<string, unknown> {
  const { object: _object, model: _model, created_at: _created, updated_at: _updated, ...rest } = body;
  return rest;
}

/** `/admin/v1/personas`: list, create, read, replace or patch, delete. Registered inside the admin scope (admin key only). */
export function registerPersonaAdminRoutes(app: FastifyInstance, gateway: Gateway): void {
  const catalog = gateway.personaCatalog();
  if (!catalog) return;
  const find = async (id: string) => {
    const persona = await catalog.get(id);
    if (!persona) throw new SwitchyardError('not_found', `No persona with id '${id}'.`, { param: 'id' });
    return persona;
  };

  // The models a persona names must route somewhere now: a typo is a 400 at save, not a 404 on every call.
  const checkedModels = async <T extends { base_model: string; recovery: { fallback_model?: string | undefined } }>(persona: T): Promise<T> => {
    for (const [param, model] of [['base_model', persona.base_model], ['recovery.fallback_model', persona.recovery.fallback_model]] as const) {
      if (model === undefined) continue;
      try {
        await gateway.checkModel(model, { keyId: null });
      } catch {
        throw new ValidationError(`Invalid '${param}': no model, alias or provider prefix named '${model}' is configured.`, param);
      }
    }
    return persona;
  };

  app.get('/personas', async () => ({ object: 'list', data: (await catalog.list()).map(personaJson) }));
  app.post('/personas', async (request) => {
    const body = await checkedModels(validated(request.body));
    if (body.id && (await catalog.get(body.id))) throw new ValidationError(`A persona with id '${body.id}' already exists.`, 'id');
    return personaJson(await catalog.save(body));
  });
  app.get('/personas/:id', async (request) => personaJson(await find((request.params as { id: string }).id)));
  // PATCH merges the given fields over the persona; PUT replaces it whole.
  app.patch('/personas/:id', async (request) => {
    const existing = await find((request.params as { id: string }).id);
    const { id, created_at: _created, updated_at: _updated, ...current } = existing;
    const merged = mergePatch(current, writable(jsonObjectBody(request.body))) as Record<string, unknown>;
    return personaJson(await catalog.save(await checkedModels(validated({ ...merged, id })), id));
  });
  app.put('/personas/:id', async (request) => {
    const id = (request.params as { id: string }).id;
    await find(id);
    return personaJson(await catalog.save(await checkedModels(validated({ ...writable(jsonObjectBody(request.body)), id })), id));
  });
  /**
   * The UI's side-by-side test: one message to the persona and to its base model, as the admin
   * (accounted like the playground), with the persona reply's drift and layers.
   */
  app.post('/personas/:id/test', async (request) => {
    const persona = await find((request.params as { id: string }).id);
    const body = (request.body ?? {}) as { message?: unknown };
    if (typeof body.message !== 'string' || body.message.trim() === '') throw new ValidationError("Missing required parameter: 'message'.", 'message', 'missing_required_parameter');
    const messages = [{ role: 'user' as const, content: body.message }];
    const call = (model: string) => gateway.chat({ model, messages }, { requestId: request.id, caller: { keyId: null }, signal: AbortSignal.timeout(120_000) });
    const [asPersona, asBase] = await Promise.all([call(`persona://${persona.id}`), call(persona.base_model).catch((error: Error) => error)]);
    if (asPersona.kind !== 'completion') throw new Error('A non-streaming call answered with a stream.');
    return {
      persona: {
        reply: asPersona.completion.choices[0]?.message.content ?? '',
        route: asPersona.route,
        drift: asPersona.persona ? { score: asPersona.persona.drift.score, alert: asPersona.persona.drift.alert, reasons: asPersona.persona.drift.reasons, threshold: asPersona.persona.drift.threshold } : null,
        layers: asPersona.persona?.layers ?? [],
        recovery: asPersona.persona?.recovery ?? null,
      },
      base:
        asBase instanceof Error
          ? { error: asBase.message }
          : { reply: asBase.kind === 'completion' ? (asBase.completion.choices[0]?.message.content ?? '') : '', route: asBase.route },
    };
  });
  app.delete('/personas/:id', async (request) => {
    const id = (request.params as { id: string }).id;
    if (!(await catalog.delete(id))) throw new SwitchyardError('not_found', `No persona with id '${id}'.`, { param: 'id' });
    return { id, object: 'persona.deleted', deleted: true };
  });
}
