import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import type { WebSocket } from 'ws';
// Brings in the `websocket: true` route option's types.
import type {} from '@fastify/websocket';
import type { Caller, Gateway } from '../../gateway/gateway.js';
import { SwitchyardError } from '../../errors/errors.js';
import type { ChatRequest } from '../../providers/provider.js';
import { RealtimeSession } from '../../protocols/realtime/realtime-session.js';
import { timeOrderedId } from '../../util/ids.js';

export interface RealtimeLimits {
  /** Client events per second a socket may send on average, and in a burst; beyond, error events. */
  eventsPerSecond: number;
  eventBurst: number;
  /** A socket with no client or server event and no response in progress for this long is closed. */
  idleTimeoutMs: number;
  /** Largest client message (the socket's maxPayload). */
  maxMessageBytes: number;
}

export interface RealtimeRouteOptions {
  gateway: Gateway;
  limits: RealtimeLimits;
  admit?: (request: FastifyRequest, reply: FastifyReply, body: ChatRequest, auditId: string) => Promise<() => void>;
  /**
   * The key check of every /v1 request, run again for each response a session asks for: a session
   * outlives its upgrade, and a key revoked (or expired) meanwhile must stop working within the
   * revocation bound, as it does for any other call.
   */
  authenticate?: (headers: IncomingHttpHeaders) => Caller | Promise<Caller>;
  /** The platform's 403 for a model the caller's key or tier does not allow. */
  assertModelAllowed?: (caller: Caller, model: string) => void;
}

const KEY_PROTOCOL = 'openai-insecure-api-key.';

/**
 * Browsers cannot set headers on a WebSocket, so OpenAI's browser clients put the key in a
 * subprotocol (`openai-insecure-api-key.<key>`); it is read as a bearer token when no
 * Authorization header came. The key-bearing protocol is never echoed.
 */
export function withSubprotocolKey(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  if (headers.authorization || headers.upgrade?.toLowerCase() !== 'websocket') return headers;
  const offered = headers['sec-websocket-protocol']?.split(',').map((protocol) => protocol.trim()) ?? [];
  const key = offered.find((protocol) => protocol.startsWith(KEY_PROTOCOL))?.slice(KEY_PROTOCOL.length);
  return key ? { ...headers, authorization: `Bearer ${key}` } : headers;
}

/** The subprotocol the server selects: `realtime` when offered (a client that offered some and got none aborts). */
export function selectProtocol(offered: Set<string>): string | false {
  return offered.has('realtime') ? 'realtime' : false;
}

/** The platform's admission wants a reply to put rate-limit headers on; a socket has none after the upgrade. */
function headerSink(): FastifyReply {
  const sink = { header: () => sink, headers: () => sink, getHeader: () => undefined };
  return sink as unknown as FastifyReply;
}

/**
 * `GET /realtime?model=…`: the Realtime API over a WebSocket, text only. Auth and the model are
 * checked before the upgrade (a plain HTTP error is clearer than a closed socket); each
 * `response.create` is admitted by the platform like a chat call and runs through the gateway.
 */
export function registerRealtimeRoutes(app: FastifyInstance, options: RealtimeRouteOptions): void {
  const { gateway, limits } = options;
  /** Bytes sent and not yet taken by the client past which its events wait. */
  const unreadLimit = Math.max(16 * 1024 * 1024, 4 * limits.maxMessageBytes);
  app.route({
    method: 'GET',
    url: '/realtime',
    preHandler: async (request) => {
      const model = (request.query as { model?: unknown }).model;
      if (typeof model !== 'string' || model === '') {
        throw new SwitchyardError('missing_required_parameter', "Missing required parameter: 'model'.", { param: 'model' });
      }
      await gateway.checkModel(model, request.caller);
      // Permission once, at connect: a session is for one model.
      options.assertModelAllowed?.(request.caller, model);
    },
    // A plain GET (no Upgrade header) gets an answer in OpenAI's shape rather than a bare 404.
    handler: async () => {
      throw new SwitchyardError('websocket_upgrade_required', 'The Realtime API is a WebSocket: connect with `Upgrade: websocket` (wss:// when served over TLS).', { param: null });
    },
    wsHandler: (socket: WebSocket, request: FastifyRequest) => {
      const model = (request.query as { model: string }).model;
      let unsent = 0;
      const waiting: string[] = [];
      const drain = () => {
        while (waiting.length > 0 && unsent <= unreadLimit) session.handle(waiting.shift()!);
        if (waiting.length === 0 && socket.isPaused && unsent <= unreadLimit / 2) socket.resume();
      };
      const beta = /realtime=v1/.test(String(request.headers['openai-beta'] ?? '')) || /openai-beta\.realtime-v1/.test(String(request.headers['sec-websocket-protocol'] ?? ''));
      const session = new RealtimeSession({
        model,
        beta,
        send: (event) => {
          if (socket.readyState !== socket.OPEN) return;
          // Server output is activity too: a client reading a long generation is not idle.
          idle?.refresh();
          // A client that stops reading while it asks for events (each retrieve echoes an item of
          // up to maxMessageBytes) would have the server buffer them without end: past the limit,
          // its events are not read until it has taken what was sent.
          const text = JSON.stringify(event);
          const bytes = Buffer.byteLength(text);
          unsent += bytes;
          if (unsent > unreadLimit && !socket.isPaused) socket.pause();
          socket.send(text, () => {
            unsent -= bytes;
            if (unsent <= unreadLimit / 2) drain();
          });
        },
        runChat: async (body, signal) => {
          if (options.authenticate) request.caller = await options.authenticate(withSubprotocolKey(request.headers));
          const auditId = timeOrderedId('aud_');
          const release = options.admit ? await options.admit(request, headerSink(), body, auditId) : () => {};
          try {
            const reply = await gateway.chat(body, { requestId: request.id, auditId, caller: request.caller, signal });
            if (reply.kind !== 'stream') throw new Error('A streaming call answered without a stream.');
            return { chunks: reply.chunks, release };
          } catch (error) {
            release();
            throw error;
          }
        },
      });

      // A token bucket per socket: a flood gets error events, and a socket that keeps flooding is closed.
      let tokens = limits.eventBurst;
      let refilled = performance.now();
      let refusedInARow = 0;
      // The idle clock runs only while nothing is in flight: every client event and every server
      // event restarts it, and while a response is in progress (a slow backend may send nothing
      // for longer than the timeout before its first token) it is restarted instead of firing.
      // Declared before it is set: the session's send callback above reads it, and runs first (session.created).
      // eslint-disable-next-line prefer-const
      let idle: NodeJS.Timeout | undefined;
      const closeIdle = () => {
        if (session.responding) {
          idle!.refresh();
          return;
        }
        session.error(new SwitchyardError('session_idle_timeout', `No event and no response in progress for ${Math.round(limits.idleTimeoutMs / 1000)} s: the session is closed.`, { param: null }));
        socket.close(1000, 'idle timeout');
      };

      idle = setTimeout(closeIdle, limits.idleTimeoutMs);
      socket.on('message', (data, isBinary) => {
        idle!.refresh();
        const now = performance.now();
        tokens = Math.min(limits.eventBurst, tokens + ((now - refilled) / 1000) * limits.eventsPerSecond);
        refilled = now;
        if (tokens < 1) {
          refusedInARow += 1;
          if (refusedInARow > limits.eventBurst) {
            socket.close(1008, 'event rate limit exceeded');
            return;
          }
          session.error(new SwitchyardError('rate_limit_exceeded', `Too many client events: at most ${limits.eventsPerSecond} per second (bursts of ${limits.eventBurst}). This event was dropped.`, { param: null }));
          return;
        }
        tokens -= 1;
        refusedInARow = 0;
        if (isBinary) {
          session.error(new SwitchyardError('invalid_value', 'Client events are JSON text messages; a binary message was dropped.', { param: null }));
          return;
        }
        // Events read in one chunk with the one that crossed the limit wait their turn.
        if (waiting.length > 0 || unsent > unreadLimit) {
          waiting.push(data.toString());
          if (!socket.isPaused) socket.pause();
          return;
        }
        session.handle(data.toString());
      });
      socket.on('close', () => {
        clearTimeout(idle);
        void session.close();
      });
      socket.on('error', () => socket.terminate());
      session.start();
    },
  });
}
