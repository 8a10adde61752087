import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for Anthropic's Messages API (`POST /v1/messages`), on raw node:http so nothing
 * reshapes a byte. It replays transcripts from test/fixtures/anthropic/<name>.jsonl — one event's
 * data per line, exactly as Anthropic sends it — either as an SSE stream (`event: <type>` then
 * `data: <json>`, as https://docs.anthropic.com/en/docs/build-with-claude/streaming shows) or, for a
 * request without `stream: true`, folded into the one Message object a non-streaming call returns.
 * It checks the headers Anthropic requires, records every request, and can answer with errors. Like
 * Anthropic it refuses what Anthropic refuses, in Anthropic's words: a missing `max_tokens`, blank stop
 * sequences, empty text blocks, a tool `input_schema` that is not `type: "object"`, a `max_tokens` above a
 * known model's output limit, `temperature` with `top_p` on the models that take only one, and a tool
 * loop with thinking on that drops its thinking blocks.
 */

export interface RecordedAnthropicRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: any;
  /** Resolves when the exchange is over: `aborted` when the client left before the reply ended. */
  whenClosed: Promise<'finished' | 'aborted'>;
}

export interface TranscriptOptions {
  /** Replaces the `stop_reason` of the transcript's `message_delta`. */
  stopReason?: string;
  /** Replaces the type of the transcript's `error` event (and so the status of a non-streamed reply). */
  errorType?: string;
  /** Writes the stream in pieces of this many bytes (cutting through characters), with a pause between. */
  pieceBytes?: number;
  pauseMs?: number;
  /** Ends the body after this many events, without `message_stop`. */
  cutAfter?: number;
}

export type AnthropicReply =
  | { kind: 'transcript'; name: string; options?: TranscriptOptions }
  | { kind: 'error'; status: number; type: string; message: string; headers?: Record<string, string> };

export interface FakeAnthropic {
  /** `http://127.0.0.1:<port>`: what the provider's `baseURL` points at. */
  origin: string;
  readonly requests: RecordedAnthropicRequest[];
  /** The reply for the next requests (until reset); the default replays `text`. */
  reply(reply: AnthropicReply): void;
  reset(): void;
  close(): Promise<void>;
}

export const FAKE_API_KEY = 'sk-ant-fake';

const FIXTURES = new URL('../fixtures/anthropic/', import.meta.url);

/** A transcript's events, one parsed data object per non-empty line. */
export function loadTranscript(name: string): Array<Record<string, any>> {
  return readFileSync(new URL(`${name}.jsonl`, FIXTURES), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

/** Anthropic's error body. */
export function anthropicError(type: string, message: string) {
  return { type: 'error', error: { type, message }, request_id: 'req_fake0001' };
}

const STATUS_OF_ERROR: Record<string, number> = {
  overloaded_error: 529,
  api_error: 500,
  timeout_error: 504,
  rate_limit_error: 429,
  billing_error: 402,
  invalid_request_error: 400,
};

/** Output limits of a few real models, which Anthropic enforces on `max_tokens` (https://docs.anthropic.com/en/docs/about-claude/models/overview). */
const OUTPUT_LIMITS: Record<string, number> = { 'claude-opus-4-1': 32_000, 'claude-sonnet-4-5': 64_000, 'claude-haiku-4-5': 64_000 };

/** Models that refuse `temperature` and `top_p` in one request, as Anthropic's current ones do (older ones take both). */
const BOTH_SAMPLERS_REFUSED = /^claude-(?:opus-4-1|(?:opus|sonnet|haiku)-4-[5-9])/;

/** The non-streaming Message a transcript stands for, built the way a client accumulates the stream. */
export function foldTranscript(events: ReadonlyArray<Record<string, any>>): Record<string, any> {
  let message: Record<string, any> = {};
  const partialJson = new Map<number, string>();
  for (const event of events) {
    switch (event.type) {
      case 'message_start':
        message = structuredClone(event.message);
        break;
      case 'content_block_start':
        message.content[event.index] = structuredClone(event.content_block);
        break;
      case 'content_block_delta': {
        const block = message.content[event.index];
        const delta = event.delta;
        if (delta.type === 'text_delta') block.text += delta.text;
        else if (delta.type === 'thinking_delta') block.thinking += delta.thinking;
        else if (delta.type === 'signature_delta') block.signature = delta.signature;
        else if (delta.type === 'input_json_delta') partialJson.set(event.index, (partialJson.get(event.index) ?? '') + delta.partial_json);
        break;
      }
      case 'content_block_stop': {
        const json = partialJson.get(event.index);
        if (json) message.content[event.index].input = JSON.parse(json);
        break;
      }
      case 'message_delta':
        Object.assign(message, event.delta);
        message.usage = { ...message.usage, ...event.usage };
        break;
    }
  }
  return message;
}

/**
 * Anthropic's check of a tool loop with thinking on: the assistant turn whose tool calls the last
 * user turn answers must start with a thinking (or redacted thinking) block, and every thinking block
 * sent back must be one the API issued, unmodified, signature and all
 * (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#preserving-thinking-blocks).
 * Returns Anthropic's message for a request that breaks it.
 */
function thinkingProblem(body: any, issued: ReadonlySet<string>): string | undefined {
  const messages: any[] = Array.isArray(body.messages) ? body.messages : [];
  for (const [index, message] of messages.entries()) {
    if (message.role !== 'assistant' || !Array.isArray(message.content)) continue;
    for (const [blockIndex, block] of message.content.entries()) {
      if ((block.type === 'thinking' || block.type === 'redacted_thinking') && !issued.has(thinkingKey(block))) {
        return `messages.${index}.content.${blockIndex}: Invalid \`signature\` in \`${block.type}\` block`;
      }
    }
  }
  if (body.thinking?.type !== 'enabled') return undefined;
  const last = messages.at(-1);
  const answersTools = last?.role === 'user' && Array.isArray(last.content) && last.content[0]?.type === 'tool_result';
  const assistantIndex = messages.length - 2;
  const assistant = messages[assistantIndex];
  if (!answersTools || assistant?.role !== 'assistant') return undefined;
  const first = assistant.content?.[0]?.type;
  if (first === 'thinking' || first === 'redacted_thinking') return undefined;
  return (
    `messages.${assistantIndex}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first}\`. ` +
    'When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). ' +
    'We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`.'
  );
}

function thinkingKey(block: any): string {
  return block.type === 'thinking' ? `thinking\u0000${block.thinking}\u0000${block.signature}` : `redacted\u0000${block.data}`;
}

export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const requests: RecordedAnthropicRequest[] = [];
  let scripted: AnthropicReply = { kind: 'transcript', name: 'text' };
  /** Thinking blocks this server has sent, as a real one would recognize their signatures. */
  const issuedThinking = new Set<string>();

  const server = createServer((incoming, response) => {
    const parts: Buffer[] = [];
    incoming.on('data', (part: Buffer) => parts.push(part));
    incoming.on('end', () => {
      let body: any;
      try {
        body = JSON.parse(Buffer.concat(parts).toString('utf8'));
      } catch {
        body = undefined;
      }
      let markClosed!: (how: 'finished' | 'aborted') => void;
      const whenClosed = new Promise<'finished' | 'aborted'>((resolve) => (markClosed = resolve));
      response.on('close', () => markClosed(response.writableFinished ? 'finished' : 'aborted'));
      const record = { method: incoming.method ?? '', path: incoming.url ?? '', headers: incoming.headers, body, whenClosed };
      requests.push(record);
      void handle(record, response).catch(() => response.destroy());
    });
  });
  server.on('connection', (socket) => socket.setNoDelay(true));

  async function handle(request: RecordedAnthropicRequest, response: ServerResponse): Promise<void> {
    if (request.method !== 'POST' || request.path !== '/v1/messages') {
      return sendJson(response, 404, anthropicError('not_found_error', 'Not found'));
    }
    if (request.headers['x-api-key'] !== FAKE_API_KEY) {
      return sendJson(response, 401, anthropicError('authentication_error', 'invalid x-api-key'));
    }
    if (!request.headers['anthropic-version']) {
      return sendJson(response, 400, anthropicError('invalid_request_error', 'anthropic-version: header is required'));
    }
    if (!request.body || typeof request.body.max_tokens !== 'number') {
      return sendJson(response, 400, anthropicError('invalid_request_error', 'max_tokens: Field required'));
    }
    if (Array.isArray(request.body.stop_sequences) && request.body.stop_sequences.some((stop: unknown) => typeof stop !== 'string' || stop.trim() === '')) {
      return sendJson(response, 400, anthropicError('invalid_request_error', 'stop_sequences: each stop sequence must contain non-whitespace'));
    }
    const messages: any[] = Array.isArray(request.body.messages) ? request.body.messages : [];
    if (messages.length === 0) return sendJson(response, 400, anthropicError('invalid_request_error', 'messages: at least one message is required'));
    if (messages.some((message) => Array.isArray(message.content) && message.content.some((block: any) => block.type === 'text' && block.text === ''))) {
      return sendJson(response, 400, anthropicError('invalid_request_error', 'messages: text content blocks must be non-empty'));
    }
    const untyped = Array.isArray(request.body.tools) ? request.body.tools.findIndex((tool: any) => tool.input_schema?.type !== 'object') : -1;
    if (untyped !== -1) {
      const problem = request.body.tools[untyped].input_schema?.type === undefined ? 'Field required' : "Input should be 'object'";
      return sendJson(response, 400, anthropicError('invalid_request_error', `tools.${untyped}.custom.input_schema.type: ${problem}`));
    }
    const outputLimit = Object.entries(OUTPUT_LIMITS).find(([family]) => String(request.body.model).startsWith(family))?.[1];
    if (outputLimit !== undefined && request.body.max_tokens > outputLimit) {
      return sendJson(
        response,
        400,
        anthropicError('invalid_request_error', `max_tokens: ${request.body.max_tokens} > ${outputLimit}, which is the maximum allowed number of output tokens for ${request.body.model}`),
      );
    }
    if (request.body.temperature !== undefined && request.body.top_p !== undefined && BOTH_SAMPLERS_REFUSED.test(String(request.body.model))) {
      return sendJson(response, 400, anthropicError('invalid_request_error', '`temperature` and `top_p` cannot both be specified for this model. Please use only one.'));
    }
    const problem = thinkingProblem(request.body, issuedThinking);
    if (problem) return sendJson(response, 400, anthropicError('invalid_request_error', problem));
    const reply = scripted;
    if (reply.kind === 'error') {
      return sendJson(response, reply.status, anthropicError(reply.type, reply.message), reply.headers);
    }
    const options = reply.options ?? {};
    let events = loadTranscript(reply.name);
    if (options.stopReason) {
      events = events.map((event) => (event.type === 'message_delta' ? { ...event, delta: { ...event.delta, stop_reason: options.stopReason } } : event));
    }
    if (options.errorType) {
      events = events.map((event) => (event.type === 'error' ? { ...event, error: { ...event.error, type: options.errorType } } : event));
    }
    for (const event of events) if (event.type === 'message_start') event.message.model = request.body.model;
    for (const block of foldTranscript(events).content ?? []) {
      if (block?.type === 'thinking' || block?.type === 'redacted_thinking') issuedThinking.add(thinkingKey(block));
    }

    if (request.body.stream !== true) {
      const error = events.find((event) => event.type === 'error');
      if (error) return sendJson(response, STATUS_OF_ERROR[error.error.type] ?? 500, anthropicError(error.error.type, error.error.message));
      return sendJson(response, 200, foldTranscript(events));
    }

    if (options.cutAfter !== undefined) events = events.slice(0, options.cutAfter);
    const text = events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('');
    response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_fake0001' });
    response.flushHeaders();
    const bytes = Buffer.from(text, 'utf8');
    const size = options.pieceBytes ?? bytes.length;
    for (let offset = 0; offset < bytes.length; offset += size) {
      if (response.destroyed) return;
      response.write(bytes.subarray(offset, offset + size));
      if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
    response.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    reply(reply) {
      scripted = reply;
    },
    reset() {
      requests.length = 0;
      scripted = { kind: 'transcript', name: 'text' };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'request-id': 'req_fake0001', ...headers });
  response.end(text);
}
