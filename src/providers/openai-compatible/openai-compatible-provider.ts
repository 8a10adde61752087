import { CapabilityMemory } from './capability-memory.js';
import { float32Base64 } from '../../util/float32-base64.js';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { Completion } from 'openai/resources/completions';
import type { OpenAICompatibleProviderConfig } from '../../config/schema.js';
import { SwitchyardError, UpstreamError } from '../../errors/errors.js';
import type {
  ChatCallContext,
  ChatRequest,
  ChatResult,
  CompleteResult,
  CompletionRequest,
  EmbeddingsRequest,
  EmbeddingsResult,
  ModelInfo,
  Provider,
  RelayChunk,
  TextCompletionChunk,
} from '../provider.js';
import { errorFromErrorReply, errorFromTransport, errorFromUpstreamResponse } from './upstream-errors.js';
import { readChunkStream } from './sse-chunks.js';
import { mapReplyFinishReasons } from './map-finish-reason.js';
import { UpstreamCall, type IncomingHttpHeaders } from './upstream-call.js';

export interface OpenAICompatibleDependencies {
  /** The HTTP dispatcher; tests may pass their own. Defaults to a keep-alive pool per provider. */
  dispatcher?: Dispatcher;
  now?: () => number;
}

/** How long an upstream that refused `stream_options` is not sent it again (it may have been upgraded). */
const STREAM_USAGE_REFUSED_FOR_MS = 60 * 60_000;

/** Largest error body read from an upstream: enough for any JSON error, bounded against a rogue one. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * Any upstream that speaks OpenAI's chat completions. The request goes on as the client sent it —
 * unknown fields untouched — with only the model name rewritten, and usage always asked of streams.
 */
export class OpenAICompatibleProvider implements Provider {
  readonly kind = 'openai-compatible';
  readonly acceptsUndeclaredModels = true;
  readonly forwardsClientBody = true;
  readonly remoteImages: 'url' | 'bytes';
  /** The upstream serves `/responses` itself, and Responses calls may be passed through to it. */
  readonly nativeResponses: boolean;
  private readonly baseURL: string;
  private readonly capabilities: CapabilityMemory;
  readonly id: string;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  /** Where calls go, as undici's dispatcher takes them: the origin, and each endpoint's path under the base URL's. */
  private readonly origin: string;
  private readonly chatPath: string;
  private readonly completionsPath: string;
  private readonly embeddingsPath: string;
  private readonly headers: Record<string, string>;
  private readonly streamHeaders: Record<string, string>;
  /** For GETs and DELETEs: no body, so no content type (a strict upstream refuses an empty JSON body). */
  private readonly bodilessHeaders: Record<string, string>;
  private readonly models: ModelInfo[];
  /** Until when the upstream is not asked for stream usage, since it refused `stream_options` (an hour, as learned gaps). */
  private streamUsageRefusedUntil = 0;
  private readonly now: () => number;

  constructor(config: OpenAICompatibleProviderConfig, dependencies: OpenAICompatibleDependencies = {}) {
    this.id = config.id;
    this.ownsDispatcher = dependencies.dispatcher === undefined;
    this.dispatcher =
      dependencies.dispatcher ??
      new Agent({
        connections: config.maxConnections,
        keepAliveTimeout: 30_000,
        headersTimeout: config.timeoutMs,
        bodyTimeout: config.timeoutMs,
        connect: { timeout: config.connectTimeoutMs },
      });
    this.baseURL = config.baseURL.replace(/\/+$/, '');
    const base = new URL(this.baseURL);
    const basePath = base.pathname.replace(/\/+$/, '');
    this.origin = base.origin;
    this.chatPath = `${basePath}/chat/completions`;
    this.completionsPath = `${basePath}/completions`;
    this.embeddingsPath = `${basePath}/embeddings`;
    // Fixed headers are built once, not per request.
    this.headers = {
      'content-type': 'application/json',
      ...(config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {}),
      ...config.headers,
    };
    this.streamHeaders = { ...this.headers, accept: 'text/event-stream' };
    const { 'content-type': _json, ...bodiless } = this.headers;
    this.bodilessHeaders = bodiless;
    this.now = dependencies.now ?? Date.now;
    const created = Math.floor(this.now() / 1000);
    this.models = config.models.map((model) => ({
      id: model.id,
      created,
      ownedBy: config.id,
      maxOutputTokens: 'maxOutputTokens' in model ? model.maxOutputTokens : undefined,
      contextLength: 'contextLength' in model ? model.contextLength : undefined,
      vision: 'vision' in model ? model.vision : undefined,
    }));
    this.remoteImages = config.remoteImages;
    this.nativeResponses = config.responses === 'native';
    this.capabilities = new CapabilityMemory(config.id, new Set(config.unsupported));
  }

  listModels(): ModelInfo[] {
    return this.models;
  }

  async chat(request: ChatRequest, context: ChatCallContext): Promise<ChatResult> {
    const stream = request.stream === true;
    this.capabilities.check(request.model, request);
    // Usage is always asked of a stream, for accounting; the gateway drops the usage chunk when
    // the client did not ask for it. `reasoning: true|false` is Switchyard's own switch for its
    // engine: OpenAI refuses the unknown field, so it stays here (the object form, which other
    // gateways define, goes on).
    const sent = typeof request.reasoning === 'boolean' ? withoutReasoningSwitch(request) : request;
    let response: UpstreamCall;
    try {
      response = await this.sendMaybeStream(this.chatPath, sent, stream, context.signal);
    } catch (error) {
      throw (error instanceof SwitchyardError && this.capabilities.learn(request.model, request, error)) || error;
    }
    if (stream && context.relayOnly === true) {
      return { kind: 'relay-stream', chunks: this.relayedChunks(response, request.stream_options?.include_usage === true, context.signal) };
    }
    if (stream) return { kind: 'stream', chunks: this.chunks(response, request.stream_options?.include_usage === true, context.signal) };
    const { value, text } = await this.json<ChatCompletion & { error?: unknown }>(response, context.signal);
    if (!value || !Array.isArray(value.choices)) {
      if (value?.error) throw errorFromErrorReply(this.id, text, value.error);
      throw new UpstreamError('upstream_error', `The upstream provider '${this.id}' sent a reply without choices.`);
    }
    // A reply whose finish reason was put in OpenAI's words is written from the object.
    return { kind: 'completion', completion: value, rawJson: mapReplyFinishReasons(value.choices) ? undefined : text };
  }

  /**
   * Legacy completions, as the chat path: the client's body goes on with the model rewritten; a
   * reply is relayed as it came, a stream event by event, usage always asked of it.
   */
  async complete(request: CompletionRequest, context: ChatCallContext): Promise<CompleteResult> {
    const stream = request.stream === true;
    const response = await this.sendMaybeStream(this.completionsPath, request, stream, context.signal);
    if (stream) {
      return { kind: 'stream', chunks: this.chunks<TextCompletionChunk>(response, request.stream_options?.include_usage === true, context.signal) };
    }
    const { value, text } = await this.json<Completion & { error?: unknown }>(response, context.signal);
    if (!value || !Array.isArray(value.choices)) {
      if (value?.error) throw errorFromErrorReply(this.id, text, value.error);
      throw new UpstreamError('upstream_error', `The upstream provider '${this.id}' sent a reply without choices.`);
    }
    // A reply whose finish reason was put in OpenAI's words is written from the object.
    return { kind: 'completion', completion: value, rawJson: mapReplyFinishReasons(value.choices) ? undefined : text };
  }

  /** The client's body goes upstream as it came, model rewritten; the answer is relayed as it came. */
  async embed(request: EmbeddingsRequest, context: ChatCallContext): Promise<EmbeddingsResult> {
    const response = await this.send(this.embeddingsPath, { ...request.body, model: request.model }, false, context.signal);
    const { value, text } = await this.json<{ usage?: { prompt_tokens?: number }; data?: Array<{ embedding?: unknown }> }>(response, context.signal);
    const promptTokens = value?.usage?.prompt_tokens ?? 0;
    // Asked for base64 (the SDKs' default) and answered with floats by an upstream that ignores
    // `encoding_format` (some llama.cpp and TEI builds): the SDK would decode the array as base64
    // and hand back an empty vector. The floats are sent as the base64 that was asked for.
    if (request.body.encoding_format === 'base64' && Array.isArray(value?.data) && value.data.some((entry) => Array.isArray(entry?.embedding))) {
      for (const entry of value.data) if (Array.isArray(entry?.embedding)) entry.embedding = float32Base64(entry.embedding as number[]);
      return { kind: 'relay', rawJson: JSON.stringify(value), promptTokens };
    }
    return { kind: 'relay', rawJson: text, promptTokens };
  }

  /**
   * The Responses API passed through: `POST /responses` (model rewritten by the caller) with the
   * same error and first-byte contract as chat, answered as it came.
   */
  createResponse(body: Record<string, unknown>, stream: boolean, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    return this.post(`${this.baseURL}/responses`, body, stream, signal);
  }

  /** `GET` / `DELETE` of a passed-through response (`/responses/{id}…`), relayed as the upstream answers. */
  async forwardResponses(method: 'GET' | 'DELETE', path: string, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    try {
      return await undiciRequest(`${this.baseURL}${path}`, { dispatcher: this.dispatcher, method, headers: this.bodilessHeaders, signal });
    } catch (error) {
      throw errorFromTransport(this.id, error, signal);
    }
  }

  /**
   * Sends a chat or completions body; a stream asks for usage (`stream_options.include_usage`),
   * for accounting. Servers that refuse the field (Azure's older API versions, OpenAI-compatible
   * gateways of other vendors: "Unrecognized request argument supplied: stream_options", FastAPI's
   * "Extra inputs are not permitted") would fail a request the client never put it in: the request
   * is sent again as the client made it, and the upstream is not asked for usage again.
   */
  private async sendMaybeStream(path: string, request: { stream_options?: unknown }, stream: boolean, signal: AbortSignal): Promise<UpstreamCall> {
    if (!stream || (this.streamUsageRefusedUntil !== 0 && this.streamUsageRefusedUntil > this.now())) return this.send(path, request, stream, signal);
    const own = request.stream_options;
    const body = { ...request, stream_options: { ...(own as object | null | undefined), include_usage: true } };
    try {
      return await this.send(path, body, stream, signal);
    } catch (error) {
      if (own != null || !refusesStreamOptions(error)) throw error;
      this.streamUsageRefusedUntil = this.now() + STREAM_USAGE_REFUSED_FOR_MS;
      return this.send(path, request, stream, signal);
    }
  }

  /**
   * POSTs a body to one of the upstream's endpoints (its path); an error status, or a stream asked
   * and not given, rejects (the first-byte contract). The answer's body is the call's to read.
   */
  private async send(path: string, body: unknown, stream: boolean, signal: AbortSignal): Promise<UpstreamCall> {
    const call = new UpstreamCall(
      this.dispatcher,
      { origin: this.origin, path, method: 'POST', headers: stream ? this.streamHeaders : this.headers, body: JSON.stringify(body) },
      signal,
    );
    let head;
    try {
      head = await call.head;
    } catch (error) {
      throw errorFromTransport(this.id, error, signal);
    }
    await this.refuseFailure(head.statusCode, head.headers, stream, call);
    return call;
  }

  /** The same through `undici.request`, for the Responses pass-through, which relays the body as a stream. */
  private async post(url: string, body: unknown, stream: boolean, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    let response: Dispatcher.ResponseData;
    try {
      response = await undiciRequest(url, {
        dispatcher: this.dispatcher,
        method: 'POST',
        headers: stream ? this.streamHeaders : this.headers,
        body: JSON.stringify(body),
        signal,
      });
    } catch (error) {
      throw errorFromTransport(this.id, error, signal);
    }
    const responseBody = response.body;
    await this.refuseFailure(response.statusCode, response.headers, stream, {
      text: (limit) => readBounded(responseBody, limit),
      discard: () => discard(responseBody),
    });
    return response;
  }

  /** Throws for an error status (its body read, bounded) or for a stream asked and answered without one. */
  private async refuseFailure(
    statusCode: number,
    headers: IncomingHttpHeaders,
    stream: boolean,
    body: { text(limit: number): Promise<string>; discard(): void },
  ): Promise<void> {
    if (statusCode >= 400) {
      const text = await body.text(MAX_ERROR_BODY).catch(() => '');
      const retryAfter = headers['retry-after'];
      throw errorFromUpstreamResponse(this.id, statusCode, text, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
    }
    if (stream && !String(headers['content-type'] ?? '').includes('text/event-stream')) {
      // A JSON error with a 200 (a gateway relaying a provider's failure) says what went wrong.
      if (String(headers['content-type'] ?? '').includes('json')) {
        const text = await body.text(MAX_ERROR_BODY).catch(() => '');
        const error = errorInBody(text);
        if (error !== undefined) throw errorFromErrorReply(this.id, text, error);
      } else body.discard();
      throw new UpstreamError('upstream_error', `The upstream provider '${this.id}' answered a stream request without a stream.`);
    }
  }

  /** A stream's events, each keeping its JSON text; `"usage":null` cut when the client did not ask. */
  private chunks<T extends TextCompletionChunk | RelayChunk>(call: UpstreamCall, includeUsage: boolean, signal: AbortSignal) {
    return readChunkStream<T>(call, this.id, this.readOptions(call, includeUsage, signal));
  }

  /** The same, ordinary events left unread, for a caller that only relays them. */
  private relayedChunks(call: UpstreamCall, includeUsage: boolean, signal: AbortSignal) {
    return readChunkStream<RelayChunk>(call, this.id, { ...this.readOptions(call, includeUsage, signal), unread: true });
  }

  private readOptions(call: UpstreamCall, includeUsage: boolean, signal: AbortSignal) {
    return {
      stripUsageNull: !includeUsage,
      mapError: (error: unknown) => errorFromTransport(this.id, error, signal, 'reply'),
      // A consumer that stops early (client gone) must free the upstream socket at once.
      cleanup: () => call.discard(),
    };
  }

  /** A whole JSON body, and its text for a byte-exact relay. */
  private async json<T>(call: UpstreamCall, signal: AbortSignal): Promise<{ value: T; text: string }> {
    let text: string;
    try {
      text = await call.text();
    } catch (error) {
      throw errorFromTransport(this.id, error, signal, 'reply');
    }
    try {
      return { value: JSON.parse(text) as T, text };
    } catch {
      throw new UpstreamError('upstream_error', `The upstream provider '${this.id}' sent a body that is not JSON.`);
    }
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}

/** The `error` of a JSON body, if it has one. */
function errorInBody(text: string): unknown {
  try {
    const parsed = JSON.parse(text) as { error?: unknown } | null;
    return parsed?.error || undefined;
  } catch {
    return undefined;
  }
}

/** A 400/422 that names `stream_options` as the field it refuses. */
function refusesStreamOptions(error: unknown): boolean {
  if (!(error instanceof SwitchyardError) || (error.status !== 400 && error.status !== 422)) return false;
  return error.param === 'stream_options' || error.param?.startsWith('stream_options.') === true || /stream_options/.test(error.message);
}

function withoutReasoningSwitch(request: ChatRequest): ChatRequest {
  const { reasoning: _switch, ...rest } = request;
  void _switch;
  return rest;
}

async function readBounded(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of body) {
    parts.push(part);
    size += part.length;
    if (size >= limit) break;
  }
  return Buffer.concat(parts).toString('utf8').slice(0, limit);
}

/**
 * Drops a response body that will not be read. undici reports the abandoned request as an error
 * on the body; without a listener that error would be uncaught and end the process.
 */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}
