import { randomInt } from 'node:crypto';
import type { LlamaGrammarEvaluationState, Token } from 'node-llama-cpp';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { ClientAbortedError, SwitchyardError, ValidationError } from '../../errors/errors.js';
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
  RelayChunk,
} from '../provider.js';
import { OUTPUT_LIMIT_DEFAULTED, TRUNCATE_AUTO } from '../provider.js';
import type { LlamaProviderConfig } from './llama-config.js';
import { completionTooLongError, contextLengthError, LocalModel, type LoadedModel } from './local-model.js';
import { generateChoice, type GenerationEnd } from './generate-choice.js';
import { samplingOptions } from './sampling.js';
import { stopSequences } from '../../chat/stop-sequences.js';
import { EngineGenerationError } from './sampling-guard.js';
import { ForcedCallStream } from './forced-call-stream.js';
import { checkEngineCompletion, prepareTextCompletion, textCompletionChunks } from './text-completion.js';
import { engineSchema } from './engine-schema.js';
import { toolCallSchema, toolPlan } from './tool-schema.js';
import { checkLogitBias, checkTokenIds } from './token-ids.js';
import { withoutOldestTurn } from './truncate-conversation.js';
import { rejectAudioAndLegacyFunctions, unsupportedBy } from '../unsupported-features.js';

export interface LlamaDependencies {
  ids?: IdGenerator;
  now?: () => number;
  log?: (line: string) => void;
}

/** Arguments are streamed in fragments of this many characters. */
const ARGUMENT_FRAGMENT = 16;

/**
 * The embedded engine: GGUF models run in-process by llama.cpp (node-llama-cpp), each with its own
 * chat template, batched sequences, grammar-constrained JSON and tool calls.
 */
export class LlamaProvider implements Provider {
  readonly kind = 'llama';
  readonly acceptsUndeclaredModels = false;
  /** node-llama-cpp serves text models here: no multimodal projector is loaded. */
  readonly vision = false;
  readonly id: string;
  private readonly models = new Map<string, LocalModel>();
  private readonly ids: IdGenerator;
  private readonly now: () => number;
  private readonly created: number;

  constructor(config: LlamaProviderConfig, dependencies: LlamaDependencies = {}) {
    this.id = config.id;
    this.ids = dependencies.ids ?? defaultIdGenerator;
    this.now = dependencies.now ?? Date.now;
    this.created = Math.floor(this.now() / 1000);
    const log = dependencies.log ?? ((line: string) => process.stderr.write(`[${config.id}] ${line}\n`));
    for (const model of config.models) this.models.set(model.id, new LocalModel(model, config, log));
  }

  listModels(): ModelInfo[] {
    return [...this.models.values()].map((model) => ({
      id: model.config.id,
      created: this.created,
      ownedBy: this.id,
      maxOutputTokens: model.config.maxOutputTokens,
      contextLength: model.config.contextSize,
    }));
  }

  /** Loads the models marked `preload`; the server calls it at start. */
  async preload(): Promise<void> {
    await Promise.all(
      [...this.models.values()].filter((model) => model.config.preload).map(async (model) => {
        await model.acquire();
        model.release();
      }),
    );
  }

  /**
   * Loaded state and load, for health, metrics and admin views: `loaded` once a load has started,
   * `ready` once it has finished; sequences generating and requests queued for one.
   */
  modelStates(): Array<{ id: string; loaded: boolean; ready: boolean; preload: boolean; busySequences: number; queueDepth: number }> {
    return [...this.models.values()].map((model) => ({
      id: model.config.id,
      loaded: model.loaded,
      ready: model.current !== undefined,
      preload: model.config.preload,
      busySequences: model.current?.pool.busyCount ?? 0,
      queueDepth: model.current?.pool.queueDepth ?? 0,
    }));
  }

  async chat(request: ChatRequest, context: ChatCallContext): Promise<ChatResult> {
    const local = this.models.get(request.model);
    if (!local) throw new SwitchyardError('model_not_found', `The model \`${request.model}\` does not exist.`, { param: 'model' });
    const loaded = await acquired(local);
    try {
      const prepared = await this.prepare(request, loaded, local.config.contextSize);
      const sequence = await loaded.pool.acquire(prepared.promptTokens, context.signal);
      return { kind: 'stream', chunks: this.generate(request, loaded, prepared, sequence, context.signal, () => {
        loaded.pool.release(sequence);
        local.release();
      }) };
    } catch (error) {
      local.release();
      throw error;
    }
  }

  /** Raw text completion: each prompt continued as it is, no chat template, through the same token loop. */
  async complete(request: CompletionRequest, context: ChatCallContext): Promise<CompleteResult> {
    const local = this.models.get(request.model);
    if (!local) throw new SwitchyardError('model_not_found', `The model \`${request.model}\` does not exist.`, { param: 'model' });
    checkEngineCompletion(request);
    const loaded = await acquired(local);
    try {
      const prepared = prepareTextCompletion(request, loaded, local.config.contextSize);
      const sequence = await loaded.pool.acquire(prepared.prompts[0]!.tokens, context.signal);
      const frame = { id: this.ids('cmpl-'), created: Math.floor(this.now() / 1000), model: `${this.id}/${request.model}` };
      return {
        kind: 'stream',
        chunks: textCompletionChunks(request, loaded, prepared, sequence, frame, context.signal, () => {
          loaded.pool.release(sequence);
          local.release();
        }),
      };
    } catch (error) {
      local.release();
      throw error;
    }
  }

  async embed(request: EmbeddingsRequest): Promise<EmbeddingsResult> {
    const local = this.models.get(request.model);
    if (!local) throw new SwitchyardError('model_not_found', `The model \`${request.model}\` does not exist.`, { param: 'model' });
    const loaded = await acquired(local);
    try {
      const size = loaded.model.embeddingVectorSize;
      if (request.dimensions !== undefined && request.dimensions > size) {
        throw new ValidationError(`Invalid 'dimensions': ${request.dimensions}. The model \`${this.id}/${request.model}\` makes embeddings of ${size} dimensions; ask for at most that.`, 'dimensions');
      }
      // `input` of one token array is named `input`, as the client sent it; arrays of them by index.
      const original = request.body.input;
      const single = typeof original === 'string' || typeof (original as unknown[] | undefined)?.[0] === 'number';
      const paramOf = (index: number) => (single ? 'input' : `input[${index}]`);
      request.input.forEach((input, index) => {
        if (typeof input !== 'string') checkTokenIds(loaded.model, input, paramOf(index));
      });
      const vectors: Float32Array[] = [];
      let promptTokens = 0;
      for (const [index, input] of request.input.entries()) {
        const { vector, tokens } = await loaded.embed(input, paramOf(index));
        vectors.push(request.dimensions ? renormalized(vector.subarray(0, request.dimensions)) : vector);
        promptTokens += tokens;
      }
      return { kind: 'vectors', vectors, promptTokens, model: `${this.id}/${request.model}` };
    } finally {
      local.release();
    }
  }

  /** Everything decided before generation starts; its failures are ordinary HTTP errors. */
  private async prepare(request: ChatRequest, loaded: LoadedModel, contextSize: number) {
    checkUnsupported(request);
    checkLogitBias(loaded.model, request.logit_bias);
    const { offered: toolsOffered, forced } = toolPlan(request);
    const format = request.response_format;
    // A grammar holds the reply to JSON from its first token: a thinking template is asked for
    // its closed, empty thought, not left with an open <think> for the JSON to land in.
    const structured = forced.length > 0 || format?.type === 'json_schema' || format?.type === 'json_object';
    const render = (messages: ChatRequest['messages']) => {
      const rendered = loaded.renderer.render({ messages, tools: toolsOffered, enableThinking: !structured && !thinkingOff(request) });
      const promptTokens = loaded.model.tokenize(rendered.text, true);
      // llama.cpp's own rule: prepend BOS when the model asks for it and the template did not write it.
      const bos = loaded.model.tokens.bos;
      if (bos !== null && loaded.model.tokens.shouldPrependBosToken && promptTokens[0] !== bos) promptTokens.unshift(bos);
      return { rendered, promptTokens };
    };
    let { rendered, promptTokens } = render(request.messages);
    if (request[TRUNCATE_AUTO]) {
      // The oldest turns give way until the prompt fits with room for the reply asked for (up to
      // half the context): a prompt that barely fits would leave the reply a token or two.
      const room = Math.min(request.max_completion_tokens ?? request.max_tokens ?? 0, Math.floor(contextSize / 2));
      let messages: ChatRequest['messages'] | undefined = request.messages;
      while (promptTokens.length + room >= contextSize && (messages = withoutOldestTurn(messages)) !== undefined) {
        ({ rendered, promptTokens } = render(messages));
      }
    }
    if (promptTokens.length >= contextSize) throw contextLengthError(promptTokens.length, contextSize);
    const limit = request.max_completion_tokens ?? request.max_tokens ?? contextSize - promptTokens.length;
    // A completion the client asked for that cannot fit is OpenAI's 400. Not a limit the gateway
    // filled in (the model's declared one), nor under truncation `auto`, which keeps room for at most
    // half the context: those are cut at the context's end, finish_reason `length`.
    const asked = request[OUTPUT_LIMIT_DEFAULTED] !== true && !request[TRUNCATE_AUTO] && (request.max_completion_tokens ?? request.max_tokens) != null;
    if (asked && promptTokens.length + limit > contextSize) throw completionTooLongError(promptTokens.length, limit, contextSize);

    let grammar: Awaited<ReturnType<LoadedModel['grammarFor']>> | undefined;
    if (forced.length > 0) {
      // Each tool's parameters checked where the client wrote them, then joined into one schema.
      const tools = forced.map((tool) => {
        const at = `tools[${request.tools!.indexOf(tool)}].function.parameters`;
        return { ...tool, function: { ...tool.function, parameters: engineSchema(argumentsSchema(tool.function.parameters), at, tool.function.strict === true) as Record<string, unknown> } };
      });
      const schema = toolCallSchema(tools);
      grammar = await loaded.grammarFor(JSON.stringify(schema), schema, 'tools');
    } else if (format?.type === 'json_schema') {
      const schema = engineSchema(format.json_schema.schema ?? { type: 'object' }, 'response_format.json_schema.schema', format.json_schema.strict === true);
      grammar = await loaded.grammarFor(JSON.stringify(schema), schema, 'response_format.json_schema.schema');
    } else if (format?.type === 'json_object') {
      grammar = await loaded.grammarFor('json_object', undefined, 'response_format');
    }
    return {
      promptTokens,
      grammar,
      forced: forced.length > 0,
      /** The tools a forced call names one of. */
      forcedNames: forced.map((tool) => tool.function.name),
      // A grammar fixes the output's shape; reasoning markup would break it.
      startsInReasoning: grammar ? false : rendered.startsInReasoning,
      parseToolCalls: toolsOffered.length > 0 && forced.length === 0,
      excludeReasoning: typeof request.reasoning === 'object' && request.reasoning?.exclude === true,
      maxTokens: Math.max(1, Math.min(limit, contextSize - promptTokens.length)),
      seed: request.seed ?? randomInt(2 ** 31),
    };
  }

  private async *generate(
    request: ChatRequest,
    loaded: LoadedModel,
    prepared: Awaited<ReturnType<LlamaProvider['prepare']>>,
    sequence: Parameters<typeof generateChoice>[0]['sequence'],
    signal: AbortSignal,
    release: () => void,
  ): AsyncGenerator<RelayChunk> {
    const includeUsage = request.stream === true && request.stream_options?.include_usage === true;
    const frame = { id: this.ids('chatcmpl-'), created: Math.floor(this.now() / 1000), model: `${this.id}/${request.model}` };
    const chunk = (choice: ChatCompletionChunk.Choice): ChatCompletionChunk => {
      const out: ChatCompletionChunk = { ...frame, object: 'chat.completion.chunk', system_fingerprint: 'fp_llama_cpp', choices: [choice] };
      if (includeUsage) out.usage = null;
      return out;
    };
    const usage = { completion: 0, reasoning: 0, cached: 0 };
    try {
      const choices = request.n ?? 1;
      for (let index = 0; index < choices; index++) {
        yield chunk({ index, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null });
        const generated: Token[] = [];
        const { LlamaGrammarEvaluationState } = await import('node-llama-cpp');
        const grammarState: LlamaGrammarEvaluationState | undefined = prepared.grammar
          ? new LlamaGrammarEvaluationState({ model: loaded.model, grammar: prepared.grammar })
          : undefined;
        const evaluate = await samplingOptions(request, loaded.model, prepared.seed + index, () => generated, grammarState ? loaded.highByteTokens : undefined);
        if (grammarState) evaluate.grammarEvaluationState = grammarState;
        const choice = generateChoice({
          sequence,
          model: loaded.model,
          promptTokens: prepared.promptTokens,
          evaluate,
          generated,
          maxTokens: prepared.maxTokens,
          stops: stopSequences(request.stop),
          topLogprobs: request.logprobs === true ? (request.top_logprobs ?? 0) : undefined,
          startsInReasoning: prepared.startsInReasoning,
          parseToolCalls: prepared.parseToolCalls,
          ...(request.parallel_tool_calls === false ? { maxToolCalls: 1 } : {}),
          json: prepared.grammar !== undefined,
          step: loaded.pool.stepOf(sequence),
          signal,
        });
        // A forced call streams as it is generated: its start once the name is written, then its arguments.
        const forcedCall = prepared.forced ? new ForcedCallStream(prepared.forcedNames) : undefined;
        const callId = forcedCall ? this.ids('call_') : '';
        let toolCalls = 0;
        let end: GenerationEnd | undefined;
        try {
          for (;;) {
            const next = await choice.next();
            if (next.done) {
              end = next.value;
              break;
            }
            const event = next.value;
            if (event.type === 'reasoning') {
              // Excluded reasoning is still generated and counted, only not returned.
              if (prepared.excludeReasoning) continue;
              const delta = { reasoning: event.text, reasoning_content: event.text } as ChatCompletionChunk.Choice.Delta;
              yield chunk({ index, delta, logprobs: null, finish_reason: null });
            } else if (event.type === 'content') {
              if (forcedCall) {
                const piece = forcedCall.push(event.text);
                if (piece.name !== undefined) yield this.toolCallStart(chunk, index, toolCalls++, callId, piece.name);
                if (piece.arguments) yield* this.toolCallArguments(chunk, index, toolCalls - 1, piece.arguments);
              } else {
                const logprobs = event.logprobs ? { content: event.logprobs, refusal: null } : null;
                yield chunk({ index, delta: { content: event.text }, logprobs, finish_reason: null });
              }
            } else {
              yield* this.toolCallChunks(chunk, index, toolCalls++, event.name, event.arguments);
            }
          }
        } finally {
          // A consumer that stopped early must still stop the engine's loop and free its state.
          if (!end) await choice.return(undefined as never);
        }
        const rest = forcedCall?.end();
        if (rest?.name !== undefined) yield this.toolCallStart(chunk, index, toolCalls++, callId, rest.name);
        if (rest?.arguments) yield* this.toolCallArguments(chunk, index, toolCalls - 1, rest.arguments);
        if (!end) throw new Error('generation ended without a result');
        usage.completion += end.completionTokens;
        usage.reasoning += end.reasoningTokens;
        if (index === 0) usage.cached = end.cachedTokens;
        const finish = end.finishReason === 'length' ? 'length' : toolCalls > 0 ? 'tool_calls' : 'stop';
        yield chunk({ index, delta: {}, logprobs: null, finish_reason: finish });
      }
    } catch (error) {
      if (signal.aborted) throw new ClientAbortedError();
      throw blameRequest(error, request, prepared);
    } finally {
      release();
    }
    const completionUsage: CompletionUsage = {
      prompt_tokens: prepared.promptTokens.length,
      completion_tokens: usage.completion,
      total_tokens: prepared.promptTokens.length + usage.completion,
      prompt_tokens_details: { cached_tokens: usage.cached, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: usage.reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    };
    yield { ...frame, object: 'chat.completion.chunk', system_fingerprint: 'fp_llama_cpp', choices: [], usage: completionUsage };
  }

  /** One tool call as OpenAI streams it: id, type, name and empty arguments first, then fragments. */
  private *toolCallChunks(
    chunk: (choice: ChatCompletionChunk.Choice) => ChatCompletionChunk,
    index: number,
    callIndex: number,
    name: string,
    args: string,
  ): Generator<ChatCompletionChunk> {
    yield this.toolCallStart(chunk, index, callIndex, this.ids('call_'), name);
    yield* this.toolCallArguments(chunk, index, callIndex, args);
  }

  /** A tool call's first delta: its id, type, name and empty arguments. */
  private toolCallStart(chunk: (choice: ChatCompletionChunk.Choice) => ChatCompletionChunk, index: number, callIndex: number, id: string, name: string): ChatCompletionChunk {
    return chunk({ index, delta: { tool_calls: [{ index: callIndex, id, type: 'function', function: { name, arguments: '' } }] }, logprobs: null, finish_reason: null });
  }

  /** A tool call's argument text, in fragments of at most ARGUMENT_FRAGMENT characters. */
  private *toolCallArguments(
    chunk: (choice: ChatCompletionChunk.Choice) => ChatCompletionChunk,
    index: number,
    callIndex: number,
    args: string,
  ): Generator<ChatCompletionChunk> {
    const characters = [...args];
    for (let i = 0; i < characters.length; i += ARGUMENT_FRAGMENT) {
      yield chunk({ index, delta: { tool_calls: [{ index: callIndex, function: { arguments: characters.slice(i, i + ARGUMENT_FRAGMENT).join('') } }] }, logprobs: null, finish_reason: null });
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.models.values()].map((model) => model.unload()));
  }
}

/** The loaded model, counted as in use; a load that fails is not left counted (or it would never idle-unload). */
async function acquired(local: LocalModel): Promise<LoadedModel> {
  try {
    return await local.acquire();
  } catch (error) {
    local.release();
    throw error;
  }
}

/**
 * A function's parameters as the schema of its arguments, which are always an object: parameters
 * left out, or a schema that names no type and no other shape (`{}`, `{"properties": …}`), are an
 * object schema, or the grammar would have the arguments be `null`.
 */
function argumentsSchema(parameters: Record<string, unknown> | undefined): unknown {
  if (parameters === undefined) return { type: 'object', properties: {} };
  const shaped = ['type', '$ref', 'anyOf', 'oneOf', 'allOf', 'enum', 'const'].some((key) => key in parameters);
  return shaped ? parameters : { ...parameters, type: 'object' };
}

/**
 * A generation that ran into a dead end of its grammar because the client's `logit_bias` bans
 * every token the grammar allows there (the `{` a JSON object must open with, say): the request's
 * fault, a 400 naming `logit_bias`, not a server error.
 */
function blameRequest(error: unknown, request: ChatRequest, prepared: { grammar: unknown; forced: boolean }): unknown {
  if (!(error instanceof EngineGenerationError) || !error.grammarDeadEnd || !prepared.grammar) return error;
  const bans = Object.values(request.logit_bias ?? {}).some((bias) => bias <= -100);
  if (!bans) return error;
  const what = prepared.forced ? 'the forced tool call' : `response_format ${request.response_format?.type}`;
  return new ValidationError(
    `Invalid 'logit_bias': after ${error.generatedTokens} generated token${error.generatedTokens === 1 ? '' : 's'}, it bans every token that ${what} allows next, so no reply can be written. Ban fewer tokens.`,
    'logit_bias',
  );
}

/** A shortened embedding (`dimensions`) scaled back to unit length, as OpenAI's are. */
function renormalized(vector: Float32Array): Float32Array {
  let norm = 0;
  for (const value of vector) norm += value * value;
  norm = Math.sqrt(norm) || 1;
  return Float32Array.from(vector, (value) => value / norm);
}

/**
 * Thinking turned off, where the template knows how (`enable_thinking`): `reasoning_effort: "none"`,
 * or the `reasoning` extension set to false or `{enabled: false}`.
 */
function thinkingOff(request: ChatRequest): boolean {
  const reasoning = request.reasoning;
  return request.reasoning_effort === 'none' || reasoning === false || (typeof reasoning === 'object' && reasoning?.enabled === false);
}

/**
 * Request fields the engine has no way to honour: a 400 that names them, never a reply that
 * quietly ignores them. Legacy `functions` are refused rather than translated: their reply shape
 * (`message.function_call`) is not what the engine's tool calls produce.
 */
function checkUnsupported(request: ChatRequest): void {
  rejectAudioAndLegacyFunctions(request, unsupportedBy('The embedded engine'));
}
