import path from 'node:path';
import type { Llama, LlamaContext, LlamaEmbeddingContext, LlamaGrammar, LlamaModel, Token } from 'node-llama-cpp';
import { SwitchyardError, UnsupportedFeatureError } from '../../errors/errors.js';
import { getEngine, loadModelFile } from './engine.js';
import type { LlamaModelConfig, LlamaProviderConfig } from './llama-config.js';
import { defaultContexts, defaultThreads, sequencesPerContext } from './llama-config.js';
import { PromptRenderer } from './render-prompt.js';
import { GRAMMAR_INTEGER_LIMIT } from './engine-schema.js';
import { guardSampling } from './sampling-guard.js';
import { SequencePool } from './sequence-pool.js';
import { resolveModelFile } from './model-files.js';

/** Everything a loaded model needs to serve: built once per load. */
export interface LoadedModel {
  llama: Llama;
  model: LlamaModel;
  /** The engine contexts the sequences are spread over (`contexts` in the config). */
  contexts: readonly LlamaContext[];
  /** Lends the contexts' sequences, and keeps each context's in step (step-gate.ts). */
  pool: SequencePool;
  renderer: PromptRenderer;
  /** Byte-fallback tokens 0x80–0xFF by byte value: under a grammar, held to valid UTF-8 token by
   * token (utf8-guard.ts), where a random or weak model could otherwise pick bytes that never form
   * valid UTF-8 and break the JSON. */
  highByteTokens: ReadonlyMap<number, Token>;
  grammarFor(key: string, schema: unknown, param: string): Promise<LlamaGrammar>;
  /** A unit-length embedding of one input; inputs are embedded one at a time. */
  /** `param` names the input in errors (`input`, `input[2]`). */
  embed(input: string | number[], param: string): Promise<{ vector: Float32Array; tokens: number }>;
}

const GRAMMAR_CACHE_SIZE = 64;

/**
 * One configured GGUF model: loaded on first use (or at start), kept resident, unloaded after an
 * idle time when configured. Loading happens once however many requests wait for it.
 */
export class LocalModel {
  private loading: Promise<LoadedModel> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private active = 0;

  constructor(
    readonly config: LlamaModelConfig,
    private readonly provider: LlamaProviderConfig,
    private readonly log: (line: string) => void,
  ) {}

  /** The model once its load has finished (until it unloads): what health and metrics read. */
  current: LoadedModel | undefined;

  get loaded(): boolean {
    return this.loading !== undefined;
  }

  acquire(): Promise<LoadedModel> {
    this.active++;
    clearTimeout(this.idleTimer);
    this.loading ??= this.load().then(
      (loaded) => (this.current = loaded),
      (error: unknown) => {
        this.loading = undefined;
        throw error;
      },
    );
    return this.loading;
  }

  /** The caller is done with the model: start the idle clock when nobody uses it. */
  release(): void {
    this.active--;
    const idle = this.config.idleUnloadSeconds;
    if (this.active === 0 && idle !== undefined) {
      this.idleTimer = setTimeout(() => void this.unload(), idle * 1000);
      this.idleTimer.unref();
    }
  }

  async unload(): Promise<void> {
    clearTimeout(this.idleTimer);
    const loading = this.loading;
    this.loading = undefined;
    this.current = undefined;
    if (!loading) return;
    const loaded = await loading.catch(() => undefined);
    if (!loaded) return;
    for (const context of loaded.contexts) await context.dispose();
    await loaded.model.dispose();
    this.log(`unloaded model ${this.config.id}`);
  }

  private async load(): Promise<LoadedModel> {
    const file = await resolveModelFile(this.config, this.provider.modelCacheDir, this.log);
    const llama = await getEngine(this.provider.gpu);
    const started = Date.now();
    const model = await loadModelFile(llama, file, { gpuLayers: this.config.gpuLayers, timeoutMs: this.config.loadTimeoutMs });
    const threads = this.config.threads ?? defaultThreads();
    const parallel = this.config.parallel;
    // A GPU build with every layer kept on the CPU computes as a CPU build does.
    const onGpu = llama.gpu !== false && this.config.gpuLayers !== 0;
    const contextCount = this.config.contexts ?? defaultContexts({ gpu: onGpu, threads, parallel });
    const metadata = model.fileInfo.metadata as { tokenizer?: { chat_template?: string; ggml?: { tokens?: readonly string[] } } };
    const special = (token: Token | null) => (token === null ? '' : model.detokenize([token], true));
    // The pool needs the contexts, and each context's schedule asks the pool how busy it is.
    let pool: SequencePool | undefined;
    const contexts: LlamaContext[] = [];
    let renderer: PromptRenderer;
    try {
      for (const [index, sequences] of sequencesPerContext(parallel, contextCount).entries()) {
        contexts.push(
          await model.createContext({
            contextSize: this.config.contextSize,
            sequences,
            threads,
            batching: {
              // A request generating alone on its context has its next token decoded the moment it
              // asks (generate-choice asks before delivering the last one), so the engine computes
              // while the last token is turned into a chunk and written. The engine's default waits
              // for the end of the event loop's turn, after that work; with others generating it is
              // kept, so that all the tokens the step gate lets ask together are queued before the
              // batch is cut.
              dispatchSchedule: (dispatch) => {
                if ((pool?.lanes[index]!.busy ?? 0) <= 1) dispatch();
                else setImmediate(dispatch);
              },
            },
          }),
        );
        guardSampling(contexts[index]!);
      }
      pool = new SequencePool(contexts, this.config.queueLimit);
      try {
        renderer = new PromptRenderer(metadata.tokenizer?.chat_template, { bos: special(model.tokens.bos), eos: special(model.tokens.eos) });
      } catch (error) {
        throw new SwitchyardError('model_file_error', `${file} has a chat template (tokenizer.chat_template) that does not parse: ${(error as Error).message}`, { cause: error });
      }
    } catch (error) {
      // A failed load holds nothing: a retry would otherwise load the model and its contexts again beside these.
      for (const context of contexts) await context.dispose();
      await model.dispose();
      throw error;
    }
    const highByteTokens = new Map<number, Token>();
    metadata.tokenizer?.ggml?.tokens?.forEach((piece, id) => {
      const byte = /^<0x([89A-F][0-9A-F])>$/i.exec(piece)?.[1];
      if (byte !== undefined) highByteTokens.set(Number.parseInt(byte, 16), id as Token);
    });
    const grammars = new Map<string, Promise<LlamaGrammar>>();
    let embeddingContext: Promise<LlamaEmbeddingContext> | undefined;
    let embeddingQueue: Promise<unknown> = Promise.resolve();
    const contextSize = this.config.contextSize;
    const layout = contextCount === 1 ? `${parallel} sequences` : `${parallel} sequences over ${contextCount} contexts`;
    this.log(`loaded model ${this.config.id} from ${path.basename(file)} in ${Date.now() - started} ms (context ${contexts[0]!.contextSize} × ${layout}, ${threads} thread${threads === 1 ? '' : 's'} each)`);
    return {
      llama,
      model,
      contexts,
      pool,
      renderer,
      highByteTokens,
      embed(input, param) {
        embeddingContext ??= model.createEmbeddingContext({ contextSize, threads });
        const run = embeddingQueue.then(async () => {
          const tokens = typeof input === 'string' ? model.tokenize(input) : (input as Token[]);
          if (tokens.length >= contextSize) throw contextLengthError(tokens.length, contextSize, param);
          const { vector } = await (await embeddingContext!).getEmbeddingFor(tokens);
          let norm = 0;
          for (const value of vector) norm += value * value;
          norm = Math.sqrt(norm) || 1;
          return { vector: Float32Array.from(vector, (value) => value / norm), tokens: tokens.length };
        });
        embeddingQueue = run.catch(() => undefined);
        return run;
      },
      grammarFor(key, schema, param) {
        let grammar = grammars.get(key);
        if (!grammar) {
          if (grammars.size >= GRAMMAR_CACHE_SIZE) grammars.delete(grammars.keys().next().value!);
          grammar = (
            key === 'json_object' ? llama.getGrammarFor('json') : llama.createGrammarForJsonSchema(schema as never).then((built) => withFiniteNumbers(llama, built))
          ).catch(
            (error: unknown) => {
              grammars.delete(key);
              throw new UnsupportedFeatureError(`This JSON schema cannot be enforced by the local engine: ${(error as Error).message}`, param);
            },
          );
          grammars.set(key, grammar);
        }
        return grammar;
      },
    };
  }
}

/**
 * node-llama-cpp's JSON-schema grammar lets numbers take any exponent: an `integer` may come out as
 * `5e-3` (not an integer) and any number as `8e72306` (Infinity to every JSON parser), neither of
 * which validates against the schema. Integers get no exponent; other numbers at most two digits of
 * one. Integer parts have at most 15 digits (GRAMMAR_INTEGER_LIMIT): every one a safe integer, so
 * the bounds zod writes for `.int()` (±Number.MAX_SAFE_INTEGER) always hold.
 */
async function withFiniteNumbers(llama: Llama, grammar: LlamaGrammar): Promise<LlamaGrammar> {
  const digits = `"-"? ("0" | [1-9] [0-9]{0,${String(GRAMMAR_INTEGER_LIMIT).length - 1}})`;
  const text = grammar.grammar
    .replace(/^integer-number-rule ::= .*$/m, `integer-number-rule ::= ${digits}`)
    .replace(/^fractional-number-rule ::= .*$/m, `fractional-number-rule ::= ${digits} ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?`);
  if (text === grammar.grammar) return grammar;
  return llama.createGrammar({ grammar: text, stopGenerationTriggers: grammar.stopGenerationTriggers, trimWhitespaceSuffix: grammar.trimWhitespaceSuffix });
}

export function contextLengthError(promptTokens: number, contextSize: number, param = 'messages'): SwitchyardError {
  return new SwitchyardError(
    'context_length_exceeded',
    `This model's maximum context length is ${contextSize} tokens. However, your ${param === 'messages' ? 'messages' : 'input'} resulted in ${promptTokens} tokens. Please reduce the length.`,
    { param },
  );
}

/**
 * A prompt that fits, but not with the completion the client asked for: OpenAI's 400, in its words.
 * Only an asked limit is refused; without one the reply runs to the context's end (`length`).
 */
export function completionTooLongError(promptTokens: number, completionTokens: number, contextSize: number, param: 'messages' | 'prompt' = 'messages'): SwitchyardError {
  return new SwitchyardError(
    'context_length_exceeded',
    `This model's maximum context length is ${contextSize} tokens. However, you requested ${promptTokens + completionTokens} tokens (${promptTokens} in the ${param}, ${completionTokens} in the completion). Please reduce the length of the ${param} or completion.`,
    { param },
  );
}
