import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../../gateway/gateway.js';
import { promptsOf } from '../../completions/completion-prompts.js';
import type { ChatRequest, CompletionRequest } from '../../providers/provider.js';
import { timeOrderedId } from '../../util/ids.js';
import { streamReply } from '../stream-reply.js';
import { clientGone } from '../client-gone.js';
import { receivedAt } from '../request-timing.js';
import { validateCompletionsRequest } from '../validation/completions-request.js';
import type { ChatRouteOptions } from './chat-completions.js';
import { headerValue } from '../header-value.js';

export interface CompletionsRouteOptions {
  gateway: Gateway;
  heartbeatMs: number;
  /** The platform's checks before a call (model permissions, rate limits), as for chat. */
  admit?: ChatRouteOptions['admit'];
}

/**
 * The call as the platform's admission sees it: the model, the output budget, and the prompts as
 * one user message (what a tokens-per-minute limit estimates from).
 */
function admissionView(body: CompletionRequest): ChatRequest {
  const text = promptsOf(body)
    .map((prompt) => (typeof prompt === 'string' ? prompt : ' x'.repeat(prompt.length)))
    .join('\n');
  return { model: body.model, messages: [{ role: 'user', content: text }], max_tokens: body.max_tokens ?? 16, n: (body.n ?? 1) * promptsOf(body).length };
}

/** `POST /completions`: legacy text completion along the same gateway path as chat. */
export function registerCompletionsRoutes(app: FastifyInstance, options: CompletionsRouteOptions): void {
  app.post('/completions', async (request, reply) => {
    const body = validateCompletionsRequest(request.body);
    const auditId = timeOrderedId('aud_');
    reply.header('x-switchyard-audit-id', auditId);
    const release = options.admit ? await options.admit(request, reply, admissionView(body), auditId) : undefined;
    try {
      return await handleCompletion(request, reply, body, auditId, options);
    } finally {
      release?.();
    }
  });
}

async function handleCompletion(request: FastifyRequest, reply: FastifyReply, body: CompletionRequest, auditId: string, options: CompletionsRouteOptions) {
  const disconnect = clientGone(reply);
  const callOptions = { requestId: request.id, auditId, caller: request.caller, signal: disconnect.signal, receivedAt: receivedAt(reply) };
  try {
    if (body.stream !== true) {
      const result = await options.gateway.complete(body, callOptions);
      if (result.kind !== 'completion') throw new Error('A non-streaming call answered with a stream.');
      reply.header('x-switchyard-route', headerValue(result.route));
      return reply.type('application/json').send(result.rawJson ?? JSON.stringify(result.completion));
    }
    // Streams write to the raw socket: nothing between an event and the client.
    reply.hijack();
    await streamReply(request, reply, options.gateway.complete(body, callOptions), options.heartbeatMs, disconnect.signal, 'completion');
    return reply;
  } finally {
    disconnect.release();
  }
}
