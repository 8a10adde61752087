import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Completion } from 'openai/resources/completions';

/**
 * A local stand-in for OpenAI's legacy `POST /v1/completions`, on raw node:http: it answers as
 * OpenAI's documentation shows (a `text_completion` body, or `data: {event}` events ending in
 * `[DONE]`, a usage event with `choices: []` when `stream_options.include_usage` is set), records
 * every request, and can be scripted per test. (The shared fake upstream serves chat only.)
 */
export interface CompletionsUpstream {
  baseURL: string;
  requests: Array<{ path: string; headers: IncomingHttpHeaders; body: any; rawBody: string }>;
  /** The next replies, used once each before the default one. */
  once(...replies: Array<(response: ServerResponse, body: any) => void>): void;
  close(): Promise<void>;
}

export const UPSTREAM_BODY =
  '{"id":"cmpl-upstream1","object":"text_completion","created":1735689600,"model":"gpt-3.5-turbo-instruct","choices":[{"text":"\\n\\nThis is indeed a test","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}';

export function upstreamEvents(model: string, includeUsage: boolean): Completion[] {
  const frame = { id: 'cmpl-upstream2', object: 'text_completion' as const, created: 1_735_689_600, model, ...(includeUsage ? { usage: null } : {}) };
  const texts = ['This', ' is', ' a', ' test'];
  const events: Completion[] = texts.map((text) => ({ ...frame, choices: [{ text, index: 0, logprobs: null, finish_reason: null as never }] }) as Completion);
  events.push({ ...frame, choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }] } as Completion);
  if (includeUsage) events.push({ ...frame, choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } });
  return events;
}

export function errorReply(status: number, error: Record<string, unknown>) {
  return (response: ServerResponse) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ error }));
  };
}

export async function startCompletionsUpstream(): Promise<CompletionsUpstream> {
  const requests: CompletionsUpstream['requests'] = [];
  const queued: Array<(response: ServerResponse, body: any) => void> = [];
  const server = createServer((incoming, response) => {
    let rawBody = '';
    incoming.setEncoding('utf8');
    incoming.on('data', (part: string) => (rawBody += part));
    incoming.on('end', () => {
      const body = rawBody ? JSON.parse(rawBody) : undefined;
      requests.push({ path: incoming.url ?? '', headers: incoming.headers, body, rawBody });
      if (incoming.method !== 'POST' || !incoming.url?.endsWith('/completions')) {
        response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"Invalid URL","type":"invalid_request_error","param":null,"code":null}}');
        return;
      }
      const scripted = queued.shift();
      if (scripted) return scripted(response, body);
      if (body.stream === true) {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const event of upstreamEvents(body.model, body.stream_options?.include_usage === true)) response.write(`data: ${JSON.stringify(event)}\n\n`);
        response.end('data: [DONE]\n\n');
      } else {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(UPSTREAM_BODY);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    once: (...replies) => queued.push(...replies),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
