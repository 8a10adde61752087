import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type { CompletionUsage } from 'openai/resources/completions';
import type { Gateway } from '../../gateway/gateway.js';
import { ClientAbortedError, SwitchyardError, toSwitchyardError } from '../../errors/errors.js';
import { countPromptTokens, countTokens } from '../../chat/token-count.js';
import { defaultIdGenerator, timeOrderedId, type IdGenerator } from '../../util/ids.js';
import { namedEvent, SseWriter } from '../sse-writer.js';
import { writeRawError } from '../errors-reply.js';
import { processingMs, receivedAt } from '../request-timing.js';
import { explainIssue } from '../validation/format-issue.js';
import type { ChatRouteOptions } from './chat-completions.js';
import { validateResponsesRequest } from '../../protocols/responses/validate-request.js';
import { renameChatParams, toChatRequest, type ChatTranslation } from '../../protocols/responses/to-chat-request.js';
import { referencedItemIds } from '../../protocols/responses/input-items.js';
import { initialResponse } from '../../protocols/responses/response-object.js';
import { completionChunks, ResponseBuilder } from '../../protocols/responses/response-builder.js';
import { MemoryResponsesStore, type ResponsesStore } from '../../protocols/responses/responses-store.js';
import { KyselyResponsesStore } from '../../protocols/responses/kysely-responses-store.js';
import type { Kysely } from 'kysely';
import type { Database } from '../../store/tables.js';
import type { ResponsesRequest } from '../../protocols/responses/request-schema.js';
import type { ServerEvent } from '../../protocols/responses/types.js';
import { passThroughCreate, passThroughRead, type PassThroughOptions } from './responses-pass-through.js';
import { KyselyResponseRoutes, MemoryResponseRoutes, type ResponseRoutes } from '../../protocols/responses/response-routes.js';
import { clientGone } from '../client-gone.js';
import { blameDeepNesting } from '../deep-nesting.js';
import { headerValue } from '../header-value.js';

export interface ResponsesRouteOptions {
  gateway: Gateway;
  heartbeatMs: number;
  /** Where responses are kept for `previous_response_id`, GET, DELETE and `input_items`. */
  store: ResponsesStore;
  /** The platform's checks before a call, as for chat completions. */
  admit?: ChatRouteOptions['admit'];
  /** Pass-through to backends that serve the Responses API (`responses: native`): which upstream holds which response, and the providers by id. */
  passThrough?: Omit<PassThroughOptions, 'gateway' | 'admit'>;
  ids?: IdGenerator;
}

interface Call {
  request: FastifyRequest;
  reply: FastifyReply;
  body: ResponsesRequest;
  translation: ChatTranslation;
  builder: ResponseBuilder;
  workspaceId: string | null;
  auditId: string;
  options: ResponsesRouteOptions;
}

const listQuerySchema = z.looseObject({
  limit: z.coerce.number().int().min(1).max(100).optional(),
  order: z.enum(['asc', 'desc']).optional(),
  after: z.string().min(1).optional(),
});

const retrieveQuerySchema = z.looseObject({
  stream: z.enum(['true', 'false']).optional(),
  starting_after: z.coerce.number().int().min(-1).optional(),
});

function parseQuery<T extends z.ZodType>(schema: T, query: unknown): z.output<T> {
  const result = schema.safeParse(query ?? {});
  if (!result.success) throw explainIssue(result.error.issues[0]!, [], query);
  return result.data;
}

function responseNotFound(id: string): SwitchyardError {
  return new SwitchyardError('not_found', `Response with id '${id}' not found.`);
}

function workspaceOf(request: FastifyRequest): string | null {
  return request.caller?.workspaceId ?? null;
}

/** The Responses API (`/v1/responses`), translated to and from the one chat path. */
export function registerResponsesRoutes(app: FastifyInstance, options: ResponsesRouteOptions): void {
  const ids = options.ids ?? defaultIdGenerator;

  const passThrough = options.passThrough ? { ...options.passThrough, gateway: options.gateway, ...(options.admit ? { admit: options.admit } : {}) } : undefined;

  app.post('/responses', async (request, reply) => {
    // Routed only to backends that speak the Responses API: passed through untouched, before
    // Switchyard's own validation (which refuses what it cannot translate, e.g. hosted tools).
    const raw = request.body as Record<string, unknown> | null;
    if (passThrough && raw && typeof raw === 'object' && !Array.isArray(raw) && typeof raw.model === 'string') {
      const plan = options.gateway.nativeResponsesPlan(raw.model, request.caller);
      if (plan) return passThroughCreate(request, reply, raw, plan, passThrough);
    }
    const body = validateResponsesRequest(request.body);
    const workspaceId = workspaceOf(request);
    const previousId = body.previous_response_id;
    const previous = previousId ? await options.store.get(workspaceId, previousId) : undefined;
    if (previousId && !previous) {
      throw new SwitchyardError('previous_response_not_found', `Previous response with id '${previousId}' not found.`, { param: 'previous_response_id' });
    }
    const referenced = referencedItemIds(body.input);
    const references = referenced.length > 0 ? await options.store.findItems(workspaceId, referenced) : undefined;
    const translation = toChatRequest(body, previous, ids, references);
    const response = initialResponse(body, translation.tools, { id: ids('resp_'), createdAt: Math.floor(Date.now() / 1000), model: body.model });
    const builder = new ResponseBuilder(response, {
      ids,
      summarizeReasoning: translation.summarizeReasoning,
      estimateUsage: (outputText) => estimateUsage(translation, outputText),
    });
    const auditId = timeOrderedId('aud_');
    reply.header('x-switchyard-audit-id', auditId);
    const release = options.admit ? await options.admit(request, reply, translation.chat, auditId) : undefined;
    const call: Call = { request, reply, body, translation, builder, workspaceId, auditId, options };
    try {
      return body.stream === true ? await streamResponse(call) : await createResponse(call);
    } finally {
      release?.();
    }
  });

  app.get<{ Params: { id: string } }>('/responses/:id', async (request, reply) => {
    const query = parseQuery(retrieveQuerySchema, request.query);
    const stored = await options.store.get(workspaceOf(request), request.params.id);
    if (!stored && passThrough && (await passThroughRead(request, reply, 'GET', request.params.id, '', passThrough))) return reply;
    if (!stored) throw responseNotFound(request.params.id);
    if (query.stream !== 'true') return reply.type('application/json').send(JSON.stringify(stored.response));
    // A replay of the stored events, from after `starting_after` when given.
    const after = query.starting_after ?? -1;
    reply.hijack();
    const sse = new SseWriter(reply.raw);
    sse.start({ ...(reply.getHeaders() as OutgoingHttpHeaders), 'openai-processing-ms': processingMs(reply) });
    for (const event of stored.events) {
      if (event.sequence_number <= after) continue;
      const backpressure = sse.event(event.type, JSON.stringify(event));
      if (backpressure) await backpressure;
      if (sse.closed) break;
    }
    sse.end();
    return reply;
  });

  app.delete<{ Params: { id: string } }>('/responses/:id', async (request, reply) => {
    const id = request.params.id;
    if (!(await options.store.delete(workspaceOf(request), id))) {
      if (passThrough && (await passThroughRead(request, reply, 'DELETE', id, '', passThrough))) return reply;
      throw responseNotFound(id);
    }
    return reply.type('application/json').send(JSON.stringify({ id, object: 'response', deleted: true }));
  });

  app.get<{ Params: { id: string } }>('/responses/:id/input_items', async (request, reply) => {
    const query = parseQuery(listQuerySchema, request.query);
    const page = await options.store.listInputItems(workspaceOf(request), request.params.id, {
      after: query.after,
      limit: query.limit ?? 20,
      order: query.order ?? 'desc',
    });
    if (!page && passThrough && (await passThroughRead(request, reply, 'GET', request.params.id, '/input_items', passThrough))) return reply;
    if (!page) throw responseNotFound(request.params.id);
    const list = {
      object: 'list',
      data: page.items,
      first_id: page.items[0]?.id ?? null,
      last_id: page.items[page.items.length - 1]?.id ?? null,
      has_more: page.hasMore,
    };
    return reply.type('application/json').send(JSON.stringify(list));
  });
}

/** Usage counted here when the backend reports none (OpenAI's counting, o200k tokens). */
function estimateUsage(translation: ChatTranslation, outputText: string): CompletionUsage {
  const prompt = countPromptTokens(translation.chat.messages);
  const completion = countTokens(outputText);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** Stored unless `store: false`; a store that fails costs the client nothing but a later lookup. */
async function save(call: Call): Promise<void> {
  if (call.body.store === false) return;
  try {
    await call.options.store.save(call.workspaceId, { response: call.builder.result, inputItems: call.translation.context, events: call.builder.events });
  } catch (error) {
    call.request.log.error({ err: error, responseId: call.builder.result.id }, 'responses: failed to store a response');
  }
}

function callOptions(call: Call, signal: AbortSignal) {
  return { requestId: call.request.id, auditId: call.auditId, caller: call.request.caller, signal, receivedAt: receivedAt(call.reply) };
}

async function createResponse(call: Call): Promise<FastifyReply> {
  const { reply, builder } = call;
  const disconnect = clientGone(reply);
  try {
    let result: Awaited<ReturnType<Gateway['chat']>>;
    try {
      result = await call.options.gateway.chat(call.translation.chat, callOptions(call, disconnect.signal));
    } catch (error) {
      throw renameChatParams(toSwitchyardError(error), call.translation.messageParams);
    }
    if (result.kind !== 'completion') throw new Error('A non-streaming call answered with a stream.');
    for (const chunk of completionChunks(result.completion)) builder.add(chunk);
    builder.finish();
    await save(call);
    reply.header('x-switchyard-route', headerValue(result.route));
    return reply.type('application/json').send(JSON.stringify(builder.result));
  } finally {
    disconnect.release();
  }
}

async function streamResponse(call: Call): Promise<FastifyReply> {
  const { request, reply, builder } = call;
  const disconnect = clientGone(reply);
  const signal = disconnect.signal;
  // Streams write to the raw socket: nothing between an event and the client.
  reply.hijack();
  // The terminal events, once the response has them. A stream still open at the shutdown deadline
  // ends with them, or, when it has none yet, fails (`response.failed`, then `error`) and is stored so.
  let ending: readonly ServerEvent[] | undefined;
  const sse = new SseWriter(reply.raw, (error) => {
    if (!ending) {
      ending = builder.fail(error);
      void save(call);
    }
    return ending.map((event) => namedEvent(event.type, JSON.stringify(event))).join('');
  });
  const headers = (): OutgoingHttpHeaders => ({ ...(reply.getHeaders() as OutgoingHttpHeaders), 'openai-processing-ms': processingMs(reply) });
  // A slow first token: commit to the stream and keep the connection alive with SSE comments.
  const heartbeat = setInterval(() => {
    sse.start(headers());
    void sse.heartbeat();
  }, call.options.heartbeatMs);

  const write = async (events: readonly ServerEvent[]) => {
    for (const event of events) {
      const backpressure = sse.event(event.type, JSON.stringify(event));
      if (backpressure) await backpressure;
    }
  };
  // A failure inside a committed 200 stream travels as this API's own events (created and
  // in_progress if not yet sent, response.failed, error), and the response is stored as failed.
  const failInStream = async (failure: SwitchyardError) => {
    const final = (ending = builder.fail(failure));
    await save(call);
    await write(final);
  };

  try {
    let result: Awaited<ReturnType<Gateway['chat']>>;
    try {
      result = await call.options.gateway.chat(call.translation.chat, callOptions(call, signal));
    } catch (error) {
      clearInterval(heartbeat);
      const failure = blameDeepNesting(renameChatParams(toSwitchyardError(error), call.translation.messageParams), request.body);
      if (failure instanceof ClientAbortedError || signal.aborted) return reply;
      if (failure.status >= 500) request.log.warn({ err: failure, cause: failure.cause }, 'responses stream failed before its first chunk');
      if (!sse.headersSent) {
        writeRawError(reply.raw, failure, headers());
        return reply;
      }
      // A heartbeat already committed to a 200 stream: not chat's bare error chunk, which has no
      // `type` and no `sequence_number` for a Responses client to read.
      await failInStream(failure);
      sse.end();
      return reply;
    }
    clearInterval(heartbeat);
    if (result.kind !== 'stream') throw new Error('A streaming call answered without a stream.');

    sse.start({ ...headers(), 'x-switchyard-route': headerValue(result.route) });
    try {
      for await (const chunk of result.chunks) {
        await write(builder.add(chunk));
        if (sse.closed) break;
      }
      // A client that left gets nothing more, and nothing is stored of a response it abandoned.
      if (sse.closed || signal.aborted) return reply;
      const final = (ending = builder.finish());
      await save(call);
      await write(final);
    } catch (error) {
      const failure = toSwitchyardError(error);
      if (failure instanceof ClientAbortedError || signal.aborted) return reply;
      request.log.warn({ err: failure, cause: failure.cause }, 'responses stream failed after its first chunk');
      await failInStream(failure);
    }
    sse.end();
    return reply;
  } finally {
    clearInterval(heartbeat);
    disconnect.release();
  }
}

/** Where responses are kept: the platform's database when there is one, else this process's memory. */
export function responsesStoreFor(platform: { store: { db: Kysely<Database> } } | undefined): ResponsesStore {
  return platform ? new KyselyResponsesStore(platform.store.db) : new MemoryResponsesStore();
}

/** Where passed-through responses are traced to their upstream: the platform's database, else memory. */
export function responseRoutesFor(platform: { store: { db: Kysely<Database> } } | undefined): ResponseRoutes {
  return platform ? new KyselyResponseRoutes(platform.store.db) : new MemoryResponseRoutes();
}
