import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Gateway } from '../../gateway/gateway.js';
import { ClientAbortedError, toSwitchyardError } from '../../errors/errors.js';
import { validateChatRequest } from '../validation/validate-chat-request.js';
import { SseWriter } from '../sse-writer.js';
import { writeRawError } from '../errors-reply.js';
import { processingMs, receivedAt } from '../request-timing.js';
import { randomId } from '../../util/ids.js';
import type { ChatRequest } from '../../providers/provider.js';

export interface ChatRouteOptions {
  gateway: Gateway;
  heartbeatMs: number;
  /**
   * The platform's checks before a call (model permissions, rate limits): sets the rate-limit
   * headers, throws to refuse, and returns a release that is safe to call after the call ended.
   */
  admit?: (request: FastifyRequest, reply: FastifyReply, body: ChatRequest, auditId: string) => Promise<() => void>;
}

/** An AbortSignal that fires when the client goes away before its response is complete. */
function clientGone(reply: FastifyReply): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) controller.abort();
  };
  reply.raw.on('close', onClose);
  return { signal: controller.signal, release: () => reply.raw.off('close', onClose) };
}

export function registerChatRoutes(app: FastifyInstance, options: ChatRouteOptions): void {
  app.post('/chat/completions', async (request, reply) => {
    const body = validateChatRequest(request.body);
    // Known before any header is written, so that streams carry it too.
    const auditId = randomId('aud_');
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
      reply.header('x-switchyard-route', result.route);
      return reply.type('application/json').send(result.rawJson ?? JSON.stringify(result.completion));
    } finally {
      disconnect.release();
    }
  }

  // Streams write to the raw socket: nothing between a chunk and the client.
  reply.hijack();
  await streamChat(request, reply, gateway.chat(body, callOptions), heartbeatMs, disconnect.signal).finally(disconnect.release);
  return reply;
}

async function streamChat(
  request: FastifyRequest,
  reply: FastifyReply,
  pending: ReturnType<Gateway['chat']>,
  heartbeatMs: number,
  signal: AbortSignal,
): Promise<void> {
  const sse = new SseWriter(reply.raw);
  const headers = (): OutgoingHttpHeaders => ({ ...(reply.getHeaders() as OutgoingHttpHeaders), 'openai-processing-ms': processingMs(reply) });
  // A slow first token: commit to the stream and keep the connection alive with SSE comments.
  const heartbeat = setInterval(() => {
    sse.start(headers());
    void sse.heartbeat();
  }, heartbeatMs);

  let result: Awaited<typeof pending>;
  try {
    result = await pending;
  } catch (error) {
    clearInterval(heartbeat);
    const failure = toSwitchyardError(error);
    if (failure instanceof ClientAbortedError || signal.aborted) return;
    if (sse.headersSent) sse.fail(failure);
    else writeRawError(reply.raw, failure, headers());
    if (failure.status >= 500) request.log.warn({ err: failure, cause: failure.cause }, 'chat stream failed before its first chunk');
    return;
  }
  clearInterval(heartbeat);
  if (result.kind !== 'stream') throw new Error('A streaming call answered without a stream.');

  sse.start({ ...headers(), 'x-switchyard-route': result.route });
  try {
    for await (const chunk of result.chunks) {
      const backpressure = sse.chunk(chunk);
      if (backpressure) await backpressure;
      if (sse.closed) break;
    }
    sse.done();
  } catch (error) {
    const failure = toSwitchyardError(error);
    if (!(failure instanceof ClientAbortedError) && !signal.aborted) {
      request.log.warn({ err: failure, cause: failure.cause }, 'chat stream failed after its first chunk');
    }
    sse.fail(failure);
  }
}
