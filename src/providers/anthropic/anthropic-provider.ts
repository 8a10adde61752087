import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { UpstreamError, ValidationError } from '../../errors/errors.js';
import { defaultIdGenerator, type IdGenerator } from '../../util/ids.js';
import { errorFromTransport } from '../openai-compatible/upstream-errors.js';
import { OUTPUT_LIMIT_DEFAULTED, type ChatCallContext, type ChatRequest, type ChatResult, type ModelInfo, type Provider } from '../provider.js';
import type { AnthropicProviderConfig } from './anthropic-config.js';
import { errorFromAnthropicResponse, refusedOutputLimit } from './anthropic-errors.js';
import { buildRequest, type BuiltRequest } from './build-request.js';
import { messageToEvents } from './message-to-events.js';
import { readEvents } from './read-events.js';
import { StreamTranslator } from './stream-translator.js';
import { MessageSchema, type AnthropicStreamEvent } from './wire-schemas.js';

export interface AnthropicDependencies {
  /** The HTTP dispatcher; tests may pass their own. Defaults to a keep-alive pool per provider. */
  dispatcher?: Dispatcher;
  ids?: IdGenerator;
  now?: () => number;
}

/** Largest error body read: enough for any JSON error, bounded against a rogue one. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * Anthropic's Messages API behind chat completions. The request is translated (build-request.ts),
 * the reply's events are translated back to chunks (stream-translator.ts); a non-streaming reply is
 * replayed as the events of its stream, so both read the same, and the gateway aggregates it.
 */
export class AnthropicProvider implements Provider {
  readonly kind = 'anthropic';
  readonly acceptsUndeclaredModels = true;
  readonly id: string;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly models: ModelInfo[];
  private readonly limits: Map<string, number | undefined>;
  /** Output limits Anthropic named when it refused a max_tokens Switchyard chose; they win over declared ones. */
  private readonly learnedLimits = new Map<string, number>();
  private readonly defaultMaxTokens: number;
  private readonly ids: IdGenerator;
  private readonly now: () => number;

  constructor(config: AnthropicProviderConfig, dependencies: AnthropicDependencies = {}) {
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
    this.url = `${config.baseURL.replace(/\/+$/, '')}/v1/messages`;
    this.headers = { 'content-type': 'application/json', 'x-api-key': config.apiKey, 'anthropic-version': config.anthropicVersion };
    this.ids = dependencies.ids ?? defaultIdGenerator;
    this.now = dependencies.now ?? Date.now;
    this.defaultMaxTokens = config.defaultMaxTokens;
    const created = Math.floor(this.now() / 1000);
    this.models = config.models.map((model) => ({
      id: model.id,
      created,
      ownedBy: config.id,
      maxOutputTokens: 'maxOutputTokens' in model ? model.maxOutputTokens : undefined,
      contextLength: 'contextLength' in model ? model.contextLength : undefined,
    }));
    this.limits = new Map(this.models.map((model) => [model.id, model.maxOutputTokens]));
  }

  listModels(): ModelInfo[] {
    return this.models;
  }

  async chat(request: ChatRequest, context: ChatCallContext): Promise<ChatResult> {
    const stream = request.stream === true;
    const build = () =>
      buildRequest(request, {
        maxOutputTokens: this.limits.get(request.model),
        learnedLimit: this.learnedLimits.get(request.model),
        defaultMaxTokens: this.defaultMaxTokens,
      });
    let built = build();
    let response = await this.send(built, stream, context.signal);
    if (response.statusCode >= 400) {
      const text = await readBounded(response.body, MAX_ERROR_BODY).catch(() => '');
      // A max_tokens that Switchyard chose (the client set none) above the model's output limit is
      // Switchyard's mistake, not the client's: Anthropic names the limit, which is kept for this
      // model, and the request is sent once more within it.
      // The client's own max_tokens above it is the client's 400, worded and named as OpenAI's own.
      const limit = response.statusCode === 400 ? refusedOutputLimit(text) : undefined;
      const param = request[OUTPUT_LIMIT_DEFAULTED] ? undefined : request.max_completion_tokens != null ? 'max_completion_tokens' : request.max_tokens != null ? 'max_tokens' : undefined;
      if (limit !== undefined && param !== undefined) {
        const asked = built.body.max_tokens;
        throw new ValidationError(`${param} is too large: ${asked}. This model supports at most ${limit} completion tokens, whereas you provided ${asked}.`, param);
      }
      if (limit === undefined || limit >= built.body.max_tokens) throw this.failure(response, text);
      this.learnedLimits.set(request.model, limit);
      built = build();
      response = await this.send(built, stream, context.signal);
      if (response.statusCode >= 400) throw this.failure(response, await readBounded(response.body, MAX_ERROR_BODY).catch(() => ''));
    }

    const translator = new StreamTranslator({
      id: this.ids('chatcmpl-'),
      created: Math.floor(this.now() / 1000),
      providerId: this.id,
      answerTool: built.answerTool,
      showReasoning: built.showReasoning,
      usageNull: stream && request.stream_options?.include_usage === true,
    });

    if (stream) {
      const contentType = String(response.headers['content-type'] ?? '');
      if (!contentType.includes('text/event-stream')) {
        discard(response.body);
        throw new UpstreamError('upstream_error', `The upstream provider '${this.id}' answered a stream request without a stream.`);
      }
      return { kind: 'stream', chunks: this.relay(response.body, translator, context.signal) };
    }

    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw errorFromTransport(this.id, error, context.signal, 'reply');
    }
    let events: AnthropicStreamEvent[];
    try {
      events = messageToEvents(MessageSchema.parse(JSON.parse(text)));
    } catch {
      throw new UpstreamError('upstream_error', `The upstream provider '${this.id}' sent a reply that is not a Messages API message.`);
    }
    return { kind: 'stream', chunks: translate(events, translator) };
  }

  private async send(built: BuiltRequest, stream: boolean, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    const body = stream ? { ...built.body, stream: true } : built.body;
    try {
      return await undiciRequest(this.url, {
        dispatcher: this.dispatcher,
        method: 'POST',
        headers: stream ? { ...this.headers, accept: 'text/event-stream' } : this.headers,
        body: JSON.stringify(body),
        signal,
      });
    } catch (error) {
      throw errorFromTransport(this.id, error, signal);
    }
  }

  private failure(response: Dispatcher.ResponseData, text: string) {
    const retryAfter = response.headers['retry-after'];
    return errorFromAnthropicResponse(this.id, response.statusCode, text, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  }

  private async *relay(body: Dispatcher.ResponseData['body'], translator: StreamTranslator, signal: AbortSignal): AsyncGenerator<ChatCompletionChunk> {
    try {
      for await (const event of readEvents(body, this.id)) {
        yield* translator.push(event);
        // After message_stop the body is still read to its end, so the keep-alive socket can be reused.
      }
      if (!translator.complete) {
        throw new UpstreamError('stream_interrupted', `The upstream provider '${this.id}' closed the stream before it finished.`);
      }
    } catch (error) {
      throw errorFromTransport(this.id, error, signal, 'reply');
    } finally {
      // A consumer that stops early (client gone) must free the upstream socket at once.
      if (!body.destroyed && !body.readableEnded) discard(body);
    }
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}


async function* translate(events: AnthropicStreamEvent[], translator: StreamTranslator): AsyncGenerator<ChatCompletionChunk> {
  for (const event of events) yield* translator.push(event);
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

/** Drops a body that will not be read; without an error listener undici's abort error would be uncaught. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}
