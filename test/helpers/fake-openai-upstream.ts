import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';

/**
 * A local stand-in for OpenAI's chat completions endpoint, on raw node:http so that nothing between
 * the test and the socket reshapes a byte. It answers as OpenAI's documentation shows (a
 * `chat.completion` JSON body; or `data: {chunk}\n\n` events, a usage chunk with `choices: []` when
 * `stream_options.include_usage` is set, then `data: [DONE]\n\n`), records every request, and can
 * be scripted per test to misbehave: error statuses, hangs, cuts, error events, odd byte splits.
 */

/** One request as the fake received it. */
export interface RecordedRequest {
  method: string;
  /** The path with its query, e.g. `/v1/chat/completions`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as JSON, or `undefined` when it was not JSON. */
  body: any;
  rawBody: string;
  /** True once the client closed the connection before the fake finished its reply. */
  aborted: boolean;
  /** `performance.now()` when the request arrived, and when the client aborted it. */
  receivedAt: number;
  abortedAt: number | undefined;
  /** Resolves when the client aborts this request (never when the reply completes). */
  whenAborted: Promise<void>;
  /** Resolves when the exchange is over, however it ended. */
  whenClosed: Promise<'finished' | 'aborted' | 'cut'>;
}

/** What a scripted reply works with. */
export interface Exchange {
  request: RecordedRequest;
  response: ServerResponse;
  /** Waits `ms`, or less if the connection closes first. */
  sleep(ms: number): Promise<void>;
  /** True once the connection is gone (the client left, or the fake cut it). */
  readonly closed: boolean;
  /** Destroys the socket mid-reply; the fake does not count this as a client abort. */
  cut(): void;
}

export type Reply = (exchange: Exchange) => void | Promise<void>;

export interface FakeUpstream {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** `http://127.0.0.1:<port>/v1`, what a provider's `baseURL` points at. */
  baseURL: string;
  /** Every request received, oldest first. */
  readonly requests: RecordedRequest[];
  /** Chat completion requests only (POST …/chat/completions). */
  readonly chatRequests: RecordedRequest[];
  /** The reply for every following request (until reset). */
  script(reply: Reply): void;
  /** Replies used once each, in order, before the scripted/default reply. */
  once(...replies: Reply[]): void;
  /** Forgets requests and scripts: back to the default OpenAI-like behaviour. */
  reset(): void;
  /** Resolves with the next request to arrive (or the n-th already received when given). */
  nextRequest(): Promise<RecordedRequest>;
  close(): Promise<void>;
}

// ——— OpenAI's wire shapes ———

export const FAKE_CREATED = 1_735_689_600;
export const FAKE_FINGERPRINT = 'fp_fake0001';

export function fakeUsage(promptTokens: number, completionTokens: number): CompletionUsage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

export interface CompletionOptions {
  id?: string;
  model?: string;
  content?: string;
  finishReason?: ChatCompletion.Choice['finish_reason'];
  usage?: CompletionUsage;
}

/** A non-streaming `chat.completion` body as OpenAI documents it. */
export function fakeCompletion(options: CompletionOptions = {}): ChatCompletion {
  const content = options.content ?? 'Hello from the fake upstream.';
  return {
    id: options.id ?? 'chatcmpl-fake0001',
    object: 'chat.completion',
    created: FAKE_CREATED,
    model: options.model ?? 'gpt-test',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: options.finishReason ?? 'stop',
      },
    ],
    usage: options.usage ?? fakeUsage(9, content.split(' ').length),
    service_tier: 'default',
    system_fingerprint: FAKE_FINGERPRINT,
  };
}

export interface ChunkOptions {
  id?: string;
  model?: string;
  /** The content deltas, one chunk each, after the role chunk. */
  contents?: string[];
  /** Tool-call deltas, sent after the content deltas, one chunk each. */
  toolCallDeltas?: ChatCompletionChunk.Choice.Delta.ToolCall[];
  finishReason?: ChatCompletionChunk.Choice['finish_reason'];
  /** Every chunk carries `usage: null` and a usage chunk (`choices: []`) comes last. */
  includeUsage?: boolean;
  usage?: CompletionUsage;
}

/**
 * The chunks of one streamed reply, in OpenAI's order: a role chunk, content (and tool-call)
 * chunks, a chunk with `finish_reason` and an empty delta, and the usage chunk when asked.
 */
export function fakeChunks(options: ChunkOptions = {}): ChatCompletionChunk[] {
  const contents = options.contents ?? ['Hello', ' from', ' the', ' fake', ' upstream.'];
  const frame = (choices: ChatCompletionChunk.Choice[]): ChatCompletionChunk => ({
    id: options.id ?? 'chatcmpl-fake0001',
    object: 'chat.completion.chunk',
    created: FAKE_CREATED,
    model: options.model ?? 'gpt-test',
    service_tier: 'default',
    system_fingerprint: FAKE_FINGERPRINT,
    choices,
    ...(options.includeUsage ? { usage: null } : {}),
  });
  const choice = (delta: ChatCompletionChunk.Choice.Delta, finish: ChatCompletionChunk.Choice['finish_reason'] = null) =>
    frame([{ index: 0, delta, logprobs: null, finish_reason: finish }]);
  const chunks = [choice({ role: 'assistant', content: '', refusal: null })];
  for (const content of contents) chunks.push(choice({ content }));
  for (const call of options.toolCallDeltas ?? []) chunks.push(choice({ tool_calls: [call] }));
  chunks.push(choice({}, options.finishReason ?? (options.toolCallDeltas?.length ? 'tool_calls' : 'stop')));
  if (options.includeUsage) {
    chunks.push({ ...frame([]), usage: options.usage ?? fakeUsage(9, contents.length) });
  }
  return chunks;
}

/** One SSE event: `data: <text>` and a blank line, with the chosen line ending. */
export function sseEvent(data: string, lineEnding: '\n' | '\r\n' | '\r' = '\n'): string {
  return `data: ${data}${lineEnding}${lineEnding}`;
}

/** A whole stream's text: each chunk as an event, then `[DONE]` unless told otherwise. */
export function encodeStream(chunks: readonly ChatCompletionChunk[], options: { lineEnding?: '\n' | '\r\n' | '\r'; done?: boolean } = {}): string {
  const lineEnding = options.lineEnding ?? '\n';
  let text = chunks.map((chunk) => sseEvent(JSON.stringify(chunk), lineEnding)).join('');
  if (options.done !== false) text += sseEvent('[DONE]', lineEnding);
  return text;
}

/** OpenAI's error body. */
export function openAIError(message: string, type: string, param: string | null, code: string | null) {
  return { error: { message, type, param, code } };
}

// ——— Scripted replies ———

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };

function wantsUsage(request: RecordedRequest): boolean {
  return request.body?.stream_options?.include_usage === true;
}

/** A non-streaming ChatCompletion, its model echoing the request's unless set. */
export function completionReply(options: CompletionOptions = {}): Reply {
  return ({ request, response }) => {
    const body = JSON.stringify(fakeCompletion({ model: request.body?.model, ...options }));
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  };
}

/** Exactly this text as a 200 JSON body (for byte-exact relay checks). */
export function rawJsonReply(text: string): Reply {
  return ({ response }) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    response.end(text);
  };
}

export type StreamEnding =
  /** finish chunk, usage chunk when asked, `[DONE]` */
  | 'done'
  /** finish chunk and usage chunk when asked, then the body ends without `[DONE]` */
  | 'no-done'
  /** the socket is destroyed after the content chunks (no finish, no `[DONE]`) */
  | 'cut'
  /** the body ends cleanly after the content chunks (no finish, no `[DONE]`) */
  | 'end'
  /** nothing more is sent after the content chunks; the connection stays open */
  | 'hang'
  /** an error object inside the 200 stream after the content chunks (OpenAI's shape) */
  | { error: { message: string; type?: string; param?: string | null; code?: string | null }; event?: string };

export interface StreamReplyOptions extends Omit<ChunkOptions, 'includeUsage'> {
  /** Pause before the first event (after the headers). */
  firstDelayMs?: number;
  /** Pause between two events. */
  pauseMs?: number;
  /** Pause before the response headers. */
  headersDelayMs?: number;
  ending?: StreamEnding;
  lineEnding?: '\n' | '\r\n';
  /** Overrides what the request asked (`stream_options.include_usage`). */
  includeUsage?: boolean;
  /** Called with each event's exact text as it is written (to compare with what a client saw). */
  onEvent?: (data: string) => void;
}

/** An OpenAI stream, optionally paced and ending in one of several ways. */
export function streamReply(options: StreamReplyOptions = {}): Reply {
  return async (exchange) => {
    const { request, response } = exchange;
    const ending = options.ending ?? 'done';
    const includeUsage = options.includeUsage ?? wantsUsage(request);
    const all = fakeChunks({ model: request.body?.model, ...options, includeUsage });
    const contentCount = 1 + (options.contents ?? ['Hello', ' from', ' the', ' fake', ' upstream.']).length + (options.toolCallDeltas?.length ?? 0);
    const complete = ending === 'done' || ending === 'no-done';
    const chunks = complete ? all : all.slice(0, contentCount);
    const lineEnding = options.lineEnding ?? '\n';

    if (options.headersDelayMs) await exchange.sleep(options.headersDelayMs);
    if (exchange.closed) return;
    response.writeHead(200, SSE_HEADERS);
    response.flushHeaders();
    if (options.firstDelayMs) await exchange.sleep(options.firstDelayMs);
    for (const [index, chunk] of chunks.entries()) {
      if (exchange.closed) return;
      if (index > 0 && options.pauseMs) await exchange.sleep(options.pauseMs);
      if (exchange.closed) return;
      const data = JSON.stringify(chunk);
      options.onEvent?.(data);
      response.write(sseEvent(data, lineEnding));
    }
    if (exchange.closed) return;
    if (ending === 'done') {
      options.onEvent?.('[DONE]');
      response.end(sseEvent('[DONE]', lineEnding));
    } else if (ending === 'no-done' || ending === 'end') {
      response.end();
    } else if (ending === 'cut') {
      // Let the written chunks reach the client before the connection dies.
      await exchange.sleep(20);
      exchange.cut();
    } else if (ending === 'hang') {
      await exchange.sleep(Number.POSITIVE_INFINITY);
    } else {
      const error = { message: ending.error.message, type: ending.error.type ?? 'server_error', param: ending.error.param ?? null, code: ending.error.code ?? null };
      const text = ending.event ? `event: ${ending.event}${lineEnding}${sseEvent(JSON.stringify({ error }), lineEnding)}` : sseEvent(JSON.stringify({ error }), lineEnding);
      response.end(text);
    }
  };
}

/** Exactly these bytes as a 200 event stream, one write each, with an optional pause between. */
export function rawStreamReply(pieces: ReadonlyArray<string | Uint8Array>, options: { pauseMs?: number; headers?: Record<string, string> } = {}): Reply {
  return async (exchange) => {
    const { response } = exchange;
    response.writeHead(200, options.headers ?? SSE_HEADERS);
    response.flushHeaders();
    for (const [index, piece] of pieces.entries()) {
      if (index > 0 && options.pauseMs) await exchange.sleep(options.pauseMs);
      if (exchange.closed) return;
      response.write(piece);
    }
    response.end();
  };
}

/** An error status with a body (an object is sent as JSON, a string as it is). */
export function errorReply(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return ({ response }) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const type = typeof body === 'string' ? 'text/plain' : 'application/json';
    response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), ...headers });
    response.end(text);
  };
}

/** Never answers: no headers, until the client gives up. */
export function hangReply(): Reply {
  return (exchange) => exchange.sleep(Number.POSITIVE_INFINITY);
}

/** The default: a stream when asked for one, a completion otherwise. */
export const defaultReply: Reply = (exchange) =>
  exchange.request.body?.stream === true ? streamReply()(exchange) : completionReply()(exchange);

// ——— The server ———

export async function startFakeUpstream(): Promise<FakeUpstream> {
  const requests: RecordedRequest[] = [];
  let queued: Reply[] = [];
  let scripted: Reply | undefined;
  let waiters: Array<(request: RecordedRequest) => void> = [];

  const server: Server = createServer((incoming: IncomingMessage, response: ServerResponse) => {
    const parts: Buffer[] = [];
    incoming.on('data', (part: Buffer) => parts.push(part));
    incoming.on('end', () => void handle(incoming, Buffer.concat(parts).toString('utf8'), response));
  });
  // Each write leaves at once: pacing tests measure what the client sees.
  server.on('connection', (socket) => socket.setNoDelay(true));

  async function handle(incoming: IncomingMessage, rawBody: string, response: ServerResponse): Promise<void> {
    let body: unknown;
    try {
      body = rawBody ? JSON.parse(rawBody) : undefined;
    } catch {
      body = undefined;
    }
    let cutByFake = false;
    let closed = response.destroyed;
    let markAborted!: () => void;
    let markClosed!: (how: 'finished' | 'aborted' | 'cut') => void;
    const record: RecordedRequest = {
      method: incoming.method ?? '',
      path: incoming.url ?? '',
      headers: incoming.headers,
      body,
      rawBody,
      aborted: false,
      receivedAt: performance.now(),
      abortedAt: undefined,
      whenAborted: new Promise<void>((resolve) => (markAborted = resolve)),
      whenClosed: new Promise((resolve) => (markClosed = resolve)),
    };
    const sleepers = new Set<() => void>();
    response.on('close', () => {
      closed = true;
      for (const wake of sleepers) wake();
      if (cutByFake) markClosed('cut');
      else if (!response.writableFinished) {
        record.aborted = true;
        record.abortedAt = performance.now();
        markAborted();
        markClosed('aborted');
      } else markClosed('finished');
    });
    requests.push(record);
    for (const wake of waiters) wake(record);
    waiters = [];

    const exchange: Exchange = {
      request: record,
      response,
      get closed() {
        return closed || response.destroyed;
      },
      sleep(ms) {
        if (closed) return Promise.resolve();
        return new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            sleepers.delete(wake);
            resolve();
          };
          const timer = Number.isFinite(ms) ? setTimeout(wake, ms) : undefined;
          sleepers.add(wake);
        });
      },
      cut() {
        cutByFake = true;
        response.socket?.destroy();
      },
    };

    const isChat = record.method === 'POST' && /\/chat\/completions$/.test(record.path.split('?')[0]!);
    // The Responses API is served only by a test's own script (the Responses pass-through tests).
    const isResponses = /\/responses(\/|$)/.test(record.path.split('?')[0]!) && (queued.length > 0 || scripted !== undefined);
    try {
      if (isResponses) {
        await (queued.shift() ?? scripted!)(exchange);
      } else if (!isChat) {
        await errorReply(404, openAIError(`Invalid URL (${record.method} ${record.path})`, 'invalid_request_error', null, null))(exchange);
      } else if (body === undefined) {
        await errorReply(400, openAIError('We could not parse the JSON body of your request.', 'invalid_request_error', null, null))(exchange);
      } else {
        await (queued.shift() ?? scripted ?? defaultReply)(exchange);
      }
    } catch (error) {
      if (!response.headersSent) errorReply(500, openAIError(`fake upstream failed: ${String(error)}`, 'server_error', null, null))(exchange);
      else response.destroy();
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    origin,
    baseURL: `${origin}/v1`,
    requests,
    get chatRequests() {
      return requests.filter((request) => request.method === 'POST' && request.path.split('?')[0]!.endsWith('/chat/completions'));
    },
    script(reply) {
      scripted = reply;
    },
    once(...replies) {
      queued.push(...replies);
    },
    reset() {
      requests.length = 0;
      queued = [];
      scripted = undefined;
    },
    nextRequest() {
      return new Promise((resolve) => waiters.push(resolve));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
