import type { FastifyReply } from 'fastify';

/** Milliseconds since the request arrived, for `openai-processing-ms`. */
export function processingMs(reply: FastifyReply): string {
  return String(Math.round(reply.elapsedTime));
}
