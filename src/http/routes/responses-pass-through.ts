import type { FastifyReply, FastifyRequest } from 'fastify';
import { untilWritable } from '../until-writable.js';
import { createParser } from 'eventsource-parser';
import type { CompletionUsage } from 'openai/resources/completions';
import { ClientAbortedError, SwitchyardError, UpstreamError, toSwitchyardError } from '../../errors/errors.js';
import type { Gateway } from '../../gateway/gateway.js';
import type { RoutePlan } from '../../gateway/route-planner.js';
import type { ChatRequest, Provider, RawUpstreamResponse } from '../../providers/provider.js';
import type { ResponseRoutes } from '../../protocols/responses/response-routes.js';
import { timeOrderedId } from '../../util/ids.js';
import { receivedAt } from '../request-timing.js';
import type { ChatRouteOptions } from './chat-completions.js';
import { clientGone } from '../client-gone.js';
import { headerValue } from '../header-value.js';

export interface PassThroughOptions {
  gateway: Gateway;
  routes: ResponseRoutes;
  provider: (id: string) => Provider | undefined;
  admit?: ChatRouteOptions['admit'];
}

interface ResponsesUsage {
  input_tokens?: number;
  output_tokens?: number;
  total_tokens?: number;
  input_tokens_details?: { cached_tokens?: number };
  output_tokens_details?: { reasoning_tokens?: number };
}

/** The Responses API's usage in chat's terms, for accounting. */
function chatUsage(usage: ResponsesUsage | undefined): CompletionUsage | undefined {
  if (!usage || typeof usage.input_tokens !== 'number') return undefined;
  const prompt = usage.input_tokens;
  const completion = usage.output_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: usage.total_tokens ?? prompt + completion,
    prompt_tokens_details: { cached_tokens: usage.input_tokens_details?.cached_tokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: usage.output_tokens_details?.reasoning_tokens ?? 0 },
  };
}

/** What the platform's limits estimate from: the input as text and the output limit. */
function estimateBody(body: Record<string, unknown>): ChatRequest {
  const input = typeof body.input === 'string' ? body.input : JSON.stringify(body.input ?? '');
  const instructions = typeof body.instructions === 'string' ? body.instructions : '';
  const max = typeof body.max_output_tokens === 'number' ? body.max_output_tokens : undefined;
  return { model: String(body.model), messages: [{ role: 'user', content: `${instructions}${input}` }], ...(max ? { max_completion_tokens: max } : {}) };
}

/**
 * `POST /responses` passed through to backends that serve the Responses API: the client's body
 * goes on as it came (unknown fields, hosted tools and all; the model rewritten), the answer comes
 * back byte for byte, streamed or not. Switchyard reads the usage on the way for accounting and
 * remembers which upstream holds the response, so that GET, DELETE and input_items reach it.
 */
export async function passThroughCreate(request: FastifyRequest, reply: FastifyReply, body: Record<string, unknown>, plan: RoutePlan, options: PassThroughOptions): Promise<FastifyReply> {
  const auditId = timeOrderedId('aud_');
  reply.header('x-switchyard-audit-id', auditId);
  const release = options.admit ? await options.admit(request, reply, estimateBody(body), auditId) : undefined;
  const disconnect = clientGone(reply);
  const stream = body.stream === true;
  const workspaceId = request.caller?.workspaceId ?? null;
  const keep = async (id: unknown, providerId: string) => {
    if (typeof id === 'string' && body.store !== false) await options.routes.remember(workspaceId, id, providerId);
  };
  try {
    const { value: upstream, route, resolved, end } = await options.gateway.passThroughResponses(
      plan,
      String(body.model),
      stream,
      { requestId: request.id, auditId, caller: request.caller, signal: disconnect.signal, receivedAt: receivedAt(reply) },
      (target, signal) => target.provider.createResponse!({ ...body, model: target.model }, stream, signal),
    );
    reply.header('x-switchyard-route', headerValue(route));
    if (!stream) {
      const text = await upstream.body.text().catch((error: unknown) => {
        void end(undefined, error);
        throw error;
      });
      let parsed: { id?: unknown; usage?: ResponsesUsage } = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        // Relayed as it came; nothing to account.
      }
      try {
        await keep(parsed.id, resolved.provider.id);
      } finally {
        // Accounted even when remembering where the response lives failed.
        await end(chatUsage(parsed.usage));
      }
      return reply.code(upstream.statusCode).type('application/json').send(text);
    }

    reply.hijack();
    reply.raw.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let id: unknown;
    let usage: CompletionUsage | undefined;
    const parser = createParser({
      onEvent(event) {
        try {
          const data = JSON.parse(event.data) as { type?: string; response?: { id?: unknown; usage?: ResponsesUsage } };
          if (data.response?.id) id = data.response.id;
          if (data.response?.usage) usage = chatUsage(data.response.usage);
        } catch {
          // Not JSON: relayed all the same.
        }
      },
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of upstream.body) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        if (!reply.raw.write(chunk)) await untilWritable(reply.raw);
      }
    } catch (error) {
      const failure = disconnect.signal.aborted ? new ClientAbortedError() : toSwitchyardError(error);
      await end(usage, failure);
      if (!disconnect.signal.aborted) reply.raw.end(`event: error\ndata: ${JSON.stringify({ type: 'error', code: failure.code, message: failure.message, param: failure.param })}\n\n`);
      return reply;
    }
    // The response ends once its usage record is durable, as every other answer does.
    try {
      await keep(id, resolved.provider.id);
    } finally {
      try {
        await end(usage);
      } finally {
        reply.raw.end();
      }
    }
    return reply;
  } finally {
    disconnect.release();
    release?.();
  }
}

/** Relays a GET or DELETE of a passed-through response to the upstream that holds it; false when no upstream does. */
export async function passThroughRead(request: FastifyRequest, reply: FastifyReply, method: 'GET' | 'DELETE', id: string, suffix: string, options: PassThroughOptions): Promise<boolean> {
  const workspaceId = request.caller?.workspaceId ?? null;
  const providerId = await options.routes.providerOf(workspaceId, id);
  const provider = providerId ? options.provider(providerId) : undefined;
  if (!provider?.forwardResponses) return false;
  const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
  const disconnect = clientGone(reply);
  try {
    const upstream: RawUpstreamResponse = await provider.forwardResponses(method, `/responses/${encodeURIComponent(id)}${suffix}${query}`, disconnect.signal);
    if (upstream.statusCode >= 500) {
      await upstream.body.text().catch(() => '');
      throw new UpstreamError('upstream_error', `The upstream provider '${provider.id}' returned ${upstream.statusCode}.`);
    }
    if (method === 'DELETE' && upstream.statusCode < 300) await options.routes.forget(workspaceId, id);
    const type = String(upstream.headers['content-type'] ?? 'application/json');
    if (!type.includes('text/event-stream')) {
      await reply.code(upstream.statusCode).type(type).send(await upstream.body.text());
      return true;
    }
    reply.hijack();
    reply.raw.writeHead(upstream.statusCode, { ...(reply.getHeaders() as Record<string, string>), 'content-type': type, 'cache-control': 'no-cache' });
    for await (const chunk of upstream.body) if (!reply.raw.write(chunk)) await untilWritable(reply.raw);
    reply.raw.end();
    return true;
  } catch (error) {
    if (error instanceof SwitchyardError) throw error;
    throw toSwitchyardError(error);
  } finally {
    disconnect.release();
  }
}
