import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import { ClientAbortedError, toSwitchyardError } from '../errors/errors.js';
import { chatErrorEvent, SseWriter, type SseChunk } from './sse-writer.js';
import { writeRawError } from './errors-reply.js';
import { processingMs } from './request-timing.js';
import { headerValue } from './header-value.js';
import { blameDeepNesting } from './deep-nesting.js';

/** What a gateway call resolves to when the client asked for a stream. */
export type PendingStream = Promise<{ kind: 'stream'; route: string; chunks: AsyncIterable<SseChunk>; trailer?: () => string | undefined } | { kind: string }>;

/**
 * Writes a gateway stream to a hijacked response, the one way every chunk-streaming route does:
 * SSE comment heartbeats while the first chunk is slow, a proper HTTP error for a failure before
 * it, chunks with backpressure, `[DONE]`, and an error event for a failure after the first byte.
 */
export async function streamReply(
  request: FastifyRequest,
  reply: FastifyReply,
  pending: PendingStream,
  heartbeatMs: number,
  signal: AbortSignal,
  what: string,
): Promise<void> {
  const sse = new SseWriter(reply.raw, chatErrorEvent);
  const headers = (): OutgoingHttpHeaders => ({ ...(reply.getHeaders() as OutgoingHttpHeaders), 'openai-processing-ms': processingMs(reply) });
  // A slow first token (a model loading): commit to the stream and keep the connection alive.
  const heartbeat = setInterval(() => {
    sse.start(headers());
    void sse.heartbeat();
  }, heartbeatMs);

  let result: Awaited<PendingStream>;
  try {
    result = await pending;
  } catch (error) {
    clearInterval(heartbeat);
    const failure = blameDeepNesting(toSwitchyardError(error), request.body);
    if (failure instanceof ClientAbortedError || signal.aborted) return;
    if (sse.headersSent) sse.fail(failure);
    else writeRawError(reply.raw, failure, headers());
    if (failure.status >= 500) request.log.warn({ err: failure, cause: failure.cause }, `${what} stream failed before its first chunk`);
    return;
  }
  clearInterval(heartbeat);
  if (!('chunks' in result)) throw new Error('A streaming call answered without a stream.');

  sse.start({ ...headers(), 'x-switchyard-route': headerValue(result.route) });
  try {
    for await (const chunk of result.chunks) {
      const backpressure = sse.chunk(chunk);
      if (backpressure) await backpressure;
      if (sse.closed) break;
    }
    // A persona stream's drift score, as a comment line OpenAI clients skip.
    const trailer = result.trailer?.();
    if (trailer && !sse.closed) await sse.comment(trailer);
    sse.done();
  } catch (error) {
    const failure = toSwitchyardError(error);
    if (!(failure instanceof ClientAbortedError) && !signal.aborted) {
      request.log.warn({ err: failure, cause: failure.cause }, `${what} stream failed after its first chunk`);
    }
    sse.fail(failure);
  }
}
