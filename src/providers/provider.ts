import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
} from 'openai/resources/chat/completions';
import type { Completion, CompletionCreateParamsBase } from 'openai/resources/completions';

/**
 * A chat request as the gateway hands it to a provider: OpenAI's own params, validated, with
 * `model` already rewritten to the backend's name, plus the extensions Switchyard accepts.
 * Unknown fields stay on the object so OpenAI-compatible upstreams receive them untouched.
 */
/**
 * Set on a chat request translated from a Responses request with `truncation: "auto"`: a backend
 * that knows its context drops the oldest turns to fit. A symbol, so no upstream is ever sent it.
 */
export const TRUNCATE_AUTO: unique symbol = Symbol('switchyard.truncateAuto');

/**
 * Set on a chat request whose `max_completion_tokens` the gateway filled in from the model's
 * declared `maxOutputTokens`, the client having set no limit: a backend can tell the model's cap
 * from the client's own ask (the local engine refuses an asked reply that cannot fit its context,
 * but cuts a defaulted one at the context's end). A symbol, so no upstream is ever sent it.
 */
export const OUTPUT_LIMIT_DEFAULTED: unique symbol = Symbol('switchyard.outputLimitDefaulted');

export interface ChatRequest extends ChatCompletionCreateParamsBase {
  [TRUNCATE_AUTO]?: true;
  [OUTPUT_LIMIT_DEFAULTED]?: true;
  stream?: boolean | null;
  /** Extension: return the model's reasoning on `message.reasoning` / `reasoning_content`. */
  reasoning?: boolean | { enabled?: boolean; effort?: string; max_tokens?: number; exclude?: boolean } | null;
  top_k?: number | null;
  min_p?: number | null;
}

/** A chunk may carry the exact JSON text it arrived as, so a relay can write it without re-serializing. */
export const RAW_JSON: unique symbol = Symbol('switchyard.rawJson');
export type RelayChunk = ChatCompletionChunk & { [RAW_JSON]?: string };

/**
 * A stream event passed on unread: the JSON text an upstream sent, as it came. Providers yield it
 * in place of a chunk only when the caller relays and reads nothing but usage
 * (`ChatCallContext.relayOnly`): parsing every event of a stream cost a tenth of its CPU. An event
 * that carries usage, an error or a finish reason is always read, and yielded as a `RelayChunk`.
 */
export interface UnreadChunk {
  readonly [RAW_JSON]: string;
  /** `null` when the event said `"usage":null`: no unread event carries usage. */
  readonly usage?: null;
  readonly choices?: undefined;
}

/**
 * What a provider's `chat()` resolves to.
 *
 * **The first-byte contract:** every failure a provider can detect before its first chunk (bad
 * request, upstream 4xx/5xx, connection refused, timeout waiting for headers) rejects the promise,
 * so the caller can still answer with a proper status or fall back to another backend. A failure
 * after that is thrown from the chunk iterator and ends the client's stream with an error event.
 *
 * A provider answers a streaming request with `stream`. For a non-streaming request it may answer
 * with `stream` (the gateway collects it with the one shared aggregator) or, when the backend
 * already produced the canonical object (an OpenAI-compatible upstream), with `completion`.
 */
export type ChatResult =
  | { kind: 'stream'; chunks: AsyncIterable<RelayChunk> }
  /** Only when `relayOnly` was asked: a stream whose ordinary events are left unread. */
  | { kind: 'relay-stream'; chunks: AsyncIterable<RelayChunk | UnreadChunk> }
  | { kind: 'completion'; completion: ChatCompletion; /** The upstream's body, to relay byte for byte. */ rawJson?: string };

export interface ChatCallContext {
  /** Aborted when the client disconnects: the provider must stop the backend's work at once. */
  signal: AbortSignal;
  requestId: string;
  /**
   * The caller writes a stream's chunks as their JSON text and reads only their usage: a provider
   * that can may answer with a `relay-stream` of unread events. Others ignore it.
   */
  relayOnly?: boolean;
}

export interface ModelInfo {
  /** The model's name at its provider (without the provider prefix). */
  id: string;
  /** Unix seconds, for `GET /v1/models`. */
  created: number;
  ownedBy: string;
  maxOutputTokens?: number | undefined;
  contextLength?: number | undefined;
  /** False when the model takes no image inputs (a 400 names the image); unknown means it may. */
  vision?: boolean | undefined;
}

/** An embeddings call as the gateway hands it to a provider (`model` is the backend's name). */
export interface EmbeddingsRequest {
  model: string;
  /** Texts, or token arrays for backends that take tokens. */
  input: Array<string | number[]>;
  dimensions?: number | undefined;
  /** The client's whole body, for upstreams that take it as it came. */
  body: Record<string, unknown>;
}

export type EmbeddingsResult =
  | { kind: 'vectors'; vectors: Float32Array[]; promptTokens: number; model: string }
  /** An upstream's response, already in OpenAI's shape, relayed as it came. */
  | { kind: 'relay'; rawJson: string; promptTokens: number };

/**
 * A legacy completions call (`POST /v1/completions`) as the gateway hands it to a provider: OpenAI's
 * own params, validated, `model` rewritten to the backend's name; unknown fields stay on the object.
 * `prompt` may be a string, strings, a token array or token arrays (token ids of the backend's own
 * tokenizer); absent or null it means the start of a document. `max_tokens` defaults to 16.
 */
export interface CompletionRequest extends CompletionCreateParamsBase {
  stream?: boolean | null;
  top_k?: number | null;
  min_p?: number | null;
}

/** A streamed legacy completion event: OpenAI streams the very shape of the whole object. */
export type TextCompletionChunk = Completion & { [RAW_JSON]?: string };

/**
 * What a provider's `complete()` resolves to; the first-byte contract of `ChatResult` holds
 * unchanged. A stream ends, like a chat stream, with one usage event (`choices: []`) that the
 * gateway drops when the client did not ask for it. Choices are numbered `prompt index × n +
 * choice`, as OpenAI numbers them.
 */
export type CompleteResult =
  | { kind: 'stream'; chunks: AsyncIterable<TextCompletionChunk> }
  | { kind: 'completion'; completion: Completion; /** The upstream's body, to relay byte for byte. */ rawJson?: string };

/** One backend. Adding a backend kind is one file implementing this plus one line in registry.ts. */
export interface Provider {
  /** The prefix that routes to it: `<id>/<model>`. */
  readonly id: string;
  readonly kind: string;
  /** Models this provider declares (listed in /v1/models, reachable by bare name). */
  listModels(): ModelInfo[];
  /** True when a model name it does not declare may still be tried (an upstream decides). */
  readonly acceptsUndeclaredModels: boolean;
  /** False when none of its models take images. */
  readonly vision?: boolean;
  /**
   * How it takes an http(s) image URL: passed on (`url`, the default: OpenAI, Anthropic, vLLM fetch
   * it themselves) or only as bytes (`bytes`: the gateway downloads it under its SSRF guard when
   * allowed, or refuses the request).
   */
  readonly remoteImages?: 'url' | 'bytes';
  /**
   * The client's body goes to the backend as it came (model rewritten): the gateway adds no output
   * limit the client did not set. An upstream of another vendor may not know the field it would
   * add (Azure's older API versions refuse `max_completion_tokens`), and the client would get a
   * 400 for a field it never sent.
   */
  readonly forwardsClientBody?: boolean;
  chat(request: ChatRequest, context: ChatCallContext): Promise<ChatResult>;
  /**
   * Legacy text completion (`POST /v1/completions`), for backends that can continue raw text:
   * no chat template, the prompt continued as it is. `echo` puts the prompt before the text; a
   * parameter the backend cannot honour (`suffix` without fill-in-the-middle tokens, `best_of`)
   * rejects with an `UnsupportedFeatureError` before any output. Without it, the gateway answers
   * the model's completions calls with a 400.
   */
  complete?(request: CompletionRequest, context: ChatCallContext): Promise<CompleteResult>;
  /** True when the backend serves the Responses API itself, so `/v1/responses` may be passed through. */
  readonly nativeResponses?: boolean;
  /** `POST /responses` passed through (body as the client sent it, model rewritten); rejects before the first byte as `chat` does. */
  createResponse?(body: Record<string, unknown>, stream: boolean, signal: AbortSignal): Promise<RawUpstreamResponse>;
  /** `GET`/`DELETE` of a response the backend stored (`/responses/{id}…`), answered as it came. */
  forwardResponses?(method: 'GET' | 'DELETE', path: string, signal: AbortSignal): Promise<RawUpstreamResponse>;
  /** Embeddings, for backends that make them. */
  embed?(request: EmbeddingsRequest, context: ChatCallContext): Promise<EmbeddingsResult>;
  /** Frees connections, engines and timers. */
  close?(): Promise<void>;
}

/** An upstream's answer relayed as it came: status, headers, and the body as a byte stream. */
export interface RawUpstreamResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Uint8Array> & { text(): Promise<string> };
}
