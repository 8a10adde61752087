import type { FastifyReply, FastifyRequest } from 'fastify';
import { SwitchyardError } from '../../errors/errors.js';

/** OpenAI API families Switchyard does not serve: a clear 404 rather than a puzzling one. */
const OPENAI_FAMILIES = new Set([
  'assistants', 'audio', 'batches', 'chatkit', 'containers', 'conversations', 'evals',
  'files', 'fine_tuning', 'images', 'moderations', 'organization', 'projects', 'realtime', 'threads',
  'uploads', 'vector_stores', 'videos', 'chat', 'models', 'skills', 'responses', 'completions', 'embeddings',
  'content_provenance_checks',
]);

/** Endpoints Switchyard serves: reached with another method or a trailing slash, the URL is wrong, not the endpoint unserved. */
const SERVED = /^(?:chat\/completions|completions|embeddings|responses|models|realtime)\/?$/;

/** OpenAI endpoints on a served path under another method: `GET /v1/chat/completions` lists stored chat completions. */
const UNSERVED_METHODS = /^GET chat\/completions\/?$/;

/** The 404 for a path no route serves. */
export function notFoundError(request: FastifyRequest): SwitchyardError {
  const path = request.url.split('?')[0]!;
  const match = /^\/v1(?:\/openai)?\/(([^/]+).*)$/.exec(path);
  return match && OPENAI_FAMILIES.has(match[2]!) && (!SERVED.test(match[1]!) || UNSERVED_METHODS.test(`${request.method} ${match[1]}`))
    ? new SwitchyardError('endpoint_not_served', `Switchyard does not serve ${request.method} ${path}.`)
    : new SwitchyardError('unknown_url', `Invalid URL (${request.method} ${path})`);
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply, error = notFoundError(request)): void {
  void reply.code(error.status).type('application/json').send(JSON.stringify(error.toBody()));
}
