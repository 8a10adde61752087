import type { FastifyInstance } from 'fastify';
import type { Gateway } from '../../gateway/gateway.js';
import type { ChatRequest } from '../../providers/provider.js';
import type { ChatRouteOptions } from './chat-completions.js';
import { timeOrderedId } from '../../util/ids.js';
import { validateEmbeddingsRequest } from '../validation/embeddings-request.js';
import { receivedAt } from '../request-timing.js';
import { clientGone } from '../client-gone.js';
import { headerValue } from '../header-value.js';
import { float32Base64 } from '../../util/float32-base64.js';

/**
 * What the platform's admission reads of an embeddings call: the model, and its inputs as one
 * prompt for the token estimate (a token array counts one token per entry); nothing is generated.
 */
function admissionView(model: string, inputs: ReadonlyArray<string | number[]>): ChatRequest {
  const text = inputs.map((input) => (typeof input === 'string' ? input : ' x'.repeat(input.length))).join('\n');
  return { model, messages: [{ role: 'user', content: text }], max_tokens: 0 };
}

/** `POST /embeddings`: vectors from any backend that makes them, as floats or base64. */
export function registerEmbeddingsRoutes(app: FastifyInstance, gateway: Gateway, admit?: ChatRouteOptions['admit']): void {
  app.post('/embeddings', async (request, reply) => {
    const { body, inputs } = validateEmbeddingsRequest(request.body);
    const auditId = timeOrderedId('aud_');
    reply.header('x-switchyard-audit-id', auditId);
    // Limits, model permissions and the budget apply as to any model call.
    const release = admit ? await admit(request, reply, admissionView(body.model, inputs), auditId) : undefined;
    const disconnect = clientGone(reply);
    try {
      const result = await gateway.embed(
        { model: body.model, input: inputs, dimensions: body.dimensions, body: body as Record<string, unknown> },
        { requestId: request.id, auditId, caller: request.caller, signal: disconnect.signal, receivedAt: receivedAt(reply) },
      );
      reply.header('x-switchyard-route', headerValue(result.route));
      if (result.kind === 'relay') return reply.type('application/json').send(result.rawJson);
      const base64 = body.encoding_format === 'base64';
      return reply.type('application/json').send(
        JSON.stringify({
          object: 'list',
          data: result.vectors.map((vector, index) => ({
            object: 'embedding',
            index,
            embedding: base64 ? float32Base64(vector) : Array.from(vector),
          })),
          model: result.model,
          usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
        }),
      );
    } finally {
      disconnect.release();
      release?.();
    }
  });
}
