import { setTimeout as sleep } from 'node:timers/promises';
import type { SandboxProviderConfig } from '../../config/schema.js';
import { ClientAbortedError, UnsupportedFeatureError, ValidationError } from '../../errors/errors.js';
import { countPromptTokens } from '../../chat/token-count.js';
import { defaultIdGenerator, type IdGenerator } from '../../util/ids.js';
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
} from '../provider.js';
import { sandboxEmbedding, sandboxTokens, SANDBOX_EMBEDDING_DIMENSIONS, SANDBOX_MAX_EMBEDDING_DIMENSIONS } from './sandbox-embeddings.js';
import { hashString } from './prng.js';
import { rejectAudioAndLegacyFunctions, unsupportedBy } from '../unsupported-features.js';
import { planChoice, SANDBOX_MODELS, type SandboxModel } from './plan-reply.js';
import { InstanceBudget } from './schema-budget.js';
import { splitIntoTokensOnce } from '../../chat/token-count.js';
import { replyChunks, usageOf } from './reply-chunks.js';
import { checkSandboxCompletion, planTextCompletion, textCompletionChunks } from './text-completion.js';

export interface SandboxDependencies {
  ids?: IdGenerator;
  now?: () => number;
}

const CREATED = 1_735_689_600; // 2025-01-01: a fixed date, as befits deterministic models.

/**
 * Deterministic models that honour every chat parameter without any real model: what `npm start`
 * serves with no config, and what `sk_test_` keys reach. Same request and seed → same reply.
 */
export class SandboxProvider implements Provider {
  readonly kind = 'sandbox';
  readonly acceptsUndeclaredModels = false;
  readonly id: string;
  private readonly ids: IdGenerator;
  private readonly now: () => number;

  constructor(
    private readonly config: SandboxProviderConfig,
    dependencies: SandboxDependencies = {},
  ) {
    this.id = config.id;
    this.ids = dependencies.ids ?? defaultIdGenerator;
    this.now = dependencies.now ?? Date.now;
  }

  listModels(): ModelInfo[] {
    return SANDBOX_MODELS.map((id) => ({ id, created: CREATED, ownedBy: this.id, maxOutputTokens: this.config.maxOutputTokens }));
  }

  async chat(request: ChatRequest, context: ChatCallContext): Promise<ChatResult> {
    const model = request.model as SandboxModel;
    if ((request.tools ?? []).some((tool) => tool.type !== 'function')) {
      throw new UnsupportedFeatureError('The sandbox supports function tools only.', 'tools');
    }
    // What it cannot make, it refuses rather than answering with text as though it had.
    rejectAudioAndLegacyFunctions(request, unsupportedBy('The sandbox'));
    if (context.signal.aborted) throw new ClientAbortedError();
    const seed = request.seed != null ? request.seed >>> 0 : hashString(JSON.stringify(request.messages));
    // One budget for every choice: `n` choices of a schema cost n instances.
    const budget = new InstanceBudget();
    const split = splitIntoTokensOnce();
    const choices = Array.from({ length: request.n ?? 1 }, (_, index) =>
      planChoice(model, request, seed, index, this.config.maxOutputTokens, budget, split),
    );
    const usage = usageOf(countPromptTokens(request.messages), choices);
    const chunks = replyChunks(
      {
        id: this.ids('chatcmpl-'),
        created: Math.floor(this.now() / 1000),
        model: `${this.id}/${model}`,
        systemFingerprint: 'fp_sandbox',
        includeUsage: request.stream === true && request.stream_options?.include_usage === true,
      },
      choices,
      { enabled: request.logprobs === true, top: request.top_logprobs ?? 0, seed },
      usage,
      () => this.ids('call_'),
    );
    return { kind: 'stream', chunks: this.pace(chunks, context.signal) };
  }

  /** A deterministic continuation of each prompt (`echo` repeats it, `lorem` writes lorem ipsum). */
  async complete(request: CompletionRequest, context: ChatCallContext): Promise<CompleteResult> {
    const model = request.model as SandboxModel;
    checkSandboxCompletion(request);
    if (context.signal.aborted) throw new ClientAbortedError();
    const seed = request.seed != null ? request.seed >>> 0 : hashString(JSON.stringify(request.prompt ?? ''));
    const { choices, usage } = planTextCompletion(model, request, seed);
    const chunks = textCompletionChunks(
      {
        id: this.ids('cmpl-'),
        created: Math.floor(this.now() / 1000),
        model: `${this.id}/${model}`,
        includeUsage: request.stream === true && request.stream_options?.include_usage === true,
      },
      choices,
      usage,
      { echo: request.echo === true, logprobs: request.logprobs, seed },
    );
    return { kind: 'stream', chunks: this.pace(chunks, context.signal) };
  }

  async embed(request: EmbeddingsRequest): Promise<EmbeddingsResult> {
    const dimensions = request.dimensions ?? SANDBOX_EMBEDDING_DIMENSIONS;
    if (dimensions > SANDBOX_MAX_EMBEDDING_DIMENSIONS) {
      throw new ValidationError(`Invalid 'dimensions': ${dimensions}. Sandbox embeddings have at most ${SANDBOX_MAX_EMBEDDING_DIMENSIONS} dimensions.`, 'dimensions');
    }
    return {
      kind: 'vectors',
      vectors: request.input.map((input) => sandboxEmbedding(input, dimensions)),
      promptTokens: request.input.reduce((sum, input) => sum + sandboxTokens(input), 0),
      model: `${this.id}/${request.model}`,
    };
  }

  /** Relays chunks with the configured pause between them, stopping the moment the client leaves. */
  private async *pace<T>(chunks: Iterable<T>, signal: AbortSignal): AsyncGenerator<T> {
    const delay = this.config.chunkDelayMs;
    let first = true;
    for (const chunk of chunks) {
      if (signal.aborted) throw new ClientAbortedError();
      if (delay > 0 && !first) await sleep(delay, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) throw new ClientAbortedError();
      first = false;
      yield chunk;
    }
  }
}
