import type { FastifyReply } from 'fastify';

/** Milliseconds since the request arrived, for `openai-processing-ms`. */
export function processingMs(reply: FastifyReply): string {
  return String(Math.round(reply.elapsedTime));
}

/** When the request arrived, as a `performance.now()` time (Fastify's own clock), for the overhead metric. */
export function receivedAt(reply: FastifyReply): number {
  return performance.now() - reply.elapsedTime;
}
