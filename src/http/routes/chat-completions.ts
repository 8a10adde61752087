import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../../gateway/gateway.js';
import { validateChatRequest } from '../validation/validate-chat-request.js';
import { streamReply } from '../stream-reply.js';
import { receivedAt } from '../request-timing.js';
import { timeOrderedId } from '../../util/ids.js';
import type { ChatRequest } from '../../providers/provider.js';
import { clientGone } from '../client-gone.js';
import { headerValue } from '../header-value.js';

export interface ChatRouteOptions {
  gateway: Gateway;
  heartbeatMs: number;
  /**
   * The platform's checks before a call (model permissions, rate limits): sets the rate-limit
   * headers, throws to refuse, and returns a release that is safe to call after the call ended.
   */
  admit?: (request: FastifyRequest, reply: FastifyReply, body: ChatRequest, auditId: string) => Promise<() => void>;
}

export function registerChatRoutes(app: FastifyInstance, options: ChatRouteOptions): void {
  app.post('/chat/completions', async (request, reply) => {
    const body = validateChatRequest(request.body);
    // Known before any header is written, so that streams carry it too.
    const auditId = timeOrderedId('aud_');
    reply.header('x-switchyard-audit-id', auditId);
    const release = options.admit ? await options.admit(request, reply, body, auditId) : undefined;
    try {
      return await handleChat(request, reply, body, auditId, options);
    } finally {
      release?.();
    }
  });
}

async function handleChat(request: FastifyRequest, reply: FastifyReply, body: ChatRequest, auditId: string, options: ChatRouteOptions) {
  const { gateway, heartbeatMs } = options;
  const disconnect = clientGone(reply);
  const callOptions = { requestId: request.id, auditId, caller: request.caller, signal: disconnect.signal, receivedAt: receivedAt(reply) };

  if (body.stream !== true) {
    try {
      const result = await gateway.chat(body, callOptions);
      if (result.kind !== 'completion') throw new Error('A non-streaming call answered with a stream.');
      reply.header('x-switchyard-route', headerValue(result.route));
      if (result.persona) {
        reply.header('x-switchyard-drift-score', String(result.persona.drift.score));
        if (result.persona.drift.alert) reply.header('x-switchyard-drift-alert', 'true');
        reply.header('x-switchyard-layers', result.persona.layers.join(', '));
        if (result.persona.recovery) reply.header('x-switchyard-drift-recovery', result.persona.recovery);
      }
      return reply.type('application/json').send(result.rawJson ?? JSON.stringify(result.completion));
    } finally {
      disconnect.release();
    }
  }

  // Streams write to the raw socket: nothing between a chunk and the client.
  reply.hijack();
  // The chunks are written as they came and nothing else reads them: the upstream's events may stay unread.
  await streamReply(request, reply, gateway.chat(body, { ...callOptions, relayOnly: true }), heartbeatMs, disconnect.signal, 'chat').finally(() => disconnect.release());
  return reply;
}
