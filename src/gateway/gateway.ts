import type { ChatCompletion } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { ClientAbortedError, SwitchyardError, ValidationError, toSwitchyardError } from '../errors/errors.js';
import { aggregateChunks } from '../chat/aggregate-chunks.js';
import type { ChatRequest, RelayChunk } from '../providers/provider.js';
import type { ModelRegistry, ResolvedModel } from './model-registry.js';

/** Who is calling. The platform's key store fills in more; the core needs only an identity. */
export interface Caller {
  keyId: string | null;
}

/** What the gateway learned of one call once it ended; the platform's accounting reads this. */
export interface CallSummary {
  requestId: string;
  caller: Caller;
  modelAsked: string;
  route: string;
  providerId: string;
  stream: boolean;
  usage: CompletionUsage | undefined;
  /** Milliseconds from the call to its first chunk (streams), or to the whole reply. */
  timeToFirstChunkMs: number | undefined;
  durationMs: number;
  status: 'completed' | 'failed' | 'aborted';
  error: SwitchyardError | undefined;
}

export interface CallOptions {
  requestId: string;
  caller: Caller;
  signal: AbortSignal;
}

interface ReplyBase {
  /** The chain taken, for `x-switchyard-route`. */
  route: string;
  resolved: ResolvedModel;
}
export interface StreamReply extends ReplyBase {
  kind: 'stream';
  /** Starts with a chunk already received: a failure before it rejected `chat()` instead. */
  chunks: AsyncIterable<RelayChunk>;
}
export interface CompletionReply extends ReplyBase {
  kind: 'completion';
  completion: ChatCompletion;
  /** The upstream's exact body when it was relayed unchanged. */
  rawJson: string | undefined;
}

export interface GatewayOptions {
  registry: ModelRegistry;
  /** Called once per call after it ends, off the response path. */
  onCallEnd?: (summary: CallSummary) => void;
  now?: () => number;
}

/**
 * The core of a call, knowing nothing of HTTP: resolve the model, check what only the model can
 * judge, call the provider, and hand back a stream whose first chunk is already in hand (or the
 * collected completion). Everything a call costs is reported to `onCallEnd` when it ends.
 */
export class Gateway {
  private readonly registry: ModelRegistry;
  private readonly onCallEnd: ((summary: CallSummary) => void) | undefined;
  private readonly now: () => number;

  constructor(options: GatewayOptions) {
    this.registry = options.registry;
    this.onCallEnd = options.onCallEnd;
    this.now = options.now ?? performance.now.bind(performance);
  }

  resolveModel(name: string): ResolvedModel {
    const resolved = this.registry.resolve(name);
    if (!resolved) {
      throw new SwitchyardError('model_not_found', `The model \`${name}\` does not exist or you do not have access to it.`, {
        param: 'model',
      });
    }
    return resolved;
  }

  async chat(request: ChatRequest, options: CallOptions): Promise<StreamReply | CompletionReply> {
    const started = this.now();
    const resolved = this.resolveModel(request.model);
    checkOutputLimit(request, resolved);
    const stream = request.stream === true;
    const summary: CallSummary = {
      requestId: options.requestId,
      caller: options.caller,
      modelAsked: request.model,
      route: resolved.publicId,
      providerId: resolved.provider.id,
      stream,
      usage: undefined,
      timeToFirstChunkMs: undefined,
      durationMs: 0,
      status: 'completed',
      error: undefined,
    };
    const end = (error?: unknown) => {
      summary.durationMs = this.now() - started;
      if (error !== undefined) {
        summary.error = toSwitchyardError(error);
        summary.status = error instanceof ClientAbortedError || options.signal.aborted ? 'aborted' : 'failed';
      }
      this.onCallEnd?.(summary);
    };

    try {
      const result = await resolved.provider.chat(
        { ...request, model: resolved.model },
        { signal: options.signal, requestId: options.requestId },
      );
      if (!stream) {
        const completion = result.kind === 'completion' ? result.completion : await aggregateChunks(result.chunks);
        summary.usage = completion.usage;
        summary.timeToFirstChunkMs = this.now() - started;
        end();
        const rawJson = result.kind === 'completion' ? result.rawJson : undefined;
        return { kind: 'completion', route: summary.route, resolved, completion, rawJson };
      }
      if (result.kind !== 'stream') throw new Error(`Provider '${resolved.provider.id}' answered a stream request without a stream.`);
      const iterator = result.chunks[Symbol.asyncIterator]();
      // The first-byte contract: wait for the first chunk here, so that a failure before it is
      // still a proper HTTP error (or, later, a reason to fall back).
      const first = await iterator.next();
      summary.timeToFirstChunkMs = this.now() - started;
      const includeUsage = request.stream_options?.include_usage === true;
      return { kind: 'stream', route: summary.route, resolved, chunks: relay(first, iterator, includeUsage, summary, end) };
    } catch (error) {
      end(error);
      throw toSwitchyardError(error);
    }
  }
}

/** `max_tokens` / `max_completion_tokens` beyond the model's declared output limit is a 400. */
function checkOutputLimit(request: ChatRequest, resolved: ResolvedModel): void {
  const limit = resolved.info?.maxOutputTokens;
  if (limit === undefined) return;
  for (const param of ['max_completion_tokens', 'max_tokens'] as const) {
    const asked = request[param];
    if (asked != null && asked > limit) {
      throw new ValidationError(
        `${param} is too large: ${asked}. This model supports at most ${limit} completion tokens, whereas you provided ${asked}.`,
        param,
      );
    }
  }
}

/**
 * The one pass over a stream's chunks: it notes usage for accounting, drops the usage chunk the
 * client did not ask for, and reports the call's end however the stream ends.
 */
async function* relay(
  first: IteratorResult<RelayChunk>,
  iterator: AsyncIterator<RelayChunk>,
  includeUsage: boolean,
  summary: CallSummary,
  end: (error?: unknown) => void,
): AsyncGenerator<RelayChunk> {
  let ended = false;
  try {
    let next = first;
    while (!next.done) {
      const chunk = next.value;
      if (chunk.usage) summary.usage = chunk.usage;
      if (includeUsage || chunk.choices.length > 0 || !chunk.usage) yield chunk;
      next = await iterator.next();
    }
    ended = true;
    end();
  } catch (error) {
    ended = true;
    end(error);
    throw toSwitchyardError(error);
  } finally {
    if (!ended) {
      // The consumer stopped early (the client left): stop the provider too.
      end(new ClientAbortedError());
      await iterator.return?.();
    }
  }
}
