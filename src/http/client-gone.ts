import type { FastifyReply } from 'fastify';
import type { ServerResponse } from 'node:http';

const controllers = new WeakMap<ServerResponse, AbortController>();

// One listener for every response (the response is `this`): no closure per request, which under
// tsx's keep-names transform would also cost a defineProperty each.
function onClose(this: ServerResponse): void {
  if (!this.writableFinished) controllers.get(this)?.abort();
}

/** An AbortSignal that fires when the client goes away before its response is complete. */
export class ClientGone {
  readonly signal: AbortSignal;

  constructor(private readonly response: ServerResponse) {
    const controller = new AbortController();
    controllers.set(response, controller);
    this.signal = controller.signal;
    response.on('close', onClose);
  }

  /** Stops watching: the response is done with. */
  release(): void {
    this.response.off('close', onClose);
  }
}

export function clientGone(reply: FastifyReply): ClientGone {
  return new ClientGone(reply.raw);
}
